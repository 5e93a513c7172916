//! Versioned message contracts carried over RabbitMQ between Contactsync services.
