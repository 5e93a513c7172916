//! The id-length knob (`SALESFORCE_EMULATOR_ID_LENGTH`, `POST /_emulator/id-length`): answers
//! can carry 15-character record ids, as Salesforce's UI and URLs show them, so clients are
//! tested on both forms (B15). Requests take either form whatever the knob says.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use salesforce_emulator::{Config, IdLength};
use serde_json::json;

#[tokio::test]
async fn queries_rows_and_retrieves_answer_with_15_character_ids_when_asked() {
    let emu = start().await;
    let (user, token) = emu.login("ids@example.com").await;
    let account = emu
        .seed("Account", &user, vec![json!({"Name": "Analytical"})])
        .await
        .remove(0);
    let contact = emu
        .seed(
            "Contact",
            &user,
            vec![json!({"LastName": "Lovelace", "AccountId": account})],
        )
        .await
        .remove(0);
    let soql = "SELECT Id, OwnerId, AccountId, Account.Id, LastName FROM Contact";

    let r = emu.query(&token, soql).await;
    assert_eq!(
        r.body["records"][0]["Id"],
        contact.as_str(),
        "18 by default"
    );

    let set = emu
        .control(Method::POST, "/id-length", Some(json!({"length": 15})))
        .await;
    assert_eq!(
        (set.status, &set.body),
        (StatusCode::OK, &json!({"length": 15}))
    );
    let r = emu.query(&token, soql).await;
    let record = &r.body["records"][0];
    assert_eq!(record["Id"], &contact[..15], "{record}");
    assert_eq!(record["OwnerId"], &user[..15], "{record}");
    assert_eq!(record["AccountId"], &account[..15], "{record}");
    assert_eq!(record["Account"]["Id"], &account[..15], "{record}");
    assert_eq!(record["LastName"], "Lovelace");

    // Filters take either form.
    let r = emu
        .query(
            &token,
            &format!("SELECT Id FROM Contact WHERE OwnerId = '{}'", &user[..15]),
        )
        .await;
    assert_eq!(r.body["totalSize"], 1, "{}", r.text);

    let row = emu
        .get(
            &format!("/services/data/{V}/sobjects/Contact/{contact}"),
            &token,
        )
        .await;
    assert_eq!(row.body["Id"], &contact[..15]);
    assert_eq!(row.body["OwnerId"], &user[..15]);

    let retrieved = emu
        .post(
            &format!("/services/data/{V}/composite/sobjects/Contact"),
            &token,
            json!({"ids": [contact], "fields": ["Id", "OwnerId"]}),
        )
        .await;
    assert_eq!(
        retrieved.body[0]["OwnerId"],
        &user[..15],
        "{}",
        retrieved.text
    );

    // The control API shows the truth, in 18 characters.
    let dump = emu.control(Method::GET, "/sobjects/Contact", None).await;
    assert_eq!(dump.body["records"][0]["Id"], contact.as_str());

    let bad = emu
        .control(Method::POST, "/id-length", Some(json!({"length": 16})))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // A reset goes back to the configured length.
    emu.control(Method::POST, "/reset", None).await;
    let now = emu.control(Method::GET, "/id-length", None).await;
    assert_eq!(now.body, json!({"length": 18}));
}

#[tokio::test]
async fn the_configured_length_applies_from_the_start() {
    let emu = start_with(Config {
        id_length: IdLength::Fifteen,
        ..Config::default()
    })
    .await;
    let (user, token) = emu.login("short@example.com").await;
    emu.seed("Contact", &user, vec![json!({"LastName": "Hopper"})])
        .await;
    let r = emu.query(&token, "SELECT Id, OwnerId FROM Contact").await;
    assert_eq!(r.body["records"][0]["OwnerId"], &user[..15], "{}", r.text);
    assert_eq!(r.body["records"][0]["Id"].as_str().map(str::len), Some(15));
}
