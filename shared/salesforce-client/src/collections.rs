//! sObject Collections (`/composite/sobjects`): create, update, upsert by external id and delete,
//! at most 200 records a call, `allOrNone=false`, one result per record in input order.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{debug, instrument};

use crate::client::{SalesforceClient, enc};
use crate::error::{Disposition, SalesforceError, classify_code};
use crate::types::{SYNC_KEY_FIELD, SfContactWrite};

/// Salesforce refuses collections of more than 200 records.
pub const MAX_COLLECTION: usize = 200;

/// One error of one record (collections use `statusCode`, not `errorCode`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    #[serde(default)]
    pub status_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// A record that was saved: its id, and for upserts whether it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub id: String,
    pub created: Option<bool>,
}

/// A delete that succeeded; `already_gone` when Salesforce said the record no longer exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub id: String,
    pub already_gone: bool,
}

/// Why one record was not saved or deleted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordFailure {
    /// Salesforce rejected this record (validation, duplicate, too long, lock…).
    #[error("record rejected: {errors:?}")]
    Rejected {
        id: Option<String>,
        errors: Vec<RecordError>,
        disposition: Disposition,
    },
    /// The call carrying this record failed as a whole (after its retries).
    #[error("collection request failed: {0}")]
    Request(Arc<SalesforceError>),
    /// The answer had no result at this record's position.
    #[error("collection response carried no result for this record")]
    Missing,
}

impl RecordFailure {
    pub fn disposition(&self) -> Disposition {
        match self {
            RecordFailure::Rejected { disposition, .. } => *disposition,
            RecordFailure::Request(e) => e.disposition(),
            RecordFailure::Missing => Disposition::Retry { after: None },
        }
    }

    /// The first error, for a per-item status (code, field, message; C7).
    pub fn first_error(&self) -> Option<&RecordError> {
        match self {
            RecordFailure::Rejected { errors, .. } => errors.first(),
            _ => None,
        }
    }
}

pub type SaveResult = Result<Saved, RecordFailure>;
pub type DeleteResult = Result<Deleted, RecordFailure>;

#[derive(Debug, Clone, Deserialize)]
struct WireResult {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<RecordError>,
    #[serde(default)]
    created: Option<bool>,
}

fn rejected(result: WireResult) -> RecordFailure {
    let disposition = result
        .errors
        .first()
        .and_then(|e| classify_code(&e.status_code))
        .unwrap_or(Disposition::PermanentItem);
    RecordFailure::Rejected {
        id: result.id,
        errors: result.errors,
        disposition,
    }
}

/// A record body: the caller's fields plus `attributes.type` (and `id` for updates).
fn record_body<T: Serialize>(
    sobject: &str,
    record: &T,
    id: Option<&str>,
) -> Result<Value, SalesforceError> {
    let mut value = serde_json::to_value(record).map_err(|source| SalesforceError::Decode {
        what: "record body",
        source,
    })?;
    let Value::Object(map) = &mut value else {
        return Err(SalesforceError::Config(
            "a record must serialize to an object".into(),
        ));
    };
    map.insert("attributes".into(), json!({ "type": sobject }));
    if let Some(id) = id {
        map.insert("id".into(), json!(id));
    }
    Ok(value)
}

/// What one collection call sends for a chunk of record indices.
struct ChunkCall {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl SalesforceClient {
    /// Runs the records at `indices` through collection calls of ≤ 200, retrying only records
    /// whose failure is transient (row locks) in later rounds. Results are placed by index.
    async fn run_collection(
        &self,
        indices: Vec<usize>,
        results: &mut [Option<Result<WireResult, RecordFailure>>],
        idempotent: bool,
        build: impl Fn(&[usize]) -> ChunkCall,
    ) {
        let mut pending = indices;
        let mut backoff = self.backoff();
        let mut round = 0;
        while !pending.is_empty() {
            let mut again = Vec::new();
            for chunk in pending.chunks(MAX_COLLECTION) {
                let call = build(chunk);
                let answer = self
                    .send(call.method, &call.path, call.body.as_ref(), &[], idempotent)
                    .await
                    .and_then(|reply| reply.json::<Vec<WireResult>>("collection results"));
                let answers = match answer {
                    Ok(answers) => answers,
                    Err(e) => {
                        let shared = Arc::new(e);
                        for &i in chunk {
                            results[i] = Some(Err(RecordFailure::Request(shared.clone())));
                        }
                        continue;
                    }
                };
                let mut answers = answers.into_iter();
                for &i in chunk {
                    let outcome = match answers.next() {
                        None => Err(RecordFailure::Missing),
                        Some(r) if r.success => Ok(r),
                        Some(r) => Err(rejected(r)),
                    };
                    if let Err(f @ RecordFailure::Rejected { .. }) = &outcome
                        && matches!(f.disposition(), Disposition::Retry { .. })
                        && round < self.max_retries()
                    {
                        again.push(i);
                    }
                    results[i] = Some(outcome);
                }
            }
            if again.is_empty() {
                break;
            }
            let pause: Duration = backoff.wait(None);
            debug!(
                records = again.len(),
                wait_ms = pause.as_millis() as u64,
                "Retrying records that hit a transient error"
            );
            tokio::time::sleep(pause).await;
            pending = again;
            round += 1;
        }
    }

