//! What the sync services share beyond the broker and the database: relaying the outbox with its
//! trace context, starting sessions, API clients per org, and the wiring of a consuming service.
//!
//! Services never call each other; this crate only bundles the calls every one of them makes on
//! the shared infrastructure.

mod clients;
mod relay;
mod service;

pub use clients::{ClientError, OrgClients};
pub use relay::{publish_message, relay, route_for, start_session};
pub use service::{AppError, Ctx, ServiceApp, ServiceSettings};
