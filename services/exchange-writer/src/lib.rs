//! The exchange-writer service.
