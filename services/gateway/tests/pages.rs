//! The pages over real HTTP: the Sync Settings page (signed link or operator token, escaped
//! output, the org's list views from the Salesforce emulator, the form) and the dashboard (C5
//! confirm button).

mod common;

use common::{ADMIN_TOKEN, ENCRYPTION_KEY, Resp, SF_ORG_ID, Stack, start};
use reqwest::Method;
use serde_json::json;
use sync_state::sessions::{ItemError, Progress, SessionState};
use sync_state::users::Scope;
use tokio_util::sync::CancellationToken;

const NASTY_MAILBOX: &str = "<b>\"x\"&'@example.com";
const SCRIPT: &str = "<script>alert(1)</script>";

struct Emulator {
    base: String,
    stop: CancellationToken,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn salesforce_emulator() -> Emulator {
    let app = salesforce_emulator::App::build(salesforce_emulator::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..salesforce_emulator::Config::default()
    })
    .await
    .expect("emulator binds");
    let base = app.base_url();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    Emulator { base, stop }
}

async fn get(stack: &Stack, path: &str) -> Resp {
    stack.send(Method::GET, path, None, None).await
}

fn sig(user: &str) -> String {
    gateway::auth::settings_signature(ENCRYPTION_KEY, user).expect("sig")
}

/// An org whose Salesforce is the emulator, a user with markup in their mailbox and a finished
/// session with a per-item error carrying markup.
async fn setup(stack: &Stack, login_url: &str) {
    stack.create_org("dev", SF_ORG_ID, login_url).await;
    let resp = stack
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": "alice", "mailbox": NASTY_MAILBOX,
                        "salesforce_user_id": "005xx000001SvbQAAS"})),
        )
        .await;
    assert_eq!(resp.status, 201, "{resp:?}");
    stack.create_user("bob", "dev", "005xx000001SvbRAAS").await;
    let job = match sync_state::trigger::start(
        &stack.db.pool,
        "alice",
        contracts::Trigger::Manual,
        chrono::Utc::now(),
    )
    .await
    .expect("session")
    {
        sync_state::sessions::StartOutcome::Started(id) => id,
        other => panic!("{other:?}"),
    };
    let progress = Progress {
        errors: vec![ItemError {
            item: format!("contact {SCRIPT}"),
            code: "invalid_email".into(),
            field: Some("Email".into()),
            message: format!("bad value {SCRIPT}"),
        }],
        ..Progress::default()
    };
    stack
        .finish_session(job, SessionState::Partial, &progress)
        .await;
}

fn assert_escaped(page: &Resp) {
    assert!(!page.text.contains(SCRIPT), "raw markup in the page");
    assert!(
        !page.text.contains(NASTY_MAILBOX),
        "raw mailbox in the page"
    );
    assert!(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        page.text
            .contains("&lt;b&gt;&quot;x&quot;&amp;&#39;@example.com")
    );
}

#[tokio::test]
async fn the_settings_page_needs_the_users_signature_or_the_operator_token() {
    let emulator = salesforce_emulator().await;
    let stack = start().await;
    setup(&stack, &emulator.base).await;
    let bob_sig = sig("bob");
    for path in [
        "/settings/alice".to_owned(),
        "/settings/alice?sig=00ff".to_owned(),
        format!("/settings/alice?sig={bob_sig}"),
        "/settings/alice?token=wrong".to_owned(),
    ] {
        let resp = get(&stack, &path).await;
        assert_eq!(resp.status, 401, "{path}");
        assert!(resp.header("content-type").starts_with("text/html"));
        assert!(
            !resp.text.contains("Sync Settings"),
            "{path} leaked the page"
        );
    }
    let by_sig = get(&stack, &format!("/settings/alice?sig={}", sig("alice"))).await;
    assert_eq!(by_sig.status, 200);
    assert!(
        by_sig
            .header("content-security-policy")
            .contains("default-src 'none'")
    );
    assert_eq!(by_sig.header("referrer-policy"), "no-referrer");
    let by_token = get(&stack, &format!("/settings/alice?token={ADMIN_TOKEN}")).await;
    assert_eq!(by_token.status, 200);
    let by_header = stack.admin(Method::GET, "/settings/alice", None).await;
    assert_eq!(by_header.status, 200);
    let unknown = get(&stack, &format!("/settings/zed?sig={}", sig("zed"))).await;
    assert_eq!(unknown.status, 404);
    stack.finish().await;
}

#[tokio::test]
async fn the_settings_page_shows_escaped_values_the_list_views_and_the_last_session() {
    let emulator = salesforce_emulator().await;
    let created = reqwest::Client::new()
        .post(format!("{}/_emulator/listviews", emulator.base))
        .json(&json!({"label": "VIP <Top> & \"Co\"", "where": "Title = 'VIP'"}))
        .send()
        .await
        .expect("list view");
    let view: serde_json::Value = created.json().await.expect("json");
    let view_id = view["id"].as_str().expect("view id").to_owned();
    let stack = start().await;
    setup(&stack, &emulator.base).await;

    let page = get(&stack, &format!("/settings/alice?sig={}", sig("alice"))).await;
    assert_eq!(page.status, 200);
    assert_escaped(&page);
    assert!(page.text.contains("Only my Contacts"));
    assert!(page.text.contains("All available Contacts"));
    assert!(page.text.contains("Custom Salesforce view"));
    assert!(
        page.text.contains("VIP &lt;Top&gt; &amp; &quot;Co&quot;"),
        "the custom view is offered"
    );
    assert!(page.text.contains(&format!("value=\"{view_id}\"")));
    assert!(page.text.contains("partial"), "the last session's state");
    assert!(page.text.contains("invalid_email"));
    stack.finish().await;
}

