//! 100,000 Contacts: selective queries are answered from indexes (checked through the
//! evaluator's plan) and page correctly over HTTP. No timings: speed is the benchmark's job.

mod common;

use chrono::Utc;
use common::*;
use salesforce_emulator::schema::ObjectType;
use salesforce_emulator::soql::{Plan, eval, parser};
use salesforce_emulator::store::{Actor, Org};
use salesforce_emulator::value::Value;
use serde_json::json;

fn org_with(n: usize) -> (Org, Vec<String>) {
    let mut org = Org::new("Dn", 1);
    let users: Vec<String> = (0..10)
        .map(|i| {
            let d = ObjectType::User.def();
            let r = org.apply_create(
                ObjectType::User,
                vec![(d.must("Username"), Value::text(format!("u{i}@example.com")))],
                &Actor {
                    user_id: "005Dn0000000000AAA".into(),
                },
                Utc::now(),
            );
            org.table(ObjectType::User).id(r).to_string()
        })
        .collect();
    let a = ObjectType::Account.def();
    let acme = org.apply_create(
        ObjectType::Account,
        vec![(a.must("Name"), Value::text("Acme"))],
        &Actor {
            user_id: users[0].clone(),
        },
        Utc::now(),
    );
    let acme_id = org.table(ObjectType::Account).id(acme).to_string();
    let c = ObjectType::Contact.def();
    for i in 0..n {
        let mut fields = vec![
            (c.must("LastName"), Value::text(format!("Contact{i}"))),
            (
                c.must("Contactsync_Key__c"),
                Value::text(format!("key-{i}")),
            ),
        ];
        if i % 1000 == 0 {
            fields.push((c.must("AccountId"), Value::text(acme_id.as_str())));
        }
        org.apply_create(
            ObjectType::Contact,
            fields,
            &Actor {
                user_id: users[i % 10].clone(),
            },
            Utc::now(),
        );
    }
    (org, users)
}

#[test]
fn selective_queries_on_100k_contacts_use_an_index() {
    let (org, users) = org_with(100_000);
    let now = Utc::now();
    let cases = [
        (
            format!(
                "SELECT Id FROM Contact WHERE OwnerId = '{}' AND SystemModstamp >= 2020-01-01T00:00:00Z",
                users[3]
            ),
            10_000,
            "OwnerId",
        ),
        (
            "SELECT Id FROM Contact WHERE Contactsync_Key__c IN ('key-5', 'KEY-77', 'nope')"
                .to_string(),
            2,
            "Contactsync_Key__c",
        ),
        (
            "SELECT Id, Account.Name FROM Contact WHERE Account.Name = 'ACME'".to_string(),
            100,
            "Account.Name",
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp = 2999-01-01T00:00:00Z".to_string(),
            0,
            "SystemModstamp range",
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp > 2999-01-01T00:00:00Z".to_string(),
            0,
            "SystemModstamp range",
        ),
    ];
    for (q, expected, index) in cases {
        let parsed = parser::parse(&q, now).expect("parses");
        let run = eval::run(&org, &parsed, &users[0], false);
        assert_eq!(run.rows.len(), expected, "{q}");
        assert_eq!(run.plan, Plan::Index(index.to_string()), "{q}");
    }
    let parsed =
        parser::parse("SELECT Id FROM Contact WHERE LastName = 'contact42'", now).expect("parses");
    let run = eval::run(&org, &parsed, &users[0], false);
    assert_eq!(run.rows.len(), 1);
    assert_eq!(run.plan, Plan::FullScan, "LastName has no index");
}

#[tokio::test]
async fn selective_query_pages_through_a_100k_contact_org() {
    let emu = start().await;
    let (_, token) = emu.login("big@example.com").await;
    let other = emu.user("other@example.com").await;
    for chunk in 0..10 {
        let owner = if chunk == 4 {
            "big@example.com".to_string()
        } else {
            other.clone()
        };
        let rows: Vec<_> = (0..10_000)
            .map(|i| json!({"LastName": format!("C{chunk}-{i}")}))
            .collect();
        emu.seed("Contact", &owner, rows).await;
    }
    let all = emu.query(&token, "SELECT COUNT() FROM Contact").await;
    assert_eq!(all.body["totalSize"], 100_000);
    let mut r = emu
        .query(
            &token,
            "SELECT Id, LastName FROM Contact WHERE OwnerId IN (SELECT Id FROM User)",
        )
        .await;
    assert_eq!(
        r.status,
        reqwest::StatusCode::BAD_REQUEST,
        "semi-joins are refused, not silently widened"
    );
    r = emu.query(&token, "SELECT Id, LastName, SystemModstamp FROM Contact USING SCOPE mine WHERE SystemModstamp >= 2020-01-01T00:00:00Z ORDER BY SystemModstamp, Id").await;
    let mut got = 0;
    loop {
        assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["totalSize"], 10_000);
        for rec in r.body["records"].as_array().expect("records") {
            assert!(
                rec["LastName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("C4-"))
            );
            got += 1;
        }
        if r.body["done"] == true {
            break;
        }
        let next = r.body["nextRecordsUrl"].as_str().expect("next").to_string();
        r = emu.get(&next, &token).await;
    }
    assert_eq!(got, 10_000);
}
