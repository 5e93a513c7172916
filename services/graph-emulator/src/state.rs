//! In-memory mailboxes: folders, contacts, categories, and the per-folder change logs delta reads.
//!
//! Everything a request touches is reached through maps: ids → contact keys, per-folder slot
//! lists for `$skip` paging, per-folder logs ordered by the mailbox's change sequence for delta,
//! and value indexes for the `$filter`s clients use. No request walks a whole mailbox.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};

use crate::errors::GraphError;
use crate::ids;
use crate::model::{self, ContactInput};
use crate::ordered::OrderedSlots;

/// One contact. `id` changes when the contact changes folder; `immutable_id` never does.
#[derive(Debug, Clone)]
pub struct Contact {
    pub key: u64,
    pub id: String,
    pub immutable_id: String,
    pub folder_id: String,
    pub props: Map<String, Value>,
    /// `singleValueExtendedProperties`: id as first written, value.
    pub extended: Vec<(String, String)>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub change_key: String,
    slot: usize,
    seq: u64,
}

impl Contact {
    pub fn id_for(&self, immutable: bool) -> &str {
        if immutable {
            &self.immutable_id
        } else {
            &self.id
        }
    }

    /// Extended property value by id; ids compare case-insensitively (reference §6.1).
    pub fn extended_value(&self, id: &str) -> Option<(&str, &str)> {
        self.extended
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(id))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// What a folder's delta reports for a contact that is no longer in it.
#[derive(Debug, Clone)]
pub struct Removal {
    pub id: String,
    pub immutable_id: String,
}

#[derive(Debug)]
pub struct Folder {
    pub id: String,
    pub display_name: String,
    pub parent_id: String,
    /// `contacts`, `deleteditems` or `msgfolderroot` for the distinguished folders.
    pub well_known: Option<&'static str>,
    order: OrderedSlots<u64>,
    /// Contacts in the folder keyed by the sequence number of their last change.
    live: BTreeMap<u64, u64>,
    /// Contacts that left the folder, keyed by the sequence number of their leaving.
    removed: BTreeMap<u64, Removal>,
}

impl Folder {
    fn new(
        id: String,
        display_name: &str,
        parent_id: String,
        well_known: Option<&'static str>,
    ) -> Self {
        Folder {
            id,
            display_name: display_name.to_owned(),
            parent_id,
            well_known,
            order: OrderedSlots::new(),
            live: BTreeMap::new(),
            removed: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[derive(Debug, Clone)]
pub struct Category {
    pub id: String,
    pub display_name: String,
    pub color: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Created => "created",
            ChangeType::Updated => "updated",
            ChangeType::Deleted => "deleted",
        }
    }
}

/// A contact change, for change notifications.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub folder_id: String,
    /// The folder's well-known name, if it is a distinguished folder.
    pub well_known: Option<&'static str>,
    pub change: ChangeType,
    pub id: String,
    pub immutable_id: String,
    pub change_key: String,
}

/// One entry of a delta page.
pub enum DeltaEntry<'a> {
    Live(&'a Contact),
    Removed(&'a Removal),
}

#[derive(Debug)]
pub struct Mailbox {
    pub id: String,
    pub upn: String,
    pub root_id: String,
    pub default_id: String,
    pub deleted_id: String,
    folders: HashMap<String, Folder>,
    /// Folder ids in creation order, for stable listings.
    folder_order: Vec<String>,
    contacts: HashMap<u64, Contact>,
    ids: HashMap<String, u64>,
    next_key: u64,
    /// Change sequence of the mailbox: every contact change takes the next number.
    pub seq: u64,
    /// Delta tokens issued before this generation are expired (the fault knob bumps it).
    pub delta_generation: u64,
    categories: Vec<Category>,
    extended_index: HashMap<(String, String), BTreeSet<u64>>,
    email_index: HashMap<String, BTreeSet<u64>>,
}

const DEFAULT_CATEGORIES: &[(&str, &str)] = &[
    ("Red category", "preset0"),
    ("Orange category", "preset1"),
    ("Yellow category", "preset3"),
    ("Green category", "preset4"),
    ("Blue category", "preset7"),
    ("Purple category", "preset8"),
];

impl Mailbox {
    pub fn new(id: &str, upn: &str, default_categories: bool) -> Self {
        let root_id = ids::folder_id();
        let default_id = ids::folder_id();
        let deleted_id = ids::folder_id();
        let mut folders = HashMap::new();
        folders.insert(
            root_id.clone(),
            Folder::new(
                root_id.clone(),
                "Top of Information Store",
                String::new(),
                Some("msgfolderroot"),
            ),
        );
        folders.insert(
            default_id.clone(),
            Folder::new(
                default_id.clone(),
                "Contacts",
                root_id.clone(),
                Some("contacts"),
            ),
        );
        folders.insert(
            deleted_id.clone(),
            Folder::new(
                deleted_id.clone(),
                "Deleted Items",
                root_id.clone(),
                Some("deleteditems"),
            ),
        );
        let categories = if default_categories {
            DEFAULT_CATEGORIES
                .iter()
                .map(|(name, color)| Category {
                    id: ids::guid(),
                    display_name: (*name).to_owned(),
                    color: (*color).to_owned(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Mailbox {
            id: id.to_owned(),
            upn: upn.to_owned(),
            folder_order: vec![root_id.clone(), default_id.clone(), deleted_id.clone()],
            root_id,
            default_id,
            deleted_id,
            folders,
            contacts: HashMap::new(),
            ids: HashMap::new(),
            next_key: 1,
            seq: 0,
            delta_generation: 0,
            categories,
            extended_index: HashMap::new(),
            email_index: HashMap::new(),
        }
    }

    // ----- folders -----

    /// Resolves a folder reference from a path: an id or a well-known name.
    pub fn resolve_folder(&self, raw: &str) -> Result<&Folder, GraphError> {
        let id = if raw.eq_ignore_ascii_case("contacts") {
            &self.default_id
        } else if raw.eq_ignore_ascii_case("deleteditems") {
            &self.deleted_id
        } else if raw.eq_ignore_ascii_case("msgfolderroot") {
            &self.root_id
        } else {
            raw
        };
        if let Some(folder) = self.folders.get(id) {
            return Ok(folder);
        }
        if ids::is_well_formed(raw) {
            Err(GraphError::item_not_found())
        } else {
            Err(GraphError::id_malformed())
        }
    }

    pub fn folder(&self, id: &str) -> Option<&Folder> {
        self.folders.get(id)
    }

    /// Children of a folder, in creation order.
    pub fn child_folders(&self, parent_id: &str) -> Vec<&Folder> {
        self.folder_order
            .iter()
            .filter_map(|id| self.folders.get(id))
            .filter(|f| f.parent_id == parent_id)
            .collect()
    }

    /// Every folder, for the control API.
    pub fn all_folders(&self) -> Vec<&Folder> {
        self.folder_order
            .iter()
            .filter_map(|id| self.folders.get(id))
            .collect()
    }

    pub fn create_folder(
        &mut self,
        parent_id: &str,
        display_name: &str,
    ) -> Result<&Folder, GraphError> {
        if display_name.trim().is_empty() {
            return Err(GraphError::bad_request(
                "ErrorInvalidRequest",
                "The folder display name cannot be empty.",
            ));
        }
        let exists = self
            .child_folders(parent_id)
            .iter()
            .any(|f| f.display_name.eq_ignore_ascii_case(display_name));
        if exists {
            // Reported for mail folders; UNCONFIRMED for contact folders.
            return Err(GraphError::Conflict {
                code: "ErrorFolderExists",
                message: "A folder with the specified name already exists.".to_owned(),
            });
        }
        let id = ids::folder_id();
        self.folders.insert(
            id.clone(),
            Folder::new(id.clone(), display_name, parent_id.to_owned(), None),
        );
        self.folder_order.push(id.clone());
        self.folders.get(&id).ok_or_else(GraphError::item_not_found)
    }

    pub fn rename_folder(&mut self, id: &str, display_name: &str) -> Result<(), GraphError> {
        let parent = self
            .folders
            .get(id)
            .map(|f| f.parent_id.clone())
            .unwrap_or_default();
        let clash = self
            .child_folders(&parent)
            .iter()
            .any(|f| f.id != id && f.display_name.eq_ignore_ascii_case(display_name));
        if clash {
            return Err(GraphError::Conflict {
                code: "ErrorFolderExists",
                message: "A folder with the specified name already exists.".to_owned(),
            });
        }
        let folder = self
            .folders
            .get_mut(id)
            .ok_or_else(GraphError::item_not_found)?;
        folder.display_name = display_name.to_owned();
        Ok(())
    }

    /// Soft delete: the folder moves under Deleted Items and its id keeps resolving.
    pub fn delete_folder(&mut self, id: &str) -> Result<(), GraphError> {
        let deleted_id = self.deleted_id.clone();
        let folder = self
            .folders
            .get_mut(id)
            .ok_or_else(GraphError::item_not_found)?;
        if folder.well_known.is_some() {
            return Err(GraphError::bad_request(
                "ErrorDeleteDistinguishedFolder",
                "Distinguished folders cannot be deleted.",
            ));
        }
        if folder.parent_id == deleted_id {
            // Deleting from Deleted Items is permanent; the contacts in it go too.
            let keys: Vec<u64> = folder.live.values().copied().collect();
            for key in keys {
                self.purge_contact(key);
            }
            self.folders.remove(id);
            self.folder_order.retain(|f| f != id);
            return Ok(());
        }
        folder.parent_id = deleted_id;
        Ok(())
    }

    // ----- contacts -----

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
        for entry in ext {
            if add {
                self.extended_index.entry(entry).or_default().insert(key);
            } else if let Some(set) = self.extended_index.get_mut(&entry) {
                set.remove(&key);
                if set.is_empty() {
                    self.extended_index.remove(&entry);
                }
            }
        }
        for email in emails {
            if add {
                self.email_index.entry(email).or_default().insert(key);
            } else if let Some(set) = self.email_index.get_mut(&email) {
                set.remove(&key);
                if set.is_empty() {
                    self.email_index.remove(&email);
                }
            }
        }
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
            created: now,
            modified: now,
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
        contact.modified = if now > contact.modified {
            now
        } else {
            contact.modified + chrono::Duration::milliseconds(1)
        };
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
            contact.modified = now;
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
        let mut live = folder.live.range(cursor + 1..).peekable();
        let mut removed = folder
            .removed
            .range(cursor.max(removed_floor) + 1..)
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

    // ----- categories -----

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn create_category(
        &mut self,
        display_name: &str,
        color: &str,
    ) -> Result<Category, GraphError> {
        if self
            .categories
            .iter()
            .any(|c| c.display_name.eq_ignore_ascii_case(display_name))
        {
            // Names are unique per mailbox; the status and code are UNCONFIRMED.
            return Err(GraphError::Conflict {
                code: "nameAlreadyExists",
                message: format!("A category with the name '{display_name}' already exists."),
            });
        }
        let category = Category {
            id: ids::guid(),
            display_name: display_name.to_owned(),
            color: color.to_owned(),
        };
        self.categories.push(category.clone());
        Ok(category)
    }

    pub fn category_mut(&mut self, id: &str) -> Option<&mut Category> {
        self.categories
            .iter_mut()
            .find(|c| c.id.eq_ignore_ascii_case(id))
    }

    pub fn delete_category(&mut self, id: &str) -> bool {
        let before = self.categories.len();
        self.categories.retain(|c| !c.id.eq_ignore_ascii_case(id));
        before != self.categories.len()
    }

    /// Every contact, for the control API's state dump.
    pub fn all_contacts(&self) -> impl Iterator<Item = &Contact> {
        let mut keys: Vec<&u64> = self.contacts.keys().collect();
        keys.sort();
        keys.into_iter().filter_map(|k| self.contacts.get(k))
    }
}

pub type MailboxRef = Arc<Mutex<Mailbox>>;

/// All mailboxes, addressable by id or user principal name (case-insensitive, like Graph).
#[derive(Default)]
pub struct Registry {
    by_key: RwLock<HashMap<String, MailboxRef>>,
}

/// Why a mailbox could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("a different mailbox already uses {0}")]
    Taken(String),
}

impl Registry {
    pub fn get(&self, id_or_upn: &str) -> Option<MailboxRef> {
        self.by_key.read().get(&id_or_upn.to_lowercase()).cloned()
    }

    /// Creates a mailbox; creating the same (id, upn) again returns the existing one.
    pub fn create(
        &self,
        id: &str,
        upn: &str,
        default_categories: bool,
    ) -> Result<(MailboxRef, bool), RegistryError> {
        let mut map = self.by_key.write();
        let (id_key, upn_key) = (id.to_lowercase(), upn.to_lowercase());
        if let Some(existing) = map.get(&id_key) {
            if existing.lock().upn.eq_ignore_ascii_case(upn) {
                return Ok((existing.clone(), false));
            }
            return Err(RegistryError::Taken(id.to_owned()));
        }
        if map.contains_key(&upn_key) {
            return Err(RegistryError::Taken(upn.to_owned()));
        }
        let mailbox = Arc::new(Mutex::new(Mailbox::new(id, upn, default_categories)));
        map.insert(id_key, mailbox.clone());
        map.insert(upn_key, mailbox.clone());
        Ok((mailbox, true))
    }

    pub fn clear(&self) {
        self.by_key.write().clear();
    }

    /// Each mailbox once.
    pub fn all(&self) -> Vec<MailboxRef> {
        let map = self.by_key.read();
        let mut seen = std::collections::HashSet::new();
        map.values()
            .filter(|m| seen.insert(Arc::as_ptr(m) as usize))
            .cloned()
            .collect()
    }
}
