//! Emulator configuration: the listen address, TLS, and the behaviour knobs.
//!
//! Every knob that models a point the reference marks UNCONFIRMED says so, with the default we
//! judged likeliest. Knobs are read from `GMAIL_EMULATOR_<KNOB_NAME_IN_CAPITALS>` at start-up and
//! can be changed at run time through `POST /_emulator/config` (reset restores the start-up ones).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// What a mutation gets while another mutation of the same user is still running ("Mutate
/// requests for the same user should be sent sequentially"; the live failure mode is
/// UNCONFIRMED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrentMutations {
    /// It runs; the overlap is counted (`concurrent_mutations` in `GET /_emulator/requests`).
    Allow,
    /// It is refused with 429 `RESOURCE_EXHAUSTED` (and counted).
    Reject,
}

/// Behaviour knobs. All are runtime-adjustable through `POST /_emulator/config`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// `expires_in` of issued access tokens, seconds. Live: 3599.
    pub token_lifetime_secs: u64,
    /// Per-user per-minute quotas on or off.
    pub quota_enabled: bool,
    /// Read requests (gets, lists, batchGet, and `updateContact`, which counts as a critical
    /// read) per user per minute. Live values are per project in the Cloud console (~90 reported
    /// for critical reads); the default is generous so a sync of thousands of contacts through
    /// the batch methods never meets it. A batch call is one request.
    pub read_requests_per_minute: u32,
    /// Write requests (every create, update, delete, batch mutation, group write) per user per
    /// minute. A batch call is one request.
    pub write_requests_per_minute: u32,
    /// The first page of a full sync (`requestSyncToken` without `syncToken` or `pageToken`)
    /// also draws on this quota per user per minute (documented; its value UNCONFIRMED).
    pub full_sync_requests_per_minute: u32,
    /// What a mutation overlapping another of the same user gets (UNCONFIRMED).
    pub concurrent_mutations: ConcurrentMutations,
    /// Simulated service time added to every API call, milliseconds.
    pub latency_ms: u64,
    /// Sync tokens older than this answer the expired-token error. Documented: 7 days.
    pub sync_token_max_age_secs: u64,
    /// Status of the expired-sync-token error: 400 `FAILED_PRECONDITION` (observed live) or 410
    /// (old docs).
    pub expired_sync_token_status: u16,
    /// Changes younger than this are not yet seen by incremental syncs (documented "several
    /// minutes"; live value UNCONFIRMED, 0 keeps tests exact).
    pub sync_lag_secs: u64,
    /// `emailAddresses` and `phoneNumbers` items per person in `connections.list` (documented).
    pub list_item_cap: usize,
    /// `pageSize` of `connections.list` when 0 or unset (documented: 100).
    pub connections_page_size: usize,
    /// Largest `pageSize` of `connections.list` and `contactGroups.list`; above it 400
    /// (documented max 1000; the over-max answer UNCONFIRMED).
    pub max_page_size: usize,
    /// `pageSize` of `contactGroups.list` when unset (documented: 30).
    pub groups_page_size: usize,
    /// Resource names per `people:batchGet` (documented: 200).
    pub batch_get_max: usize,
    /// Contacts per `people:batchCreateContacts` (documented: 200).
    pub batch_create_max: usize,
    /// Contacts per `people:batchUpdateContacts` (documented: 200).
    pub batch_update_max: usize,
    /// Resource names per `people:batchDeleteContacts` (documented: 500).
    pub batch_delete_max: usize,
    /// Adds + removes per `members:modify` (documented: 1000).
    pub members_modify_max: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            token_lifetime_secs: 3599,
            quota_enabled: true,
            read_requests_per_minute: 6000,
            write_requests_per_minute: 6000,
            full_sync_requests_per_minute: 600,
            concurrent_mutations: ConcurrentMutations::Allow,
            latency_ms: 0,
            sync_token_max_age_secs: 7 * 24 * 3600,
            expired_sync_token_status: 400,
            sync_lag_secs: 0,
            list_item_cap: 100,
            connections_page_size: 100,
            max_page_size: 1000,
            groups_page_size: 30,
            batch_get_max: 200,
            batch_create_max: 200,
            batch_update_max: 200,
            batch_delete_max: 500,
            members_modify_max: 1000,
        }
    }
}

