//! A stateful emulator of the Microsoft Graph contacts API, for tests and the dev stack.
//!
//! It speaks Graph v1.0's wire format (reference: `shared/reference/graph-contract.md`) closely
//! enough that unmodified client libraries work against it given only its base URL:
//!
//! - `POST /{tenant}/oauth2/v2.0/token` (client credentials, form-encoded) and bearer checks;
//! - `/v1.0/users/{id | userPrincipalName}`: `contactFolders` (+ `childFolders`), `contacts`
//!   (list with `$skip` paging, `$select`, `$count`, `$orderby` (a sort: O(n log n), the one
//!   non-indexed read), `$expand` of extended properties, and the
//!   `$filter`s `singleValueExtendedProperties/Any(…)`, `emailAddresses/any(…)`,
//!   `categories/any(…)` served from indexes; get,
//!   create, PATCH, DELETE, `permanentDelete`; no move), `contacts/delta` per folder,
//!   `outlook/masterCategories`;
//! - `/v1.0/$batch`, `/v1.0/subscriptions` with validation, notifications and lifecycle events;
//! - Outlook throttling per (app, mailbox); Graph error bodies with the real codes;
//! - the unauthenticated test-only control API under `/_emulator/` (see `control`).
//!
//! # Defaults
//!
//! One app registration: tenant `dev-tenant` (its GUID `6f1c1d5e-4a0b-4c36-9b0e-0d1e2f3a4b5c`
//! is accepted too), client id `contactsync-dev`, secret `dev-secret`, scope
//! `https://graph.microsoft.com/.default`. More apps: `POST /_emulator/apps`.
//!
//! # Environment (`Config::from_env`)
//!
//! `GRAPH_EMULATOR_LISTEN` (127.0.0.1:8091), `GRAPH_EMULATOR_PUBLIC_URL` (links; default from
//! the Host header), `GRAPH_EMULATOR_TENANT`, `GRAPH_EMULATOR_TENANT_ID`,
//! `GRAPH_EMULATOR_CLIENT_ID`, `GRAPH_EMULATOR_CLIENT_SECRET`, `GRAPH_EMULATOR_CONTROL_API`
//! (true), `GRAPH_EMULATOR_TLS=dev` (serve HTTPS with the dev-only certificate for
//! `127.0.0.1`/`localhost`, signed by the same dev CA as the Salesforce emulator's:
//! `emulator_tls::DEV_CA_PEM`; or `GRAPH_EMULATOR_TLS_CERT_FILE` + `GRAPH_EMULATOR_TLS_KEY_FILE`),
//! and one variable per knob of [`Knobs`], named `GRAPH_EMULATOR_` + the field name in
//! capitals, e.g. `GRAPH_EMULATOR_THROTTLE_ENABLED=false`, `GRAPH_EMULATOR_LATENCY_MS=20`,
//! `GRAPH_EMULATOR_DELTA_PAGE_SIZE=100`, `GRAPH_EMULATOR_SUBSCRIPTION_OVER_MAX=clamp`. Each knob's
//! meaning and default is documented on its field; the UNCONFIRMED points of the reference are
//! knobs with the likeliest behaviour as default.
//!
//! | Knob variable | Default |
//! |---|---|
//! | `GRAPH_EMULATOR_TOKEN_LIFETIME_SECS` | 3599 |
//! | `GRAPH_EMULATOR_THROTTLE_ENABLED` | true |
//! | `GRAPH_EMULATOR_MAILBOX_CONCURRENCY` | 4 |
//! | `GRAPH_EMULATOR_MAILBOX_REQUEST_BUDGET` | 10000 |
//! | `GRAPH_EMULATOR_THROTTLE_WINDOW_SECS` | 600.0 |
//! | `GRAPH_EMULATOR_LATENCY_MS` | 0 |
//! | `GRAPH_EMULATOR_LIST_PAGE_SIZE` | 10 |
//! | `GRAPH_EMULATOR_MAX_PAGE_SIZE` | 1000 |
//! | `GRAPH_EMULATOR_DELTA_PAGE_SIZE` | 10 |
//! | `GRAPH_EMULATOR_DELTA_TOKEN_TTL_SECS` | unset |
//! | `GRAPH_EMULATOR_DELTA_GONE_LOCATION` | true |
//! | `GRAPH_EMULATOR_DELTA_REPLAY` | false |
//! | `GRAPH_EMULATOR_DELTA_EXPAND` | true |
//! | `GRAPH_EMULATOR_SOFT_DELETE` | true |
//! | `GRAPH_EMULATOR_PERMANENT_DELETE` | true |
//! | `GRAPH_EMULATOR_PATCH_PARENT_FOLDER` | ignore |
//! | `GRAPH_EMULATOR_ENFORCE_IF_MATCH` | true |
//! | `GRAPH_EMULATOR_REQUIRE_JSON_CONTENT_TYPE` | true |
//! | `GRAPH_EMULATOR_EMAIL_ADDRESSES_MAX` | 3 |
//! | `GRAPH_EMULATOR_BUSINESS_PHONES_MAX` | 2 |
//! | `GRAPH_EMULATOR_HOME_PHONES_MAX` | 2 |
//! | `GRAPH_EMULATOR_DEFAULT_CATEGORIES` | true |
//! | `GRAPH_EMULATOR_LIST_ALL_FOLDERS` | false |
//! | `GRAPH_EMULATOR_BATCH_MAX` | 20 |
//! | `GRAPH_EMULATOR_BATCH_PARALLELISM` | 4 |
//! | `GRAPH_EMULATOR_SUBSCRIPTION_MIN_MINUTES` | 45.0 |
//! | `GRAPH_EMULATOR_SUBSCRIPTION_MAX_MINUTES` | 10080.0 |
//! | `GRAPH_EMULATOR_SUBSCRIPTION_OVER_MAX` | reject |
//! | `GRAPH_EMULATOR_REQUIRE_HTTPS` | true |
//! | `GRAPH_EMULATOR_VALIDATION_TIMEOUT_MS` | 10000 |
//! | `GRAPH_EMULATOR_VALIDATION_REQUIRES_TEXT_PLAIN` | true |
//! | `GRAPH_EMULATOR_NOTIFICATION_TIMEOUT_MS` | 3000 |
//! | `GRAPH_EMULATOR_NOTIFICATION_RETRY_BASE_MS` | 1000 |
//! | `GRAPH_EMULATOR_NOTIFICATION_BATCH_MAX` | 10 |
//! | `GRAPH_EMULATOR_NOTIFICATION_MAX_ATTEMPTS` | 8 |
//! | `GRAPH_EMULATOR_SUBSCRIPTIONS_PER_MAILBOX_MAX` | 1000 |
//! | `GRAPH_EMULATOR_SUBSCRIPTION_ALL_FOLDERS` | true |
//!
//! # Control API (`/_emulator/`, never counted as traffic)
//!
//! `POST reset` · `POST mailboxes {"id","userPrincipalName","mailboxEnabled"?}` · `GET mailboxes` ·
//! `GET mailboxes/{id}/contacts|folders|categories` (full state: folder, categories, every
//! extended property) · `POST mailboxes/{id}/contacts {"folder"?,"contacts":[…]}` (bulk seed) ·
//! `PATCH|DELETE mailboxes/{id}/contacts/{cid}` (a user's edit or delete in Outlook:
//! notified, not counted) · `POST notifications/drop {"count"}` (lose the next N change
//! notifications) · `POST mailboxes/{id}/contacts/{cid}/move {"destinationId"}` (a user's
//! move in Outlook: new regular id) · `POST tokens {"client_id"?,"expires_in"?}` →
//! `{"access_token"}` · `POST apps {"client_id","client_secret","tenant","roles"?}` (`roles`: the consented
//! application permissions, default `Contacts.ReadWrite` and `MailboxSettings.ReadWrite`; without a
//! `Contacts.*` role every API call answers 403 `ErrorAccessDenied`) ·
//! `POST|GET|DELETE faults` (`{"status","count","retry_after","route","mailbox","code","message",
//! "after_effect"}`; `after_effect`: the operation happens, then the error is answered)
//! · `GET|DELETE requests` (`{"http_requests","operations","by_route"}`) ·
//! `POST delta/expire {"mailbox"?}` (outstanding delta tokens answer 410) ·
//! `GET subscriptions` · `DELETE subscriptions/{id}` (Graph drops it silently: renewals then
//! answer 404) · `POST subscriptions/{id}/lifecycle {"event"}` (`reauthorizationRequired`,
//! `subscriptionRemoved` (which also drops it), `missed`) · `GET|POST config`
//! (read or change knobs at run time; reset restores the start-up knobs).

mod app;
mod auth;
mod batch;
mod categories;
mod config;
mod contacts;
mod control;
mod delta;
mod errors;
mod faults;
mod folders;
mod ids;
mod model;
mod notify;
mod ordered;
mod query;
mod router;
mod server;
mod state;
mod subscriptions;
mod throttle;
mod wire;
mod write_log;

pub use app::App;
pub use config::{Config, ConfigError, Knobs, OverMaxLifetime, ParentFolderPatch};
