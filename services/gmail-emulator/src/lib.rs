//! A stateful emulator of the Google People API v1 (Gmail / Google Workspace contacts), for
//! tests and the dev stack (SPEC G1, §4 "Gmail emulator").
//!
//! It speaks the wire format of `shared/reference/people-contract.md` closely enough that the
//! unmodified official client library works against it given only its endpoint:
//!
//! - `POST /token`: the service-account JWT bearer grant (RS256 verified with aws-lc-rs against
//!   the registered keys; `iss`, `sub`, `scope`, `aud`, `iat`/`exp` checked with Google's
//!   answers); bearer checks on every `/v1` call; data per impersonated user (`sub`);
//! - `/v1/people/me/connections` (page tokens and sync tokens bound to the parameters,
//!   tombstones, expiry, sync lag), `people/{id}`, `people:batchGet`, `people:createContact`,
//!   `people/{id}:updateContact` (etag checked, mask replace), `people/{id}:deleteContact`,
//!   `people:batchCreateContacts`, `people:batchUpdateContacts`, `people:batchDeleteContacts`;
//! - `/v1/contactGroups` (list with paging and sync tokens, get with `maxMembers`, create, PUT,
//!   delete with `deleteContacts`, `{id}/members:modify`), system groups;
//! - per-user per-minute quotas (429 `RESOURCE_EXHAUSTED`, no `Retry-After`), Google error
//!   bodies with the real messages;
//! - the unauthenticated test-only control API under `/_emulator/`.
//!
//! # Defaults
//!
//! One service account is always registered: [`DEV_CLIENT_EMAIL`] with the committed dev-only
//! key [`DEV_PRIVATE_KEY_PEM`] (key id [`DEV_PRIVATE_KEY_ID`]); [`dev_key_file`] gives its key
//! file. Its JWT `aud` may be Google's token URL or this emulator's own `/token` URL. More
//! accounts: `POST /_emulator/service-accounts`.
//!
//! # Environment (`Config::from_env`)
//!
//! `GMAIL_EMULATOR_LISTEN` (127.0.0.1:8093), `GMAIL_EMULATOR_PUBLIC_URL` (the `token_uri` of
//! issued key files; default from the Host header), `GMAIL_EMULATOR_CONTROL_API` (true),
//! `GMAIL_EMULATOR_TLS=dev` (serve HTTPS with the dev-only certificate for
//! `127.0.0.1`/`localhost`, signed by the same dev CA as the other emulators':
//! `emulator_tls::DEV_CA_PEM`; or `GMAIL_EMULATOR_TLS_CERT_FILE` + `GMAIL_EMULATOR_TLS_KEY_FILE`),
//! and one variable per knob of [`Knobs`], named `GMAIL_EMULATOR_` + the field name in
//! capitals. Each knob's meaning is documented on its field; the UNCONFIRMED points of the
//! reference are knobs with the likeliest behaviour as default.
//!
//! | Knob variable | Default |
//! |---|---|
//! | `GMAIL_EMULATOR_TOKEN_LIFETIME_SECS` | 3599 |
//! | `GMAIL_EMULATOR_QUOTA_ENABLED` | true |
//! | `GMAIL_EMULATOR_READ_REQUESTS_PER_MINUTE` | 6000 |
//! | `GMAIL_EMULATOR_WRITE_REQUESTS_PER_MINUTE` | 6000 |
//! | `GMAIL_EMULATOR_FULL_SYNC_REQUESTS_PER_MINUTE` | 600 |
//! | `GMAIL_EMULATOR_CONCURRENT_MUTATIONS` | allow (or reject) |
//! | `GMAIL_EMULATOR_LATENCY_MS` | 0 |
//! | `GMAIL_EMULATOR_SYNC_TOKEN_MAX_AGE_SECS` | 604800 (7 days) |
//! | `GMAIL_EMULATOR_EXPIRED_SYNC_TOKEN_STATUS` | 400 |
//! | `GMAIL_EMULATOR_SYNC_LAG_SECS` | 0 |
//! | `GMAIL_EMULATOR_LIST_ITEM_CAP` | 100 |
//! | `GMAIL_EMULATOR_CONNECTIONS_PAGE_SIZE` | 100 |
//! | `GMAIL_EMULATOR_MAX_PAGE_SIZE` | 1000 |
//! | `GMAIL_EMULATOR_GROUPS_PAGE_SIZE` | 30 |
//! | `GMAIL_EMULATOR_BATCH_GET_MAX` | 200 |
//! | `GMAIL_EMULATOR_BATCH_CREATE_MAX` | 200 |
//! | `GMAIL_EMULATOR_BATCH_UPDATE_MAX` | 200 |
//! | `GMAIL_EMULATOR_BATCH_DELETE_MAX` | 500 |
//! | `GMAIL_EMULATOR_MEMBERS_MODIFY_MAX` | 1000 |
//!
//! Quotas are continuously refilling buckets per (user, class): reads (gets, lists, batchGet,
//! and `updateContact`, which Google counts as a critical read), writes (every mutation), and
//! the first page of a full sync; a batch call is one request. The defaults are generous so a
//! normal sync of thousands of contacts through the batch methods never meets them; set them
//! to ~90 to model a stock Cloud project.
//!
//! # Choices where the reference is UNCONFIRMED
//!
//! Sync tokens age from their own issue time and are bound to `personFields` and `sources`;
//! page tokens to every other parameter (a mismatch is 400 `INVALID_ARGUMENT`). A changed
//! contact is listed once per sync at its newest state; deletions are tombstones (resource
//! name, etag, `metadata.deleted`). Batch updates and deletes are checked whole before any item
//! is applied: one unknown contact (404) or stale etag (400 `FAILED_PRECONDITION`) fails the
//! call. New contacts always join `myContacts`. A duplicate group name is 409
//! `ALREADY_EXISTS`. Concurrent mutations of one user run and are counted (or, with
//! `concurrent_mutations=reject`, get 429 `RESOURCE_EXHAUSTED`). A token minted without `sub`
//! reads the service account's own, otherwise invisible, address book.
//!
//! # Control API (`/_emulator/`, never counted as traffic)
//!
//! `POST reset` · `POST mailboxes {"email"}` · `GET mailboxes` ·
//! `GET mailboxes/{email}/contacts` (`{"contacts":[every field],"deleted":[resource names]}`) ·
//! `POST mailboxes/{email}/contacts {"contacts":[Person…]}` (bulk seed) ·
//! `PATCH|DELETE mailboxes/{email}/contacts/{cNNN}` (a user's own edit or delete in Gmail; no
//! etag) · `GET mailboxes/{email}/groups` (every group with all member resource names) ·
//! `POST tokens {"email"}` → `{"access_token"}` · `POST service-accounts {"client_email"?}` →
//! a key file JSON (`token_uri` is this emulator's `/token`) · `POST|GET|DELETE faults`
//! (`{"status","count","retry_after","route","mailbox","code","message","after_effect"}`, as
//! the Graph emulator's; `route` is a `by_route` key such as `"GET /v1/people/me/connections"`)
//! · `GET|DELETE requests` (`{"http_requests","operations","by_route","concurrent_mutations"}`;
//! `operations` counts batch items) · `POST sync-tokens/expire {"email"?}` (outstanding sync
//! tokens answer the expired error) · `GET|POST clock` (`{"advance_seconds"?,"now"?}` →
//! `{"now"}`, as the Salesforce emulator's: moves the time of the data, sync-token ages, sync
//! lag and access-token expiry; JWT assertions are checked against the real time, as clients sign
//! with theirs) · `GET|POST config` (read or change knobs at run time; reset restores them and
//! the clock).

