//! A faithful local Salesforce REST emulator: OAuth token endpoint, SOQL `query`/`queryAll`,
//! sObject rows and upsert, Get Updated/Deleted, sObject Collections, Contact list views,
//! limits, and Outbound Messages, plus a test-only control API under `/_emulator/`.
//!
//! It follows `shared/reference/salesforce-contract.md` and shares no code with our
//! Salesforce client, so a misunderstanding of the API cannot hide on both sides.
//!
//! # Configuration (`Config::from_env`)
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SALESFORCE_EMULATOR_LISTEN` | `127.0.0.1:8092` | listen address |
//! | `SALESFORCE_EMULATOR_ORG_ID` | `00Dxx0000001gPLEAY` | organization id (15/18 chars, `00D…`) |
//! | `SALESFORCE_EMULATOR_CLIENT_ID` | `contactsync-dev` | connected-app consumer key |
//! | `SALESFORCE_EMULATOR_CLIENT_SECRET` | `contactsync-dev-secret` | consumer secret |
//! | `SALESFORCE_EMULATOR_JWT_CERT_PEM` / `_JWT_CERT_FILE` | the dev-only certificate | PEM certificate or public key verifying JWT assertions |
//! | `SALESFORCE_EMULATOR_TOKEN_TTL_SECS` | `7200` | access-token lifetime (then 401 `INVALID_SESSION_ID`) |
//! | `SALESFORCE_EMULATOR_REFRESH_TOKEN_ROTATION` | `false` | refresh grant returns a new refresh token |
//! | `SALESFORCE_EMULATOR_JWT_ISSUED_AT` | `true` | JWT responses include `issued_at`/`signature` |
//! | `SALESFORCE_EMULATOR_API_INSTANCE_URL` | `false` | client-credentials responses include `api_instance_url` |
//! | `SALESFORCE_EMULATOR_CLIENT_CREDENTIALS_USERNAME` | `integration@contactsync.dev` | Run-As user (empty: flow refused) |
//! | `SALESFORCE_EMULATOR_DAILY_API_LIMIT` | `1000000` | rolling 24 h API budget |
//! | `SALESFORCE_EMULATOR_DEFAULT_BATCH_SIZE` | `2000` | query batch without `Sforce-Query-Options` |
//! | `SALESFORCE_EMULATOR_CURSOR_TTL_SECS` | `172800` | query locator lifetime |
//! | `SALESFORCE_EMULATOR_DELETED_ROW_GET` | `entity_is_deleted` | GET of a Recycle-Bin row: `entity_is_deleted` or `not_found` |
//! | `SALESFORCE_EMULATOR_CONDITIONAL_STAMP` | `LastModifiedDate` | stamp checked by `If-(Un)Modified-Since` |
//! | `SALESFORCE_EMULATOR_LOCATION_ON_CREATE` | `false` | top-level create returns `Location` |
//! | `SALESFORCE_EMULATOR_MY_CONTACTS_USING_SCOPE` | `true` | MyContacts describe uses `USING SCOPE mine` |
//! | `SALESFORCE_EMULATOR_DUPLICATE_RULE` | `off` | Standard Contact Duplicate Rule: `off`, `alert` (allowSave header passes), `block` |
//! | `SALESFORCE_EMULATOR_ID_LENGTH` | `18` | `15`: record ids (`Id` and reference fields such as `OwnerId`, `AccountId`) in query/queryAll, row and retrieve answers and in Outbound Messages (and their `OrganizationId`) have the 15-character form, as Salesforce's UI and URLs show them; requests take either form |
//! | `SALESFORCE_EMULATOR_STATUS_ENTITY_IS_DELETED` | `404` | status of ENTITY_IS_DELETED on rows (UNCONFIRMED) |
//! | `SALESFORCE_EMULATOR_STATUS_DUPLICATES_DETECTED` | `400` | status of DUPLICATES_DETECTED (UNCONFIRMED) |
//! | `SALESFORCE_EMULATOR_STATUS_INVALID_REPLICATION_DATE` | `400` | status of INVALID_REPLICATION_DATE (UNCONFIRMED) |
//! | `SALESFORCE_EMULATOR_RECENTLY_VIEWED_LIST_VIEW` | `true` | the `RecentlyViewedContacts` view exists (UNCONFIRMED; always empty) |
//! | `SALESFORCE_EMULATOR_OUTBOUND_INITIAL_RETRY_SECS` | `15` | first Outbound Message retry delay (doubles) |
//! | `SALESFORCE_EMULATOR_OUTBOUND_MAX_RETRY_SECS` | `7200` | cap between retries |
//! | `SALESFORCE_EMULATOR_OUTBOUND_EXPIRY_SECS` | `86400` | notifications older than this are dropped |
//! | `SALESFORCE_EMULATOR_OUTBOUND_URL` | — | Outbound Messages on from the start to this endpoint |
//! | `SALESFORCE_EMULATOR_SYNC_KEY_FIELD` | `true` | Contact has `Contactsync_Key__c` (Text(64), External ID, Unique); `false`: an org without the package, with Salesforce's real errors for every use of it |
//! | `SALESFORCE_EMULATOR_JWT_AUDIENCES` | `https://login.salesforce.com,https://test.salesforce.com` | JWT bearer `aud` values accepted (add the org's My Domain URL; the emulator's own URL is never implied) |
//! | `SALESFORCE_EMULATOR_TLS` | off | `dev` serves HTTPS with the dev-only certificate (CA: `DEV_TLS_CA_PEM`) |
//! | `SALESFORCE_EMULATOR_TLS_CERT_FILE` + `_TLS_KEY_FILE` | — | serve HTTPS with this chain and key |
//!
//! # REST surface (`/services/…`, `/id/…`)
//!
//! `POST /services/oauth2/token` (JWT bearer, refresh token, client credentials), `/revoke`;
//! `GET /id/{org}/{user}` (identity); `GET /services/data/` (versions 20.0–66.0, no
//! session); under `/services/data/vNN.N/`: `query`, `queryAll`, `query/{locator}`, `limits`,
//! `sobjects`, `sobjects/{T}` (POST create), `sobjects/{T}/describe`, `sobjects/{T}/{id}`
//! (GET, PATCH, DELETE; `If-(Un)Modified-Since`; ETags on Account), `sobjects/{T}/{field}/{value}`
//! (GET, PATCH upsert, DELETE), `sobjects/{T}/updated|deleted`, `sobjects/Contact/listviews`
//! (`recent`, `{id}`, `{id}/describe`, `{id}/results`), `composite/sobjects` (POST, PATCH,
//! DELETE), `composite/sobjects/{T}` (GET/POST retrieve), `composite/sobjects/{T}/{field}`
//! (PATCH upsert), `composite` (references, allOrNone), `composite/batch`. Objects: Contact
//! (with the unique external id `Contactsync_Key__c`), Account, User.
//!
//! SOQL: `SELECT` fields, parent paths (`Account.Owner.Name`), `FIELDS(ALL|STANDARD|CUSTOM)`,
//! `COUNT()`; `FROM` with an optional alias; `USING SCOPE mine|everything`; `WHERE` with
//! `AND`/`OR` (not mixed without parentheses)/`NOT`, `= != <> < <= > >= LIKE IN NOT IN`,
//! `null`, quoted strings with SOQL escapes, unquoted dates/datetimes, date literals
//! (`TODAY`, `THIS_WEEK`, `LAST_N_DAYS:n`, …); `ORDER BY … ASC|DESC NULLS FIRST|LAST`;
//! `LIMIT`; `OFFSET` (≤ 2,000). Not built: `/search`, Bulk API, child subqueries, aggregates
//! other than `COUNT()`, `GROUP BY`, semi-joins, `FOR VIEW|UPDATE`.
//!
//! # Control API (`/_emulator/…`, test only, never counted as traffic)
//!
//! | call | effect |
//! |---|---|
//! | `POST /reset` | empty org (only the Run-As user); zero counters, faults, usage, clock; Outbound Messages back to the configured endpoint |
//! | `POST /users` `{"Id"?, "Username", "FirstName"?, "LastName"?, "Email"?, "Alias"?, "IsActive"?}` | → 201 `{"Id","Username"}` |
//! | `GET /users` | every User row |
//! | `POST /listviews` `{"label", "where"?, "developerName"?, "mine"?}` | Contact list view → 201 `{"id"}` |
//! | `POST /tokens` `{"username"}` or `{"user_id"}` | → token body plus `refresh_token` |
//! | `POST /tokens/expire` | every access token expires now |
//! | `POST /faults` `{"status", "count"?, "retry_after"?, "route"?, "user"?, "errorCode"?, "message"?}` | next `count` matching calls fail; `route` is `"METHOD /template"`, `"/template"` or a `*` prefix (case-insensitive); `user` limits it to one caller; `GET`/`DELETE /faults` |
//! | `POST /faults` `{"kind": "truncate_query", "count"?, "route"?, "user"?}` | next `count` query answers (`query`, `queryAll`, `query/{locator}`) say `done: false` with no `nextRecordsUrl` and half their batch |
//! | `GET /requests` / `DELETE /requests` | `{"http_requests","operations","by_route"}` / zero them |
//! | `POST /usage` `{"used"}` | API calls already used today |
//! | `POST /duplicate-rule` `{"mode": "off"\|"alert"\|"block"}` | the Contact duplicate rule |
//! | `POST /id-length` `{"length": 15\|18}`, `GET /id-length` | the length of record ids in answers (see `SALESFORCE_EMULATOR_ID_LENGTH`); back to the configured one on reset |
//! | `GET /clock`, `POST /clock` `{"advance_seconds"?, "now"?}` | the emulator clock |
//! | `POST /outbound` `{"endpoint_url", "fields"?, "send_session_id"?}`, `GET`, `DELETE` | Outbound Messages on Contact create/update |
//! | `POST /recycle-bin/purge` `{"sobject"?, "before"?}` | empties the Recycle Bin (rows deleted before `before`): gone for good, `queryAll` included; Get Deleted still reports them → `{"purged": [ids]}` |
//! | `POST /delete-log/purge` `{"before"?}` | drops delete-log entries deleted before `before` (default now); Get Deleted's `earliestDateAvailable` moves to the minute after the newest one → `{"purged", "purgedThrough"}` |
//! | `POST /write-log` `{"enabled"}`, `GET /write-log` | the write log on (emptied) or off; `GET` → `{"enabled", "writes": [{"Id", "sobject", "at_ms"}]}`: when the REST API wrote each record (wall-clock milliseconds), not the control API's writes |
//! | `GET /sobjects/{T}` | all rows, Recycle Bin included (not purged rows) |
//! | `POST /sobjects/{T}` `{"as_user"?, "records": [...]}` or one record | create (all or none, API validation) → `{"ids"}` |
//! | `PATCH /sobjects/{T}/{id}` `{"as_user"?, fields…}`, `DELETE /sobjects/{T}/{id}?as_user=` | edit as a user |

