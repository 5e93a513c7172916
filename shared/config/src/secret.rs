//! Wrappers that keep secrets out of logs, panics and error messages.

use std::fmt;

use crate::ConfigError;

/// A value that prints as `[redacted]`; read it deliberately with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The real value. The name makes every use easy to find in review.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

/// A connection URL whose password never prints: Debug/Display show it with the password
/// replaced, which still tells an operator which host and database are meant.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(url::Url);

impl SecretUrl {
    /// Parses `value`, requiring one of `schemes`; errors name `var` and never echo the value.
    pub fn parse(var: &'static str, value: &str, schemes: &[&str]) -> Result<Self, ConfigError> {
        let url = url::Url::parse(value).map_err(|error| ConfigError::Invalid {
            var,
            reason: format!("not a URL: {error}"),
        })?;
        if !schemes.contains(&url.scheme()) {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("expected a {} URL", schemes.join(" or ")),
            });
        }
        Ok(SecretUrl(url))
    }

    /// The full URL, password included: for the client library only.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    fn redacted(&self) -> String {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            // set_password only fails for URLs that cannot have one, which ours can.
            let _ = shown.set_password(Some("redacted"));
        }
        shown.into()
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.redacted())
    }
}
