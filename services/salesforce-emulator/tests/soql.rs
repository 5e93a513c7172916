//! SOQL over HTTP (contract §2): parser coverage, escapes, injection attempts, case rules,
//! relationship fields, ordering, paging with nextRecordsUrl, queryAll, and error bodies.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An org with two owners, three accounts and a handful of contacts.
async fn org() -> (Emu, String, String, String) {
    let emu = start().await;
    let (alice, token) = emu.login("alice@example.com").await;
    let bob = emu.user("bob@example.com").await;
    let accounts = emu
        .seed(
            "Account",
            "alice@example.com",
            vec![
                json!({"Name": "Acme"}),
                json!({"Name": "ACME Corp"}),
                json!({"Name": "O'Brien & Sons \\ Co"}),
            ],
        )
        .await;
    emu.seed(
        "Contact",
        "alice@example.com",
        vec![
            json!({"LastName": "Smith", "FirstName": "John", "Email": "john@acme.example.com", "AccountId": accounts[0], "Birthdate": "1980-03-15"}),
            json!({"LastName": "smith", "FirstName": "Jane", "AccountId": accounts[1]}),
            json!({"LastName": "O'Brien", "Title": "50% off_deals", "AccountId": accounts[2]}),
            json!({"LastName": "Zed", "Title": "500 offXdeals"}),
        ],
    )
    .await;
    emu.seed(
        "Contact",
        &bob,
        vec![json!({"LastName": "Bobson", "Email": "b@x.example.com"})],
    )
    .await;
    (emu, token, alice, bob)
}

