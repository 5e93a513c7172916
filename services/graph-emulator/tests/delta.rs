//! Contact delta per folder (reference §4; checklist item 5).

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Follows a delta round to its deltaLink; returns every entry and the deltaLink.
async fn round(emu: &Emu, start: &str, page: usize) -> (Vec<Value>, String, usize) {
    let prefer = format!("odata.maxpagesize={page}");
    let mut url = start.to_owned();
    let mut entries = Vec::new();
    let mut pages = 0;
    loop {
        let r = emu
            .call_with(Method::GET, &url, None, &[("Prefer", &prefer)])
            .await;
        assert_eq!(r.status, 200, "{url}: {:?}", r.body);
        pages += 1;
        let value = r.body["value"].as_array().expect("value");
        assert!(value.len() <= page, "page size honoured");
        entries.extend(value.iter().cloned());
        if let Some(next) = r.body["@odata.nextLink"].as_str() {
            assert!(next.contains("$skiptoken="), "{next}");
            url = next.to_owned();
            continue;
        }
        let delta = r.body["@odata.deltaLink"]
            .as_str()
            .expect("deltaLink at the end of a round");
        assert!(delta.contains("$deltatoken="), "{delta}");
        return (entries, delta.to_owned(), pages);
    }
}

#[tokio::test]
async fn a_delta_of_thousands_pages_through_every_contact_once_then_reports_only_changes() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let folder = emu
        .post(
            "/v1.0/users/u1/contactFolders",
            json!({"displayName": "Salesforce Contacts"}),
        )
        .await;
    let fid = folder.body["id"].as_str().expect("id").to_owned();
    let mut ids = Vec::new();
    for chunk in 0..6 {
        let contacts: Vec<Value> = (0..500)
            .map(|i| json!({"surname": format!("S{}", chunk * 500 + i)}))
            .collect();
        ids.extend(emu.seed("u1", &fid, contacts).await);
    }
    let start = format!("/v1.0/users/u1/contactFolders/{}/contacts/delta", enc(&fid));
    let (entries, delta_link, pages) = round(&emu, &start, 200).await;
    assert_eq!(pages, 15);
    assert_eq!(entries.len(), 3000);
    let seen: HashSet<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(seen.len(), 3000);
    assert!(
        entries
            .iter()
            .all(|e| e["@odata.type"] == "#microsoft.graph.contact" && e["changeKey"].is_string())
    );

    // Nothing changed: an empty page with a new deltaLink.
    let (none, delta_link, _) = round(&emu, &delta_link, 200).await;
    assert!(none.is_empty());

    // One update, one delete through the API: exactly those come back.
    let updated = emu
        .patch(
            &format!("/v1.0/users/u1/contacts/{}", enc(&ids[10])),
            json!({"jobTitle": "CFO"}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        emu.delete(&format!("/v1.0/users/u1/contacts/{}", enc(&ids[20])))
            .await
            .status,
        204
    );
    let (changes, _, _) = round(&emu, &delta_link, 200).await;
    let by_id: HashMap<&str, &Value> = changes
        .iter()
        .filter_map(|e| Some((e["id"].as_str()?, e)))
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(by_id[ids[10].as_str()]["jobTitle"], "CFO");
    assert_eq!(
        by_id[ids[10].as_str()]["changeKey"],
        updated.body["changeKey"]
    );
    assert_eq!(
        by_id[ids[20].as_str()]["@removed"],
        json!({"reason": "deleted"})
    );
    assert_eq!(
        by_id[ids[20].as_str()]["@odata.type"],
        "#microsoft.graph.contact"
    );
}

#[tokio::test]
async fn a_contact_moved_out_of_the_folder_is_removed_there_and_new_in_the_target() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let a = emu
        .post("/v1.0/users/u1/contactFolders", json!({"displayName": "A"}))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ids = emu
        .seed(
            "u1",
            &a,
            vec![json!({"surname": "Mover"}), json!({"surname": "Stayer"})],
        )
        .await;
    let start_a = format!("/v1.0/users/u1/contactFolders/{}/contacts/delta", enc(&a));
    let start_default = "/v1.0/users/u1/contacts/delta".to_owned();
    let (_, link_a, _) = round(&emu, &start_a, 50).await;
    let (initial_default, link_default, _) = round(&emu, &start_default, 50).await;
    assert!(initial_default.is_empty());
    let moved = emu
        .control(
            Method::POST,
            &format!("/_emulator/mailboxes/u1/contacts/{}/move", enc(&ids[0])),
            json!({"destinationId": "contacts"}),
        )
        .await;
    let new_id = moved.body["id"].as_str().expect("id").to_owned();
    let (in_a, _, _) = round(&emu, &link_a, 50).await;
    assert_eq!(
        in_a,
        vec![
            json!({"@odata.type": "#microsoft.graph.contact", "id": ids[0], "@removed": {"reason": "deleted"}})
        ]
    );
    let (in_default, _, _) = round(&emu, &link_default, 50).await;
    assert_eq!(in_default.len(), 1);
    assert_eq!(in_default[0]["id"], new_id.as_str());
    assert_eq!(in_default[0]["surname"], "Mover");
}

