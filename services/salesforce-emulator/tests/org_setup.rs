//! What an org must be set up with, enforced as real Salesforce does: the `Contactsync_Key__c`
//! field exists only where the package is deployed (`SALESFORCE_EMULATOR_SYNC_KEY_FIELD`), and
//! the JWT bearer `aud` must be the org's authorization server, never the host called
//! (`SALESFORCE_EMULATOR_JWT_AUDIENCES`).

mod common;

use common::*;
use reqwest::StatusCode;
use salesforce_emulator::{Config, DEV_PRIVATE_KEY_PEM, sign_jwt_assertion};
use serde_json::{Value, json};

const KEY: &str = "Contactsync_Key__c";

fn describe_field<'a>(describe: &'a Value, name: &str) -> Option<&'a Value> {
    describe["fields"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)
}

#[tokio::test]
async fn with_the_package_the_key_is_a_unique_external_id_text_field() {
    let emu = start().await;
    let (_, token) = emu.login("admin@acme.example").await;
    let describe = emu
        .get(
            &format!("/services/data/{V}/sobjects/Contact/describe"),
            &token,
        )
        .await;
    let field = describe_field(&describe.body, KEY).expect("the key field");
    assert_eq!(field["type"], "string");
    assert_eq!(field["externalId"], true);
    assert_eq!(field["unique"], true);
    assert!(
        field["length"].as_u64().unwrap_or_default() >= 34,
        "{field}"
    );
}

#[tokio::test]
async fn without_the_package_every_use_of_the_key_fails_as_in_a_real_org() {
    let emu = start_with(Config {
        sync_key_field: false,
        ..Config::default()
    })
    .await;
    let (_, token) = emu.login("admin@acme.example").await;
    let describe = emu
        .get(
            &format!("/services/data/{V}/sobjects/Contact/describe"),
            &token,
        )
        .await;
    assert_eq!(describe.status, StatusCode::OK);
    assert!(describe_field(&describe.body, KEY).is_none());
    assert!(describe_field(&describe.body, "LastName").is_some());

    // The sync's query: INVALID_FIELD with Salesforce's caret diagram at the column.
    let q = emu
        .query(&token, "SELECT Id, Contactsync_Key__c FROM Contact")
        .await;
    assert_eq!(q.status, StatusCode::BAD_REQUEST);
    assert_eq!(q.body[0]["errorCode"], "INVALID_FIELD");
    let message = q.body[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("No such column 'Contactsync_Key__c' on entity 'Contact'"),
        "{message}"
    );
    assert!(message.contains("ERROR at Row:1:Column:12"), "{message}");
    let q = emu
        .query(
            &token,
            "SELECT Id FROM Contact WHERE contactsync_key__c = 'x'",
        )
        .await;
    assert_eq!(q.body[0]["errorCode"], "INVALID_FIELD", "{}", q.text);

    // FIELDS(ALL) simply does not bring it.
    emu.seed(
        "Contact",
        "admin@acme.example",
        vec![json!({"LastName": "Plain"})],
    )
    .await;
    let q = emu
        .query(&token, "SELECT FIELDS(ALL) FROM Contact LIMIT 10")
        .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.text);
    assert!(q.body["records"][0].get(KEY).is_none(), "{}", q.text);
    assert_eq!(q.body["records"][0]["LastName"], "Plain");

    // Writing it, or upserting by it, as the writers do.
    let created = emu
        .post(
            &format!("/services/data/{V}/sobjects/Contact"),
            &token,
            json!({"LastName": "Keyed", KEY: "ex0123"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::BAD_REQUEST);
    assert_eq!(created.body[0]["errorCode"], "INVALID_FIELD");
    let upsert = emu
        .patch(
            &format!("/services/data/{V}/sobjects/Contact/{KEY}/ex0123"),
            &token,
            json!({"LastName": "Keyed"}),
        )
        .await;
    assert_eq!(upsert.status, StatusCode::NOT_FOUND, "{}", upsert.text);
    assert_eq!(upsert.body[0]["errorCode"], "NOT_FOUND");
    assert!(
        upsert
            .text
            .contains("Provided external ID field does not exist")
    );
    let batch = emu
        .patch(
            &format!("/services/data/{V}/composite/sobjects/Contact/{KEY}"),
            &token,
            json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Contact"}, KEY: "ex1", "LastName": "A"}]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::NOT_FOUND, "{}", batch.text);
}

async fn jwt_login(emu: &Emu, audience: &str) -> (StatusCode, Value) {
    let exp = chrono::Utc::now().timestamp() + 120;
    let assertion = sign_jwt_assertion(
        DEV_PRIVATE_KEY_PEM,
        "contactsync-dev",
        "integration@contactsync.dev",
        audience,
        exp,
    )
    .expect("signs");
    let r = emu
        .http
        .post(format!("{}/services/oauth2/token", emu.base))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .expect("answers");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_jwt_audience_is_the_authorization_server_never_the_host_called() {
    let emu = start().await;
    for ok in [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
    ] {
        assert_eq!(jwt_login(&emu, ok).await.0, StatusCode::OK, "{ok}");
    }
    let (status, body) = jwt_login(&emu, &emu.base).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "audience is invalid"})
    );

    // A sandbox with a My Domain: production's audience is refused, its own accepted.
    let sandbox = start_with(Config {
        jwt_audiences: vec![
            "https://test.salesforce.com".to_owned(),
            "https://acme--uat.sandbox.my.salesforce.com".to_owned(),
        ],
        ..Config::default()
    })
    .await;
    assert_eq!(
        jwt_login(&sandbox, "https://login.salesforce.com").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        jwt_login(&sandbox, "https://acme--uat.sandbox.my.salesforce.com/")
            .await
            .0,
        StatusCode::OK
    );
}
