//! Carries out one batch of mailbox commands through Graph: one `$batch` round for the writes
//! (chunks of 20 inside the client), B9 moves as copy-then-delete, and the key lookups that keep a
//! redelivered, timed-out or 5xx-answered create from making a second contact (C4): such a create
//! is sent again only once its stamp shows it did not happen.

use graph_client::{ContactWrite, GraphClient, GraphError, SYNC_KEY_PROPERTY_ID};
use sync_core::{ExchangeCommand, SyncKey, WriteResult};

use crate::mapping::{self, Verdict};

/// How many times one create is sent at most, each after a lookup showed the last did not land.
const CREATE_ROUNDS: usize = 3;

/// What became of a batch (the one shape every writer reports).
pub use pipeline::Executed;

/// Where a batch is written.
pub struct Target<'a> {
    pub graph: &'a GraphClient,
    pub mailbox: &'a str,
    /// The "Salesforce Contacts" folder (B1); `None` only if setup never ran, which fails
    /// creates and moves but not updates or deletes.
    pub folder_id: Option<&'a str>,
}

/// How far one command got.
enum Slot {
    /// Not yet carried out.
    Pending,
    /// A B9 copy exists (made now or found by its key); the original still has to go.
    Copied {
        original: String,
        created: Verdict,
    },
    Settled(Verdict),
}

/// Runs `commands` against the mailbox. `redelivered`: this batch may have been carried out
/// before (a crash before the ack), so creates look their key up first.
#[tracing::instrument(skip_all, fields(mailbox = %target.mailbox, commands = commands.len()))]
pub async fn execute(
    target: &Target<'_>,
    commands: &[ExchangeCommand],
    redelivered: bool,
) -> Executed {
    let mut slots: Vec<Slot> = commands.iter().map(|_| Slot::Pending).collect();

    // Creates and moves that may already have happened are found by their stamp, not redone.
    for (slot, command) in slots.iter_mut().zip(commands) {
        let check = match command {
            ExchangeCommand::Create { .. } => redelivered,
            // Moves are rare and a half-done one (copy made, original left) would otherwise be
            // copied again by the next session, so they always check.
            ExchangeCommand::MoveIntoFolder { .. } => true,
            _ => false,
        };
        if !check {
            continue;
        }
        match lookup(target, command.sync_key()).await {
            Ok(None) => {}
            Ok(Some(found)) => *slot = found_slot(command, found),
            Err(reason) => *slot = Slot::Settled(Verdict::Unavailable(reason)),
        }
    }

    // Each move reads its original whole, to copy every property Graph lets us write.
    let mut writes: Vec<(usize, ContactWrite)> = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        if !matches!(slots[index], Slot::Pending) {
            continue;
        }
        match plan(target, command).await {
            Ok(write) => writes.push((index, write)),
            Err(verdict) => slots[index] = Slot::Settled(verdict),
        }
    }

    // Writes go out in rounds: a create whose answer was lost or a 5xx may have been carried out,
    // so it is looked up by its stamp, and only sent again (in the next round) when the lookup
    // shows it did not happen (C4).
    let mut round = 1;
    while !writes.is_empty() {
        let batch: Vec<ContactWrite> = writes.iter().map(|(_, w)| w.clone()).collect();
        let outcomes = target.graph.write_contacts(target.mailbox, &batch).await;
        let mut again = Vec::new();
        for ((index, write), outcome) in writes.into_iter().zip(outcomes) {
            let command = &commands[index];
            let is_create = matches!(
                write,
                ContactWrite::Create { .. } | ContactWrite::Copy { .. }
            );
            let mut verdict = mapping::verdict(command, &outcome);
            if let (true, Verdict::Unavailable(reason), Err(error)) =
                (is_create, &verdict, &outcome)
                && mapping::may_have_created(error)
            {
                verdict = match lookup(target, command.sync_key()).await {
                    Ok(Some(found)) => mapping::created(command.sync_key(), &found),
                    // Not made: worth another create while Graph's trouble looks passing.
                    Ok(None) if round < CREATE_ROUNDS && mapping::worth_resending(error) => {
                        again.push((index, write));
                        continue;
                    }
                    Ok(None) => Verdict::Unavailable(reason.clone()),
                    Err(lookup_failure) => Verdict::Unavailable(lookup_failure),
                };
            }
            slots[index] = match (command, verdict) {
                (
                    ExchangeCommand::MoveIntoFolder { id, .. },
                    created @ Verdict::Done(WriteResult::ExchangeCreated { .. }),
                ) => Slot::Copied {
                    original: id.as_str().to_owned(),
                    created,
                },
                (_, verdict) => Slot::Settled(verdict),
            };
        }
        writes = again;
        round += 1;
    }

    delete_originals(target, &mut slots).await;
    finish(slots)
}