    /// Sends prepared record bodies (a record whose body could not be built fails alone).
    async fn save_all(
        &self,
        method: Method,
        path: String,
        idempotent: bool,
        bodies: Vec<Result<Value, SalesforceError>>,
    ) -> Vec<SaveResult> {
        let mut results: Vec<Option<Result<WireResult, RecordFailure>>> = vec![None; bodies.len()];
        let mut values: Vec<Option<Value>> = Vec::with_capacity(bodies.len());
        let mut indices = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.into_iter().enumerate() {
            match body {
                Ok(value) => {
                    indices.push(i);
                    values.push(Some(value));
                }
                Err(e) => {
                    results[i] = Some(Err(RecordFailure::Request(Arc::new(e))));
                    values.push(None);
                }
            }
        }
        self.run_collection(indices, &mut results, idempotent, |chunk| {
            let records: Vec<&Value> = chunk.iter().filter_map(|&i| values[i].as_ref()).collect();
            ChunkCall {
                method: method.clone(),
                path: path.clone(),
                body: Some(json!({ "allOrNone": false, "records": records })),
            }
        })
        .await;
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Err(RecordFailure::Missing))
                    .and_then(|w| match w.id {
                        Some(id) => Ok(Saved {
                            id,
                            created: w.created,
                        }),
                        None => Err(RecordFailure::Missing),
                    })
            })
            .collect()
    }

    /// Creates records of `sobject`; a create is never resent after a failure that may have
    /// reached Salesforce (that could duplicate it), only after ones that provably did not.
    #[instrument(skip_all, fields(username = %self.username(), sobject = %sobject, records = records.len()))]
    pub async fn create<T: Serialize>(&self, sobject: &str, records: &[T]) -> Vec<SaveResult> {
        let path = format!("{}/composite/sobjects", self.data_root());
        let bodies = records
            .iter()
            .map(|r| record_body(sobject, r, None))
            .collect();
        self.save_all(Method::POST, path, false, bodies).await
    }

    /// Updates records by id; the body of each holds only the fields to write.
    #[instrument(skip_all, fields(username = %self.username(), sobject = %sobject, records = records.len()))]
    pub async fn update<T: Serialize>(
        &self,
        sobject: &str,
        records: &[(String, T)],
    ) -> Vec<SaveResult> {
        let path = format!("{}/composite/sobjects", self.data_root());
        let bodies = records
            .iter()
            .map(|(id, r)| record_body(sobject, r, Some(id)))
            .collect();
        self.save_all(Method::PATCH, path, true, bodies).await
    }

    /// Upserts records by the external-id field `external_id_field`, which each record carries;
    /// `created` tells which were new. Safe to resend: the key makes it idempotent (C4).
    #[instrument(skip_all, fields(username = %self.username(), sobject = %sobject, records = records.len()))]
    pub async fn upsert<T: Serialize>(
        &self,
        sobject: &str,
        external_id_field: &str,
        records: &[T],
    ) -> Vec<SaveResult> {
        let path = format!(
            "{}/composite/sobjects/{}/{}",
            self.data_root(),
            enc(sobject),
            enc(external_id_field)
        );
        let bodies = records
            .iter()
            .map(|r| record_body(sobject, r, None))
            .collect();
        self.save_all(Method::PATCH, path, true, bodies).await
    }

    /// Upserts Contacts by [`SYNC_KEY_FIELD`]; every record must carry its sync key.
    pub async fn upsert_contacts(&self, records: &[SfContactWrite]) -> Vec<SaveResult> {
        if let Some(i) = records.iter().position(|r| r.sync_key.is_none()) {
            let e = Arc::new(SalesforceError::Config(format!(
                "record {i} has no {SYNC_KEY_FIELD} to upsert by"
            )));
            return records
                .iter()
                .map(|_| Err(RecordFailure::Request(e.clone())))
                .collect();
        }
        self.upsert("Contact", SYNC_KEY_FIELD, records).await
    }

    /// Deletes records by id. A record that is already gone counts as deleted.
    #[instrument(skip_all, fields(username = %self.username(), records = ids.len()))]
    pub async fn delete(&self, ids: &[String]) -> Vec<DeleteResult> {
        let root = self.data_root();
        let mut results: Vec<Option<Result<WireResult, RecordFailure>>> = vec![None; ids.len()];
        self.run_collection((0..ids.len()).collect(), &mut results, true, |chunk| {
            let list: Vec<String> = chunk.iter().map(|&i| enc(&ids[i])).collect();
            ChunkCall {
                method: Method::DELETE,
                path: format!(
                    "{root}/composite/sobjects?ids={}&allOrNone=false",
                    list.join(",")
                ),
                body: None,
            }
        })
        .await;
        let results = results
            .into_iter()
            .map(|r| r.unwrap_or(Err(RecordFailure::Missing)));
        results
            .into_iter()
            .zip(ids)
            .map(|(result, id)| match result {
                Ok(_) => Ok(Deleted {
                    id: id.clone(),
                    already_gone: false,
                }),
                Err(RecordFailure::Rejected { errors, .. })
                    if errors.first().is_some_and(|e| {
                        matches!(
                            e.status_code.as_str(),
                            "ENTITY_IS_DELETED" | "NOT_FOUND" | "INVALID_CROSS_REFERENCE_KEY"
                        )
                    }) =>
                {
                    Ok(Deleted {
                        id: id.clone(),
                        already_gone: true,
                    })
                }
                Err(e) => Err(e),
            })
            .collect()
    }
}
