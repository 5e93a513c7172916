//! The mailbox read of a Gmail user's session (G1): the same mailbox side the sync core takes
//! from Exchange, read from the Google People API.
//!
//! - **The folder and the category are contact groups.** The "Salesforce Contacts" group is the
//!   sync folder (B1) and the "Salesforce" group the category (B9–B11). A contact in the first is
//!   [`FolderKind::SyncFolder`]; one only in the second is a categorized contact elsewhere (B9);
//!   one in neither is personal (B4) unless it is linked (B11: taken out of the group).
//! - **One read per session.** `people/me/connections` from the stored sync token: every change
//!   since, deletions as tombstones. Without a token (the first session, an expired one: 400
//!   `EXPIRED_SYNC_TOKEN`) the round is a full listing ([`ReadKind::Complete`]).
//! - **The stamp travels with the contact** (`clientData`), so no second request finds it.
//! - **The full check** (groups listed, either re-created if the user deleted it) runs on the same
//!   plan as Exchange's (`read::plan`): first session, on demand, every `MAILBOX_CHECK_SECS`.
//!   An idle session costs one People API request.
//! - **A deleted "Salesforce Contacts" group** leaves its contacts in the address book (Google
//!   deletes a group's contacts only when asked). The group is re-created and the linked
//!   contacts still there are put back in it, from a full listing: nothing is re-created or
//!   deleted on either side. Between checks, a linked contact seen leaving the group makes the
//!   session check the groups first, so a deleted group is not taken for contacts moved out.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use contracts::SyncJob;
use google_client::{ContactGroup, GoogleClient, GoogleError, Person, mapping};
use serde::{Deserialize, Serialize};
use sync_core::{
    ExchangeChanges, ExchangeItem, FolderKind, GraphItemId, ReadKind, SALESFORCE_CATEGORY,
    SYNC_FOLDER_NAME, SyncKey,
};
use sync_state::StateError;
use sync_state::links::{self, CursorSide};
use sync_state::users::User;

use crate::Ctx;
use crate::read::{MailboxCursor, MailboxPlan, ReadError, plan};

/// Where a Gmail user's mailbox side stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GmailCursor {
    /// The "Salesforce Contacts" group (`contactGroups/…`).
    pub folder_group: String,
    /// The "Salesforce" group.
    pub category_group: String,
    /// `nextSyncToken` of the last round.
    pub sync_token: String,
    /// The last full check of the groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
}

impl MailboxCursor for GmailCursor {
    fn folder_id(&self) -> &str {
        &self.folder_group
    }
    fn checked_at(&self) -> Option<DateTime<Utc>> {
        self.checked_at
    }
}

/// The user's two groups.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Groups {
    folder: String,
    category: String,
}

