//! Opaque identifiers shaped like Exchange's: base64 strings that need URL-encoding in paths.
//!
//! Real ids carry `=`, `-`, `_` and sometimes `/` or `+`, so clients that forget to encode them
//! break here as they would against Microsoft. A fixed prefix per kind lets us tell a garbage id
//! (400 `ErrorInvalidIdMalformed`) from a well-formed one that names nothing (404).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

const ITEM: [u8; 3] = [0x00, 0x03, 0x24]; // "AAMk…", like a regular Exchange item id
const IMMUTABLE: [u8; 3] = [0x00, 0x09, 0x00]; // "AAkA…", like an immutable id
const FOLDER: [u8; 3] = [0x01, 0x03, 0x24]; // "AQMk…", like a folder id
const ID_LEN: usize = 36;

fn make(prefix: [u8; 3]) -> String {
    let mut bytes = [0u8; ID_LEN];
    bytes[..3].copy_from_slice(&prefix);
    rand::fill(&mut bytes[3..]);
    // 36 bytes encode to 48 characters without padding; one byte more gives the `=` real ids end with.
    let mut with_pad = bytes.to_vec();
    with_pad.push(0);
    URL_SAFE.encode(with_pad)
}

/// A new regular item id (changes when the item moves).
pub fn item_id() -> String {
    make(ITEM)
}

/// A new immutable item id (survives moves inside the mailbox).
pub fn immutable_id() -> String {
    make(IMMUTABLE)
}

pub fn folder_id() -> String {
    make(FOLDER)
}

/// A new change key, as the standard base64 Exchange uses ("EQAAABYAAA…").
pub fn change_key() -> String {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&[0x11, 0, 0, 0, 0x16, 0, 0, 0]);
    rand::fill(&mut bytes[8..]);
    STANDARD.encode(bytes)
}

/// Whether `raw` has the shape of one of our ids (of any kind).
pub fn is_well_formed(raw: &str) -> bool {
    match URL_SAFE.decode(raw) {
        Ok(bytes) => {
            bytes.len() == ID_LEN + 1
                && [ITEM, IMMUTABLE, FOLDER]
                    .iter()
                    .any(|p| bytes.starts_with(p))
        }
        Err(_) => false,
    }
}

/// A subscription or category id: a GUID, as on the real service.
pub fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_exchange_ids_and_are_recognised() {
        let id = item_id();
        assert!(id.starts_with("AAMk"), "{id}");
        assert!(id.ends_with('='), "{id}");
        assert!(is_well_formed(&id));
        assert!(immutable_id().starts_with("AAkA"));
        assert!(folder_id().starts_with("AQMk"));
        assert!(!is_well_formed("not-an-id"));
        assert!(!is_well_formed("AAMkAGI2THk0AAA="));
        assert!(change_key().starts_with("EQAAABYAAA"));
    }
}
