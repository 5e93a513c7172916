//! Reading a user's contacts: `people/me/connections` with sync tokens (a full sync, then
//! incremental ones with tombstones), page by page or whole, and the listing scan that finds a
//! contact by its `clientData` stamp.

use reqwest::Method;
use serde::Deserialize;
use tracing::{debug, instrument};

use crate::client::GoogleClient;
use crate::error::GoogleError;
use crate::types::Person;

/// The person fields the client reads and writes back: every field the mapping covers, plus
/// memberships (the groups), our stamp, the user's custom fields and the metadata (tombstones,
/// sources).
pub const PERSON_FIELDS: &str = "names,emailAddresses,phoneNumbers,organizations,addresses,\
birthdays,biographies,relations,memberships,clientData,userDefined,metadata";

/// Where a sync page continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncNext {
    /// More pages in this round: pass it to [`GoogleClient::sync_page`] with the same sync token.
    Page(String),
    /// The round is complete; store the token for the next round.
    Done(String),
}

/// One page of a sync round.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPage {
    /// Changed contacts, and deleted ones as tombstones ([`Person::is_deleted`]).
    pub people: Vec<Person>,
    pub next: SyncNext,
}

/// A whole sync round.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRound {
    /// Every contact (a full round) or every change since the token, tombstones included.
    pub people: Vec<Person>,
    pub next_sync_token: String,
    /// Whether this round read everything (no sync token was given): contacts the caller knows
    /// but did not see are gone.
    pub full: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPage {
    #[serde(default)]
    connections: Vec<Person>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    next_sync_token: Option<String>,
}

impl GoogleClient {
    /// One `connections.list` page. Every page of a round asks for a sync token and repeats
    /// the round's parameters (Google binds page tokens to them); a later page adds
    /// `page_token` and keeps `sync_token`. An expired token gives
    /// [`GoogleError::ExpiredSyncToken`]: drop it and start a full round.
    #[instrument(skip_all, fields(user = %user, incremental = sync_token.is_some()))]
    pub async fn sync_page(
        &self,
        user: &str,
        sync_token: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<SyncPage, GoogleError> {
        let raw = self.connections(user, true, sync_token, page_token).await?;
        let next = match (raw.next_page_token, raw.next_sync_token) {
            (Some(page), _) if !page.is_empty() => SyncNext::Page(page),
            (_, Some(sync)) if !sync.is_empty() => SyncNext::Done(sync),
            _ => {
                return Err(GoogleError::Decode {
                    what: "connections page",
                    source: serde::de::Error::custom(
                        "neither nextPageToken nor nextSyncToken on a sync page",
                    ),
                });
            }
        };
        Ok(SyncPage {
            people: raw.connections,
            next,
        })
    }

    /// A whole sync round: every page until the next sync token. Use [`Self::sync_page`] to
    /// process a large address book without holding all of it.
    #[instrument(skip_all, fields(user = %user, incremental = sync_token.is_some()))]
    pub async fn sync(
        &self,
        user: &str,
        sync_token: Option<&str>,
    ) -> Result<SyncRound, GoogleError> {
        let mut people = Vec::new();
        let mut page_token: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let page = self
                .sync_page(user, sync_token, page_token.as_deref())
                .await?;
            pages += 1;
            people.extend(page.people);
            match page.next {
                SyncNext::Page(next) => page_token = Some(next),
                SyncNext::Done(next_sync_token) => {
                    debug!(pages, people = people.len(), "Sync round complete");
                    return Ok(SyncRound {
                        people,
                        next_sync_token,
                        full: sync_token.is_none(),
                    });
                }
            }
        }
    }

    /// The contact stamped with `key` = `value` in `clientData`, by scanning the whole listing
    /// (the People API cannot filter on it). Meant for one case only: after a create whose
    /// outcome is unknown, to find the contact instead of creating it twice (C4).
    #[instrument(skip_all, fields(user = %user, key = %key))]
    pub async fn find_by_client_data(
        &self,
        user: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<Person>, GoogleError> {
        let mut page_token: Option<String> = None;
        loop {
            let page = self
                .connections(user, false, None, page_token.as_deref())
                .await?;
            let found = page.connections.into_iter().find(|p| {
                !p.is_deleted()
                    && p.client_data
                        .iter()
                        .any(|d| d.key == key && d.value == value)
            });
            if found.is_some() {
                return Ok(found);
            }
            match page.next_page_token {
                Some(next) if !next.is_empty() => page_token = Some(next),
                _ => return Ok(None),
            }
        }
    }

    async fn connections(
        &self,
        user: &str,
        request_sync_token: bool,
        sync_token: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<RawPage, GoogleError> {
        let page_size = self.config().page_size.to_string();
        let mut query = vec![
            ("personFields", PERSON_FIELDS),
            ("pageSize", page_size.as_str()),
        ];
        if request_sync_token {
            query.push(("requestSyncToken", "true"));
        }
        if let Some(token) = sync_token {
            query.push(("syncToken", token));
        }
        if let Some(token) = page_token {
            query.push(("pageToken", token));
        }
        let url = self.url("people/me/connections", &query)?;
        self.send(user, Method::GET, url, None, true)
            .await?
            .json("connections page")
    }
}