#[tokio::test]
async fn the_settings_form_saves_and_bad_input_is_shown_not_saved() {
    let emulator = salesforce_emulator().await;
    let stack = start().await;
    setup(&stack, &emulator.base).await;
    let alice_sig = sig("alice");
    let url = format!("{}/settings/alice?sig={alice_sig}", stack.base);
    let post = |form: Vec<(&'static str, &'static str)>| {
        let request = stack.http.post(url.clone()).form(&form);
        async move { common::read(request.send().await.expect("posted")).await }
    };

    let saved = post(vec![
        ("enabled", "on"),
        ("scope", "all"),
        ("list_view_id", "00BDn0000000009"),
        ("conflict_winner", "exchange"),
    ])
    .await;
    assert_eq!(saved.status, 303, "{saved:?}");
    assert_eq!(
        saved.header("location"),
        format!("/settings/alice?sig={alice_sig}&saved=1")
    );
    let settings = stack
        .admin(Method::GET, "/api/v1/users/alice/settings/contacts", None)
        .await;
    assert_eq!(
        settings.json,
        json!({"enabled": true, "scope": "all", "list_view_id": null,
               "auto_removal": false, "conflict_winner": "exchange"})
    );
    let sessions = stack.sessions("alice").await;
    assert_eq!(
        sessions.last().map(|s| s.1.as_str()),
        Some("settings"),
        "enabling syncs"
    );
    let shown = get(&stack, &format!("/settings/alice?sig={alice_sig}&saved=1")).await;
    assert!(shown.text.contains("Settings saved."));

    let refused = post(vec![
        ("enabled", "on"),
        ("scope", "list_view"),
        ("list_view_id", ""),
    ])
    .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .text
            .contains("list_view_id: required when scope is list_view")
    );
    let after = stack
        .admin(Method::GET, "/api/v1/users/alice/settings/contacts", None)
        .await;
    assert_eq!(after.json["scope"], "all", "nothing saved");

    // The signature of one user does not open another's form.
    let other = stack
        .http
        .post(format!("{}/settings/bob?sig={alice_sig}", stack.base))
        .form(&[("enabled", "on")])
        .send()
        .await
        .expect("posted");
    assert_eq!(other.status().as_u16(), 401);
    stack.finish().await;
}

#[tokio::test]
async fn without_salesforce_the_page_still_renders_with_a_view_id_field() {
    let stack = start().await;
    // Nothing listens on the discard port: the list views cannot be fetched.
    setup(&stack, "http://127.0.0.1:9").await;
    let page = get(&stack, &format!("/settings/alice?sig={}", sig("alice"))).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("could not be loaded"));
    assert!(page.text.contains("name=\"list_view_id\""));
    assert_escaped(&page);
    stack.finish().await;
}

#[tokio::test]
async fn the_dashboard_lists_users_and_confirms_held_deletions() {
    let stack = start().await;
    setup(&stack, "http://127.0.0.1:9").await;
    stack.enable_quietly("alice", Scope::Mine).await;
    let held = json!({"code": "mass_delete_guard", "deletions": 25, "links": 30,
                      "message": "This session would delete 25 of 30 synced contacts"});
    stack
        .sql(
            "UPDATE user_sync_state SET last_error = $2 WHERE user_id = $1",
            &[&"alice", &held],
        )
        .await;

    assert_eq!(get(&stack, "/dashboard").await.status, 401);
    assert_eq!(get(&stack, "/dashboard?token=nope").await.status, 401);
    let page = get(&stack, &format!("/dashboard?token={ADMIN_TOKEN}")).await;
    assert_eq!(page.status, 200);
    assert_escaped(&page);
    assert!(page.text.contains(">bob<"));
    assert!(page.text.contains("would delete 25 of 30"));
    let action = format!("/dashboard/users/alice/confirm-deletions?token={ADMIN_TOKEN}");
    assert!(page.text.contains(&format!("action=\"{action}\"")));

    let before = stack.sessions("alice").await.len();
    let denied = stack
        .http
        .post(format!(
            "{}/dashboard/users/alice/confirm-deletions",
            stack.base
        ))
        .send()
        .await
        .expect("posted");
    assert_eq!(denied.status().as_u16(), 401);
    let confirmed = stack
        .http
        .post(format!("{}{action}", stack.base))
        .send()
        .await
        .expect("posted");
    assert_eq!(confirmed.status().as_u16(), 303);
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["deletions_confirmed"], true);
    let sessions = stack.sessions("alice").await;
    assert_eq!(sessions.len(), before + 1);
    assert_eq!(
        sessions.last().map(|s| s.1.as_str()),
        Some("confirm_deletions")
    );
    stack.finish().await;
}