fn names(body: &Value) -> Vec<String> {
    body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["LastName"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn equality_is_case_insensitive_and_records_have_attributes() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(
            &token,
            "SELECT Id, LastName FROM Contact WHERE LastName = 'SMITH' ORDER BY FirstName",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totalSize"], 2);
    assert_eq!(r.body["done"], true);
    assert!(r.body.get("nextRecordsUrl").is_none());
    let rec = &r.body["records"][0];
    assert_eq!(rec["attributes"]["type"], "Contact");
    let id = rec["Id"].as_str().expect("Id");
    assert_eq!(id.len(), 18);
    assert_eq!(
        rec["attributes"]["url"],
        format!("/services/data/{V}/sobjects/Contact/{id}").as_str()
    );
    // Keys come back in canonical casing, attributes first.
    assert!(r.text.contains("{\"attributes\":"), "{}", r.text);
    let r = emu
        .query(
            &token,
            "select id, lastname from contact where lastname = 'smith'",
        )
        .await;
    assert_eq!(r.body["totalSize"], 2);
    assert!(r.body["records"][0].get("LastName").is_some());
}

#[tokio::test]
async fn parent_relationship_fields_come_back_nested() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(&token, "SELECT LastName, Account.Name, Owner.Username FROM Contact WHERE Account.Name = 'acme' ")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totalSize"], 1);
    let rec = &r.body["records"][0];
    assert_eq!(rec["Account"]["Name"], "Acme");
    assert_eq!(rec["Account"]["attributes"]["type"], "Account");
    assert_eq!(rec["Owner"]["Username"], "alice@example.com");
    let r = emu
        .query(
            &token,
            "SELECT LastName, Account.Name FROM Contact WHERE LastName = 'Zed'",
        )
        .await;
    assert_eq!(r.body["records"][0]["Account"], Value::Null);
}

#[tokio::test]
async fn string_escapes_and_injection_attempts_stay_literal() {
    let (emu, token, _, _) = org().await;
    // The account name contains a quote, an ampersand and a backslash.
    let r = emu
        .query(
            &token,
            r"SELECT Name FROM Account WHERE Name = 'O\'Brien & Sons \\ Co'",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totalSize"], 1);
    // A classic injection, correctly escaped by the caller, is just a string that matches nothing.
    let r = emu
        .query(
            &token,
            r"SELECT Name FROM Account WHERE Name = 'x\' OR Name != \'y'",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totalSize"], 0);
    // The same injection unescaped is a syntax error, never a wider result.
    let r = emu
        .query(
            &token,
            "SELECT Name FROM Account WHERE Name = 'x' OR Name != 'y''",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body[0]["errorCode"], "MALFORMED_QUERY");
    // An unknown escape is an error too.
    let r = emu
        .query(&token, r"SELECT Name FROM Account WHERE Name = 'a\qb'")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body[0]["errorCode"], "MALFORMED_QUERY");
}

#[tokio::test]
async fn like_is_case_insensitive_and_escaped_wildcards_are_literal() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(
            &token,
            "SELECT Name FROM Account WHERE Name LIKE 'acme%' ORDER BY Name",
        )
        .await;
    assert_eq!(r.body["totalSize"], 2, "{}", r.text);
    let r = emu
        .query(
            &token,
            r"SELECT LastName FROM Contact WHERE Title LIKE '50\% off\_%'",
        )
        .await;
    assert_eq!(names(&r.body), vec!["O'Brien"], "{}", r.text);
    let r = emu
        .query(
            &token,
            "SELECT LastName FROM Contact WHERE Title LIKE '50% off_deals' ORDER BY LastName",
        )
        .await;
    assert_eq!(
        names(&r.body),
        vec!["O'Brien", "Zed"],
        "unescaped wildcards match both: {}",
        r.text
    );
}

#[tokio::test]
async fn boolean_logic_in_null_and_not_in() {
    let (emu, token, _, bob) = org().await;
    let q = format!(
        "SELECT LastName FROM Contact WHERE (Email = null AND NOT LastName = 'Zed') OR OwnerId = '{bob}' ORDER BY LastName DESC"
    );
    let r = emu.query(&token, &q).await;
    assert_eq!(
        names(&r.body),
        vec!["smith", "O'Brien", "Bobson"],
        "{}",
        r.text
    );
    let r = emu
        .query(
            &token,
            "SELECT LastName FROM Contact WHERE LastName IN ('zed', 'BOBSON') ORDER BY LastName",
        )
        .await;
    assert_eq!(names(&r.body), vec!["Bobson", "Zed"]);
    let r = emu.query(&token, "SELECT LastName FROM Contact WHERE LastName NOT IN ('zed', 'BOBSON', 'smith') ORDER BY LastName").await;
    assert_eq!(names(&r.body), vec!["O'Brien"]);
    // `!=` matches nulls in SOQL.
    let r = emu
        .query(
            &token,
            "SELECT LastName FROM Contact WHERE Email != 'john@acme.example.com'",
        )
        .await;
    assert_eq!(r.body["totalSize"], 4);
    // Mixing AND and OR without parentheses is a syntax error in SOQL.
    let r = emu
        .query(
            &token,
            "SELECT Id FROM Contact WHERE LastName = 'a' AND FirstName = 'b' OR Email = null",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body[0]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("unexpected token: 'OR'")),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn ordering_nulls_limit_offset_and_count() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(
            &token,
            "SELECT LastName FROM Contact ORDER BY Email ASC NULLS LAST, LastName LIMIT 3",
        )
        .await;
    assert_eq!(
        names(&r.body),
        vec!["Bobson", "Smith", "O'Brien"],
        "{}",
        r.text
    );
    let r = emu.query(&token, "SELECT LastName FROM Contact ORDER BY Email DESC NULLS FIRST, LastName ASC LIMIT 2 OFFSET 1").await;
    assert_eq!(names(&r.body), vec!["smith", "Zed"], "{}", r.text);
    let r = emu
        .query(
            &token,
            "SELECT COUNT() FROM Contact WHERE LastName LIKE 's%'",
        )
        .await;
    assert_eq!(r.body, json!({"totalSize": 2, "done": true, "records": []}));
    let r = emu
        .query(&token, "SELECT Id FROM Contact OFFSET 2001")
        .await;
    assert_eq!(r.body[0]["errorCode"], "NUMBER_OUTSIDE_VALID_RANGE");
}

#[tokio::test]
async fn datetime_literals_are_unquoted_and_typed() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(
            &token,
            "SELECT Id FROM Contact WHERE SystemModstamp >= 2020-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(r.body["totalSize"], 5, "{}", r.text);
    let r = emu.query(&token, "SELECT Id FROM Contact WHERE SystemModstamp > 2020-01-01T00:00:00.000+02:00 AND CreatedDate = TODAY").await;
    assert_eq!(r.body["totalSize"], 5, "{}", r.text);
    let r = emu
        .query(
            &token,
            "SELECT Id FROM Contact WHERE CreatedDate < LAST_N_DAYS:3",
        )
        .await;
    assert_eq!(r.body["totalSize"], 0, "{}", r.text);
    let r = emu
        .query(
            &token,
            "SELECT Id FROM Contact WHERE CreatedDate > '2020-01-01T00:00:00Z'",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body[0]["errorCode"], "INVALID_FIELD");
    assert!(r.body[0]["message"].as_str().is_some_and(|m| {
        m.contains("must be of type dateTime and should not be enclosed in quotes")
    }));
    // Birthdate filters ignore the year.
    let r = emu
        .query(
            &token,
            "SELECT LastName FROM Contact WHERE Birthdate = 2001-03-15",
        )
        .await;
    assert_eq!(names(&r.body), vec!["Smith"], "{}", r.text);
}

#[tokio::test]
async fn errors_have_the_real_bodies() {
    let (emu, token, _, _) = org().await;
    let r = emu.query(&token, "invalid").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!([{"message": "unexpected token: 'invalid'", "errorCode": "MALFORMED_QUERY"}])
    );
    let r = emu.query(&token, "SELECT Foo FROM Contact").await;
    assert_eq!(r.body[0]["errorCode"], "INVALID_FIELD");
    let msg = r.body[0]["message"].as_str().expect("message");
    assert!(msg.starts_with("\nSELECT Foo FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity 'Contact'"), "{msg:?}");
    assert!(r.body[0].get("fields").is_none());
    let r = emu
        .query(&token, "SELECT Id FROM Contact WHERE Description = 'x'")
        .await;
    assert!(r.body[0]["message"].as_str().is_some_and(|m| m.ends_with("field 'Description' can not be filtered in a query call")));
    let r = emu.query(&token, "SELECT Id FROM Widget__c").await;
    assert_eq!(r.body[0]["errorCode"], "INVALID_TYPE");
    let r = emu
        .query(&token, "SELECT Id FROM Contact WHERE Id = 'nope'")
        .await;
    assert_eq!(r.body[0]["errorCode"], "INVALID_QUERY_FILTER_OPERATOR");
    let r = emu
        .query(&token, "SELECT Id FROM Contact WHERE Name = \"double\"")
        .await;
    assert_eq!(r.body[0]["errorCode"], "MALFORMED_QUERY");
}

