//! The admin API over real HTTP against real PostgreSQL and RabbitMQ (SPEC §4): auth, orgs,
//! users, settings, sync with coalescing and waiting (B3), status and held deletions (C5).

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, ENCRYPTION_KEY, SF_ORG_ID, eventually, next, start};
use contracts::Message;
use messaging::Queue;
use reqwest::Method;
use serde_json::json;
use sync_core::Scope;
use sync_state::sessions::{ItemError, Progress, SessionState, WriteCounts, Writes};

const LOGIN: &str = "https://login.salesforce.example";
const ALICE_SF: &str = "005xx000001SvbQAAS";

#[tokio::test]
async fn the_admin_api_wants_the_operator_token() {
    let stack = start().await;
    for (token, expected) in [(None, 401), (Some("wrong"), 401), (Some(ADMIN_TOKEN), 200)] {
        let resp = stack.send(Method::GET, "/api/v1/orgs", token, None).await;
        assert_eq!(resp.status, expected, "{token:?}: {resp:?}");
        if expected == 401 {
            assert_eq!(resp.error_code(), "unauthorized");
            assert!(resp.header("content-type").starts_with("application/json"));
        }
    }
    // A prefix of the right token is still wrong.
    let resp = stack
        .send(Method::GET, "/api/v1/orgs", Some(&ADMIN_TOKEN[..10]), None)
        .await;
    assert_eq!(resp.status, 401);
    let resp = stack
        .send(Method::POST, "/api/v1/users", None, Some(json!({})))
        .await;
    assert_eq!(resp.status, 401);
    // Unknown routes and methods answer in the same JSON shape.
    let resp = stack.admin(Method::GET, "/api/v1/nothing", None).await;
    assert_eq!((resp.status, resp.error_code()), (404, "not_found"));
    // Even axum's own rejections (a path segment that is not UTF-8) keep the shape.
    let resp = stack
        .admin(Method::GET, "/api/v1/users/%FF/status", None)
        .await;
    assert_eq!(
        (resp.status, resp.error_code()),
        (400, "bad_request"),
        "{resp:?}"
    );
    let resp = stack
        .admin(Method::GET, "/api/v1/users/a%00b/status", None)
        .await;
    assert_eq!(
        (resp.status, resp.error_code()),
        (400, "bad_request"),
        "{resp:?}"
    );
    let resp = stack.admin(Method::DELETE, "/api/v1/orgs", None).await;
    assert_eq!(
        (resp.status, resp.error_code()),
        (405, "method_not_allowed")
    );
    stack.finish().await;
}

#[tokio::test]
async fn orgs_are_stored_sealed_and_never_echo_their_secrets() {
    let emulators = common::emulators(|_| {}, |_| {}).await;
    let stack = common::start_with(common::Options {
        graph_url: Some(emulators.graph_url.clone()),
        ..common::Options::default()
    })
    .await;
    let body = common::org_body("acme", SF_ORG_ID, &emulators.salesforce_url);
    let created = stack.register_org(body.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["id"], "acme");
    assert_eq!(created.json["salesforce"]["org_id"], SF_ORG_ID);
    assert_eq!(created.json["graph"]["tenant_id"], "dev-tenant");
    for secret in ["dev-secret", "PRIVATE KEY"] {
        assert!(!created.text.contains(secret), "{secret} echoed");
    }
    assert_eq!(created.json["check"]["ready"], true);
    let again = stack.register_org(body).await;
    assert_eq!(again.status, 200, "a repeat replaces");

    let list = stack.admin(Method::GET, "/api/v1/orgs", None).await;
    assert_eq!(list.json["orgs"].as_array().map(Vec::len), Some(1));
    assert!(!list.text.contains("dev-secret"));
    let one = stack.admin(Method::GET, "/api/v1/orgs/acme", None).await;
    assert_eq!(
        (one.status, one.json["name"].as_str()),
        (200, Some("Org acme"))
    );
    let missing = stack.admin(Method::GET, "/api/v1/orgs/nope", None).await;
    assert_eq!((missing.status, missing.error_code()), (404, "not_found"));

    // At rest, the secret column holds ciphertext only.
    let client = stack.db.pool.get().await.expect("db");
    let sealed: Vec<u8> = client
        .query_one(
            "SELECT graph_client_secret FROM orgs WHERE id = 'acme'",
            &[],
        )
        .await
        .expect("row")
        .get(0);
    assert!(!sealed.windows(10).any(|w| w == b"dev-secret"));
    drop(client);

    let mut bad = common::org_body("acme2", "001xx0000001gPL", LOGIN);
    let resp = stack
        .admin(Method::POST, "/api/v1/orgs", Some(bad.clone()))
        .await;
    assert_eq!(resp.status, 400);
    assert!(
        resp.error_message().starts_with("salesforce.org_id:"),
        "{resp:?}"
    );
    bad["salesforce"]["org_id"] = json!(SF_ORG_ID);
    bad["salesforce"]["login_url"] = json!("not a url");
    let resp = stack
        .admin(Method::POST, "/api/v1/orgs", Some(bad.clone()))
        .await;
    assert!(
        resp.error_message().starts_with("salesforce.login_url:"),
        "{resp:?}"
    );
    bad["salesforce"]["login_url"] = json!(LOGIN);
    bad["salesforce"]["private_key_pem"] =
        json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    let resp = stack
        .admin(Method::POST, "/api/v1/orgs", Some(bad.clone()))
        .await;
    assert_eq!(resp.status, 400);
    assert!(
        resp.error_message()
            .starts_with("salesforce.private_key_pem:"),
        "{resp:?}"
    );
    assert!(!resp.text.contains("AAAA"), "the key is not echoed");
    bad["extra"] = json!(1);
    let resp = stack.admin(Method::POST, "/api/v1/orgs", Some(bad)).await;
    assert_eq!(resp.status, 400);
    assert!(
        resp.error_message().contains("unknown field `extra`"),
        "{resp:?}"
    );
    stack.finish().await;
}

