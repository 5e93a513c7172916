//! Carries out one batch of mailbox commands for a Gmail user through the People API (G1).
//!
//! The sync core's commands are the mailbox's, in Graph's shape; here they become People API
//! writes. The folder of B1 is the "Salesforce Contacts" contact group and the category the
//! "Salesforce" group, so:
//! - **Create** (B5, B12): one `batchCreateContacts` per 200, each contact in both groups with our
//!   key in `clientData`.
//! - **Update** (B10, B13) and **MoveIntoFolder** (B9): the contacts are read (`batchGet`, for
//!   their etags and the data we do not map), the patch applied to their mapped fields, the
//!   groups set, the key stamped; then one `batchUpdateContacts` per 200. A Gmail contact can be
//!   in several groups, so a move is joining the folder group: the contact keeps its id, and
//!   the link follows it (no copy, no delete). A contact edited between our read and our write
//!   (a stale etag) is read and written again.
//! - **Delete** (B6, B7, C2): `batchDeleteContacts` per 500; one already gone counts as deleted.
//!
//! **No duplicate (C4).** A create whose answer was lost may have happened. Before creating again
//! — and before any create of a redelivered batch — the address book is listed once and the
//! contacts already carrying the batch's keys are taken as created. Google asks for one user's
//! mutations to be sent one at a time; the client queues them.

use std::collections::{BTreeMap, HashMap};

use google_client::{GoogleClient, GoogleError, ItemError, Person, mapping};
use sync_core::{
    ExchangeCommand, GraphItemId, SALESFORCE_CATEGORY, Stamp, SyncKey, WriteFailure, WriteResult,
};

use crate::execute::Executed;
use crate::mapping::{Verdict, report};

/// How many times one create is sent at most, each after a listing showed the last did not land.
const CREATE_ROUNDS: usize = 3;
/// How many times an update is read and written again after a stale etag.
const ETAG_ROUNDS: usize = 3;

/// Where a batch is written.
pub struct Target<'a> {
    pub google: &'a GoogleClient,
    pub mailbox: &'a str,
    /// The "Salesforce Contacts" group; `None` only if setup never ran, which fails creates and
    /// moves but not updates or deletes.
    pub folder_group: Option<&'a str>,
    /// The "Salesforce" group, found by name; `None` when it does not exist (yet).
    pub category_group: Option<&'a str>,
}

/// Runs `commands` against the address book. `redelivered`: this batch may have been carried
/// out before, so creates look their key up first.
#[tracing::instrument(skip_all, fields(mailbox = %target.mailbox, commands = commands.len()))]
pub async fn execute(
    target: &Target<'_>,
    commands: &[ExchangeCommand],
    redelivered: bool,
) -> Executed {
    let mut verdicts: Vec<Option<Verdict>> = commands.iter().map(|_| None).collect();
    let mut creates = Vec::new();
    let mut edits = Vec::new();
    let mut deletes = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        match command {
            ExchangeCommand::Create { .. } => creates.push(index),
            ExchangeCommand::Update { .. } | ExchangeCommand::MoveIntoFolder { .. } => {
                edits.push(index)
            }
            ExchangeCommand::Delete { .. } => deletes.push(index),
        }
    }
    create_all(target, commands, &creates, redelivered, &mut verdicts).await;
    edit_all(target, commands, &edits, &mut verdicts).await;
    delete_all(target, commands, &deletes, &mut verdicts).await;
    finish(verdicts)
}

/// The creates, in rounds: a create that may have landed is looked for by its key before it is
/// sent again (C4).
async fn create_all(
    target: &Target<'_>,
    commands: &[ExchangeCommand],
    creates: &[usize],
    redelivered: bool,
    verdicts: &mut [Option<Verdict>],
) {
    if creates.is_empty() {
        return;
    }
    let Some(folder) = target.folder_group else {
        for &index in creates {
            verdicts[index] = Some(Verdict::Unavailable(
                "the address book has no Salesforce Contacts group yet".to_owned(),
            ));
        }
        return;
    };
    let mut pending: Vec<usize> = creates.to_vec();
    let mut look_first = redelivered;
    for round in 1..=CREATE_ROUNDS {
        if pending.is_empty() {
            return;
        }
        if look_first {
            match stamped(target).await {
                Ok(found) => pending.retain(|&index| {
                    let key = commands[index].sync_key();
                    match found.get(key.as_str()) {
                        Some(person) => {
                            verdicts[index] = Some(created(key, person));
                            false
                        }
                        None => true,
                    }
                }),
                Err(reason) => {
                    for &index in &pending {
                        verdicts[index] = Some(Verdict::Unavailable(reason.clone()));
                    }
                    return;
                }
            }
        }
        if pending.is_empty() {
            // Every create was found by its key.
            return;
        }
        let people: Vec<Person> = pending
            .iter()
            .map(|&index| new_person(&commands[index], folder, target.category_group))
            .collect();
        let outcomes = target.google.batch_create(target.mailbox, &people).await;
        let mut again = Vec::new();
        for (index, outcome) in pending.into_iter().zip(outcomes) {
            let key = commands[index].sync_key();
            match outcome {
                Ok(person) => verdicts[index] = Some(created(key, &person)),
                Err(error) if is_item_failure(&error) => {
                    verdicts[index] = Some(failed(key, &error));
                }
                Err(error) => {
                    if round == CREATE_ROUNDS {
                        verdicts[index] = Some(Verdict::Unavailable(error.to_string()));
                    } else {
                        again.push(index);
                    }
                }
            }
        }
        pending = again;
        // Whatever failed as a whole may have reached Google: look before sending again.
        look_first = true;
    }
}

