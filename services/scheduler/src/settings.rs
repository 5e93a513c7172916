//! The scheduler's settings, read from environment variables (see the README's table).

use std::time::Duration;

use config::{CommonSettings, ConfigError, CredentialKey, Env};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `CONTACTSYNC_ENCRYPTION_KEY`: opens the orgs' API credentials.
    pub credential_key: CredentialKey,
    /// `SCHEDULER_TICK_MS`: how often the scheduler looks for due sessions (default 1000).
    pub tick_interval: Duration,
    /// `SYNC_INTERVAL_SECS`: time between a user's periodic sessions (default 1800: B3's 30 minutes).
    pub sync_interval: Duration,
    /// `GMAIL_SYNC_INTERVAL_SECS`: the same for Gmail users (default 300). The People API has
    /// no change notifications for contacts, so this interval is how near to real time a Gmail
    /// user is; an idle session costs one incremental People API read and no Salesforce call.
    pub gmail_sync_interval: Duration,
    /// `SESSION_TIMEOUT_SECS`: a session still running after this long is failed, so a lost
    /// message cannot block a user forever (default 900).
    pub session_timeout: Duration,
    /// `SUBSCRIPTION_RENEW_BEFORE_SECS`: Graph subscriptions expiring sooner than this are renewed
    /// (default 86400).
    pub subscription_renew_before: Duration,
    /// `FLEET_METRICS_SECS`: how often the fleet gauges are computed (default 30: about one
    /// Prometheus scrape).
    pub fleet_interval: Duration,
    /// `ORG_CHECK_INTERVAL_SECS` (default 3600) and `ORG_RECHECK_FAILING_SECS` (default 60):
    /// how long after a passed, or a failed, check an org is checked again.
    pub org_checks: pipeline::org_check::CheckIntervals,
    /// `SALESFORCE_API_BUDGET_SHARE` (default 0.9, 0 < share ≤ 1): past this share of an org's
    /// daily Salesforce API limit (as last reported), its users' periodic sessions come
    /// `sync_state::api_budget::PERIODIC_STRETCH` times less often; notification-triggered and
    /// on-demand sessions still run.
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
        Ok(Settings {
            common: CommonSettings::from_source(env)?,
            credential_key: CredentialKey::from_source(env)?,
            tick_interval: Duration::from_millis(env.parse_or("SCHEDULER_TICK_MS", 1000u64)?),
            sync_interval: Duration::from_secs(env.parse_or("SYNC_INTERVAL_SECS", 1800u64)?),
            gmail_sync_interval: Duration::from_secs(
                env.parse_or("GMAIL_SYNC_INTERVAL_SECS", 300u64)?,
            ),
            session_timeout: Duration::from_secs(env.parse_or("SESSION_TIMEOUT_SECS", 900u64)?),
            subscription_renew_before: Duration::from_secs(
                env.parse_or("SUBSCRIPTION_RENEW_BEFORE_SECS", 86_400u64)?,
            ),
            fleet_interval: Duration::from_secs(env.parse_or("FLEET_METRICS_SECS", 30u64)?.max(1)),
            org_checks: pipeline::org_check::CheckIntervals::from_env(env)?,
            api_budget_share: config::api_budget_share(env)?,
        })
    }
}
