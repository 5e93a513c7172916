//! Contact changes in a mailbox: creation, updates, deletes and moves, each recorded in the
//! folder change logs delta reads, and the indexes the `$filter`s use.

use std::collections::BTreeSet;

use chrono::{DateTime, Timelike, Utc};
use serde_json::Map;

use super::{ChangeEvent, ChangeType, Contact, DeltaEntry, Mailbox, Removal};
use crate::errors::GraphError;
use crate::ids;
use crate::model::{self, ContactInput};

impl Mailbox {
    pub fn resolve_contact(&self, raw: &str) -> Result<&Contact, GraphError> {
        if let Some(contact) = self.ids.get(raw).and_then(|k| self.contacts.get(k)) {
            return Ok(contact);
        }
        if ids::is_well_formed(raw) {
            Err(GraphError::item_not_found())
        } else {
            Err(GraphError::id_malformed())
        }
    }

    pub fn contact(&self, key: u64) -> Option<&Contact> {
        self.contacts.get(&key)
    }

    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    /// Contacts of a folder in creation order, from the `skip`-th, at most `take`.
    pub fn folder_page(&self, folder_id: &str, skip: usize, take: usize) -> Vec<&Contact> {
        self.folders
            .get(folder_id)
            .map(|f| f.order.page(skip, take))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|k| self.contacts.get(&k))
            .collect()
    }

    /// Keys of contacts with an extended property of this id and value.
    pub fn with_extended(&self, id: &str, value: &str) -> Option<&BTreeSet<u64>> {
        self.extended_index
            .get(&(id.to_lowercase(), value.to_owned()))
    }

    /// Keys of contacts with this email address (case-insensitive).
    pub fn with_email(&self, address: &str) -> Option<&BTreeSet<u64>> {
        self.email_index.get(&address.to_lowercase())
    }

    /// Keys of contacts carrying this category (names compare case-insensitively, as in Outlook).
    pub fn with_category(&self, name: &str) -> Option<&BTreeSet<u64>> {
        self.category_index.get(&name.to_lowercase())
    }

    fn index(&mut self, key: u64, add: bool) {
        let Some(contact) = self.contacts.get(&key) else {
            return;
        };
        let ext: Vec<(String, String)> = contact
            .extended
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        let emails = model::email_keys(&contact.props);
        let categories = model::category_keys(&contact.props);
        update_index(&mut self.extended_index, ext, key, add);
        update_index(&mut self.email_index, emails, key, add);
        update_index(&mut self.category_index, categories, key, add);
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Puts a contact into a folder's order and change log.
    fn enter_folder(&mut self, key: u64, folder_id: &str) {
        let seq = self.next_seq();
        let Some(folder) = self.folders.get_mut(folder_id) else {
            return;
        };
        let slot = folder.order.push(key);
        folder.live.insert(seq, key);
        if let Some(contact) = self.contacts.get_mut(&key) {
            contact.folder_id = folder_id.to_owned();
            contact.slot = slot;
            contact.seq = seq;
        }
    }

    /// Takes a contact out of its folder, leaving a removal in the folder's change log.
    fn leave_folder(&mut self, key: u64) {
        let seq = self.next_seq();
        let Some(contact) = self.contacts.get(&key) else {
            return;
        };
        let removal = Removal {
            id: contact.id.clone(),
            immutable_id: contact.immutable_id.clone(),
        };
        let (slot, old_seq) = (contact.slot, contact.seq);
        if let Some(folder) = self.folders.get_mut(&contact.folder_id) {
            folder.order.remove(slot);
            folder.live.remove(&old_seq);
            folder.removed.insert(seq, removal);
        }
    }

    fn event(&self, key: u64, change: ChangeType, folder_id: &str) -> Option<ChangeEvent> {
        let well_known = self.folders.get(folder_id).and_then(|f| f.well_known);
        self.contacts.get(&key).map(|c| ChangeEvent {
            folder_id: folder_id.to_owned(),
            well_known,
            change,
            id: c.id.clone(),
            immutable_id: c.immutable_id.clone(),
            change_key: c.change_key.clone(),
        })
    }

    pub fn create_contact(
        &mut self,
        folder_id: &str,
        input: &ContactInput,
        now: DateTime<Utc>,
    ) -> (u64, Vec<ChangeEvent>) {
        let key = self.next_key;
        self.next_key += 1;
        let mut props = Map::new();
        model::apply(&mut props, input, true);
        let contact = Contact {
            key,
            id: ids::item_id(),
            immutable_id: ids::immutable_id(),
            folder_id: folder_id.to_owned(),
            props,
            extended: Vec::new(),
            created: now.with_nanosecond(0).unwrap_or(now),
            modified: now.with_nanosecond(0).unwrap_or(now),
            change_key: ids::change_key(),
            slot: 0,
            seq: 0,
        };
        self.ids.insert(contact.id.clone(), key);
        self.ids.insert(contact.immutable_id.clone(), key);
        self.contacts.insert(key, contact);
        self.upsert_extended(key, &input.extended);
        self.index(key, true);
        self.enter_folder(key, folder_id);
        let events = self
            .event(key, ChangeType::Created, folder_id)
            .into_iter()
            .collect();
        (key, events)
    }

    fn upsert_extended(&mut self, key: u64, entries: &[(String, String)]) {
        let Some(contact) = self.contacts.get_mut(&key) else {
            return;
        };
        for (id, value) in entries {
            match contact
                .extended
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(id))
            {
                Some(slot) => slot.1 = value.clone(),
                None => contact.extended.push((id.clone(), value.clone())),
            }
        }
    }

    /// Applies a PATCH: new change key and modification time, and a fresh place in the log.
    pub fn update_contact(
        &mut self,
        key: u64,
        input: &ContactInput,
        now: DateTime<Utc>,
    ) -> Vec<ChangeEvent> {
        self.index(key, false);
        if let Some(contact) = self.contacts.get_mut(&key) {
            model::apply(&mut contact.props, input, false);
        }
        self.upsert_extended(key, &input.extended);
        self.index(key, true);
        let seq = self.next_seq();
        let Some(contact) = self.contacts.get_mut(&key) else {
            return Vec::new();
        };
        contact.change_key = ids::change_key();
        // Keep modification times strictly increasing so clients comparing them see the change.
        contact.modified = advance(contact.modified, now);
        let old_seq = std::mem::replace(&mut contact.seq, seq);
        let folder_id = contact.folder_id.clone();
        if let Some(folder) = self.folders.get_mut(&folder_id) {
            folder.live.remove(&old_seq);
            folder.live.insert(seq, key);
        }
        self.event(key, ChangeType::Updated, &folder_id)
            .into_iter()
            .collect()
    }

    /// DELETE: soft (to Deleted Items, new regular id) unless `soft` is off or the contact is
    /// already in Deleted Items.
    pub fn delete_contact(&mut self, key: u64, soft: bool, now: DateTime<Utc>) -> Vec<ChangeEvent> {
        let Some(contact) = self.contacts.get(&key) else {
            return Vec::new();
        };
        let folder_id = contact.folder_id.clone();
        let events: Vec<ChangeEvent> = self
            .event(key, ChangeType::Deleted, &folder_id)
            .into_iter()
            .collect();
        if soft && folder_id != self.deleted_id {
            let deleted = self.deleted_id.clone();
            self.relocate(key, &deleted, now);
        } else {
            self.purge_contact(key);
        }
        events
    }

    /// Removes a contact for good.
    pub fn purge_contact(&mut self, key: u64) {
        self.index(key, false);
        self.leave_folder(key);
        if let Some(contact) = self.contacts.remove(&key) {
            self.ids.remove(&contact.id);
            self.ids.remove(&contact.immutable_id);
        }
    }

    /// Moves a contact to another folder the way Exchange does: the regular id changes, the
    /// immutable id and the properties stay.
    fn relocate(&mut self, key: u64, folder_id: &str, now: DateTime<Utc>) {
        self.leave_folder(key);
        let new_id = ids::item_id();
        if let Some(contact) = self.contacts.get_mut(&key) {
            self.ids.remove(&contact.id);
            contact.id = new_id.clone();
            contact.change_key = ids::change_key();
            contact.modified = advance(contact.modified, now);
        }
        self.ids.insert(new_id, key);
        self.enter_folder(key, folder_id);
    }

    /// A move made by the user in Outlook (Graph itself cannot move contacts).
    pub fn user_move(&mut self, key: u64, folder_id: &str, now: DateTime<Utc>) -> Vec<ChangeEvent> {
        let Some(from) = self.contacts.get(&key).map(|c| c.folder_id.clone()) else {
            return Vec::new();
        };
        if from == folder_id {
            return Vec::new();
        }
        let mut events: Vec<ChangeEvent> = self
            .event(key, ChangeType::Deleted, &from)
            .into_iter()
            .collect();
        self.relocate(key, folder_id, now);
        events.extend(self.event(key, ChangeType::Created, folder_id));
        events
    }

    /// One page of a folder's changes after `cursor`: contacts changed since, and removals
    /// after `removed_floor` (removals before the start of an initial round are not news).
    /// Returns the entries, the sequence number of the last one, and whether more follow.
    pub fn delta_page(
        &self,
        folder_id: &str,
        cursor: u64,
        removed_floor: u64,
        limit: usize,
    ) -> (Vec<DeltaEntry<'_>>, u64, bool) {
        let Some(folder) = self.folders.get(folder_id) else {
            return (Vec::new(), cursor, false);
        };
        let mut live = folder.live.range(cursor.saturating_add(1)..).peekable();
        let mut removed = folder
            .removed
            .range(cursor.max(removed_floor).saturating_add(1)..)
            .peekable();
        let mut out = Vec::new();
        let mut last = cursor;
        while out.len() < limit.max(1) {
            let take_live = match (live.peek(), removed.peek()) {
                (Some((l, _)), Some((r, _))) => l < r,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_live {
                if let Some((seq, key)) = live.next() {
                    last = *seq;
                    if let Some(contact) = self.contacts.get(key) {
                        out.push(DeltaEntry::Live(contact));
                    }
                }
            } else if let Some((seq, removal)) = removed.next() {
                last = *seq;
                out.push(DeltaEntry::Removed(removal));
            }
        }
        let more = live.peek().is_some() || removed.peek().is_some();
        (out, last, more)
    }
}

/// Adds or removes `key` under each of `values` in a value → keys index.
fn update_index<K: std::hash::Hash + Eq>(
    index: &mut std::collections::HashMap<K, BTreeSet<u64>>,
    values: Vec<K>,
    key: u64,
    add: bool,
) {
    for value in values {
        if add {
            index.entry(value).or_default().insert(key);
        } else if let Some(set) = index.get_mut(&value) {
            set.remove(&key);
            if set.is_empty() {
                index.remove(&value);
            }
        }
    }
}

/// The next `lastModifiedDateTime`: Graph writes whole seconds, so a change within the same
/// second as the last one still moves it on by a second; clients comparing it see every change.
fn advance(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = now.with_nanosecond(0).unwrap_or(now);
    let next = previous.with_nanosecond(0).unwrap_or(previous) + chrono::Duration::seconds(1);
    now.max(next)
}
