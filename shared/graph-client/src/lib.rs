//! Microsoft Graph client for the contacts sync: app-only token, folders and categories, contact
//! delta, `$batch` writes, subscriptions, and the webhook payload types.
//!
//! Every call sends `Prefer: IdType="ImmutableId"`, retries transient failures honouring
//! `Retry-After` (capped), and re-logs in once on 401, through the shared `http-layer`. Errors
//! say what to do next through [`Disposition`] (the layer's). The wire contract followed is `reference/graph-contract.md`.

mod app_token;
mod batch;
mod client;
mod config;
mod contacts;
mod copy;
mod delta;
mod error;
mod folders;
mod gate;
pub mod notifications;
mod subscriptions;
mod types;
mod writes;

pub use app_token::{CONTACTS_PERMISSION, roles as token_roles};
pub use batch::{ItemError, MAX_BATCH};
pub use client::GraphClient;
pub use config::GraphConfig;
pub use contacts::{category_filter, contact_select};
pub use copy::ContactCopy;
pub use delta::{DeltaItem, DeltaLink, DeltaNext, DeltaPage, DeltaRound, DeltaStart};
pub use error::{ApiError, Disposition, GraphError, TokenError, classify, retry_after};
pub use folders::MAX_FOLDERS;
pub use subscriptions::{NewSubscription, Subscription, SubscriptionResource};
pub use types::{
    Category, CategoryColor, ContactFolder, ExtendedProperty, GraphContact, SYNC_KEY_PROPERTY_ID,
};
pub use writes::{ContactPatch, ContactWrite, NewContact, WriteOutcome, WriteResult};
