//! The exchange-fetcher's settings, read from environment variables (see the README's table).

use config::{CommonSettings, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
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
        })
    }
}
