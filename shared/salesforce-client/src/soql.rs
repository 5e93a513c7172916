//! SOQL literal helpers: quoted strings and datetimes that no input can break out of.

use chrono::{DateTime, SecondsFormat, Utc};

/// A quoted SOQL string literal, `'…'`, that no value can break out of. The escaping is the sync
/// core's (one for the whole project), whose fuzz test proves no value changes a query's
/// structure.
pub fn quote(value: &str) -> String {
    format!("'{}'", sync_core::account::escape_soql_string(value))
}

/// An unquoted SOQL datetime literal in UTC, e.g. `2024-01-31T00:00:00Z`.
pub fn datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_cannot_end_the_literal() {
        assert_eq!(quote("Bob's BBQ"), r"'Bob\'s BBQ'");
        assert_eq!(quote(r"a\' OR Name != '"), r"'a\\\' OR Name != \''");
        assert_eq!(quote("line\nbreak"), r"'line\nbreak'");
    }

    #[test]
    fn datetimes_are_utc_seconds() {
        let t = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123+02:00")
            .map(|t| t.to_utc())
            .ok();
        assert_eq!(t.map(datetime).as_deref(), Some("2024-05-06T05:08:09Z"));
    }
}