pub mod api;
pub mod auth;
pub mod config;
pub mod control;
pub mod errors;
pub mod ids;
pub mod listviews;
pub mod outbound;
pub mod schema;
pub mod soql;
pub mod state;
pub mod store;
pub mod time;
/// HTTPS: shared with the Graph emulator (one dev CA for both).
pub use emulator_tls as tls;
pub mod value;
pub mod write_log;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{
    ConditionalStamp, Config, ConfigError, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_INTEGRATION_USERNAME, DEFAULT_JWT_AUDIENCES, DEFAULT_ORG_ID, DeletedRowGet,
    DuplicateRule, ErrorStatuses, IdLength,
};
pub use schema::CONTACTSYNC_KEY;
pub use tls::TlsConfig;

/// DEV ONLY: the private key whose certificate the default config trusts for JWT logins.
/// Never use it outside local development and tests.
pub const DEV_PRIVATE_KEY_PEM: &str = include_str!("../fixtures/dev-only-jwt-private-key.pem");
/// DEV ONLY: the self-signed certificate matching [`DEV_PRIVATE_KEY_PEM`].
pub const DEV_CERT_PEM: &str = include_str!("../fixtures/dev-only-jwt-cert.pem");
/// DEV ONLY: the CA that signed [`DEV_TLS_CERT_PEM`]; clients of an HTTPS emulator trust it.
pub const DEV_TLS_CA_PEM: &str = emulator_tls::DEV_CA_PEM;
/// DEV ONLY: server certificate for `127.0.0.1` and `localhost`.
pub const DEV_TLS_CERT_PEM: &str = emulator_tls::DEV_CERT_PEM;
/// DEV ONLY: the key of [`DEV_TLS_CERT_PEM`].
pub const DEV_TLS_KEY_PEM: &str = emulator_tls::DEV_KEY_PEM;