#[tokio::test]
async fn users_register_once_and_bad_input_is_named() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    let body =
        json!({"id": "alice", "mailbox": "alice@example.com", "salesforce_user_id": ALICE_SF});
    let created = stack
        .admin(Method::POST, "/api/v1/users", Some(body.clone()))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["org"], "dev", "the default org");
    let repeat = stack
        .admin(Method::POST, "/api/v1/users", Some(body.clone()))
        .await;
    assert_eq!(repeat.status, 200);
    assert_eq!(repeat.json["created_at"], created.json["created_at"]);

    let mut other = body.clone();
    other["mailbox"] = json!("someone-else@example.com");
    let conflict = stack
        .admin(Method::POST, "/api/v1/users", Some(other))
        .await;
    assert_eq!(
        (conflict.status, conflict.error_code()),
        (409, "user_exists")
    );

    let unknown_org = json!({"id": "bob", "mailbox": "bob@example.com",
                             "salesforce_user_id": ALICE_SF, "org": "nowhere"});
    let resp = stack
        .admin(Method::POST, "/api/v1/users", Some(unknown_org))
        .await;
    assert_eq!((resp.status, resp.error_code()), (404, "not_found"));
    assert!(resp.error_message().contains("nowhere"));

    for (field, value, expected) in [
        (
            "salesforce_user_id",
            json!("003xx000001SvbQAAS"),
            "salesforce_user_id:",
        ),
        (
            "salesforce_user_id",
            json!("005short"),
            "salesforce_user_id:",
        ),
        (
            "salesforce_user_id",
            json!("005xx000001SvbQAAA"),
            "salesforce_user_id:",
        ),
        ("id", json!(""), "id:"),
        ("id", json!("a/b"), "id:"),
        ("mailbox", json!(" "), "mailbox:"),
        ("id", json!(42), "invalid JSON body"),
    ] {
        let mut bad = body.clone();
        bad[field] = value;
        bad["id"] = if field == "id" {
            bad["id"].clone()
        } else {
            json!("carol")
        };
        let resp = stack.admin(Method::POST, "/api/v1/users", Some(bad)).await;
        assert_eq!(resp.status, 400, "{field}: {resp:?}");
        assert!(
            resp.error_message().starts_with(expected),
            "{field}: {resp:?}"
        );
    }
    let resp = stack
        .send_raw(
            "/api/v1/users",
            Some(ADMIN_TOKEN),
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!((resp.status, resp.error_code()), (400, "bad_request"));
    let resp = stack
        .send_raw(
            "/api/v1/users",
            Some(ADMIN_TOKEN),
            "application/json",
            vec![b' '; 200 * 1024],
        )
        .await;
    assert_eq!((resp.status, resp.error_code()), (413, "payload_too_large"));

    let got = stack.admin(Method::GET, "/api/v1/users/alice", None).await;
    assert_eq!(got.json["mailbox"], "alice@example.com");
    assert_eq!(
        stack
            .admin(Method::GET, "/api/v1/users/zed", None)
            .await
            .status,
        404
    );
    stack.finish().await;
}

