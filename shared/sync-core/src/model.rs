//! The inputs and outputs of a session: link rows, both sides' observations, settings, write
//! commands, per-item errors and the writers' results. All serde, because links are stored as
//! rows/JSONB and observations and commands travel in RabbitMQ messages.

use serde::{Deserialize, Serialize};

use crate::contact::Contact;
use crate::fields::{GraphContactFields, SalesforceContactFields};
use crate::ids::{GraphItemId, SalesforceId, SalesforceUserId, SyncKey};
use crate::mapping::{GraphPatch, SalesforcePatch};

/// The master category (B1), compared case-insensitively as Outlook does.
pub const SALESFORCE_CATEGORY: &str = "Salesforce";
/// The folder the mirrors live in (B1).
pub const SYNC_FOLDER_NAME: &str = "Salesforce Contacts";

/// Which side a contact first came from; up-synced links survive scope changes (B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Down-synced: a Salesforce Contact mirrored into the folder.
    Salesforce,
    /// Up-synced: a mailbox contact created in Salesforce by us.
    Exchange,
}

/// A side of the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Exchange,
    Salesforce,
}

/// A value one side holds that the other side rejected (C7). While that side still shows exactly
/// this value it is not offered again, so bad data cannot cause a retry loop; any new edit clears
/// the mark and is retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub side: Side,
    pub value: Contact,
}

/// One row of the link store: a mailbox contact and a Salesforce Contact that are the same person.
///
/// Unique per user on `sync_key`, `salesforce_id` and `graph_id` (C4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub sync_key: SyncKey,
    /// `None` while the Salesforce create is pending or was rejected (C7).
    pub salesforce_id: Option<SalesforceId>,
    /// `None` while the mirror's create (or re-create, B12) is pending.
    pub graph_id: Option<GraphItemId>,
    pub origin: Origin,
    /// The last synced value, in canonical form; the company is the mailbox's value.
    pub baseline: Contact,
    /// The Salesforce Contact's `Account.Name` at the last sync. Kept apart from the baseline's
    /// company because account linking (B14) may pick an Account whose name is not the mailbox's
    /// `companyName` (or none): each side's company is compared to its own last value.
    #[serde(default)]
    pub account_name: Option<String>,
    /// The mailbox item's Graph fields as last read or written. An update of an item that did
    /// not change since is computed against it, so mailbox-only data (addresses and phones
    /// beyond `[0]`, a hand-set display name, an empty surname) survives exactly. `None` while
    /// no mirror exists.
    #[serde(default)]
    pub snapshot: Option<GraphContactFields>,
    /// The item's `changeKey` at its last read or write (informational; comparisons are canonical).
    #[serde(default)]
    pub change_key: Option<String>,
    #[serde(default)]
    pub rejected: Option<Rejected>,
    /// When this row last changed.
    pub synced_at: chrono::DateTime<chrono::Utc>,
}

/// Where an observed mailbox item lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderKind {
    /// The "Salesforce Contacts" folder (B1).
    SyncFolder,
    /// Any other contact folder.
    Other,
}

/// One mailbox contact from a Graph delta (created or changed; delta entries are full objects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeItem {
    pub id: GraphItemId,
    pub folder: FolderKind,
    #[serde(default)]
    pub categories: Vec<String>,
    /// Our stamp (extended property), if the item carries one; an empty stamp is `None`.
    #[serde(default)]
    pub sync_key: Option<SyncKey>,
    #[serde(default)]
    pub change_key: Option<String>,
    pub fields: GraphContactFields,
}

impl ExchangeItem {
    /// Whether the item carries the "Salesforce" category.
    pub fn has_category(&self) -> bool {
        self.categories
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(SALESFORCE_CATEGORY))
    }
}

/// How much of a side a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// Changes since the last cursor: what is not mentioned did not change.
    Incremental,
    /// A full listing (initial sync, resync after Graph's 410, scope change): what is linked but
    /// not listed is gone from that side (or out of scope). An empty complete Salesforce listing
    /// is a real answer (B7: a scope that is now empty), held only by the mass-delete guard (C5);
    /// an empty complete mailbox listing is treated as incremental and deletes nothing.
    Complete,
    /// The read failed: nothing is known about that side this session; nothing is deleted (C5).
    Failed,
}

/// The mailbox side of a session: every contact folder's delta merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeChanges {
    pub kind: ReadKind,
    #[serde(default)]
    pub items: Vec<ExchangeItem>,
    /// Ids reported `@removed` by a folder's delta (deleted, or moved out of that folder).
    #[serde(default)]
    pub removed: Vec<GraphItemId>,
    /// The sync folder was found deleted and was re-created for this read (B1): the mirrors it
    /// held are reported removed all at once, by the folder's loss rather than one by one. With
    /// Auto-removal on, the guard (C5) then holds every deletion toward Salesforce they would
    /// cause, however few, for an operator to confirm: losing a folder never deletes Contacts
    /// silently. Stays set, session after session, until a session that carries it completes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub folder_lost: bool,
}

