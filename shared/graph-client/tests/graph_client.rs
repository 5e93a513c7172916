//! Client tests of graph-client against a mock HTTP server: tokens, retries, paging, batches.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use graph_client::{
    CategoryColor, ContactPatch, ContactWrite, DeltaItem, DeltaLink, Disposition, GraphClient,
    GraphConfig, GraphError, ItemError, NewContact, NewSubscription, SYNC_KEY_PROPERTY_ID,
    SubscriptionResource, WriteOutcome,
};
use serde_json::{Value, json};
use sync_core::fields::GraphContactFields;
use url::Url;
use wiremock::matchers::{bearer_token, body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN_PATH: &str = "/tenant-1/oauth2/v2.0/token";

fn config(server: &MockServer) -> GraphConfig {
    let mut config = GraphConfig::new(
        Url::parse(&format!("{}/v1.0", server.uri())).unwrap(),
        Url::parse(&server.uri()).unwrap(),
        "tenant-1",
        "client-1",
        "s3cret value".to_owned().into(),
    );
    config.min_backoff = Duration::from_millis(10);
    config.max_retry_after = Duration::from_secs(2);
    config.max_page_size = 2;
    config
}

async fn mount_token(server: &MockServer, token: &str, expires_in: u64) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
            "access_token": token
        })))
        .mount(server)
        .await;
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

fn folders_body() -> Value {
    json!({"value": [{"id": "F1", "displayName": "Salesforce Contacts", "parentFolderId": "P"}]})
}

#[tokio::test]
async fn the_app_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    mount_token(&server, "tok-1", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .and(bearer_token("tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    client.list_contact_folders("u1").await.unwrap();
    let folders = client.list_contact_folders("u1").await.unwrap();
    assert_eq!(folders[0].display_name, "Salesforce Contacts");

    let tokens = requests_to(&server, TOKEN_PATH).await;
    assert_eq!(tokens.len(), 1);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&tokens[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "client-1");
    assert_eq!(form["client_secret"], "s3cret value");
    assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
    // Every Graph call asks for immutable ids.
    for r in requests_to(&server, "/v1.0/users/u1/contactFolders").await {
        assert_eq!(r.headers["prefer"], "IdType=\"ImmutableId\"");
    }
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_use() {
    let server = MockServer::start().await;
    mount_token(&server, "tok-short", 0).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    client.list_contact_folders("u1").await.unwrap();
    client.list_contact_folders("u1").await.unwrap();
    assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_the_call_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "old"}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_token(&server, "new", 3599).await;
    Mock::given(method("GET"))
        .and(bearer_token("old"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let folders = client.list_contact_folders("u1").await.unwrap();
    assert_eq!(folders.len(), 1);
    assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_token_that_keeps_being_refused_fails_with_reauth() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
        )
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let err = client.list_contact_folders("u1").await.unwrap_err();
    assert_eq!(err.disposition(), Disposition::ReAuth);
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_bad_secret_is_a_fatal_token_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let err = client.list_contact_folders("u1").await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Token { status: 401, error, .. } if error == "invalid_client")
    );
    assert_eq!(err.disposition(), Disposition::Fatal);
    // The secret never appears in the error text.
    assert!(!format!("{err} {err:?}").contains("s3cret"));
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0.3")
                .set_body_json(json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let started = Instant::now();
    let folders = client.list_contact_folders("u1").await.unwrap();
    assert_eq!(folders.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_the_cap() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    assert_eq!(client.list_contact_folders("u1").await.unwrap().len(), 1);
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        3
    );

    // A server that never recovers: 1 attempt + max_retries, then a retryable error.
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.max_retries = 2;
    let client = GraphClient::new(cfg).unwrap();
    let err = client.list_contact_folders("u1").await.unwrap_err();
    assert_eq!(err.disposition(), Disposition::Retry { after: None });
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        3
    );
}

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

/// Answers `$batch` per item: records every batch's size, throttles item ids listed in
/// `throttle_once` the first time they are seen, fails PATCH of `bad`, 404s DELETE of `gone`.
#[derive(Clone, Default)]
struct BatchResponder {
    sizes: Arc<Mutex<Vec<usize>>>,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    throttle_once: Vec<String>,
}

impl Respond for BatchResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap();
        let requests = body["requests"].as_array().unwrap();
        self.sizes.lock().unwrap().push(requests.len());
        let responses: Vec<Value> = requests
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap().to_owned();
                let url = r["url"].as_str().unwrap();
                let method = r["method"].as_str().unwrap();
                let target = url.rsplit('/').next().unwrap().to_owned();
                let key = r["body"]["surname"].as_str().unwrap_or(&target).to_owned();
                let times = {
                    let mut seen = self.seen.lock().unwrap();
                    let n = seen.entry(format!("{method} {key}")).or_default();
                    *n += 1;
                    *n
                };
                if self.throttle_once.contains(&key) && times == 1 {
                    return json!({"id": id, "status": 429, "headers": {"Retry-After": "0.2"},
                        "body": {"error": {"code": "ApplicationThrottled",
                        "message": "Application is over its MailboxConcurrency limit."}}});
                }
                match (method, target.as_str()) {
                    ("PATCH", "bad") => json!({"id": id, "status": 400, "body": {"error": {
                        "code": "ErrorInvalidProperty", "message": "The multi value property EmailAddresses has 4 entries"}}}),
                    ("DELETE", "gone") => json!({"id": id, "status": 404, "body": {"error": {"code": "ErrorItemNotFound"}}}),
                    ("DELETE", _) => json!({"id": id, "status": 204}),
                    ("POST", _) => json!({"id": id, "status": 201, "body": {
                        "id": format!("new-{key}"), "changeKey": "ck1", "surname": key}}),
                    _ => json!({"id": id, "status": 200, "body": {"id": target, "changeKey": "ck2"}}),
                }
            })
            .collect();
        // Graph may answer in any order; the client must restore input order.
        let mut responses = responses;
        responses.reverse();
        ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
    }
}