#[tokio::test]
async fn settings_round_trip_and_enabling_starts_one_session() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    let path = "/api/v1/users/alice/settings/contacts";
    let defaults = stack.admin(Method::GET, path, None).await;
    assert_eq!(
        defaults.json,
        json!({"enabled": false, "scope": "mine", "list_view_id": null,
               "auto_removal": false, "conflict_winner": "salesforce"})
    );

    let wanted = json!({"enabled": true, "scope": "all", "list_view_id": null,
                        "auto_removal": true, "conflict_winner": "exchange"});
    let stored = stack.admin(Method::PUT, path, Some(wanted.clone())).await;
    assert_eq!((stored.status, &stored.json), (200, &wanted));
    assert_eq!(stack.admin(Method::GET, path, None).await.json, wanted);
    let sessions = stack.sessions("alice").await;
    assert_eq!(sessions.len(), 1, "enabling starts a session");
    assert_eq!(sessions[0].1, "settings");

    // The same settings again change nothing and start nothing.
    stack.admin(Method::PUT, path, Some(wanted.clone())).await;
    assert_eq!(stack.sessions("alice").await.len(), 1);

    for (body, expected) in [
        (json!({"scope": "list_view"}), "list_view_id:"),
        (json!({"scope": "everything"}), "scope:"),
        (json!({"conflict_winner": "me"}), "conflict_winner:"),
        (json!({"enabled": "yes"}), "invalid JSON body"),
        (
            json!({"enabled": true, "colour": "red"}),
            "invalid JSON body: unknown field `colour`",
        ),
        (
            json!({"scope": "list_view", "list_view_id": "bogus"}),
            "list_view_id:",
        ),
        (
            json!({"scope": "list_view", "list_view_id": "00BDn0000000001AAA"}),
            "list_view_id:",
        ),
    ] {
        let resp = stack.admin(Method::PUT, path, Some(body.clone())).await;
        assert_eq!(resp.status, 400, "{body}: {resp:?}");
        assert!(
            resp.error_message().starts_with(expected),
            "{body}: {resp:?}"
        );
    }
    let view = json!({"scope": "list_view", "list_view_id": "00BDn0000000001"});
    let resp = stack.admin(Method::PUT, path, Some(view)).await;
    assert_eq!(
        resp.json["list_view_id"], "00BDn0000000001MAA",
        "B15: a 15-character view id is answered in its 18-character form"
    );
    let resp = stack
        .admin(
            Method::PUT,
            "/api/v1/users/nobody/settings/contacts",
            Some(json!({})),
        )
        .await;
    assert_eq!(resp.status, 404);
    stack.finish().await;
}

#[tokio::test]
async fn a_sync_starts_one_session_whose_job_reaches_both_fetchers_and_a_second_coalesces() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    let mut exchange_jobs = stack.consume(Queue::ExchangeFetcherJobs);
    let mut salesforce_jobs = stack.consume(Queue::SalesforceFetcherJobs);

    let disabled = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(
        (disabled.status, disabled.error_code()),
        (409, "sync_disabled")
    );
    assert!(stack.sessions("alice").await.is_empty());
    stack.enable_quietly("alice", Scope::Mine).await;

    let first = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.json["state"], "fetching");
    let job_id = first.json["job_id"].as_str().expect("job id").to_owned();
    assert_eq!(first.json["coalesced"], false);
    // The session has not begun reading (no fetcher runs here): a second call joins it, since
    // its read will come after that call too (SPEC §4), and needs no follow-up session.
    let second = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(second.status, 202);
    assert_eq!(second.json["job_id"].as_str(), Some(job_id.as_str()));
    assert_eq!(second.json["state"], "fetching");
    assert_eq!(second.json["coalesced"], true);
    let sessions = stack.sessions("alice").await;
    assert_eq!(sessions.len(), 1, "coalesced: {sessions:?}");
    assert_eq!(
        (sessions[0].1.as_str(), sessions[0].2.as_str()),
        ("manual", "fetching")
    );

    for receiver in [&mut exchange_jobs, &mut salesforce_jobs] {
        let delivery = next(receiver).await;
        let Message::SyncJob(job) = delivery.decode::<Message>().expect("a contract message")
        else {
            panic!("not a sync job");
        };
        assert_eq!(job.header.job_id.to_string(), job_id);
        assert_eq!(job.header.user_id, "alice");
        assert_eq!(job.trigger, contracts::Trigger::Manual);
    }
    // Exactly one job per fetcher, even though two syncs were asked for.
    let extra = tokio::time::timeout(Duration::from_millis(300), exchange_jobs.recv()).await;
    assert!(extra.is_err(), "a second job was published");

    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["running"], true);
    assert_eq!(status.json["pending_trigger"], false, "joined, not queued");
    assert_eq!(
        status.json["active_session"]["job_id"].as_str(),
        Some(job_id.as_str())
    );
    stack.finish().await;
}

