//! Unit tests of settings parsing: defaults, validation messages and redaction.

use super::*;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn minimal() -> Env {
    Env::from_pairs([
        ("ADMIN_TOKEN", "t0ken"),
        ("CONTACTSYNC_ENCRYPTION_KEY", KEY),
    ])
}

#[test]
fn defaults_follow_the_spec() {
    let settings = CommonSettings::from_source(&minimal()).expect("valid");
    assert_eq!(settings.amqp_url.expose(), DEFAULT_AMQP_URL);
    assert_eq!(settings.database_url.expose(), DEFAULT_DATABASE_URL);
    assert_eq!(settings.queue_prefix, "contactsync");
    assert_eq!(settings.delivery_limit, 5);
    assert_eq!(settings.telemetry.log_format, LogFormat::Json);
    assert!(settings.telemetry.otlp_endpoint.is_none());
}

#[test]
fn the_common_settings_need_no_secret_of_the_services_that_use_one() {
    CommonSettings::from_source(&Env::from_pairs([])).expect("valid without a token or a key");
    let error = CredentialKey::from_source(&Env::from_pairs([])).expect_err("must fail");
    assert!(
        error.to_string().contains("CONTACTSYNC_ENCRYPTION_KEY"),
        "{error}"
    );
}

#[test]
fn a_bad_number_names_the_variable_and_the_value() {
    let env = minimal().with_overrides([("AMQP_PREFETCH", "lots")]);
    let error = CommonSettings::from_source(&env).expect_err("must fail");
    let message = error.to_string();
    assert!(
        message.contains("AMQP_PREFETCH") && message.contains("lots"),
        "{message}"
    );
}

#[test]
fn a_wrong_scheme_is_rejected_without_echoing_the_url() {
    let env = minimal().with_overrides([("DATABASE_URL", "mysql://root:hunter2@db/x")]);
    let message = CommonSettings::from_source(&env)
        .expect_err("must fail")
        .to_string();
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn secrets_never_print() {
    let env = minimal().with_overrides([("AMQP_URL", "amqp://user:hunter2@rabbit:5672/%2f")]);
    let settings = CommonSettings::from_source(&env).expect("valid");
    let key = CredentialKey::from_source(&env).expect("valid");
    let printed = format!("{settings:?} {key:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains(KEY), "{printed}");
    assert!(
        printed.contains("rabbit"),
        "the host stays visible: {printed}"
    );
}

#[test]
fn a_short_encryption_key_is_rejected() {
    let env = minimal().with_overrides([("CONTACTSYNC_ENCRYPTION_KEY", "abcd")]);
    let message = CredentialKey::from_source(&env)
        .expect_err("must fail")
        .to_string();
    assert!(message.contains("CONTACTSYNC_ENCRYPTION_KEY"), "{message}");
}

#[test]
fn overrides_beat_defaults_and_empty_counts_as_unset() {
    let env = minimal()
        .with_defaults([("QUEUE_PREFIX", "from-default"), ("LOG_FORMAT", "pretty")])
        .with_overrides([("QUEUE_PREFIX", "from-override"), ("RUST_LOG", "")]);
    let settings = CommonSettings::from_source(&env).expect("valid");
    assert_eq!(settings.queue_prefix, "from-override");
    assert_eq!(settings.telemetry.log_format, LogFormat::Pretty);
    assert_eq!(settings.telemetry.log_filter, DEFAULT_LOG_FILTER);
}

#[test]
fn the_api_budget_share_defaults_to_nine_tenths_and_must_be_a_share() {
    let share = |value: &str| {
        api_budget_share(&minimal().with_overrides([("SALESFORCE_API_BUDGET_SHARE", value)]))
    };
    assert_eq!(api_budget_share(&minimal()).expect("default"), 0.9);
    assert_eq!(share("1").expect("all of it"), 1.0);
    assert_eq!(share("0.5").expect("half"), 0.5);
    for bad in ["0", "-0.5", "1.5", "NaN", "ninety"] {
        let message = share(bad).expect_err(bad).to_string();
        assert!(message.contains("SALESFORCE_API_BUDGET_SHARE"), "{message}");
    }
}
