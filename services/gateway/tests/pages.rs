//! The pages over real HTTP: the Sync Settings page (a live signed link or the operator; escaped
//! output; the org's list views from the Salesforce emulator; Apply and Sync now), the operator's
//! sign-in (a session cookie, never a token in a URL) and the dashboard (paging, filters, search,
//! the C5 confirm button). The browser tests in `tests/tests/browser_*.rs` drive the same pages in
//! headless Chromium.

mod common;

use common::{ADMIN_TOKEN, Resp, SF_ORG_ID, Stack, link_key, start};
use reqwest::Method;
use serde_json::json;
use sync_core::Scope;
use sync_state::sessions::{ItemError, Progress, SessionState};
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

/// The query of a live settings link of `user` (generation 0, an hour to go).
fn sig(user: &str) -> String {
    link(user, chrono::Utc::now().timestamp() + 3600, 0)
}

fn link(user: &str, exp: i64, generation: i64) -> String {
    let sig = gateway::auth::settings_signature(&link_key(), user, exp, generation);
    format!("exp={exp}&sig={sig}")
}

/// Signs in as the operator through the form; returns the `Cookie` header to send.
async fn sign_in(stack: &Stack) -> String {
    let resp = stack
        .http
        .post(format!("{}/dashboard/login", stack.base))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .expect("posted");
    let resp = common::read(resp).await;
    assert_eq!(resp.status, 303, "{resp:?}");
    assert_eq!(resp.header("location"), "/dashboard");
    let cookie = resp.header("set-cookie").to_owned();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    cookie.split(';').next().expect("name=value").to_owned()
}

