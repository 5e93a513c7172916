//! All mailboxes, addressable by id or user principal name.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::Mailbox;

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
