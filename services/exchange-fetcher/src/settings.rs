//! The exchange-fetcher's settings, read from environment variables (see the README's table).

use std::time::Duration;

use config::{CommonSettings, ConfigError, CredentialKey, Env};

/// `MAILBOX_CHECK_SECS` when unset: the folder tree and the master category are checked hourly.
const DEFAULT_MAILBOX_CHECK_SECS: u64 = 3600;
/// The longest `MAILBOX_CHECK_SECS` accepted: a week (a folder the user made, or a category
/// deleted, should not wait longer than that to be noticed by scheduled sessions).
const MAX_MAILBOX_CHECK_SECS: u64 = 7 * 24 * 3600;

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
    /// `MAILBOX_CHECK_SECS`: how long the folders a session follows and the sync folder's id are
    /// trusted before a scheduled or notified session lists the contact folder tree and checks
    /// the master category again (default 3600; 0 checks at every session; at most a week).
    /// Sessions someone asked for (`sync`, settings) always check, and so does a session whose
    /// delta says the sync folder is gone (B1); between checks an idle session makes one Graph
    /// delta request per followed folder and nothing else (issue 11 §3).
    pub mailbox_check: Duration,
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
            mailbox_check: mailbox_check(env)?,
        })
    }
}

/// `MAILBOX_CHECK_SECS`, validated.
fn mailbox_check(env: &Env) -> Result<Duration, ConfigError> {
    let secs: u64 = env.parse_or("MAILBOX_CHECK_SECS", DEFAULT_MAILBOX_CHECK_SECS)?;
    if secs > MAX_MAILBOX_CHECK_SECS {
        return Err(ConfigError::Invalid {
            var: "MAILBOX_CHECK_SECS",
            reason: format!(
                "`{secs}`: at most {MAX_MAILBOX_CHECK_SECS} seconds (a week); 0 checks the folders at every session"
            ),
        });
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mailbox_check_defaults_to_an_hour_and_refuses_what_is_not_a_sane_period() {
        let check = |value: &str| mailbox_check(&Env::from_pairs([("MAILBOX_CHECK_SECS", value)]));
        assert_eq!(
            mailbox_check(&Env::from_pairs([])).expect("default"),
            Duration::from_secs(3600)
        );
        assert_eq!(check("0").expect("zero"), Duration::ZERO);
        assert_eq!(check("600").expect("ten minutes"), Duration::from_secs(600));
        for bad in ["-1", "an hour", "604801"] {
            let error = check(bad).expect_err(bad).to_string();
            assert!(error.contains("MAILBOX_CHECK_SECS"), "{error}");
        }
    }
}