/// Every contact carrying one of our keys, by key: one listing of the address book.
async fn stamped(target: &Target<'_>) -> Result<HashMap<String, Person>, String> {
    let round = target
        .google
        .sync(target.mailbox, None)
        .await
        .map_err(|e| format!("listing the address book for our keys: {e}"))?;
    Ok(round
        .people
        .into_iter()
        .filter(|p| !p.is_deleted())
        .filter_map(|p| Some((mapping::sync_key(&p)?.to_owned(), p)))
        .collect())
}

/// The contact a `Create` makes: the fields, both groups, our key.
fn new_person(command: &ExchangeCommand, folder: &str, category: Option<&str>) -> Person {
    let mut person = Person::default();
    if let ExchangeCommand::Create { sync_key, fields } = command {
        mapping::apply_graph_fields(fields, &mut person);
        mapping::set_sync_key(&mut person, sync_key.as_str());
    }
    mapping::join_group(&mut person, folder);
    if let Some(category) = category {
        mapping::join_group(&mut person, category);
    }
    person
}

/// Updates and moves: read, change, write; a stale etag reads and writes again.
async fn edit_all(
    target: &Target<'_>,
    commands: &[ExchangeCommand],
    edits: &[usize],
    verdicts: &mut [Option<Verdict>],
) {
    let mut pending: Vec<usize> = edits.to_vec();
    for round in 1..=ETAG_ROUNDS {
        if pending.is_empty() {
            return;
        }
        let names: Vec<String> = pending
            .iter()
            .map(|&index| edited_id(&commands[index]).to_owned())
            .collect();
        let read = target.google.batch_get(target.mailbox, &names).await;
        let mut writes: BTreeMap<String, (usize, Person)> = BTreeMap::new();
        let mut mask = mapping::UpdateMask::new();
        // A second command on a contact already written in this round waits for the next.
        let mut again = Vec::new();
        for (index, outcome) in pending.iter().copied().zip(read) {
            let command = &commands[index];
            match outcome {
                Ok(_) if writes.contains_key(edited_id(command)) => again.push(index),
                Ok(mut person) => match edit(target, command, &mut person) {
                    Ok(Some(changed)) => {
                        mask.extend(&changed);
                        writes.insert(person.resource_name.clone(), (index, person));
                    }
                    // Nothing to change: the contact already is as the command wants it.
                    Ok(None) => verdicts[index] = Some(edited(command, &person)),
                    Err(verdict) => verdicts[index] = Some(verdict),
                },
                Err(error) if is_not_found(&error) => {
                    verdicts[index] = Some(gone(command));
                }
                Err(error) if is_item_failure(&error) => {
                    verdicts[index] = Some(failed(command.sync_key(), &error));
                }
                Err(error) => verdicts[index] = Some(Verdict::Unavailable(error.to_string())),
            }
        }
        if writes.is_empty() {
            pending = again;
            continue;
        }
        let people: BTreeMap<String, Person> = writes
            .iter()
            .map(|(name, (_, person))| (name.clone(), person.clone()))
            .collect();
        let mask = mask.to_string();
        let mut outcomes = target
            .google
            .batch_update(target.mailbox, &people, &mask)
            .await;
        // Google checks a batch update as a whole: one contact edited meanwhile (a stale etag)
        // or deleted refuses the call for all. Those are sent again one at a time, so the
        // others are not held by one.
        if outcomes.values().any(refused_for_one) {
            for (name, person) in &people {
                let single = target
                    .google
                    .update_contact(target.mailbox, person, &mask)
                    .await
                    .map_err(item_error);
                outcomes.insert(name.clone(), single);
            }
        }
        for (name, (index, _)) in writes {
            let command = &commands[index];
            match outcomes.get(&name) {
                Some(Ok(person)) => verdicts[index] = Some(edited(command, person)),
                Some(Err(ItemError::EtagMismatch(_))) if round < ETAG_ROUNDS => again.push(index),
                Some(Err(error)) if is_not_found(error) => verdicts[index] = Some(gone(command)),
                Some(Err(error)) if is_item_failure(error) => {
                    verdicts[index] = Some(failed(command.sync_key(), error));
                }
                Some(Err(error)) => verdicts[index] = Some(Verdict::Unavailable(error.to_string())),
                None => {
                    verdicts[index] = Some(Verdict::Unavailable(
                        "the batch update did not answer for this contact".to_owned(),
                    ));
                }
            }
        }
        pending = again;
    }
}

