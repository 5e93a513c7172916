//! Domain id newtypes, validated at construction so the core never handles a malformed id.
//!
//! Each id is a string on the wire; `TryFrom<String>`/`FromStr` validate it and serde goes through
//! the same check (`#[serde(try_from = "String")]`), so a bad id in a message or a JSONB row is a
//! parse error at the boundary rather than a surprise inside `reconcile`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} {value:?} has length {len}, expected {expected}")]
    Length {
        kind: &'static str,
        value: String,
        len: usize,
        expected: &'static str,
    },
    #[error("{kind} {value:?} contains a character outside {allowed}")]
    Character {
        kind: &'static str,
        value: String,
        allowed: &'static str,
    },
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $validate:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id as the service spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For ids this crate generates in a known-valid format (bench fixtures); checked in
            /// debug builds.
            #[allow(dead_code)]
            pub(crate) fn trusted(value: String) -> Self {
                debug_assert!($validate(&value).is_ok(), "{value:?}");
                Self(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                $validate(&value)?;
                Ok(Self(value))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::try_from(value.to_owned())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A Salesforce record id: 15 (case-sensitive) or 18 (case-insensitive) ASCII alphanumerics.
    /// Used for Contacts, Accounts (`AccountId`) and Users (`SalesforceUserId`).
    SalesforceId,
    validate_salesforce_id
);

string_id!(
    /// A Graph contact id (opaque; changes on copy-and-delete moves, SPEC B9).
    GraphItemId,
    validate_graph_id
);

string_id!(
    /// Our own id of one link: stamped on the mailbox item (single-value extended property) and
    /// written to Salesforce's external id `Contactsync_Key__c`, so a retried create is an upsert
    /// and never a duplicate (C4). 1–64 characters of `[A-Za-z0-9_-]`.
    SyncKey,
    validate_sync_key
);

/// An Account id (a `SalesforceId` with the `001` prefix in real orgs; not enforced).
pub type AccountId = SalesforceId;
/// A Salesforce User id, the owner of Contacts in scope `mine` (B2).
pub type SalesforceUserId = SalesforceId;

fn validate_salesforce_id(value: &str) -> Result<(), IdError> {
    const KIND: &str = "Salesforce id";
    if value.is_empty() {
        return Err(IdError::Empty { kind: KIND });
    }
    if value.len() != 15 && value.len() != 18 {
        return Err(IdError::Length {
            kind: KIND,
            value: value.to_owned(),
            len: value.len(),
            expected: "15 or 18",
        });
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(IdError::Character {
            kind: KIND,
            value: value.to_owned(),
            allowed: "ASCII letters and digits",
        });
    }
    Ok(())
}

fn validate_graph_id(value: &str) -> Result<(), IdError> {
    const KIND: &str = "Graph item id";
    if value.is_empty() {
        return Err(IdError::Empty { kind: KIND });
    }
    // Real ids are ~150 base64 characters; the bound only keeps garbage out of the link store.
    if value.len() > 1024 {
        return Err(IdError::Length {
            kind: KIND,
            value: value.chars().take(64).collect(),
            len: value.len(),
            expected: "at most 1024",
        });
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdError::Character {
            kind: KIND,
            value: value.to_owned(),
            allowed: "printable ASCII without spaces",
        });
    }
    Ok(())
}

