//! Pure mapping between the sync core's Salesforce commands and sObject Collection records, and
//! back from Salesforce's per-record answers to the `WriteResult`s the reconciler folds in.

use salesforce_client::{DeleteResult, Disposition, RecordFailure, SaveResult, SfContactWrite};
use serde_json::{Map, Value};
use sync_core::mapping::SalesforcePatch;
use sync_core::{SalesforceCommand, SalesforceId, SyncKey, WriteFailure, WriteResult};

use crate::accounts::Chosen;

/// What one command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A terminal outcome: success, or a rejection of this contact alone (C7).
    Done(WriteResult),
    /// Salesforce stayed unreachable (or refused the call as a whole) after the client's
    /// retries: the batch cannot be reported as carried out, and the session must run again.
    Unavailable(String),
}

/// The upsert record of a `Create`: owner, linked Account (B14) and the sync key the upsert
/// matches on, so a retry updates instead of duplicating (C4). `None` for other commands.
pub fn create_record(command: &SalesforceCommand, accounts: &Chosen) -> Option<SfContactWrite> {
    let SalesforceCommand::Create {
        sync_key,
        owner_id,
        fields,
        company_name,
    } = command
    else {
        return None;
    };
    Some(SfContactWrite {
        owner_id: Some(owner_id.as_str().to_owned()),
        account_id: accounts
            .account(company_name.as_deref())
            .map(|(id, _)| id.as_str().to_owned()),
        sync_key: Some(sync_key.as_str().to_owned()),
        fields: (**fields).clone(),
    })
}

/// The update record of an `Update`: its Id and the changed fields, `null` clearing one, plus
/// `AccountId` when it relinks (`null` detaches: no Account matches, B14). `None` otherwise.
pub fn update_record(
    command: &SalesforceCommand,
    accounts: &Chosen,
) -> Option<(String, Map<String, Value>)> {
    let SalesforceCommand::Update {
        id, patch, relink, ..
    } = command
    else {
        return None;
    };
    let mut body = patch_body(patch);
    if let Some(relink) = relink {
        let account = accounts.account(relink.company_name.as_deref());
        body.insert(
            "AccountId".to_owned(),
            account.map_or(Value::Null, |(id, _)| Value::String(id.as_str().to_owned())),
        );
    }
    Some((id.as_str().to_owned(), body))
}

fn patch_body(patch: &SalesforcePatch) -> Map<String, Value> {
    patch
        .0
        .iter()
        .map(|(field, value)| {
            let value = value.clone().map_or(Value::Null, Value::String);
            (field.clone(), value)
        })
        .collect()
}

/// The Account name a create or relink recorded: `Some(name)` of the chosen Account, or `None`.
fn account_name(company: Option<&str>, accounts: &Chosen) -> Option<String> {
    accounts.account(company).map(|(_, name)| name.clone())
}

/// The verdict for an upsert's answer.
pub fn created(command: &SalesforceCommand, answer: &SaveResult, accounts: &Chosen) -> Verdict {
    let sync_key = command.sync_key().clone();
    let company = match command {
        SalesforceCommand::Create { company_name, .. } => company_name.as_deref(),
        _ => None,
    };
    match answer {
        Ok(saved) => match SalesforceId::try_from(saved.id.as_str()) {
            Ok(id) => Verdict::Done(WriteResult::SalesforceCreated {
                sync_key,
                id,
                account_name: account_name(company, accounts),
            }),
            Err(e) => Verdict::Unavailable(format!("Salesforce returned an unusable id: {e}")),
        },
        Err(failure) => failed(&sync_key, failure),
    }
}

/// The verdict for an update's answer.
pub fn updated(command: &SalesforceCommand, answer: &SaveResult, accounts: &Chosen) -> Verdict {
    let sync_key = command.sync_key().clone();
    let relink = match command {
        SalesforceCommand::Update { relink, .. } => relink.as_ref(),
        _ => None,
    };
    match answer {
        Ok(_) => Verdict::Done(WriteResult::SalesforceUpdated {
            sync_key,
            account_name: relink.map(|r| account_name(r.company_name.as_deref(), accounts)),
        }),
        Err(failure) => failed(&sync_key, failure),
    }
}