/// Reads the mailbox side of a Gmail user's session; returns the changes and the cursor after
/// them.
#[tracing::instrument(skip_all, fields(user_id = %user.id, job_id = %job.header.job_id))]
pub async fn read_mailbox(
    ctx: &Ctx,
    job: &SyncJob,
    user: &User,
) -> Result<(ExchangeChanges, serde_json::Value), ReadError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let known_folder = sync_state::mailbox::sync_folder(&**client, &user.id).await?;
    // A cursor of another shape (none is expected) reads as none: a full listing.
    let stored: Option<GmailCursor> = links::load_cursor(&**client, &user.id, CursorSide::Exchange)
        .await?
        .and_then(|c| serde_json::from_value(c).ok());
    let linked = links::linked_graph_ids(&**client, &user.id).await?;
    drop(client);
    let google = ctx.clients.google(&user.org_id).await?;
    let mailbox = user.mailbox.as_str();

    let now = Utc::now();
    let (mut groups, mut checked_at, mut trusted) = match plan(
        stored.as_ref(),
        known_folder.as_deref(),
        job.trigger,
        now,
        ctx.settings.mailbox_check,
    ) {
        MailboxPlan::Check(reason) => {
            tracing::debug!(?reason, "Checking the mailbox's contact groups.");
            let groups = set_up(ctx, &google, user, known_folder.as_deref()).await?;
            (groups, now, false)
        }
        MailboxPlan::Trust { cursor, checked_at } => (
            Groups {
                folder: cursor.folder_group.clone(),
                category: cursor.category_group.clone(),
            },
            checked_at,
            true,
        ),
    };
    let (round, restoring) = loop {
        // The group the last completed session read is gone: its contacts are put back from a
        // full listing (judged from the cursor, which only a completed session stores, so a
        // session that fails after re-creating the group leaves the put-back to the next).
        let restoring = stored
            .as_ref()
            .is_some_and(|c| c.folder_group != groups.folder);
        let resume = stored
            .as_ref()
            .filter(|c| {
                !restoring && c.folder_group == groups.folder && c.category_group == groups.category
            })
            .map(|c| c.sync_token.as_str());
        let round = match google.sync(mailbox, resume).await {
            Err(GoogleError::ExpiredSyncToken { .. }) if resume.is_some() => {
                tracing::info!("The sync token expired; reading the whole address book again.");
                google.sync(mailbox, None).await?
            }
            other => other?,
        };
        // Trusted groups, and a linked contact that left the folder group: the user may have
        // deleted the group (its contacts stay). Checked before they count as moved out (B11).
        let left_folder = round.people.iter().any(|p| {
            !p.is_deleted()
                && linked.contains_key(&p.resource_name)
                && !mapping::in_group(p, &groups.folder)
        });
        if trusted && left_folder {
            trusted = false;
            checked_at = now;
            let checked = set_up(ctx, &google, user, known_folder.as_deref()).await?;
            if checked != groups {
                groups = checked;
                continue;
            }
        }
        break (round, restoring);
    };

    let read = sort(round.people, &groups, &linked, restoring)?;
    if !read.put_back.is_empty() {
        let outcome = google
            .modify_members(mailbox, &groups.folder, &read.put_back, &[])
            .await?;
        tracing::info!(
            contacts = read.put_back.len(),
            not_found = outcome.not_found_resource_names.len(),
            "Put the linked contacts back in the re-created Salesforce Contacts group."
        );
    }
    let changes = ExchangeChanges {
        kind: if round.full {
            ReadKind::Complete
        } else {
            ReadKind::Incremental
        },
        items: read.items,
        removed: read.removed,
        folder_lost: false,
    };
    tracing::info!(
        items = changes.items.len(),
        removed = changes.removed.len(),
        complete = round.full,
        "Read the Gmail address book."
    );
    let cursor = GmailCursor {
        folder_group: groups.folder,
        category_group: groups.category,
        sync_token: round.next_sync_token,
        checked_at: Some(checked_at),
    };
    let cursor = serde_json::to_value(&cursor).map_err(StateError::from)?;
    Ok((changes, cursor))
}

/// A round sorted into the sync core's terms.
#[derive(Debug, Default, PartialEq)]
struct Sorted {
    items: Vec<ExchangeItem>,
    removed: Vec<GraphItemId>,
    /// Linked contacts to put back in the re-created folder group.
    put_back: Vec<String>,
}

