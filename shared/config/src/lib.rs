//! Typed settings for every service, read from environment variables.
