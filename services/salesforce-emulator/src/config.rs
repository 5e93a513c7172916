//! Emulator configuration: the listen address and one knob per point of the contract that
//! is configurable in Salesforce or UNCONFIRMED in the reference (§12), each defaulting to
//! the likeliest production behaviour.

use std::net::SocketAddr;
use std::time::Duration;

/// What `GET /sobjects/Contact/{id}` answers for a record in the Recycle Bin (contract §4,
/// UNCONFIRMED: client tests expect 404 ENTITY_IS_DELETED, one runbook claims 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedRowGet {
    EntityIsDeleted,
    NotFound,
}

/// The Standard Contact Duplicate Rule (matching: same Email and LastName, case-insensitive).
/// Salesforce activates it in new orgs with "Allow + alert", which refuses API saves with
/// DUPLICATES_DETECTED unless `Sforce-Duplicate-Rule-Header: allowSave=true`; many
/// integration orgs turn it off. Switchable at runtime: `POST /_emulator/duplicate-rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateRule {
    #[default]
    Off,
    /// Refuse unless the request sends `allowSave=true`.
    Alert,
    /// Always refuse.
    Block,
}

impl std::str::FromStr for DuplicateRule {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(DuplicateRule::Off),
            "alert" => Ok(DuplicateRule::Alert),
            "block" => Ok(DuplicateRule::Block),
            _ => Err(()),
        }
    }
}

/// How many characters the record ids in API answers have. Salesforce's REST API answers with
/// 18; its UI, URLs and some older integrations use the 15-character case-sensitive form, so
/// clients must take both (B15). Switchable at runtime: `POST /_emulator/id-length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdLength {
    /// The 15-character form (the first 15 characters of the 18-character id).
    Fifteen,
    #[default]
    Eighteen,
}

impl IdLength {
    /// The id as an answer spells it.
    pub fn apply(self, id18: &str) -> &str {
        match self {
            IdLength::Fifteen => crate::ids::to_15(id18),
            IdLength::Eighteen => id18,
        }
    }

    pub fn chars(self) -> u8 {
        match self {
            IdLength::Fifteen => 15,
            IdLength::Eighteen => 18,
        }
    }
}

impl std::str::FromStr for IdLength {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "15" => Ok(IdLength::Fifteen),
            "18" => Ok(IdLength::Eighteen),
            _ => Err(()),
        }
    }
}

/// Which stamp `If-Modified-Since`/`If-Unmodified-Since` compare against (UNCONFIRMED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalStamp {
    LastModifiedDate,
    SystemModstamp,
}

/// HTTP statuses the reference only believes (§12); each can be changed if a live org disagrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorStatuses {
    /// Update/delete/read of a Recycle-Bin record (believed 404).
    pub entity_is_deleted: u16,
    /// A save refused by a duplicate rule (believed 400).
    pub duplicates_detected: u16,
    /// Get Updated/Deleted with a bad window (believed 400).
    pub invalid_replication_date: u16,
}

