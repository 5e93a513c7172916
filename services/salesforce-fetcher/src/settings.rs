//! The salesforce-fetcher's settings, read from environment variables (see the README's table).

use config::{CommonSettings, ConfigError, CredentialKey, Env};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `CONTACTSYNC_ENCRYPTION_KEY`: opens the orgs' API credentials.
    pub credential_key: CredentialKey,
    /// `SALESFORCE_OVERLAP_SECS`: how far before the last seen `SystemModstamp` each read of the
    /// org feed starts again, so rows that commit late (their stamp is older than their commit) are
    /// not missed; rows read twice compare equal to their baseline and cost nothing.
    pub overlap_secs: i64,
    /// `SALESFORCE_FEED_MAX_AGE_SECS`: how long before a periodic session was requested the
    /// org feed's last read may have begun for the session to take it as it is (default 60): a
    /// sweep of the org's users then reads the org once. Sessions someone asked for, and
    /// notified ones, always wait for a read that began after they were requested.
    pub feed_max_age_secs: i64,
}

impl pipeline::ServiceSettings for Settings {
    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn credential_key(&self) -> Option<&CredentialKey> {
        Some(&self.credential_key)
    }

    fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let overlap_secs = env.parse_or("SALESFORCE_OVERLAP_SECS", 300i64)?;
        if !(0..=86_400).contains(&overlap_secs) {
            return Err(ConfigError::Invalid {
                var: "SALESFORCE_OVERLAP_SECS",
                reason: "must be between 0 and 86400".to_owned(),
            });
        }
        let feed_max_age_secs = env.parse_or("SALESFORCE_FEED_MAX_AGE_SECS", 60i64)?;
        if !(0..=86_400).contains(&feed_max_age_secs) {
            return Err(ConfigError::Invalid {
                var: "SALESFORCE_FEED_MAX_AGE_SECS",
                reason: "must be between 0 and 86400".to_owned(),
            });
        }
        Ok(Settings {
            common: CommonSettings::from_source(env)?,
            credential_key: CredentialKey::from_source(env)?,
            overlap_secs,
            feed_max_age_secs,
        })
    }
}
