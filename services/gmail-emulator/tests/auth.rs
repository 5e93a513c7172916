//! The service-account JWT bearer grant and bearer checks (reference §1, §9.1).

mod common;

use common::*;
use gmail_emulator::{
    Assertion, CONTACTS_SCOPE, DEV_CLIENT_EMAIL, DEV_PRIVATE_KEY_ID, DEV_PRIVATE_KEY_PEM,
    GOOGLE_TOKEN_URL,
};
use reqwest::Method;
use serde_json::{Value, json};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

async fn grant(emu: &Emu, assertion: &str) -> (u16, Value) {
    let resp = emu
        .http
        .post(format!("{}/token", emu.base))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ])
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn dev_assertion(sub: &str, aud: &str, iat: i64, lifetime: i64) -> String {
    Assertion {
        client_email: DEV_CLIENT_EMAIL,
        subject: Some(sub),
        scope: CONTACTS_SCOPE,
        audience: aud,
        issued_at: iat,
        lifetime_secs: lifetime,
    }
    .sign(DEV_PRIVATE_KEY_PEM, DEV_PRIVATE_KEY_ID)
    .expect("signs")
}

#[tokio::test]
async fn the_dev_service_account_gets_a_token_per_user_and_data_is_per_user() {
    let emu = Emu::start().await;
    for email in ["alice@example.com", "bob@example.com"] {
        let r = emu
            .control(Method::POST, "mailboxes", json!({"email": email}))
            .await;
        assert_eq!(r.status, 201);
    }
    let (status, body) = grant(
        &emu,
        &dev_assertion("alice@example.com", GOOGLE_TOKEN_URL, now(), 3600),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], "https://www.googleapis.com/auth/contacts");
    let alice = body["access_token"].as_str().expect("token").to_owned();
    // The emulator's own token URL is an accepted audience too (what google-auth signs for).
    let own = format!("{}/token", emu.base);
    let (status, body) = grant(&emu, &dev_assertion("bob@example.com", &own, now(), 3600)).await;
    assert_eq!(status, 200, "{body}");
    let bob = body["access_token"].as_str().expect("token").to_owned();

    emu.create(&alice, "Carol").await;
    let a = emu
        .get(&alice, "/v1/people/me/connections?personFields=names")
        .await;
    let b = emu
        .get(&bob, "/v1/people/me/connections?personFields=names")
        .await;
    assert_eq!(a.body["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(b.status, 200);
    assert!(b.body.get("connections").is_none(), "{}", b.body);
}

#[tokio::test]
async fn bad_assertions_get_googles_answers() {
    let emu = Emu::start().await;
    emu.control(Method::POST, "mailboxes", json!({"email": "u@example.com"}))
        .await;
    // Signed with another key.
    let other = emu
        .control(Method::POST, "service-accounts", json!({}))
        .await;
    let forged = Assertion {
        client_email: DEV_CLIENT_EMAIL,
        subject: Some("u@example.com"),
        scope: CONTACTS_SCOPE,
        audience: GOOGLE_TOKEN_URL,
        issued_at: now(),
        lifetime_secs: 3600,
    }
    .sign(
        other.body["private_key"].as_str().expect("pem"),
        DEV_PRIVATE_KEY_ID,
    )
    .expect("signs");
    let (status, body) = grant(&emu, &forged).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_description"], "Invalid JWT Signature.");

    let (status, body) = grant(
        &emu,
        &dev_assertion("nobody@example.com", GOOGLE_TOKEN_URL, now(), 3600),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_description"], "Invalid email or User ID");

    let (status, body) = grant(
        &emu,
        &dev_assertion("u@example.com", GOOGLE_TOKEN_URL, now(), 3601),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Invalid JWT: Token must be a short-lived token (60 minutes)"),
        "{body}"
    );
    // Issued a day ago: not a reasonable timeframe.
    let (status, _) = grant(
        &emu,
        &dev_assertion("u@example.com", GOOGLE_TOKEN_URL, now() - 86_400, 3600),
    )
    .await;
    assert_eq!(status, 400);

    let (status, body) = grant(
        &emu,
        &dev_assertion("u@example.com", "https://example.com/token", now(), 3600),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (status, body) = grant(&emu, "not.a.jwt").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_missing_contacts_scope_is_unauthorized_client() {
    let emu = Emu::start().await;
    emu.control(Method::POST, "mailboxes", json!({"email": "u@example.com"}))
        .await;
    let good = dev_assertion("u@example.com", GOOGLE_TOKEN_URL, now(), 3600);
    let (status, _) = grant(&emu, &good).await;
    assert_eq!(status, 200);
    let key = emu
        .control(
            Method::POST,
            "service-accounts",
            json!({"client_email": "sync@proj.iam.gserviceaccount.com"}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    assert_eq!(key.body["type"], "service_account");
    assert_eq!(
        key.body["client_email"],
        "sync@proj.iam.gserviceaccount.com"
    );
    assert_eq!(key.body["project_id"], "proj");
    assert_eq!(key.body["token_uri"], format!("{}/token", emu.base));
    assert!(
        key.body["private_key"]
            .as_str()
            .unwrap_or_default()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let signed = scoped_assertion(&key.body, "https://www.googleapis.com/auth/calendar");
    let (status, body) = grant(&emu, &signed).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "unauthorized_client");
    let signed = scoped_assertion(
        &key.body,
        "https://www.googleapis.com/auth/calendar https://www.googleapis.com/auth/contacts",
    );
    let (status, body) = grant(&emu, &signed).await;
    assert_eq!(status, 200, "{body}");
}

/// An assertion for `u@example.com` with a chosen scope, signed with a key file's key.
fn scoped_assertion(key_file: &Value, scope: &str) -> String {
    Assertion {
        client_email: key_file["client_email"].as_str().expect("email"),
        subject: Some("u@example.com"),
        scope,
        audience: key_file["token_uri"].as_str().expect("token_uri"),
        issued_at: now(),
        lifetime_secs: 3600,
    }
    .sign(
        key_file["private_key"].as_str().expect("pem"),
        key_file["private_key_id"].as_str().expect("kid"),
    )
    .expect("signs")
}

#[tokio::test]
async fn v1_calls_without_a_valid_bearer_get_401_unauthenticated() {
    let emu = Emu::start().await;
    let r = emu
        .send(
            Method::GET,
            "/v1/people/me/connections?personFields=names",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.status_name(), "UNAUTHENTICATED");
    assert!(
        r.message()
            .starts_with("Request had invalid authentication credentials.")
    );
    let r = emu
        .get(
            "ya29.forged",
            "/v1/people/me/connections?personFields=names",
        )
        .await;
    assert_eq!(r.status, 401);
}