impl ExchangeChanges {
    /// A failed read (C5: nothing is deleted on its account).
    pub fn failed() -> Self {
        ExchangeChanges {
            kind: ReadKind::Failed,
            items: Vec::new(),
            removed: Vec::new(),
            folder_lost: false,
        }
    }
}

/// One Salesforce Contact as the fetcher read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceContact {
    pub id: SalesforceId,
    #[serde(default)]
    pub owner_id: Option<SalesforceUserId>,
    /// `Contactsync_Key__c`, set on Contacts we created (upsert key).
    #[serde(default)]
    pub sync_key: Option<SyncKey>,
    pub fields: SalesforceContactFields,
}

/// The Salesforce side of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceChanges {
    pub kind: ReadKind,
    /// Contacts changed since the cursor that are in scope, or linked (an up-synced Contact out of
    /// scope still syncs, B7).
    #[serde(default)]
    pub contacts: Vec<SalesforceContact>,
    /// Deleted Contacts (Get Deleted / `queryAll` `IsDeleted`).
    #[serde(default)]
    pub deleted: Vec<SalesforceId>,
    /// Linked Contacts that no longer match the scope (B7).
    #[serde(default)]
    pub out_of_scope: Vec<SalesforceId>,
    /// Records the read could not take (a malformed `Id` or `OwnerId`, B15): reported per item
    /// (C7), never blocking the session. A read that left any out is not a complete listing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
}

impl SalesforceChanges {
    /// A failed read (C5: nothing is deleted on its account).
    pub fn failed() -> Self {
        SalesforceChanges {
            kind: ReadKind::Failed,
            contacts: Vec::new(),
            deleted: Vec::new(),
            out_of_scope: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Down-sync scope (B2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "list_view_id")]
pub enum Scope {
    /// Contacts owned by the user (default).
    #[default]
    Mine,
    /// Every Contact the integration can see.
    All,
    /// Members of a Contact list view (the fetcher applies its filter), by its 18-character id.
    ListView(SalesforceId),
}

impl Scope {
    /// The scopes' names, as stored and as the admin API spells them.
    pub const NAMES: [&'static str; 3] = ["mine", "all", "list_view"];

    /// Its name: `mine`, `all` or `list_view`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Mine => "mine",
            Scope::All => "all",
            Scope::ListView(_) => "list_view",
        }
    }

    /// The list view of scope `list_view`.
    pub fn list_view_id(&self) -> Option<&SalesforceId> {
        match self {
            Scope::ListView(id) => Some(id),
            Scope::Mine | Scope::All => None,
        }
    }
}

/// Who wins a field edited differently on both sides (C1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictWinner {
    #[default]
    Salesforce,
    Exchange,
}

impl ConflictWinner {
    /// Its name, as stored and as the admin API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictWinner::Salesforce => "salesforce",
            ConflictWinner::Exchange => "exchange",
        }
    }

    /// The winner named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "salesforce" => Some(ConflictWinner::Salesforce),
            "exchange" => Some(ConflictWinner::Exchange),
            _ => None,
        }
    }
}

/// The user's contact-sync settings plus the one operator input a session needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The user's Salesforce user id: owner of up-synced Contacts (B8) and the `mine` scope (B2).
    pub salesforce_user_id: SalesforceUserId,
    #[serde(default)]
    pub scope: Scope,
    /// B12; **decided** default off.
    #[serde(default)]
    pub auto_removal: bool,
    #[serde(default)]
    pub conflict_winner: ConflictWinner,
    /// An operator confirmed the deletions held by the mass-delete guard (C5).
    #[serde(default)]
    pub mass_delete_confirmed: bool,
}

impl Settings {
    /// Defaults of SPEC §1 for a user.
    pub fn new(salesforce_user_id: SalesforceUserId) -> Settings {
        Settings {
            salesforce_user_id,
            scope: Scope::Mine,
            auto_removal: false,
            conflict_winner: ConflictWinner::Salesforce,
            mass_delete_confirmed: false,
        }
    }
}

/// How a command changes the item's sync-key stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stamp {
    /// Leave the extended property as it is.
    Keep,
    /// Write this key.
    Set(SyncKey),
    /// Blank it (the item leaves the sync, B11).
    Clear,
}