#[tokio::test]
async fn sync_wait_answers_202_when_no_pipeline_runs_and_validates_the_wait() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::All).await;
    let started = Instant::now();
    let resp = stack
        .admin(Method::POST, "/api/v1/users/alice/sync?wait=1", None)
        .await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited");
    assert_eq!(resp.json["state"], "fetching");
    for bad in ["301", "-1", "soon"] {
        let resp = stack
            .admin(
                Method::POST,
                &format!("/api/v1/users/alice/sync?wait={bad}"),
                None,
            )
            .await;
        assert_eq!(resp.status, 400, "{bad}");
        assert!(resp.error_message().starts_with("wait:"), "{resp:?}");
    }
    let resp = stack
        .admin(Method::POST, "/api/v1/users/zed/sync", None)
        .await;
    assert_eq!(resp.status, 404);
    stack.finish().await;
}

fn progress() -> Progress {
    Progress {
        writes: Writes {
            exchange: WriteCounts {
                created: 2,
                updated: 1,
                deleted: 0,
            },
            salesforce: WriteCounts {
                created: 0,
                updated: 0,
                deleted: 1,
            },
        },
        errors: vec![ItemError {
            item: "contact Ann".into(),
            code: "invalid_email".into(),
            field: Some("Email".into()),
            message: "Email: invalid email address".into(),
        }],
        failure: None,
    }
}

#[tokio::test]
async fn sync_wait_returns_the_summary_once_the_session_finishes_and_a_coalesced_call_waits_for_the_next()
 {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    let call = |path: &'static str| {
        let http = stack.http.clone();
        let url = format!("{}{path}", stack.base);
        tokio::spawn(async move {
            common::read(
                http.post(url)
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .expect("sent"),
            )
            .await
        })
    };
    let waiting = call("/api/v1/users/alice/sync?wait=20");
    eventually("the session exists", || async {
        stack.sessions("alice").await.len() == 1
    })
    .await;
    let first = stack.sessions("alice").await[0].0;
    // A fetcher began reading the session: a second caller waits for the one after it.
    assert!(
        sync_state::request::mark_reading(&**stack.db.pool.get().await.expect("client"), first)
            .await
            .expect("mark")
    );
    let coalesced = call("/api/v1/users/alice/sync?wait=20");
    eventually("the trigger is pending", || async {
        let status = stack
            .admin(Method::GET, "/api/v1/users/alice/status", None)
            .await;
        status.json["pending_trigger"] == true
    })
    .await;

    let pending = stack
        .finish_session(first, SessionState::Partial, &progress())
        .await;
    assert!(pending, "the coalesced trigger is remembered");
    let resp = waiting.await.expect("join");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.json["job_id"].as_str(),
        Some(first.to_string().as_str())
    );
    assert_eq!(resp.json["state"], "partial");
    assert_eq!(
        resp.json["writes"],
        json!({"exchange": {"created": 2, "updated": 1, "deleted": 0},
               "salesforce": {"created": 0, "updated": 0, "deleted": 1}})
    );
    assert_eq!(
        resp.json["errors"],
        json!([{"item": "contact Ann", "code": "invalid_email", "field": "Email",
                "message": "Email: invalid email address"}])
    );
    assert!(
        !coalesced.is_finished(),
        "the coalesced call waits for the next session"
    );

    // The reconciler's part: the session after the finished one runs the pending trigger.
    let next_job = match sync_state::trigger::start(
        &stack.db.pool,
        "alice",
        contracts::Trigger::Pending,
        chrono::Utc::now(),
    )
    .await
    .expect("next session")
    {
        sync_state::sessions::StartOutcome::Started(id) => id,
        other => panic!("expected a new session, got {other:?}"),
    };
    stack
        .finish_session(next_job, SessionState::Succeeded, &Progress::default())
        .await;
    let resp = coalesced.await.expect("join");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.json["job_id"].as_str(),
        Some(next_job.to_string().as_str())
    );
    assert_eq!(resp.json["state"], "succeeded");
    assert_eq!(resp.json["errors"], json!([]));

    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["running"], false);
    assert_eq!(
        status.json["last_session"]["job_id"].as_str(),
        Some(next_job.to_string().as_str())
    );
    assert_eq!(status.json["user"]["id"], "alice");
    assert_eq!(status.json["settings"]["enabled"], true);
    assert!(status.json["next_sync_at"].is_string());
    stack.finish().await;
}