/// The verdict for a delete's answer (already gone counts as deleted).
pub fn deleted(command: &SalesforceCommand, answer: &DeleteResult) -> Verdict {
    let sync_key = command.sync_key().clone();
    match answer {
        Ok(_) => Verdict::Done(WriteResult::SalesforceDeleted { sync_key }),
        Err(failure) => failed(&sync_key, failure),
    }
}

/// A record Salesforce answered with errors fails alone (C7) unless the error is one a retry
/// would fix (row lock, limits, session) — those, and calls that failed as a whole, make the
/// batch unavailable.
pub fn failed(sync_key: &SyncKey, failure: &RecordFailure) -> Verdict {
    match failure {
        RecordFailure::Rejected { errors, .. }
            if !matches!(
                failure.disposition(),
                Disposition::Retry { .. } | Disposition::ReAuth
            ) =>
        {
            let first = errors.first();
            Verdict::Done(WriteResult::SalesforceFailed {
                sync_key: sync_key.clone(),
                failure: WriteFailure {
                    code: first
                        .map(|e| e.status_code.clone())
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "UNKNOWN_EXCEPTION".to_owned()),
                    field: first.and_then(|e| e.fields.first().cloned()),
                    message: first
                        .map(|e| e.message.clone())
                        .unwrap_or_else(|| "Salesforce rejected the record.".to_owned()),
                },
            })
        }
        other => Verdict::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use salesforce_client::{Deleted, RecordError, SalesforceError, Saved};
    use serde_json::json;
    use sync_core::fields::SalesforceContactFields;
    use sync_core::{AccountCandidate, AccountId, Relink, SalesforceUserId};

    use super::*;

    fn key(k: &str) -> SyncKey {
        SyncKey::try_from(k).unwrap()
    }

    fn accounts() -> Chosen {
        Chosen::choose(
            &["Acme".to_owned(), "Nobody".to_owned()],
            &[AccountCandidate {
                id: AccountId::try_from("001000000000001AAA").unwrap(),
                name: "ACME".into(),
                created_date: "2020-01-01T00:00:00Z".parse().unwrap(),
            }],
        )
    }

    fn create(company: Option<&str>) -> SalesforceCommand {
        SalesforceCommand::Create {
            sync_key: key("ex-1"),
            owner_id: SalesforceUserId::try_from("005000000000001AAA").unwrap(),
            fields: Box::new(SalesforceContactFields {
                last_name: Some("Lovelace".into()),
                ..Default::default()
            }),
            company_name: company.map(str::to_owned),
        }
    }

    fn update(relink: Option<Option<&str>>) -> SalesforceCommand {
        let mut patch = SalesforcePatch::default();
        patch.0.insert("Title".into(), Some("CTO".into()));
        patch.0.insert("Phone".into(), None);
        SalesforceCommand::Update {
            sync_key: key("sf-2"),
            id: SalesforceId::try_from("003000000000002AAA").unwrap(),
            patch,
            relink: relink.map(|company| Relink {
                company_name: company.map(str::to_owned),
            }),
        }
    }

    fn rejected(code: &str, fields: &[&str], disposition: Disposition) -> RecordFailure {
        RecordFailure::Rejected {
            id: None,
            errors: vec![RecordError {
                status_code: code.into(),
                message: format!("{code} says no"),
                fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            }],
            disposition,
        }
    }

    #[test]
    fn b14_a_create_is_an_upsert_by_key_owned_by_the_user_with_the_linked_account() {
        let record = create_record(&create(Some(" acme ")), &accounts()).unwrap();
        assert_eq!(record.owner_id.as_deref(), Some("005000000000001AAA"));
        assert_eq!(record.account_id.as_deref(), Some("001000000000001AAA"));
        assert_eq!(record.sync_key.as_deref(), Some("ex-1"));
        assert_eq!(record.fields.last_name.as_deref(), Some("Lovelace"));

        for company in [None, Some(""), Some("Nobody")] {
            let record = create_record(&create(company), &accounts()).unwrap();
            assert_eq!(record.account_id, None, "{company:?}");
            let json = serde_json::to_value(&record).unwrap();
            assert!(json.get("AccountId").is_none());
        }
        assert!(create_record(&update(None), &accounts()).is_none());
    }

    #[test]
    fn an_update_sends_the_patch_with_nulls_and_relinks_or_detaches_the_account() {
        let (id, body) = update_record(&update(None), &accounts()).unwrap();
        assert_eq!(id, "003000000000002AAA");
        assert_eq!(Value::Object(body), json!({"Title": "CTO", "Phone": null}));

        let (_, body) = update_record(&update(Some(Some("Acme"))), &accounts()).unwrap();
        assert_eq!(body["AccountId"], "001000000000001AAA");
        let (_, body) = update_record(&update(Some(None)), &accounts()).unwrap();
        assert_eq!(body["AccountId"], Value::Null);
        let (_, body) = update_record(&update(Some(Some("Nobody"))), &accounts()).unwrap();
        assert_eq!(body["AccountId"], Value::Null);
    }

    #[test]
    fn successes_report_the_new_id_and_the_chosen_account_name() {
        let saved = Ok(Saved {
            id: "003000000000009AAA".into(),
            created: Some(true),
        });
        assert_eq!(
            created(&create(Some("Acme")), &saved, &accounts()),
            Verdict::Done(WriteResult::SalesforceCreated {
                sync_key: key("ex-1"),
                id: SalesforceId::try_from("003000000000009AAA").unwrap(),
                account_name: Some("ACME".into()),
            })
        );
        assert_eq!(
            updated(&update(None), &saved, &accounts()),
            Verdict::Done(WriteResult::SalesforceUpdated {
                sync_key: key("sf-2"),
                account_name: None,
            })
        );
        assert_eq!(
            updated(&update(Some(Some("Nobody"))), &saved, &accounts()),
            Verdict::Done(WriteResult::SalesforceUpdated {
                sync_key: key("sf-2"),
                account_name: Some(None),
            })
        );
        let delete = SalesforceCommand::Delete {
            sync_key: key("sf-3"),
            id: SalesforceId::try_from("003000000000003AAA").unwrap(),
        };
        let gone = Ok(Deleted {
            id: "003000000000003AAA".into(),
            already_gone: true,
        });
        assert_eq!(
            deleted(&delete, &gone),
            Verdict::Done(WriteResult::SalesforceDeleted {
                sync_key: key("sf-3")
            })
        );
    }

    #[test]
    fn c7_a_rejected_record_fails_alone_with_code_first_field_and_message() {
        let answer = Err(rejected(
            "STRING_TOO_LONG",
            &["LastName", "FirstName"],
            Disposition::PermanentItem,
        ));
        assert_eq!(
            created(&create(None), &answer, &accounts()),
            Verdict::Done(WriteResult::SalesforceFailed {
                sync_key: key("ex-1"),
                failure: WriteFailure {
                    code: "STRING_TOO_LONG".into(),
                    field: Some("LastName".into()),
                    message: "STRING_TOO_LONG says no".into(),
                },
            })
        );
    }

    #[test]
    fn locks_limits_and_failed_calls_make_the_batch_unavailable() {
        for failure in [
            rejected(
                "UNABLE_TO_LOCK_ROW",
                &[],
                Disposition::Retry { after: None },
            ),
            RecordFailure::Missing,
            RecordFailure::Request(Arc::new(SalesforceError::Config("down".into()))),
        ] {
            assert!(matches!(
                updated(&update(None), &Err(failure), &accounts()),
                Verdict::Unavailable(_)
            ));
        }
        let unusable = Ok(Saved {
            id: "not an id".into(),
            created: Some(true),
        });
        assert!(matches!(
            created(&create(None), &unusable, &accounts()),
            Verdict::Unavailable(_)
        ));
    }
}
