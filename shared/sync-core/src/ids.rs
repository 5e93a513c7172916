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
    /// An 18-character Salesforce id whose last three characters are not the case checksum of
    /// its first fifteen (a mistyped or case-mangled id): it names no record for sure (B15).
    #[error(
        "Salesforce id {value:?} has the checksum suffix {found:?}, but its first 15 characters \
         give {expected:?}"
    )]
    Checksum {
        value: String,
        found: String,
        expected: String,
    },
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $parse:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id in its canonical form.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For ids this crate generates in a known-canonical format (bench fixtures); checked
            /// in debug builds.
            #[allow(dead_code)]
            pub(crate) fn trusted(value: String) -> Self {
                debug_assert!(
                    $parse(value.clone()).ok().as_deref() == Some(value.as_str()),
                    "{value:?}"
                );
                Self(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                $parse(value).map(Self)
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
    /// A Salesforce record id in its canonical **18-character** form (B15), for Contacts,
    /// Accounts (`AccountId`), Users (`SalesforceUserId`), list views and orgs.
    ///
    /// Salesforce spells one record two ways: 15 case-sensitive characters (its UI and URLs) or
    /// those 15 plus a 3-character checksum of their case (its API). Parsing accepts both and
    /// always keeps the 18-character form, so two ids of one record are equal as plain strings,
    /// and what is stored, published and logged is that form.
    ///
    /// **Decided**: the suffix is compared case-insensitively (Salesforce treats 18-character
    /// ids case-insensitively; the suffix exists to survive tools that fold case) and kept in
    /// upper case; the first 15 characters are compared as given, because their case *is* the
    /// record's identity. An 18-character id whose suffix disagrees with its first 15 (a typo,
    /// or letters whose case was folded) is [`IdError::Checksum`], never a guess at the record.
    SalesforceId,
    parse_salesforce_id
);

string_id!(
    /// A Graph contact id (opaque; changes on copy-and-delete moves, SPEC B9).
    GraphItemId,
    parse_graph_id
);

string_id!(
    /// Our own id of one link: stamped on the mailbox item (single-value extended property) and
    /// written to Salesforce's external id `Contactsync_Key__c`, so a retried create is an upsert
    /// and never a duplicate (C4). 1–64 characters of `[A-Za-z0-9_-]`.
    SyncKey,
    parse_sync_key
);

/// An Account id (a `SalesforceId` with the `001` prefix in real orgs; not enforced).
pub type AccountId = SalesforceId;
/// A Salesforce User id, the owner of Contacts in scope `mine` (B2).
pub type SalesforceUserId = SalesforceId;

/// The alphabet of the checksum suffix: the upper-case bit mask of a 5-character chunk (bit
/// `i` set when character `i` is an upper-case letter) indexes it.
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 3-character checksum of the first 15 characters of an id (ASCII, checked by the caller):
/// one character per 5-character chunk.
fn checksum(id15: &[u8]) -> [u8; 3] {
    let mut suffix = [0u8; 3];
    for (chunk, out) in id15.chunks(5).zip(suffix.iter_mut()) {
        let mask = chunk
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_uppercase())
            .fold(0usize, |mask, (i, _)| mask | (1 << i));
        *out = SUFFIX_ALPHABET[mask];
    }
    suffix
}

/// Salesforce's 18-character form of a 15- or 18-character id (B15); see [`SalesforceId`] for
/// what is accepted.
pub fn salesforce_id18(value: &str) -> Result<String, IdError> {
    parse_salesforce_id(value.to_owned())
}

fn parse_salesforce_id(value: String) -> Result<String, IdError> {
    const KIND: &str = "Salesforce id";
    if value.is_empty() {
        return Err(IdError::Empty { kind: KIND });
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(IdError::Character {
            kind: KIND,
            value,
            allowed: "ASCII letters and digits",
        });
    }
    let expected = match value.len() {
        15 | 18 => checksum(&value.as_bytes()[..15]),
        len => {
            return Err(IdError::Length {
                kind: KIND,
                value,
                len,
                expected: "15 or 18",
            });
        }
    };
    let mut id = value;
    if id.len() == 15 {
        id.extend(expected.iter().map(|&b| char::from(b)));
        return Ok(id);
    }
    if !id.as_bytes()[15..].eq_ignore_ascii_case(&expected) {
        return Err(IdError::Checksum {
            found: id[15..].to_owned(),
            expected: expected.iter().map(|&b| char::from(b)).collect(),
            value: id,
        });
    }
    id[15..].make_ascii_uppercase();
    Ok(id)
}

