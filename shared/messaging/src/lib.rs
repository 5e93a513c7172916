//! RabbitMQ connection, topology, confirmed publishing and the consumer loop.
