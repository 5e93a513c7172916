//! Helpers of the test suites. Release code links only [`ports`], through the `contactsync`
//! binary's harness (the stack `contactsync bench` runs).
//!
//! [`poll`] waits with a deadline, so no test sleeps a fixed time; [`ports`] reserves loopback
//! ports for servers started in another process; [`spawn_app`] runs one
//! service's real `pipeline::App` on a fresh database and queue prefix of its own, against the
//! real RabbitMQ and PostgreSQL on 127.0.0.1, and removes both when stopped.

pub mod poll;
pub mod ports;

pub use poll::{eventually, next, poll_until, until};

#[cfg(feature = "app")]
mod app;
#[cfg(feature = "app")]
pub use app::{TEST_ADMIN_TOKEN, TEST_KEY, TestApp, spawn_app};