#[tokio::test]
async fn paging_across_ten_thousand_rows_with_batch_size() {
    let emu = start().await;
    let (_, token) = emu.login("pager@example.com").await;
    let records: Vec<Value> = (0..10_000)
        .map(|i| json!({"LastName": format!("Row{i:05}")}))
        .collect();
    emu.seed("Contact", "pager@example.com", records).await;
    let mut seen = Vec::new();
    let q = url_encode("SELECT Id, LastName FROM Contact ORDER BY LastName");
    let mut r = emu
        .send(
            reqwest::Method::GET,
            &format!("/services/data/{V}/query/?q={q}"),
            Some(&token),
            None,
            &[("Sforce-Query-Options", "batchSize=1000")],
        )
        .await;
    let mut pages = 0;
    loop {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body["totalSize"], 10_000,
            "totalSize is the full count on every page"
        );
        pages += 1;
        seen.extend(names(&r.body));
        if r.body["done"] == true {
            break;
        }
        let next = r.body["nextRecordsUrl"]
            .as_str()
            .expect("nextRecordsUrl")
            .to_string();
        assert!(
            next.starts_with(&format!("/services/data/{V}/query/01g")),
            "{next}"
        );
        r = emu.get(&next, &token).await;
    }
    assert_eq!(pages, 10);
    let expected: Vec<String> = (0..10_000).map(|i| format!("Row{i:05}")).collect();
    assert_eq!(seen, expected);
    // Default batch is 2,000.
    let r = emu.query(&token, "SELECT Id FROM Contact").await;
    assert_eq!(r.body["records"].as_array().map(Vec::len), Some(2000));
    let r = emu
        .get(&format!("/services/data/{V}/query/01gbogus-2000"), &token)
        .await;
    assert_eq!(r.body[0]["errorCode"], "INVALID_QUERY_LOCATOR");
}

