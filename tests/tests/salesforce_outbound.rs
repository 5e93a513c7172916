//! B3: Salesforce Outbound Messages are routed only by the ids they carry (the owner a
//! notification names, the users linked to its Contact), treated as hints coalesced per user,
//! and one request (unauthenticated: the Organization id is public) starts a bounded number of
//! sessions.

use contactsync_e2e::{Options, Stack, TestUser};
use serde_json::json;

const ORG_ID: &str = salesforce_emulator::config::DEFAULT_ORG_ID;

/// An Outbound Message of Contact notifications `(Contact id, OwnerId)`, as Salesforce sends it.
fn outbound(notifications: &[(&str, Option<&str>)]) -> String {
    let mut items = String::new();
    for (i, (contact, owner)) in notifications.iter().enumerate() {
        let owner = owner
            .map(|o| format!("<sf:OwnerId>{o}</sf:OwnerId>"))
            .unwrap_or_default();
        items.push_str(&format!(
            "<Notification><Id>04l0000000000{i:02}AAA</Id>\
             <sObject xsi:type=\"sf:Contact\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\
             <sf:Id>{contact}</sf:Id>{owner}<sf:LastName>Hint</sf:LastName></sObject></Notification>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>\
         <notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">\
         <OrganizationId>{ORG_ID}</OrganizationId><ActionId>04k000000000001AAA</ActionId>\
         <SessionId xsi:nil=\"true\"/>{items}</notifications></soapenv:Body></soapenv:Envelope>"
    )
}

/// Posts an Outbound Message to the gateway; asserts it was acknowledged.
async fn deliver(stack: &Stack, xml: String) {
    let response = stack
        .http
        .post(format!("{}/webhooks/salesforce", stack.gateway_url))
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"\"")
        .body(xml)
        .send()
        .await
        .expect("webhook");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<Ack>true</Ack>"), "{text}");
}

/// The sessions Outbound Messages started, per user (sorted by user id).
async fn notified(stack: &Stack) -> Vec<(String, i64)> {
    let client = stack.pool.get().await.expect("db");
    client
        .query(
            "SELECT user_id, count(*) FROM sync_sessions WHERE trigger = 'notification'
             GROUP BY user_id ORDER BY user_id",
            &[],
        )
        .await
        .expect("sessions")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_an_outbound_message_reaches_only_the_users_its_ids_name_once_each() {
    let stack = Stack::start().await.expect("stack");
    let ann = stack.add_user("ann", json!({})).await.expect("ann");
    let ben = stack.add_user("ben", json!({})).await.expect("ben");
    let cal = stack
        .add_user("cal", json!({"scope": "all"}))
        .await
        .expect("cal");
    let linked = stack
        .create_in_salesforce(&ann, json!({"LastName": "Linked"}))
        .await
        .expect("contact");
    stack.sync(&ann).await.expect("ann's session links it");
    assert!(notified(&stack).await.is_empty());

    // No OwnerId in any notification (the message does not select it), the same Contact twice,
    // and a Contact nobody is linked to: only ann is named, and once.
    deliver(
        &stack,
        outbound(&[
            (&linked, None),
            (&linked, None),
            ("003xx0000000Z9ZAAA", None),
        ]),
    )
    .await;
    assert_eq!(notified(&stack).await, vec![("ann".to_owned(), 1)]);

    // An owner named by its 15-character form reaches that user (B15), and no one else.
    deliver(
        &stack,
        outbound(&[("003xx0000000Z8ZAAA", Some(&ben.salesforce_user_id[..15]))]),
    )
    .await;
    assert_eq!(
        notified(&stack).await,
        vec![("ann".to_owned(), 1), ("ben".to_owned(), 1)],
        "cal (scope all) hears of nothing its ids do not name"
    );
    for user in [&ann, &ben, &cal] {
        stack.settle(user).await.expect("settle");
    }
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_one_outbound_message_starts_at_most_the_configured_number_of_sessions() {
    let stack = Stack::start_with(Options {
        env: vec![("SALESFORCE_WEBHOOK_MAX_SESSIONS".into(), "2".into())],
        ..Options::default()
    })
    .await
    .expect("stack");
    let mut users: Vec<TestUser> = Vec::new();
    for id in ["u1", "u2", "u3", "u4"] {
        users.push(stack.add_user(id, json!({})).await.expect("user"));
    }
    let contacts: Vec<String> = (0..4).map(|i| format!("003xx00000000{i:02}AAA")).collect();
    let notifications: Vec<(&str, Option<&str>)> = contacts
        .iter()
        .zip(&users)
        .map(|(c, u)| (c.as_str(), Some(u.salesforce_user_id.as_str())))
        .collect();
    deliver(&stack, outbound(&notifications)).await;
    let started = notified(&stack).await;
    assert_eq!(started.len(), 2, "bounded: {started:?}");
    assert!(started.iter().all(|(_, n)| *n == 1), "{started:?}");
    for user in &users {
        stack.settle(user).await.expect("settle");
    }
    stack.stop().await.expect("stop");
}