mod app;
mod auth;
mod config;
mod control;
mod cursor;
mod errors;
mod faults;
mod groups;
mod model;
mod people;
mod server;

pub use app::App;
pub use auth::{CONTACTS_SCOPE, GOOGLE_TOKEN_URL, KeyError};
pub use config::{ConcurrentMutations, Config, ConfigError, Knobs};

/// DEV ONLY: the client email of the always-registered service account.
pub const DEV_CLIENT_EMAIL: &str = "contactsync-dev@contactsync-dev.iam.gserviceaccount.com";
/// DEV ONLY: its private key (PKCS#8 PEM). Never use it outside local development and tests.
pub const DEV_PRIVATE_KEY_PEM: &str = include_str!("../fixtures/dev-only-service-account-key.pem");
/// DEV ONLY: the `private_key_id` of [`DEV_PRIVATE_KEY_PEM`].
pub const DEV_PRIVATE_KEY_ID: &str = "0dev0000000000000000000000000000000000dev";
/// DEV ONLY: the numeric client id of the dev service account in its key file.
pub const DEV_CLIENT_ID: &str = "100000000000000000001";

/// DEV ONLY: the dev service account's key file as Google's console gives it, with `token_uri`
/// pointing at `emulator_base_url` + `/token`.
pub fn dev_key_file(emulator_base_url: &str) -> serde_json::Value {
    let key = auth::GeneratedKey {
        key_id: DEV_PRIVATE_KEY_ID.to_owned(),
        private_key_pem: DEV_PRIVATE_KEY_PEM.to_owned(),
    };
    let token_uri = format!("{}/token", emulator_base_url.trim_end_matches('/'));
    auth::key_file(DEV_CLIENT_EMAIL, DEV_CLIENT_ID, &key, &token_uri)
}

/// A delegation assertion's claims, as Google's client libraries build them.
#[derive(Debug, Clone)]
pub struct Assertion<'a> {
    /// `iss`: the service account's client email.
    pub client_email: &'a str,
    /// `sub`: the user to impersonate (None: the service account itself).
    pub subject: Option<&'a str>,
    /// `scope`: space-separated scopes, usually [`CONTACTS_SCOPE`].
    pub scope: &'a str,
    /// `aud`: [`GOOGLE_TOKEN_URL`] or the emulator's own `/token` URL.
    pub audience: &'a str,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp` - `iat`, seconds (Google accepts at most 3600).
    pub lifetime_secs: i64,
}

impl Assertion<'_> {
    /// The RS256-signed JWT, `kid` = `key_id` in its header.
    pub fn sign(&self, private_key_pem: &str, key_id: &str) -> Result<String, KeyError> {
        let claims = auth::Claims {
            iss: self.client_email.to_owned(),
            sub: self.subject.map(str::to_owned),
            scope: self.scope.to_owned(),
            aud: self.audience.to_owned(),
            iat: self.issued_at,
            exp: self.issued_at + self.lifetime_secs,
        };
        auth::sign(&claims, private_key_pem, key_id)
    }
}