impl Default for ErrorStatuses {
    fn default() -> ErrorStatuses {
        ErrorStatuses {
            entity_is_deleted: 404,
            duplicates_detected: 400,
            invalid_replication_date: 400,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Organization id (18 chars, `00D…`): in token ids, Outbound Messages, access tokens.
    pub org_id: String,
    /// Two chars after the key prefix of generated ids (the "instance" part).
    pub pod: String,
    /// Highest `vNN.N` served; older down to 20.0 are accepted too.
    pub max_api_version: f32,
    /// Connected-app consumer key (`iss` of JWT assertions, `client_id` elsewhere).
    pub client_id: String,
    pub client_secret: String,
    /// PEM of the connected app's certificate (or bare public key) that verifies JWT assertions.
    pub jwt_cert_pem: String,
    /// Lifetime of access tokens; afterwards calls get 401 INVALID_SESSION_ID (session timeout, 2 h default).
    pub token_ttl: Duration,
    /// Whether a refresh grant also returns a new refresh token and invalidates the old one.
    pub refresh_token_rotation: bool,
    /// Whether JWT bearer responses carry `issued_at` and `signature` (UNCONFIRMED; clients accept both).
    pub jwt_response_includes_issued_at: bool,
    /// Whether client-credentials responses carry `api_instance_url` (UNCONFIRMED).
    pub include_api_instance_url: bool,
    /// Run-As user of the client-credentials flow; created at start and on reset. `None` → flow refused.
    pub client_credentials_username: Option<String>,
    /// Daily API request allocation (rolling 24 h); exhausted → 403 REQUEST_LIMIT_EXCEEDED.
    pub daily_api_limit: u64,
    /// Query batch size without `Sforce-Query-Options` (Salesforce: 2,000).
    pub default_batch_size: usize,
    /// How long a query locator stays valid (v56.0+: 2 days) and how many are kept at most.
    pub cursor_ttl: Duration,
    pub max_cursors: usize,
    pub deleted_row_get: DeletedRowGet,
    pub conditional_stamp: ConditionalStamp,
    /// Whether a top-level `POST /sobjects/X` returns a `Location` header (UNCONFIRMED).
    pub location_on_create: bool,
    /// Whether the `MyContacts` describe says `"scope":"mine"` with `USING SCOPE mine` (UNCONFIRMED)
    /// rather than an `OwnerId` filter.
    pub my_contacts_using_scope: bool,
    pub duplicate_rule: DuplicateRule,
    /// The length of record ids (`Id` and reference fields) in query, row and retrieve answers
    /// and in Outbound Messages.
    pub id_length: IdLength,
    pub error_statuses: ErrorStatuses,
    /// Whether the standard `RecentlyViewedContacts` list view exists (UNCONFIRMED for
    /// Contact; by analogy with `RecentlyViewedAccounts`). Nothing is ever "viewed" through
    /// the API, so its results are empty.
    pub recently_viewed_list_view: bool,
    /// Outbound Message retry: first delay, cap between attempts, and age after which a
    /// notification is dropped (Salesforce: exponential up to 2 h, dropped after 24 h).
    pub outbound_initial_retry: Duration,
    pub outbound_max_retry: Duration,
    pub outbound_expiry: Duration,
    /// Per-attempt HTTP timeout of an Outbound Message POST.
    pub outbound_timeout: Duration,
    /// Outbound Messages enabled from the start (and after every reset) to this URL, e.g. the
    /// gateway's `/webhooks/salesforce`. `None`: off until the control API enables them.
    pub outbound_endpoint_url: Option<String>,
    /// Serve HTTPS instead of HTTP (real Salesforce is HTTPS only). Off for the dev stack.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Whether Contact has our custom field `Contactsync_Key__c` (Text(64), External ID,
    /// Unique), as in an org where the Contactsync package is deployed. Off: an org without it,
    /// which answers every use with Salesforce's real errors (INVALID_FIELD, NOT_FOUND) and
    /// leaves it out of describe.
    pub sync_key_field: bool,
    /// The JWT bearer audiences this org accepts, as real Salesforce checks `aud`: its
    /// authorization server (`https://login.salesforce.com` for production,
    /// `https://test.salesforce.com` for a sandbox) or the org's My Domain URL. Never the
    /// host the token request happened to go to.
    pub jwt_audiences: Vec<String>,
}

/// The audiences a production org and a sandbox accept: both, unless configured otherwise.
pub const DEFAULT_JWT_AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

/// The organization id of the Salesforce help examples (`00Dxx0000001gPL`), 18-char form.
pub const DEFAULT_ORG_ID: &str = "00Dxx0000001gPLEAY";
pub const DEFAULT_CLIENT_ID: &str = "contactsync-dev";
pub const DEFAULT_CLIENT_SECRET: &str = "contactsync-dev-secret";
pub const DEFAULT_INTEGRATION_USERNAME: &str = "integration@contactsync.dev";

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8092)),
            org_id: DEFAULT_ORG_ID.to_string(),
            pod: "Dn".to_string(),
            max_api_version: 66.0,
            client_id: DEFAULT_CLIENT_ID.to_string(),
            client_secret: DEFAULT_CLIENT_SECRET.to_string(),
            jwt_cert_pem: crate::DEV_CERT_PEM.to_string(),
            token_ttl: Duration::from_secs(2 * 3600),
            refresh_token_rotation: false,
            jwt_response_includes_issued_at: true,
            include_api_instance_url: false,
            client_credentials_username: Some(DEFAULT_INTEGRATION_USERNAME.to_string()),
            daily_api_limit: 1_000_000,
            default_batch_size: 2000,
            cursor_ttl: Duration::from_secs(2 * 24 * 3600),
            max_cursors: 10_000,
            deleted_row_get: DeletedRowGet::EntityIsDeleted,
            conditional_stamp: ConditionalStamp::LastModifiedDate,
            location_on_create: false,
            my_contacts_using_scope: true,
            duplicate_rule: DuplicateRule::Off,
            id_length: IdLength::Eighteen,
            error_statuses: ErrorStatuses::default(),
            recently_viewed_list_view: true,
            outbound_initial_retry: Duration::from_secs(15),
            outbound_max_retry: Duration::from_secs(2 * 3600),
            outbound_expiry: Duration::from_secs(24 * 3600),
            outbound_timeout: Duration::from_secs(10),
            outbound_endpoint_url: None,
            tls: None,
            sync_key_field: true,
            jwt_audiences: DEFAULT_JWT_AUDIENCES.map(str::to_owned).to_vec(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason} (got {value:?})")]
    Invalid {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("SALESFORCE_EMULATOR_TLS / _TLS_CERT_FILE / _TLS_KEY_FILE: {reason} (got {value:?})")]
    Tls { value: String, reason: String },
    #[error("{var}: cannot read {path}: {source}")]
    File {
        var: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(
    name: &'static str,
    reason: &'static str,
) -> Result<Option<T>, ConfigError> {
    match var(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Invalid {
                var: name,
                value: v,
                reason,
            }),
    }
}

