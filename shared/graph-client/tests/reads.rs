//! Graph client tests: folders and categories (B1), delta paging and resync, contact lookups.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::collections::HashMap;

use graph_client::{
    CategoryColor, DeltaItem, DeltaLink, Disposition, GraphClient, GraphError, SYNC_KEY_PROPERTY_ID,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

#[tokio::test]
async fn ensure_folder_returns_the_existing_folder_without_creating() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "X", "displayName": "Other"}],
            "@odata.nextLink": format!("{}/v1.0/users/u1/contactFolders?%24skip=1", server.uri())
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "F1", "displayName": "salesforce contacts"}]})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let folder = client
        .ensure_folder("u1", "Salesforce Contacts")
        .await
        .unwrap();
    assert_eq!(folder.id, "F1");
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() != TOKEN_PATH)
        .count();
    assert_eq!(posts, 0);
}

#[tokio::test]
async fn the_folder_walk_lists_nested_folders_parents_first() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    let folder =
        |id: &str, parent: &str| json!({"id": id, "displayName": id, "parentFolderId": parent});
    let children = [
        (
            "/v1.0/users/u1/contactFolders",
            vec![folder("A", "D"), folder("B", "D")],
        ),
        (
            "/v1.0/users/u1/contactFolders/A/childFolders",
            vec![folder("A1", "A")],
        ),
        ("/v1.0/users/u1/contactFolders/B/childFolders", vec![]),
        (
            "/v1.0/users/u1/contactFolders/A1/childFolders",
            vec![folder("A11", "A1")],
        ),
        ("/v1.0/users/u1/contactFolders/A11/childFolders", vec![]),
    ];
    for (p, value) in children {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": value})))
            .mount(&server)
            .await;
    }
    let client = GraphClient::new(config(&server)).unwrap();
    let all = client.list_all_contact_folders("u1").await.unwrap();
    let ids: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["A", "B", "A1", "A11"]);
    assert_eq!(all[3].parent_folder_id.as_deref(), Some("A1"));
}

#[tokio::test]
async fn ensure_folder_that_loses_a_create_race_returns_the_winner() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .and(body_string_contains("\"displayName\":\"Salesforce Contacts\""))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": {
            "code": "ErrorFolderExists", "message": "A folder with the specified name already exists."}})))
        .expect(1)
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let folder = client
        .ensure_folder("u1", "Salesforce Contacts")
        .await
        .unwrap();
    assert_eq!(folder.id, "F1");
}

#[tokio::test]
async fn ensure_category_creates_a_missing_category_with_its_colour() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/outlook/masterCategories"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            {"id": "c0", "displayName": "Red category", "color": "preset0"}]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/u1/outlook/masterCategories"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "c9", "displayName": "Salesforce", "color": "preset7"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let category = client
        .ensure_category("u1", "Salesforce", CategoryColor::Preset(7))
        .await
        .unwrap();
    assert_eq!(category.id, "c9");
    let post = requests_to(&server, "/v1.0/users/u1/outlook/masterCategories")
        .await
        .into_iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    assert_eq!(
        post.body_json::<Value>().unwrap(),
        json!({"displayName": "Salesforce", "color": "preset7"})
    );
}