#[tokio::test]
async fn confirm_deletions_needs_a_held_guard_then_starts_a_session() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    let path = "/api/v1/users/alice/confirm-deletions";
    let resp = stack.admin(Method::POST, path, None).await;
    assert_eq!((resp.status, resp.error_code()), (409, "nothing_held"));
    assert!(stack.sessions("alice").await.is_empty());

    stack.hold_deletions("alice", 30, 40).await;
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["held_deletions"]["code"], "mass_delete_guard");
    assert_eq!(status.json["held_deletions"]["deletions"], 30);
    assert_eq!(
        status.json["deletions"],
        json!({"waiting": 0, "settle_until": null, "held": 30, "confirmed": 0})
    );
    assert_eq!(status.json["deletions_confirmed"], false);

    let resp = stack.admin(Method::POST, path, None).await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.json["coalesced"], false);
    let sessions = stack.sessions("alice").await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].1, "confirm_deletions");
    assert_eq!(
        resp.json["job_id"].as_str(),
        Some(sessions[0].0.to_string().as_str())
    );
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["deletions_confirmed"], true);
    assert_eq!(status.json["deletions"]["held"], 0);
    assert_eq!(status.json["deletions"]["confirmed"], 30);
    // Nothing is held any more: a second confirmation has nothing to confirm.
    let resp = stack.admin(Method::POST, path, None).await;
    assert_eq!((resp.status, resp.error_code()), (409, "nothing_held"));
    stack.finish().await;
}

#[tokio::test]
async fn the_settings_link_is_signed_for_its_user_with_its_own_key_and_expires_in_seven_days() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    let before = chrono::Utc::now().timestamp();
    let resp = stack
        .admin(Method::GET, "/api/v1/users/alice/settings-link", None)
        .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let url = url::Url::parse(resp.json["url"].as_str().expect("url")).expect("a URL");
    assert!(
        url.as_str()
            .starts_with(&format!("{}/settings/alice?exp=", common::PUBLIC_BASE)),
        "{url}"
    );
    let pairs: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let exp: i64 = pairs["exp"].parse().expect("exp");
    assert!((exp - before - 7 * 24 * 3600).abs() <= 5, "7 days: {exp}");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(resp.json["expires_at"].as_str().expect("expires_at"))
            .expect("RFC 3339");
    assert_eq!(expires_at.timestamp(), exp);
    let key = common::link_key();
    assert_eq!(
        pairs["sig"],
        gateway::auth::settings_signature(&key, "alice", exp, 0),
        "signed with SETTINGS_LINK_KEY for generation 0"
    );
    assert_ne!(
        pairs["sig"],
        gateway::auth::settings_signature(ENCRYPTION_KEY.as_bytes(), "alice", exp, 0)
    );
    assert_eq!(
        stack
            .admin(Method::GET, "/api/v1/users/zed/settings-link", None)
            .await
            .status,
        404
    );
    let revoked = stack
        .admin(
            Method::POST,
            "/api/v1/users/alice/settings-link:revoke",
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_eq!(revoked.json, json!({"revoked": true, "generation": 1}));
    assert_eq!(
        stack
            .send(
                Method::POST,
                "/api/v1/users/alice/settings-link:revoke",
                None,
                None
            )
            .await
            .status,
        401,
        "operators only"
    );
    assert_eq!(
        stack
            .admin(Method::POST, "/api/v1/users/zed/settings-link:revoke", None)
            .await
            .status,
        404
    );
    stack.finish().await;
}

#[tokio::test]
async fn concurrent_syncs_of_one_user_make_one_session() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
    let calls = (0..12).map(|_| {
        let request = stack
            .http
            .post(format!("{}/api/v1/users/alice/sync", stack.base))
            .bearer_auth(ADMIN_TOKEN);
        async move { common::read(request.send().await.expect("sent")).await }
    });
    let answers = futures::future::join_all(calls).await;
    let sessions = stack.sessions("alice").await;
    assert_eq!(sessions.len(), 1, "B3: never two in flight: {sessions:?}");
    let job_id = sessions[0].0.to_string();
    for answer in &answers {
        assert_eq!(answer.status, 202, "{answer:?}");
        assert_eq!(answer.json["job_id"].as_str(), Some(job_id.as_str()));
    }
    let started = answers
        .iter()
        .filter(|a| a.json["coalesced"] == false)
        .count();
    assert_eq!(started, 1, "one call started it, the others joined it");
    stack.finish().await;
}
