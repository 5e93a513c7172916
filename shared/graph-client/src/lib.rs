//! A Microsoft Graph client for the contacts a sync needs.
