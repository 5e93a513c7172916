//! A stateful emulator of the Microsoft Graph contacts API, for tests and the dev stack.
