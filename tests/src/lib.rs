//! End-to-end tests of the whole Contactsync stack against both emulators.
