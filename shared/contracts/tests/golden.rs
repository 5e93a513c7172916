//! Golden fixtures: every message kind round-trips through its pinned JSON unchanged, and a
//! message of a previous version still decodes.

use contracts::{Failure, FailureCode, Message};

fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn round_trip(name: &str) {
    let fixture = fixture(name);
    let message: Message = serde_json::from_value(fixture.clone()).expect("fixture decodes");
    let again = serde_json::to_value(&message).expect("message encodes");
    assert_eq!(again, fixture, "{name} must encode back to its golden JSON");
    assert_eq!(fixture["schema"], message.schema());
}

#[test]
fn sync_job_v1_round_trips() {
    round_trip("sync_job.v1");
}

#[test]
fn an_unknown_schema_is_rejected_not_guessed() {
    let err = serde_json::from_str::<Message>(
        r#"{"schema":"contactsync.sync_job.v9","message_id":"m","job_id":"0192f0c4-6a1e-7c3b-9d2e-3f4a5b6c7d8e","user_id":"u","occurred_at":"2026-11-25T10:00:00Z","trigger":"manual"}"#,
    )
    .expect_err("unknown versions must not decode");
    assert!(err.to_string().contains("unknown variant"), "{err}");
}

#[test]
fn change_batch_v2_round_trips() {
    round_trip("change_batch.v2");
}

/// A `v1` message published before the upgrade is read as the `v2` it became: same content.
fn v1_decodes_as_v2(kind: &str) {
    let old = fixture(&format!("{kind}.v1"));
    let message: Message = serde_json::from_value(old.clone()).expect("a v1 message decodes");
    let mut expected = old;
    expected["schema"] = format!("contactsync.{kind}.v2").into();
    assert_eq!(serde_json::to_value(&message).expect("encodes"), expected);
}

#[test]
fn a_change_batch_v1_still_decodes() {
    v1_decodes_as_v2("change_batch");
}

#[test]
fn a_write_results_v1_still_decodes() {
    v1_decodes_as_v2("write_results");
}

#[test]
fn a_v1_failure_text_decodes_with_an_unknown_code() {
    let mut old = fixture("change_batch.v1");
    old["failure"] = "mailbox read failed: Graph answered 503".into();
    let Message::ChangeBatch(batch) = serde_json::from_value(old).expect("decodes") else {
        panic!("not a change batch");
    };
    assert_eq!(
        batch.failure,
        Some(Failure::new(
            FailureCode::Unknown,
            "mailbox read failed: Graph answered 503"
        ))
    );
}

/// The fixture clears a field (`"givenName": null`): a clear must survive the hop, not turn into
/// "leave as is".
#[test]
fn write_batch_v1_round_trips() {
    round_trip("write_batch.v1");
}

#[test]
fn write_results_v2_round_trips() {
    round_trip("write_results.v2");
}
