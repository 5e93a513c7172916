//! Pure mapping between the sync core's mailbox commands and Graph writes, and back from Graph's
//! per-item answers to the `WriteResult`s the reconciler folds in. No I/O: tested on its own.

use contracts::{Failure, FailureCode};
use graph_client::{
    ContactCopy, ContactPatch, ContactWrite, Disposition, GraphContact, GraphError, ItemError,
    NewContact, WriteOutcome,
};
use pipeline::Executed;
use serde_json::{Map, Value};
use sync_core::{
    ExchangeCommand, GraphItemId, SALESFORCE_CATEGORY, Stamp, SyncKey, WriteFailure, WriteResult,
};

/// What one command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A terminal outcome for the reconciler (success, or a failure of this contact alone).
    Done(WriteResult),
    /// Graph stayed unreachable (or refused the whole mailbox) after the client's retries: the
    /// batch cannot be reported as carried out, and the session must fail so it runs again.
    Unavailable(String),
}

/// The Graph write for a `Create`, `Update` or `Delete`; `None` for `MoveIntoFolder`, which needs
/// a read of the original first (see [`move_copy`]).
pub fn contact_write(
    command: &ExchangeCommand,
    folder_id: &str,
) -> Result<Option<ContactWrite>, GraphError> {
    Ok(Some(match command {
        ExchangeCommand::Create { sync_key, fields } => ContactWrite::Create {
            folder_id: folder_id.to_owned(),
            contact: NewContact {
                fields: fields.clone(),
                categories: vec![SALESFORCE_CATEGORY.to_owned()],
                sync_key: Some(sync_key.as_str().to_owned()),
            },
        },
        ExchangeCommand::Update {
            id,
            patch,
            categories,
            stamp,
            ..
        } => {
            let mut body = ContactPatch::from_serializable(patch)?;
            if let Some(categories) = categories {
                body = body.with_categories(categories.clone());
            }
            body = match stamp {
                Stamp::Keep => body,
                Stamp::Set(key) => body.with_sync_key(key.as_str()),
                Stamp::Clear => body.with_cleared_sync_key(),
            };
            ContactWrite::Update {
                contact_id: id.as_str().to_owned(),
                patch: body,
            }
        }
        ExchangeCommand::Delete { id, .. } => ContactWrite::Delete {
            contact_id: id.as_str().to_owned(),
        },
        ExchangeCommand::MoveIntoFolder { .. } => return Ok(None),
    }))
}

/// B9: the body to create in the sync folder from a full read of the original, with the
/// command's patch applied over it, its categories, and the link's key stamped (C4).
pub fn move_copy(
    original: &ContactCopy,
    command: &ExchangeCommand,
) -> Result<Option<ContactCopy>, GraphError> {
    let ExchangeCommand::MoveIntoFolder {
        sync_key,
        categories,
        patch,
        ..
    } = command
    else {
        return Ok(None);
    };
    let mut body: Map<String, Value> = original.as_json().clone();
    // The patch uses Graph's PATCH forms (whole collections, every address part), which are
    // equally valid in a create body, so it can simply overwrite the read properties.
    for (key, value) in ContactPatch::from_serializable(patch)?.as_json() {
        body.insert(key.clone(), value.clone());
    }
    Ok(Some(
        ContactCopy::from_read(body)
            .with_categories(categories.clone())
            .with_sync_key(sync_key.as_str()),
    ))
}

/// The per-item error of a Graph write, in the reconciler's terms.
pub fn write_failure(error: &ItemError) -> WriteFailure {
    match error {
        ItemError::Api(api) => WriteFailure {
            code: api
                .code
                .clone()
                .unwrap_or_else(|| format!("HTTP_{}", api.status)),
            // Graph names the property only inside its message text; there is no field list.
            field: None,
            message: api
                .message
                .clone()
                .unwrap_or_else(|| format!("Graph answered HTTP {}", api.status)),
        },
        other => WriteFailure {
            code: "REQUEST_FAILED".to_owned(),
            field: None,
            message: other.to_string(),
        },
    }
}

