//! The Gmail variant of the first mirror (issue 16, G1): a Gmail user's first session mirroring
//! Salesforce Contacts into an empty address book, against the floors the People API's batch
//! limits set, counted and timed in the same run.
//!
//! The session measured is the one after the user's setup session (which made the two contact
//! groups of G1 in the still empty address book), as in the Exchange first-sync scenarios: a
//! session someone asked for, so it checks the groups (B1).
//!
//! - **Requests.** The least that session can cost for `n` Contacts: a token for the writer (the
//!   reader's is still valid), the groups listed, one `connections` round, one
//!   `batchCreateContacts` per 200; on Salesforce one query page per 2,000 (the login is still
//!   valid).
//! - **Seconds.** A minimal direct client making just those People API calls (and the Salesforce
//!   query) against the same emulators, one after the other as Google asks of one user's writes.

use std::time::Instant;

use anyhow::{Context as _, bail};
use contactsync::harness::{Provider, Stack};
use reqwest::Method;
use serde_json::{Value, json};

/// Contacts in the Gmail first mirror.
const CONTACTS: usize = 1000;
/// People API `batchCreateContacts` takes at most this many contacts (reference §4).
const BATCH_CREATE: usize = 200;
/// Salesforce query pages hold at most this many records.
const QUERY_PAGE: usize = 2000;

/// What one Gmail first mirror cost, and its floors from the same run.
pub struct GmailFirstSync {
    pub seconds: f64,
    pub direct_seconds: f64,
    pub requests: f64,
    pub least_requests: f64,
}

/// The least requests of the measured session for `n` Contacts (see the module).
fn least_requests(n: usize) -> f64 {
    let people = 1 + 1 + 1 + n.div_ceil(BATCH_CREATE);
    let salesforce = n.div_ceil(QUERY_PAGE).max(1);
    (people + salesforce) as f64
}

/// Seeds `CONTACTS` Contacts owned by a new Gmail user (control API, not counted), times the
/// session that mirrors them, then times a direct client doing the least calls for a second user
/// with the same Contacts.
pub async fn first_sync() -> anyhow::Result<GmailFirstSync> {
    let stack = Stack::start().await?;
    let user = stack
        .add_user_on(Provider::Gmail, "gbench", json!({}))
        .await?;
    crate::bench_sync::seed_owned_contacts(&stack, &user.salesforce_user_id, CONTACTS, "Gbench")
        .await?;
    stack.reset_counters().await?;
    let started = Instant::now();
    let summary = stack.sync(&user).await?;
    let seconds = started.elapsed().as_secs_f64();
    let created = summary["writes"]["exchange"]["created"]
        .as_u64()
        .unwrap_or(0);
    if created != CONTACTS as u64 {
        bail!("the first Gmail mirror created {created} of {CONTACTS} contacts: {summary}");
    }
    let (_, salesforce) = stack.counters().await?;
    let gmail = stack.gmail_counters().await?;
    let requests = |c: &Value| c["http_requests"].as_f64().unwrap_or(0.0);
    let measured = requests(&gmail) + requests(&salesforce);
    let direct_seconds = direct(&stack, &user.salesforce_user_id).await?;
    stack.stop().await?;
    Ok(GmailFirstSync {
        seconds,
        direct_seconds,
        requests: measured,
        least_requests: least_requests(CONTACTS),
    })
}

/// The floor: a direct client reads the user's Contacts (one query) and writes them into a fresh
/// Gmail address book with the least People API calls, one after the other. Tokens come from
/// the emulators' control APIs before the clock starts.
async fn direct(stack: &Stack, owner: &str) -> anyhow::Result<f64> {
    let mailbox = "gbench-direct@contoso.test";
    let (status, body) = stack
        .call(
            Method::POST,
            &format!("{}/_emulator/mailboxes", stack.gmail_url),
            None,
            Some(json!({"email": mailbox})),
        )
        .await?;
    if status >= 300 {
        bail!("creating the direct client's mailbox: {status} {body}");
    }
    let token = |url: String, body: Value| async move {
        let (_, answer) = stack.call(Method::POST, &url, None, Some(body)).await?;
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("a test token")
    };
    let google = token(
        format!("{}/_emulator/tokens", stack.gmail_url),
        json!({"email": mailbox}),
    )
    .await?;
    let salesforce = token(
        format!("{}/_emulator/tokens", stack.salesforce_url),
        json!({"username": salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME}),
    )
    .await?;
    let http = &stack.http;
    let people = format!("{}/v1", stack.gmail_url);
    let call = |method: Method, path: String, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{people}/{path}"))
            .bearer_auth(&google);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let answer: Value = request.send().await?.error_for_status()?.json().await?;
            anyhow::Ok(answer)
        }
    };
    // The groups exist before the clock starts, as the setup session made them for the user.
    let mut groups = Vec::new();
    for name in [sync_core::SYNC_FOLDER_NAME, sync_core::SALESFORCE_CATEGORY] {
        let group = call(
            Method::POST,
            "contactGroups".into(),
            Some(json!({"contactGroup": {"name": name}})),
        )
        .await?;
        groups.push(
            group["resourceName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let started = Instant::now();
    let soql = format!(
        "SELECT Id, FirstName, LastName, Email, Phone FROM Contact WHERE OwnerId = '{owner}'"
    );
    let records: Value = http
        .get(format!(
            "{}/services/data/v60.0/query",
            stack.salesforce_url
        ))
        .query(&[("q", soql.as_str())])
        .bearer_auth(&salesforce)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let records = records["records"].as_array().cloned().unwrap_or_default();
    if records.len() != CONTACTS {
        bail!(
            "the direct query read {} of {CONTACTS} Contacts",
            records.len()
        );
    }
    call(Method::GET, "contactGroups?pageSize=1000".into(), None).await?;
    call(
        Method::GET,
        "people/me/connections?personFields=names,memberships,clientData&pageSize=1000&requestSyncToken=true".into(),
        None,
    )
    .await?;
    let memberships: Vec<Value> = groups
        .iter()
        .map(|g| json!({"contactGroupMembership": {"contactGroupResourceName": g}}))
        .collect();
    for chunk in records.chunks(BATCH_CREATE) {
        let contacts: Vec<Value> = chunk
            .iter()
            .map(|r| {
                json!({"contactPerson": {
                    "names": [{"givenName": r["FirstName"], "familyName": r["LastName"]}],
                    "emailAddresses": [{"value": r["Email"]}],
                    "phoneNumbers": [{"value": r["Phone"], "type": "work"}],
                    "memberships": memberships,
                    "clientData": [{"key": "contactsyncKey", "value": r["Id"]}],
                }})
            })
            .collect();
        call(
            Method::POST,
            "people:batchCreateContacts".into(),
            Some(json!({"contacts": contacts, "readMask": "names"})),
        )
        .await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_requests_count_the_people_api_batch_limit() {
        // token, groups listed, one connections round, 5 creates; 1 query.
        assert_eq!(least_requests(1000), 9.0);
        assert_eq!(least_requests(1001), 10.0);
    }
}