/// A write to the mailbox. Every command names the link it belongs to (`sync_key`), which is how
/// results find their way back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum ExchangeCommand {
    /// Create in the sync folder with the "Salesforce" category and the key stamped (B5, B12).
    Create {
        sync_key: SyncKey,
        fields: GraphContactFields,
    },
    /// PATCH the item: changed properties, the full new `categories` if they change (B8, B10),
    /// and the stamp.
    Update {
        sync_key: SyncKey,
        id: GraphItemId,
        patch: GraphPatch,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        categories: Option<Vec<String>>,
        stamp: Stamp,
    },
    /// Delete the item (B6, B7, C2).
    Delete { sync_key: SyncKey, id: GraphItemId },
    /// B9: copy the item (a full GET, then `patch` applied to that body) into the sync folder
    /// with these categories and the key stamped, then delete the original. The link follows
    /// the copy's new id.
    MoveIntoFolder {
        sync_key: SyncKey,
        id: GraphItemId,
        categories: Vec<String>,
        #[serde(default)]
        patch: GraphPatch,
    },
}

impl ExchangeCommand {
    pub fn sync_key(&self) -> &SyncKey {
        match self {
            ExchangeCommand::Create { sync_key, .. }
            | ExchangeCommand::Update { sync_key, .. }
            | ExchangeCommand::Delete { sync_key, .. }
            | ExchangeCommand::MoveIntoFolder { sync_key, .. } => sync_key,
        }
    }
}

/// How an update touches the Contact's Account (B14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relink {
    /// The mailbox's company; `None` detaches the Account.
    pub company_name: Option<String>,
}

/// A write to Salesforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum SalesforceCommand {
    /// Upsert by external id `Contactsync_Key__c` = `sync_key` (a retry never duplicates, C4),
    /// owned by `owner_id`, with `AccountId` from account linking on `company_name` (B14).
    Create {
        sync_key: SyncKey,
        owner_id: SalesforceUserId,
        fields: Box<SalesforceContactFields>,
        #[serde(default)]
        company_name: Option<String>,
    },
    /// PATCH by Id with the changed fields; `relink` re-runs account linking.
    Update {
        sync_key: SyncKey,
        id: SalesforceId,
        patch: SalesforcePatch,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relink: Option<Relink>,
    },
    /// Delete by Id (B12 with auto-removal on).
    Delete { sync_key: SyncKey, id: SalesforceId },
}

impl SalesforceCommand {
    pub fn sync_key(&self) -> &SyncKey {
        match self {
            SalesforceCommand::Create { sync_key, .. }
            | SalesforceCommand::Update { sync_key, .. }
            | SalesforceCommand::Delete { sync_key, .. } => sync_key,
        }
    }
}

/// A change to the link store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum LinkUpdate {
    /// Insert or replace the row with this key.
    Upsert(Box<Link>),
    /// Remove the row with this key.
    Delete { sync_key: SyncKey },
}

impl LinkUpdate {
    pub fn sync_key(&self) -> &SyncKey {
        match self {
            LinkUpdate::Upsert(link) => &link.sync_key,
            LinkUpdate::Delete { sync_key } => sync_key,
        }
    }
}

/// Per-item error codes (C7, C5). Salesforce's own codes where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// LastName empty with no fallback.
    RequiredFieldMissing,
    StringTooLong,
    InvalidEmailAddress,
    /// A birthday that is not a date.
    InvalidDate,
    /// The session held its deletions (C5); spelled as SPEC §1 names it.
    #[serde(rename = "mass_delete_guard")]
    MassDeleteGuard,
    /// A key stamped on two items or a Contact claimed twice; resolved by not linking.
    KeyConflict,
    /// A writer reported a failure; the message carries the service's code and text.
    WriteFailed,
    /// A record read with an id that is not a Salesforce id (B15); Salesforce's own code.
    MalformedId,
}

impl ErrorCode {
    /// Our code for a code a service reported: Salesforce's own where we have it (so a refusal
    /// reads the same whether caught before writing or by Salesforce), else `WRITE_FAILED`.
    pub fn from_service(code: &str) -> ErrorCode {
        match code {
            "REQUIRED_FIELD_MISSING" => ErrorCode::RequiredFieldMissing,
            "STRING_TOO_LONG" => ErrorCode::StringTooLong,
            "INVALID_EMAIL_ADDRESS" => ErrorCode::InvalidEmailAddress,
            _ => ErrorCode::WriteFailed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::RequiredFieldMissing => "REQUIRED_FIELD_MISSING",
            ErrorCode::StringTooLong => "STRING_TOO_LONG",
            ErrorCode::InvalidEmailAddress => "INVALID_EMAIL_ADDRESS",
            ErrorCode::InvalidDate => "INVALID_DATE",
            ErrorCode::MassDeleteGuard => "mass_delete_guard",
            ErrorCode::KeyConflict => "KEY_CONFLICT",
            ErrorCode::WriteFailed => "WRITE_FAILED",
            ErrorCode::MalformedId => "MALFORMED_ID",
        }
    }
}

