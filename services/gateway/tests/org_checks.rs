//! Registering an org checks it against the real APIs (SPEC §4), here the emulators over real
//! HTTP: each failed check refuses the org with its cause and fix and stores nothing; a stored
//! org that fails a re-check holds its users' sessions (409 `org_not_ready`) until it passes.

mod common;

use common::{SF_ORG_ID, Stack, emulators, org_body};
use reqwest::Method;
use serde_json::{Value, json};
use sync_core::Scope;

const ALICE_SF: &str = "005xx000001SvbQAAS";

async fn gateway_for(graph_url: &str) -> Stack {
    common::start_with(common::Options {
        graph_url: Some(graph_url.to_owned()),
        ..common::Options::default()
    })
    .await
}

/// The problems of a 422 `org_check_failed`, as `(check, message, fix)`.
fn problems(resp: &common::Resp) -> Vec<(String, String, String)> {
    assert_eq!(
        (resp.status, resp.error_code()),
        (422, "org_check_failed"),
        "{resp:?}"
    );
    resp.json["error"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("check"), s("message"), s("fix"))
        })
        .collect()
}

fn only(problems: &[(String, String, String)], check: &str) -> (String, String) {
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, check, "{problems:?}");
    (problems[0].1.clone(), problems[0].2.clone())
}

#[tokio::test]
async fn each_failed_check_refuses_the_org_with_its_cause_and_fix() {
    let emu = emulators(|_| {}, |_| {}).await;
    let stack = gateway_for(&emu.graph_url).await;
    let good = org_body("acme", SF_ORG_ID, &emu.salesforce_url);

    let mut body = good.clone();
    body["graph"]["client_secret"] = json!("not-the-secret");
    let (message, fix) = only(&problems(&stack.register_org(body).await), "graph_token");
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(fix.contains("client secret"), "{fix}");
    assert!(
        !message.contains("not-the-secret"),
        "the secret is not echoed"
    );

    let mut body = good.clone();
    body["salesforce"]["consumer_key"] = json!("someone-elses-app");
    let (message, fix) = only(
        &problems(&stack.register_org(body).await),
        "salesforce_login",
    );
    assert!(message.contains("invalid_client_id"), "{message}");
    assert!(fix.contains("Consumer Key"), "{fix}");

    let mut body = good.clone();
    body["salesforce"]["username"] = json!("nobody@acme.example");
    let (message, fix) = only(
        &problems(&stack.register_org(body).await),
        "salesforce_login",
    );
    assert!(message.contains("nobody@acme.example"), "{message}");
    assert!(fix.contains("pre-authorized"), "{fix}");

    let mut body = good.clone();
    body["salesforce"]["login_url"] = json!("http://127.0.0.1:1");
    let (_, fix) = only(
        &problems(&stack.register_org(body).await),
        "salesforce_unreachable",
    );
    assert!(fix.contains("http://127.0.0.1:1"), "{fix}");

    // Both sides wrong: both named, in one answer.
    let mut body = good.clone();
    body["graph"]["tenant_id"] = json!("no-such-tenant");
    body["salesforce"]["consumer_key"] = json!("someone-elses-app");
    let found = problems(&stack.register_org(body).await);
    let checks: Vec<&str> = found.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(checks, ["graph_token", "salesforce_login"], "{found:?}");

    // Nothing of a refused org was stored.
    let missing = stack.admin(Method::GET, "/api/v1/orgs/acme", None).await;
    assert_eq!(missing.status, 404);

    let created = stack.register_org(good).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["check"]["ready"], true);
    assert_eq!(
        created.json["salesforce"]["jwt_audience"],
        "https://login.salesforce.com"
    );
    stack.finish().await;
}

#[tokio::test]
async fn a_replacement_that_fails_keeps_the_working_credentials() {
    let emu = emulators(|_| {}, |_| {}).await;
    let stack = gateway_for(&emu.graph_url).await;
    let good = org_body("acme", SF_ORG_ID, &emu.salesforce_url);
    assert_eq!(stack.register_org(good.clone()).await.status, 201);
    let mut bad = good;
    bad["name"] = json!("Renamed");
    bad["graph"]["client_secret"] = json!("wrong");
    assert_eq!(stack.register_org(bad).await.status, 422);
    let stored = stack.admin(Method::GET, "/api/v1/orgs/acme", None).await;
    assert_eq!(stored.json["name"], "Org acme");
    let check = stack
        .admin(Method::POST, "/api/v1/orgs/acme/check", None)
        .await;
    assert_eq!((check.status, &check.json["ready"]), (200, &json!(true)));
    stack.finish().await;
}