/// Start-up configuration of the emulator.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`GMAIL_EMULATOR_LISTEN`, default 127.0.0.1:8093).
    pub listen: SocketAddr,
    /// Base URL of this emulator as clients reach it (`GMAIL_EMULATOR_PUBLIC_URL`): the
    /// `token_uri` of issued key files and an accepted JWT `aud`. None: from the Host header.
    pub public_base_url: Option<String>,
    /// Serve the unauthenticated `/_emulator/` control API (`GMAIL_EMULATOR_CONTROL_API`).
    pub control_api: bool,
    /// Serve HTTPS (`GMAIL_EMULATOR_TLS=dev`: the dev-only certificate signed by the same CA as
    /// the other emulators'; or `GMAIL_EMULATOR_TLS_CERT_FILE` + `_TLS_KEY_FILE`).
    pub tls: Option<emulator_tls::TlsConfig>,
    /// Behaviour knobs (`GMAIL_EMULATOR_<KNOB>`).
    pub knobs: Knobs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8093)),
            public_base_url: None,
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

const PREFIX: &str = "GMAIL_EMULATOR_";

impl Config {
    /// Reads `GMAIL_EMULATOR_*` variables over the defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like `from_env` with an injectable lookup, so parsing is testable without the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(value) = lookup("GMAIL_EMULATOR_LISTEN") {
            config.listen = value.parse().map_err(|source| ConfigError::InvalidListen {
                var: "GMAIL_EMULATOR_LISTEN",
                value: value.clone(),
                source,
            })?;
        }
        if let Some(value) = lookup("GMAIL_EMULATOR_PUBLIC_URL") {
            config.public_base_url = Some(value.trim_end_matches('/').to_owned());
        }
        if let Some(value) = lookup("GMAIL_EMULATOR_CONTROL_API") {
            config.control_api = parse_bool("GMAIL_EMULATOR_CONTROL_API", &value)?;
        }
        let tls = lookup("GMAIL_EMULATOR_TLS");
        let cert = lookup("GMAIL_EMULATOR_TLS_CERT_FILE");
        let key = lookup("GMAIL_EMULATOR_TLS_KEY_FILE");
        config.tls =
            emulator_tls::TlsConfig::from_vars(tls.as_deref(), cert.as_deref(), key.as_deref())
                .map_err(|message| ConfigError::InvalidValue {
                    var: "GMAIL_EMULATOR_TLS".to_owned(),
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

/// Overlays `GMAIL_EMULATOR_<KNOB>` on the default knobs through their serde form, so the list
/// of variables stays in step with the struct.
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
            _ => serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw.clone())),
        };
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
            ("GMAIL_EMULATOR_LISTEN", "127.0.0.1:0"),
            ("GMAIL_EMULATOR_QUOTA_ENABLED", "off"),
            ("GMAIL_EMULATOR_READ_REQUESTS_PER_MINUTE", "90"),
            ("GMAIL_EMULATOR_CONCURRENT_MUTATIONS", "reject"),
            ("GMAIL_EMULATOR_TLS", "dev"),
        ]))
        .expect("valid");
        assert_eq!(config.listen.port(), 0);
        assert!(!config.knobs.quota_enabled);
        assert_eq!(config.knobs.read_requests_per_minute, 90);
        assert_eq!(
            config.knobs.concurrent_mutations,
            ConcurrentMutations::Reject
        );
        assert!(config.tls.is_some());
    }

    #[test]
    fn every_knob_variable_is_documented_in_the_crate_header() {
        let header = include_str!("lib.rs");
        let knobs = serde_json::to_value(Knobs::default()).expect("serializes");
        for name in knobs.as_object().expect("object").keys() {
            let var = format!("`{PREFIX}{}`", name.to_ascii_uppercase());
            assert!(header.contains(&var), "{var} is not documented in lib.rs");
        }
    }

    #[test]
    fn a_bad_knob_names_its_variable() {
        let err = Config::from_lookup(env(&[("GMAIL_EMULATOR_SYNC_LAG_SECS", "soon")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("GMAIL_EMULATOR_SYNC_LAG_SECS"), "{err}");
    }
}
