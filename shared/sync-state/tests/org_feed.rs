//! The org feed's tables against a real PostgreSQL (issue 11): the overlap routes a row once per
//! stamp (a late row with an older stamp still passes), the feed row is locked while one reader
//! holds it, and a user's inbox keeps the newest state per Contact in commit order, pruned only
//! up to a stored cursor.

use chrono::{Duration, SubsecRound, Utc};
use sync_core::fields::SalesforceContactFields;
use sync_core::{SalesforceContact, SalesforceId};
use sync_state::org_feed::{self, Delivery, FeedState, Routed};
use sync_state::users;

async fn database_with_users() -> store::testing::TestDatabase {
    let db = store::testing::fresh_database().await.expect("database");
    let mut client = db.pool.get().await.expect("client");
    client
        .execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key, salesforce_private_key)
             VALUES ('o', 'Org', 't', 'c', '\\x00', 'http://sf', 'k', '\\x00')",
            &[],
        )
        .await
        .expect("org");
    let tx = client.transaction().await.expect("tx");
    for (user, owner) in [("u", "005000000000001AAA"), ("v", "005000000000002AAA")] {
        users::create_user(
            &tx,
            user,
            "o",
            &format!("{user}@example.com"),
            &owner.parse().expect("a Salesforce id"),
            users::Provider::Exchange,
        )
        .await
        .expect("user");
        let settings = users::ContactSettings {
            enabled: true,
            ..users::ContactSettings::default()
        };
        users::put_settings(&tx, user, &settings)
            .await
            .expect("settings");
    }
    tx.commit().await.expect("commit");
    db
}

fn id(s: &str) -> SalesforceId {
    SalesforceId::try_from(s).expect("an id")
}

fn changed(user: &str, contact: &str, last_name: &str) -> Delivery {
    Delivery {
        user_id: user.into(),
        salesforce_id: id(contact),
        routed: Routed::Changed {
            contact: Box::new(SalesforceContact {
                id: id(contact),
                owner_id: None,
                sync_key: None,
                fields: SalesforceContactFields {
                    last_name: Some(last_name.into()),
                    ..SalesforceContactFields::default()
                },
            }),
            in_scope: true,
        },
    }
}

#[tokio::test]
async fn the_overlap_routes_a_row_once_per_stamp_and_a_late_row_still_passes() {
    let db = database_with_users().await;
    let mut client = db.pool.get().await.expect("client");
    let t = Utc::now();
    let tx = client.transaction().await.expect("tx");
    let first = org_feed::unseen(
        &tx,
        "o",
        &[
            ("003000000000001AAA".into(), t),
            ("003000000000002AAA".into(), t),
        ],
    )
    .await
    .expect("unseen");
    assert_eq!(first.len(), 2);
    // Read again in the overlap: the same stamps are not new; a newer stamp and a row never seen
    // (committed late, with an older stamp) are.
    let again = org_feed::unseen(
        &tx,
        "o",
        &[
            ("003000000000001AAA".into(), t),
            ("003000000000002AAA".into(), t + Duration::seconds(5)),
            ("003000000000003AAA".into(), t - Duration::seconds(90)),
        ],
    )
    .await
    .expect("unseen");
    let mut again: Vec<String> = again.into_iter().collect();
    again.sort();
    assert_eq!(again, ["003000000000002AAA", "003000000000003AAA"]);
    // Behind the cursor by more than the overlap: forgotten.
    let forgotten = org_feed::forget_seen_before(&tx, "o", t - Duration::seconds(60))
        .await
        .expect("forget");
    assert_eq!(forgotten, 1);
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn one_reader_holds_the_org_feed_and_the_next_sees_what_it_stored() {
    let db = database_with_users().await;
    let mut first = db.pool.get().await.expect("client");
    let mut second = db.pool.get().await.expect("client");
    let tx = first.transaction().await.expect("tx");
    let state = org_feed::lock(&tx, "o").await.expect("lock");
    assert_eq!(state, FeedState::default());
    // PostgreSQL keeps microseconds.
    let started = Utc::now().trunc_subsecs(6);
    assert!(!state.is_fresh(started));

    // A second reader waits for the first's commit, then finds the feed fresh.
    let waiting = tokio::spawn(async move {
        let tx = second.transaction().await.expect("tx");
        let state = org_feed::lock(&tx, "o").await.expect("lock");
        tx.commit().await.expect("commit");
        state
    });
    // Until the second reader is seen waiting for the row lock (a deadline, not a fixed wait).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting_locks: i64 = db
            .pool
            .get()
            .await
            .expect("client")
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting_locks > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second reader never waited for the lock"
        );
        tokio::task::yield_now().await;
    }
    assert!(
        !waiting.is_finished(),
        "the second reader waits on the row lock"
    );
    let stored = FeedState {
        contact_high_water: Some(started),
        read_started_at: Some(started),
        reads: 1,
        ..FeedState::default()
    };
    org_feed::save(&tx, "o", &stored).await.expect("save");
    tx.commit().await.expect("commit");
    let seen = waiting.await.expect("second reader");
    assert_eq!(seen.reads, 1);
    assert!(seen.is_fresh(started));
    assert!(!seen.is_fresh(started + Duration::seconds(1)));
}

#[tokio::test]
async fn an_inbox_keeps_the_newest_state_per_contact_and_prunes_only_up_to_a_stored_cursor() {
    let db = database_with_users().await;
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    org_feed::deliver(
        &tx,
        &[
            changed("u", "003000000000001AAA", "First"),
            changed("u", "003000000000002AAA", "Other"),
            changed("v", "003000000000001AAA", "First"),
        ],
    )
    .await
    .expect("deliver");
    tx.commit().await.expect("commit");
    let taken = org_feed::inbox_after(&**client, "u", 0)
        .await
        .expect("inbox");
    assert_eq!(taken.len(), 2);
    let cursor = taken.last().expect("rows").seq;

    // While the session that took them runs, the first Contact changes again, then is deleted.
    let tx = client.transaction().await.expect("tx");
    org_feed::deliver(&tx, &[changed("u", "003000000000001AAA", "Second")])
        .await
        .expect("deliver");
    let at = Utc::now();
    org_feed::deliver(
        &tx,
        &[Delivery {
            user_id: "u".into(),
            salesforce_id: id("003000000000001AAA"),
            routed: Routed::Deleted { at },
        }],
    )
    .await
    .expect("deliver");
    tx.commit().await.expect("commit");

    // The next session, with the first one's cursor stored: it prunes what that one took and
    // finds the newest state of what changed since, nothing lost.
    let pruned = org_feed::prune_inbox(&**client, "u", cursor)
        .await
        .expect("prune");
    assert_eq!(
        pruned, 1,
        "only the row the cursor covers and that did not change since"
    );
    let next = org_feed::inbox_after(&**client, "u", cursor)
        .await
        .expect("inbox");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].salesforce_id, id("003000000000001AAA"));
    assert!(matches!(next[0].routed, Routed::Deleted { .. }));
    assert!(next[0].seq > cursor);
    assert_eq!(
        org_feed::inbox_head(&**client, "u").await.expect("head"),
        next[0].seq
    );
    // The other user's inbox is untouched.
    assert_eq!(
        org_feed::inbox_after(&**client, "v", 0)
            .await
            .expect("inbox")
            .len(),
        1
    );
}
