//! The webhooks over real HTTP: Graph's validation handshake and clientState check, Salesforce
//! Outbound Messages with the Organization check, the audience and the `<Ack>` (B3).

mod common;

use common::{SF_ORG_ID, Stack, eventually, start};
use reqwest::Method;
use serde_json::json;
use sync_core::Scope;

const LOGIN: &str = "https://login.salesforce.example";
const ALICE_SF: &str = "005xx000001SvbQAAS";
const BOB_SF: &str = "005xx000001SvbRAAS";

async fn store_subscription(stack: &Stack, id: &str, user_id: &str, client_state: &str) {
    let client = stack.db.pool.get().await.expect("db");
    sync_state::subscriptions::store(
        &**client,
        id,
        user_id,
        "/users/alice%40example.com/contactFolders/F1/contacts",
        client_state,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .await
    .expect("stored");
}

fn notification(subscription: &str, client_state: &str) -> serde_json::Value {
    json!({
        "subscriptionId": subscription,
        "clientState": client_state,
        "changeType": "updated",
        "resource": "Users/alice/contactFolders/F1/contacts/AAMk=",
        "tenantId": "t1",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Contact", "id": "AAMk="},
    })
}

#[tokio::test]
async fn the_graph_validation_handshake_echoes_the_token_as_plain_text() {
    let stack = start().await;
    let token = "Validation: Testing client application reachability <&> Request-Id: 42";
    let url = format!(
        "{}/webhooks/graph?validationToken={}",
        stack.base,
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    let resp = common::read(
        stack
            .http
            .post(url)
            .header("content-type", "text/plain; charset=utf-8")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-type").starts_with("text/plain"));
    assert_eq!(resp.text, token);
    stack.finish().await;
}

#[tokio::test]
async fn a_wrong_client_state_triggers_nothing_and_a_right_one_one_session() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.create_user("bob", "dev", BOB_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    store_subscription(&stack, "sub-alice", "alice", "cs-right-secret").await;
    // Bob's subscription exists but his sync is disabled: nothing starts for him.
    store_subscription(&stack, "sub-bob", "bob", "cs-bob").await;

    let wrong = json!({"value": [notification("sub-alice", "cs-wrong-secret"),
                                 notification("sub-alice", "cs-right-secre"),
                                 notification("sub-unknown", "cs-right-secret"),
                                 notification("sub-\u{0}", "cs-right-secret")]});
    let resp = stack
        .send(Method::POST, "/webhooks/graph", None, Some(wrong))
        .await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.json["dropped"], 4);
    assert!(stack.all_sessions().await.is_empty(), "nothing triggered");

    // Three notifications for one user in one batch: one session.
    let right = json!({"value": [notification("sub-alice", "cs-right-secret"),
                                 notification("sub-alice", "cs-right-secret"),
                                 notification("sub-alice", "cs-right-secret"),
                                 notification("sub-bob", "cs-bob")]});
    let resp = stack
        .send(Method::POST, "/webhooks/graph", None, Some(right.clone()))
        .await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(
        (
            resp.json["accepted"].as_u64(),
            resp.json["sessions"].as_u64()
        ),
        (Some(4), Some(1))
    );
    assert_eq!(
        stack.all_sessions().await,
        vec![("alice".to_owned(), "notification".to_owned())]
    );

    // While it runs, another batch coalesces into it.
    stack
        .send(Method::POST, "/webhooks/graph", None, Some(right))
        .await;
    assert_eq!(stack.all_sessions().await.len(), 1);

    let metrics = stack.ops("/metrics").await;
    for line in [
        "contactsync_gateway_webhook_notifications_total{source=\"graph\",outcome=\"dropped\"} 4",
        "contactsync_gateway_webhook_notifications_total{source=\"graph\",outcome=\"accepted\"} 8",
        "contactsync_gateway_webhook_sessions_total{source=\"graph\"} 2",
    ] {
        assert!(metrics.text.contains(line), "{line} in {}", metrics.text);
    }

    // `missed` means notifications were lost: resync too (coalesced here).
    let missed = json!({"value": [{"subscriptionId": "sub-alice", "clientState": "cs-right-secret",
                                   "lifecycleEvent": "missed"}]});
    let resp = stack
        .send(Method::POST, "/webhooks/graph", None, Some(missed))
        .await;
    assert_eq!(resp.status, 202);
    stack.finish().await;
}

#[tokio::test]
async fn malformed_graph_payloads_are_refused_with_400() {
    let stack = start().await;
    for body in [&b"{nope"[..], b"", b"{\"value\": 3}", b"[1,2]"] {
        let resp = stack
            .send_raw("/webhooks/graph", None, "application/json", body.to_vec())
            .await;
        assert_eq!(resp.status, 400, "{body:?}: {resp:?}");
        assert_eq!(resp.error_code(), "bad_request");
    }
    stack.finish().await;
}

fn outbound(org: &str, notifications: &[(&str, Option<&str>)]) -> String {
    let mut items = String::new();
    for (i, (contact, owner)) in notifications.iter().enumerate() {
        let owner = owner
            .map(|o| format!("<sf:OwnerId>{o}</sf:OwnerId>"))
            .unwrap_or_default();
        items.push_str(&format!(
            "<Notification><Id>04l00000000000{i}AAA</Id>\
             <sObject xsi:type=\"sf:Contact\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\
             <sf:Id>{contact}</sf:Id>{owner}<sf:LastName>Doe &amp; Co</sf:LastName></sObject></Notification>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>\
         <notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">\
         <OrganizationId>{org}</OrganizationId><ActionId>04k000000000001AAA</ActionId>\
         <SessionId xsi:nil=\"true\"/>{items}</notifications></soapenv:Body></soapenv:Envelope>"
    )
}

async fn post_outbound(stack: &Stack, xml: String) -> common::Resp {
    stack
        .send_raw(
            "/webhooks/salesforce",
            None,
            "text/xml; charset=utf-8",
            xml.into_bytes(),
        )
        .await
}

#[tokio::test]
async fn an_outbound_message_from_an_unknown_org_is_refused_and_a_known_one_acked() {
    let stack = start().await;
    // Stored in the 18-character form, as the admin API stores it (B15).
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await; // mine, owns the contact
    stack.create_user("bob", "dev", BOB_SF).await; // mine, owns nothing changed
    stack
        .create_user("carol", "dev", "005xx000001SvbSAAS")
        .await; // all
    stack.create_user("dave", "dev", "005xx000001SvbTAAS").await; // disabled
    stack.create_user("erin", "dev", "005xx000001SvbUAAS").await; // mine, linked to the contact
    for (user, scope) in [
        ("alice", Scope::Mine),
        ("bob", Scope::Mine),
        ("carol", Scope::All),
        ("erin", Scope::Mine),
    ] {
        stack.enable_quietly(user, scope).await;
    }
    stack
        .sql(
            "INSERT INTO contact_links (user_id, sync_key, salesforce_id, link)
             VALUES ('erin', 'k1', '003xx00000000B1AAI', '{}'::jsonb)",
            &[],
        )
        .await;

    let refused = post_outbound(
        &stack,
        outbound(
            "00Dxx0000009ZZZEA2",
            &[("003xx00000000A1AAI", Some(ALICE_SF))],
        ),
    )
    .await;
    assert_eq!((refused.status, refused.error_code()), (403, "forbidden"));
    assert!(stack.all_sessions().await.is_empty());

    // B15: an Organization id whose checksum disagrees is no org at all, said so.
    let mangled = post_outbound(
        &stack,
        outbound(
            &format!("{}XYZ", &SF_ORG_ID[..15]),
            &[("003xx00000000A1AAI", Some(ALICE_SF))],
        ),
    )
    .await;
    assert_eq!(mangled.status, 400, "{mangled:?}");
    assert!(mangled.text.contains("OrganizationId"), "{mangled:?}");
    assert!(stack.all_sessions().await.is_empty());

    for malformed in ["<not xml", "<x/>", "plain text"] {
        let resp = post_outbound(&stack, malformed.to_owned()).await;
        assert_eq!(resp.status, 400, "{malformed}: {resp:?}");
    }
    assert!(stack.all_sessions().await.is_empty());

    let xml = outbound(
        SF_ORG_ID,
        &[
            ("003xx00000000A1AAI", Some(&ALICE_SF[..15])),
            ("003xx00000000B1AAI", Some(ALICE_SF)),
        ],
    );
    let acked = post_outbound(&stack, xml.clone()).await;
    assert_eq!(acked.status, 200, "{acked:?}");
    assert!(acked.header("content-type").starts_with("text/xml"));
    assert!(acked.text.contains("<Ack>true</Ack>"));
    let triggered: Vec<String> = stack
        .all_sessions()
        .await
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    // Routed only by the ids the message carries: the owner and the user linked to a changed
    // Contact; neither bob (`mine`, owns nothing changed) nor carol (`all`).
    assert_eq!(triggered, vec!["alice", "erin"]);

    // Redelivery of the same message while those sessions run starts nothing new.
    post_outbound(&stack, xml).await;
    assert_eq!(stack.all_sessions().await.len(), 2);

    // A notification without OwnerId names only its record: nobody is linked to this one.
    let no_owner = outbound(SF_ORG_ID, &[("003xx00000000C1AAI", None)]);
    assert_eq!(post_outbound(&stack, no_owner).await.status, 200);
    let triggered: Vec<String> = stack
        .all_sessions()
        .await
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert_eq!(triggered, vec!["alice", "erin"], "no fan-out to every user");
    stack.finish().await;
}

#[tokio::test]
async fn the_salesforce_emulator_outbound_messages_are_acked_and_trigger_the_owner() {
    let emulator = salesforce_emulator::App::build(salesforce_emulator::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..salesforce_emulator::Config::default()
    })
    .await
    .expect("emulator binds");
    let sf = emulator.base_url();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(emulator.run_until_stopped(stop.clone()));
    let stack = start().await;
    let http = stack.http.clone();
    let owner = http
        .post(format!("{sf}/_emulator/users"))
        .json(&json!({"Username": "alice@example.com"}))
        .send()
        .await
        .expect("user");
    let owner: serde_json::Value = owner.json().await.expect("json");
    let owner_id = owner["Id"].as_str().expect("user id").to_owned();
    stack.create_org("dev", SF_ORG_ID, &sf).await;
    stack.create_user("alice", "dev", &owner_id).await;
    stack.create_user("bob", "dev", BOB_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    stack.enable_quietly("bob", Scope::Mine).await;

    let enabled = http
        .post(format!("{sf}/_emulator/outbound"))
        .json(
            &json!({"endpoint_url": format!("{}/webhooks/salesforce", stack.base),
                      "fields": ["OwnerId", "LastName"]}),
        )
        .send()
        .await
        .expect("outbound");
    assert!(enabled.status().is_success());
    let seeded = http
        .post(format!("{sf}/_emulator/sobjects/Contact"))
        .json(&json!({"LastName": "Doe", "as_user": "alice@example.com"}))
        .send()
        .await
        .expect("seed");
    assert_eq!(seeded.status().as_u16(), 201);

    eventually("the owner's session starts", || async {
        !stack.sessions("alice").await.is_empty()
    })
    .await;
    eventually("the emulator saw the ack", || async {
        let status: serde_json::Value = http
            .get(format!("{sf}/_emulator/outbound"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        status["delivered"].as_u64() >= Some(1) && status["pending"] == 0
    })
    .await;
    assert_eq!(stack.sessions("alice").await[0].1, "notification");
    assert!(
        stack.sessions("bob").await.is_empty(),
        "bob owns nothing changed"
    );
    stop.cancel();
    stack.finish().await;
}

#[tokio::test]
async fn a_removed_subscription_repeated_in_a_batch_is_forgotten_and_the_user_resyncs_once() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    store_subscription(&stack, "sub-alice", "alice", "cs-right").await;
    let removed = json!({"subscriptionId": "sub-alice", "clientState": "cs-right",
                         "lifecycleEvent": "subscriptionRemoved"});
    let batch: graph_client::notifications::ChangeNotificationCollection =
        serde_json::from_value(json!({"value": [removed.clone(), removed]})).expect("batch");
    let handled = gateway::graph_webhook::handle_notifications(&stack.ctx, batch)
        .await
        .expect("handled");
    // Nothing to call Graph for: the session subscribes again (B3).
    assert!(handled.lifecycle.is_empty(), "{handled:?}");
    assert_eq!((handled.accepted, handled.dropped), (1, 1));
    let client = stack.db.pool.get().await.expect("db");
    let gone = sync_state::subscriptions::get(&**client, "sub-alice")
        .await
        .expect("read");
    assert!(gone.is_none(), "the removed subscription is forgotten");
    drop(client);
    assert_eq!(
        stack.all_sessions().await,
        vec![("alice".to_owned(), "notification".to_owned())],
        "and the user resyncs"
    );
    stack.finish().await;
}

/// C3 (issue 12): a notification that only reports our own write — the item linked at the
/// changeKey our writer got back — or our own delete (no link left) starts no session; the
/// user's edit of the same item (another changeKey) does.
#[tokio::test]
async fn notifications_that_echo_our_own_writes_start_no_session() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    store_subscription(&stack, "sub-alice", "alice", "cs-alice").await;
    {
        let link = sync_core::Link {
            sync_key: "k1".try_into().expect("key"),
            salesforce_id: Some("003000000000001AAA".parse().expect("id")),
            graph_id: Some("AAMk=".try_into().expect("id")),
            origin: sync_core::Origin::Salesforce,
            baseline: sync_core::Contact::default(),
            account_name: None,
            snapshot: None,
            change_key: Some("CK-ours".into()),
            rejected: None,
            synced_at: chrono::Utc::now(),
        };
        let mut client = stack.db.pool.get().await.expect("db");
        let tx = client.transaction().await.expect("tx");
        sync_state::links::apply_link_updates(
            &tx,
            "alice",
            &[sync_core::LinkUpdate::Upsert(Box::new(link))],
        )
        .await
        .expect("link");
        tx.commit().await.expect("commit");
    }
    let with = |change: &str, id: &str, etag: Option<&str>| {
        let mut n = notification("sub-alice", "cs-alice");
        n["changeType"] = json!(change);
        n["resourceData"]["id"] = json!(id);
        if let Some(etag) = etag {
            n["resourceData"]["@odata.etag"] = json!(format!("W/\"{etag}\""));
        }
        n
    };
    let echoes = json!({"value": [with("updated", "AAMk=", Some("CK-ours")),
                                  with("created", "AAMk=", Some("CK-ours")),
                                  with("deleted", "ANOTHER=", None)]});
    let resp = stack
        .send(Method::POST, "/webhooks/graph", None, Some(echoes))
        .await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(
        (resp.json["accepted"].as_u64(), resp.json["echoes"].as_u64()),
        (Some(3), Some(3)),
        "{resp:?}"
    );
    assert!(
        stack.all_sessions().await.is_empty(),
        "no session for echoes"
    );

    for edit in [
        with("updated", "AAMk=", Some("CK-users")),
        with("updated", "AAMk=", None),
        with("deleted", "AAMk=", None),
        with("created", "NEW=", Some("CK-new")),
    ] {
        let resp = stack
            .send(
                Method::POST,
                "/webhooks/graph",
                None,
                Some(json!({"value": [edit.clone()]})),
            )
            .await;
        assert_eq!(
            resp.json["sessions"], 1,
            "{edit} starts a session: {resp:?}"
        );
        // Closed as the reconciler would, before the next edit is notified.
        let (job_id, ..) = stack.sessions("alice").await.pop().expect("the session");
        stack
            .finish_session(
                job_id,
                sync_state::sessions::SessionState::Succeeded,
                &sync_state::sessions::Progress::default(),
            )
            .await;
    }
    stack.finish().await;
}