/// The slot of a command whose item already exists in the folder under its key.
fn found_slot(command: &ExchangeCommand, found: graph_client::GraphContact) -> Slot {
    let created = mapping::created(command.sync_key(), &found);
    match command {
        // The original goes only once the copy is known good.
        ExchangeCommand::MoveIntoFolder { id, .. }
            if id.as_str() != found.id && matches!(created, Verdict::Done(_)) =>
        {
            Slot::Copied {
                original: id.as_str().to_owned(),
                created,
            }
        }
        _ => Slot::Settled(created),
    }
}

/// The Graph write for one pending command, or its verdict when it cannot be written.
async fn plan(target: &Target<'_>, command: &ExchangeCommand) -> Result<ContactWrite, Verdict> {
    let folder_id = target.folder_id;
    let needs_folder = matches!(
        command,
        ExchangeCommand::Create { .. } | ExchangeCommand::MoveIntoFolder { .. }
    );
    let folder = match (needs_folder, folder_id) {
        (true, None) => {
            return Err(Verdict::Unavailable(
                "the mailbox has no sync folder yet".to_owned(),
            ));
        }
        (_, folder) => folder.unwrap_or_default(),
    };
    if let ExchangeCommand::MoveIntoFolder { id, .. } = command {
        let original = match target
            .graph
            .get_contact_for_copy(target.mailbox, id.as_str())
            .await
        {
            Ok(Some(original)) => original,
            // Gone, and the lookup before found no copy under its key: nothing left to move.
            Ok(None) => return Err(mapping::original_gone(command.sync_key())),
            Err(e) => return Err(read_failure(command.sync_key(), e)),
        };
        let copy = mapping::move_copy(&original, command)
            .map_err(|e| Verdict::Unavailable(format!("building the copy failed: {e}")))?
            .ok_or_else(|| Verdict::Unavailable("not a move".to_owned()))?;
        return Ok(ContactWrite::Copy {
            folder_id: folder.to_owned(),
            copy,
        });
    }
    match mapping::contact_write(command, folder) {
        Ok(Some(write)) => Ok(write),
        Ok(None) => Err(Verdict::Unavailable("no write for this command".to_owned())),
        // Serializing our own patch cannot fail on data; if it does, it is a bug to surface.
        Err(e) => Err(Verdict::Unavailable(format!(
            "building the write failed: {e}"
        ))),
    }
}

/// The verdict when reading a move's original failed.
fn read_failure(sync_key: &SyncKey, error: GraphError) -> Verdict {
    match error {
        GraphError::Api(api) => mapping::failed(sync_key, &graph_client::ItemError::Api(api)),
        other => Verdict::Unavailable(other.to_string()),
    }
}

/// The second half of B9: delete each copied original, in one `$batch` round, only now that its
/// copy exists (both in one batch could lose the contact if the copy failed).
async fn delete_originals(target: &Target<'_>, slots: &mut [Slot]) {
    let originals: Vec<(usize, String)> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, slot)| match slot {
            Slot::Copied { original, .. } => Some((i, original.clone())),
            _ => None,
        })
        .collect();
    if originals.is_empty() {
        return;
    }
    let deletes: Vec<ContactWrite> = originals
        .iter()
        .map(|(_, id)| ContactWrite::Delete {
            contact_id: id.clone(),
        })
        .collect();
    let outcomes = target.graph.write_contacts(target.mailbox, &deletes).await;
    for ((index, original), outcome) in originals.into_iter().zip(outcomes) {
        let Slot::Copied { created, .. } = std::mem::replace(&mut slots[index], Slot::Pending)
        else {
            continue;
        };
        slots[index] = Slot::Settled(match outcome {
            Ok(_) => created,
            Err(error) if mapping::is_item_failure(&error) => {
                // The copy is the linked item now; a stuck original only lingers outside the
                // folder without our stamp, so it is not worth failing the contact over.
                tracing::warn!(original = %original, error = %error, "Could not delete a moved contact's original.");
                created
            }
            Err(error) => Verdict::Unavailable(format!("deleting a moved original: {error}")),
        });
    }
}

/// The batch's report from the settled slots.
fn finish(slots: Vec<Slot>) -> Executed {
    mapping::report(
        "Graph",
        slots.into_iter().map(|slot| match slot {
            Slot::Settled(verdict) => Some(verdict),
            Slot::Pending | Slot::Copied { .. } => None,
        }),
    )
}

/// Finds the item carrying `key` in the sync folder. `Err` when Graph could not answer.
async fn lookup(
    target: &Target<'_>,
    key: &SyncKey,
) -> Result<Option<graph_client::GraphContact>, String> {
    let Some(folder) = target.folder_id else {
        return Ok(None);
    };
    target
        .graph
        .find_by_extended_property(
            target.mailbox,
            Some(folder),
            SYNC_KEY_PROPERTY_ID,
            key.as_str(),
        )
        .await
        .map(|found| found.into_iter().next())
        .map_err(|e| format!("looking up key {key}: {e}"))
}