#[tokio::test]
async fn a_failing_org_holds_sessions_with_409_until_its_check_passes() {
    let emu = emulators(|_| {}, |_| {}).await;
    let stack = gateway_for(&emu.graph_url).await;
    // Stored with a secret that no longer works (rotated in Entra since registration).
    stack
        .create_org("dev", SF_ORG_ID, &emu.salesforce_url)
        .await;
    stack
        .sql(
            "UPDATE orgs SET graph_tenant_id = 'retired-tenant' WHERE id = 'dev'",
            &[],
        )
        .await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;

    let check = stack
        .admin(Method::POST, "/api/v1/orgs/dev/check", None)
        .await;
    assert_eq!(check.status, 200, "{check:?}");
    assert_eq!(check.json["ready"], false);
    assert_eq!(check.json["problems"][0]["check"], "graph_token");
    let org = stack.admin(Method::GET, "/api/v1/orgs/dev", None).await;
    assert_eq!(org.json["check"]["ready"], false);

    let sync = stack
        .admin(Method::POST, "/api/v1/users/alice/sync?wait=1", None)
        .await;
    assert_eq!((sync.status, sync.error_code()), (409, "org_not_ready"));
    assert!(sync.error_message().contains("graph_token"), "{sync:?}");
    assert!(
        sync.error_message().contains("/api/v1/orgs/dev/check"),
        "{sync:?}"
    );
    assert!(stack.sessions("alice").await.is_empty());
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(
        status.json["pending_trigger"], true,
        "remembered: {status:?}"
    );

    // The dashboard says which org waits and why.
    let dashboard = stack
        .send(
            Method::GET,
            "/dashboard",
            Some(common::ADMIN_TOKEN),
            None::<Value>,
        )
        .await;
    assert!(
        dashboard.text.contains("is not ready"),
        "{}",
        dashboard.text
    );
    assert!(dashboard.text.contains("graph_token"));

    // Fixed in Entra; the re-check passes and sessions may start again.
    stack
        .sql(
            "UPDATE orgs SET graph_tenant_id = 'dev-tenant' WHERE id = 'dev'",
            &[],
        )
        .await;
    let check = stack
        .admin(Method::POST, "/api/v1/orgs/dev/check", None)
        .await;
    assert_eq!(check.json["ready"], true, "{check:?}");
    let sync = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(sync.status, 202, "{sync:?}");
    assert_eq!(stack.sessions("alice").await.len(), 1);
    let dashboard = stack
        .send(
            Method::GET,
            "/dashboard",
            Some(common::ADMIN_TOKEN),
            None::<Value>,
        )
        .await;
    assert!(!dashboard.text.contains("is not ready"));
    stack.finish().await;
}

#[tokio::test]
async fn an_org_without_the_package_is_refused_naming_the_field_to_deploy() {
    let emu = emulators(|_| {}, |sf| sf.sync_key_field = false).await;
    let stack = gateway_for(&emu.graph_url).await;
    let resp = stack
        .register_org(org_body("acme", SF_ORG_ID, &emu.salesforce_url))
        .await;
    let (message, fix) = only(&problems(&resp), "salesforce_sync_key_field");
    assert!(message.contains("Contactsync_Key__c"), "{message}");
    assert!(fix.contains("sf project deploy start"), "{fix}");
    assert!(
        resp.error_message().contains("Contactsync_Key__c"),
        "the message names the field too: {resp:?}"
    );
    stack.finish().await;
}

#[tokio::test]
async fn a_sandbox_needs_its_own_jwt_audience() {
    let emu = emulators(
        |_| {},
        |sf| sf.jwt_audiences = vec!["https://test.salesforce.com".to_owned()],
    )
    .await;
    let stack = gateway_for(&emu.graph_url).await;
    let mut body = org_body("uat", SF_ORG_ID, &emu.salesforce_url);
    let (message, fix) = only(
        &problems(&stack.register_org(body.clone()).await),
        "salesforce_login",
    );
    assert!(message.contains("audience is invalid"), "{message}");
    assert!(fix.contains("https://test.salesforce.com"), "{fix}");
    body["salesforce"]["jwt_audience"] = json!("https://test.salesforce.com");
    let created = stack.register_org(body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        created.json["salesforce"]["jwt_audience"],
        "https://test.salesforce.com"
    );
    stack.finish().await;
}

#[tokio::test]
async fn an_app_without_admin_consent_for_contacts_is_refused_with_the_permission_to_grant() {
    let emu = emulators(|_| {}, |_| {}).await;
    let stack = gateway_for(&emu.graph_url).await;
    let registered = reqwest::Client::new()
        .post(format!("{}/_emulator/apps", emu.graph_url))
        .json(
            &json!({"client_id": "no-consent", "client_secret": "s", "tenant": "dev-tenant",
                      "roles": []}),
        )
        .send()
        .await
        .expect("app");
    assert_eq!(registered.status(), 201);
    let mut body = org_body("acme", SF_ORG_ID, &emu.salesforce_url);
    body["graph"]["client_id"] = json!("no-consent");
    body["graph"]["client_secret"] = json!("s");
    let (message, fix) = only(
        &problems(&stack.register_org(body).await),
        "graph_permission",
    );
    assert!(message.contains("Contacts.ReadWrite"), "{message}");
    assert!(fix.contains("admin consent"), "{fix}");
    stack.finish().await;
}

