//! What the sync services share beyond the broker and the database: relaying the outbox with its
//! trace context, starting sessions, and API clients per org.
//!
//! Services never call each other; this crate only bundles the calls every one of them makes on
//! the shared infrastructure.

mod clients;
mod relay;

pub use clients::{ClientError, OrgClients};
pub use relay::{publish_message, relay, route_for, start_session};
