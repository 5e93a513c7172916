//! Versioned message contracts carried over RabbitMQ between Contactsync services.
//!
//! Every message is one variant of [`Message`], tagged by `schema` (`contactsync.<kind>.v<N>`), and
//! carries a [`Header`]: `message_id` is the idempotency key, `job_id` the sync session it belongs
//! to. A new version of a message is a new variant; consumers accept old and new during a rollout.
//! Golden JSON fixtures under `tests/golden/` pin the wire shape.

mod header;
mod job;

pub use header::Header;
pub use job::{SyncJob, Trigger};

use serde::{Deserialize, Serialize};

/// Every message on the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "schema")]
pub enum Message {
    /// Start a session: both fetchers read their side.
    #[serde(rename = "contactsync.sync_job.v1")]
    SyncJob(SyncJob),
}

impl Message {
    /// The header every message carries.
    pub fn header(&self) -> &Header {
        match self {
            Message::SyncJob(m) => &m.header,
        }
    }

    /// The schema tag, for logs and AMQP's `type` property.
    pub fn schema(&self) -> &'static str {
        match self {
            Message::SyncJob(_) => "contactsync.sync_job.v1",
        }
    }
}
