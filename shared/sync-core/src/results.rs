//! `apply_write_results`: the writers' outcomes folded into the link rows a session stores.
//!
//! Successes fill in what only the service knows (a new Graph id and changeKey, a new Salesforce
//! Id, the Account linking picked). A terminal failure swaps in the row `reconcile` prepared for
//! it (`Decisions::fallbacks`): the baseline becomes what the failed side still holds and the
//! other side's value is marked rejected, so the contact is retried when it changes again and
//! never loops (C7).

use std::collections::HashMap;

use crate::ids::SyncKey;
use crate::model::{
    Decisions, ErrorCode, Fallback, ItemError, Link, LinkUpdate, WriteFailure, WriteResult,
};

/// What to store after a session's writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The link-store changes, in decision order.
    pub links: Vec<LinkUpdate>,
    /// One error per failed write, for the user's status (C7).
    pub errors: Vec<ItemError>,
}

/// Folds the writers' results into the decided link updates.
pub fn apply_write_results(decisions: &Decisions, results: &[WriteResult]) -> Applied {
    let mut by_key: HashMap<&SyncKey, Vec<&WriteResult>> = HashMap::new();
    for result in results {
        by_key.entry(result.sync_key()).or_default().push(result);
    }
    let fallbacks: HashMap<&SyncKey, &Fallback> = decisions
        .fallbacks
        .iter()
        .map(|f| (&f.sync_key, f))
        .collect();
    let planned: HashMap<&SyncKey, &LinkUpdate> =
        decisions.links.iter().map(|l| (l.sync_key(), l)).collect();

    let mut keys: Vec<&SyncKey> = decisions.links.iter().map(LinkUpdate::sync_key).collect();
    keys.extend(
        decisions
            .fallbacks
            .iter()
            .map(|f| &f.sync_key)
            .filter(|k| !planned.contains_key(k)),
    );

    let mut links = Vec::new();
    for key in keys {
        let outcomes = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
        let exchange_failed = outcomes
            .iter()
            .any(|r| matches!(r, WriteResult::ExchangeFailed { .. }));
        let salesforce_failed = outcomes
            .iter()
            .any(|r| matches!(r, WriteResult::SalesforceFailed { .. }));
        let fallback = fallbacks.get(key);
        let chosen = match (exchange_failed, salesforce_failed) {
            (false, false) => planned.get(key).map(|u| (*u).clone()),
            // Neither side moved: the stored row (or its absence) is still right.
            (true, true) => None,
            (true, false) => fallback.and_then(|f| f.if_exchange_fails.clone()),
            (false, true) => fallback.and_then(|f| f.if_salesforce_fails.clone()),
        };
        let Some(mut update) = chosen else { continue };
        if let LinkUpdate::Upsert(link) = &mut update {
            for outcome in outcomes {
                record_success(link, outcome);
            }
        }
        links.push(update);
    }

    let rows: HashMap<&SyncKey, &Link> = decisions
        .links
        .iter()
        .filter_map(|u| match u {
            LinkUpdate::Upsert(link) => Some((&link.sync_key, &**link)),
            LinkUpdate::Delete { .. } => None,
        })
        .collect();
    let errors = results
        .iter()
        .filter_map(|r| match r {
            WriteResult::ExchangeFailed { sync_key, failure } => Some(write_error(
                sync_key,
                failure,
                "mailbox",
                rows.get(sync_key),
            )),
            WriteResult::SalesforceFailed { sync_key, failure } => Some(write_error(
                sync_key,
                failure,
                "Salesforce",
                rows.get(sync_key),
            )),
            _ => None,
        })
        .collect();
    Applied { links, errors }
}

fn record_success(link: &mut Link, outcome: &WriteResult) {
    match outcome {
        WriteResult::ExchangeCreated { id, change_key, .. } => {
            link.graph_id = Some(id.clone());
            link.change_key = change_key.clone();
        }
        WriteResult::ExchangeUpdated {
            change_key: Some(change_key),
            ..
        } => link.change_key = Some(change_key.clone()),
        WriteResult::SalesforceCreated {
            id, account_name, ..
        } => {
            link.salesforce_id = Some(id.clone());
            link.account_name = account_name.clone();
        }
        WriteResult::SalesforceUpdated {
            account_name: Some(name),
            ..
        } => link.account_name = name.clone(),
        _ => {}
    }
}

fn write_error(
    key: &SyncKey,
    failure: &WriteFailure,
    side: &str,
    row: Option<&&Link>,
) -> ItemError {
    ItemError {
        item: row.map_or_else(|| key.as_str().to_owned(), |l| l.baseline.label()),
        code: ErrorCode::from_service(&failure.code),
        field: failure.field.clone(),
        message: format!(
            "The {side} rejected the change ({}): {}",
            failure.code, failure.message
        ),
        sync_key: Some(key.clone()),
        graph_id: row.and_then(|l| l.graph_id.clone()),
        salesforce_id: row.and_then(|l| l.salesforce_id.clone()),
    }
}