#[tokio::test]
async fn select_is_carried_in_the_token_and_id_and_etag_always_come_back() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let contacts: Vec<Value> = (0..5)
        .map(|i| json!({"givenName": "G", "surname": format!("S{i}")}))
        .collect();
    emu.seed("u1", "contacts", contacts).await;
    let (entries, _, pages) = round(
        &emu,
        "/v1.0/users/u1/contactFolders/contacts/contacts/delta?$select=surname",
        2,
    )
    .await;
    assert_eq!(pages, 3);
    for e in &entries {
        assert!(
            e["id"].is_string() && e["@odata.etag"].is_string() && e["surname"].is_string(),
            "{e}"
        );
        assert!(e.get("givenName").is_none(), "{e}");
    }
}

#[tokio::test]
async fn changes_during_a_round_are_not_lost() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let contacts: Vec<Value> = (0..10)
        .map(|i| json!({"surname": format!("S{i}")}))
        .collect();
    let ids = emu.seed("u1", "contacts", contacts).await;
    let prefer = [("Prefer", "odata.maxpagesize=5")];
    let first = emu
        .call_with(Method::GET, "/v1.0/users/u1/contacts/delta", None, &prefer)
        .await;
    let next = first.body["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_owned();
    // Deleted mid-round after it was served; created mid-round.
    assert_eq!(
        emu.delete(&format!("/v1.0/users/u1/contacts/{}", enc(&ids[0])))
            .await
            .status,
        204
    );
    let late = emu
        .post("/v1.0/users/u1/contacts", json!({"surname": "Late"}))
        .await
        .body;
    let (rest, _, _) = round(&emu, &next, 5).await;
    let rest_ids: HashSet<&str> = rest.iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(rest_ids.contains(late["id"].as_str().expect("id")));
    let removal = rest
        .iter()
        .find(|e| e["id"] == ids[0].as_str())
        .expect("the mid-round delete is reported");
    assert!(removal.get("@removed").is_some());
}

#[tokio::test]
async fn an_expired_token_is_410_sync_state_not_found_and_a_garbage_one_is_400() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    emu.seed("u1", "contacts", vec![json!({"surname": "A"})])
        .await;
    let (_, link, _) = round(&emu, "/v1.0/users/u1/contacts/delta", 10).await;
    let expired = emu
        .control(
            Method::POST,
            "/_emulator/delta/expire",
            json!({"mailbox": "u1"}),
        )
        .await;
    assert_eq!(expired.status, 200);
    let r = emu.get(&link).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.error_code(), "syncStateNotFound");
    let location = r.header("location").expect("Location to restart from");
    assert!(
        location.contains("/v1.0/users/u1/contacts/delta"),
        "{location}"
    );
    // Following Location starts a full round again.
    let (again, _, _) = round(&emu, location, 10).await;
    assert_eq!(again.len(), 1);
    let garbage = emu
        .get("/v1.0/users/u1/contacts/delta?$deltatoken=!!notatoken!!")
        .await;
    assert_eq!(garbage.status, 400);
}

#[tokio::test]
async fn tokens_expire_by_age_when_the_ttl_knob_is_set() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (_, link, _) = round(&emu, "/v1.0/users/u1/contacts/delta", 10).await;
    emu.set_knobs(json!({"delta_token_ttl_secs": 0})).await;
    let gone = poll_until(std::time::Duration::from_secs(5), || {
        let r = emu.get(&link);
        async move { r.await.status == 410 }
    })
    .await;
    assert!(gone);
}

#[tokio::test]
async fn expand_of_an_extended_property_is_carried_through_the_round() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let prop = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SalesforceId";
    let contacts: Vec<Value> = (0..4)
        .map(|i| json!({"surname": format!("S{i}"), "singleValueExtendedProperties": [{"id": prop, "value": format!("003{i}")}]}))
        .collect();
    emu.seed("u1", "contacts", contacts).await;
    let expand = format!("singleValueExtendedProperties($filter=id eq '{prop}')");
    let start = format!(
        "/v1.0/users/u1/contacts/delta?$select=surname&$expand={}",
        enc(&expand)
    );
    let (entries, _, pages) = round(&emu, &start, 2).await;
    assert_eq!(pages, 2);
    let values: Vec<Value> = entries
        .iter()
        .map(|e| e["singleValueExtendedProperties"][0]["value"].clone())
        .collect();
    assert_eq!(
        values,
        vec![json!("0030"), json!("0031"), json!("0032"), json!("0033")]
    );
}

#[tokio::test]
async fn a_deleted_folder_keeps_its_delta_until_it_is_emptied_from_deleted_items_then_answers_404()
{
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let folder = emu
        .post(
            "/v1.0/users/u1/contactFolders",
            json!({"displayName": "Salesforce Contacts"}),
        )
        .await;
    let fid = folder.body["id"].as_str().expect("id").to_owned();
    emu.seed("u1", &fid, vec![pavel()]).await;
    let path = format!("/v1.0/users/u1/contactFolders/{}", enc(&fid));
    let start = format!("{path}/contacts/delta");
    let (_, delta_link, _) = round(&emu, &start, 10).await;

    // Deleted once: soft, the folder sits under Deleted Items and its delta still answers.
    assert_eq!(emu.delete(&path).await.status, 204);
    let (entries, _, _) = round(&emu, &start, 10).await;
    assert_eq!(entries.len(), 1, "the folder's contacts are still in it");
    assert_eq!(emu.get(&delta_link).await.status, 200);

    // Deleted from Deleted Items: gone for good, and a delta on it is an unknown item.
    assert_eq!(emu.delete(&path).await.status, 204);
    for url in [start.as_str(), delta_link.as_str()] {
        let gone = emu.get(url).await;
        assert_eq!(
            (gone.status, gone.error_code()),
            (404, "ErrorItemNotFound"),
            "{url}: {:?}",
            gone.body
        );
    }
}
