//! Typed settings for every service, read from environment variables.
//!
//! Every variable is parsed once at start-up into a typed field; a bad value stops the process
//! with an error that names the variable, so a misconfiguration never surfaces later as a
//! confusing runtime failure. Secrets are wrapped in [`Secret`] so they never print.

mod env;
mod secret;

use std::net::SocketAddr;
use std::time::Duration;

pub use env::Env;
pub use secret::{Secret, SecretUrl};

/// What went wrong while reading settings: always names the variable, never prints a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {var} is required but not set")]
    Missing { var: &'static str },
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// The log line format: JSON for machines (the default), pretty for people at a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// `RUST_LOG` when unset: our logs at info; the migration runner and the database driver only
/// when something is wrong (they narrate every start-up otherwise).
pub const DEFAULT_LOG_FILTER: &str = "info,refinery_core=warn,tokio_postgres=warn";

/// How a service reports what it does: logs, and OTLP traces when a collector is configured.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// `RUST_LOG`: an `EnvFilter` directive.
    pub log_filter: String,
    /// `LOG_FORMAT`: `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of an OTLP/HTTP collector (Jaeger: port 4318);
    /// traces are exported only when set.
    pub otlp_endpoint: Option<url::Url>,
}

impl TelemetrySettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let log_format = match env.get("LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "LOG_FORMAT",
                    reason: format!("expected `json` or `pretty`, got `{other}`"),
                });
            }
        };
        let otlp_endpoint = env
            .get("OTEL_EXPORTER_OTLP_ENDPOINT")
            .filter(|value| !value.trim().is_empty())
            .map(|value| parse_url("OTEL_EXPORTER_OTLP_ENDPOINT", &value))
            .transpose()?;
        Ok(TelemetrySettings {
            log_filter: env
                .get("RUST_LOG")
                .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned()),
            log_format,
            otlp_endpoint,
        })
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            log_format: LogFormat::Json,
            otlp_endpoint: None,
        }
    }
}

/// The settings every service reads; each service wraps it with its own.
#[derive(Debug, Clone)]
pub struct CommonSettings {
    /// `AMQP_URL`: the RabbitMQ connection URL.
    pub amqp_url: SecretUrl,
    /// `DATABASE_URL`: the PostgreSQL connection URL.
    pub database_url: SecretUrl,
    /// `QUEUE_PREFIX`: prefix of every exchange and queue name, so several stacks (or tests)
    /// share one broker without seeing each other's messages.
    pub queue_prefix: String,
    /// `HTTP_LISTEN`: where the service's HTTP server (ops endpoints, and the gateway's API) listens.
    pub http_listen: SocketAddr,
    /// `AMQP_PREFETCH`: unacknowledged deliveries a consumer holds at once.
    pub prefetch: u16,
    /// `AMQP_DELIVERY_LIMIT`: deliveries of one message before it is dead-lettered.
    pub delivery_limit: u32,
    /// `AMQP_RETRY_BASE_MS` / `AMQP_RETRY_MAX_MS`: pause before a failed delivery is requeued,
    /// doubled per attempt up to the maximum.
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// `DATABASE_POOL_SIZE`: connections in the service's PostgreSQL pool.
    pub database_pool_size: usize,
    /// `SHUTDOWN_GRACE_SECS`: how long in-flight work may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// `GRAPH_API_URL`: Microsoft Graph's base URL (the emulator's in `contactsync dev`).
    pub graph_api_url: url::Url,
    /// `GRAPH_LOGIN_URL`: the Microsoft identity platform's base URL (token endpoint host).
    pub graph_login_url: url::Url,
    /// `PUBLIC_BASE_URL`: where the gateway is reachable from outside (webhook callback URLs).
    pub public_base_url: url::Url,
    pub telemetry: TelemetrySettings,
}

pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/contactsync";
pub const DEFAULT_QUEUE_PREFIX: &str = "contactsync";
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_PREFETCH: u16 = 16;
pub const DEFAULT_DELIVERY_LIMIT: u32 = 5;
pub const DEFAULT_DATABASE_POOL_SIZE: usize = 8;
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 20;
pub const DEFAULT_GRAPH_API_URL: &str = "https://graph.microsoft.com";
pub const DEFAULT_GRAPH_LOGIN_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_PUBLIC_BASE_URL: &str = "http://127.0.0.1:8080";

