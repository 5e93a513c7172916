//! Account linking (B14) for a whole batch: the distinct companies of its creates and relinks
//! are looked up together, in as few SOQL queries as fit a request, and each one's Account is
//! then chosen by the sync core's `choose_account`.
//!
//! One query for many companies is safe because `choose_account` filters the candidates itself
//! (exact name, else names containing the company): the union of several companies' candidates
//! holds each one's own candidates, and the others are filtered out.

use std::collections::BTreeMap;

use serde::Deserialize;
use sync_core::account::{escape_soql_like, escape_soql_string};
use sync_core::contact::normalize_text;
use sync_core::{AccountCandidate, AccountId, account_lookup_soql, choose_account};

/// Longest SOQL text one lookup query carries. Queries go in the URL of a GET, which Salesforce
/// caps at 16,384 characters; percent-encoding can triple a name's length, so stay well under.
pub const MAX_QUERY_CHARS: usize = 4_000;

const SELECT: &str = "SELECT Id, Name, CreatedDate FROM Account WHERE ";
const ORDER: &str = " ORDER BY CreatedDate ASC, Id ASC";

/// The company as account linking compares it, or `None` when it links no Account (empty, or
/// longer than any Account name).
pub fn company_key(company: Option<&str>) -> Option<String> {
    let company = company?;
    account_lookup_soql(company)?;
    normalize_text(Some(company))
}

/// The candidate queries for `companies` (already keys, see [`company_key`]): each company's
/// exact and contains conditions OR-ed together, as many companies a query as fit
/// [`MAX_QUERY_CHARS`]. One company gives exactly `sync_core::account_lookup_soql`'s query.
pub fn lookup_queries(companies: &[String]) -> Vec<String> {
    let mut queries = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let mut length = SELECT.len() + ORDER.len();
    for company in companies {
        let condition = format!(
            "Name = '{}' OR Name LIKE '%{}%'",
            escape_soql_string(company),
            escape_soql_like(company)
        );
        if !conditions.is_empty() && length + condition.len() + 4 > MAX_QUERY_CHARS {
            queries.push(query(&conditions));
            conditions.clear();
            length = SELECT.len() + ORDER.len();
        }
        length += condition.len() + 4;
        conditions.push(condition);
    }
    if !conditions.is_empty() {
        queries.push(query(&conditions));
    }
    queries
}

fn query(conditions: &[String]) -> String {
    format!("{SELECT}{}{ORDER}", conditions.join(" OR "))
}

/// One row of the candidate query as the REST API returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountRow {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "CreatedDate", default)]
    pub created_date: Option<String>,
}

impl AccountRow {
    /// The candidate, when the row is well formed (a row that is not cannot be chosen).
    pub fn candidate(self) -> Option<AccountCandidate> {
        Some(AccountCandidate {
            id: AccountId::try_from(self.id).ok()?,
            name: self.name?,
            created_date: salesforce_client::parse_datetime(self.created_date.as_deref()?)?,
        })
    }
}

/// The Account chosen for each company: its id and its `Name` (what the link records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chosen {
    by_company: BTreeMap<String, Option<(AccountId, String)>>,
}

impl Chosen {
    /// B14 over `candidates` for each of `companies`.
    pub fn choose(companies: &[String], candidates: &[AccountCandidate]) -> Chosen {
        let by_company = companies
            .iter()
            .map(|company| {
                let picked = choose_account(company, candidates).and_then(|id| {
                    let name = candidates.iter().find(|c| c.id == id)?.name.clone();
                    Some((id, name))
                });
                (company.to_lowercase(), picked)
            })
            .collect();
        Chosen { by_company }
    }

