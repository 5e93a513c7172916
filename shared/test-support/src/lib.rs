//! Dev-only helpers of the test suites (a dev-dependency only: no release code links it).
//!
//! [`poll`] waits with a deadline, so no test sleeps a fixed time; [`spawn_app`] runs one
//! service's real `pipeline::App` on a fresh database and queue prefix of its own, against the
//! real RabbitMQ and PostgreSQL on 127.0.0.1, and removes both when stopped.

pub mod poll;

pub use poll::{eventually, next, poll_until, until};

#[cfg(feature = "app")]
mod app;
#[cfg(feature = "app")]
pub use app::{TEST_ADMIN_TOKEN, TEST_KEY, TestApp, spawn_app};
