//! OAuth token endpoint (contract §1) and session handling (§1e).

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use salesforce_emulator::{Config, DEV_PRIVATE_KEY_PEM, sign_jwt_assertion};
use serde_json::{Value, json};

async fn token_call(emu: &Emu, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = emu
        .http
        .post(format!("{}/services/oauth2/token", emu.base))
        .form(form)
        .send()
        .await
        .expect("token endpoint answers");
    let status = r.status();
    (status, r.json().await.expect("json body"))
}

fn assertion(client_id: &str, user: &str, aud: &str, exp_offset: i64) -> String {
    let exp = chrono::Utc::now().timestamp() + exp_offset;
    sign_jwt_assertion(DEV_PRIVATE_KEY_PEM, client_id, user, aud, exp).expect("signs")
}

const JWT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[tokio::test]
async fn jwt_bearer_login_returns_a_usable_session_without_refresh_token() {
    let emu = start().await;
    let user_id = emu.user("jwt.user@example.com").await;
    let a = assertion(
        "contactsync-dev",
        "jwt.user@example.com",
        "https://login.salesforce.com",
        180,
    );
    let (status, body) = token_call(&emu, &[("grant_type", JWT), ("assertion", &a)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], emu.base.as_str());
    assert_eq!(
        body["id"],
        format!("{}/id/00Dxx0000001gPLEAY/{user_id}", emu.base).as_str()
    );
    assert!(
        body.get("refresh_token").is_none(),
        "JWT flow never issues a refresh token"
    );
    let token = body["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("00Dxx0000001gPL!"), "{token}");
    let q = emu.query(token, "SELECT Id FROM Contact").await;
    assert_eq!(q.status, StatusCode::OK);
    assert_eq!(q.body["totalSize"], 0);
    // The identity URL answers for the token's user.
    let id_url = body["id"].as_str().expect("id url");
    let me = emu.get(id_url, token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["username"], "jwt.user@example.com");
    assert_eq!(me.body["organization_id"], "00Dxx0000001gPLEAY");
}

#[tokio::test]
async fn jwt_errors_have_salesforce_bodies() {
    let emu = start().await;
    emu.user("u@example.com").await;
    let cases = [
        (
            assertion(
                "someone-else",
                "u@example.com",
                "https://login.salesforce.com",
                180,
            ),
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            assertion(
                "contactsync-dev",
                "u@example.com",
                "https://evil.example.com",
                180,
            ),
            "invalid_grant",
            "audience is invalid",
        ),
        (
            assertion(
                "contactsync-dev",
                "nobody@example.com",
                "https://login.salesforce.com",
                180,
            ),
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
        (
            assertion(
                "contactsync-dev",
                "u@example.com",
                "https://login.salesforce.com",
                -3600,
            ),
            "invalid_grant",
            "expired authorization code",
        ),
        (
            "not.a.jwt".to_string(),
            "invalid_grant",
            "invalid assertion",
        ),
    ];
    for (a, error, description) in cases {
        let (status, body) = token_call(&emu, &[("grant_type", JWT), ("assertion", &a)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"error": error, "error_description": description})
        );
    }
    // A signature made with another key (the payload re-signed is not possible, so tamper it).
    let good = assertion(
        "contactsync-dev",
        "u@example.com",
        "https://login.salesforce.com",
        180,
    );
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    let (status, body) = token_call(
        &emu,
        &[("grant_type", JWT), ("assertion", &parts.join("."))],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "invalid assertion");
    let (status, body) = token_call(&emu, &[("grant_type", "magic")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "unsupported_grant_type", "error_description": "grant type not supported"})
    );
}

#[tokio::test]
async fn expired_access_token_gets_invalid_session_id_and_relogin_works() {
    let emu = start_with(Config {
        token_ttl: std::time::Duration::from_secs(60),
        ..Config::default()
    })
    .await;
    emu.user("exp@example.com").await;
    let a = assertion(
        "contactsync-dev",
        "exp@example.com",
        "https://login.salesforce.com",
        180,
    );
    let (_, body) = token_call(&emu, &[("grant_type", JWT), ("assertion", &a)]).await;
    let token = body["access_token"].as_str().expect("token").to_string();
    assert_eq!(
        emu.query(&token, "SELECT Id FROM Contact").await.status,
        StatusCode::OK
    );
    emu.advance_clock(61.0).await;
    let r = emu.query(&token, "SELECT Id FROM Contact").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    // The JWT's exp is checked against the emulator clock too, so mint a fresh assertion.
    let a = assertion(
        "contactsync-dev",
        "exp@example.com",
        "https://login.salesforce.com",
        240,
    );
    let (status, body) = token_call(&emu, &[("grant_type", JWT), ("assertion", &a)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["access_token"].as_str().expect("token");
    assert_eq!(
        emu.query(fresh, "SELECT Id FROM Contact").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn missing_or_garbage_bearer_is_401_without_fields() {
    let emu = start().await;
    let r = emu
        .send(
            Method::GET,
            &format!("/services/data/{V}/limits"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    let r = emu
        .get(
            &format!("/services/data/{V}/limits"),
            "00Dxx0000001gPL!garbage",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_token_grant_issues_new_access_tokens() {
    let emu = start().await;
    emu.user("r@example.com").await;
    let minted = emu
        .control(
            Method::POST,
            "/tokens",
            Some(json!({"username": "r@example.com"})),
        )
        .await;
    let refresh = minted.body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let (status, body) = token_call(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "contactsync-dev"),
            ("client_secret", "contactsync-dev-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["issued_at"]
            .as_str()
            .is_some_and(|s| s.parse::<i64>().is_ok()),
        "issued_at is epoch ms as a string"
    );
    assert!(body["signature"].as_str().is_some());
    assert!(
        body.get("refresh_token").is_none(),
        "no rotation by default"
    );
    assert_eq!(
        emu.query(
            body["access_token"].as_str().expect("t"),
            "SELECT Id FROM Contact"
        )
        .await
        .status,
        StatusCode::OK
    );
    let (status, body) = token_call(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "bogus"),
            ("client_id", "contactsync-dev"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "expired access/refresh token"})
    );
}

#[tokio::test]
async fn client_credentials_runs_as_the_integration_user() {
    let emu = start().await;
    let (status, body) = token_call(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "contactsync-dev"),
            ("client_secret", "contactsync-dev-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    // HTTP Basic form, as simple-salesforce sends it.
    let r = emu
        .http
        .post(format!("{}/services/oauth2/token", emu.base))
        .basic_auth("contactsync-dev", Some("contactsync-dev-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), StatusCode::OK);
    let (status, body) = token_call(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "contactsync-dev"),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_client", "error_description": "invalid client credentials"})
    );
}

#[tokio::test]
async fn client_credentials_without_run_as_user_is_refused() {
    let emu = start_with(Config {
        client_credentials_username: None,
        ..Config::default()
    })
    .await;
    let (status, body) = token_call(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "contactsync-dev"),
            ("client_secret", "contactsync-dev-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "no client credentials user enabled"})
    );
}