    /// The Account for a company (`None`: no Account; also for an empty company).
    pub fn account(&self, company: Option<&str>) -> Option<&(AccountId, String)> {
        // Salesforce compares names case-insensitively, so "ACME" and "Acme" share an Account.
        let key = company_key(company)?.to_lowercase();
        self.by_company.get(&key)?.as_ref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn candidate(id: &str, name: &str, created: &str) -> AccountCandidate {
        AccountCandidate {
            id: AccountId::try_from(id).unwrap(),
            name: name.to_owned(),
            created_date: created.parse().unwrap(),
        }
    }

    #[test]
    fn b14_one_company_gives_exactly_the_sync_core_query() {
        let key = company_key(Some("  Bob's 100%_\\ Co ")).unwrap();
        assert_eq!(
            lookup_queries(std::slice::from_ref(&key)),
            vec![account_lookup_soql("Bob's 100%_\\ Co").unwrap()]
        );
    }

    #[test]
    fn b14_many_companies_share_queries_that_stay_under_the_limit() {
        let companies: Vec<String> = (0..300).map(|i| format!("Company {i:03}")).collect();
        let queries = lookup_queries(&companies);
        assert!(queries.len() > 1 && queries.len() < 20, "{}", queries.len());
        for q in &queries {
            assert!(q.len() <= MAX_QUERY_CHARS, "{}", q.len());
            assert!(q.starts_with(SELECT) && q.ends_with(ORDER));
        }
        for company in &companies {
            let needle = format!("Name = '{company}' OR Name LIKE '%{company}%'");
            assert_eq!(queries.iter().filter(|q| q.contains(&needle)).count(), 1);
        }
        assert!(lookup_queries(&[]).is_empty());
    }

    #[test]
    fn b14_empty_and_overlong_companies_link_nothing_and_are_not_queried() {
        assert_eq!(company_key(None), None);
        assert_eq!(company_key(Some("   ")), None);
        assert_eq!(company_key(Some(&"x".repeat(256))), None);
        assert_eq!(company_key(Some(" Acme ")).as_deref(), Some("Acme"));
    }

    #[test]
    fn b14_choices_from_a_shared_query_match_each_company_alone() {
        let candidates = [
            candidate("001000000000001AAA", "Acme", "2020-01-02T00:00:00Z"),
            candidate("001000000000002AAA", "acme", "2020-01-01T00:00:00Z"),
            candidate(
                "001000000000003AAA",
                "Globex Corporation",
                "2019-01-01T00:00:00Z",
            ),
            candidate("001000000000004AAA", "Initech East", "2019-01-01T00:00:00Z"),
            candidate("001000000000005AAA", "Initech West", "2019-01-01T00:00:00Z"),
        ];
        let companies: Vec<String> = ["Acme", "Globex", "Initech", "Umbrella"]
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let chosen = Chosen::choose(&companies, &candidates);
        let id = |company: &str| chosen.account(Some(company)).map(|(id, _)| id.to_string());
        // Exact match, the earliest of several, whatever the case.
        assert_eq!(id(" acme "), Some("001000000000002AAA".into()));
        assert_eq!(
            chosen.account(Some("Acme")).map(|(_, n)| n.as_str()),
            Some("acme")
        );
        // A single contains match links; two link nothing; none links nothing.
        assert_eq!(id("Globex"), Some("001000000000003AAA".into()));
        assert_eq!(id("Initech"), None);
        assert_eq!(id("Umbrella"), None);
        assert_eq!(id(""), None);
    }

    #[test]
    fn a_malformed_account_row_is_never_a_candidate() {
        let row = |id: &str, date: Option<&str>| AccountRow {
            id: id.to_owned(),
            name: Some("Acme".into()),
            created_date: date.map(str::to_owned),
        };
        assert!(
            row("001000000000001AAA", Some("2011-07-07T00:37:00.000+0000"))
                .candidate()
                .is_some()
        );
        assert!(row("001000000000001AAA", None).candidate().is_none());
        assert!(
            row("not an id", Some("2011-07-07T00:37:00.000+0000"))
                .candidate()
                .is_none()
        );
    }
}
