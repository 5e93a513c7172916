//! The reconciler service.
