//! The Salesforce API budget as operators and the status API see it (issue 11 §4): a user's
//! status carries the org's last recorded usage and whether its periodic sessions are stretched,
//! and the dashboard marks each org past its budget share.

mod common;

use chrono::Utc;
use common::start;
use reqwest::Method;
use sync_state::api_budget;

#[tokio::test]
async fn the_status_and_the_dashboard_say_when_an_org_is_past_its_api_budget() {
    let stack = start().await;
    for (org, sf_org) in [
        ("busy", "00Dxx0000001gPLEAY"),
        ("calm", "00Dxx0000001gPMEAY"),
        ("quiet", "00Dxx0000001gPNEAY"),
    ] {
        stack.create_org(org, sf_org, "http://127.0.0.1:9").await;
    }
    for (user, org) in [("bob", "busy"), ("carol", "calm"), ("quinn", "quiet")] {
        stack.create_user(user, org, "005xx000001SvbRAAS").await;
    }
    {
        let client = stack.db.pool.get().await.expect("db");
        api_budget::record(&**client, "busy", 93_000, 100_000, Utc::now())
            .await
            .expect("record");
        api_budget::record(&**client, "calm", 12_000, 100_000, Utc::now())
            .await
            .expect("record");
    }

    let busy = stack
        .admin(Method::GET, "/api/v1/users/bob/status", None)
        .await;
    assert_eq!(busy.status, 200, "{busy:?}");
    let api = &busy.json["salesforce_api"];
    assert_eq!(api["used"], 93_000, "{api}");
    assert_eq!(api["limit"], 100_000, "{api}");
    assert_eq!(api["budget_share"], 0.9, "{api}");
    assert_eq!(api["periodic_stretched"], true, "{api}");
    assert_eq!(
        api["periodic_interval_factor"],
        api_budget::PERIODIC_STRETCH,
        "{api}"
    );
    assert!(api["reported_at"].is_string(), "{api}");

    let calm = stack
        .admin(Method::GET, "/api/v1/users/carol/status", None)
        .await;
    assert_eq!(calm.json["salesforce_api"]["periodic_stretched"], false);
    assert_eq!(calm.json["salesforce_api"]["periodic_interval_factor"], 1);
    let quiet = stack
        .admin(Method::GET, "/api/v1/users/quinn/status", None)
        .await;
    assert!(
        quiet.json["salesforce_api"].is_null(),
        "nothing reported yet: {:?}",
        quiet.json
    );

    let page = stack.admin(Method::GET, "/dashboard", None).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.text
            .contains("93,000 of 100,000 daily requests used (93%)"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("12,000 of 100,000 daily requests used (12%)"),
        "{}",
        page.text
    );
    assert_eq!(
        page.text
            .matches("periodic sessions stretched (every 4× the interval): API budget past 90%")
            .count(),
        1,
        "only the busy org is marked: {}",
        page.text
    );
    let busy_card = page
        .text
        .split("<section")
        .find(|card| card.contains("Org busy"))
        .expect("the busy org's card");
    assert!(
        busy_card.contains("periodic sessions stretched"),
        "{busy_card}"
    );
    stack.finish().await;
}