/// Whether a whole batch call failed for what may concern one of its contacts only.
fn refused_for_one(outcome: &Result<Person, ItemError>) -> bool {
    matches!(outcome, Err(ItemError::Request(e))
        if matches!(**e, GoogleError::EtagMismatch { .. }) || e.is_not_found())
}

/// A single call's error, in the terms of a batch item.
fn item_error(error: GoogleError) -> ItemError {
    match error {
        GoogleError::EtagMismatch { message } => ItemError::EtagMismatch(message),
        e if e.is_not_found() => ItemError::Api {
            code: 5,
            message: e.to_string(),
            disposition: google_client::Disposition::PermanentItem,
        },
        e => ItemError::Request(std::sync::Arc::new(e)),
    }
}

/// The contact an update or move reads.
fn edited_id(command: &ExchangeCommand) -> &str {
    match command {
        ExchangeCommand::Update { id, .. } | ExchangeCommand::MoveIntoFolder { id, .. } => {
            id.as_str()
        }
        ExchangeCommand::Create { .. } | ExchangeCommand::Delete { .. } => "",
    }
}

/// Applies an update or move to the contact as read; returns the mask of what changed (`None`:
/// nothing), or the verdict when it cannot be written.
fn edit(
    target: &Target<'_>,
    command: &ExchangeCommand,
    person: &mut Person,
) -> Result<Option<mapping::UpdateMask>, Verdict> {
    let mut mask = mapping::UpdateMask::new();
    let mut groups_changed = false;
    let (patch, categories) = match command {
        ExchangeCommand::Update {
            patch,
            categories,
            stamp,
            ..
        } => {
            let stamped = match stamp {
                Stamp::Keep => false,
                Stamp::Set(key) => mapping::set_sync_key(person, key.as_str()),
                Stamp::Clear => clear_sync_key(person),
            };
            if stamped {
                mask.insert(mapping::UpdateMask::CLIENT_DATA);
            }
            (patch, categories.as_deref())
        }
        ExchangeCommand::MoveIntoFolder {
            sync_key,
            categories,
            patch,
            ..
        } => {
            let Some(folder) = target.folder_group else {
                return Err(Verdict::Unavailable(
                    "the address book has no Salesforce Contacts group yet".to_owned(),
                ));
            };
            groups_changed |= mapping::join_group(person, folder);
            if mapping::set_sync_key(person, sync_key.as_str()) {
                mask.insert(mapping::UpdateMask::CLIENT_DATA);
            }
            (patch, Some(categories.as_slice()))
        }
        ExchangeCommand::Create { .. } | ExchangeCommand::Delete { .. } => {
            return Err(Verdict::Unavailable("not an edit".to_owned()));
        }
    };
    if let (Some(categories), Some(group)) = (categories, target.category_group) {
        let wanted = categories
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(SALESFORCE_CATEGORY));
        groups_changed |= if wanted {
            mapping::join_group(person, group)
        } else {
            leave_group(person, group)
        };
    }
    if groups_changed {
        mask.insert(mapping::UpdateMask::MEMBERSHIPS);
    }
    let mut fields = mapping::graph_fields(person);
    patch.apply_to(&mut fields);
    mask.extend(&mapping::apply_graph_fields(&fields, person));
    Ok((!mask.is_empty()).then_some(mask))
}

/// Takes our key off the contact (B11: it leaves the sync); whether it carried one.
fn clear_sync_key(person: &mut Person) -> bool {
    let before = person.client_data.len();
    person.client_data.retain(|d| d.key != mapping::SYNC_KEY);
    person.client_data.len() != before
}

