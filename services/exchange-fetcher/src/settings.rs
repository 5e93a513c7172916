//! The exchange-fetcher's settings, read from environment variables (see the README's table).

use config::{CommonSettings, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `GRAPH_NOTIFICATIONS`: subscribe to Graph change notifications for each user's folder
    /// (default true). Turn off where Graph cannot reach the gateway's `PUBLIC_BASE_URL`: sessions
    /// then run on schedule and on demand only.
    pub notifications: bool,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env::process())
    }

    /// Reads any [`Env`] (with `contactsync dev`'s defaults and overrides, or a test's map).
    pub fn from_source(env: &Env) -> Result<Self, ConfigError> {
        Ok(Settings {
            common: CommonSettings::from_source(env)?,
            notifications: env.parse_or("GRAPH_NOTIFICATIONS", true)?,
        })
    }
}
