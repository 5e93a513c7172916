//! A stateful emulator of the Salesforce REST API, for tests and the dev stack.
