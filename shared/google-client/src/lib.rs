//! Google People API v1 client for the contacts sync of Gmail (Google Workspace) mailboxes (G1):
//! a service account's login per user (domain-wide delegation, RS256 JWT grant), reads by sync
//! token with tombstones, contact writes one at a time or in batches of Google's limits with a
//! per-contact result, contact groups, our sync key in `clientData`, and the mapping of a
//! `Person` to the sync core's mailbox shape ([`mapping`]).
//!
//! Calls go through the shared `http-layer`: transient failures (429 `RESOURCE_EXHAUSTED`, which
//! carries no `Retry-After`, and 5xx) are retried with exponential backoff, a 401 drops the
//! user's token and logs in once more, and a create is not resent after a failure that may have
//! reached Google. One user's mutations are sent one at a time, as Google asks. Errors say what
//! to do next through [`Disposition`]. The wire contract followed is
//! `reference/people-contract.md`.

mod client;
mod config;
mod contacts;
mod error;
mod groups;
pub mod mapping;
mod sync;
mod types;

pub use client::GoogleClient;
pub use config::{CONTACTS_SCOPE, DEFAULT_API_BASE, DEFAULT_TOKEN_URI, GoogleConfig};
pub use contacts::{
    ItemResult, MAX_BATCH_CREATE, MAX_BATCH_DELETE, MAX_BATCH_GET, MAX_BATCH_UPDATE,
};
pub use error::{
    ApiError, Disposition, EXPIRED_SYNC_TOKEN, ErrorBody, GoogleError, ItemError, RpcStatus,
    TokenError, classify, retry_after, rpc_disposition,
};
pub use groups::{MAX_MEMBERS_MODIFY, ModifyOutcome};
pub use sync::{PERSON_FIELDS, SyncNext, SyncPage, SyncRound};
pub use types::{
    Address, Biography, Birthday, ContactGroup, ContactGroupMembership, Date, EmailAddress, Extra,
    GroupMetadata, KeyValue, Membership, Name, Organization, Person, PersonMetadata, PhoneNumber,
    Relation, Source,
};