fn create(surname: &str) -> ContactWrite {
    ContactWrite::Create {
        folder_id: "F1".into(),
        contact: NewContact {
            fields: GraphContactFields {
                surname: Some(surname.into()),
                ..Default::default()
            },
            categories: vec!["Salesforce".into()],
            sync_key: Some(format!("key-{surname}")),
        },
    }
}

#[tokio::test]
async fn batches_split_at_twenty_keep_input_order_and_retry_only_throttled_items() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    let responder = BatchResponder {
        throttle_once: vec!["s7".into(), "s30".into()],
        ..Default::default()
    };
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(responder.clone())
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();

    let mut writes: Vec<ContactWrite> = (0..41).map(|i| create(&format!("s{i}"))).collect();
    writes.push(ContactWrite::Update {
        contact_id: "bad".into(),
        patch: ContactPatch::new().with_categories(vec!["Salesforce".into()]),
    });
    writes.push(ContactWrite::Delete {
        contact_id: "gone".into(),
    });
    writes.push(ContactWrite::Delete {
        contact_id: "C9".into(),
    });
    writes.push(ContactWrite::Update {
        contact_id: "C8".into(),
        patch: ContactPatch::new().with_sync_key("k8"),
    });

    let results = client.write_contacts("u1", &writes).await;
    assert_eq!(results.len(), 45);
    for (i, result) in results.iter().take(41).enumerate() {
        match result {
            Ok(WriteOutcome::Created(c)) => assert_eq!(c.id, format!("new-s{i}")),
            other => panic!("item {i}: {other:?}"),
        }
    }
    match &results[41] {
        Err(ItemError::Api(e)) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.code.as_deref(), Some("ErrorInvalidProperty"));
            assert_eq!(e.disposition, Disposition::PermanentItem);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        results[42].as_ref().unwrap(),
        &WriteOutcome::Deleted { already_gone: true }
    );
    assert_eq!(
        results[43].as_ref().unwrap(),
        &WriteOutcome::Deleted {
            already_gone: false
        }
    );
    assert!(matches!(&results[44], Ok(WriteOutcome::Updated(c)) if c.id == "C8"));

    // 45 items → 20 + 20 + 5, then one batch holding only the two throttled items.
    assert_eq!(*responder.sizes.lock().unwrap(), vec![20, 20, 5, 2]);

    let batches = requests_to(&server, "/v1.0/$batch").await;
    let first: Value = batches[0].body_json().unwrap();
    let item = &first["requests"][0];
    assert_eq!(item["method"], "POST");
    assert_eq!(item["url"], "/users/u1/contactFolders/F1/contacts");
    assert_eq!(item["headers"]["Content-Type"], "application/json");
    assert_eq!(item["body"]["categories"], json!(["Salesforce"]));
    assert_eq!(
        item["body"]["singleValueExtendedProperties"],
        json!([{"id": SYNC_KEY_PROPERTY_ID, "value": "key-s0"}])
    );
    let last: Value = batches[2].body_json().unwrap();
    assert_eq!(last["requests"][4]["url"], "/users/u1/contacts/C8");
    assert_eq!(
        last["requests"][4]["body"]["singleValueExtendedProperties"][0]["value"],
        "k8"
    );
}

