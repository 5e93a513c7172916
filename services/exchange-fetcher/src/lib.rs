//! The exchange-fetcher service.
