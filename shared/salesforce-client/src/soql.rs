//! SOQL literal helpers: quoted strings, LIKE patterns and datetimes that no input can break out of.

use chrono::{DateTime, SecondsFormat, Utc};

/// Escapes a value for inside a single-quoted SOQL string (backslash, quotes, control chars).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out
}

/// A quoted SOQL string literal: `'…'`.
pub fn quote(value: &str) -> String {
    format!("'{}'", escape(value))
}

/// A quoted LIKE pattern matching `value` literally as a substring: `%` and `_` inside the value
/// are escaped so they match themselves.
pub fn quote_like_contains(value: &str) -> String {
    let escaped = escape(value).replace('%', "\\%").replace('_', "\\_");
    format!("'%{escaped}%'")
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
    fn like_wildcards_in_the_value_match_themselves() {
        assert_eq!(quote_like_contains("100%_x"), r"'%100\%\_x%'");
        assert_eq!(quote_like_contains("O'Neil"), r"'%O\'Neil%'");
    }

    #[test]
    fn datetimes_are_utc_seconds() {
        let t = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123+02:00")
            .map(|t| t.to_utc())
            .ok();
        assert_eq!(t.map(datetime).as_deref(), Some("2024-05-06T05:08:09Z"));
    }
}
