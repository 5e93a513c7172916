//! sObject rows (contract §4): create/read/update/delete, validation errors with the real
//! bodies, upsert by external id, conditional requests, and Get Updated / Get Deleted (§3).

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn path(rest: &str) -> String {
    format!("/services/data/{V}/sobjects/{rest}")
}

#[tokio::test]
async fn create_read_update_delete_a_contact() {
    let emu = start().await;
    let (user, token) = emu.login("crud@example.com").await;
    let r = emu.post(&path("Contact"), &token, json!({"FirstName": "John", "LastName": "Smith", "Email": "john.smith@nodetest.example.com"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["errors"], json!([]));
    let id = r.body["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("003") && id.len() == 18);
    assert!(r.headers.get("Sforce-Limit-Info").is_some());

    let r = emu.get(&path(&format!("Contact/{id}")), &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["Name"], "John Smith");
    assert_eq!(r.body["OwnerId"], user.as_str());
    assert_eq!(r.body["IsDeleted"], false);
    let created = r.body["CreatedDate"].as_str().expect("CreatedDate");
    assert!(
        created.ends_with("+0000") && created.len() == 28,
        "{created}"
    );

    // 15-char ids work too; `fields` returns the requested fields plus Id.
    let r = emu
        .get(
            &path(&format!("Contact/{}?fields=LastName,Email", &id[..15])),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 4, "attributes, LastName, Email, Id: {keys:?}");

    let r = emu
        .patch(
            &path(&format!("Contact/{id}")),
            &token,
            json!({"Title": "CTO", "Email": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = emu.get(&path(&format!("Contact/{id}")), &token).await;
    assert_eq!(r.body["Title"], "CTO");
    assert_eq!(r.body["Email"], serde_json::Value::Null);

    assert_eq!(
        emu.delete(&path(&format!("Contact/{id}")), &token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = emu.get(&path(&format!("Contact/{id}")), &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body,
        json!([{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}])
    );
    let r = emu.delete(&path(&format!("Contact/{id}")), &token).await;
    assert_eq!(r.body[0]["errorCode"], "ENTITY_IS_DELETED");
}

#[tokio::test]
async fn validation_errors_have_the_real_bodies() {
    let emu = start().await;
    let (_, token) = emu.login("v@example.com").await;
    let r = emu
        .post(&path("Contact"), &token, json!({"FirstName": "NoLast"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!([{"message": "Required fields are missing: [LastName]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}])
    );
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "X", "Email": "not an email"}),
        )
        .await;
    assert_eq!(
        r.body,
        json!([{"message": "Email: invalid email address: not an email", "errorCode": "INVALID_EMAIL_ADDRESS", "fields": ["Email"]}])
    );
    let long = "x".repeat(41);
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "X", "FirstName": long}),
        )
        .await;
    assert_eq!(
        r.body,
        json!([{"message": format!("First Name: data value too large: {long} (max length=40)"), "errorCode": "STRING_TOO_LONG", "fields": ["FirstName"]}])
    );
    // 80 chars is fine for LastName, 81 is not; lengths count characters, not bytes.
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "é".repeat(80)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "é".repeat(81)}),
        )
        .await;
    assert_eq!(r.body[0]["errorCode"], "STRING_TOO_LONG");
    // An empty string is null: LastName "" is missing.
    let r = emu
        .post(&path("Contact"), &token, json!({"LastName": ""}))
        .await;
    assert_eq!(r.body[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "X", "Bogus__c": 1}),
        )
        .await;
    assert_eq!(
        r.body,
        json!([{"message": "No such column 'Bogus__c' on sobject of type Contact", "errorCode": "INVALID_FIELD"}])
    );
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "X", "CreatedDate": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.body[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "X", "AccountId": "003000000000000AAA"}),
        )
        .await;
    assert_eq!(r.body[0]["errorCode"], "MALFORMED_ID");
    let r = emu
        .send(
            Method::POST,
            &path("Contact"),
            Some(&token),
            None,
            &[("Content-Type", "application/json")],
        )
        .await;
    assert_eq!(r.body[0]["errorCode"], "JSON_PARSER_ERROR");
    let r = emu.get(&path("Contact/003000000000000AAA"), &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body,
        json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
    );
    let r = emu.get(&path("Contact/23foo"), &token).await;
    assert_eq!(
        r.body,
        json!([{"message": "Provided external ID field does not exist or is not accessible: 23foo", "errorCode": "NOT_FOUND"}])
    );
}

#[tokio::test]
async fn upsert_by_external_id_is_idempotent() {
    let emu = start().await;
    let (_, token) = emu.login("up@example.com").await;
    let url = path("Contact/Contactsync_Key__c/user1-abc");
    let r = emu.patch(&url, &token, json!({"LastName": "First"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["created"], true);
    let id = r.body["id"].as_str().expect("id").to_string();
    for _ in 0..2 {
        let r = emu.patch(&url, &token, json!({"LastName": "Second"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body,
            json!({"id": id, "success": true, "errors": [], "created": false})
        );
    }
    let r = emu
        .query(
            &token,
            "SELECT Id, LastName FROM Contact WHERE Contactsync_Key__c = 'USER1-ABC'",
        )
        .await;
    assert_eq!(
        r.body["totalSize"], 1,
        "one record whatever the retries: {}",
        r.text
    );
    assert_eq!(r.body["records"][0]["LastName"], "Second");
    // Before v46.0 an update answers 204 without a body.
    let r = emu
        .patch(
            &url.replace(V, "v45.0"),
            &token,
            json!({"LastName": "Third"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // updateOnly never creates.
    let r = emu
        .patch(
            &format!(
                "{}?updateOnly=true",
                path("Contact/Contactsync_Key__c/missing")
            ),
            &token,
            json!({"LastName": "X"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The unique field refuses a second record with the same value.
    let r = emu
        .post(
            &path("Contact"),
            &token,
            json!({"LastName": "Dup", "Contactsync_Key__c": "user1-abc"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body[0]["errorCode"], "DUPLICATE_VALUE");
    // Unknown external id field.
    let r = emu
        .patch(&path("Contact/Namez/x"), &token, json!({"LastName": "X"}))
        .await;
    assert_eq!(
        r.body,
        json!([{"message": "Provided external ID field does not exist or is not accessible: Namez", "errorCode": "NOT_FOUND"}])
    );
}

#[tokio::test]
async fn upsert_matching_several_records_answers_300() {
    let emu = start().await;
    let (_, token) = emu.login("m@example.com").await;
    emu.seed(
        "Contact",
        "m@example.com",
        vec![
            json!({"LastName": "A", "Email": "same@example.com"}),
            json!({"LastName": "B", "Email": "SAME@example.com"}),
        ],
    )
    .await;
    let r = emu
        .patch(
            &path("Contact/Email/same@example.com"),
            &token,
            json!({"Title": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES, "{}", r.text);
    let urls = r.body.as_array().expect("array of urls");
    assert_eq!(urls.len(), 2);
    assert!(
        urls[0]
            .as_str()
            .is_some_and(|u| u.starts_with(&format!("/services/data/{V}/sobjects/Contact/003")))
    );
}

#[tokio::test]
async fn conditional_requests_use_http_dates() {
    let emu = start().await;
    let (_, token) = emu.login("c@example.com").await;
    let r = emu
        .post(&path("Contact"), &token, json!({"LastName": "Cond"}))
        .await;
    let id = r.body["id"].as_str().expect("id").to_string();
    let url = path(&format!("Contact/{id}"));
    let future = "Tue, 10 Aug 2100 00:00:00 GMT";
    let past = "Tue, 10 Aug 2015 00:00:00 GMT";
    let r = emu
        .send(
            Method::GET,
            &url,
            Some(&token),
            None,
            &[("If-Modified-Since", future)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = emu
        .send(
            Method::GET,
            &url,
            Some(&token),
            None,
            &[("If-Modified-Since", past)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = emu
        .send(
            Method::PATCH,
            &url,
            Some(&token),
            Some(json!({"Title": "x"})),
            &[("If-Unmodified-Since", past)],
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.text);
    let r = emu
        .send(
            Method::PATCH,
            &url,
            Some(&token),
            Some(json!({"Title": "x"})),
            &[("If-Unmodified-Since", future)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = emu
        .send(
            Method::PATCH,
            &url,
            Some(&token),
            Some(json!({"Title": "x"})),
            &[("If-Unmodified-Since", "yesterday")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // DELETE ignores conditional headers.
    let r = emu
        .send(
            Method::DELETE,
            &url,
            Some(&token),
            None,
            &[("If-Unmodified-Since", past)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn get_updated_and_get_deleted_follow_their_windows() {
    let emu = start().await;
    let (_, token) = emu.login("rep@example.com").await;
    let start = chrono::Utc::now() - chrono::Duration::minutes(2);
    let ids = emu
        .seed(
            "Contact",
            "rep@example.com",
            vec![json!({"LastName": "U1"}), json!({"LastName": "U2"})],
        )
        .await;
    emu.delete(&path(&format!("Contact/{}", ids[1])), &token)
        .await;
    emu.advance_clock(120.0).await;
    let fmt = |t: chrono::DateTime<chrono::Utc>| {
        url_encode(&t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
    };
    let end = chrono::Utc::now() + chrono::Duration::minutes(5);
    let r = emu
        .get(
            &format!(
                "{}?start={}&end={}",
                path("Contact/updated/"),
                fmt(start),
                fmt(end)
            ),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["ids"],
        json!([ids[0]]),
        "deleted records are not 'updated': {}",
        r.text
    );
    let latest = r.body["latestDateCovered"]
        .as_str()
        .expect("latestDateCovered");
    assert!(
        latest.ends_with(":00.000+0000"),
        "minute granularity: {latest}"
    );
    let r = emu
        .get(
            &format!(
                "{}?start={}&end={}",
                path("Contact/deleted/"),
                fmt(start),
                fmt(end)
            ),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["deletedRecords"][0]["id"], ids[1].as_str());
    assert!(r.body["earliestDateAvailable"].as_str().is_some());
    // start must precede end by a minute; the window reaches back 30 (updated) / 15 (deleted) days.
    let r = emu
        .get(
            &format!(
                "{}?start={}&end={}",
                path("Contact/updated/"),
                fmt(end),
                fmt(end)
            ),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body[0]["errorCode"], "INVALID_REPLICATION_DATE");
    let old = chrono::Utc::now() - chrono::Duration::days(20);
    let r = emu
        .get(
            &format!(
                "{}?start={}&end={}",
                path("Contact/deleted/"),
                fmt(old),
                fmt(end)
            ),
            &token,
        )
        .await;
    assert_eq!(r.body[0]["errorCode"], "INVALID_REPLICATION_DATE");
    let r = emu
        .get(
            &format!(
                "{}?start={}&end={}",
                path("Contact/updated/"),
                fmt(old),
                fmt(end)
            ),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn accounts_carry_etags_and_honour_if_match() {
    let emu = start().await;
    let (_, token) = emu.login("etag@example.com").await;
    let r = emu
        .post(&path("Account"), &token, json!({"Name": "Tagged"}))
        .await;
    let id = r.body["id"].as_str().expect("id").to_string();
    let url = path(&format!("Account/{id}"));
    let r = emu.get(&url, &token).await;
    let tag = r
        .headers
        .get("ETag")
        .and_then(|v| v.to_str().ok())
        .expect("Account reads carry an ETag")
        .to_string();
    assert!(tag.starts_with('"') && tag.ends_with("-gzip\""), "{tag}");
    let r = emu
        .send(
            Method::GET,
            &url,
            Some(&token),
            None,
            &[("If-None-Match", &tag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = emu
        .send(
            Method::PATCH,
            &url,
            Some(&token),
            Some(json!({"Phone": "1"})),
            &[("If-Match", "\"stale-gzip\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = emu
        .send(
            Method::PATCH,
            &url,
            Some(&token),
            Some(json!({"Phone": "1"})),
            &[("If-Match", &tag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = emu.get(&url, &token).await;
    assert_ne!(
        r.headers.get("ETag").and_then(|v| v.to_str().ok()),
        Some(tag.as_str()),
        "a write changes the ETag"
    );
    // Contacts have no ETag.
    let c = emu
        .post(&path("Contact"), &token, json!({"LastName": "NoTag"}))
        .await;
    let r = emu
        .get(
            &path(&format!("Contact/{}", c.body["id"].as_str().expect("id"))),
            &token,
        )
        .await;
    assert!(r.headers.get("ETag").is_none());
}

#[tokio::test]
async fn unconfirmed_statuses_and_recycle_bin_reads_are_knobs() {
    use salesforce_emulator::{Config, DeletedRowGet, ErrorStatuses};
    let config = Config {
        deleted_row_get: DeletedRowGet::NotFound,
        error_statuses: ErrorStatuses {
            entity_is_deleted: 410,
            ..ErrorStatuses::default()
        },
        ..Config::default()
    };
    let emu = start_with(config).await;
    let (_, token) = emu.login("knobs@example.com").await;
    let id = emu
        .seed(
            "Contact",
            "knobs@example.com",
            vec![json!({"LastName": "Gone"})],
        )
        .await
        .remove(0);
    emu.delete(&path(&format!("Contact/{id}")), &token).await;
    let r = emu.get(&path(&format!("Contact/{id}")), &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body[0]["errorCode"], "NOT_FOUND");
    let r = emu
        .patch(
            &path(&format!("Contact/{id}")),
            &token,
            json!({"Title": "x"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 410);
    assert_eq!(r.body[0]["errorCode"], "ENTITY_IS_DELETED");
}

#[tokio::test]
async fn the_write_log_records_rest_writes_with_their_time_only_while_it_is_on() {
    let emu = start().await;
    let (user, token) = emu.login("log@example.com").await;
    let before_on = emu
        .post(&path("Contact"), &token, json!({"LastName": "Early"}))
        .await;
    assert_eq!(before_on.status, StatusCode::CREATED, "{}", before_on.text);
    let on = emu
        .control(Method::POST, "/write-log", Some(json!({"enabled": true})))
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        * 1000.0;
    let created = emu
        .post(&path("Contact"), &token, json!({"LastName": "Logged"}))
        .await;
    let id = created.body["id"].as_str().expect("id").to_string();
    let updated = emu
        .patch(
            &path(&format!("Contact/{id}")),
            &token,
            json!({"LastName": "Later"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::NO_CONTENT, "{}", updated.text);
    // Control-API writes are not the REST API's.
    emu.seed("Contact", &user, vec![json!({"LastName": "Seeded"})])
        .await;

    let log = emu.control(Method::GET, "/write-log", None).await.body;
    assert_eq!(log["enabled"], true);
    let writes = log["writes"].as_array().expect("writes");
    assert_eq!(writes.len(), 2, "the create and the update: {log}");
    for write in writes {
        assert_eq!(write["Id"], id.as_str());
        assert_eq!(write["sobject"], "Contact");
        let at = write["at_ms"].as_f64().expect("at_ms");
        assert!(at >= started_ms.floor(), "{at} is before {started_ms}");
    }
    assert!(writes[0]["at_ms"].as_f64() <= writes[1]["at_ms"].as_f64());

    let off = emu
        .control(Method::POST, "/write-log", Some(json!({"enabled": false})))
        .await;
    assert_eq!(off.status, StatusCode::OK);
    emu.post(&path("Contact"), &token, json!({"LastName": "Unlogged"}))
        .await;
    let log = emu.control(Method::GET, "/write-log", None).await.body;
    assert_eq!(log, json!({"enabled": false, "writes": []}));
}
