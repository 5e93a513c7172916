//! End-to-end tests of the whole Contactsync stack against both emulators.
//!
//! The stack is `contactsync::harness` (the binary's composition root, which the bench uses
//! too): [`Stack::start`] runs both emulators and all seven services in the test process (or,
//! with [`Options::processes`], each service as replicas of its own process), each test with its
//! own database, queue prefix and ports, over the real RabbitMQ and PostgreSQL. Tests act as
//! users do: through Graph's and Salesforce's real APIs on the emulators (a user editing in
//! Outlook or in Salesforce) and through the admin API; they read final state through the
//! emulators' control API, which does not count as traffic. This crate adds the browser.

pub mod browser;

pub use browser::Browser;
pub use contactsync::harness::{ADMIN_TOKEN, Options, Processes, Stack, TestUser, processes};
pub use test_support::eventually;
