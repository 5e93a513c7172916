//! The salesforce-fetcher service.