/// Whether an error concerns only this one contact (validation, missing item), as opposed to
/// Graph or the mailbox being out of reach, which no per-item result can describe.
pub fn is_item_failure(error: &ItemError) -> bool {
    matches!(error, ItemError::Api(_)) && error.disposition() == Disposition::PermanentItem
}

/// Whether a create that failed this way may nevertheless have reached Graph (a timeout, a lost
/// answer, a 5xx): the item must then be looked up by its key before anything is reported (C4).
pub fn may_have_created(error: &ItemError) -> bool {
    !is_item_failure(error)
}

/// Whether a create that failed this way, and was then found not to have happened, is worth
/// sending again in the same batch: Graph's trouble looked passing (a 5xx, a lost answer), not a
/// refusal of the mailbox or the app.
pub fn worth_resending(error: &ItemError) -> bool {
    matches!(error.disposition(), Disposition::Retry { .. })
}

/// `ExchangeCreated` for an item Graph returned (a create, a copy, or a lookup by key).
pub fn created(sync_key: &SyncKey, contact: &GraphContact) -> Verdict {
    match GraphItemId::try_from(contact.id.as_str()) {
        Ok(id) => Verdict::Done(WriteResult::ExchangeCreated {
            sync_key: sync_key.clone(),
            id,
            change_key: contact.change_key.clone(),
        }),
        // Graph's own answer carries an id we cannot hold: not this contact's fault, and retrying
        // the session re-finds the item by its stamp.
        Err(e) => Verdict::Unavailable(format!("Graph returned an unusable contact id: {e}")),
    }
}

/// The verdict for a command's Graph answer. A failed create or copy that may have reached
/// Graph is `Unavailable` here; the executor looks the key up before it settles on that.
pub fn verdict(command: &ExchangeCommand, outcome: &Result<WriteOutcome, ItemError>) -> Verdict {
    let sync_key = command.sync_key().clone();
    match outcome {
        Ok(WriteOutcome::Created(contact)) => created(&sync_key, contact),
        Ok(WriteOutcome::Updated(contact)) => Verdict::Done(WriteResult::ExchangeUpdated {
            sync_key,
            change_key: contact.change_key.clone(),
        }),
        Ok(WriteOutcome::Deleted { .. }) => {
            Verdict::Done(WriteResult::ExchangeDeleted { sync_key })
        }
        Err(error) => failed(&sync_key, error),
    }
}

/// The verdict for a failed Graph call on one contact: its own failure when the error concerns
/// that contact alone, else the batch is unavailable.
pub fn failed(sync_key: &SyncKey, error: &ItemError) -> Verdict {
    if is_item_failure(error) {
        Verdict::Done(WriteResult::ExchangeFailed {
            sync_key: sync_key.clone(),
            failure: write_failure(error),
        })
    } else {
        Verdict::Unavailable(error.to_string())
    }
}

/// The batch's report from each command's verdict (`None`: not carried out), for the API named
/// `service`: the results, and a failure (the session then fails and runs again) when any
/// command could not be carried out.
pub fn report(service: &str, verdicts: impl IntoIterator<Item = Option<Verdict>>) -> Executed {
    let mut results = Vec::new();
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
            "{service} could not carry out {} of {} writes: {}",
            unavailable.len(),
            results.len() + unavailable.len(),
            unavailable[0]
        );
        Failure::new(FailureCode::Unavailable, message)
    });
    Executed { results, failure }
}

