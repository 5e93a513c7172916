//! Graph delivers change notifications to `https` URLs only: a stack that subscribes with an
//! `http://` `PUBLIC_BASE_URL` would have every subscription refused by Microsoft. The gateway and
//! the exchange fetcher refuse to start that way unless told it is local development.

use config::{CommonSettings, ConfigError, Env};

/// `GRAPH_NOTIFICATIONS` (default true): whether the stack subscribes to Graph notifications.
pub fn notifications_enabled(env: &Env) -> Result<bool, ConfigError> {
    env.parse_or("GRAPH_NOTIFICATIONS", true)
}

/// Checks `PUBLIC_BASE_URL` against the notification rule; returns whether an `http://` URL was
/// allowed by `ALLOW_HTTP_NOTIFICATION_URL=true` (callers log that at start-up).
pub fn check(env: &Env, common: &CommonSettings) -> Result<bool, ConfigError> {
    let allow_http: bool = env.parse_or("ALLOW_HTTP_NOTIFICATION_URL", false)?;
    let http = common.public_base_url.scheme() != "https";
    if !http || !notifications_enabled(env)? {
        return Ok(false);
    }
    if allow_http {
        return Ok(true);
    }
    Err(ConfigError::Invalid {
        var: "PUBLIC_BASE_URL",
        reason: format!(
            "{} is not https, and Microsoft Graph sends change notifications to https URLs only; \
             use the gateway's https address, or set GRAPH_NOTIFICATIONS=false (sessions then run \
             on schedule and on demand), or ALLOW_HTTP_NOTIFICATION_URL=true for local development \
             against the Graph emulator",
            common.public_base_url
        ),
    })
}

/// Says at start-up that an `http://` `PUBLIC_BASE_URL` was allowed (`allowed`, from [`check`]).
pub fn warn_if_http(common: &CommonSettings, allowed: bool) {
    if allowed {
        tracing::warn!(
            public_base_url = %common.public_base_url,
            "Graph notifications go to an http:// PUBLIC_BASE_URL because \
             ALLOW_HTTP_NOTIFICATION_URL=true: for local development against the Graph \
             emulator only; Microsoft Graph refuses such subscriptions."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(env: &Env) -> CommonSettings {
        CommonSettings::from_source(env).unwrap_or_else(|e| panic!("settings: {e}"))
    }

    fn env(pairs: &[(&'static str, &'static str)]) -> Env {
        let mut all = vec![
            ("ADMIN_TOKEN", "t"),
            (
                "CONTACTSYNC_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
        ];
        all.extend_from_slice(pairs);
        Env::from_pairs(all)
    }

    #[test]
    fn an_http_public_url_is_refused_while_notifications_are_on() {
        let e = env(&[("PUBLIC_BASE_URL", "http://gateway:8080")]);
        let error = check(&e, &common(&e)).expect_err("refused");
        assert!(error.to_string().contains("PUBLIC_BASE_URL"), "{error}");
        assert!(
            error.to_string().contains("ALLOW_HTTP_NOTIFICATION_URL"),
            "{error}"
        );
    }

    #[test]
    fn https_off_notifications_or_the_dev_opt_out_start() {
        let e = env(&[("PUBLIC_BASE_URL", "https://contactsync.example.com")]);
        assert_eq!(check(&e, &common(&e)).ok(), Some(false));
        let e = env(&[
            ("PUBLIC_BASE_URL", "http://x"),
            ("GRAPH_NOTIFICATIONS", "false"),
        ]);
        assert_eq!(check(&e, &common(&e)).ok(), Some(false));
        let e = env(&[
            ("PUBLIC_BASE_URL", "http://x"),
            ("ALLOW_HTTP_NOTIFICATION_URL", "true"),
        ]);
        assert_eq!(check(&e, &common(&e)).ok(), Some(true));
    }
}
