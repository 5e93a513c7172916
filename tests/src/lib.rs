//! End-to-end tests of the whole Contactsync stack against the emulators, each rule test for
//! Exchange and Gmail users alike ([`both_providers!`], G1).
//!
//! The stack is `contactsync::harness` (the binary's composition root, which the bench uses
//! too): [`Stack::start`] runs both emulators and all seven services in the test process (or,
//! with [`Options::processes`], each service as replicas of its own process), each test with its
//! own database, queue prefix and ports, over the real RabbitMQ and PostgreSQL. Tests act as
//! users do: through the mailbox's (Graph's or the People API's) and Salesforce's real APIs on the
//! emulators (a user editing in Outlook, Google Contacts or Salesforce) and through the admin
//! API; they read final state through the emulators' control API (Graph, Salesforce) or the
//! People API. This crate adds the browser.

pub mod browser;

pub use browser::Browser;
pub use contactsync::both_providers;
pub use contactsync::harness::{
    ADMIN_TOKEN, Options, Processes, Provider, Stack, TestUser, processes,
};
pub use test_support::eventually;
