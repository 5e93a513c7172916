//! The gateway's settings, read from environment variables (see the README's table).

use std::net::SocketAddr;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use config::{CommonSettings, ConfigError, CredentialKey, Env, Secret};

/// `DEFAULT_ORG` when unset: the org `contactsync dev` creates for its emulators (SPEC §4).
pub const DEFAULT_ORG: &str = "dev";
/// `SALESFORCE_WEBHOOK_MAX_SESSIONS` when unset.
pub const DEFAULT_SALESFORCE_WEBHOOK_MAX_SESSIONS: usize = 100;

/// `OPS_LISTEN` when unset: the ops port, apart from the public API on `HTTP_LISTEN`.
pub const DEFAULT_OPS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9090);

/// `SETTINGS_LINK_TTL_SECS` when unset: a settings link works for 7 days.
pub const DEFAULT_SETTINGS_LINK_TTL_SECS: u64 = 7 * 24 * 3600;
/// The longest link life accepted: a link is a credential, so it must lapse.
pub const MAX_SETTINGS_LINK_TTL_SECS: u64 = 90 * 24 * 3600;
/// `OPERATOR_SESSION_TTL_SECS` when unset: an operator signs in again after 12 hours.
pub const DEFAULT_OPERATOR_SESSION_TTL_SECS: u64 = 12 * 3600;

/// How the pages authenticate: users' signed links and operators' session cookies.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// `SETTINGS_LINK_KEY` (base64, at least 32 bytes): signs settings links and operator
    /// session cookies, apart from the credential encryption key, so it can be rotated (which
    /// revokes every link and signs every operator out) without re-encrypting anything.
    pub link_key: Secret<Vec<u8>>,
    /// True when `SETTINGS_LINK_KEY` is unset and the key is derived from
    /// `CONTACTSYNC_ENCRYPTION_KEY` (one-way, so a leaked link key reveals nothing of it).
    pub link_key_derived: bool,
    /// `SETTINGS_LINK_TTL_SECS`: how long a settings link works (default 7 days).
    pub link_ttl: Duration,
    /// `OPERATOR_SESSION_TTL_SECS`: how long an operator's dashboard sign-in lasts.
    pub operator_session_ttl: Duration,
}

