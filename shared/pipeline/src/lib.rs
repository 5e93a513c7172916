//! What the sync services share beyond the broker and the database: relaying the outbox with its
//! trace context, starting sessions, API clients per org and their onboarding check, the wiring
//! of a service (`Service`, `App`) and the two worker shapes (`Fetcher`, `Writer`).
//!
//! Services never call each other; this crate only bundles the calls every one of them makes on
//! the shared infrastructure.

mod clients;
pub mod notification_url;
pub mod org_check;
mod relay;
mod service;
mod worker;

pub use clients::{ClientError, OrgClients};
pub use relay::{publish_message, relay, route_for, start_notified_session, start_session};
pub use service::{
    ApiSettings, App, AppError, Clients, Ctx, Service, ServiceSettings, consume_queues,
};
pub use service_kit::Tasks;
pub use worker::{Attempt, Executed, Fetcher, Unavailable, Writer, fetch, write};
