//! Versioned message contracts carried over RabbitMQ between Contactsync services.
//!
//! Every message is one variant of [`Message`], tagged by `schema` (`contactsync.<kind>.v<N>`), and
//! carries a [`Header`]: `message_id` is the idempotency key, `job_id` the sync session it belongs
//! to. A new version of a message is a new variant; consumers accept old and new during a rollout.
//! Golden JSON fixtures under `tests/golden/` pin the wire shape.

mod changes;
mod failure;
mod header;
mod job;
mod writes;

pub use changes::{ChangeBatch, SideRead};
pub use failure::{Failure, FailureCode};
pub use header::Header;
pub use job::{SyncJob, Trigger};
pub use writes::{Commands, WriteBatch, WriteResults};

use serde::{Deserialize, Serialize};

/// Every message on the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "schema")]
pub enum Message {
    /// Start a session: both fetchers read their side.
    #[serde(rename = "contactsync.sync_job.v1")]
    SyncJob(SyncJob),
    /// One side's read of a session, for the reconciler. `v2`: `failure` is `{code, message}`;
    /// a `v1` message (failure as text) still decodes.
    #[serde(
        rename = "contactsync.change_batch.v2",
        alias = "contactsync.change_batch.v1"
    )]
    ChangeBatch(ChangeBatch),
    /// Writes for one side's writer.
    #[serde(rename = "contactsync.write_batch.v1")]
    WriteBatch(WriteBatch),
    /// A writer's results, for the reconciler. `v2`: `failure` is `{code, message}`; a `v1`
    /// message (failure as text) still decodes.
    #[serde(
        rename = "contactsync.write_results.v2",
        alias = "contactsync.write_results.v1"
    )]
    WriteResults(WriteResults),
}

impl Message {
    /// The header every message carries.
    pub fn header(&self) -> &Header {
        match self {
            Message::SyncJob(m) => &m.header,
            Message::ChangeBatch(m) => &m.header,
            Message::WriteBatch(m) => &m.header,
            Message::WriteResults(m) => &m.header,
        }
    }

    /// The schema tag, for logs and AMQP's `type` property.
    pub fn schema(&self) -> &'static str {
        match self {
            Message::SyncJob(_) => "contactsync.sync_job.v1",
            Message::ChangeBatch(_) => "contactsync.change_batch.v2",
            Message::WriteBatch(_) => "contactsync.write_batch.v1",
            Message::WriteResults(_) => "contactsync.write_results.v2",
        }
    }
}