/// One per-item error for the user's status: `{"item","code","field","message"}` (C7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    /// A human label of the contact (name or email); the ids below locate it.
    pub item: String,
    pub code: ErrorCode,
    /// The Salesforce field API name, if one field is at fault.
    #[serde(default)]
    pub field: Option<String>,
    pub message: String,
    #[serde(default)]
    pub sync_key: Option<SyncKey>,
    #[serde(default)]
    pub graph_id: Option<GraphItemId>,
    #[serde(default)]
    pub salesforce_id: Option<SalesforceId>,
}

/// The mass-delete guard's verdict (C5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum GuardOutcome {
    /// Deletions (if any) go ahead.
    Clear,
    /// Deletions were held: none is in the decisions. The pipeline records the
    /// `mass_delete_guard` error and must not advance the read cursors, so that the session after
    /// the operator's confirmation sees the same deletions again.
    Held { deletions: usize, links: usize },
}

impl GuardOutcome {
    /// True when the guard held deletions (the session ends `partial`, C5).
    pub fn is_held(&self) -> bool {
        matches!(self, GuardOutcome::Held { .. })
    }
}

/// Everything one session decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decisions {
    pub exchange: Vec<ExchangeCommand>,
    pub salesforce: Vec<SalesforceCommand>,
    /// Link rows to write, assuming every command succeeds; `apply_write_results` corrects them
    /// with the writers' results (new ids, failures).
    pub links: Vec<LinkUpdate>,
    pub errors: Vec<ItemError>,
    pub guard: GuardOutcome,
    /// What to store instead of a planned link row when a write fails (C7).
    pub fallbacks: Vec<Fallback>,
}

impl Decisions {
    /// Nothing decided yet.
    pub fn empty() -> Decisions {
        Decisions {
            exchange: Vec::new(),
            salesforce: Vec::new(),
            links: Vec::new(),
            errors: Vec::new(),
            guard: GuardOutcome::Clear,
            fallbacks: Vec::new(),
        }
    }

    /// No write to either service (C3's "zero writes").
    pub fn has_no_writes(&self) -> bool {
        self.exchange.is_empty() && self.salesforce.is_empty()
    }
}

/// The link rows to store for one key if a write fails, decided with the rest: reconcile knows
/// what each side still holds when the other side's write is rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    pub sync_key: SyncKey,
    /// The row if the mailbox write fails; `None` leaves the stored row (or its absence) alone.
    pub if_exchange_fails: Option<LinkUpdate>,
    /// The row if the Salesforce write fails; `None` leaves the stored row alone.
    pub if_salesforce_fails: Option<LinkUpdate>,
}

/// A writer's failure for one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailure {
    /// The service's error code (`INVALID_EMAIL_ADDRESS`, `ErrorInvalidProperty`, …).
    pub code: String,
    #[serde(default)]
    pub field: Option<String>,
    pub message: String,
}

/// What a writer reports for one command, matched to the link by `sync_key`.
///
/// Only terminal outcomes belong here: a transient failure (throttling, 5xx after retries) should
/// fail the session so its cursors do not advance and the same changes come again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum WriteResult {
    /// A `Create` or `MoveIntoFolder` made this item.
    ExchangeCreated {
        sync_key: SyncKey,
        id: GraphItemId,
        #[serde(default)]
        change_key: Option<String>,
    },
    ExchangeUpdated {
        sync_key: SyncKey,
        #[serde(default)]
        change_key: Option<String>,
    },
    ExchangeDeleted {
        sync_key: SyncKey,
    },
    ExchangeFailed {
        sync_key: SyncKey,
        failure: WriteFailure,
    },
    /// A `Create` (upsert) made or matched this Contact, linked to this Account's name.
    SalesforceCreated {
        sync_key: SyncKey,
        id: SalesforceId,
        #[serde(default)]
        account_name: Option<String>,
    },
    /// An `Update` succeeded; `account_name` is set when it carried a `relink`.
    SalesforceUpdated {
        sync_key: SyncKey,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::fields::double_option"
        )]
        account_name: Option<Option<String>>,
    },
    SalesforceDeleted {
        sync_key: SyncKey,
    },
    SalesforceFailed {
        sync_key: SyncKey,
        failure: WriteFailure,
    },
}

impl WriteResult {
    pub fn sync_key(&self) -> &SyncKey {
        match self {
            WriteResult::ExchangeCreated { sync_key, .. }
            | WriteResult::ExchangeUpdated { sync_key, .. }
            | WriteResult::ExchangeDeleted { sync_key }
            | WriteResult::ExchangeFailed { sync_key, .. }
            | WriteResult::SalesforceCreated { sync_key, .. }
            | WriteResult::SalesforceUpdated { sync_key, .. }
            | WriteResult::SalesforceDeleted { sync_key }
            | WriteResult::SalesforceFailed { sync_key, .. } => sync_key,
        }
    }
}