impl CommonSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env::process())
    }

    /// Reads any [`Env`]: the process environment, with overrides (`contactsync dev`), or a
    /// fixed map (tests).
    pub fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let queue_prefix = env
            .get("QUEUE_PREFIX")
            .unwrap_or_else(|| DEFAULT_QUEUE_PREFIX.to_owned());
        validate_prefix(&queue_prefix)?;
        let delivery_limit = env.parse_or("AMQP_DELIVERY_LIMIT", DEFAULT_DELIVERY_LIMIT)?;
        if delivery_limit == 0 {
            return Err(ConfigError::Invalid {
                var: "AMQP_DELIVERY_LIMIT",
                reason: "must be at least 1".to_owned(),
            });
        }
        let prefetch = env.parse_or("AMQP_PREFETCH", DEFAULT_PREFETCH)?;
        if prefetch == 0 {
            // 0 means "unlimited" to RabbitMQ: one slow handler could then hoard a whole queue.
            return Err(ConfigError::Invalid {
                var: "AMQP_PREFETCH",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(CommonSettings {
            amqp_url: SecretUrl::parse(
                "AMQP_URL",
                &env.get("AMQP_URL")
                    .unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned()),
                &["amqp", "amqps"],
            )?,
            database_url: SecretUrl::parse(
                "DATABASE_URL",
                &env.get("DATABASE_URL")
                    .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
                &["postgres", "postgresql"],
            )?,
            queue_prefix,
            http_listen: env.parse_or(
                "HTTP_LISTEN",
                DEFAULT_HTTP_LISTEN
                    .parse()
                    .map_err(|_| ConfigError::Invalid {
                        var: "HTTP_LISTEN",
                        reason: "built-in default does not parse".to_owned(),
                    })?,
            )?,
            prefetch,
            delivery_limit,
            retry_base_delay: Duration::from_millis(env.parse_or("AMQP_RETRY_BASE_MS", 500u64)?),
            retry_max_delay: Duration::from_millis(env.parse_or("AMQP_RETRY_MAX_MS", 30_000u64)?),
            database_pool_size: env.parse_or("DATABASE_POOL_SIZE", DEFAULT_DATABASE_POOL_SIZE)?,
            shutdown_grace: Duration::from_secs(
                env.parse_or("SHUTDOWN_GRACE_SECS", DEFAULT_SHUTDOWN_GRACE_SECS)?,
            ),
            graph_api_url: url_or(env, "GRAPH_API_URL", DEFAULT_GRAPH_API_URL)?,
            graph_login_url: url_or(env, "GRAPH_LOGIN_URL", DEFAULT_GRAPH_LOGIN_URL)?,
            public_base_url: url_or(env, "PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL)?,
            telemetry: TelemetrySettings::from_env(env)?,
        })
    }
}

/// `CONTACTSYNC_ENCRYPTION_KEY`: 32 bytes in standard base64; seals org credentials at rest.
/// Only the services that open those credentials (to call an API, or to store an org) read it.
#[derive(Debug, Clone)]
pub struct CredentialKey(Secret<String>);

impl CredentialKey {
    pub fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let key = env.require("CONTACTSYNC_ENCRYPTION_KEY")?;
        validate_key(&key)?;
        Ok(CredentialKey(Secret::new(key)))
    }

    /// The key in base64.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// `SALESFORCE_API_BUDGET_SHARE` when unset: periodic sessions are stretched past 90 % of an
/// org's daily Salesforce API limit.
pub const DEFAULT_API_BUDGET_SHARE: f64 = 0.9;

/// `SALESFORCE_API_BUDGET_SHARE`: the share of an org's daily Salesforce API limit past which
/// its users' periodic sessions are stretched (issue 11 §4), a number with 0 < share ≤ 1. The
/// scheduler acts on it; the gateway shows it on the status API and the dashboard.
pub fn api_budget_share(env: &Env) -> Result<f64, ConfigError> {
    let share: f64 = env.parse_or("SALESFORCE_API_BUDGET_SHARE", DEFAULT_API_BUDGET_SHARE)?;
    if share > 0.0 && share <= 1.0 {
        Ok(share)
    } else {
        Err(ConfigError::Invalid {
            var: "SALESFORCE_API_BUDGET_SHARE",
            reason: format!(
                "`{share}`: a share of the daily limit, above 0 and at most 1 (e.g. 0.9)"
            ),
        })
    }
}

/// Parses an absolute URL, naming the variable on failure.
pub fn parse_url(var: &'static str, value: &str) -> Result<url::Url, ConfigError> {
    url::Url::parse(value).map_err(|error| ConfigError::Invalid {
        var,
        reason: format!("not an absolute URL: {error}"),
    })
}

/// The variable parsed as a URL, or `default`.
pub fn url_or(env: &Env, var: &'static str, default: &str) -> Result<url::Url, ConfigError> {
    parse_url(var, &env.get(var).unwrap_or_else(|| default.to_owned()))
}

/// Names become exchange and queue names: keep them to characters every tool quotes safely.
fn validate_prefix(prefix: &str) -> Result<(), ConfigError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 100
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var: "QUEUE_PREFIX",
            reason: "use 1 to 100 characters from [A-Za-z0-9._-]".to_owned(),
        })
    }
}

fn validate_key(key: &str) -> Result<(), ConfigError> {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(key.trim()) {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        // Never echo the key, not even a wrong one: it may be a real key with a typo.
        Ok(bytes) => Err(ConfigError::Invalid {
            var: "CONTACTSYNC_ENCRYPTION_KEY",
            reason: format!("expected 32 bytes of base64, got {} bytes", bytes.len()),
        }),
        Err(_) => Err(ConfigError::Invalid {
            var: "CONTACTSYNC_ENCRYPTION_KEY",
            reason: "expected 32 bytes in standard base64".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests;
