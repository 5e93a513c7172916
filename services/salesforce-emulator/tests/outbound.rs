//! Outbound Messages (contract §10a): SOAP notifications POSTed to the configured endpoint,
//! retried with backoff until acknowledged, batched up to 100 per message.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode as AxStatus;
use axum::routing::post;
use common::*;
use parking_lot::Mutex;
use reqwest::{Method, StatusCode};
use salesforce_emulator::Config;
use serde_json::json;

const ACK: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#;

#[derive(Default)]
struct Receiver {
    /// Answer 500 to this many requests first.
    fail_first: usize,
    bodies: Vec<String>,
}

async fn receive(State(r): State<Arc<Mutex<Receiver>>>, body: String) -> (AxStatus, String) {
    let mut r = r.lock();
    r.bodies.push(body);
    if r.bodies.len() <= r.fail_first {
        (AxStatus::INTERNAL_SERVER_ERROR, "down".to_string())
    } else {
        (AxStatus::OK, ACK.to_string())
    }
}

async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver {
        fail_first,
        bodies: Vec::new(),
    }));
    let app = Router::new()
        .route("/webhooks/salesforce", post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!(
        "http://{}/webhooks/salesforce",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

fn fast_retries() -> Config {
    Config {
        outbound_initial_retry: Duration::from_millis(50),
        outbound_max_retry: Duration::from_millis(200),
        ..Config::default()
    }
}

#[tokio::test]
async fn notification_is_retried_until_acknowledged() {
    let emu = start_with(fast_retries()).await;
    let (_, token) = emu.login("om@example.com").await;
    let (url, rx) = receiver(2).await;
    let r = emu.control(Method::POST, "/outbound", Some(json!({"endpoint_url": url, "fields": ["FirstName", "LastName", "LastModifiedDate"]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let created = emu
        .post(
            &format!("/services/data/{V}/sobjects/Contact"),
            &token,
            json!({"FirstName": "Some", "LastName": "Dude & <Co>"}),
        )
        .await;
    let id = created.body["id"].as_str().expect("id").to_string();

    let status = eventually(10, "the notification to be acknowledged", || async {
        let s = emu.control(Method::GET, "/outbound", None).await;
        (s.body["delivered"] == 1).then_some(s.body)
    })
    .await;
    assert_eq!(status["pending"], 0);
    assert_eq!(status["failures"], 2);
    let bodies = rx.lock().bodies.clone();
    assert_eq!(
        bodies.len(),
        3,
        "two failures, then the acknowledged attempt"
    );
    let soap = &bodies[2];
    assert!(
        soap.contains("<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">"),
        "{soap}"
    );
    assert!(soap.contains("<OrganizationId>00Dxx0000001gPLEAY</OrganizationId>"));
    assert!(soap.contains("<SessionId xsi:nil=\"true\"/>"));
    assert!(soap.contains(&format!("<sf:Id>{id}</sf:Id>")));
    assert!(
        soap.contains("<sf:LastName>Dude &amp; &lt;Co&gt;</sf:LastName>"),
        "escaped: {soap}"
    );
    assert!(soap.contains("xsi:type=\"sf:Contact\""));
    assert!(
        !soap.contains("<sf:Email>"),
        "only the selected fields are sent"
    );
    let stamp = soap
        .split("<sf:LastModifiedDate>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("stamp");
    assert!(
        stamp.ends_with(".000Z") || stamp.ends_with('Z'),
        "SOAP datetime: {stamp}"
    );
    let notification_id = soap
        .split("<Notification>\n    <Id>")
        .nth(1)
        .and_then(|s| s.get(..3));
    assert_eq!(notification_id, Some("04l"));
}

#[tokio::test]
async fn many_changes_are_batched_up_to_100_per_message() {
    let emu = start_with(fast_retries()).await;
    emu.user("bulk@example.com").await;
    let (url, rx) = receiver(1).await;
    emu.control(
        Method::POST,
        "/outbound",
        Some(json!({"endpoint_url": url})),
    )
    .await;
    // The first POST fails, so the 150 changes queue up behind it and go out in batches.
    let records: Vec<_> = (0..150)
        .map(|i| json!({"LastName": format!("B{i}")}))
        .collect();
    emu.seed("Contact", "bulk@example.com", records).await;
    eventually(10, "all notifications delivered", || async {
        let s = emu.control(Method::GET, "/outbound", None).await;
        (s.body["delivered"] == 150).then_some(())
    })
    .await;
    let bodies = rx.lock().bodies.clone();
    for b in &bodies {
        let n = b.matches("<Notification>").count();
        assert!(n <= 100, "at most 100 notifications per message, got {n}");
    }
    // Deletes do not notify; updates do.
    let before = bodies.len();
    let all = emu.control(Method::GET, "/sobjects/Contact", None).await;
    let id = all.body["records"][0]["Id"]
        .as_str()
        .expect("id")
        .to_string();
    emu.control(Method::DELETE, &format!("/sobjects/Contact/{id}"), None)
        .await;
    let id2 = all.body["records"][1]["Id"]
        .as_str()
        .expect("id")
        .to_string();
    emu.control(
        Method::PATCH,
        &format!("/sobjects/Contact/{id2}"),
        Some(json!({"Title": "Changed"})),
    )
    .await;
    eventually(10, "the update notification", || async {
        let s = emu.control(Method::GET, "/outbound", None).await;
        (s.body["delivered"] == 151).then_some(())
    })
    .await;
    let bodies = rx.lock().bodies.clone();
    assert_eq!(bodies.len(), before + 1);
    assert!(bodies[before].contains("<sf:Title>Changed</sf:Title>"));
}

#[tokio::test]
async fn configured_endpoint_is_enabled_from_the_start_and_after_reset() {
    let (url, rx) = receiver(0).await;
    let emu = start_with(Config {
        outbound_endpoint_url: Some(url),
        ..fast_retries()
    })
    .await;
    emu.user("cfg@example.com").await;
    emu.seed(
        "Contact",
        "cfg@example.com",
        vec![json!({"LastName": "Configured"})],
    )
    .await;
    eventually(10, "delivery without control-API setup", || async {
        (rx.lock().bodies.len() == 1).then_some(())
    })
    .await;
    emu.control(Method::POST, "/reset", None).await;
    emu.user("cfg@example.com").await;
    emu.seed(
        "Contact",
        "cfg@example.com",
        vec![json!({"LastName": "AfterReset"})],
    )
    .await;
    eventually(10, "delivery after reset", || async {
        (rx.lock().bodies.len() == 2).then_some(())
    })
    .await;
    assert!(rx.lock().bodies[1].contains("<sf:LastName>AfterReset</sf:LastName>"));
}
