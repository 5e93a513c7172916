//! The header every message carries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identity of a message and the session it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Idempotency key: a redelivered or republished copy carries the same id.
    pub message_id: String,
    /// The sync session (job) this message belongs to.
    pub job_id: Uuid,
    pub user_id: String,
    pub occurred_at: DateTime<Utc>,
}

impl Header {
    /// A header whose message id is derived from the job and a purpose, so that deciding the same
    /// thing twice yields the same id (and the outbox/consumers drop the repeat).
    pub fn derived(job_id: Uuid, user_id: &str, purpose: &str, occurred_at: DateTime<Utc>) -> Self {
        Header {
            message_id: format!("{job_id}:{purpose}"),
            job_id,
            user_id: user_id.to_owned(),
            occurred_at,
        }
    }
}
