//! Account linking (B14): the SOQL that finds candidate Accounts for a company name, with the
//! escaping that keeps any name from changing the query, and the choice among the candidates.
//!
//! The writer runs the query (I/O); the decision stays here, pure and tested.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contact::normalize_text;
use crate::ids::AccountId;

/// Account `Name` is at most 255 characters: a longer company matches nothing.
const ACCOUNT_NAME_MAX: usize = 255;

/// One row of the candidate query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountCandidate {
    pub id: AccountId,
    pub name: String,
    pub created_date: DateTime<Utc>,
}

/// Escapes a value for a SOQL single-quoted string literal: the quoted-string escapes of the SOQL
/// reference (`\'`, `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`), and `\uXXXX` for any other control
/// character so nothing unprintable reaches the query.
pub fn escape_soql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
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
            c if c.is_control() => {
                // Characters above the BMP are never control characters, so 4 hex digits suffice.
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value for the inside of a `LIKE` pattern: `%` and `_` become literal (`\%`, `\_`),
/// then the string-literal escapes apply. (`\%`/`\_` are only legal inside LIKE, so the exact
/// `=` form uses [`escape_soql_string`] alone.)
pub fn escape_soql_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '%' => out.push_str("\\%"),
            '_' => out.push_str("\\_"),
            c => out.push_str(&escape_soql_string(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

/// The company as account linking compares it: trimmed, `None` when empty (no Account, B14).
fn company_key(company: &str) -> Option<String> {
    normalize_text(Some(company)).filter(|c| c.chars().count() <= ACCOUNT_NAME_MAX)
}

/// The candidate query for B14: exact-name and contains matches in one round trip, oldest first.
/// `None` for an empty (or impossibly long) company: no Account, no query.
pub fn account_lookup_soql(company: &str) -> Option<String> {
    let company = company_key(company)?;
    Some(format!(
        "SELECT Id, Name, CreatedDate FROM Account WHERE Name = '{}' OR Name LIKE '%{}%' \
         ORDER BY CreatedDate ASC, Id ASC",
        escape_soql_string(&company),
        escape_soql_like(&company),
    ))
}

/// Salesforce text equality for names: case-insensitive.
fn same_text(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// B14's three steps over the candidates: (1) exact name match (case-insensitive, as Salesforce's
/// `=`), the earliest `CreatedDate` if several; (2) else exactly one Account whose name contains
/// the company; (3) else none.
pub fn choose_account(company: &str, candidates: &[AccountCandidate]) -> Option<AccountId> {
    let company = company_key(company)?;
    let exact = candidates
        .iter()
        .filter(|c| same_text(c.name.trim(), &company))
        .min_by(|a, b| {
            a.created_date
                .cmp(&b.created_date)
                .then_with(|| a.id.cmp(&b.id))
        });
    if let Some(found) = exact {
        return Some(found.id.clone());
    }
    let needle = company.to_lowercase();
    let mut containing = candidates
        .iter()
        .filter(|c| c.name.to_lowercase().contains(&needle));
    match (containing.next(), containing.next()) {
        (Some(only), None) => Some(only.id.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, name: &str, created: &str) -> AccountCandidate {
        AccountCandidate {
            id: AccountId::try_from(id).expect("test id"),
            name: name.to_owned(),
            created_date: created.parse().expect("test date"),
        }
    }

    #[test]
    fn b14_exact_match_wins_and_the_earliest_of_several() {
        let c = [
            candidate("001000000000002AAA", "Acme", "2020-01-02T00:00:00Z"),
            candidate("001000000000001AAA", "ACME", "2020-01-01T00:00:00Z"),
            candidate("001000000000003AAA", "Acme Corp", "2019-01-01T00:00:00Z"),
        ];
        assert_eq!(
            choose_account("acme", &c).map(String::from),
            Some("001000000000001AAA".to_owned())
        );
    }

    #[test]
    fn b14_a_single_substring_match_links_several_link_nothing() {
        let one = [candidate(
            "001000000000003AAA",
            "The Acme Corp",
            "2019-01-01T00:00:00Z",
        )];
        assert_eq!(
            choose_account("Acme", &one).map(String::from),
            Some("001000000000003AAA".to_owned())
        );
        let two = [
            one[0].clone(),
            candidate("001000000000004AAA", "Acme Ltd", "2019-01-01T00:00:00Z"),
        ];
        assert_eq!(choose_account("Acme", &two), None);
        assert_eq!(choose_account("Zeta", &two), None);
    }

    #[test]
    fn b14_empty_company_links_no_account_and_runs_no_query() {
        assert_eq!(account_lookup_soql("   "), None);
        assert_eq!(choose_account("", &[]), None);
    }

    #[test]
    fn b14_query_escapes_quotes_backslashes_and_like_wildcards() {
        let q = account_lookup_soql("Bob's 100%_\\ Co").expect("query");
        assert_eq!(
            q,
            "SELECT Id, Name, CreatedDate FROM Account WHERE Name = 'Bob\\'s 100%_\\\\ Co' \
             OR Name LIKE '%Bob\\'s 100\\%\\_\\\\ Co%' ORDER BY CreatedDate ASC, Id ASC"
        );
        assert_eq!(escape_soql_string("a\nb\u{1}"), "a\\nb\\u0001");
    }
}