/// Takes the contact out of the group; whether it was in it.
fn leave_group(person: &mut Person, group: &str) -> bool {
    if !mapping::in_group(person, group) {
        return false;
    }
    person.memberships.retain(|m| {
        !m.contact_group_membership.as_ref().is_some_and(|g| {
            g.contact_group_resource_name == group
                || g.contact_group_resource_name.strip_prefix("contactGroups/") == Some(group)
        })
    });
    true
}

/// The deletes: one request per 500. A request refused as a whole (Google does not say which
/// contact it minded) is retried one contact at a time, where a contact already gone counts as
/// deleted.
async fn delete_all(
    target: &Target<'_>,
    commands: &[ExchangeCommand],
    deletes: &[usize],
    verdicts: &mut [Option<Verdict>],
) {
    if deletes.is_empty() {
        return;
    }
    let names: Vec<String> = deletes
        .iter()
        .filter_map(|&index| match &commands[index] {
            ExchangeCommand::Delete { id, .. } => Some(id.as_str().to_owned()),
            _ => None,
        })
        .collect();
    let outcomes = target.google.batch_delete(target.mailbox, &names).await;
    for ((&index, name), outcome) in deletes.iter().zip(&names).zip(outcomes) {
        let key = commands[index].sync_key().clone();
        verdicts[index] = Some(match outcome {
            Ok(()) => Verdict::Done(WriteResult::ExchangeDeleted { sync_key: key }),
            Err(error) if is_item_failure(&error) || is_not_found(&error) => {
                match target.google.delete_contact(target.mailbox, name).await {
                    Ok(()) => Verdict::Done(WriteResult::ExchangeDeleted { sync_key: key }),
                    Err(e) if e.disposition() == google_client::Disposition::PermanentItem => {
                        Verdict::Done(WriteResult::ExchangeFailed {
                            sync_key: key,
                            failure: WriteFailure {
                                code: "DELETE_FAILED".to_owned(),
                                field: None,
                                message: e.to_string(),
                            },
                        })
                    }
                    Err(e) => Verdict::Unavailable(e.to_string()),
                }
            }
            Err(error) => Verdict::Unavailable(error.to_string()),
        });
    }
}

/// `ExchangeCreated` for a contact Google returned (a create, or one found by its key).
fn created(sync_key: &SyncKey, person: &Person) -> Verdict {
    match GraphItemId::try_from(person.resource_name.as_str()) {
        Ok(id) => Verdict::Done(WriteResult::ExchangeCreated {
            sync_key: sync_key.clone(),
            id,
            change_key: person.etag.clone(),
        }),
        Err(e) => Verdict::Unavailable(format!("Google returned an unusable resource name: {e}")),
    }
}

/// The result of a successful update (its new etag) or move (the same contact, now linked).
fn edited(command: &ExchangeCommand, person: &Person) -> Verdict {
    match command {
        ExchangeCommand::MoveIntoFolder { sync_key, .. } => created(sync_key, person),
        other => Verdict::Done(WriteResult::ExchangeUpdated {
            sync_key: other.sync_key().clone(),
            change_key: person.etag.clone(),
        }),
    }
}

/// The failure of an update or move whose contact no longer exists.
fn gone(command: &ExchangeCommand) -> Verdict {
    Verdict::Done(WriteResult::ExchangeFailed {
        sync_key: command.sync_key().clone(),
        failure: WriteFailure {
            code: "NOT_FOUND".to_owned(),
            field: None,
            message: "The contact no longer exists in the address book.".to_owned(),
        },
    })
}

/// Whether the error concerns this one contact alone (as opposed to Google being out of reach).
fn is_item_failure(error: &ItemError) -> bool {
    !matches!(error, ItemError::Request(_) | ItemError::Missing)
        && error.disposition() == google_client::Disposition::PermanentItem
}

fn is_not_found(error: &ItemError) -> bool {
    match error {
        ItemError::Api { code, .. } => *code == 5 || *code == 404,
        ItemError::Request(e) => e.is_not_found(),
        _ => false,
    }
}

/// The verdict for a contact Google refused.
fn failed(sync_key: &SyncKey, error: &ItemError) -> Verdict {
    let (code, message) = match error {
        ItemError::Api { code, message, .. } => (format!("GOOGLE_{code}"), message.clone()),
        other => ("REQUEST_FAILED".to_owned(), other.to_string()),
    };
    Verdict::Done(WriteResult::ExchangeFailed {
        sync_key: sync_key.clone(),
        failure: WriteFailure {
            code,
            field: None,
            message,
        },
    })
}

/// The batch's report.
fn finish(verdicts: Vec<Option<Verdict>>) -> Executed {
    report("Google", verdicts)
}