async fn get_with_cookie(stack: &Stack, path: &str, cookie: &str) -> Resp {
    let resp = stack
        .http
        .get(format!("{}{path}", stack.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("sent");
    common::read(resp).await
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
        failure: Some(format!("the mailbox could not be read {SCRIPT}")),
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
async fn the_settings_page_needs_a_live_unrevoked_link_or_the_operator() {
    let emulator = salesforce_emulator().await;
    let stack = start().await;
    setup(&stack, &emulator.base).await;
    let now = chrono::Utc::now().timestamp();
    for (path, status) in [
        ("/settings/alice".to_owned(), 401),
        ("/settings/alice?exp=9999999999&sig=00ff".to_owned(), 403),
        (format!("/settings/alice?{}", sig("bob")), 403),
        (
            format!("/settings/alice?{}", link("alice", now - 1, 0)),
            403,
        ),
        ("/settings/alice?exp=soon&sig=00".to_owned(), 403),
        // The operator token is never taken from a URL.
        (format!("/settings/alice?token={ADMIN_TOKEN}"), 401),
    ] {
        let resp = get(&stack, &path).await;
        assert_eq!(resp.status, status, "{path}");
        assert!(resp.header("content-type").starts_with("text/html"));
        assert!(
            !resp.text.contains("Sync Salesforce contacts"),
            "{path} leaked the page"
        );
    }
    // Another user's link: its signature names bob, not alice.
    let bobs = sig("bob");
    assert_eq!(
        get(&stack, &format!("/settings/alice?{bobs}")).await.status,
        403
    );
    let expired = get(
        &stack,
        &format!("/settings/alice?{}", link("alice", now - 1, 0)),
    )
    .await;
    assert!(expired.text.contains("expired"), "{}", expired.text);

    let by_link = get(&stack, &format!("/settings/alice?{}", sig("alice"))).await;
    assert_eq!(by_link.status, 200);
    assert!(
        by_link
            .header("content-security-policy")
            .contains("script-src 'self'")
    );
    assert!(
        !by_link
            .header("content-security-policy")
            .contains("unsafe-inline'; script")
    );
    assert_eq!(by_link.header("referrer-policy"), "no-referrer");
    let by_header = stack.admin(Method::GET, "/settings/alice", None).await;
    assert_eq!(by_header.status, 200);
    let cookie = sign_in(&stack).await;
    let by_cookie = get_with_cookie(&stack, "/settings/alice", &cookie).await;
    assert_eq!(by_cookie.status, 200);
    assert!(by_cookie.text.contains("Back to the dashboard"));
    let unknown = get(&stack, &format!("/settings/zed?{}", sig("zed"))).await;
    assert_eq!(unknown.status, 404);

    // Revoked: the link handed out before stops working; a new one works.
    let handed_out = stack
        .admin(Method::GET, "/api/v1/users/alice/settings-link", None)
        .await;
    let url = handed_out.json["url"].as_str().expect("url").to_owned();
    let path = url.trim_start_matches(common::PUBLIC_BASE).to_owned();
    assert_eq!(get(&stack, &path).await.status, 200, "{path}");
    let revoked = stack
        .admin(
            Method::POST,
            "/api/v1/users/alice/settings-link:revoke",
            None,
        )
        .await;
    assert_eq!(revoked.status, 200);
    let old = get(&stack, &path).await;
    assert_eq!(old.status, 403, "revoked");
    assert!(old.text.contains("revoked"), "{}", old.text);
    let fresh = stack
        .admin(Method::GET, "/api/v1/users/alice/settings-link", None)
        .await;
    let fresh = fresh.json["url"].as_str().expect("url").to_owned();
    assert_eq!(
        get(&stack, fresh.trim_start_matches(common::PUBLIC_BASE))
            .await
            .status,
        200
    );
    assert_eq!(
        get(
            &stack,
            &format!("/settings/alice?{}", link("alice", now + 60, 1))
        )
        .await
        .status,
        200,
        "links of the new generation work"
    );
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

    let page = get(&stack, &format!("/settings/alice?{}", sig("alice"))).await;
    assert_eq!(page.status, 200);
    assert_escaped(&page);
    // The product page's words (seed/).
    for words in [
        "Sync Salesforce contacts",
        "Customize scope",
        "Auto-removal",
        ">Apply</button>",
        ">Sync now</button>",
        "Contacts in sync",
        "Next sync",
        "Near-real-time sync",
    ] {
        assert!(page.text.contains(words), "{words}");
    }
    assert!(page.text.contains("Only my Contacts"));
    assert!(page.text.contains("All available Contacts"));
    assert!(page.text.contains("Custom Salesforce view"));
    assert!(
        page.text.contains("VIP &lt;Top&gt; &amp; &quot;Co&quot;"),
        "the custom view is offered"
    );
    assert!(page.text.contains(&format!("value=\"{view_id}\"")));
    assert!(
        page.text.contains("completed, some contacts failed"),
        "the last session's state"
    );
    stack.finish().await;
}

#[tokio::test]
async fn the_settings_form_saves_and_bad_input_is_shown_not_saved() {
    let emulator = salesforce_emulator().await;
    let stack = start().await;
    setup(&stack, &emulator.base).await;
    let alice_sig = sig("alice");
    let url = format!("{}/settings/alice?{alice_sig}", stack.base);
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
        format!("/settings/alice?{alice_sig}&done=saved")
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
    let shown = get(&stack, &format!("/settings/alice?{alice_sig}&done=saved")).await;
    assert!(shown.text.contains("Settings applied."));

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
        .post(format!("{}/settings/bob?{alice_sig}", stack.base))
        .form(&[("enabled", "on")])
        .send()
        .await
        .expect("posted");
    assert_eq!(other.status().as_u16(), 403);

    // Sync now asks for a session, as the admin API's sync does.
    let before = stack.sessions("alice").await.len();
    let synced = stack
        .http
        .post(format!("{}/settings/alice/sync?{alice_sig}", stack.base))
        .send()
        .await
        .expect("posted");
    assert_eq!(synced.status().as_u16(), 303);
    assert!(
        synced.headers()["location"]
            .to_str()
            .expect("location")
            .ends_with("&done=sync")
    );
    let sessions = stack.sessions("alice").await;
    assert!(sessions.len() > before || sessions.iter().any(|s| s.2 == "fetching"));
    let panel = get(&stack, &format!("/settings/alice/status?{alice_sig}")).await;
    assert_eq!(panel.status, 200);
    assert!(
        panel.text.starts_with("<section id=\"status\""),
        "{}",
        panel.text
    );
    stack.finish().await;
}

#[tokio::test]
async fn without_salesforce_the_page_still_renders_with_a_view_id_field() {
    let stack = start().await;
    // Nothing listens on the discard port: the list views cannot be fetched.
    setup(&stack, "http://127.0.0.1:9").await;
    let page = get(&stack, &format!("/settings/alice?{}", sig("alice"))).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("could not be loaded"));
    assert!(page.text.contains("name=\"list_view_id\""));
    assert_escaped(&page);
    stack.finish().await;
}

#[tokio::test]
async fn operators_sign_in_with_a_form_and_never_a_token_in_the_url() {
    let stack = start().await;
    setup(&stack, "http://127.0.0.1:9").await;
    let to_login = get(&stack, "/dashboard").await;
    assert_eq!(to_login.status, 303);
    assert_eq!(to_login.header("location"), "/dashboard/login");
    let with_token = get(&stack, &format!("/dashboard?token={ADMIN_TOKEN}")).await;
    assert_eq!(with_token.status, 303, "a token in the URL is not taken");
    let form = get(&stack, "/dashboard/login").await;
    assert_eq!(form.status, 200);
    assert!(
        form.text
            .contains("<label for=\"token\">Operator token</label>")
    );
    assert!(form.text.contains("type=\"password\""));
    let wrong = stack
        .http
        .post(format!("{}/dashboard/login", stack.base))
        .form(&[("token", "nope")])
        .send()
        .await
        .expect("posted");
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_eq!(
        stack
            .send(Method::GET, "/dashboard", Some("nope"), None)
            .await
            .status,
        401,
        "a script with a wrong token gets a 401, not a redirect"
    );

    let cookie = sign_in(&stack).await;
    let page = get_with_cookie(&stack, "/dashboard", &cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Overview"));
    assert!(page.text.contains("Sign out"));
    let forged = get_with_cookie(&stack, "/dashboard", "contactsync_operator=99999999999.00").await;
    assert_eq!(forged.status, 303);
    // The admin API never takes the cookie: scripts use the bearer token.
    assert_eq!(
        get_with_cookie(&stack, "/api/v1/users/alice", &cookie)
            .await
            .status,
        401
    );
    let out = stack
        .http
        .post(format!("{}/dashboard/logout", stack.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("posted");
    assert_eq!(out.status().as_u16(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .contains("Max-Age=0")
    );
    stack.finish().await;
}

#[tokio::test]
async fn the_dashboard_pages_filters_searches_and_confirms_held_deletions() {
    let stack = start().await;
    setup(&stack, "http://127.0.0.1:9").await;
    stack.enable_quietly("alice", Scope::Mine).await;
    for i in 0..60 {
        stack
            .create_user(&format!("user{i:03}"), "dev", "005xx000001SvbRAAS")
            .await;
        stack
            .enable_quietly(&format!("user{i:03}"), Scope::Mine)
            .await;
    }
    stack.hold_deletions("alice", 25, 30).await;
    let cookie = sign_in(&stack).await;

    let page = get_with_cookie(&stack, "/dashboard", &cookie).await;
    assert_eq!(page.status, 200);
    assert_escaped(&page);
    assert!(
        page.text.contains("Showing 1–50 of 62 users"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Page 1 of 2"));
    assert!(page.text.contains("href=\"/dashboard?page=2\""));
    assert!(page.text.contains("would delete 25 of 30"));
    assert!(page.text.contains("<svg id=\"chart-sessions\""), "charts");
    assert!(page.text.contains("Org dev"));
    assert!(page.text.contains("Dead letters waiting for an operator"));
    let second = get_with_cookie(&stack, "/dashboard?page=2", &cookie).await;
    assert!(second.text.contains("Showing 51–62 of 62 users"));
    assert!(second.text.contains(">user059<"));
    assert!(!second.text.contains(">user000<"));

    let disabled = get_with_cookie(&stack, "/dashboard?filter=disabled", &cookie).await;
    assert!(disabled.text.contains("of 1 user"), "only bob is off");
    assert!(disabled.text.contains(">bob<"));
    let found = get_with_cookie(&stack, "/dashboard?q=USER04", &cookie).await;
    assert!(found.text.contains("of 10 users"), "{}", found.text);
    let by_mailbox = get_with_cookie(&stack, "/dashboard?q=%26%27%40example", &cookie).await;
    assert!(
        by_mailbox.text.contains("of 1 user"),
        "alice by her mailbox"
    );
    let literal = get_with_cookie(&stack, "/dashboard?q=%25", &cookie).await;
    assert!(literal.text.contains("No users match"), "% is no wildcard");
    let bad = get_with_cookie(&stack, "/dashboard?page=0", &cookie).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("page:"));
    let bad = get_with_cookie(&stack, "/dashboard?filter=all-of-them", &cookie).await;
    assert_eq!(bad.status, 400);

    let held_page = get_with_cookie(&stack, "/dashboard?filter=held", &cookie).await;
    assert!(held_page.text.contains("of 1 user"));
    let action = "/dashboard/users/alice/confirm-deletions?filter=held";
    assert!(held_page.text.contains(&format!("action=\"{action}\"")));
    let before = stack.sessions("alice").await.len();
    let denied = stack
        .http
        .post(format!("{}{action}", stack.base))
        .send()
        .await
        .expect("posted");
    assert_eq!(denied.status().as_u16(), 303, "to the sign-in form");
    assert_eq!(
        stack.sessions("alice").await.len(),
        before,
        "nothing confirmed"
    );
    let confirmed = stack
        .http
        .post(format!("{}{action}", stack.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("posted");
    assert_eq!(confirmed.status().as_u16(), 303);
    assert_eq!(
        confirmed.headers()["location"],
        "/dashboard?filter=held&confirmed=alice"
    );
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
    // Scripts still use the bearer token.
    let scripted = stack
        .admin(Method::GET, "/dashboard?filter=held", None)
        .await;
    assert_eq!(scripted.status, 200);
    stack.finish().await;
}

#[tokio::test]
async fn c5_the_settings_page_shows_held_deletions_and_confirms_them_by_the_users_link() {
    let emulator = salesforce_emulator().await;
    let stack = start().await;
    setup(&stack, &emulator.base).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    let alice = sig("alice");
    let page = get(&stack, &format!("/settings/alice?{alice}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.text.contains("confirm-deletions"), "nothing held yet");

    stack.hold_deletions("alice", 25, 30).await;
    let page = get(&stack, &format!("/settings/alice?{alice}")).await;
    assert!(
        page.text.contains("25 deletion(s) are held"),
        "{}",
        page.text
    );
    let action = format!("/settings/alice/confirm-deletions?{alice}");
    assert!(
        page.text
            .contains(&format!("action=\"{}\"", action.replace('&', "&amp;")))
    );

    let post = |path: String| {
        let http = stack.http.clone();
        let url = format!("{}{path}", stack.base);
        async move { http.post(url).send().await.expect("posted") }
    };
    let denied = post("/settings/alice/confirm-deletions?exp=9999999999&sig=00ff".to_owned()).await;
    assert_eq!(denied.status().as_u16(), 403);
    let before = stack.sessions("alice").await.len();
    let confirmed = post(action.clone()).await;
    assert_eq!(confirmed.status().as_u16(), 303);
    let location = confirmed
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(location, format!("/settings/alice?{alice}&done=confirmed"));
    let sessions = stack.sessions("alice").await;
    assert_eq!(sessions.len(), before + 1);
    assert_eq!(
        sessions.last().map(|s| s.1.as_str()),
        Some("confirm_deletions")
    );
    let page = get(&stack, &location).await;
    assert!(page.text.contains("Deletions confirmed"), "{}", page.text);
    assert!(
        page.text.contains("25 confirmed deletion(s)"),
        "{}",
        page.text
    );
    // Nothing is held any more.
    let again = post(action).await;
    assert_eq!(again.status().as_u16(), 409);
    assert!(
        again
            .text()
            .await
            .expect("body")
            .contains("no deletions are held")
    );
    stack.finish().await;
}
