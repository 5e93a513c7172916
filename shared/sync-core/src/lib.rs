//! The pure sync decisions: canonical contacts, field mapping and reconcile.

pub mod fields;
