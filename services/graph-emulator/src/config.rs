//! Emulator configuration: the listen address, the one app registration it knows, and the knobs.
//!
//! Every knob that models a point the reference marks UNCONFIRMED says so, with the default we
//! judged likeliest. Knobs can be set from `GRAPH_EMULATOR_<KNOB_NAME_IN_CAPITALS>` at start-up
//! and changed at run time through `POST /_emulator/config` (tests and the benchmark use that to
//! turn throttling up or off without a restart).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// What a PATCH carrying `parentFolderId` does. Graph has no move for contacts (reference §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentFolderPatch {
    /// The property is silently ignored (UNCONFIRMED; likeliest).
    Ignore,
    /// The PATCH fails with 400 `ErrorInvalidProperty`.
    Reject,
}

/// What a subscription create or renew beyond the maximum lifetime gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverMaxLifetime {
    /// 400 "Subscription expiration can only be N minutes in the future." (likeliest).
    Reject,
    /// The expiry is clamped to the maximum.
    Clamp,
}

/// Behaviour knobs. All are runtime-adjustable through `POST /_emulator/config`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Lifetime of issued access tokens (`expires_in`), seconds. Real: 3599.
    pub token_lifetime_secs: u64,
    /// Outlook throttling on or off.
    pub throttle_enabled: bool,
    /// Concurrent requests per (app, mailbox) before 429 `ApplicationThrottled`. Real: 4.
    pub mailbox_concurrency: u32,
    /// Requests per (app, mailbox) per window before 429 `TooManyRequests`. Real: 10,000.
    pub mailbox_request_budget: u32,
    /// The budget window, seconds. Real: 600. The budget refills continuously (token bucket).
    pub throttle_window_secs: f64,
    /// Simulated service time added to every API operation, milliseconds (0: none).
    pub latency_ms: u64,
    /// Page size of plain collections without `$top`. Observed: 10.
    pub list_page_size: usize,
    /// Cap on `$top` and `Prefer: odata.maxpagesize` (UNCONFIRMED; commonly 1000).
    pub max_page_size: usize,
    /// Delta page size without `Prefer: odata.maxpagesize` (UNCONFIRMED; 10 like lists).
    pub delta_page_size: usize,
    /// Delta tokens older than this answer 410 `syncStateNotFound` (None: never expire by age).
    pub delta_token_ttl_secs: Option<u64>,
    /// Put a `Location` header with the initial delta URL on 410 answers (documented as optional).
    pub delta_gone_location: bool,
    /// Each delta round re-reports the changes of the previous one (replays, which the docs
    /// warn about; off by default so counts stay exact).
    pub delta_replay: bool,
    /// Contact delta honours `$expand=singleValueExtendedProperties(…)` (UNCONFIRMED: documented
    /// for message delta only; likely, as both run on Outlook's sync). Off: 400 for `$expand`.
    pub delta_expand: bool,
    /// DELETE moves the contact to Deleted Items with a new regular id (observed) instead of
    /// dropping it. Immutable ids still resolve to it there.
    pub soft_delete: bool,
    /// `POST …/contacts/{id}/permanentDelete` is available (UNCONFIRMED for v1.0; likely).
    pub permanent_delete: bool,
    /// What `parentFolderId` in a contact PATCH does (UNCONFIRMED).
    pub patch_parent_folder: ParentFolderPatch,
    /// A stale `If-Match` on contact PATCH/DELETE gets 412 `ErrorIrresolvableConflict`
    /// (UNCONFIRMED for contacts; enforced for events).
    pub enforce_if_match: bool,
    /// POST/PATCH bodies must come with `Content-Type: application/json` (documented as
    /// required; the status for its absence, 415, is UNCONFIRMED).
    pub require_json_content_type: bool,
    /// Maximum `emailAddresses` entries (observed: 3).
    pub email_addresses_max: usize,
    /// Maximum `businessPhones` entries (observed: 2).
    pub business_phones_max: usize,
    /// Maximum `homePhones` entries (UNCONFIRMED: inferred 2).
    pub home_phones_max: usize,
    /// New mailboxes start with Outlook's six default colour categories.
    pub default_categories: bool,
    /// `/users/{id}/contacts` lists the default folder only (observed) when false, every
    /// contact folder when true (what the docs claim).
    pub list_all_folders: bool,
    /// Maximum requests in one `$batch`. Real: 20.
    pub batch_max: usize,
    /// Independent batch items run this many at a time (second-hand: Graph passes 4 to Outlook).
    pub batch_parallelism: usize,
    /// Expiries closer than this are raised to it, minutes. Real: 45.
    pub subscription_min_minutes: f64,
    /// Maximum subscription lifetime for contacts, minutes. Current docs: 10,080.
    pub subscription_max_minutes: f64,
    /// Create/renew beyond the maximum: reject or clamp (UNCONFIRMED).
    pub subscription_over_max: OverMaxLifetime,
    /// `notificationUrl` (and `lifecycleNotificationUrl`) must be https, as Graph requires. Turn
    /// off only where the subscriber cannot serve TLS (`contactsync dev`, tests on localhost).
    pub require_https: bool,
    /// Time the subscriber has to echo the validation token, milliseconds. Real: 10,000.
    pub validation_timeout_ms: u64,
    /// The validation echo must be `text/plain` (documented).
    pub validation_requires_text_plain: bool,
    /// A notification POST not answered 2xx in this time is retried, milliseconds. Real: 3,000.
    pub notification_timeout_ms: u64,
    /// First retry delay of a failed notification, doubled per attempt, milliseconds.
    pub notification_retry_base_ms: u64,
    /// Notifications sent together in one POST when several are waiting for a subscription
    /// (UNCONFIRMED how many Graph bundles; it does send `value` arrays).
    pub notification_batch_max: usize,
    /// Attempts per notification before it is dropped (real Graph retries for up to 4 hours).
    pub notification_max_attempts: u32,
    /// Active subscriptions per mailbox across all apps; one more gets 403 (Outlook: 1,000).
    pub subscriptions_per_mailbox_max: usize,
    /// A `users/{id}/contacts` subscription covers every contact folder (docs: "all personal
    /// contacts") rather than the default folder only.
    pub subscription_all_folders: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            token_lifetime_secs: 3599,
            throttle_enabled: true,
            mailbox_concurrency: 4,
            mailbox_request_budget: 10_000,
            throttle_window_secs: 600.0,
            latency_ms: 0,
            list_page_size: 10,
            max_page_size: 1000,
            delta_page_size: 10,
            delta_token_ttl_secs: None,
            delta_gone_location: true,
            delta_replay: false,
            delta_expand: true,
            soft_delete: true,
            permanent_delete: true,
            patch_parent_folder: ParentFolderPatch::Ignore,
            enforce_if_match: true,
            require_json_content_type: true,
            email_addresses_max: 3,
            business_phones_max: 2,
            home_phones_max: 2,
            default_categories: true,
            list_all_folders: false,
            batch_max: 20,
            batch_parallelism: 4,
            subscription_min_minutes: 45.0,
            subscription_max_minutes: 10_080.0,
            subscription_over_max: OverMaxLifetime::Reject,
            require_https: true,
            validation_timeout_ms: 10_000,
            validation_requires_text_plain: true,
            notification_timeout_ms: 3_000,
            notification_retry_base_ms: 1_000,
            notification_batch_max: 10,
            notification_max_attempts: 8,
            subscriptions_per_mailbox_max: 1000,
            subscription_all_folders: true,
        }
    }
}