#[tokio::test]
async fn query_all_includes_deleted_rows() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(&token, "SELECT Id FROM Contact WHERE LastName = 'Zed'")
        .await;
    let id = r.body["records"][0]["Id"].as_str().expect("id").to_string();
    assert_eq!(
        emu.delete(&format!("/services/data/{V}/sobjects/Contact/{id}"), &token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = emu
        .query(&token, "SELECT Id FROM Contact WHERE LastName = 'Zed'")
        .await;
    assert_eq!(r.body["totalSize"], 0);
    let q = url_encode("SELECT Id, IsDeleted FROM Contact WHERE LastName = 'Zed'");
    let r = emu
        .get(&format!("/services/data/{V}/queryAll?q={q}"), &token)
        .await;
    assert_eq!(r.body["totalSize"], 1, "{}", r.text);
    assert_eq!(r.body["records"][0]["IsDeleted"], true);
    // The control API shows every row, deleted ones included, without counting as traffic.
    let before = emu
        .control(reqwest::Method::GET, "/requests", None)
        .await
        .body["http_requests"]
        .clone();
    let all = emu
        .control(reqwest::Method::GET, "/sobjects/Contact", None)
        .await;
    assert_eq!(all.body["totalSize"], 5);
    let deleted: Vec<&Value> = all.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["IsDeleted"] == true)
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["Id"], id.as_str());
    let after = emu
        .control(reqwest::Method::GET, "/requests", None)
        .await
        .body["http_requests"]
        .clone();
    assert_eq!(before, after);
}

#[tokio::test]
async fn using_scope_mine_returns_the_callers_records() {
    let (emu, _, _, _) = org().await;
    let bob_token = emu.token("bob@example.com").await;
    let r = emu
        .query(&bob_token, "SELECT LastName FROM Contact USING SCOPE mine")
        .await;
    assert_eq!(names(&r.body), vec!["Bobson"], "{}", r.text);
}

#[tokio::test]
async fn fields_function_expands_and_needs_a_limit_for_all() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(
            &token,
            "SELECT FIELDS(STANDARD) FROM Contact WHERE LastName = 'Zed'",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rec = &r.body["records"][0];
    assert_eq!(rec["Title"], "500 offXdeals");
    assert!(
        rec.get("Contactsync_Key__c").is_none(),
        "custom fields are not standard"
    );
    let r = emu.query(&token, "SELECT FIELDS(ALL) FROM Contact").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body[0]["message"].as_str().is_some_and(
            |m| m.ends_with("The SOQL FIELDS function must have a LIMIT of at most 200")
        )
    );
    let r = emu
        .query(&token, "SELECT FIELDS(ALL) FROM Contact LIMIT 200")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["records"][0].get("Contactsync_Key__c").is_some());
}

#[tokio::test]
async fn object_aliases_prefix_paths() {
    let (emu, token, _, _) = org().await;
    let r = emu
        .query(&token, "SELECT c.LastName, c.Account.Name FROM Contact c WHERE c.Account.Name = 'Acme' ORDER BY c.LastName")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r.body), vec!["Smith"]);
    assert_eq!(r.body["records"][0]["Account"]["Name"], "Acme");
}
