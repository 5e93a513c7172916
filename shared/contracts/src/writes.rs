//! Write batches (reconciler → writers) and their results (writers → reconciler).

use serde::{Deserialize, Serialize};
use sync_core::{ExchangeCommand, SalesforceCommand, WriteResult};

use crate::{Failure, Header};

/// The commands of one batch, for one side's writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "side", content = "commands")]
pub enum Commands {
    Exchange(Vec<ExchangeCommand>),
    Salesforce(Vec<SalesforceCommand>),
}

impl Commands {
    pub fn len(&self) -> usize {
        match self {
            Commands::Exchange(c) => c.len(),
            Commands::Salesforce(c) => c.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A batch of writes for one side of one session. `batch` numbers the session's batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBatch {
    #[serde(flatten)]
    pub header: Header,
    pub batch: u32,
    pub commands: Commands,
}

/// What a writer did with one batch: a terminal result per command, or `failure` when the batch
/// could not be carried out (the service unreachable after retries); the session then fails and
/// its cursors stay put, so the same changes come again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResults {
    #[serde(flatten)]
    pub header: Header,
    pub batch: u32,
    pub results: Vec<WriteResult>,
    #[serde(default)]
    pub failure: Option<Failure>,
}