/// Start-up configuration of the emulator.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`GRAPH_EMULATOR_LISTEN`, default 127.0.0.1:8091).
    pub listen: SocketAddr,
    /// Base URL written into `@odata.nextLink`/`deltaLink` (`GRAPH_EMULATOR_PUBLIC_URL`);
    /// None: derived from each request's `Host` header.
    pub public_base_url: Option<String>,
    /// Tenant accepted in the token path (`GRAPH_EMULATOR_TENANT`, default `dev-tenant`).
    pub tenant: String,
    /// Tenant GUID, also accepted in the token path and sent as `tenantId` in notifications
    /// (`GRAPH_EMULATOR_TENANT_ID`).
    pub tenant_id: String,
    /// The app registration's client id (`GRAPH_EMULATOR_CLIENT_ID`, default `contactsync-dev`).
    pub client_id: String,
    /// Its secret (`GRAPH_EMULATOR_CLIENT_SECRET`, default `dev-secret`).
    pub client_secret: String,
    /// Serve the unauthenticated `/_emulator/` control API (`GRAPH_EMULATOR_CONTROL_API`).
    pub control_api: bool,
    /// Serve HTTPS (`GRAPH_EMULATOR_TLS=dev`: the dev-only certificate signed by the same CA as
    /// the Salesforce emulator's; or `GRAPH_EMULATOR_TLS_CERT_FILE` + `_TLS_KEY_FILE`). Graph
    /// speaks only HTTPS, and Microsoft's SDKs treat only `https` URLs as Graph's.
    pub tls: Option<emulator_tls::TlsConfig>,
    /// Behaviour knobs (`GRAPH_EMULATOR_<KNOB>`).
    pub knobs: Knobs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
            public_base_url: None,
            tenant: "dev-tenant".to_owned(),
            tenant_id: "6f1c1d5e-4a0b-4c36-9b0e-0d1e2f3a4b5c".to_owned(),
            client_id: "contactsync-dev".to_owned(),
            client_secret: "dev-secret".to_owned(),
            control_api: true,
            tls: None,
            knobs: Knobs::default(),
        }
    }
}

