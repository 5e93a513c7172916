//! Where settings come from: the process environment, optionally with defaults or overrides.

use std::collections::HashMap;
use std::str::FromStr;

use crate::ConfigError;

/// A source of variables. `contactsync dev` layers dev defaults under the process environment
/// and per-service overrides (listen ports) over it; tests use a fixed map. This avoids
/// mutating the process environment, which is unsound once threads run.
#[derive(Debug, Clone, Default)]
pub struct Env {
    read_process: bool,
    overrides: HashMap<String, String>,
    defaults: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Env {
            read_process: true,
            ..Env::default()
        }
    }

    /// Only the given variables (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env::default().with_overrides(pairs)
    }

    /// Values used when neither an override nor the process sets the variable.
    pub fn with_defaults<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        for (key, value) in pairs {
            self.defaults.insert(key.to_owned(), value.to_owned());
        }
        self
    }

    /// Values that win over the process environment.
    pub fn with_overrides<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        for (key, value) in pairs {
            self.overrides.insert(key.to_owned(), value.to_owned());
        }
        self
    }

    /// The variable's value; an empty value counts as unset.
    pub fn get(&self, key: &str) -> Option<String> {
        self.overrides
            .get(key)
            .cloned()
            .or_else(|| self.read_process.then(|| std::env::var(key).ok()).flatten())
            .or_else(|| self.defaults.get(key).cloned())
            .filter(|value| !value.is_empty())
    }

    pub fn require(&self, key: &'static str) -> Result<String, ConfigError> {
        self.get(key).ok_or(ConfigError::Missing { var: key })
    }

    /// Parses the variable, or returns `default` when it is unset.
    pub fn parse_or<T>(&self, key: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|error: T::Err| ConfigError::Invalid {
                    var: key,
                    reason: format!("`{raw}`: {error}"),
                }),
        }
    }
}
