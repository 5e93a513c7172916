//! Bulk onboarding (SPEC §4 `POST /api/v1/users:import`) over real HTTP and PostgreSQL: one
//! result per row, a bad row applied not at all and blocking nobody, JSON, JSON lines and CSV.

mod common;

use common::{ADMIN_TOKEN, SF_ORG_ID, start};
use reqwest::Method;
use serde_json::{Value, json};

const SF_USER: &str = "005xx000001SvbQAAS";
const LOGIN: &str = "https://login.salesforce.example";

fn statuses(resp: &common::Resp) -> Vec<(u64, String, String)> {
    resp.json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results: {resp:?}"))
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn error_of(resp: &common::Resp, row: usize) -> String {
    resp.json["results"][row - 1]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_json_import_answers_per_row_and_applies_each_row_whole_or_not_at_all() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    let users = json!([
        {"id": "ann", "mailbox": "ann@contoso.example", "salesforce_user_id": SF_USER,
         "settings": {"enabled": true, "scope": "all"}},
        {"id": "bad mailbox", "mailbox": "ann@contoso.example", "salesforce_user_id": SF_USER},
        {"id": "cy", "mailbox": "cy@contoso.example", "salesforce_user_id": SF_USER,
         "settings": {"enabled": true, "scope": "list_view"}},
        {"id": "dee", "mailbox": "dee@contoso.example", "salesforce_user_id": SF_USER,
         "org": "elsewhere"},
        {"id": "eve", "mailbox": "eve@contoso.example", "salesforce_user_id": "001xx000001SvbQ"},
        {"id": "fay", "mailbox": "fay@contoso.example"},
        {"id": "gus", "mailbox": "gus@contoso.example", "salesforce_user_id": SF_USER,
         "provider": "exchange"},
    ]);
    let resp = stack
        .admin(Method::POST, "/api/v1/users:import", Some(users.clone()))
        .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let got = statuses(&resp);
    let expected: Vec<(u64, &str, &str)> = vec![
        (1, "ann", "created"),
        (2, "bad mailbox", "failed"),
        (3, "cy", "failed"),
        (4, "dee", "failed"),
        (5, "eve", "failed"),
        (6, "", "failed"),
        (7, "gus", "created"),
    ];
    assert_eq!(
        got,
        expected
            .iter()
            .map(|(r, i, s)| (*r, (*i).to_owned(), (*s).to_owned()))
            .collect::<Vec<_>>()
    );
    assert!(
        error_of(&resp, 2).starts_with("id:"),
        "{}",
        error_of(&resp, 2)
    );
    assert!(
        error_of(&resp, 3).starts_with("list_view_id:"),
        "{}",
        error_of(&resp, 3)
    );
    assert!(
        error_of(&resp, 4).contains("org elsewhere"),
        "{}",
        error_of(&resp, 4)
    );
    assert!(error_of(&resp, 5).starts_with("salesforce_user_id:"));
    assert!(error_of(&resp, 6).contains("salesforce_user_id"));

    // Row 3's user is not half-created without its settings.
    let cy = stack.admin(Method::GET, "/api/v1/users/cy", None).await;
    assert_eq!(cy.status, 404);
    // Enabled users are due for the scheduler; no session was started one by one.
    let ann = stack
        .admin(Method::GET, "/api/v1/users/ann/status", None)
        .await;
    assert_eq!(ann.json["settings"]["enabled"], true);
    assert_eq!(ann.json["settings"]["scope"], "all");
    assert_eq!(ann.json["pending_trigger"], true, "{ann:?}");
    assert!(stack.all_sessions().await.is_empty());

    // The same file again: nothing new, nothing broken; a changed mailbox is a conflict.
    let mut again = users.clone();
    again[6]["mailbox"] = json!("gustav@contoso.example");
    let resp = stack
        .admin(Method::POST, "/api/v1/users:import", Some(again))
        .await;
    let got = statuses(&resp);
    assert_eq!(got[0].2, "updated");
    assert_eq!(got[6].2, "failed");
    assert!(error_of(&resp, 7).contains("already exists"), "{resp:?}");
    stack.finish().await;
}

#[tokio::test]
async fn csv_and_json_lines_imports_number_their_rows_as_the_file_does() {
    let stack = start().await;
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    let csv = format!(
        "id,mailbox,salesforce_user_id,enabled,scope,auto_removal,conflict_winner\r\n\
         hal,hal@contoso.example,{SF_USER},true,mine,false,exchange\r\n\
         \"ida\",\"ida@contoso.example\",{SF_USER},,,,\r\n\
         jo,jo@contoso.example,{SF_USER},perhaps,,,\r\n"
    );
    let resp = stack
        .send_raw(
            "/api/v1/users:import",
            Some(ADMIN_TOKEN),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let got = statuses(&resp);
    assert_eq!(
        got.iter()
            .map(|(r, _, s)| (*r, s.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "created"), (2, "created"), (3, "failed")]
    );
    assert!(error_of(&resp, 3).starts_with("enabled:"));
    let hal = stack
        .admin(Method::GET, "/api/v1/users/hal/settings/contacts", None)
        .await;
    assert_eq!(hal.json["conflict_winner"], "exchange");
    let ida = stack
        .admin(Method::GET, "/api/v1/users/ida/settings/contacts", None)
        .await;
    assert_eq!(ida.json["enabled"], false, "no settings columns: defaults");

    let lines = format!(
        "{}\n\n{}\n",
        json!({"id": "kim", "mailbox": "kim@contoso.example", "salesforce_user_id": SF_USER}),
        "{not json"
    );
    let resp = stack
        .send_raw(
            "/api/v1/users:import",
            Some(ADMIN_TOKEN),
            "application/x-ndjson",
            lines.into_bytes(),
        )
        .await;
    let got = statuses(&resp);
    assert_eq!(
        got.iter()
            .map(|(r, _, s)| (*r, s.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "created"), (3, "failed")]
    );

    // Whole-body problems are one 4xx, not rows.
    let resp = stack
        .send_raw(
            "/api/v1/users:import",
            Some(ADMIN_TOKEN),
            "text/csv",
            b"id,mailbox,salesforce_user_id,colour\n".to_vec(),
        )
        .await;
    assert_eq!(resp.status, 400);
    assert!(resp.error_message().contains("colour"), "{resp:?}");
    let resp = stack
        .send_raw(
            "/api/v1/users:import",
            Some(ADMIN_TOKEN),
            "application/xml",
            b"<users/>".to_vec(),
        )
        .await;
    assert_eq!(resp.status, 400);
    let resp = stack
        .send_raw("/api/v1/users:import", None, "text/csv", Vec::new())
        .await;
    assert_eq!(resp.status, 401);
    let empty: Value = json!([]);
    let resp = stack
        .admin(Method::POST, "/api/v1/users:import", Some(empty))
        .await;
    assert_eq!(resp.status, 400);
    stack.finish().await;
}