#[tokio::test]
async fn a_batch_that_fails_whole_fails_each_of_its_items() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": {
            "code": "ErrorAccessDenied", "message": "Access to OData is disabled."}})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let results = client
        .write_contacts(
            "u1",
            &[
                create("a"),
                ContactWrite::Delete {
                    contact_id: "x".into(),
                },
            ],
        )
        .await;
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r.unwrap_err().disposition(), Disposition::Fatal);
    }
}

#[tokio::test]
async fn get_contacts_reads_many_ids_through_batch() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(|request: &Request| {
            let body: Value = request.body_json().unwrap();
            let responses: Vec<Value> = body["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let url = r["url"].as_str().unwrap();
                    assert!(url.contains("$expand=singleValueExtendedProperties"), "{url}");
                    if url.starts_with("/users/u1/contacts/missing?") {
                        json!({"id": r["id"], "status": 404, "body": {"error": {"code": "ErrorItemNotFound"}}})
                    } else {
                        json!({"id": r["id"], "status": 200, "body": {"id": "C1",
                            "singleValueExtendedProperties": [{"id": SYNC_KEY_PROPERTY_ID, "value": "k1"}]}})
                    }
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
        })
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let results = client
        .get_contacts("u1", &["C1".to_owned(), "missing".to_owned()])
        .await;
    assert_eq!(
        results[0].as_ref().unwrap().as_ref().unwrap().sync_key(),
        Some("k1")
    );
    assert!(results[1].as_ref().unwrap().is_none());
}

#[tokio::test]
async fn subscriptions_are_created_renewed_and_deleted() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    let sub = json!({"id": "sub-1", "resource": "/users/u1/contactFolders/F1/contacts",
        "changeType": "created,updated,deleted", "notificationUrl": "https://hook/graph",
        "expirationDateTime": "2030-01-01T00:00:00Z"});
    Mock::given(method("POST"))
        .and(path("/v1.0/subscriptions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(sub.clone()))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/subscriptions/sub-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(sub.clone()))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/subscriptions/sub-1"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": {"code": "ResourceNotFound"}})),
        )
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let expiration = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let created = client
        .create_subscription(&NewSubscription {
            resource: SubscriptionResource::Folder {
                mailbox: "u1".into(),
                folder_id: "F1".into(),
            },
            notification_url: "https://hook/graph".into(),
            lifecycle_notification_url: Some("https://hook/graph/lifecycle".into()),
            client_state: "state-1".into(),
            expiration,
        })
        .await
        .unwrap();
    assert_eq!(created.id, "sub-1");
    client
        .renew_subscription("sub-1", expiration)
        .await
        .unwrap();
    client.delete_subscription("sub-1").await.unwrap();

    let post = &requests_to(&server, "/v1.0/subscriptions").await[0];
    assert_eq!(
        post.body_json::<Value>().unwrap(),
        json!({"changeType": "created,updated,deleted", "notificationUrl": "https://hook/graph",
            "resource": "/users/u1/contactFolders/F1/contacts",
            "expirationDateTime": "2030-01-01T00:00:00.000Z", "clientState": "state-1",
            "lifecycleNotificationUrl": "https://hook/graph/lifecycle"})
    );
    let patch = &requests_to(&server, "/v1.0/subscriptions/sub-1").await[0];
    assert_eq!(
        patch.body_json::<Value>().unwrap(),
        json!({"expirationDateTime": "2030-01-01T00:00:00.000Z"})
    );
}
