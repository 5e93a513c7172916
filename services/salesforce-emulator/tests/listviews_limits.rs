//! Contact list views (contract §7), limits and `Sforce-Limit-Info` (§9), and the control
//! API's faults, counters and reset (SPEC §4).

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use salesforce_emulator::Config;
use serde_json::json;

fn lv(rest: &str) -> String {
    format!("/services/data/{V}/sobjects/Contact/listviews{rest}")
}

#[tokio::test]
async fn standard_and_custom_list_views_list_describe_and_results() {
    let emu = start().await;
    let (_, token) = emu.login("lv@example.com").await;
    let other = emu.user("other@example.com").await;
    emu.seed(
        "Contact",
        "lv@example.com",
        vec![
            json!({"LastName": "Mine", "MailingCity": "Paris"}),
            json!({"LastName": "Also", "MailingCity": "Lyon"}),
        ],
    )
    .await;
    emu.seed(
        "Contact",
        &other,
        vec![json!({"LastName": "Theirs", "MailingCity": "Paris"})],
    )
    .await;
    let created = emu
        .control(
            Method::POST,
            "/listviews",
            Some(json!({"label": "Paris Contacts", "where": "MailingCity = 'paris'"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let custom_id = created.body["id"].as_str().expect("id").to_string();
    assert!(custom_id.starts_with("00B") && custom_id.len() == 18);

    let r = emu.get(&lv(""), &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["sobjectType"], "Contact");
    let views = r.body["listviews"].as_array().expect("listviews");
    let dev_names: Vec<&str> = views
        .iter()
        .filter_map(|v| v["developerName"].as_str())
        .collect();
    assert!(
        dev_names.contains(&"AllContacts") && dev_names.contains(&"MyContacts"),
        "{dev_names:?}"
    );
    assert!(
        dev_names.contains(&"RecentlyViewedContacts"),
        "{dev_names:?}"
    );
    let find = |dev: &str| {
        views
            .iter()
            .find(|v| v["developerName"] == dev)
            .expect("view")["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let mine_id = find("MyContacts");

    let r = emu
        .get(&lv(&format!("/{custom_id}/describe")), &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["id"],
        &custom_id[..15],
        "describe uses the 15-char id"
    );
    let soql = r.body["query"].as_str().expect("query").to_string();
    assert!(
        soql.contains("WHERE MailingCity = 'paris'")
            && soql.ends_with("ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST"),
        "{soql}"
    );
    // The describe's SOQL runs as-is through the query endpoint.
    let q = emu.query(&token, &soql).await;
    assert_eq!(q.body["totalSize"], 2, "{}", q.text);

    let r = emu
        .get(&lv(&format!("/{custom_id}/results?limit=1")), &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["size"], 2);
    assert_eq!(r.body["done"], false);
    let cols = r.body["records"][0]["columns"].as_array().expect("columns");
    let created_date = cols
        .iter()
        .find(|c| c["fieldNameOrPath"] == "CreatedDate")
        .expect("CreatedDate")["value"]
        .as_str()
        .expect("value");
    assert!(
        created_date.contains(" GMT "),
        "Java-style date: {created_date}"
    );

    let r = emu
        .get(&lv(&format!("/{}/describe", find("NewThisWeek"))), &token)
        .await;
    assert_eq!(
        r.body["whereCondition"],
        json!({"field": "CreatedDate", "operator": "equals", "values": ["THIS_WEEK"]})
    );
    let q = emu
        .query(&token, r.body["query"].as_str().expect("query"))
        .await;
    assert_eq!(
        q.body["totalSize"], 3,
        "everything was created this week: {}",
        q.text
    );
    let r = emu.get(&lv(&format!("/{mine_id}/describe")), &token).await;
    assert_eq!(r.body["scope"], "mine");
    assert!(
        r.body["query"]
            .as_str()
            .is_some_and(|q| q.contains("USING SCOPE mine"))
    );
    let r = emu.get(&lv(&format!("/{mine_id}/results")), &token).await;
    assert_eq!(r.body["size"], 2, "only the caller's contacts: {}", r.text);

    let bad = emu
        .control(
            Method::POST,
            "/listviews",
            Some(json!({"label": "Bad", "where": "Nope = 1"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let r = emu.get(&lv("/00B000000000000AAA/describe"), &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn limit_info_header_limits_resource_and_budget_exhaustion() {
    let emu = start_with(Config {
        daily_api_limit: 5,
        ..Config::default()
    })
    .await;
    let (_, token) = emu.login("l@example.com").await;
    let r = emu.get(&format!("/services/data/{V}/limits"), &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["Sforce-Limit-Info"], "api-usage=1/5");
    assert_eq!(
        r.body["DailyApiRequests"],
        json!({"Max": 5, "Remaining": 4})
    );
    for _ in 0..4 {
        assert_eq!(
            emu.query(&token, "SELECT Id FROM Contact").await.status,
            StatusCode::OK
        );
    }
    let r = emu.query(&token, "SELECT Id FROM Contact").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    // The version list costs nothing and needs no session.
    let r = emu
        .send(Method::GET, "/services/data/", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x["version"] == "60.0"))
    );
    assert!(r.headers.get("Sforce-Limit-Info").is_none());
    // Reset gives the budget back.
    emu.control(Method::POST, "/reset", None).await;
    let (_, token) = emu.login("l@example.com").await;
    assert_eq!(
        emu.query(&token, "SELECT Id FROM Contact").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn injected_faults_hit_their_route_count_times_with_retry_after() {
    let emu = start().await;
    let (_, token) = emu.login("f@example.com").await;
    let route = format!("POST /services/data/{V}/composite/sobjects");
    let r = emu
        .control(
            Method::POST,
            "/faults",
            Some(json!({"status": 503, "count": 2, "retry_after": 7, "route": route})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Other routes are unaffected.
    assert_eq!(
        emu.query(&token, "SELECT Id FROM Contact").await.status,
        StatusCode::OK
    );
    let body = json!({"records": [{"attributes": {"type": "Contact"}, "LastName": "F"}]});
    for _ in 0..2 {
        let r = emu
            .post(
                &format!("/services/data/{V}/composite/sobjects"),
                &token,
                body.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers["Retry-After"], "7");
    }
    let r = emu
        .post(
            &format!("/services/data/{V}/composite/sobjects"),
            &token,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let counts = emu.control(Method::GET, "/requests", None).await;
    assert_eq!(counts.body["by_route"][&route], 3);
    assert_eq!(
        counts.body["by_route"][format!("GET /services/data/{V}/query")],
        1
    );
    assert_eq!(
        emu.control(Method::DELETE, "/requests", None).await.status,
        StatusCode::NO_CONTENT
    );
    let counts = emu.control(Method::GET, "/requests", None).await;
    assert_eq!(
        counts.body,
        json!({"http_requests": 0, "operations": 0, "by_route": {}})
    );
    // Counters were zeroed alone: the data is still there.
    let all = emu.control(Method::GET, "/sobjects/Contact", None).await;
    assert_eq!(all.body["totalSize"], 1);
}

#[tokio::test]
async fn reset_empties_the_org_and_logs_out_its_users() {
    let emu = start().await;
    let (_, token) = emu.login("gone@example.com").await;
    emu.seed(
        "Contact",
        "gone@example.com",
        vec![json!({"LastName": "X"})],
    )
    .await;
    assert_eq!(
        emu.control(Method::POST, "/reset", None).await.status,
        StatusCode::NO_CONTENT
    );
    let all = emu.control(Method::GET, "/sobjects/Contact", None).await;
    assert_eq!(all.body["totalSize"], 0);
    let r = emu.query(&token, "SELECT Id FROM Contact").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Users with chosen ids can be recreated, e.g. to match a sync configuration.
    let r = emu
        .control(
            Method::POST,
            "/users",
            Some(json!({"Id": "005Dn0000000ABC", "Username": "gone@example.com"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["Id"].as_str().map(str::len), Some(18));
}

#[tokio::test]
async fn recent_list_views_and_single_view_info() {
    let emu = start().await;
    let (_, token) = emu.login("info@example.com").await;
    let r = emu.get(&lv("/recent"), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let first = r.body["listviews"][0].clone();
    let id = first["id"].as_str().expect("id");
    let r = emu.get(&lv(&format!("/{id}")), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, first);
}

#[tokio::test]
async fn faults_can_target_one_user() {
    let emu = start().await;
    let (_, alice) = emu.login("alice@example.com").await;
    let (_, bob) = emu.login("bob@example.com").await;
    let spec = json!({"status": 500, "count": 1, "Retry-After": "3", "route": "get /services/data/*", "user": "alice@example.com", "code": "UNABLE_TO_LOCK_ROW"});
    assert_eq!(
        emu.control(Method::POST, "/faults", Some(spec))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        emu.query(&bob, "SELECT Id FROM Contact").await.status,
        StatusCode::OK,
        "bob is not targeted"
    );
    let r = emu.query(&alice, "SELECT Id FROM Contact").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.headers["Retry-After"], "3");
    assert_eq!(r.body[0]["errorCode"], "UNABLE_TO_LOCK_ROW");
    assert_eq!(
        emu.query(&alice, "SELECT Id FROM Contact").await.status,
        StatusCode::OK,
        "count was 1"
    );
}
