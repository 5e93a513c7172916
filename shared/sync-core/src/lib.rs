//! The pure sync decisions: canonical contacts, field mapping, reconcile, and account linking.
//!
//! No I/O and no clock: every function here is synchronous and deterministic, so each product
//! rule of SPEC §1–§2 is decided in one place and proven by unit and property tests.
//!
//! # Data flow of one session (for the pipeline)
//!
//! ```text
//!  links (PostgreSQL)           ─► Vec<Link>          ─┐
//!  Graph delta, every folder    ─► ExchangeChanges    ─┤
//!  SOQL + Get Deleted           ─► SalesforceChanges  ─┼─► reconcile(.., now) ─► Decisions
//!  settings + operator confirm  ─► Settings           ─┘
//!
//!  Decisions { exchange, salesforce (commands), links, errors, guard, fallbacks }
//!      │  writers run the commands (B14: the Salesforce writer queries `account_lookup_soql`
//!      │  and picks with `choose_account` for creates and relinks)
//!      ▼
//!  Vec<WriteResult> ─► apply_write_results(&decisions, &results) ─► Applied { links, errors }
//!                                                     store the links, record the errors ◄─┘
//! ```
//!
//! 1. **Inputs.** Parse wire JSON into [`fields::GraphContactFields`] /
//!    [`fields::SalesforceContactFields`] (clients flatten them into their envelopes) and wrap
//!    them as [`ExchangeItem`] (folder, categories, stamped [`SyncKey`], changeKey) and
//!    [`SalesforceContact`] (Id, OwnerId, `Contactsync_Key__c`). `@removed` ids go in
//!    [`ExchangeChanges::removed`]; deleted and out-of-scope Contact ids in [`SalesforceChanges`]
//!    (report deletions with a full listing too).
//!    Mark a side [`ReadKind::Complete`] for a full listing (initial sync, Graph 410 resync, scope
//!    change), [`ReadKind::Failed`] when its read failed: a failed read deletes nothing, and no
//!    new link starts while a side is unknown. An empty complete Salesforce listing is a real
//!    answer (the scope is empty, B7) that only the mass-delete guard holds (C5); an empty
//!    complete mailbox listing deletes nothing. After a failed read keep **both** cursors
//!    where they were (crash recovery pairs the two halves of a create by seeing them together).
//! 2. **Decide.** [`reconcile`] returns the commands for each writer, link updates assuming every
//!    write succeeds, per-item validation errors (C7) and the mass-delete guard's verdict (C5)
//!    for that one session. The pipeline calls [`reconcile_guarded`] instead, which judges
//!    deletions per burst across sessions ([`burst`]): deleting plans wait for the burst to
//!    settle, are held above the threshold until an operator confirms them, and are kept (as
//!    [`PendingDeletion`]s) for the next sessions; the read cursors advance as usual.
//! 3. **Write.** Each command names its link's `sync_key`; writers report one [`WriteResult`] per
//!    command (new ids, changeKeys, the linked Account's name, terminal failures). A delete of
//!    something already gone (Graph 404, Salesforce `ENTITY_IS_DELETED`/`NOT_FOUND`) is a
//!    success. Transient failures should fail the session instead, so cursors stay put.
//! 4. **Store.** [`apply_write_results`] yields the final link rows; store them with the cursors,
//!    in one transaction. The next session then reads our own writes back and, because
//!    everything compares in canonical form against the baseline, decides zero writes (C3).
//!
//! New links get deterministic keys: `sf-<Contact Id>` for down-synced contacts
//! ([`SyncKey::for_salesforce`]) and `ex<hash of the item id>` for up-synced ones
//! ([`SyncKey::for_graph`], also the Contact's `Contactsync_Key__c`). A redelivered or crashed
//! session re-derives the same key, the Salesforce create is an upsert on it, and a half-made
//! mirror is found by its stamp (which names its Contact), so nothing is created twice (C4).
//!
//! A [`Link`] keeps the baseline (canonical, C1/C3), the Account name Salesforce shows (B14 may
//! pick an Account whose name differs from the mailbox's company), a snapshot of the item's Graph
//! fields (so an update rebuilds `emailAddresses`/phones without losing mailbox-only entries, and
//! keeps a hand-set `displayName`), and a `rejected` mark: a value one side refused is not
//! offered again until it changes (C7: retried on change, never a loop).
//!
//! Modules: [`ids`] (validated id newtypes; Salesforce ids in their 18-character form, B15),
//! [`contact`] (canonical form), [`mapping`] (SPEC §2 table, patches), [`model`]
//! (inputs/outputs), [`validate`] (C7), [`account`] (B14), [`burst`] (C5 across sessions),
//! [`mod@bench`] (fixture for `contactsync bench`).

pub mod account;
pub mod bench;
pub mod burst;
pub mod contact;
mod disposition;
pub mod fields;
pub mod ids;
pub mod mapping;
pub mod model;
mod reconcile;
mod results;
pub mod validate;

pub use account::{AccountCandidate, account_lookup_soql, choose_account};
pub use burst::{
    BurstPolicy, BurstState, DeletionState, Executed, Guarded, PendingDeletion, Removal, Verdict,
    reconcile_guarded,
};
pub use contact::{Contact, Field};
pub use disposition::Disposition;
pub use ids::{
    AccountId, GraphItemId, IdError, SalesforceId, SalesforceUserId, SyncKey, salesforce_id18,
};
pub use model::*;
pub use reconcile::{MASS_DELETE_MIN, is_mass_delete, reconcile};
pub use results::{Applied, apply_write_results};
