//! The gateway's settings, read from environment variables (see the README's table).

use config::{CommonSettings, ConfigError, Env};

/// `DEFAULT_ORG` when unset: the org `contactsync dev` creates for its emulators (SPEC §4).
pub const DEFAULT_ORG: &str = "dev";

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `DEFAULT_ORG`: the org of users registered without an `org` field.
    pub default_org: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env::process())
    }

    /// Reads any [`Env`] (with `contactsync dev`'s defaults and overrides, or a test's map).
    pub fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let default_org = env
            .get("DEFAULT_ORG")
            .unwrap_or_else(|| DEFAULT_ORG.to_owned());
        if crate::validate::id("DEFAULT_ORG", &default_org).is_err() {
            return Err(ConfigError::Invalid {
                var: "DEFAULT_ORG",
                reason: "use 1 to 128 characters from [A-Za-z0-9._@-]".to_owned(),
            });
        }
        Ok(Settings {
            common: CommonSettings::from_source(env)?,
            default_org,
        })
    }
}