/// Request bodies up to this size (control-API seeding of 100,000 Contacts in one call).
const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// Signs a JWT bearer assertion for `username` with a PKCS#8 PEM key (the dev stack passes
/// [`DEV_PRIVATE_KEY_PEM`]); `audience` is usually `https://login.salesforce.com`.
pub fn sign_jwt_assertion(
    private_key_pem: &str,
    client_id: &str,
    username: &str,
    audience: &str,
    expires_at_epoch_secs: i64,
) -> Result<String, auth::jwt::JwtError> {
    let claims = auth::jwt::Claims {
        iss: client_id.to_string(),
        sub: Some(username.to_string()),
        prn: None,
        aud: auth::jwt::Audience::One(audience.to_string()),
        exp: expires_at_epoch_secs,
    };
    auth::jwt::sign(&claims, private_key_pem)
}

/// A bound, ready-to-run emulator.
pub struct App {
    listener: TcpListener,
    state: Arc<state::AppState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl App {
    /// Binds the listener and builds an empty org (plus the Run-As integration user).
    pub async fn build(config: Config) -> std::io::Result<App> {
        let jwt_key = auth::jwt::public_key_from_pem(&config.jwt_cert_pem).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "jwt_cert_pem holds no certificate or public key",
            )
        })?;
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{host}:{}", addr.port());
        let state = Arc::new(state::AppState::new(config, base_url, jwt_key));
        Ok(App {
            listener,
            state,
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.listen)
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), which is also the `instance_url`.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// Serves until `shutdown` fires, then stops the Outbound Message worker too.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let worker = tokio::spawn(outbound::Outbound::run(
            self.state.clone(),
            shutdown.clone(),
        ));
        let router = Router::new()
            .nest("/_emulator", control::router())
            .fallback(api::dispatch)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.state);
        tracing::info!(addr = %self.listener.local_addr()?, "Salesforce emulator listening");
        let result = tls::serve(self.listener, self.tls, router, shutdown.clone()).await;
        shutdown.cancel();
        let _ = worker.await;
        result
    }
}
