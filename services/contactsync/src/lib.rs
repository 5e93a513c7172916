//! The composition root of Contactsync, shared by the binary and the end-to-end suite.
//!
//! [`compose`] is the one builder of the services: a service subcommand, `contactsync dev`, the
//! bench and the end-to-end suite all start services through it. [`emulators`] starts the Graph,
//! Salesforce and Gmail (People API) emulators; [`harness`] is the whole stack on a fresh database
//! and queue prefix with the acts of an operator and of users, used by the end-to-end suite
//! (`tests/`) and by the pipeline scenarios of `contactsync bench`. Of the test crates, only
//! `test-support`'s port reservations are linked (the harness's services as processes).

pub mod compose;
pub mod emulators;
pub mod harness;