impl SalesforceId {
    /// The 15-character, case-sensitive form Salesforce shows in its UI and URLs.
    pub fn as_15(&self) -> &str {
        // Canonical ids are 18 ASCII characters, so the slice is always in bounds.
        self.0.get(..15).unwrap_or(&self.0)
    }

    /// The 3-character key prefix naming the object type (`003` Contact, `005` User, `00B`
    /// list view, `001` Account, `00D` organization).
    pub fn key_prefix(&self) -> &str {
        self.0.get(..3).unwrap_or(&self.0)
    }
}

fn parse_graph_id(value: String) -> Result<String, IdError> {
    validate_graph_id(&value).map(|()| value)
}

fn parse_sync_key(value: String) -> Result<String, IdError> {
    validate_sync_key(&value).map(|()| value)
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
    fn a_15_character_id_becomes_its_18_character_form() {
        let id = SalesforceId::try_from("003RO0000035WQg").expect("valid id");
        assert_eq!(id.as_str(), "003RO0000035WQgYAM");
        assert_eq!(id.as_15(), "003RO0000035WQg");
        assert_eq!(id.key_prefix(), "003");
        // The example of Salesforce's REST guide (list views: 15 in describe, 18 in the list).
        assert_eq!(
            salesforce_id18("00BD0000005WcCN").as_deref(),
            Ok("00BD0000005WcCNMA0")
        );
        assert_eq!(
            salesforce_id18("00Dxx0000001gPL").as_deref(),
            Ok("00Dxx0000001gPLEAY")
        );
    }

    #[test]
    fn both_forms_of_one_record_are_equal() {
        let short = SalesforceId::try_from("003RO0000035WQg").expect("15");
        let long = SalesforceId::try_from("003RO0000035WQgYAM").expect("18");
        let lower_suffix =
            SalesforceId::try_from("003RO0000035WQgyam").expect("suffix in any case");
        assert_eq!(short, long);
        assert_eq!(long, lower_suffix);
        assert_eq!(lower_suffix.as_str(), "003RO0000035WQgYAM");
    }

    #[test]
    fn a_suffix_that_disagrees_with_the_first_15_characters_is_a_checksum_error() {
        assert!(matches!(
            SalesforceId::try_from("003RO0000035WQgAAA"),
            Err(IdError::Checksum { ref found, ref expected, .. }) if found == "AAA" && expected == "YAM"
        ));
        // Letters whose case was folded no longer match their checksum: refused, not guessed.
        assert!(matches!(
            SalesforceId::try_from("003ro0000035wqgyam"),
            Err(IdError::Checksum { .. })
        ));
    }

    #[test]
    fn other_lengths_and_characters_are_refused() {
        assert!(matches!(
            SalesforceId::try_from("003RO0000035WQgYA"),
            Err(IdError::Length { len: 17, .. })
        ));
        assert!(matches!(
            SalesforceId::try_from("003RO0000035WQg'AM"),
            Err(IdError::Character { .. })
        ));
        assert!(matches!(
            SalesforceId::try_from("003RO0000035WQ\u{e9}"),
            Err(IdError::Character { .. })
        ));
        assert!(matches!(
            SalesforceId::try_from(""),
            Err(IdError::Empty { .. })
        ));
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
        let short: SalesforceId =
            serde_json::from_str("\"003RO0000035WQg\"").expect("a 15-character id");
        assert_eq!(
            serde_json::to_string(&short).expect("json"),
            "\"003RO0000035WQgYAM\"",
            "serialized in the 18-character form"
        );
        let key: Result<SyncKey, _> = serde_json::from_str("\"\"");
        assert!(key.is_err(), "an empty stamp is not a key");
    }
}
