//! The salesforce-writer service.