/// A configuration value from the environment that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not a socket address ({value:?}): {source}")]
    InvalidListen {
        var: &'static str,
        value: String,
        source: std::net::AddrParseError,
    },
    #[error("{var} is not a valid value ({value:?}): {message}")]
    InvalidValue {
        var: String,
        value: String,
        message: String,
    },
}

const PREFIX: &str = "GRAPH_EMULATOR_";

impl Config {
    /// Reads `GRAPH_EMULATOR_*` variables over the defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like `from_env` with an injectable lookup, so parsing is testable without the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(value) = lookup("GRAPH_EMULATOR_LISTEN") {
            config.listen = value.parse().map_err(|source| ConfigError::InvalidListen {
                var: "GRAPH_EMULATOR_LISTEN",
                value: value.clone(),
                source,
            })?;
        }
        if let Some(value) = lookup("GRAPH_EMULATOR_PUBLIC_URL") {
            config.public_base_url = Some(value.trim_end_matches('/').to_owned());
        }
        for (var, slot) in [
            ("GRAPH_EMULATOR_TENANT", &mut config.tenant),
            ("GRAPH_EMULATOR_TENANT_ID", &mut config.tenant_id),
            ("GRAPH_EMULATOR_CLIENT_ID", &mut config.client_id),
            ("GRAPH_EMULATOR_CLIENT_SECRET", &mut config.client_secret),
        ] {
            if let Some(value) = lookup(var) {
                *slot = value;
            }
        }
        if let Some(value) = lookup("GRAPH_EMULATOR_CONTROL_API") {
            config.control_api = parse_bool("GRAPH_EMULATOR_CONTROL_API", &value)?;
        }
        let tls = lookup("GRAPH_EMULATOR_TLS");
        let cert = lookup("GRAPH_EMULATOR_TLS_CERT_FILE");
        let key = lookup("GRAPH_EMULATOR_TLS_KEY_FILE");
        config.tls =
            emulator_tls::TlsConfig::from_vars(tls.as_deref(), cert.as_deref(), key.as_deref())
                .map_err(|message| ConfigError::InvalidValue {
                    var: "GRAPH_EMULATOR_TLS".to_owned(),
                    value: tls.or(cert).or(key).unwrap_or_default(),
                    message,
                })?;
        config.knobs = knobs_from_lookup(&lookup)?;
        Ok(config)
    }
}

