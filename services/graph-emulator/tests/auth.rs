//! Token endpoint and bearer checks (reference §1, §10; checklist items 1 and 2).

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn token_request(emu: &Emu, tenant: &str, form: &[(&str, &str)]) -> Resp {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = emu
        .http
        .post(emu.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token call");
    to_resp(response).await
}

fn good_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("client_id", CLIENT_ID),
        ("scope", SCOPE),
        ("client_secret", CLIENT_SECRET),
        ("grant_type", "client_credentials"),
    ]
}

#[tokio::test]
async fn client_credentials_return_the_documented_success_body_and_the_token_works() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let r = token_request(&emu, TENANT, &good_form()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    assert_eq!(r.body["ext_expires_in"], 3599);
    assert_eq!(r.header("cache-control"), Some("no-store, no-cache"));
    let token = r.body["access_token"].as_str().expect("token").to_owned();
    let me = emu
        .http
        .get(emu.url("/v1.0/users/u1"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("call");
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn a_wrong_secret_is_401_invalid_client_with_aadsts7000215() {
    let emu = Emu::start().await;
    let mut form = good_form();
    form[2] = ("client_secret", "nope");
    let r = token_request(&emu, TENANT, &form).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    assert_eq!(r.body["error_codes"], json!([7000215]));
    let description = r.body["error_description"].as_str().unwrap_or_default();
    assert!(description.starts_with("AADSTS7000215: "), "{description}");
    assert!(description.contains("Trace ID: "));
    assert!(r.body["trace_id"].is_string() && r.body["correlation_id"].is_string());
}

#[tokio::test]
async fn a_wrong_scope_unknown_client_or_tenant_or_grant_are_400s() {
    let emu = Emu::start().await;
    let mut form = good_form();
    form[1] = ("scope", "https://foo.microsoft.com/.default");
    let r = token_request(&emu, TENANT, &form).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let mut form = good_form();
    form[0] = ("client_id", "someone-else");
    let r = token_request(&emu, TENANT, &form).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    let r = token_request(&emu, "other-tenant", &good_form()).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let mut form = good_form();
    form[3] = ("grant_type", "password");
    let r = token_request(&emu, TENANT, &form).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn missing_or_garbage_bearers_get_invalid_authentication_token() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let bare = emu
        .http
        .get(emu.url("/v1.0/users/u1/contacts"))
        .send()
        .await
        .expect("call");
    let r = to_resp(bare).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "InvalidAuthenticationToken");
    assert_eq!(r.body["error"]["message"], "Access token is empty.");
    assert!(r.body["error"]["innerError"]["request-id"].is_string());

    let garbage = emu
        .http
        .get(emu.url("/v1.0/users/u1/contacts"))
        .bearer_auth("eyJ0eXAi.garbage.x")
        .send()
        .await
        .expect("call");
    let r = to_resp(garbage).await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, "InvalidAuthenticationToken")
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_and_a_fresh_one_from_the_endpoint_works() {
    let mut config = test_config();
    config.knobs.token_lifetime_secs = 1;
    let emu = Emu::start_with(config).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let r = token_request(&emu, TENANT, &good_form()).await;
    assert_eq!(r.body["expires_in"], 1);
    let token = r.body["access_token"].as_str().expect("token").to_owned();
    let call = |token: String| {
        let http = emu.http.clone();
        let url = emu.url("/v1.0/users/u1/contacts");
        async move { to_resp(http.get(url).bearer_auth(token).send().await.expect("call")).await }
    };
    assert_eq!(call(token.clone()).await.status, 200);
    let expired = poll_until(Duration::from_secs(5), || {
        let call = call(token.clone());
        async move { call.await.status == 401 }
    })
    .await;
    assert!(expired, "the token never expired");
    let r = call(token.clone()).await;
    assert_eq!(
        r.body["error"]["message"],
        "Access token has expired or is not yet valid."
    );
    let fresh = token_request(&emu, TENANT, &good_form()).await;
    let fresh = fresh.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(call(fresh).await.status, 200);
}

#[tokio::test]
async fn me_is_refused_for_app_only_tokens() {
    let emu = Emu::start().await;
    let r = emu.get("/v1.0/me/contacts").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("delegated")
    );
    let _: Value = emu
        .control(Method::GET, "/_emulator/requests", json!({}))
        .await
        .body;
}

#[tokio::test]
async fn an_app_without_consented_contacts_permission_gets_a_token_but_no_mailbox() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let registered = emu
        .control(
            Method::POST,
            "/_emulator/apps",
            json!({"client_id": "no-consent", "client_secret": "s", "tenant": TENANT, "roles": ["User.Read.All"]}),
        )
        .await;
    assert_eq!(registered.status, 201);
    let r = token_request(
        &emu,
        TENANT,
        &[
            ("client_id", "no-consent"),
            ("scope", SCOPE),
            ("client_secret", "s"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "a token is issued: {:?}", r.body);
    let token = r.body["access_token"].as_str().expect("token").to_owned();
    let claims: Value = {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).expect("a JWT");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("claims")
    };
    assert_eq!(claims["roles"], json!(["User.Read.All"]));
    let denied = emu
        .http
        .get(emu.url("/v1.0/users/u1/contacts"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("call");
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");
}
