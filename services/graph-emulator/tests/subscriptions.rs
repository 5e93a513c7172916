//! Change-notification subscriptions against a real webhook receiver (reference §8; checklist
//! item 9).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::*;
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq)]
enum Validation {
    Echo,
    ServerError,
    WrongBody,
    Hang,
}

/// A webhook endpoint like the gateway's, recording what it receives.
struct Receiver {
    validation: Validation,
    /// Notification POSTs to refuse with 500 before accepting.
    refuse_first: usize,
    attempts: AtomicUsize,
    received: Mutex<Vec<Value>>,
    validations: AtomicUsize,
}

async fn hook(
    State(rx): State<Arc<Receiver>>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    if let Some(token) = query.get("validationToken") {
        rx.validations.fetch_add(1, Ordering::SeqCst);
        return match rx.validation {
            Validation::Echo => (
                StatusCode::OK,
                [("content-type", "text/plain")],
                token.clone(),
            )
                .into_response(),
            Validation::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            Validation::WrongBody => {
                (StatusCode::OK, [("content-type", "text/plain")], "nope").into_response()
            }
            Validation::Hang => std::future::pending::<Response>().await,
        };
    }
    let attempt = rx.attempts.fetch_add(1, Ordering::SeqCst);
    if attempt < rx.refuse_first {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Ok(value) = serde_json::from_str(&body) {
        rx.received.lock().push(value);
    }
    StatusCode::ACCEPTED.into_response()
}

async fn receiver(validation: Validation, refuse_first: usize) -> (Arc<Receiver>, String) {
    receiver_on(validation, refuse_first, false).await
}

/// A notification endpoint, over HTTPS with the dev certificate when `tls`.
async fn receiver_on(
    validation: Validation,
    refuse_first: usize,
    tls: bool,
) -> (Arc<Receiver>, String) {
    let rx = Arc::new(Receiver {
        validation,
        refuse_first,
        attempts: AtomicUsize::new(0),
        received: Mutex::new(Vec::new()),
        validations: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tls
        .then(|| emulator_tls::acceptor(&emulator_tls::TlsConfig::dev()).expect("dev certificate"));
    let scheme = if tls { "https" } else { "http" };
    tokio::spawn(emulator_tls::serve(
        listener,
        acceptor,
        app,
        tokio_util::sync::CancellationToken::new(),
    ));
    (rx, format!("{scheme}://{addr}/hook"))
}

fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()
}

fn notifications(rx: &Receiver) -> Vec<Value> {
    rx.received
        .lock()
        .iter()
        .flat_map(|p| p["value"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn fast_config() -> graph_emulator::Config {
    let mut config = test_config();
    // These receivers speak plain HTTP; the https rule has its own test below.
    config.knobs.require_https = false;
    config.knobs.notification_retry_base_ms = 50;
    config.knobs.validation_timeout_ms = 1000;
    config
}

#[tokio::test]
async fn a_subscription_validates_its_endpoint_and_notifies_every_contact_change_with_client_state()
{
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (rx, url) = receiver(Validation::Echo, 0).await;
    let r = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created,updated,deleted", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour(), "clientState": "secretClientValue"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(rx.validations.load(Ordering::SeqCst), 1);
    let sub_id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(r.body["changeType"], "created,updated,deleted");
    assert_eq!(r.body["clientState"], "secretClientValue");
    assert_eq!(r.body["applicationId"], CLIENT_ID);

    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let id = created["id"].as_str().expect("id").to_owned();
    emu.patch(
        &format!("/v1.0/users/u1/contacts/{}", enc(&id)),
        json!({"jobTitle": "CEO"}),
    )
    .await;
    emu.delete(&format!("/v1.0/users/u1/contacts/{}", enc(&id)))
        .await;
    let all_three = poll_until(Duration::from_secs(5), || async {
        notifications(&rx).len() >= 3
    })
    .await;
    assert!(all_three, "got {:?}", notifications(&rx));
    let got = notifications(&rx);
    let mut kinds: Vec<&str> = got
        .iter()
        .filter_map(|n| n["changeType"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, vec!["created", "deleted", "updated"]);
    for n in &got {
        assert_eq!(n["subscriptionId"], sub_id.as_str());
        assert_eq!(n["clientState"], "secretClientValue");
        assert_eq!(n["resourceData"]["id"], id.as_str());
        assert_eq!(n["resourceData"]["@odata.type"], "#Microsoft.Graph.Contact");
        assert!(n["tenantId"].is_string());
        assert!(
            n["resource"]
                .as_str()
                .unwrap_or_default()
                .ends_with(&format!("/Contacts/{id}"))
        );
    }
}

#[tokio::test]
async fn a_subscription_whose_endpoint_fails_validation_is_not_created() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    for (mode, code) in [
        (Validation::ServerError, "InvalidRequest"),
        (Validation::WrongBody, "InvalidRequest"),
        (Validation::Hang, "ValidationError"),
    ] {
        let (rx, url) = receiver(mode, 0).await;
        let r = emu
            .post(
                "/v1.0/subscriptions",
                json!({"changeType": "created", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour()}),
            )
            .await;
        assert_eq!((r.status, r.error_code()), (400, code), "{:?}", r.body);
        assert_eq!(rx.validations.load(Ordering::SeqCst), 1);
    }
    let listed = emu.get("/v1.0/subscriptions").await;
    assert_eq!(listed.body["value"], json!([]));
    // Nothing is delivered for changes afterwards.
    emu.post("/v1.0/users/u1/contacts", pavel()).await;
    let subs = emu
        .control(Method::GET, "/_emulator/subscriptions", json!({}))
        .await;
    assert_eq!(subs.body["value"], json!([]));
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_accepted() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (rx, url) = receiver(Validation::Echo, 2).await;
    let r = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created", "notificationUrl": url, "resource": "users/u1/contactFolders/contacts/contacts", "expirationDateTime": in_an_hour(), "clientState": "s"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    emu.post("/v1.0/users/u1/contacts", pavel()).await;
    let delivered = poll_until(Duration::from_secs(5), || async {
        notifications(&rx).len() == 1
    })
    .await;
    assert!(delivered);
    assert_eq!(
        rx.attempts.load(Ordering::SeqCst),
        3,
        "two refusals, then accepted"
    );
    let subs = emu
        .control(Method::GET, "/_emulator/subscriptions", json!({}))
        .await;
    assert_eq!(subs.body["value"][0]["failed_attempts"], 2);
    assert_eq!(subs.body["value"][0]["delivered"], 1);
}

#[tokio::test]
async fn a_folder_subscription_only_hears_its_folder_and_its_change_types() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let folder = emu
        .post(
            "/v1.0/users/u1/contactFolders",
            json!({"displayName": "SF"}),
        )
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (rx, url) = receiver(Validation::Echo, 0).await;
    let r = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "updated", "notificationUrl": url, "resource": format!("users/u1/contactFolders/{folder}/contacts"), "expirationDateTime": in_an_hour()}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let elsewhere = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    emu.patch(
        &format!(
            "/v1.0/users/u1/contacts/{}",
            enc(elsewhere["id"].as_str().expect("id"))
        ),
        json!({"jobTitle": "x"}),
    )
    .await;
    let inside = emu
        .post(
            &format!("/v1.0/users/u1/contactFolders/{}/contacts", enc(&folder)),
            pavel(),
        )
        .await
        .body;
    let inside_id = inside["id"].as_str().expect("id");
    emu.patch(
        &format!("/v1.0/users/u1/contacts/{}", enc(inside_id)),
        json!({"jobTitle": "y"}),
    )
    .await;
    assert!(
        poll_until(Duration::from_secs(5), || async {
            !notifications(&rx).is_empty()
        })
        .await
    );
    let got = notifications(&rx);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["changeType"], "updated");
    assert_eq!(got[0]["resourceData"]["id"], inside_id);
}

#[tokio::test]
async fn subscriptions_are_renewed_deleted_and_expire() {
    let mut config = fast_config();
    config.knobs.subscription_min_minutes = 0.0;
    let emu = Emu::start_with(config).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (_rx, url) = receiver(Validation::Echo, 0).await;
    let create = |expiry: String| {
        emu.post(
            "/v1.0/subscriptions",
            json!({"changeType": "created", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": expiry}),
        )
    };
    let r = create(in_an_hour()).await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    let later = (chrono::Utc::now() + chrono::Duration::hours(48)).to_rfc3339();
    let renewed = emu
        .patch(
            &format!("/v1.0/subscriptions/{id}"),
            json!({"expirationDateTime": later}),
        )
        .await;
    assert_eq!(renewed.status, 200);
    assert!(
        renewed.body["expirationDateTime"]
            .as_str()
            .unwrap_or_default()
            > r.body["expirationDateTime"].as_str().unwrap_or_default()
    );
    let too_far = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let rejected = emu
        .patch(
            &format!("/v1.0/subscriptions/{id}"),
            json!({"expirationDateTime": too_far}),
        )
        .await;
    assert_eq!(rejected.status, 400);
    assert_eq!(
        emu.delete(&format!("/v1.0/subscriptions/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        emu.get(&format!("/v1.0/subscriptions/{id}")).await.status,
        404
    );
    let missing = emu
        .patch(
            &format!("/v1.0/subscriptions/{id}"),
            json!({"expirationDateTime": in_an_hour()}),
        )
        .await;
    assert_eq!(missing.status, 404);

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let short = create(soon).await;
    assert_eq!(short.status, 201);
    let short_id = short.body["id"].as_str().expect("id").to_owned();
    let short_path = format!("/v1.0/subscriptions/{short_id}");
    let gone = poll_until(Duration::from_secs(5), || {
        let r = emu.get(&short_path);
        async move { r.await.status == 404 }
    })
    .await;
    assert!(gone, "an expired subscription is removed");
}

#[tokio::test]
async fn a_burst_of_changes_arrives_batched_and_in_order() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (rx, url) = receiver(Validation::Echo, 0).await;
    let r = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour(), "clientState": "s"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let contacts: Vec<Value> = (0..100)
        .map(|i| json!({"surname": format!("S{i}")}))
        .collect();
    let ids = emu.seed("u1", "contacts", contacts).await;
    assert!(
        poll_until(Duration::from_secs(10), || async {
            notifications(&rx).len() == 100
        })
        .await
    );
    let posts = rx.received.lock().clone();
    assert!(posts.iter().all(|p| {
        p["value"]
            .as_array()
            .is_some_and(|v| !v.is_empty() && v.len() <= 10)
    }));
    assert!(posts.len() < 100, "{} POSTs for 100 changes", posts.len());
    let order: Vec<String> = notifications(&rx)
        .iter()
        .filter_map(|n| n["resourceData"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(order, ids);
}

#[tokio::test]
async fn a_subscription_created_with_immutable_ids_notifies_immutable_ids() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (rx, url) = receiver(Validation::Echo, 0).await;
    let r = emu
        .call_with(
            Method::POST,
            "/v1.0/subscriptions",
            Some(json!({"changeType": "created,updated", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour()})),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await;
    assert_eq!(r.status, 201);
    let created = emu
        .call_with(
            Method::POST,
            "/v1.0/users/u1/contacts",
            Some(pavel()),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await
        .body;
    assert!(
        poll_until(Duration::from_secs(5), || async {
            !notifications(&rx).is_empty()
        })
        .await
    );
    assert_eq!(notifications(&rx)[0]["resourceData"]["id"], created["id"]);
}

#[tokio::test]
async fn user_edits_through_the_control_api_notify_without_counting_and_drops_lose_notifications() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (rx, url) = receiver(Validation::Echo, 0).await;
    let r = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created,updated,deleted", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour()}),
        )
        .await;
    assert_eq!(r.status, 201);
    let ids = emu
        .seed(
            "u1",
            "contacts",
            vec![json!({"surname": "A"}), json!({"surname": "B"})],
        )
        .await;
    assert!(
        poll_until(Duration::from_secs(5), || async {
            notifications(&rx).len() == 2
        })
        .await
    );
    emu.control(Method::DELETE, "/_emulator/requests", json!({}))
        .await;
    let dropped = emu
        .control(
            Method::POST,
            "/_emulator/notifications/drop",
            json!({"count": 1}),
        )
        .await;
    assert_eq!(dropped.status, 200);
    let edited = emu
        .control(
            Method::PATCH,
            &format!("/_emulator/mailboxes/u1/contacts/{}", enc(&ids[0])),
            json!({"jobTitle": "CEO"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    assert_eq!(edited.body["jobTitle"], "CEO");
    let deleted = emu
        .control(
            Method::DELETE,
            &format!("/_emulator/mailboxes/u1/contacts/{}", enc(&ids[1])),
            json!({}),
        )
        .await;
    assert_eq!(deleted.status, 204);
    // The update's notification is lost; the delete's arrives.
    assert!(
        poll_until(Duration::from_secs(5), || async {
            notifications(&rx).len() == 3
        })
        .await
    );
    let last = notifications(&rx).last().cloned().unwrap_or_default();
    assert_eq!(last["changeType"], "deleted");
    assert_eq!(last["resourceData"]["id"], ids[1].as_str());
    let counters = emu.counters().await;
    assert_eq!(
        counters["http_requests"], 0,
        "user edits are not API traffic: {counters}"
    );
}

#[tokio::test]
async fn the_subscription_quota_per_mailbox_is_enforced_with_403() {
    let mut config = fast_config();
    config.knobs.subscriptions_per_mailbox_max = 1;
    let emu = Emu::start_with(config).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (_rx, url) = receiver(Validation::Echo, 0).await;
    let body = json!({"changeType": "created", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour()});
    assert_eq!(
        emu.post("/v1.0/subscriptions", body.clone()).await.status,
        201
    );
    let second = emu.post("/v1.0/subscriptions", body).await;
    assert_eq!(second.status, 403, "{:?}", second.body);
}

#[tokio::test]
async fn expiries_under_45_minutes_are_raised_to_45() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (_rx, url) = receiver(Validation::Echo, 0).await;
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let r = emu
        .post("/v1.0/subscriptions", json!({"changeType": "created", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": soon}))
        .await;
    let expiry = chrono::DateTime::parse_from_rfc3339(
        r.body["expirationDateTime"].as_str().expect("expiry"),
    )
    .expect("date");
    let minutes = (expiry.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((44..=45).contains(&minutes), "{minutes}");
}

#[tokio::test]
async fn lifecycle_events_go_to_the_lifecycle_url_and_subscription_removed_removes_it() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (rx, url) = receiver(Validation::Echo, 0).await;
    let (life, life_url) = receiver(Validation::Echo, 0).await;
    let r = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created", "notificationUrl": url, "lifecycleNotificationUrl": life_url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour(), "clientState": "cs"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        life.validations.load(Ordering::SeqCst),
        1,
        "both endpoints are validated"
    );
    let id = r.body["id"].as_str().expect("id").to_owned();
    for event in ["reauthorizationRequired", "missed", "subscriptionRemoved"] {
        let sent = emu
            .control(
                Method::POST,
                &format!("/_emulator/subscriptions/{id}/lifecycle"),
                json!({"event": event}),
            )
            .await;
        assert_eq!(sent.status, 202, "{:?}", sent.body);
    }
    assert!(
        poll_until(Duration::from_secs(5), || async {
            notifications(&life).len() == 3
        })
        .await
    );
    let events: Vec<Value> = notifications(&life)
        .iter()
        .map(|n| n["lifecycleEvent"].clone())
        .collect();
    for event in ["reauthorizationRequired", "missed", "subscriptionRemoved"] {
        assert!(events.contains(&json!(event)), "{events:?}");
    }
    assert!(
        notifications(&life)
            .iter()
            .all(|n| n["clientState"] == "cs" && n["subscriptionId"] == id.as_str())
    );
    assert!(
        notifications(&rx).is_empty(),
        "lifecycle events do not go to the notification URL"
    );
    assert_eq!(
        emu.get(&format!("/v1.0/subscriptions/{id}")).await.status,
        404
    );
}

#[tokio::test]
async fn a_subscription_graph_drops_silently_answers_404_to_its_renewal() {
    let emu = Emu::start_with(fast_config()).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (rx, url) = receiver(Validation::Echo, 0).await;
    let r = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created,updated,deleted", "notificationUrl": url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour(), "clientState": "cs"}),
        )
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    let dropped = emu
        .control(
            Method::DELETE,
            &format!("/_emulator/subscriptions/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(dropped.status, 204, "{:?}", dropped.body);
    let renewal = emu
        .patch(
            &format!("/v1.0/subscriptions/{id}"),
            json!({"expirationDateTime": in_an_hour()}),
        )
        .await;
    assert_eq!(renewal.status, 404, "{:?}", renewal.body);
    assert_eq!(
        emu.get(&format!("/v1.0/subscriptions/{id}")).await.status,
        404
    );
    assert!(notifications(&rx).is_empty());
    let again = emu
        .control(
            Method::DELETE,
            &format!("/_emulator/subscriptions/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn graph_refuses_an_http_notification_url_and_notifies_an_https_one() {
    let mut config = test_config();
    config.knobs.validation_timeout_ms = 1000;
    assert!(config.knobs.require_https, "https is required by default");
    let emu = Emu::start_with(config).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let (_plain, http_url) = receiver(Validation::Echo, 0).await;
    let refused = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created", "notificationUrl": http_url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour()}),
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("must use https")),
        "{:?}",
        refused.body
    );

    let (rx, https_url) = receiver_on(Validation::Echo, 0, true).await;
    let created = emu
        .post(
            "/v1.0/subscriptions",
            json!({"changeType": "created", "notificationUrl": https_url, "resource": "users/u1/contacts", "expirationDateTime": in_an_hour(), "clientState": "s"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    emu.post("/v1.0/users/u1/contacts", json!({"surname": "Secure"}))
        .await;
    let delivered = poll_until(Duration::from_secs(10), || async {
        !notifications(&rx).is_empty()
    })
    .await;
    assert!(delivered, "the https endpoint was notified");
}