impl PageSettings {
    fn from_source(env: &Env, encryption_key: &str) -> Result<Self, ConfigError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let (link_key, link_key_derived) = match env.get("SETTINGS_LINK_KEY") {
            Some(value) if !value.trim().is_empty() => match b64.decode(value.trim()) {
                Ok(bytes) if bytes.len() >= 32 => (bytes, false),
                // Never echo the key, not even a wrong one.
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "SETTINGS_LINK_KEY",
                        reason: "expected at least 32 bytes in standard base64".to_owned(),
                    });
                }
            },
            _ => {
                let bytes =
                    b64.decode(encryption_key.trim())
                        .map_err(|_| ConfigError::Invalid {
                            var: "CONTACTSYNC_ENCRYPTION_KEY",
                            reason: "expected 32 bytes in standard base64".to_owned(),
                        })?;
                let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
                let derived = hmac::sign(&key, b"contactsync settings-link key v1");
                (derived.as_ref().to_vec(), true)
            }
        };
        let link_ttl = env.parse_or("SETTINGS_LINK_TTL_SECS", DEFAULT_SETTINGS_LINK_TTL_SECS)?;
        if link_ttl == 0 || link_ttl > MAX_SETTINGS_LINK_TTL_SECS {
            return Err(ConfigError::Invalid {
                var: "SETTINGS_LINK_TTL_SECS",
                reason: format!("must be from 1 to {MAX_SETTINGS_LINK_TTL_SECS} seconds"),
            });
        }
        let session_ttl = env.parse_or(
            "OPERATOR_SESSION_TTL_SECS",
            DEFAULT_OPERATOR_SESSION_TTL_SECS,
        )?;
        if session_ttl == 0 {
            return Err(ConfigError::Invalid {
                var: "OPERATOR_SESSION_TTL_SECS",
                reason: "must be at least 1 second".to_owned(),
            });
        }
        Ok(PageSettings {
            link_key: Secret::new(link_key),
            link_key_derived,
            link_ttl: Duration::from_secs(link_ttl),
            operator_session_ttl: Duration::from_secs(session_ttl),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `CONTACTSYNC_ENCRYPTION_KEY`: seals and opens the orgs' API credentials.
    pub credential_key: CredentialKey,
    /// `ADMIN_TOKEN`: bearer token of the admin API (only the gateway reads it).
    pub admin_token: Secret<String>,
    /// `DEFAULT_ORG`: the org of users registered without an `org` field.
    pub default_org: String,
    /// `OPS_LISTEN`: where `/healthz`, `/readyz` and `/metrics` answer, apart from the public API
    /// (which an Ingress exposes to the internet; these stay inside the cluster).
    pub ops_listen: SocketAddr,
    /// `SALESFORCE_WEBHOOK_MAX_SESSIONS`: the most sessions one Outbound Message (an
    /// unauthenticated request) may start; the users beyond it catch up at their next session.
    pub salesforce_webhook_max_sessions: usize,
    /// `ORG_CHECK_INTERVAL_SECS`, `ORG_RECHECK_FAILING_SECS`: when an org checked through the
    /// API is due its next check by the scheduler.
    pub org_checks: pipeline::org_check::CheckIntervals,
    /// `ALLOW_HTTP_NOTIFICATION_URL`: an `http://` `PUBLIC_BASE_URL` was allowed for local
    /// development while Graph notifications are on (`GRAPH_NOTIFICATIONS`).
    pub http_notification_url: bool,
    /// Settings links and operator sign-in.
    pub pages: PageSettings,
    /// `SALESFORCE_API_BUDGET_SHARE` (default 0.9): the share of an org's daily Salesforce API
    /// limit past which the scheduler stretches its users' periodic sessions; the gateway says
    /// so on the status API and the dashboard (issue 11 §4).
    pub api_budget_share: f64,
}

impl pipeline::ServiceSettings for Settings {
    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn credential_key(&self) -> Option<&CredentialKey> {
        Some(&self.credential_key)
    }

    fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let default_org = env
            .get("DEFAULT_ORG")
            .unwrap_or_else(|| DEFAULT_ORG.to_owned());
        if crate::validate::id("DEFAULT_ORG", &default_org).is_err() {
            return Err(ConfigError::Invalid {
                var: "DEFAULT_ORG",
                reason: "use 1 to 128 characters from [A-Za-z0-9._@-]".to_owned(),
            });
        }
        let salesforce_webhook_max_sessions = env.parse_or(
            "SALESFORCE_WEBHOOK_MAX_SESSIONS",
            DEFAULT_SALESFORCE_WEBHOOK_MAX_SESSIONS,
        )?;
        if !(1..=100_000).contains(&salesforce_webhook_max_sessions) {
            return Err(ConfigError::Invalid {
                var: "SALESFORCE_WEBHOOK_MAX_SESSIONS",
                reason: "must be between 1 and 100000".to_owned(),
            });
        }
        let common = CommonSettings::from_source(env)?;
        let credential_key = CredentialKey::from_source(env)?;
        let pages = PageSettings::from_source(env, credential_key.expose())?;
        let http_notification_url = pipeline::notification_url::check(env, &common)?;
        Ok(Settings {
            common,
            credential_key,
            admin_token: Secret::new(env.require("ADMIN_TOKEN")?),
            http_notification_url,
            default_org,
            ops_listen: env.parse_or("OPS_LISTEN", DEFAULT_OPS_LISTEN)?,
            salesforce_webhook_max_sessions,
            org_checks: pipeline::org_check::CheckIntervals::from_env(env)?,
            pages,
            api_budget_share: config::api_budget_share(env)?,
        })
    }
}
