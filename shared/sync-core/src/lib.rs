//! The pure sync decisions: canonical contacts, field mapping and reconcile.
