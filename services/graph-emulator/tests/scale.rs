//! Scale: 10,000 contacts in one mailbox among 2,000 mailboxes. Correctness at the far end of
//! the data (last page by `$skip`, a filter hit, a whole delta round); speed is the benchmark's
//! business, not a timed test's (SPEC §5).

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PROP: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SalesforceId";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_contacts_among_two_thousand_mailboxes_page_filter_and_delta_correctly() {
    let emu = Emu::start().await;
    for i in 0..2000 {
        let r = emu
            .control(
                Method::POST,
                "/_emulator/mailboxes",
                json!({"id": format!("user-{i:04}"), "userPrincipalName": format!("user{i}@contoso.com")}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let big = "user-1234";
    for chunk in 0..10 {
        let contacts: Vec<Value> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                json!({
                    "surname": format!("S{n:05}"),
                    "singleValueExtendedProperties": [{"id": PROP, "value": format!("003{n:015}")}]
                })
            })
            .collect();
        emu.seed(big, "contacts", contacts).await;
    }

    let last = emu
        .get(&format!(
            "/v1.0/users/{big}/contacts?$skip=9995&$select=surname"
        ))
        .await;
    let surnames: Vec<&str> = last.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|c| c["surname"].as_str())
        .collect();
    assert_eq!(
        surnames,
        vec!["S09995", "S09996", "S09997", "S09998", "S09999"]
    );
    assert!(last.body.get("@odata.nextLink").is_none());

    let filter = format!(
        "singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq '003{:015}')",
        7777
    );
    let hit = emu
        .get(&format!(
            "/v1.0/users/user7@contoso.com/contacts?$filter={}",
            enc(&filter)
        ))
        .await;
    assert_eq!(
        hit.body["value"],
        json!([]),
        "another mailbox has no such contact"
    );
    let hit = emu
        .get(&format!(
            "/v1.0/users/{big}/contacts?$filter={}",
            enc(&filter)
        ))
        .await;
    assert_eq!(hit.body["value"][0]["surname"], "S07777");

    let mut url = format!("/v1.0/users/{big}/contacts/delta?$select=surname");
    let mut seen = HashSet::new();
    let mut pages = 0;
    loop {
        let r = emu
            .call_with(
                Method::GET,
                &url,
                None,
                &[("Prefer", "odata.maxpagesize=1000")],
            )
            .await;
        assert_eq!(r.status, 200);
        pages += 1;
        for c in r.body["value"].as_array().expect("value") {
            seen.insert(c["id"].as_str().expect("id").to_owned());
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10_000);
    assert_eq!(pages, 10);
    let other = emu.get("/v1.0/users/user-0001/contacts").await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body["value"], json!([]));
}
