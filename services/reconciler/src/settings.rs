//! The reconciler's settings, read from environment variables (see the README's table).

use config::{CommonSettings, ConfigError, Env};
use sync_core::BurstPolicy;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// The mass-delete guard over bursts (C5): `DELETION_SETTLE_SECS` (default 60), how long
    /// after a burst's last deletion its deletions are judged; `DELETION_WINDOW_SECS` (default
    /// 3600), how far back carried-out deletions count with them.
    pub burst: BurstPolicy,
}

impl pipeline::ServiceSettings for Settings {
    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let settle: u32 = env.parse_or("DELETION_SETTLE_SECS", 60)?;
        let window: u32 = env.parse_or("DELETION_WINDOW_SECS", 3600)?;
        Ok(Settings {
            common: CommonSettings::from_source(env)?,
            burst: BurstPolicy {
                settle: chrono::Duration::seconds(settle.into()),
                window: chrono::Duration::seconds(window.into()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::ServiceSettings as _;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut all = vec![
            ("ADMIN_TOKEN", "t"),
            (
                "CONTACTSYNC_ENCRYPTION_KEY",
                "ZTJlLWtleS1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24=",
            ),
        ];
        all.extend_from_slice(pairs);
        Env::from_pairs(all)
    }

    #[test]
    fn deletions_settle_a_minute_and_count_for_an_hour_by_default() {
        let settings = Settings::from_source(&env(&[])).expect("settings");
        assert_eq!(settings.burst, BurstPolicy::default());
        let settings = Settings::from_source(&env(&[
            ("DELETION_SETTLE_SECS", "2"),
            ("DELETION_WINDOW_SECS", "600"),
        ]))
        .expect("settings");
        assert_eq!(settings.burst.settle, chrono::Duration::seconds(2));
        assert_eq!(settings.burst.window, chrono::Duration::seconds(600));
    }

    #[test]
    fn a_bad_settle_time_names_its_variable() {
        let error =
            Settings::from_source(&env(&[("DELETION_SETTLE_SECS", "soon")])).expect_err("refused");
        assert!(
            error.to_string().contains("DELETION_SETTLE_SECS"),
            "{error}"
        );
    }
}
