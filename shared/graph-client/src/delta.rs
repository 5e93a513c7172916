//! Contact delta per folder: the first round, paging over `nextLink`, and resuming a `deltaLink`.

use std::collections::HashMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tracing::{debug, instrument};

use crate::client::{GraphClient, enc, query_string};
use crate::contacts::contact_select;
use crate::error::GraphError;
use crate::types::GraphContact;

/// The `@odata.deltaLink` that ends a round; stored, and used verbatim to start the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeltaLink(pub String);

/// One entry of a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
// Items travel in Vecs of at most a page; boxing the contact would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum DeltaItem {
    /// Created or changed (contacts always come whole). No extended properties: delta does not
    /// return them, so a contact not yet known needs a `get_contact` to read its sync key.
    Upserted(GraphContact),
    /// Gone from this folder: deleted, or moved out (a move shows as a removal here).
    Removed { id: String, reason: Option<String> },
}

/// Where a delta page continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaNext {
    /// More pages in this round: pass to [`GraphClient::delta_page`] as [`DeltaStart::Link`].
    NextLink(String),
    /// The round is complete.
    Done(DeltaLink),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPage {
    pub items: Vec<DeltaItem>,
    pub next: DeltaNext,
}

/// A whole round: every change since the resumed link (or every contact, for a first round),
/// replays collapsed to each id's last entry, and the link for the next round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaRound {
    pub items: Vec<DeltaItem>,
    pub delta_link: DeltaLink,
}

/// How to ask for a delta page.
#[derive(Debug, Clone, Copy)]
pub enum DeltaStart<'a> {
    /// A first round for a folder (no stored state).
    Initial {
        mailbox: &'a str,
        folder_id: &'a str,
    },
    /// A `nextLink` of this round or a stored `deltaLink`.
    Link(&'a str),
}

#[derive(Deserialize)]
struct RawDeltaPage {
    #[serde(default)]
    value: Vec<RawDeltaEntry>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

#[derive(Deserialize)]
struct RawDeltaEntry {
    #[serde(rename = "@removed", default)]
    removed: Option<Removed>,
    #[serde(flatten)]
    contact: GraphContact,
}

#[derive(Deserialize)]
struct Removed {
    #[serde(default)]
    reason: Option<String>,
}

impl DeltaItem {
    pub fn id(&self) -> &str {
        match self {
            DeltaItem::Upserted(c) => &c.id,
            DeltaItem::Removed { id, .. } => id,
        }
    }
}

impl GraphClient {
    /// One delta page. A first request carries `$select` (Graph encodes it into the links) and
    /// every request carries `Prefer: odata.maxpagesize`. An expired link gives
    /// [`GraphError::SyncStateNotFound`]: drop the stored link and start a first round.
    #[instrument(skip_all)]
    pub async fn delta_page(&self, start: DeltaStart<'_>) -> Result<DeltaPage, GraphError> {
        let url = match start {
            DeltaStart::Initial { mailbox, folder_id } => self.url(
                &format!(
                    "/users/{}/contactFolders/{}/contacts/delta",
                    enc(mailbox),
                    enc(folder_id)
                ),
                &query_string(&[("$select", &contact_select())]),
            )?,
            DeltaStart::Link(link) => self.check_link(link)?,
        };
        let prefer = format!("odata.maxpagesize={}", self.config().max_page_size);
        let raw: RawDeltaPage = self
            .send(Method::GET, url, None, Some(&prefer))
            .await?
            .json("delta page")?;
        let next = match (raw.next_link, raw.delta_link) {
            (Some(next), _) => DeltaNext::NextLink(next),
            (None, Some(delta)) => DeltaNext::Done(DeltaLink(delta)),
            (None, None) => {
                return Err(GraphError::Decode {
                    what: "delta page",
                    source: serde::de::Error::custom(
                        "neither @odata.nextLink nor @odata.deltaLink",
                    ),
                });
            }
        };
        let items = raw
            .value
            .into_iter()
            .map(|entry| match entry.removed {
                Some(removed) => DeltaItem::Removed {
                    id: entry.contact.id,
                    reason: removed.reason,
                },
                None => DeltaItem::Upserted(entry.contact),
            })
            .collect();
        Ok(DeltaPage { items, next })
    }

    /// A whole delta round for one folder, following `nextLink` until the `deltaLink`.
    #[instrument(skip_all, fields(mailbox = %mailbox, folder_id = %folder_id, resumed = resume.is_some()))]
    pub async fn delta_round(
        &self,
        mailbox: &str,
        folder_id: &str,
        resume: Option<&DeltaLink>,
    ) -> Result<DeltaRound, GraphError> {
        let mut link: Option<String> = resume.map(|l| l.0.clone());
        let mut items: Vec<DeltaItem> = Vec::new();
        let mut pages = 0usize;
        loop {
            let start = match &link {
                Some(l) => DeltaStart::Link(l),
                None => DeltaStart::Initial { mailbox, folder_id },
            };
            let page = self.delta_page(start).await?;
            pages += 1;
            items.extend(page.items);
            match page.next {
                DeltaNext::NextLink(next) => link = Some(next),
                DeltaNext::Done(delta_link) => {
                    let items = collapse_replays(items);
                    debug!(pages, items = items.len(), "Delta round complete");
                    return Ok(DeltaRound { items, delta_link });
                }
            }
        }
    }
}

/// Graph may replay an entity within a round; only its last entry counts.
fn collapse_replays(items: Vec<DeltaItem>) -> Vec<DeltaItem> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        last.insert(item.id().to_owned(), i);
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| last.get(item.id()) == Some(i))
        .map(|(_, item)| item)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(id: &str, key: &str) -> DeltaItem {
        DeltaItem::Upserted(GraphContact {
            id: id.into(),
            change_key: Some(key.into()),
            ..Default::default()
        })
    }

    #[test]
    fn replays_collapse_to_the_last_entry_in_order() {
        let items = vec![
            upsert("a", "1"),
            upsert("b", "1"),
            upsert("a", "2"),
            DeltaItem::Removed {
                id: "b".into(),
                reason: Some("deleted".into()),
            },
        ];
        assert_eq!(
            collapse_replays(items),
            vec![
                upsert("a", "2"),
                DeltaItem::Removed {
                    id: "b".into(),
                    reason: Some("deleted".into())
                }
            ]
        );
    }
}
