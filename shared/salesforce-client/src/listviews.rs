//! Contact list views: list them, and describe one to get its SOQL (the fetcher uses its WHERE).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use sync_core::SalesforceId;
use tracing::instrument;

use crate::client::{SalesforceClient, enc};
use crate::error::SalesforceError;

/// One entry of `GET /sobjects/{type}/listviews`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListView {
    /// 18 characters here; parsed so it compares with the stored setting (B15).
    pub id: SalesforceId,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub developer_name: Option<String>,
    #[serde(default)]
    pub soql_compatible: Option<bool>,
}

#[derive(Deserialize)]
struct ListViews {
    #[serde(default)]
    listviews: Vec<ListView>,
}

/// The describe of one list view; `query` is the SOQL the view runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListViewDescribe {
    /// 15 characters in Salesforce's answer (the list endpoint gives 18); parsed into the
    /// 18-character form (B15), so it equals the listed id.
    pub id: SalesforceId,
    pub query: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub sobject_type: Option<String>,
    #[serde(default)]
    pub where_condition: Option<serde_json::Value>,
}

impl ListViewDescribe {
    /// The view's filter: the text between its top-level `WHERE` and the following
    /// `ORDER BY`/`LIMIT`/`OFFSET`/`GROUP BY`, or `None` for a view without one.
    pub fn where_clause(&self) -> Option<&str> {
        where_clause(&self.query)
    }

    /// Whether the view is limited to the running user's records (`USING SCOPE mine`).
    pub fn is_mine_scope(&self) -> bool {
        self.scope.as_deref() == Some("mine")
            || top_level_keywords(&self.query)
                .iter()
                .any(|(_, k)| *k == "USING SCOPE MINE")
    }
}

const KEYWORDS: [&str; 6] = [
    "WHERE",
    "ORDER BY",
    "LIMIT",
    "OFFSET",
    "GROUP BY",
    "USING SCOPE MINE",
];

/// Positions of the clause keywords that sit outside string literals and parentheses.
fn top_level_keywords(soql: &str) -> Vec<(usize, &'static str)> {
    let bytes = soql.as_bytes();
    let upper = soql.to_ascii_uppercase();
    let mut found = Vec::new();
    let (mut depth, mut in_string, mut i) = (0i32, false, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'\'' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'\'' => in_string = true,
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ if depth == 0 && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                    for k in KEYWORDS {
                        let end = i + k.len();
                        let boundary = bytes.get(end).is_none_or(|c| c.is_ascii_whitespace());
                        if upper.get(i..end) == Some(k) && boundary {
                            found.push((i, k));
                        }
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    found
}

/// The top-level WHERE condition of a SOQL statement.
pub fn where_clause(soql: &str) -> Option<&str> {
    let keywords = top_level_keywords(soql);
    let start = keywords
        .iter()
        .find(|(_, k)| *k == "WHERE")
        .map(|(i, k)| i + k.len())?;
    let end = keywords
        .iter()
        .find(|(i, k)| *i > start && *k != "WHERE" && *k != "USING SCOPE MINE")
        .map_or(soql.len(), |(i, _)| *i);
    let clause = soql.get(start..end)?.trim();
    (!clause.is_empty()).then_some(clause)
}

impl SalesforceClient {
    /// The list views of `sobject` (e.g. `Contact`) the user can see.
    #[instrument(skip_all, fields(username = %self.username(), sobject = %sobject))]
    pub async fn list_views(&self, sobject: &str) -> Result<Vec<ListView>, SalesforceError> {
        let path = format!("{}/sobjects/{}/listviews", self.data_root(), enc(sobject));
        let views: ListViews = self
            .send(Method::GET, &path, None, &[], true)
            .await?
            .json("list views")?;
        Ok(views.listviews)
    }

    /// Describes one list view (its SOQL `query`, scope, filter).
    #[instrument(skip_all, fields(username = %self.username(), sobject = %sobject, list_view_id = %id))]
    pub async fn describe_list_view(
        &self,
        sobject: &str,
        id: &SalesforceId,
    ) -> Result<ListViewDescribe, SalesforceError> {
        let path = format!(
            "{}/sobjects/{}/listviews/{}/describe",
            self.data_root(),
            enc(sobject),
            enc(id.as_str())
        );
        self.send(Method::GET, &path, None, &[], true)
            .await?
            .json("list view describe")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_where_clause_stops_at_order_by() {
        let q = "SELECT name, id FROM Account WHERE CreatedDate = THIS_WEEK ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST";
        assert_eq!(where_clause(q), Some("CreatedDate = THIS_WEEK"));
    }

    #[test]
    fn keywords_inside_strings_and_subqueries_are_not_clauses() {
        let q = "SELECT id FROM Contact USING SCOPE mine WHERE Title = 'VP order by WHERE \\' limit' AND AccountId IN (SELECT Id FROM Account WHERE Name = 'x' LIMIT 5) ORDER BY Id";
        assert_eq!(
            where_clause(q),
            Some(
                "Title = 'VP order by WHERE \\' limit' AND AccountId IN (SELECT Id FROM Account WHERE Name = 'x' LIMIT 5)"
            )
        );
    }

    #[test]
    fn a_view_without_filter_has_no_where_clause() {
        assert_eq!(where_clause("SELECT id FROM Contact ORDER BY Id"), None);
        assert_eq!(
            where_clause("select id from contact where LastName = 'x'"),
            Some("LastName = 'x'")
        );
    }

    #[test]
    fn a_mine_view_is_recognised_by_scope_or_query() {
        let d = ListViewDescribe {
            id: "00BD0000005WcCN".parse().expect("a list view id"),
            query: "SELECT id FROM Contact USING SCOPE mine ORDER BY Id".into(),
            scope: None,
            sobject_type: Some("Contact".into()),
            where_condition: None,
        };
        assert!(d.is_mine_scope());
    }
}