/// Sorts a round's people (pure): tombstones of linked contacts are removals; contacts in the
/// folder group, categorized ones and linked ones are items; personal contacts are left alone
/// (B4). With `restoring`, linked contacts outside the folder group go back into it.
fn sort(
    people: Vec<Person>,
    groups: &Groups,
    linked: &HashMap<String, String>,
    restoring: bool,
) -> Result<Sorted, ReadError> {
    let mut sorted = Sorted::default();
    let mut seen = BTreeSet::new();
    for person in people {
        let id = person.resource_name.clone();
        if id.is_empty() || !seen.insert(id.clone()) {
            continue;
        }
        let is_linked = linked.contains_key(&id);
        if person.is_deleted() {
            if is_linked {
                sorted.removed.push(item_id(id)?);
            }
            continue;
        }
        let mut in_folder = mapping::in_group(&person, &groups.folder);
        let categorized = mapping::in_group(&person, &groups.category);
        if restoring && is_linked && !in_folder {
            sorted.put_back.push(id.clone());
            in_folder = true;
        }
        if !in_folder && !is_linked && !categorized {
            continue;
        }
        let sync_key = mapping::sync_key(&person)
            .or_else(|| linked.get(&id).map(String::as_str))
            .and_then(|k| SyncKey::try_from(k).ok());
        sorted.items.push(ExchangeItem {
            id: item_id(id)?,
            folder: if in_folder {
                FolderKind::SyncFolder
            } else {
                FolderKind::Other
            },
            categories: if categorized {
                vec![SALESFORCE_CATEGORY.to_owned()]
            } else {
                Vec::new()
            },
            sync_key,
            change_key: person.etag.clone(),
            fields: mapping::graph_fields(&person),
        });
    }
    Ok(sorted)
}

/// The full check: the two groups found or re-created, and remembered for the writer.
async fn set_up(
    ctx: &Ctx,
    google: &GoogleClient,
    user: &User,
    known_folder: Option<&str>,
) -> Result<Groups, ReadError> {
    let groups = check_groups(google, &user.mailbox).await?;
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    if sync_state::mailbox::category_group(&**client, &user.id)
        .await?
        .as_deref()
        != Some(groups.category.as_str())
    {
        sync_state::mailbox::set_category_group(&**client, &user.id, &groups.category).await?;
    }
    if known_folder != Some(groups.folder.as_str()) {
        sync_state::mailbox::set_sync_folder(&**client, &user.id, &groups.folder).await?;
        match known_folder {
            Some(old) => tracing::info!(old_group = %old, group = %groups.folder,
                "The Salesforce Contacts group was deleted; it is back, and its contacts with it."),
            None => tracing::info!(group = %groups.folder, "Set up the Salesforce Contacts group."),
        }
    }
    Ok(groups)
}

/// The two groups, found by name or created (B1): a group the user deleted comes back.
async fn check_groups(google: &GoogleClient, mailbox: &str) -> Result<Groups, ReadError> {
    let listed = google.list_groups(mailbox).await?;
    Ok(Groups {
        folder: ensure_group(google, mailbox, &listed, SYNC_FOLDER_NAME).await?,
        category: ensure_group(google, mailbox, &listed, SALESFORCE_CATEGORY).await?,
    })
}