/// The failure reported when the original of a move is gone and no copy carries its key.
pub fn original_gone(sync_key: &SyncKey) -> Verdict {
    Verdict::Done(WriteResult::ExchangeFailed {
        sync_key: sync_key.clone(),
        failure: WriteFailure {
            code: "ErrorItemNotFound".to_owned(),
            field: None,
            message: "The contact to move into the sync folder no longer exists.".to_owned(),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use graph_client::{ApiError, SYNC_KEY_PROPERTY_ID};
    use serde_json::json;
    use sync_core::fields::GraphContactFields;
    use sync_core::mapping::GraphPatch;

    use super::*;

    fn key(k: &str) -> SyncKey {
        SyncKey::try_from(k).unwrap()
    }

    fn item_id(id: &str) -> GraphItemId {
        GraphItemId::try_from(id).unwrap()
    }

    fn api(status: u16, code: &str, disposition: Disposition) -> ItemError {
        ItemError::Api(ApiError {
            status,
            code: Some(code.to_owned()),
            message: Some(format!("{code} happened")),
            disposition,
        })
    }

    fn contact(id: &str, change_key: &str) -> GraphContact {
        serde_json::from_value(json!({"id": id, "changeKey": change_key})).unwrap()
    }

    #[test]
    fn a_create_goes_to_the_sync_folder_with_the_category_and_the_stamp() {
        let command = ExchangeCommand::Create {
            sync_key: key("sf-1"),
            fields: GraphContactFields {
                surname: Some("Lovelace".into()),
                ..Default::default()
            },
        };
        let Some(ContactWrite::Create { folder_id, contact }) =
            contact_write(&command, "FOLDER").unwrap()
        else {
            panic!("not a create");
        };
        assert_eq!(folder_id, "FOLDER");
        assert_eq!(contact.categories, vec!["Salesforce".to_owned()]);
        assert_eq!(contact.sync_key.as_deref(), Some("sf-1"));
        assert_eq!(contact.fields.surname.as_deref(), Some("Lovelace"));
    }

    #[test]
    fn an_update_carries_the_patch_the_categories_and_each_kind_of_stamp() {
        let patch = GraphPatch {
            job_title: Some(Some("Analyst".into())),
            ..Default::default()
        };
        let update = |categories: Option<Vec<String>>, stamp: Stamp| ExchangeCommand::Update {
            sync_key: key("sf-1"),
            id: item_id("AAMk1"),
            patch: patch.clone(),
            categories,
            stamp,
        };
        let body = |command: &ExchangeCommand| match contact_write(command, "F").unwrap() {
            Some(ContactWrite::Update { contact_id, patch }) => {
                assert_eq!(contact_id, "AAMk1");
                patch.as_json().clone()
            }
            other => panic!("not an update: {other:?}"),
        };

        let kept = body(&update(None, Stamp::Keep));
        assert_eq!(kept["jobTitle"], "Analyst");
        assert!(!kept.contains_key("categories"));
        assert!(!kept.contains_key("singleValueExtendedProperties"));

        let set = body(&update(
            Some(vec!["Salesforce".into(), "VIP".into()]),
            Stamp::Set(key("ex-9")),
        ));
        assert_eq!(set["categories"], json!(["Salesforce", "VIP"]));
        assert_eq!(
            set["singleValueExtendedProperties"],
            json!([{"id": SYNC_KEY_PROPERTY_ID, "value": "ex-9"}])
        );

        let cleared = body(&update(Some(vec![]), Stamp::Clear));
        assert_eq!(cleared["categories"], json!([]));
        assert_eq!(cleared["singleValueExtendedProperties"][0]["value"], "");
    }

    #[test]
    fn a_delete_names_the_item_and_a_move_needs_a_read_first() {
        let delete = ExchangeCommand::Delete {
            sync_key: key("sf-1"),
            id: item_id("AAMk1"),
        };
        assert_eq!(
            contact_write(&delete, "F").unwrap(),
            Some(ContactWrite::Delete {
                contact_id: "AAMk1".into()
            })
        );
        let r#move = ExchangeCommand::MoveIntoFolder {
            sync_key: key("ex-1"),
            id: item_id("AAMk1"),
            categories: vec!["Salesforce".into()],
            patch: GraphPatch::default(),
        };
        assert_eq!(contact_write(&r#move, "F").unwrap(), None);
    }

    #[test]
    fn a_move_copies_the_original_with_the_patch_categories_and_stamp() {
        let Value::Object(read) = json!({
            "id": "OLD", "changeKey": "ck", "parentFolderId": "ELSEWHERE",
            "surname": "Hopper", "nickName": "Amazing Grace", "jobTitle": "Admiral",
            "categories": ["Salesforce"]
        }) else {
            unreachable!()
        };
        let original = ContactCopy::from_read(read);
        let command = ExchangeCommand::MoveIntoFolder {
            sync_key: key("ex-7"),
            id: item_id("OLD"),
            categories: vec!["Salesforce".into(), "Navy".into()],
            patch: GraphPatch {
                job_title: Some(None),
                ..Default::default()
            },
        };
        let copy = move_copy(&original, &command).unwrap().unwrap();
        let body = copy.as_json();
        assert!(!body.contains_key("id") && !body.contains_key("parentFolderId"));
        assert_eq!(body["nickName"], "Amazing Grace");
        assert_eq!(body["surname"], "Hopper");
        assert_eq!(body["jobTitle"], Value::Null);
        assert_eq!(body["categories"], json!(["Salesforce", "Navy"]));
        assert_eq!(body["singleValueExtendedProperties"][0]["value"], "ex-7");
    }

    #[test]
    fn successes_become_created_updated_and_deleted_results() {
        let create = ExchangeCommand::Create {
            sync_key: key("sf-1"),
            fields: GraphContactFields::default(),
        };
        assert_eq!(
            verdict(&create, &Ok(WriteOutcome::Created(contact("NEW", "ck1")))),
            Verdict::Done(WriteResult::ExchangeCreated {
                sync_key: key("sf-1"),
                id: item_id("NEW"),
                change_key: Some("ck1".into()),
            })
        );
        let update = ExchangeCommand::Update {
            sync_key: key("sf-2"),
            id: item_id("X"),
            patch: GraphPatch::default(),
            categories: None,
            stamp: Stamp::Keep,
        };
        assert_eq!(
            verdict(&update, &Ok(WriteOutcome::Updated(contact("X", "ck2")))),
            Verdict::Done(WriteResult::ExchangeUpdated {
                sync_key: key("sf-2"),
                change_key: Some("ck2".into()),
            })
        );
        let delete = ExchangeCommand::Delete {
            sync_key: key("sf-3"),
            id: item_id("Y"),
        };
        assert_eq!(
            verdict(&delete, &Ok(WriteOutcome::Deleted { already_gone: true })),
            Verdict::Done(WriteResult::ExchangeDeleted {
                sync_key: key("sf-3")
            })
        );
    }

    #[test]
    fn a_rejected_item_fails_alone_with_the_graph_code() {
        let update = ExchangeCommand::Update {
            sync_key: key("sf-2"),
            id: item_id("X"),
            patch: GraphPatch::default(),
            categories: None,
            stamp: Stamp::Keep,
        };
        let error = api(400, "ErrorInvalidProperty", Disposition::PermanentItem);
        assert_eq!(
            verdict(&update, &Err(error)),
            Verdict::Done(WriteResult::ExchangeFailed {
                sync_key: key("sf-2"),
                failure: WriteFailure {
                    code: "ErrorInvalidProperty".into(),
                    field: None,
                    message: "ErrorInvalidProperty happened".into(),
                },
            })
        );
    }

    #[test]
    fn throttling_outages_and_lost_answers_make_the_batch_unavailable() {
        let delete = ExchangeCommand::Delete {
            sync_key: key("sf-3"),
            id: item_id("Y"),
        };
        for error in [
            api(
                429,
                "ApplicationThrottled",
                Disposition::Retry { after: None },
            ),
            api(403, "ErrorAccessDenied", Disposition::Fatal),
            ItemError::Missing,
            ItemError::Request(Arc::new(GraphError::Config("x".into()))),
        ] {
            assert!(may_have_created(&error));
            assert!(
                matches!(verdict(&delete, &Err(error)), Verdict::Unavailable(_)),
                "must not be a per-item result"
            );
        }
        assert!(!may_have_created(&api(
            400,
            "ErrorInvalidProperty",
            Disposition::PermanentItem
        )));
    }

    #[test]
    fn only_passing_trouble_makes_a_create_found_missing_worth_sending_again() {
        assert!(worth_resending(&api(
            500,
            "generalException",
            Disposition::Retry { after: None }
        )));
        assert!(worth_resending(&ItemError::Missing));
        assert!(!worth_resending(&api(
            403,
            "ErrorAccessDenied",
            Disposition::Fatal
        )));
    }

    #[test]
    fn a_gone_original_is_reported_as_not_found() {
        let Verdict::Done(WriteResult::ExchangeFailed { failure, .. }) =
            original_gone(&key("ex-1"))
        else {
            panic!("not a failure");
        };
        assert_eq!(failure.code, "ErrorItemNotFound");
    }
}
