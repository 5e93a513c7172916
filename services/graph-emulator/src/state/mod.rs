//! In-memory mailboxes: folders, contacts, categories, and the per-folder change logs delta reads.
//!
//! Everything a request touches is reached through maps: ids → contact keys, per-folder slot
//! lists for `$skip` paging, per-folder logs ordered by the mailbox's change sequence for delta,
//! and value indexes for the `$filter`s clients use. No request walks a whole mailbox.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::errors::GraphError;
use crate::ids;
use crate::ordered::OrderedSlots;

mod contacts;
mod registry;
#[cfg(test)]
mod tests;

pub use registry::{MailboxRef, Registry};

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
    /// False for a user without an Exchange Online mailbox (or one hosted on-premises): every
    /// call answers 404 `MailboxNotEnabledForRESTAPI`.
    pub rest_enabled: bool,
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
    /// Lower-cased category name → contacts carrying it.
    category_index: HashMap<String, BTreeSet<u64>>,
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
            rest_enabled: true,
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
            category_index: HashMap::new(),
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