fn validate_sync_key(value: &str) -> Result<(), IdError> {
    const KIND: &str = "sync key";
    if value.is_empty() {
        return Err(IdError::Empty { kind: KIND });
    }
    if value.len() > 64 {
        return Err(IdError::Length {
            kind: KIND,
            value: value.to_owned(),
            len: value.len(),
            expected: "at most 64",
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IdError::Character {
            kind: KIND,
            value: value.to_owned(),
            allowed: "[A-Za-z0-9_-]",
        });
    }
    Ok(())
}

/// The prefix of down-sync keys (`SyncKey::for_salesforce`).
const SALESFORCE_KEY_PREFIX: &str = "sf-";

impl SyncKey {
    /// The key of a link that starts from a Salesforce Contact (down-sync, B5): `sf-` and the
    /// Contact's id.
    ///
    /// Derived, not random: reconciling the same input twice (a redelivery, a crash before the link
    /// was stored) yields the same key, so the stamp found on a half-created mirror still matches
    /// and nothing is created twice (C4); and a stamped mirror names its Contact even when that
    /// Contact is not in the session's changes. Keys are per user, so two users mirroring the
    /// same Contact share a key without conflict.
    pub fn for_salesforce(id: &SalesforceId) -> SyncKey {
        SyncKey(format!("{SALESFORCE_KEY_PREFIX}{id}"))
    }

    /// The key of a link that starts from a mailbox contact (up-sync, B8/B9): `ex` and a 128-bit
    /// hash of the item id (Graph ids are too long and too free-form to embed). It is also the
    /// Contact's `Contactsync_Key__c`, the upsert key.
    pub fn for_graph(id: &GraphItemId) -> SyncKey {
        SyncKey::derive("ex", id.as_str())
    }

    /// The Salesforce Contact a down-sync key was made for, if this is one.
    pub fn salesforce_id(&self) -> Option<SalesforceId> {
        let id = self.0.strip_prefix(SALESFORCE_KEY_PREFIX)?;
        SalesforceId::try_from(id).ok()
    }

    fn derive(domain: &str, value: &str) -> SyncKey {
        // Two FNV-1a passes with different offsets give 128 bits: plenty against accidental
        // collisions within one user's links, and needs no hashing crate in this pure library.
        let hash = |seed: u64| {
            let mut h = seed;
            for byte in domain.bytes().chain([0u8]).chain(value.bytes()) {
                h ^= u64::from(byte);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h
        };
        let high = hash(0xcbf2_9ce4_8422_2325);
        let low = hash(0x6c62_272e_07bb_0142);
        SyncKey(format!("{domain}{high:016x}{low:016x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_ids_of_15_or_18_alphanumerics_are_accepted() {
        assert!(SalesforceId::try_from("003RO0000035WQg").is_ok());
        assert!(SalesforceId::try_from("003RO0000035WQgYAM").is_ok());
        assert!(SalesforceId::try_from("003RO0000035WQgYA").is_err());
        assert!(SalesforceId::try_from("003RO0000035WQg'AM").is_err());
        assert!(SalesforceId::try_from("").is_err());
    }

    #[test]
    fn graph_ids_reject_spaces_and_control_characters() {
        assert!(GraphItemId::try_from("AAMkAGI2THk0AAA=").is_ok());
        assert!(GraphItemId::try_from("AAMk AGI2").is_err());
        assert!(GraphItemId::try_from("AAMk\nAGI2").is_err());
    }

    #[test]
    fn sync_keys_are_derived_deterministically_and_validate() {
        let sf = SalesforceId::try_from("003RO0000035WQgYAM").expect("valid id");
        let a = SyncKey::for_salesforce(&sf);
        assert_eq!(a, SyncKey::for_salesforce(&sf));
        assert!(SyncKey::try_from(a.as_str()).is_ok());
        let g = GraphItemId::try_from("003RO0000035WQgYAM").expect("valid id");
        assert_ne!(a, SyncKey::for_graph(&g));
        assert_eq!(a.salesforce_id(), Some(sf));
        assert_eq!(SyncKey::for_graph(&g).salesforce_id(), None);
        assert!(SyncKey::try_from("has space").is_err());
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: Result<SalesforceId, _> = serde_json::from_str("\"003RO0000035WQgYAM\"");
        assert!(ok.is_ok());
        let bad: Result<SalesforceId, _> = serde_json::from_str("\"nope\"");
        assert!(bad.is_err());
        let key: Result<SyncKey, _> = serde_json::from_str("\"\"");
        assert!(key.is_err(), "an empty stamp is not a key");
    }
}
