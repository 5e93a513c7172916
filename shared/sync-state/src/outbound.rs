//! Who a Salesforce Outbound Message concerns (B3): only the users its ids name. A notification
//! carries a record id and, when the message selects it, the record's `OwnerId`; the owner (a
//! user of the org) and the users linked to the record hear of it, nobody else. A notification is
//! a hint that the user's next read will find something, never data: an unauthenticated caller
//! who knows the (public) Organization id can at most start the sessions of the users the ids it
//! sends name, and the gateway bounds even that per request.
//!
//! Ids are compared by their first 15 characters, case-sensitively: the part every form of a
//! Salesforce id shares (the 18-character form adds a case-insensitive checksum), so the routing
//! is right whether a row or a message holds the 15- or the 18-character form (B15).

use tokio_postgres::GenericClient;

use crate::StateError;

/// The ids an Outbound Message carries, by their 15-character prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// `OwnerId`s of the changed records: the users they name.
    pub owners: Vec<String>,
    /// Ids of the changed records: the users linked to them (an owner change must remove the old
    /// owner's mirror, B7, whoever the new owner is).
    pub records: Vec<String>,
}

impl Hints {
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty() && self.records.is_empty()
    }
}

/// The first 15 characters of a Salesforce id, the case-sensitive part every form shares.
pub fn prefix15(id: &str) -> String {
    id.chars().take(15).collect()
}

/// The enabled users of `org_id` the hints name: owners first, then linked users, each once, in
/// id order within each kind; at most `limit` (callers ask for one more than they will start to
/// learn whether the bound cut the list).
pub async fn notified_users(
    client: &(impl GenericClient + Sync),
    org_id: &str,
    hints: &Hints,
    limit: i64,
) -> Result<Vec<String>, StateError> {
    if hints.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT id FROM (
                 SELECT u.id, 0 AS rank FROM users u
                 JOIN contact_settings s ON s.user_id = u.id AND s.enabled
                 WHERE u.org_id = $1 AND left(u.salesforce_user_id, 15) = ANY($2)
                 UNION ALL
                 SELECT u.id, 1 AS rank FROM contact_links l
                 JOIN users u ON u.id = l.user_id
                 JOIN contact_settings s ON s.user_id = u.id AND s.enabled
                 WHERE left(l.salesforce_id, 15) = ANY($3) AND u.org_id = $1
             ) named
             GROUP BY id ORDER BY min(rank), id LIMIT $4",
            &[&org_id, &hints.owners, &hints.records, &limit],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
