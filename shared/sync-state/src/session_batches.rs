//! A writing session's decisions and its writers' results, one row per write batch (issue 12):
//! each row is bounded by its batch, whatever the session's size, and a batch's results are
//! written once into its own row instead of being appended to one ever-growing value.

use serde_json::Value;
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::StateError;

/// Rows inserted per statement: keeps one statement's parameters to a few megabytes.
const ROWS_PER_INSERT: usize = 50;

/// Which writer carries out a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSide {
    Exchange,
    Salesforce,
}

impl BatchSide {
    /// The side as the `side` column stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchSide::Exchange => "exchange",
            BatchSide::Salesforce => "salesforce",
        }
    }

    fn parse(stored: &str) -> Result<Self, StateError> {
        match stored {
            "exchange" => Ok(BatchSide::Exchange),
            "salesforce" => Ok(BatchSide::Salesforce),
            other => Err(StateError::Invalid(format!("stored batch side {other:?}"))),
        }
    }
}

/// One write batch's part of a session's decisions, as the reconciler stores it (opaque JSON
/// owned by the reconciler). A session's batches are numbered by their position.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDecisions {
    pub side: BatchSide,
    pub decisions: Value,
}

/// A batch as stored: its decisions and, once its writer reported, its results.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBatch {
    pub batch: i32,
    pub side: BatchSide,
    pub decisions: Value,
    pub results: Option<Value>,
}

/// Stores a session's batches, numbered 0, 1, … in the order given.
pub(crate) async fn store(
    tx: &Transaction<'_>,
    job_id: Uuid,
    batches: &[BatchDecisions],
) -> Result<(), StateError> {
    let statement = tx
        .prepare(
            "INSERT INTO session_batches (job_id, batch, side, decisions)
             SELECT $1, b.batch, b.side, b.decisions
             FROM UNNEST($2::integer[], $3::text[], $4::jsonb[]) AS b (batch, side, decisions)",
        )
        .await?;
    for (chunk_index, chunk) in batches.chunks(ROWS_PER_INSERT).enumerate() {
        let first = chunk_index * ROWS_PER_INSERT;
        let numbers = (first..first + chunk.len())
            .map(|n| {
                i32::try_from(n)
                    .map_err(|_| StateError::Invalid(format!("{n} write batches in one session")))
            })
            .collect::<Result<Vec<i32>, _>>()?;
        let sides: Vec<&str> = chunk.iter().map(|b| b.side.as_str()).collect();
        let decisions: Vec<&Value> = chunk.iter().map(|b| &b.decisions).collect();
        tx.execute(&statement, &[&job_id, &numbers, &sides, &decisions])
            .await?;
    }
    Ok(())
}

/// Writes a batch's results into its row; false when the row already has results (a repeated
/// result, which must not count again) or the session has no such batch.
pub(crate) async fn record_results(
    tx: &Transaction<'_>,
    job_id: Uuid,
    batch: i32,
    results: &Value,
) -> Result<bool, StateError> {
    let n = tx
        .execute(
            "UPDATE session_batches SET results = $3
             WHERE job_id = $1 AND batch = $2 AND results IS NULL",
            &[&job_id, &batch, results],
        )
        .await?;
    Ok(n == 1)
}

/// Every batch of a session, in batch order.
pub async fn load(tx: &Transaction<'_>, job_id: Uuid) -> Result<Vec<StoredBatch>, StateError> {
    let rows = tx
        .query(
            "SELECT batch, side, decisions, results FROM session_batches
             WHERE job_id = $1 ORDER BY batch",
            &[&job_id],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredBatch {
                batch: r.get(0),
                side: BatchSide::parse(r.get(1))?,
                decisions: r.get(2),
                results: r.get(3),
            })
        })
        .collect()
}

/// Forgets the batches of sessions that finished or were given up.
pub(crate) async fn forget(tx: &Transaction<'_>, job_ids: &[Uuid]) -> Result<(), StateError> {
    tx.execute(
        "DELETE FROM session_batches WHERE job_id = ANY($1)",
        &[&job_ids],
    )
    .await?;
    Ok(())
}
