//! A Salesforce REST client for the Contacts a sync needs.
