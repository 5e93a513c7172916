//! The salesforce-fetcher's settings, read from environment variables (see the README's table).

use config::{CommonSettings, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `SALESFORCE_OVERLAP_SECS`: how far before the last seen `SystemModstamp` each incremental
    /// read starts again, so rows that commit late (their stamp is older than their commit) are
    /// not missed; rows read twice compare equal to their baseline and cost nothing.
    pub overlap_secs: i64,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env::process())
    }

    /// Reads any [`Env`] (with `contactsync dev`'s defaults and overrides, or a test's map).
    pub fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let overlap_secs = env.parse_or("SALESFORCE_OVERLAP_SECS", 300i64)?;
        if !(0..=86_400).contains(&overlap_secs) {
            return Err(ConfigError::Invalid {
                var: "SALESFORCE_OVERLAP_SECS",
                reason: "must be between 0 and 86400".to_owned(),
            });
        }
        Ok(Settings {
            common: CommonSettings::from_source(env)?,
            overlap_secs,
        })
    }
}
