//! Page tokens and sync tokens: opaque to clients, bound to the mailbox, to the emulator's
//! lifetime (a reset voids them) and to the parameters of the call that issued them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Knobs;
use crate::errors::ApiError;
use crate::model::Mailbox;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A `connections.list` page.
    Page,
    /// A `connections.list` sync token.
    Sync,
    /// A `contactGroups.list` page.
    GroupPage,
    /// A `contactGroups.list` sync token.
    GroupSync,
}

/// The state a token carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cursor {
    pub kind: Kind,
    /// Emulator epoch (changes on reset).
    pub epoch: u64,
    /// Fingerprint of the mailbox and the bound parameters.
    pub bound: String,
    /// Sequence number already delivered (cursor pages, sync tokens).
    pub after: u64,
    /// Sequence number the listing stops at (fixed on its first page).
    pub upto: u64,
    /// Offset into a sorted listing (sorts other than last-modified).
    pub offset: usize,
    /// The mailbox's sync epoch when issued.
    pub sync_epoch: u64,
    /// Unix seconds when issued.
    pub issued: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a token and checks it belongs to this call (kind, epoch, parameters).
    pub fn decode(
        raw: &str,
        kind: Kind,
        epoch: u64,
        bound: &str,
        param: &str,
    ) -> Result<Cursor, ApiError> {
        let cursor: Cursor = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|c: &Cursor| c.kind == kind && c.epoch == epoch)
            .ok_or_else(|| {
                ApiError::field_violation(param, format!("The {param} is not valid."))
            })?;
        if cursor.bound != bound {
            return Err(ApiError::field_violation(
                param,
                format!(
                    "The {param} does not match the request: every parameter other than the \
                     page token must match the call that returned it."
                ),
            ));
        }
        Ok(cursor)
    }
}

/// A short fingerprint of the mailbox and parameter values a token is bound to.
pub fn fingerprint(mailbox: &str, params: &[(&str, &str)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(mailbox.as_bytes());
    for (k, v) in params {
        hasher.update([0]);
        hasher.update(k.as_bytes());
        hasher.update([1]);
        hasher.update(v.as_bytes());
    }
    hex::encode(&hasher.finalize()[..12])
}

/// Checks a presented sync token: bound to this call, not expired by age (knob) or by the
/// control API. Returns the sequence number it was issued at.
pub fn check_sync_token(
    raw: &str,
    kind: Kind,
    epoch: u64,
    bound: &str,
    mailbox: &Mailbox,
    knobs: &Knobs,
) -> Result<u64, ApiError> {
    let cursor = Cursor::decode(raw, kind, epoch, bound, "syncToken")?;
    let age = mailbox.now().timestamp() - cursor.issued;
    if cursor.sync_epoch != mailbox.sync_epoch || age > knobs.sync_token_max_age_secs as i64 {
        return Err(ApiError::expired_sync_token(
            knobs.expired_sync_token_status,
        ));
    }
    Ok(cursor.after)
}
