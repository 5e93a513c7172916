//! Salesforce REST client for the contacts sync: JWT bearer login per user, SOQL query/queryAll,
//! Get Deleted, sObject Collections, list views, describe, API usage, and Outbound Message
//! parsing.
//!
//! Calls retry transient failures honouring `Retry-After` (capped) and log in again once on
//! 401 `INVALID_SESSION_ID`, through the shared `http-layer`. Errors say what to do next
//! through [`Disposition`] (the layer's). The wire
//! contract followed is `reference/salesforce-contract.md`.

mod client;
mod collections;
mod config;
mod describe;
mod error;
mod jwt;
mod listviews;
pub mod outbound;
mod query;
mod replication;
pub mod soql;
mod types;

pub use client::{ApiUsage, SalesforceClient, parse_limit_info};
pub use collections::{
    DeleteResult, Deleted, MAX_COLLECTION, RecordError, RecordFailure, SaveResult, Saved,
};
pub use config::{DEFAULT_AUDIENCE, SalesforceConfig};
pub use describe::{FieldDescribe, SObjectDescribe};
pub use error::{
    ApiError, Disposition, RestError, SalesforceError, TokenError, classify, classify_code,
    retry_after,
};
pub use jwt::JwtSigner;
pub use listviews::{ListView, ListViewDescribe, where_clause};
pub use query::{QueryPage, QueryStart};
pub use replication::{DELETED_MAX_AGE_DAYS, DeletedRecord, DeletedRecords, check_window};
pub use types::{BadRecordId, SYNC_KEY_FIELD, SfContact, SfContactWrite, SfStamp, parse_datetime};
