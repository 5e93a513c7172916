//! PostgreSQL pool and the schema migrations of Contactsync.