/// The user group named `name` among `listed`, or created. A create that finds the name taken
/// (another replica made it meanwhile) lists again.
async fn ensure_group(
    google: &GoogleClient,
    mailbox: &str,
    listed: &[ContactGroup],
    name: &str,
) -> Result<String, ReadError> {
    if let Some(found) = find_group(listed, name) {
        return Ok(found);
    }
    match google.create_group(mailbox, name).await {
        Ok(group) => Ok(group.resource_name),
        Err(GoogleError::AlreadyExists { .. }) => {
            let again = google.list_groups(mailbox).await?;
            find_group(&again, name).ok_or_else(|| {
                ReadError::Invalid(format!(
                    "Google says the contact group {name:?} exists but does not list it"
                ))
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn find_group(groups: &[ContactGroup], name: &str) -> Option<String> {
    groups
        .iter()
        .filter(|g| g.is_user_group() && !g.metadata.as_ref().is_some_and(|m| m.deleted))
        .find(|g| g.name.trim().eq_ignore_ascii_case(name))
        .map(|g| g.resource_name.clone())
}

fn item_id(id: String) -> Result<GraphItemId, ReadError> {
    GraphItemId::try_from(id).map_err(|e| ReadError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use google_client::{ContactGroupMembership, KeyValue, Membership, Name, PersonMetadata};

    use super::*;

    const FOLDER: &str = "contactGroups/f1";
    const CATEGORY: &str = "contactGroups/c1";

    fn groups() -> Groups {
        Groups {
            folder: FOLDER.into(),
            category: CATEGORY.into(),
        }
    }

    fn person(id: &str, groups: &[&str], key: Option<&str>) -> Person {
        Person {
            resource_name: id.into(),
            etag: Some(format!("%{id}")),
            names: vec![Name {
                family_name: Some(format!("Family {id}")),
                ..Name::default()
            }],
            memberships: groups
                .iter()
                .map(|g| Membership {
                    contact_group_membership: Some(ContactGroupMembership {
                        contact_group_resource_name: (*g).to_owned(),
                        ..ContactGroupMembership::default()
                    }),
                    ..Membership::default()
                })
                .collect(),
            client_data: key
                .map(|k| {
                    vec![KeyValue {
                        key: mapping::SYNC_KEY.to_owned(),
                        value: k.to_owned(),
                    }]
                })
                .unwrap_or_default(),
            ..Person::default()
        }
    }

    fn tombstone(id: &str) -> Person {
        Person {
            resource_name: id.into(),
            metadata: Some(PersonMetadata {
                deleted: true,
                ..PersonMetadata::default()
            }),
            ..Person::default()
        }
    }

    #[test]
    fn g1_groups_are_the_folder_and_the_category_and_personal_contacts_stay_out() {
        let linked: HashMap<String, String> = [("people/c4".to_owned(), "k4".to_owned())]
            .into_iter()
            .collect();
        let people = vec![
            person(
                "people/c1",
                &[FOLDER, CATEGORY, "contactGroups/myContacts"],
                Some("k1"),
            ),
            person("people/c2", &[CATEGORY, "contactGroups/myContacts"], None),
            person("people/c3", &["contactGroups/myContacts"], None),
            person("people/c4", &["contactGroups/myContacts"], None),
            tombstone("people/c5"),
            tombstone("people/c4"),
        ];
        let sorted = sort(people, &groups(), &linked, false).expect("sorted");
        let seen: Vec<(&str, FolderKind, bool, Option<&str>)> = sorted
            .items
            .iter()
            .map(|i| {
                (
                    i.id.as_str(),
                    i.folder,
                    i.has_category(),
                    i.sync_key.as_ref().map(SyncKey::as_str),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("people/c1", FolderKind::SyncFolder, true, Some("k1")),
                ("people/c2", FolderKind::Other, true, None),
                ("people/c4", FolderKind::Other, false, Some("k4")),
            ],
            "B4: the personal contact c3 is not read; B11: the linked c4 taken out of the group is"
        );
        assert!(
            sorted.removed.is_empty(),
            "a second mention of c4 (its tombstone after its change) is the first one's: {sorted:?}"
        );
        assert_eq!(
            sorted.items[0].fields.surname.as_deref(),
            Some("Family people/c1")
        );
        assert_eq!(sorted.items[0].change_key.as_deref(), Some("%people/c1"));
    }

    #[test]
    fn a_linked_contacts_tombstone_is_a_removal_and_a_strangers_is_ignored() {
        let linked: HashMap<String, String> = [("people/c9".to_owned(), "k9".to_owned())]
            .into_iter()
            .collect();
        let sorted = sort(
            vec![tombstone("people/c9"), tombstone("people/c8")],
            &groups(),
            &linked,
            false,
        )
        .expect("sorted");
        assert_eq!(
            sorted.removed,
            [GraphItemId::try_from("people/c9").expect("id")]
        );
        assert!(sorted.items.is_empty());
    }

    #[test]
    fn b1_restoring_the_group_puts_linked_contacts_back_in_it() {
        let linked: HashMap<String, String> = [("people/c1".to_owned(), "k1".to_owned())]
            .into_iter()
            .collect();
        let people = vec![
            person("people/c1", &["contactGroups/myContacts"], Some("k1")),
            person("people/c2", &["contactGroups/myContacts"], None),
        ];
        let sorted = sort(people, &groups(), &linked, true).expect("sorted");
        assert_eq!(sorted.put_back, ["people/c1"]);
        assert_eq!(sorted.items.len(), 1);
        assert_eq!(sorted.items[0].folder, FolderKind::SyncFolder);
    }
}
