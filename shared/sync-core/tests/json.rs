//! The JSON shapes other crates rely on: commands travel in RabbitMQ messages, links are stored as
//! rows with a JSONB baseline, and patches become request bodies as they serialize.

mod common;

use common::*;
use serde_json::json;
use sync_core::mapping::{GraphPatch, SalesforcePatch};
use sync_core::*;

fn key() -> SyncKey {
    SyncKey::try_from("exabc123").expect("valid key")
}

#[test]
fn a_mailbox_update_serializes_as_its_graph_patch_with_nulls_for_clears() {
    let command = ExchangeCommand::Update {
        sync_key: key(),
        id: GraphItemId::try_from("AAMk1=").expect("valid id"),
        patch: GraphPatch {
            given_name: Some(Some("Ann".into())),
            birthday: Some(None),
            ..GraphPatch::default()
        },
        categories: Some(vec!["Salesforce".into()]),
        stamp: Stamp::Set(key()),
    };
    assert_eq!(
        serde_json::to_value(&command).expect("serializes"),
        json!({
            "op": "update",
            "sync_key": "exabc123",
            "id": "AAMk1=",
            "patch": {"givenName": "Ann", "birthday": null},
            "categories": ["Salesforce"],
            "stamp": {"set": "exabc123"}
        })
    );
}

#[test]
fn a_salesforce_update_patch_is_the_request_body() {
    let patch = SalesforcePatch(
        [
            ("Phone".to_owned(), None),
            ("Title".to_owned(), Some("CTO".to_owned())),
        ]
        .into_iter()
        .collect(),
    );
    assert_eq!(
        serde_json::to_value(&patch).expect("serializes"),
        json!({"Phone": null, "Title": "CTO"})
    );
}

#[test]
fn a_create_carries_the_full_record_and_never_the_account_relationship() {
    let mut w = World::new();
    let mut fields = person("Ann", "Lee", "ann@example.com");
    fields.company_name = Some("Acme".into());
    w.mail_create(FolderKind::SyncFolder, &[], fields);
    let (exchange, salesforce) = w.reads(false);
    let d = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
    let value = serde_json::to_value(&d.salesforce[0]).expect("serializes");
    assert_eq!(value["op"], "create");
    assert_eq!(value["owner_id"], USER);
    assert_eq!(value["company_name"], "Acme");
    assert_eq!(value["fields"]["LastName"], "Lee");
    assert!(value["fields"].get("Account").is_none());
}

#[test]
fn decisions_and_links_round_trip_through_json() {
    let mut w = World::new();
    let id = w.sf_create(USER, sf_person("Ann", "Lee", "ann@example.com"));
    w.mail_create(
        FolderKind::Other,
        &["Salesforce"],
        person("Bo", "Berg", "bo@example.com"),
    );
    w.mail_create(
        FolderKind::SyncFolder,
        &[],
        person("Cy", "Chan", "cy@example.com"),
    );
    let first = w.sync();
    w.sf_delete(&id);
    let second = w.sync();
    for d in [first, second] {
        let text = serde_json::to_string(&d).expect("serializes");
        let back: Decisions = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, d);
    }
    for link in &w.links {
        let text = serde_json::to_string(link).expect("serializes");
        let back: Link = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(&back, link);
    }
    let (exchange, salesforce) = w.reads(true);
    let back: ExchangeChanges =
        serde_json::from_str(&serde_json::to_string(&exchange).expect("ser")).expect("de");
    assert_eq!(back, exchange);
    let back: SalesforceChanges =
        serde_json::from_str(&serde_json::to_string(&salesforce).expect("ser")).expect("de");
    assert_eq!(back, salesforce);
}

#[test]
fn a_minimal_stored_link_row_still_reads() {
    let link: Link = serde_json::from_value(json!({
        "sync_key": "sf0123",
        "salesforce_id": "003000000000001AAA",
        "graph_id": null,
        "origin": "salesforce",
        "baseline": {"last_name": "Lee"},
        "synced_at": "2026-03-01T09:00:00Z"
    }))
    .expect("reads");
    assert_eq!(link.baseline.last_name.as_deref(), Some("Lee"));
    assert_eq!(link.snapshot, None);
    assert_eq!(link.rejected, None);
}

#[test]
fn malformed_ids_in_messages_are_rejected_at_the_boundary() {
    let bad = json!({
        "kind": "incremental",
        "contacts": [{"id": "003'; DROP", "fields": {}}]
    });
    assert!(serde_json::from_value::<SalesforceChanges>(bad).is_err());
}

#[test]
fn settings_default_to_the_spec() {
    let settings: Settings =
        serde_json::from_value(json!({"salesforce_user_id": USER})).expect("reads");
    assert_eq!(settings, Settings::new(sf_id(USER)));
    assert_eq!(settings.scope, Scope::Mine);
    assert!(!settings.auto_removal);
    assert_eq!(settings.conflict_winner, ConflictWinner::Salesforce);
}

#[test]
fn error_codes_are_spelled_as_the_status_shows_them() {
    assert_eq!(
        serde_json::to_value(ErrorCode::MassDeleteGuard).expect("ser"),
        json!("mass_delete_guard")
    );
    assert_eq!(
        serde_json::to_value(ErrorCode::StringTooLong).expect("ser"),
        json!("STRING_TOO_LONG")
    );
    assert_eq!(
        ErrorCode::InvalidEmailAddress.as_str(),
        "INVALID_EMAIL_ADDRESS"
    );
}
