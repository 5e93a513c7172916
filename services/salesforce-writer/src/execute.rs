//! Carries out one batch of Salesforce commands with the fewest API calls: the Account lookups of
//! the whole batch shared (B14), then all creates in one upsert by sync key (C4), all updates in
//! one collection update and all deletes in one collection delete (each ≤ 200 records a call).

use contracts::{Failure, FailureCode};
use std::collections::BTreeMap;

use salesforce_client::{Disposition, SalesforceClient, SalesforceError};
use sync_core::{AccountCandidate, SalesforceCommand};

use crate::accounts::{self, AccountRow, Chosen};
use crate::mapping::{self, Verdict};

/// What became of a batch (the one shape every writer reports).
pub use pipeline::Executed;

/// Runs `commands` as the integration user. Every write is idempotent (upsert by key, update and
/// delete by Id), so a redelivered batch is simply run again.
#[tracing::instrument(skip_all, fields(commands = commands.len()))]
pub async fn execute(salesforce: &SalesforceClient, commands: &[SalesforceCommand]) -> Executed {
    let mut verdicts: Vec<Option<Verdict>> = commands.iter().map(|_| None).collect();

    let (chosen, lookup_failure) = link_accounts(salesforce, commands).await;
    if let Some(reason) = &lookup_failure {
        // Without its Account a create or relink would be written wrong; the rest can go on.
        for (verdict, command) in verdicts.iter_mut().zip(commands) {
            if needs_account(command) {
                *verdict = Some(Verdict::Unavailable(reason.clone()));
            }
        }
    }

    // Indices of the commands still without a verdict.
    let pending = |verdicts: &[Option<Verdict>]| -> Vec<usize> {
        (0..commands.len())
            .filter(|&i| verdicts[i].is_none())
            .collect()
    };

    let (creates, records): (Vec<usize>, Vec<_>) = pending(&verdicts)
        .into_iter()
        .filter_map(|i| Some((i, mapping::create_record(&commands[i], &chosen)?)))
        .unzip();
    if !creates.is_empty() {
        let answers = salesforce.upsert_contacts(&records).await;
        for (&i, answer) in creates.iter().zip(&answers) {
            verdicts[i] = Some(mapping::created(&commands[i], answer, &chosen));
        }
    }

    let (updates, records): (Vec<usize>, Vec<_>) = pending(&verdicts)
        .into_iter()
        .filter_map(|i| Some((i, mapping::update_record(&commands[i], &chosen)?)))
        .unzip();
    if !updates.is_empty() {
        let answers = salesforce.update("Contact", &records).await;
        for (&i, answer) in updates.iter().zip(&answers) {
            verdicts[i] = Some(mapping::updated(&commands[i], answer, &chosen));
        }
    }

    let (deletes, ids): (Vec<usize>, Vec<String>) = pending(&verdicts)
        .into_iter()
        .filter_map(|i| match &commands[i] {
            SalesforceCommand::Delete { id, .. } => Some((i, id.as_str().to_owned())),
            _ => None,
        })
        .unzip();
    if !deletes.is_empty() {
        let answers = salesforce.delete(&ids).await;
        for (&i, answer) in deletes.iter().zip(&answers) {
            verdicts[i] = Some(mapping::deleted(&commands[i], answer));
        }
    }

    finish(verdicts)
}

/// Whether the command's write depends on account linking.
fn needs_account(command: &SalesforceCommand) -> bool {
    match command {
        SalesforceCommand::Create { company_name, .. } => {
            accounts::company_key(company_name.as_deref()).is_some()
        }
        SalesforceCommand::Update {
            relink: Some(relink),
            ..
        } => accounts::company_key(relink.company_name.as_deref()).is_some(),
        _ => false,
    }
}

/// B14 for every create and relink of the batch: each distinct company is looked up once, and
/// the companies share queries. Returns the choices and, if a query failed, why.
async fn link_accounts(
    salesforce: &SalesforceClient,
    commands: &[SalesforceCommand],
) -> (Chosen, Option<String>) {
    // One lookup per company, whatever its case (Salesforce's name equality ignores case).
    let companies: BTreeMap<String, String> = commands
        .iter()
        .filter_map(|command| match command {
            SalesforceCommand::Create { company_name, .. } => {
                accounts::company_key(company_name.as_deref())
            }
            SalesforceCommand::Update {
                relink: Some(relink),
                ..
            } => accounts::company_key(relink.company_name.as_deref()),
            _ => None,
        })
        .map(|company| (company.to_lowercase(), company))
        .collect();
    let companies: Vec<String> = companies.into_values().collect();
    let mut candidates: Vec<AccountCandidate> = Vec::new();
    for soql in accounts::lookup_queries(&companies) {
        match salesforce.query::<AccountRow>(&soql).await {
            Ok(rows) => candidates.extend(rows.into_iter().filter_map(AccountRow::candidate)),
            Err(e) => return (Chosen::default(), Some(lookup_failure(&e))),
        }
    }
    tracing::debug!(
        companies = companies.len(),
        candidates = candidates.len(),
        "Looked up Accounts."
    );
    (Chosen::choose(&companies, &candidates), None)
}

fn lookup_failure(error: &SalesforceError) -> String {
    let what = match error.disposition() {
        Disposition::Retry { .. } | Disposition::ReAuth => "Salesforce is unavailable",
        // A query Salesforce refuses is not any contact's fault: an operator has to look.
        _ => "Salesforce refused the Account lookup",
    };
    format!("{what}: {error}")
}

/// The batch's report from the verdicts.
fn finish(verdicts: Vec<Option<Verdict>>) -> Executed {
    let mut results = Vec::with_capacity(verdicts.len());
    let mut unavailable: Vec<String> = Vec::new();
    for verdict in verdicts {
        match verdict {
            Some(Verdict::Done(result)) => results.push(result),
            Some(Verdict::Unavailable(reason)) => unavailable.push(reason),
            None => unavailable.push("the command was not carried out".to_owned()),
        }
    }
    let failure = (!unavailable.is_empty()).then(|| {
        // The service could not be reached for these commands after the retries.
        let message = format!(
            "Salesforce could not carry out {} of {} writes: {}",
            unavailable.len(),
            results.len() + unavailable.len(),
            unavailable[0]
        );
        Failure::new(FailureCode::Unavailable, message)
    });
    Executed { results, failure }
}
