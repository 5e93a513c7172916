//! SOQL `query` / `queryAll` with paging over `nextRecordsUrl`, generic over the record type.

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::{debug, instrument};

use crate::client::{SalesforceClient, enc};
use crate::error::SalesforceError;

/// One batch of query results.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage<T> {
    /// The full result count, the same on every page.
    #[serde(default)]
    pub total_size: u64,
    pub done: bool,
    /// Present while `done` is false: pass it back as [`QueryStart::Next`].
    #[serde(default)]
    pub next_records_url: Option<String>,
    #[serde(bound(deserialize = "T: DeserializeOwned"))]
    pub records: Vec<T>,
}

/// How to ask for a query page.
#[derive(Debug, Clone, Copy)]
pub enum QueryStart<'a> {
    /// `/query`: live records only.
    Query(&'a str),
    /// `/queryAll`: also deleted (Recycle Bin, `IsDeleted = true`) and archived records.
    QueryAll(&'a str),
    /// A `nextRecordsUrl` of an earlier page.
    Next(&'a str),
}

impl SalesforceClient {
    /// One page, with `Sforce-Query-Options: batchSize` from the configuration.
    #[instrument(skip_all, fields(username = %self.username()))]
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        start: QueryStart<'_>,
    ) -> Result<QueryPage<T>, SalesforceError> {
        let path = match start {
            QueryStart::Query(soql) => format!("{}/query?q={}", self.data_root(), enc(soql)),
            QueryStart::QueryAll(soql) => format!("{}/queryAll?q={}", self.data_root(), enc(soql)),
            // The locator is a path on the same instance; anything else is refused by `send`.
            QueryStart::Next(next) => next.to_owned(),
        };
        let options = [(
            "Sforce-Query-Options",
            format!("batchSize={}", self.query_batch_size()),
        )];
        self.send(Method::GET, &path, None, &options, true)
            .await?
            .json("query page")
    }

    /// Runs `soql` and collects every page.
    #[instrument(skip_all, fields(username = %self.username()))]
    pub async fn query<T: DeserializeOwned>(&self, soql: &str) -> Result<Vec<T>, SalesforceError> {
        self.collect(QueryStart::Query(soql)).await
    }

    /// Runs `soql` through `queryAll` (deleted rows included) and collects every page.
    #[instrument(skip_all, fields(username = %self.username()))]
    pub async fn query_all<T: DeserializeOwned>(
        &self,
        soql: &str,
    ) -> Result<Vec<T>, SalesforceError> {
        self.collect(QueryStart::QueryAll(soql)).await
    }

    async fn collect<T: DeserializeOwned>(
        &self,
        start: QueryStart<'_>,
    ) -> Result<Vec<T>, SalesforceError> {
        let mut page: QueryPage<T> = self.query_page(start).await?;
        let mut records = std::mem::take(&mut page.records);
        let mut pages = 1usize;
        while !page.done {
            // `done: false` promises more rows; without a locator to fetch them the answer is
            // incomplete, and taking it as whole would lose rows silently.
            let Some(next) = page.next_records_url.take() else {
                return Err(SalesforceError::IncompleteQuery {
                    received: records.len(),
                    total: page.total_size,
                });
            };
            page = self.query_page(QueryStart::Next(&next)).await?;
            records.append(&mut page.records);
            pages += 1;
        }
        debug!(pages, records = records.len(), "Query complete");
        Ok(records)
    }
}
