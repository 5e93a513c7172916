//! The reads a sync relies on to see every change: Get Deleted with its delete log, window rules
//! and purges (contract §3), the Recycle Bin's purge as `queryAll` sees it, the server's clock in
//! `Date`, and the broken query answer a `truncate_query` fault produces.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn contact(last: &str) -> Value {
    json!({"LastName": last})
}

#[tokio::test]
async fn a_truncate_query_fault_answers_not_done_without_a_next_records_url() {
    let emu = start().await;
    let (_, token) = emu.login("t@example.com").await;
    emu.seed(
        "Contact",
        "t@example.com",
        (0..6).map(|i| contact(&format!("T{i}"))).collect(),
    )
    .await;
    let r = emu
        .control(
            Method::POST,
            "/faults",
            Some(json!({"kind": "truncate_query", "route": "/services/data/*"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A write is not a query: the fault waits for one.
    let created = emu
        .post(
            &format!("/services/data/{V}/sobjects/Contact"),
            &token,
            contact("T6"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    let broken = emu.query(&token, "SELECT Id FROM Contact").await;
    assert_eq!(broken.status, StatusCode::OK);
    assert_eq!(broken.body["done"], false);
    assert_eq!(broken.body["totalSize"], 7);
    assert!(
        broken.body.get("nextRecordsUrl").is_none(),
        "{}",
        broken.text
    );
    assert_eq!(broken.body["records"].as_array().unwrap().len(), 3);

    let whole = emu.query(&token, "SELECT Id FROM Contact").await;
    assert_eq!(whole.body["done"], true);
    assert_eq!(whole.body["records"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn a_fault_of_an_unknown_kind_or_a_status_fault_without_status_is_refused() {
    let emu = start().await;
    for spec in [json!({"kind": "explode"}), json!({"count": 2})] {
        let r = emu.control(Method::POST, "/faults", Some(spec)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
}

/// The emulator's clock (`GET /_emulator/clock`).
async fn now(emu: &Emu) -> chrono::DateTime<chrono::Utc> {
    let r = emu.control(Method::GET, "/clock", None).await;
    let raw = r.body["now"].as_str().unwrap();
    chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .unwrap()
        .to_utc()
}

fn param(t: chrono::DateTime<chrono::Utc>) -> String {
    url_encode(&t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

async fn get_deleted(
    emu: &Emu,
    token: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Resp {
    emu.get(
        &format!(
            "/services/data/{V}/sobjects/Contact/deleted/?start={}&end={}",
            param(start),
            param(end)
        ),
        token,
    )
    .await
}

fn deleted_ids(r: &Resp) -> Vec<String> {
    r.body["deletedRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

fn rest_time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_str(v.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.3f%z")
        .unwrap()
        .to_utc()
}

#[tokio::test]
async fn get_deleted_still_reports_deletions_after_the_recycle_bin_is_emptied() {
    let emu = start().await;
    let (_, token) = emu.login("d@example.com").await;
    let ids = emu
        .seed(
            "Contact",
            "d@example.com",
            vec![contact("Gone"), contact("Kept")],
        )
        .await;
    let start_at = now(&emu).await - chrono::Duration::minutes(5);
    let r = emu
        .delete(
            &format!("/services/data/{V}/sobjects/Contact/{}", ids[0]),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let purged = emu.control(Method::POST, "/recycle-bin/purge", None).await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.text);
    assert_eq!(purged.body["purged"], json!([ids[0]]));
    let all = emu
        .get(
            &format!(
                "/services/data/{V}/queryAll?q={}",
                url_encode("SELECT Id FROM Contact WHERE IsDeleted = true")
            ),
            &token,
        )
        .await;
    assert_eq!(all.body["totalSize"], 0, "queryAll no longer sees it");
    let row = emu
        .get(
            &format!("/services/data/{V}/sobjects/Contact/{}", ids[0]),
            &token,
        )
        .await;
    assert_eq!(row.status, StatusCode::NOT_FOUND);
    assert_eq!(row.body[0]["errorCode"], "NOT_FOUND");

    // Seconds are ignored: the delete shows once its minute is covered.
    emu.advance_clock(61.0).await;
    let end = now(&emu).await;
    let r = get_deleted(&emu, &token, start_at, end).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(deleted_ids(&r), vec![ids[0].clone()]);
    assert!(rest_time(&r.body["earliestDateAvailable"]) <= start_at);
    let latest = rest_time(&r.body["latestDateCovered"]);
    assert_eq!(latest.timestamp() % 60, 0, "minute granularity");
    assert!(latest <= end);
}

#[tokio::test]
async fn a_purged_delete_log_moves_earliest_date_available_past_the_purged_deletes() {
    let emu = start().await;
    let (_, token) = emu.login("p@example.com").await;
    let ids = emu
        .seed(
            "Contact",
            "p@example.com",
            vec![contact("First"), contact("Second")],
        )
        .await;
    let start_at = now(&emu).await - chrono::Duration::minutes(5);
    emu.delete(
        &format!("/services/data/{V}/sobjects/Contact/{}", ids[0]),
        &token,
    )
    .await;
    let first_deleted = now(&emu).await;
    emu.advance_clock(120.0).await;
    let purge_up_to = now(&emu).await;
    let r = emu
        .control(
            Method::POST,
            "/delete-log/purge",
            Some(json!({"before": purge_up_to.to_rfc3339()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["purged"], 1);
    emu.delete(
        &format!("/services/data/{V}/sobjects/Contact/{}", ids[1]),
        &token,
    )
    .await;
    emu.advance_clock(120.0).await;

    let r = get_deleted(&emu, &token, start_at, now(&emu).await).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        deleted_ids(&r),
        vec![ids[1].clone()],
        "the purged one is gone"
    );
    let earliest = rest_time(&r.body["earliestDateAvailable"]);
    assert!(
        earliest > start_at && earliest > first_deleted,
        "a start before {earliest} has missed deletes"
    );
    // A window that starts after the purge lost nothing.
    let r = get_deleted(&emu, &token, earliest, now(&emu).await).await;
    assert_eq!(deleted_ids(&r), vec![ids[1].clone()]);
    assert_eq!(rest_time(&r.body["earliestDateAvailable"]), earliest);
}

#[tokio::test]
async fn latest_date_covered_never_passes_the_server_clock() {
    let emu = start().await;
    let (_, token) = emu.login("l@example.com").await;
    let t = now(&emu).await;
    let r = get_deleted(
        &emu,
        &token,
        t - chrono::Duration::hours(1),
        t + chrono::Duration::hours(1),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let latest = rest_time(&r.body["latestDateCovered"]);
    assert!(latest <= t, "{latest} after {t}");
    assert!(t - latest < chrono::Duration::minutes(1));
}

#[tokio::test]
async fn a_window_under_a_minute_or_past_fifteen_days_is_an_invalid_replication_date() {
    let emu = start().await;
    let (_, token) = emu.login("w@example.com").await;
    let t = now(&emu).await;
    let minute = chrono::DateTime::from_timestamp(t.timestamp() - t.timestamp() % 60, 0).unwrap();
    for (start_at, end) in [
        // Seconds are ignored: both ends fall in one minute.
        (
            minute + chrono::Duration::seconds(5),
            minute + chrono::Duration::seconds(50),
        ),
        (t, t - chrono::Duration::hours(1)),
        (t - chrono::Duration::days(16), t),
    ] {
        let r = get_deleted(&emu, &token, start_at, end).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.body[0]["errorCode"], "INVALID_REPLICATION_DATE");
    }
    // Get Updated reaches back 30 days.
    let r = emu
        .get(
            &format!(
                "/services/data/{V}/sobjects/Contact/updated/?start={}&end={}",
                param(t - chrono::Duration::days(20)),
                param(t)
            ),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn every_answer_carries_the_emulator_clock_in_date() {
    let emu = start().await;
    let (_, token) = emu.login("c@example.com").await;
    emu.advance_clock(3.0 * 86_400.0).await;
    let t = now(&emu).await;
    let r = emu.query(&token, "SELECT Id FROM Contact").await;
    let date = r.headers["date"].to_str().unwrap();
    let served = chrono::DateTime::parse_from_rfc2822(date).unwrap().to_utc();
    assert!(
        (served - t).num_seconds().abs() < 5,
        "Date {served} follows the clock {t}"
    );
}