#[tokio::test]
async fn a_delta_round_follows_next_links_to_the_delta_link() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    let delta_path = "/v1.0/users/u%40x.com/contactFolders/F%2B1%3D/contacts/delta";
    let uri = server.uri();
    Mock::given(method("GET"))
        .and(path(delta_path))
        .respond_with(move |req: &Request| {
            let query = req.url.query().unwrap_or_default().to_owned();
            if query.contains("skiptoken=page2") {
                ResponseTemplate::new(200).set_body_json(json!({
                    "@odata.deltaLink": format!("{uri}{delta_path}?$deltatoken=round1"),
                    "value": [
                        {"@odata.type": "#microsoft.graph.contact", "id": "C2", "@removed": {"reason": "deleted"}},
                        {"id": "C1", "changeKey": "ck2", "surname": "Lovelace", "categories": ["Salesforce"]}
                    ]}))
            } else {
                ResponseTemplate::new(200).set_body_json(json!({
                    "@odata.nextLink": format!("{uri}{delta_path}?$skiptoken=page2"),
                    "value": [
                        {"id": "C1", "changeKey": "ck1", "surname": "Byron", "parentFolderId": "F+1="},
                        {"id": "C3", "changeKey": "ck1", "givenName": "Grace", "birthday": "1906-12-09T11:59:00Z"}
                    ]}))
            }
        })
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let round = client.delta_round("u@x.com", "F+1=", None).await.unwrap();
    assert_eq!(
        round.delta_link.0,
        format!("{}{delta_path}?$deltatoken=round1", server.uri())
    );
    let ids: Vec<&str> = round.items.iter().map(|i| i.id()).collect();
    // C1 was replayed: only its last entry counts, in the order of last appearance.
    assert_eq!(ids, vec!["C3", "C2", "C1"]);
    match &round.items[2] {
        DeltaItem::Upserted(c) => {
            assert_eq!(c.change_key.as_deref(), Some("ck2"));
            assert_eq!(c.fields.surname.as_deref(), Some("Lovelace"));
            assert_eq!(c.categories, vec!["Salesforce"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        round.items[1],
        DeltaItem::Removed {
            id: "C2".into(),
            reason: Some("deleted".into())
        }
    );

    let requests = requests_to(&server, delta_path).await;
    assert_eq!(requests.len(), 2);
    let first: HashMap<String, String> = requests[0].url.query_pairs().into_owned().collect();
    assert_eq!(first["$select"], graph_client::contact_select());
    assert!(first["$select"].contains("changeKey"));
    // `$select` travels inside the links after the first request.
    assert!(!requests[1].url.query().unwrap().contains("select"));
    for r in &requests {
        let prefer = r.headers["prefer"].to_str().unwrap();
        assert!(prefer.contains("odata.maxpagesize=2"), "{prefer}");
        assert!(prefer.contains("IdType=\"ImmutableId\""), "{prefer}");
    }
}

#[tokio::test]
async fn an_expired_delta_link_means_sync_state_not_found() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders/F1/contacts/delta"))
        .respond_with(
            ResponseTemplate::new(410)
                .insert_header("Location", "https://graph.example/initial")
                .set_body_json(json!({"error": {"code": "syncStateNotFound",
                    "message": "The sync state identified using the request token 'X' is not found."}})),
        )
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let link = DeltaLink(format!(
        "{}/v1.0/users/u1/contactFolders/F1/contacts/delta?$deltatoken=old",
        server.uri()
    ));
    let err = client
        .delta_round("u1", "F1", Some(&link))
        .await
        .unwrap_err();
    assert!(matches!(
        &err,
        GraphError::SyncStateNotFound { location: Some(l) } if l == "https://graph.example/initial"
    ));
    assert_eq!(err.disposition(), Disposition::Resync);
}

#[tokio::test]
async fn a_link_to_another_host_is_never_followed() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    let client = GraphClient::new(config(&server)).unwrap();
    let link = DeltaLink("http://evil.example/v1.0/delta?$deltatoken=x".into());
    let err = client
        .delta_round("u1", "F1", Some(&link))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::ForeignLink(_)));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn get_contact_encodes_the_id_and_expands_the_sync_key() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contacts/AAMk%2Fa%2Bb%3D"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "AAMk/a+b=", "changeKey": "ck", "surname": "Hopper",
            "singleValueExtendedProperties": [{"id": SYNC_KEY_PROPERTY_ID, "value": "key-42"}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contacts/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let contact = client
        .get_contact("u1", "AAMk/a+b=")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.sync_key(), Some("key-42"));
    assert!(client.get_contact("u1", "gone").await.unwrap().is_none());

    let request = &requests_to(&server, "/v1.0/users/u1/contacts/AAMk%2Fa%2Bb%3D").await[0];
    let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
    assert_eq!(
        query["$expand"],
        format!("singleValueExtendedProperties($filter=id eq '{SYNC_KEY_PROPERTY_ID}')")
    );
    assert!(
        !request.url.query().unwrap().contains('+'),
        "spaces are sent as %20"
    );
}

#[tokio::test]
async fn find_by_extended_property_filters_on_the_value() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders/F1/contacts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            {"id": "C1", "singleValueExtendedProperties": [{"id": SYNC_KEY_PROPERTY_ID, "value": "O'k"}]}]})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let found = client
        .find_by_extended_property("u1", Some("F1"), SYNC_KEY_PROPERTY_ID, "O'k")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let request = &requests_to(&server, "/v1.0/users/u1/contactFolders/F1/contacts").await[0];
    let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
    assert_eq!(
        query["$filter"],
        format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{SYNC_KEY_PROPERTY_ID}' and ep/value eq 'O''k')"
        )
    );
}

#[tokio::test]
async fn contacts_with_the_category_are_listed_by_filter() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contacts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            {"id": "C7", "categories": ["Salesforce"], "parentFolderId": "DEFAULT"}]})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let found = client
        .list_contacts(
            "u1",
            None,
            Some(&graph_client::category_filter("Salesforce")),
        )
        .await
        .unwrap();
    assert_eq!(found[0].parent_folder_id.as_deref(), Some("DEFAULT"));
    let request = &requests_to(&server, "/v1.0/users/u1/contacts").await[0];
    let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
    assert_eq!(query["$filter"], "categories/any(c:c eq 'Salesforce')");
    assert_eq!(query["$top"], "2");
}

#[tokio::test]
async fn an_unreachable_mailbox_is_not_mistaken_for_a_missing_contact() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": "MailboxNotEnabledForRESTAPI",
            "message": "The mailbox is either inactive, soft-deleted, or is hosted on-premise."}})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let err = client.get_contact("u1", "C1").await.unwrap_err();
    assert_eq!(err.disposition(), Disposition::Fatal);
}