fn secs(name: &'static str) -> Result<Option<Duration>, ConfigError> {
    Ok(parse::<f64>(name, "expected seconds")?
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64))
}

fn flag(name: &'static str) -> Result<Option<bool>, ConfigError> {
    match var(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(Some(true)),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(Some(false)),
        Some(v) => Err(ConfigError::Invalid {
            var: name,
            value: v,
            reason: "expected true or false",
        }),
    }
}

impl Config {
    /// Reads `SALESFORCE_EMULATOR_*` variables (listed in the crate documentation) over the defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        let mut c = Config::default();
        if let Some(v) = parse("SALESFORCE_EMULATOR_LISTEN", "expected host:port")? {
            c.listen = v;
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_ORG_ID") {
            match crate::ids::normalize(&v).filter(|id| id.starts_with("00D")) {
                Some(id) => c.org_id = id,
                None => {
                    return Err(ConfigError::Invalid {
                        var: "SALESFORCE_EMULATOR_ORG_ID",
                        value: v,
                        reason: "expected a 15/18-char id starting with 00D",
                    });
                }
            }
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_CLIENT_ID") {
            c.client_id = v;
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_CLIENT_SECRET") {
            c.client_secret = v;
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_JWT_CERT_PEM") {
            c.jwt_cert_pem = v;
        }
        if let Some(path) = var("SALESFORCE_EMULATOR_JWT_CERT_FILE") {
            c.jwt_cert_pem =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
                    var: "SALESFORCE_EMULATOR_JWT_CERT_FILE",
                    path,
                    source,
                })?;
        }
        if crate::auth::jwt::public_key_from_pem(&c.jwt_cert_pem).is_none() {
            return Err(ConfigError::Invalid {
                var: "SALESFORCE_EMULATOR_JWT_CERT_PEM",
                value: c.jwt_cert_pem.chars().take(40).collect(),
                reason: "expected a PEM certificate or public key",
            });
        }
        if let Some(v) = secs("SALESFORCE_EMULATOR_TOKEN_TTL_SECS")? {
            c.token_ttl = v;
        }
        if let Some(v) = flag("SALESFORCE_EMULATOR_REFRESH_TOKEN_ROTATION")? {
            c.refresh_token_rotation = v;
        }
        if let Some(v) = flag("SALESFORCE_EMULATOR_JWT_ISSUED_AT")? {
            c.jwt_response_includes_issued_at = v;
        }
        if let Some(v) = flag("SALESFORCE_EMULATOR_API_INSTANCE_URL")? {
            c.include_api_instance_url = v;
        }
        if let Ok(v) = std::env::var("SALESFORCE_EMULATOR_CLIENT_CREDENTIALS_USERNAME") {
            c.client_credentials_username = Some(v).filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = parse("SALESFORCE_EMULATOR_DAILY_API_LIMIT", "expected a number")? {
            c.daily_api_limit = v;
        }
        if let Some(v) = parse::<usize>(
            "SALESFORCE_EMULATOR_DEFAULT_BATCH_SIZE",
            "expected a number",
        )? {
            c.default_batch_size = v.clamp(200, 2000);
        }
        if let Some(v) = secs("SALESFORCE_EMULATOR_CURSOR_TTL_SECS")? {
            c.cursor_ttl = v;
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_DELETED_ROW_GET") {
            c.deleted_row_get = match v.to_ascii_lowercase().as_str() {
                "entity_is_deleted" => DeletedRowGet::EntityIsDeleted,
                "not_found" => DeletedRowGet::NotFound,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "SALESFORCE_EMULATOR_DELETED_ROW_GET",
                        value: v,
                        reason: "expected entity_is_deleted or not_found",
                    });
                }
            };
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_CONDITIONAL_STAMP") {
            c.conditional_stamp = match v.to_ascii_lowercase().as_str() {
                "lastmodifieddate" => ConditionalStamp::LastModifiedDate,
                "systemmodstamp" => ConditionalStamp::SystemModstamp,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "SALESFORCE_EMULATOR_CONDITIONAL_STAMP",
                        value: v,
                        reason: "expected LastModifiedDate or SystemModstamp",
                    });
                }
            };
        }
        if let Some(v) = flag("SALESFORCE_EMULATOR_LOCATION_ON_CREATE")? {
            c.location_on_create = v;
        }
        if let Some(v) = flag("SALESFORCE_EMULATOR_MY_CONTACTS_USING_SCOPE")? {
            c.my_contacts_using_scope = v;
        }
        if let Some(v) = parse(
            "SALESFORCE_EMULATOR_DUPLICATE_RULE",
            "expected off, alert or block",
        )? {
            c.duplicate_rule = v;
        }
        if let Some(v) = parse("SALESFORCE_EMULATOR_ID_LENGTH", "expected 15 or 18")? {
            c.id_length = v;
        }
        let status = |name: &'static str| -> Result<Option<u16>, ConfigError> {
            Ok(parse::<u16>(name, "expected an HTTP status")?.filter(|s| (100..600).contains(s)))
        };
        if let Some(v) = status("SALESFORCE_EMULATOR_STATUS_ENTITY_IS_DELETED")? {
            c.error_statuses.entity_is_deleted = v;
        }
        if let Some(v) = status("SALESFORCE_EMULATOR_STATUS_DUPLICATES_DETECTED")? {
            c.error_statuses.duplicates_detected = v;
        }
        if let Some(v) = status("SALESFORCE_EMULATOR_STATUS_INVALID_REPLICATION_DATE")? {
            c.error_statuses.invalid_replication_date = v;
        }
        if let Some(v) = flag("SALESFORCE_EMULATOR_RECENTLY_VIEWED_LIST_VIEW")? {
            c.recently_viewed_list_view = v;
        }
        if let Some(v) = secs("SALESFORCE_EMULATOR_OUTBOUND_INITIAL_RETRY_SECS")? {
            c.outbound_initial_retry = v;
        }
        if let Some(v) = secs("SALESFORCE_EMULATOR_OUTBOUND_MAX_RETRY_SECS")? {
            c.outbound_max_retry = v;
        }
        if let Some(v) = secs("SALESFORCE_EMULATOR_OUTBOUND_EXPIRY_SECS")? {
            c.outbound_expiry = v;
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_OUTBOUND_URL") {
            if url::Url::parse(&v).is_err() {
                return Err(ConfigError::Invalid {
                    var: "SALESFORCE_EMULATOR_OUTBOUND_URL",
                    value: v,
                    reason: "expected a URL",
                });
            }
            c.outbound_endpoint_url = Some(v);
        }
        if let Some(v) = flag("SALESFORCE_EMULATOR_SYNC_KEY_FIELD")? {
            c.sync_key_field = v;
        }
        if let Some(v) = var("SALESFORCE_EMULATOR_JWT_AUDIENCES") {
            let audiences: Vec<String> = v
                .split(',')
                .map(|a| a.trim().trim_end_matches('/').to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            if audiences.is_empty() || audiences.iter().any(|a| url::Url::parse(a).is_err()) {
                return Err(ConfigError::Invalid {
                    var: "SALESFORCE_EMULATOR_JWT_AUDIENCES",
                    value: v,
                    reason: "expected comma-separated URLs",
                });
            }
            c.jwt_audiences = audiences;
        }
        let tls = var("SALESFORCE_EMULATOR_TLS");
        let cert = var("SALESFORCE_EMULATOR_TLS_CERT_FILE");
        let key = var("SALESFORCE_EMULATOR_TLS_KEY_FILE");
        match crate::tls::TlsConfig::from_vars(tls.as_deref(), cert.as_deref(), key.as_deref()) {
            Ok(Some(config)) => c.tls = Some(config),
            Ok(None) => {}
            Err(reason) => {
                return Err(ConfigError::Tls {
                    value: tls.or(cert).or(key).unwrap_or_default(),
                    reason,
                });
            }
        }
        Ok(c)
    }
}
