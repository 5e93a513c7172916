//! The exchange-fetcher's settings, read from environment variables (see the README's table).

use config::{CommonSettings, ConfigError, CredentialKey, Env};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `CONTACTSYNC_ENCRYPTION_KEY`: opens the orgs' API credentials.
    pub credential_key: CredentialKey,
    /// `GRAPH_NOTIFICATIONS`: subscribe to Graph change notifications for each user's folder
    /// (default true). Turn off where Graph cannot reach the gateway's `PUBLIC_BASE_URL`: sessions
    /// then run on schedule and on demand only.
    pub notifications: bool,
    /// `ALLOW_HTTP_NOTIFICATION_URL`: an `http://` `PUBLIC_BASE_URL` was allowed for local
    /// development (Graph itself only notifies https URLs).
    pub http_notification_url: bool,
}

impl pipeline::ServiceSettings for Settings {
    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn credential_key(&self) -> Option<&CredentialKey> {
        Some(&self.credential_key)
    }

    fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_source(env)?;
        let http_notification_url = pipeline::notification_url::check(env, &common)?;
        Ok(Settings {
            common,
            credential_key: CredentialKey::from_source(env)?,
            notifications: pipeline::notification_url::notifications_enabled(env)?,
            http_notification_url,
        })
    }
}
