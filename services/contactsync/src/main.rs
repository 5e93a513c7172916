//! The one Contactsync binary: a subcommand per service, the emulators, migrations and `dev`.
fn main() {}