/// G1: an org registers its Google Workspace service account (its key file as Google's console
/// gives it), never echoed back; Gmail users need such an org, and a bad provider or key is named.
#[tokio::test]
async fn gmail_users_need_an_org_with_a_google_service_account() {
    let emu = emulators(|_| {}, |_| {}).await;
    let stack = gateway_for(&emu.graph_url).await;
    let exchange_only = org_body("exchange-only", SF_ORG_ID, &emu.salesforce_url);
    assert_eq!(stack.register_org(exchange_only).await.status, 201);
    let gmail_user = |id: &str, org: &str| {
        json!({"id": id, "mailbox": format!("{id}@example.com"), "salesforce_user_id": ALICE_SF,
               "org": org, "provider": "gmail"})
    };
    let refused = stack
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(gmail_user("gil", "exchange-only")),
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        refused.error_message().contains("Google Workspace"),
        "{refused:?}"
    );

    // A real key (any RSA key will do for storing it) in Google's key file shape.
    let key_file = json!({"type": "service_account", "project_id": "acme",
        "private_key_id": "k1", "private_key": salesforce_emulator::DEV_PRIVATE_KEY_PEM,
        "client_email": "contactsync@acme.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token"});
    let mut with_google = org_body("acme", SF_ORG_ID, &emu.salesforce_url);
    with_google["google"] = json!({"service_account_key": key_file.clone()});
    let stored = stack.register_org(with_google.clone()).await;
    assert_eq!(stored.status, 201, "{stored:?}");
    assert_eq!(
        stored.json["google"],
        json!({"client_email": "contactsync@acme.iam.gserviceaccount.com",
               "token_uri": "https://oauth2.googleapis.com/token",
               "api_url": "https://people.googleapis.com"}),
        "the key is never echoed: {stored:?}"
    );
    assert!(!stored.json.to_string().contains("PRIVATE KEY"));

    let created = stack
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(gmail_user("gil", "acme")),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["provider"], "gmail");
    let exchange = stack
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": "eve", "mailbox": "eve@example.com",
                        "salesforce_user_id": ALICE_SF, "org": "acme"})),
        )
        .await;
    assert_eq!(exchange.json["provider"], "exchange", "the default");
    let mut moved = gmail_user("gil", "acme");
    moved["provider"] = json!("exchange");
    let conflict = stack
        .admin(Method::POST, "/api/v1/users", Some(moved))
        .await;
    assert_eq!(
        (conflict.status, conflict.error_code()),
        (409, "user_exists")
    );

    let mut unknown = gmail_user("hal", "acme");
    unknown["provider"] = json!("outlook");
    let bad = stack
        .admin(Method::POST, "/api/v1/users", Some(unknown))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.error_message().starts_with("provider:"), "{bad:?}");

    let mut bad_key = with_google.clone();
    bad_key["google"]["service_account_key"]["private_key"] = json!("not a key");
    let resp = stack.register_org(bad_key).await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert!(
        resp.error_message().starts_with("google.private_key_pem"),
        "{resp:?}"
    );
    let mut not_a_service_account = with_google.clone();
    not_a_service_account["google"]["service_account_key"]["type"] = json!("authorized_user");
    let resp = stack.register_org(not_a_service_account).await;
    assert_eq!(resp.status, 400, "{resp:?}");

    // A Google Workspace only company: no Microsoft tenant, so no Graph check, no Exchange user.
    let mut google_only = with_google;
    google_only["id"] = json!("workspace");
    google_only.as_object_mut().expect("object").remove("graph");
    let stored = stack.register_org(google_only.clone()).await;
    assert_eq!(stored.status, 201, "{stored:?}");
    assert_eq!(stored.json["graph"], Value::Null);
    let exchange_user = stack
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": "xavier", "mailbox": "xavier@example.com",
                        "salesforce_user_id": ALICE_SF, "org": "workspace"})),
        )
        .await;
    assert_eq!(exchange_user.status, 400, "{exchange_user:?}");
    assert!(
        exchange_user.error_message().contains("Microsoft tenant"),
        "{exchange_user:?}"
    );
    let gmail = stack
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(gmail_user("gwen", "workspace")),
        )
        .await;
    assert_eq!(gmail.status, 201, "{gmail:?}");
    let mut no_mailbox_side = google_only;
    no_mailbox_side["id"] = json!("nothing");
    no_mailbox_side
        .as_object_mut()
        .expect("object")
        .remove("google");
    let resp = stack.register_org(no_mailbox_side).await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert!(resp.error_message().starts_with("graph:"), "{resp:?}");
    stack.finish().await;
    drop(emu);
}