fn parse_bool(var: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::InvalidValue {
            var: var.to_owned(),
            value: value.to_owned(),
            message: "expected true or false".to_owned(),
        }),
    }
}

/// Overlays `GRAPH_EMULATOR_<KNOB>` on the default knobs. Going through the serde form keeps the
/// list of variables in step with the struct without a hand-written table.
fn knobs_from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Knobs, ConfigError> {
    let defaults = serde_json::to_value(Knobs::default()).map_err(|e| invalid("knobs", "", e))?;
    let serde_json::Value::Object(mut map) = defaults else {
        return Ok(Knobs::default());
    };
    for (name, slot) in map.iter_mut() {
        let var = format!("{PREFIX}{}", name.to_ascii_uppercase());
        let Some(raw) = lookup(&var) else { continue };
        let value = match raw.to_ascii_lowercase().as_str() {
            "on" | "yes" => serde_json::Value::Bool(true),
            "off" | "no" => serde_json::Value::Bool(false),
            "" | "none" | "null" => serde_json::Value::Null,
            _ => serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw.clone())),
        };
        // Check each variable on its own so the error names the one that is wrong.
        let mut probe = serde_json::Map::new();
        probe.insert(name.clone(), value.clone());
        serde_json::from_value::<Knobs>(serde_json::Value::Object(probe))
            .map_err(|e| invalid(&var, &raw, e))?;
        *slot = value;
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| invalid("knobs", "", e))
}

fn invalid(var: &str, value: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        var: var.to_owned(),
        value: value.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn knobs_are_read_from_prefixed_variables() {
        let config = Config::from_lookup(env(&[
            ("GRAPH_EMULATOR_LISTEN", "127.0.0.1:0"),
            ("GRAPH_EMULATOR_THROTTLE_ENABLED", "off"),
            ("GRAPH_EMULATOR_MAILBOX_CONCURRENCY", "9"),
            ("GRAPH_EMULATOR_SUBSCRIPTION_OVER_MAX", "clamp"),
            ("GRAPH_EMULATOR_DELTA_TOKEN_TTL_SECS", "30"),
        ]))
        .unwrap_or_default();
        assert_eq!(config.listen.port(), 0);
        assert!(!config.knobs.throttle_enabled);
        assert_eq!(config.knobs.mailbox_concurrency, 9);
        assert_eq!(config.knobs.subscription_over_max, OverMaxLifetime::Clamp);
        assert_eq!(config.knobs.delta_token_ttl_secs, Some(30));
    }

    #[test]
    fn every_knob_variable_is_documented_in_the_crate_header() {
        let header = include_str!("lib.rs");
        let knobs = serde_json::to_value(Knobs::default()).unwrap_or_default();
        for name in knobs
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let var = format!("`{PREFIX}{}`", name.to_ascii_uppercase());
            assert!(header.contains(&var), "{var} is not documented in lib.rs");
        }
    }

    #[test]
    fn tls_is_dev_and_https_notification_urls_are_required_by_default() {
        let plain = Config::from_lookup(env(&[])).unwrap_or_default();
        assert!(plain.tls.is_none());
        assert!(plain.knobs.require_https);
        let tls = Config::from_lookup(env(&[("GRAPH_EMULATOR_TLS", "dev")])).unwrap_or_default();
        assert!(tls.tls.is_some());
        assert!(Config::from_lookup(env(&[("GRAPH_EMULATOR_TLS", "yes")])).is_err());
    }

    #[test]
    fn a_bad_knob_names_its_variable() {
        let err = Config::from_lookup(env(&[("GRAPH_EMULATOR_MAILBOX_CONCURRENCY", "many")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("GRAPH_EMULATOR_MAILBOX_CONCURRENCY"), "{err}");
    }
}
