//! The one HTTP call layer of the API clients (Graph, Salesforce, and the clients to come): how a
//! call is sent, and after a failure retried or not, lives here once.
//!
//! - **Disposition.** Every failure is classified into a [`Disposition`] that says what the
//!   caller does next: retry, resync, drop the one item, re-authenticate, or stop. The client
//!   says how its API's answers map to one ([`Api::classify`], [`Api::disposition`]); this crate
//!   acts on it.
//! - **Retries.** Transport failures, and answers classified [`Disposition::Retry`], are retried
//!   up to [`RetryPolicy::max_retries`] times: after the server's `Retry-After` (seconds, possibly
//!   fractional, or an HTTP-date: [`retry_after`]) when it sent one, else after exponential
//!   backoff with jitter (`backon`). Every wait is capped at [`RetryPolicy::max_wait`], so a
//!   worker never parks for minutes on a server's say-so.
//! - **Idempotency.** A call that is not idempotent (a create) is resent only after failures that
//!   prove it never took effect: no connection, 429, 503. A timeout may have reached the server.
//! - **Re-auth.** An answer classified [`Disposition::ReAuth`] (a 401) drops the refused
//!   credential ([`Api::invalidate`]) and the call goes once more with a fresh one, without
//!   counting as a retry; a second refusal is returned to the caller.
//!
//! - **Login.** [`oauth::request_token`] is the OAuth 2.0 token endpoint's form POST, with the
//!   standard error body of a refusal read into [`oauth::TokenError`]; [`oauth::TokenSlot`]
//!   caches one bearer token, refreshes it before expiry and lets concurrent callers share one
//!   login.
//! - **Signed assertions.** [`jwt::RsaSigner`] signs the RS256 JWT of the JWT bearer grant
//!   (Salesforce's connected app, Google's service account) from a PEM RSA key.
//!
//! A client implements [`Api`] for a private type (how to get and drop its credential, how to
//! read its API's errors) and calls [`HttpLayer::send`] with a closure that builds the request
//! for a credential:
//!
//! ```text
//! let response = self.layer.send(&Auth(self), idempotent, |token| {
//!     Ok(self.layer.http().get(url.clone()).bearer_auth(token.expose_secret()))
//! }).await?;
//! ```
//!
//! The emulators never use this crate: they share nothing with the clients that call them, so a
//! misreading of an API cannot hide on both sides at once.

pub mod jwt;
mod layer;
pub mod oauth;
mod policy;
mod retry_after;

pub use layer::{Api, HttpLayer, Response};
pub use policy::{Backoff, RetryPolicy};
pub use retry_after::{retry_after, retry_after_at};
/// What to do next about a failure; defined in `sync-core`, so that the sync state's and the
/// services' errors answer in the same terms as the clients'.
pub use sync_core::Disposition;
