//! Salesforce is read once per org (SPEC §3, issue 11): a user's idle session in a busy org makes
//! no Salesforce request at all, and an owner change, a deletion, a list-view exit, an Account
//! rename and a row that commits late each reach exactly the users they concern — with every
//! service running as two competing replicas (B2, B6, B7).

use contactsync::harness::{Options, Processes, Stack, TestUser};
use reqwest::Method;
use serde_json::{Value, json};
use sync_state::{sessions, simulate};
use test_support::eventually;

const BIN: &str = env!("CARGO_BIN_EXE_contactsync");

async fn control(stack: &Stack, method: Method, path: &str, body: Option<Value>) -> Value {
    stack
        .emulator_control(&stack.salesforce_url, method, path, body)
        .await
        .expect("control call")
}

/// Surnames of the user's mirrors in the sync folder, sorted.
async fn mirrors(stack: &Stack, user: &TestUser) -> Vec<String> {
    let mut names: Vec<String> = stack
        .mailbox_contacts(user)
        .await
        .expect("mailbox")
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The companies the user's mirrors show, by surname.
async fn companies(stack: &Stack, user: &TestUser) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = stack
        .mailbox_contacts(user)
        .await
        .expect("mailbox")
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .filter_map(|c| {
            Some((
                c["surname"].as_str()?.to_owned(),
                c["companyName"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// Salesforce API requests counted by the emulator since the last reset, logins left out (a
/// replica that has not logged in yet pays one, whatever it reads).
fn salesforce_requests(counters: &Value) -> u64 {
    counters["by_route"]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .filter(|(route, _)| !route.contains("/oauth2/"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Lets the scheduler start the user's periodic session now (as if the last one were an hour
/// old) and waits for it to finish; returns its state.
async fn periodic_session(stack: &Stack, user: &TestUser) -> String {
    let client = stack.pool.get().await.expect("db");
    let since = chrono::Utc::now();
    simulate::make_periodic_due(&**client, std::slice::from_ref(&user.id))
        .await
        .expect("make due");
    eventually(60, "the periodic session finishes", || async {
        let last = sessions::last_finished(&**client, &user.id).await.ok()??;
        (last.trigger.as_str() == "schedule" && last.created_at >= since)
            .then(|| last.state.as_str().to_owned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_in_a_busy_org_makes_no_salesforce_request() {
    let stack = Stack::start().await.expect("stack");
    let idle = stack.add_user("idle", json!({})).await.expect("user");
    let busy = stack.add_user("busy", json!({})).await.expect("user");
    stack
        .create_in_salesforce(&idle, json!({"LastName": "Mine"}))
        .await
        .expect("contact");
    stack.sync(&idle).await.expect("first session");
    stack.sync(&busy).await.expect("first session");

    // Another user of the org changes 2,500 Contacts (two query pages).
    let records: Vec<Value> = (0..2_500)
        .map(|i| json!({"LastName": format!("Busy{i:04}"), "OwnerId": busy.salesforce_user_id}))
        .collect();
    control(
        &stack,
        Method::POST,
        "/sobjects/Contact",
        Some(json!({"records": records})),
    )
    .await;
    // Their owner's session reads the org once and takes them.
    let summary = stack.sync(&busy).await.expect("busy session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(mirrors(&stack, &busy).await.len(), 2_500);

    stack.reset_counters().await.expect("reset");
    assert_eq!(periodic_session(&stack, &idle).await, "succeeded");
    let (_, salesforce) = stack.counters().await.expect("counters");
    assert_eq!(
        salesforce_requests(&salesforce),
        0,
        "the idle user's periodic session reads what the feed routed to it: nothing ({salesforce})"
    );
    assert_eq!(mirrors(&stack, &idle).await, vec!["Mine"]);

    // Asked for by the user, the session makes the feed current first: the org's reads, not
    // the user's, and still nothing of the other user's reaches this one.
    stack.reset_counters().await.expect("reset");
    let summary = stack.sync(&idle).await.expect("on-demand session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    let (_, salesforce) = stack.counters().await.expect("counters");
    let routes = salesforce["by_route"].to_string();
    assert!(
        !routes.contains("OwnerId"),
        "no per-user query: {salesforce}"
    );
    assert_eq!(mirrors(&stack, &idle).await, vec!["Mine"]);
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_reaches_exactly_the_users_it_concerns_with_two_replicas_of_every_service() {
    let stack = Stack::start_with(Options {
        processes: Some(Processes::new(BIN, 2)),
        ..Options::default()
    })
    .await
    .expect("stack");
    let view = control(
        &stack,
        Method::POST,
        "/listviews",
        Some(json!({"label": "V names", "where": "LastName LIKE 'V%'"})),
    )
    .await;
    let view_id = view["id"].as_str().expect("view id").to_owned();
    let ann = stack.add_user("ann", json!({})).await.expect("user");
    let bob = stack.add_user("bob", json!({})).await.expect("user");
    let all = stack
        .add_user("cat", json!({"scope": "all"}))
        .await
        .expect("user");
    let viewer = stack
        .add_user(
            "dan",
            json!({"scope": "list_view", "list_view_id": view_id}),
        )
        .await
        .expect("user");
    let users = [&ann, &bob, &all, &viewer];

    let account = control(
        &stack,
        Method::POST,
        "/sobjects/Account",
        Some(json!({"Name": "Acme"})),
    )
    .await;
    let account_id = account["ids"][0].as_str().expect("account id").to_owned();
    let moving = stack
        .create_in_salesforce(&ann, json!({"LastName": "Moving"}))
        .await
        .expect("contact");
    let doomed = stack
        .create_in_salesforce(&bob, json!({"LastName": "Doomed"}))
        .await
        .expect("contact");
    let vance = stack
        .create_in_salesforce(&ann, json!({"LastName": "Vance"}))
        .await
        .expect("contact");
    stack
        .create_in_salesforce(&ann, json!({"LastName": "Worker", "AccountId": account_id}))
        .await
        .expect("contact");
    for user in users {
        let summary = stack.sync(user).await.expect("first session");
        assert_eq!(summary["state"], "succeeded", "{summary}");
    }
    assert_eq!(mirrors(&stack, &ann).await, ["Moving", "Vance", "Worker"]);
    assert_eq!(mirrors(&stack, &bob).await, ["Doomed"]);
    assert_eq!(
        mirrors(&stack, &all).await,
        ["Doomed", "Moving", "Vance", "Worker"]
    );
    assert_eq!(mirrors(&stack, &viewer).await, ["Vance"]);

    // An owner change, a deletion, a list-view exit, an Account rename.
    control(
        &stack,
        Method::PATCH,
        &format!("/sobjects/Contact/{moving}"),
        Some(json!({"OwnerId": bob.salesforce_user_id})),
    )
    .await;
    control(
        &stack,
        Method::DELETE,
        &format!("/sobjects/Contact/{doomed}"),
        None,
    )
    .await;
    control(
        &stack,
        Method::PATCH,
        &format!("/sobjects/Contact/{vance}"),
        Some(json!({"LastName": "Wance"})),
    )
    .await;
    control(
        &stack,
        Method::PATCH,
        &format!("/sobjects/Account/{account_id}"),
        Some(json!({"Name": "Acme Renamed"})),
    )
    .await;
    // A row that commits late: its SystemModstamp is older than rows already read.
    control(
        &stack,
        Method::POST,
        "/clock",
        Some(json!({"advance_seconds": -120})),
    )
    .await;
    control(
        &stack,
        Method::POST,
        "/sobjects/Contact",
        Some(json!({"records": [{"LastName": "Late", "OwnerId": bob.salesforce_user_id}]})),
    )
    .await;
    control(
        &stack,
        Method::POST,
        "/clock",
        Some(json!({"advance_seconds": 120})),
    )
    .await;

    // Every user's session at once: the replicas race for the org's feed.
    let (a, b, c, d) = tokio::join!(
        stack.sync(&ann),
        stack.sync(&bob),
        stack.sync(&all),
        stack.sync(&viewer)
    );
    for summary in [a, b, c, d] {
        let summary = summary.expect("session");
        assert_eq!(summary["state"], "succeeded", "{summary}");
    }
    assert_eq!(mirrors(&stack, &ann).await, ["Wance", "Worker"], "ann");
    assert_eq!(mirrors(&stack, &bob).await, ["Late", "Moving"], "bob");
    assert_eq!(
        mirrors(&stack, &all).await,
        ["Late", "Moving", "Wance", "Worker"],
        "the all-scope user"
    );
    assert_eq!(
        mirrors(&stack, &viewer).await,
        Vec::<String>::new(),
        "the view's user"
    );
    for user in [&ann, &all] {
        let worker = companies(&stack, user)
            .await
            .into_iter()
            .find(|(name, _)| name == "Worker");
        assert_eq!(
            worker,
            Some(("Worker".into(), "Acme Renamed".into())),
            "{}: the renamed Account reaches the mirror",
            user.id
        );
    }
    // Nothing more to do for anyone: the overlap routed nothing twice.
    for user in users {
        stack.assert_quiet_session(user).await.expect("quiet");
    }
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_turns_sync_back_on_gets_what_changed_while_it_was_off() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("resumer", json!({})).await.expect("user");
    let other = stack.add_user("bystander", json!({})).await.expect("user");
    stack
        .create_in_salesforce(&user, json!({"LastName": "Before"}))
        .await
        .expect("contact");
    stack.sync(&user).await.expect("first session");
    let settings = |enabled: bool| {
        json!({"enabled": enabled, "scope": "mine", "auto_removal": false,
               "conflict_winner": "salesforce"})
    };
    let path = format!("/api/v1/users/{}/settings/contacts", user.id);
    let (status, body) = stack
        .admin(Method::PUT, &path, Some(settings(false)))
        .await
        .expect("off");
    assert!(status < 300, "{status} {body}");
    // While it is off, a Contact of its own arrives and the org's feed reads it (for another
    // user's session): routed to nobody, since the user is off.
    stack
        .create_in_salesforce(&user, json!({"LastName": "WhileOff"}))
        .await
        .expect("contact");
    stack.sync(&other).await.expect("another user's session");
    let (status, body) = stack
        .admin(Method::PUT, &path, Some(settings(true)))
        .await
        .expect("on");
    assert!(status < 300, "{status} {body}");
    stack.settle(&user).await.expect("settled");
    stack.sync(&user).await.expect("session");
    assert_eq!(mirrors(&stack, &user).await, ["Before", "WhileOff"]);
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_in_both_the_recycle_bin_and_the_delete_log_is_routed_once() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("deleter", json!({})).await.expect("user");
    let doomed = stack
        .create_in_salesforce(&user, json!({"LastName": "Doomed"}))
        .await
        .expect("contact");
    stack
        .create_in_salesforce(&user, json!({"LastName": "Kept"}))
        .await
        .expect("contact");
    stack.sync(&user).await.expect("first session");
    control(
        &stack,
        Method::DELETE,
        &format!("/sobjects/Contact/{doomed}"),
        None,
    )
    .await;
    // Minutes later: the next read finds the row in the Recycle Bin (`queryAll`) and in the
    // delete log (Get Deleted) alike.
    control(
        &stack,
        Method::POST,
        "/clock",
        Some(json!({"advance_seconds": 150})),
    )
    .await;
    stack.reset_counters().await.expect("reset");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
    let (_, salesforce) = stack.counters().await.expect("counters");
    assert!(
        salesforce["by_route"].to_string().contains("/deleted"),
        "the delete log was asked: {salesforce}"
    );
    assert_eq!(mirrors(&stack, &user).await, ["Kept"]);
    stack.stop().await.expect("stop");
}
