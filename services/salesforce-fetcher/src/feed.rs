//! The org's Salesforce change feed (SPEC §3, issue 11): an org's Contact changes, its Account
//! renames and its deletions are read once per org, from one org cursor, and routed to the users
//! they concern; a user's session then reads what was routed to it (`read.rs`), with no
//! Salesforce request when nothing concerns it.
//!
//! One read ([`catch_up`]) holds the org's feed row locked from its first query to the commit of
//! its routing: a second fetcher replica waits, then finds the feed fresh and reads nothing. It
//! asks Salesforce for:
//! - the Contacts changed since the org cursor less the overlap (`queryAll`: deleted rows still
//!   in the Recycle Bin come with `IsDeleted`), deduplicated by id + `SystemModstamp` so the
//!   overlap costs no routing, while a row that committed late (an older stamp than rows already
//!   read) is still routed; each page is routed before the next is asked for, so a burst of
//!   changes costs one page of memory (issue 12);
//! - the Accounts changed likewise, and the Contacts of those never routed at that stamp (their
//!   mirrors show the Account's name);
//! - the delete log (Get Deleted, `deleted.rs`), for deletions purged from the Recycle Bin;
//! - per list view that users of the org follow, and only when Contacts changed: the view's filter
//!   and which of just the changed ids it holds (one query per 200 ids).
//!
//! Routing ([`route`], pure): a changed Contact goes to the users whose scope holds it (every
//! `all` user, the owner for `mine`, the view's members), to its owner when it carries our sync
//! key (B7: up-synced Contacts stay the owner's), and to every user linked to it (an edit, or a
//! scope exit when the scope no longer holds it). A deletion goes to the linked users, the owner
//! and the `all` users (who may be listing it right now).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use salesforce_client::{
    QueryPage, QueryStart, SalesforceClient, SalesforceError, SfContact, SfStamp,
};
use sync_core::{SalesforceContact, SalesforceId, Scope};
use sync_state::StateError;
use sync_state::org_feed::{self, Delivery, FeedState, Recipient, Routed};

use crate::Ctx;
use crate::deleted::{self, Outcome, Plan};
use crate::read::{LOOKUP_CHUNK, ReadError};

/// What one feed read found, before routing.
#[derive(Debug, Clone, PartialEq)]
// Records live in one Vec per routed batch; boxing the contact would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    Changed(SalesforceContact),
    Deleted {
        id: SalesforceId,
        at: DateTime<Utc>,
        owner: Option<SalesforceId>,
    },
}

/// Which of the changed Contacts a list view holds, and whether it holds only the viewer's own
/// (`USING SCOPE mine`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewMembers {
    pub ids: HashSet<SalesforceId>,
    pub mine: bool,
}

/// Makes sure the org's feed was read by a read that began at or after `needed_after`, reading
/// it now if not; returns the feed's state.
#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub async fn catch_up(
    ctx: &Ctx,
    org_id: &str,
    sf: &SalesforceClient,
    needed_after: DateTime<Utc>,
) -> Result<FeedState, ReadError> {
    // Unlocked first: in a sweep, one session reads the feed and the others find it fresh.
    {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        if let Some(state) = org_feed::state(&**client, org_id).await?
            && state.is_fresh(needed_after)
        {
            return Ok(state);
        }
    }
    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = client.transaction().await.map_err(StateError::from)?;
    // Waits here while another replica reads this org.
    let state = org_feed::lock(&tx, org_id).await?;
    if state.is_fresh(needed_after) {
        tx.commit().await.map_err(StateError::from)?;
        return Ok(state);
    }
    let started = Utc::now();
    let overlap = Duration::seconds(ctx.settings.overlap_secs);
    let next = match state.contact_high_water {
        // The feed's first read: it starts here. Every user's first session lists its scope,
        // which covers what came before.
        None => {
            let anchor = sf.server_now().unwrap_or(started) - overlap;
            FeedState {
                contact_high_water: Some(anchor),
                account_high_water: Some(anchor),
                deleted_from: Some(anchor),
                read_started_at: Some(started),
                relist_epoch: state.relist_epoch,
                reads: state.reads + 1,
            }
        }
        Some(high_water) => {
            let (state, read) =
                read_and_route(&tx, org_id, sf, &state, high_water, overlap, started).await?;
            tracing::info!(
                rows = read.rows,
                accounts = read.accounts,
                logged_deletions = read.logged,
                routed = read.routed,
                relist = read.relist,
                "Read the org's Salesforce changes."
            );
            // Stamps behind the cursor by more than the overlap are never read again.
            let horizon = state
                .contact_high_water
                .min(state.account_high_water)
                .unwrap_or(high_water)
                - overlap * 2;
            org_feed::forget_seen_before(&tx, org_id, horizon).await?;
            state
        }
    };
    org_feed::save(&tx, org_id, &next).await?;
    tx.commit().await.map_err(StateError::from)?;
    Ok(next)
}

/// What one read of the org found and routed.
#[derive(Debug, Default)]
struct ReadSummary {
    /// Contacts changed since the cursor less the overlap, deleted ones (`IsDeleted`) included.
    rows: usize,
    /// Accounts changed likewise.
    accounts: usize,
    /// Deletions from the delete log.
    logged: usize,
    /// Inbox rows written.
    routed: u64,
    relist: bool,
}

/// The org-level queries of one read — Accounts, Contacts, the delete log — and the routing of
/// what they found. The changed Contacts are routed page by page as they come (a page routed
/// before the next is asked for): a burst of changes across the org (every user's Contacts
/// created at once) costs one page of memory, not the whole burst. A Contact is in one page
/// only; a deletion of the delete log or a renamed Account's Contact routed after the pages is
/// judged against what the pages routed by the stamps `org_feed::unseen` keeps (in this same
/// transaction), so the newest state of each Contact is what its users' inboxes hold.
async fn read_and_route(
    tx: &tokio_postgres::Transaction<'_>,
    org_id: &str,
    sf: &SalesforceClient,
    state: &FeedState,
    high_water: DateTime<Utc>,
    overlap: Duration,
    started: DateTime<Utc>,
) -> Result<(FeedState, ReadSummary), ReadError> {
    let mut summary = ReadSummary::default();
    let recipients = org_feed::recipients(tx, org_id).await?;
    // Accounts first: the Contacts of a renamed one are read again after the pages (their
    // mirrors show its name), except those the pages routed.
    let account_from = state.account_high_water.unwrap_or(high_water);
    let account_since = salesforce_client::soql::datetime(account_from - overlap);
    let accounts: Vec<SfStamp> = sf
        .query(&format!(
            "SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= {account_since}"
        ))
        .await?;
    let accounts_read_at = sf.server_now();
    summary.accounts = accounts.len();
    let account_high_water = newest(
        accounts.iter().map(|a| a.system_modstamp),
        accounts_read_at,
        account_from,
    );
    let account_stamps: Vec<(String, DateTime<Utc>)> = accounts
        .iter()
        .filter_map(|a| Some((canonical(&a.id, "Id")?.to_string(), a.system_modstamp)))
        .collect();
    // Only what the overlap has not routed already at that stamp (a late row is new).
    let fresh = org_feed::unseen(tx, org_id, &account_stamps).await?;
    let renamed: Vec<SalesforceId> = account_stamps
        .iter()
        .filter(|(id, _)| fresh.contains(id))
        .filter_map(|(id, _)| SalesforceId::try_from(id.as_str()).ok())
        .collect();
    let mut routing = Routing {
        recipients,
        broken: HashSet::new(),
        routed_live: (!renamed.is_empty()).then(HashSet::new),
    };

    let fields = SfContact::soql_fields();
    let since = salesforce_client::soql::datetime(high_water - overlap);
    let soql = format!("SELECT {fields} FROM Contact WHERE SystemModstamp >= {since}");
    let mut contact_stamps = high_water;
    let mut page: QueryPage<SfContact> = sf.query_page(QueryStart::QueryAll(&soql)).await?;
    // The server's clock once the query's first page is in (its answer is as of then): the
    // next read starts an overlap before it (or before the newest row, if newer), so an idle
    // org's read covers the last minutes of the clock, not the minutes before its last change,
    // and a row committing late with a stamp up to an overlap older is still read. Taken
    // before the pages are routed: routing calls Salesforce too (list views).
    let contacts_read_at = sf.server_now();
    loop {
        let rows = std::mem::take(&mut page.records);
        summary.rows += rows.len();
        contact_stamps = newest(
            rows.iter().filter_map(|c| c.system_modstamp),
            None,
            contact_stamps,
        )
        .unwrap_or(contact_stamps);
        summary.routed +=
            route_batch(tx, org_id, sf, rows, Vec::new(), Vec::new(), &mut routing).await?;
        if page.done {
            break;
        }
        // `done: false` promises more rows; without a locator to fetch them the answer is
        // incomplete, and taking it as whole would lose rows silently.
        let Some(next) = page.next_records_url.take() else {
            return Err(SalesforceError::IncompleteQuery {
                received: summary.rows,
                total: page.total_size,
            }
            .into());
        };
        page = sf.query_page(QueryStart::Next(&next)).await?;
    }
    let contact_high_water = newest(std::iter::empty(), contacts_read_at, contact_stamps);

    let now = sf.server_now().unwrap_or(started);
    let (logged, deleted_from, relist) = match deleted::plan(state.deleted_from, now) {
        Plan::Relist => (Vec::new(), now - overlap, true),
        Plan::Wait { from } => (Vec::new(), from, false),
        Plan::Ask { start, end } => {
            match deleted::outcome(start, sf.get_deleted("Contact", start, end).await)? {
                Outcome::Deleted { ids, next } => (ids, next, false),
                Outcome::Relist => (Vec::new(), now - overlap, true),
            }
        }
    };
    if relist {
        tracing::warn!(
            "The delete log no longer reaches back to the org cursor; every user of the org \
             re-lists its scope once."
        );
    }
    summary.logged = logged.len();
    summary.relist = relist;
    // The renamed Accounts' Contacts the pages did not route, and the delete log.
    let paged = routing.routed_live.take().unwrap_or_default();
    let mut rows: Vec<SfContact> = Vec::new();
    let fields = SfContact::soql_fields();
    for ids in id_chunks(&renamed) {
        let found: Vec<SfContact> = sf
            .query(&format!(
                "SELECT {fields} FROM Contact WHERE AccountId IN ({ids})"
            ))
            .await?;
        rows.extend(
            found
                .into_iter()
                .filter(|c| canonical_quiet(&c.id).is_some_and(|id| !paged.contains(&id))),
        );
    }
    summary.routed += route_batch(tx, org_id, sf, Vec::new(), rows, logged, &mut routing).await?;
    let state = FeedState {
        contact_high_water,
        account_high_water,
        deleted_from: Some(deleted_from),
        read_started_at: Some(started),
        relist_epoch: state.relist_epoch + i64::from(relist),
        reads: state.reads + 1,
    };
    Ok((state, summary))
}

/// The latest of `stamps`, `read_at` and `floor`.
fn newest(
    stamps: impl Iterator<Item = DateTime<Utc>>,
    read_at: Option<DateTime<Utc>>,
    floor: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    Some(stamps.chain(read_at).fold(floor, DateTime::max))
}

/// What routing keeps across the batches of one read: the org's users, and the followed list
/// views found broken (their users re-list their scope; nothing more is routed to them).
struct Routing {
    recipients: Vec<Recipient>,
    broken: HashSet<SalesforceId>,
    /// The changed Contacts routed so far, kept while an Account was renamed: its Contacts
    /// among them need no second routing.
    routed_live: Option<HashSet<SalesforceId>>,
}

/// Routes one batch of the read — changed Contact rows (a page), the Contacts of renamed
/// Accounts (routed whatever their stamp: they did not change themselves), deletions from the
/// delete log — and writes the inboxes. Returns the inbox rows written.
async fn route_batch(
    tx: &tokio_postgres::Transaction<'_>,
    org_id: &str,
    sf: &SalesforceClient,
    rows: Vec<SfContact>,
    renamed: Vec<SfContact>,
    logged: Vec<(String, DateTime<Utc>)>,
    routing: &mut Routing,
) -> Result<u64, ReadError> {
    let mut live: Vec<SfContact> = Vec::new();
    let mut stamps: Vec<(String, DateTime<Utc>)> = Vec::new();
    let mut bin: Vec<(String, DateTime<Utc>, Option<String>)> = Vec::new();
    for row in rows {
        let (Some(id), Some(stamp)) = (canonical(&row.id, "Id"), row.system_modstamp) else {
            continue;
        };
        stamps.push((id.to_string(), stamp));
        if row.is_deleted {
            bin.push((id.to_string(), stamp, row.owner_id));
        } else {
            live.push(row);
        }
    }
    for (id, at) in &logged {
        if let Some(id) = canonical(id, "Id") {
            stamps.push((id.to_string(), *at));
        }
    }
    // Only what the overlap (or an earlier batch of this read) has not routed already at that
    // stamp (a late row is new).
    let fresh = org_feed::unseen(tx, org_id, &stamps).await?;
    let is_fresh = |raw: &str| canonical_quiet(raw).is_some_and(|id| fresh.contains(id.as_str()));
    live.retain(|c| is_fresh(&c.id));
    if let Some(routed) = routing.routed_live.as_mut() {
        routed.extend(live.iter().filter_map(|c| canonical_quiet(&c.id)));
    }
    let mut deleted: Vec<(String, DateTime<Utc>, Option<String>)> = bin
        .into_iter()
        .filter(|(id, ..)| fresh.contains(id))
        .collect();
    deleted.extend(
        logged
            .iter()
            .filter(|(id, _)| is_fresh(id))
            .map(|(id, at)| (id.clone(), *at, None)),
    );
    live.extend(renamed);

    // One record per Contact, its newest state: a deletion both still in the Recycle Bin and in
    // the delete log, or a Contact deleted and then undeleted, is routed once, as it is now.
    let mut newest: HashMap<SalesforceId, (DateTime<Utc>, bool, Record)> = HashMap::new();
    let mut keep = |stamp: DateTime<Utc>, live: bool, record: Record| {
        let id = match &record {
            Record::Changed(c) => c.id.clone(),
            Record::Deleted { id, .. } => id.clone(),
        };
        match newest.get(&id) {
            // Later wins; at the same instant a live row wins over a deletion.
            Some((t, l, _)) if (*t, *l) >= (stamp, live) => {}
            _ => {
                newest.insert(id, (stamp, live, record));
            }
        }
    };
    for c in live {
        let raw = c.id.clone();
        // A Contact of a renamed Account did not change itself: older than any change of it.
        let stamp = c.system_modstamp.unwrap_or(DateTime::<Utc>::MIN_UTC);
        match SalesforceContact::try_from(c) {
            Ok(contact) => keep(stamp, true, Record::Changed(contact)),
            Err(e) => tracing::warn!(record = %raw, error = %e,
                "Salesforce returned a Contact with a malformed id; it is routed to nobody."),
        }
    }
    for (id, at, owner) in deleted {
        if let Some(id) = canonical_quiet(&id) {
            let owner = owner.as_deref().and_then(canonical_quiet);
            keep(at, false, Record::Deleted { id, at, owner });
        }
    }
    let records: Vec<Record> = newest.into_values().map(|(_, _, r)| r).collect();
    if records.is_empty() {
        return Ok(0);
    }

    let changed: Vec<SalesforceId> = records
        .iter()
        .filter_map(|r| match r {
            Record::Changed(c) => Some(c.id.clone()),
            Record::Deleted { .. } => None,
        })
        .collect();
    let mut views = HashMap::new();
    if !changed.is_empty() {
        for view in followed_views(&routing.recipients) {
            match view_members(sf, &view, &changed).await {
                Ok(members) => {
                    views.insert(view, members);
                }
                Err(e) if e.is_transient() => return Err(e),
                // The view is gone or broken: its users list their scope again, where the
                // error shows on their status, instead of silently missing changes.
                Err(e) => {
                    tracing::warn!(list_view = %view, error = %e,
                        "A followed list view cannot be read; its users re-list their scope.");
                    for r in routing
                        .recipients
                        .iter()
                        .filter(|r| r.scope == Scope::ListView(view.clone()))
                    {
                        sync_state::links::forget_cursor(
                            tx,
                            &r.user_id,
                            sync_state::links::CursorSide::Salesforce,
                        )
                        .await?;
                    }
                    routing.broken.insert(view);
                }
            }
        }
    }
    // Their listing covers this read: nothing is routed to them now (a link to a Contact the
    // view could not be asked about is no scope exit).
    let broken = &routing.broken;
    routing
        .recipients
        .retain(|r| !matches!(&r.scope, Scope::ListView(v) if broken.contains(v)));
    let ids: Vec<&str> = records
        .iter()
        .map(|r| match r {
            Record::Changed(c) => c.id.as_str(),
            Record::Deleted { id, .. } => id.as_str(),
        })
        .collect();
    let linked = org_feed::linked_users(tx, org_id, &ids).await?;
    let deliveries = route(&records, &routing.recipients, &linked, &views);
    Ok(org_feed::deliver(tx, &deliveries).await?)
}

/// Which of `changed` the list view holds: its filter (from its describe) on just those ids.
async fn view_members(
    sf: &SalesforceClient,
    view: &SalesforceId,
    changed: &[SalesforceId],
) -> Result<ViewMembers, ReadError> {
    let describe = sf.describe_list_view("Contact", view).await?;
    let mut members = ViewMembers {
        ids: HashSet::new(),
        mine: describe.is_mine_scope(),
    };
    let Some(filter) = describe.where_clause() else {
        members.ids.extend(changed.iter().cloned());
        return Ok(members);
    };
    for ids in id_chunks(changed) {
        let rows: Vec<SfStampless> = sf
            .query(&format!(
                "SELECT Id FROM Contact WHERE ({filter}) AND Id IN ({ids})"
            ))
            .await?;
        members
            .ids
            .extend(rows.iter().filter_map(|r| canonical_quiet(&r.id)));
    }
    Ok(members)
}

/// A row of which only the id was selected.
#[derive(serde::Deserialize)]
struct SfStampless {
    #[serde(rename = "Id")]
    id: String,
}

/// The 18-character form of an id Salesforce answered with (B15); a malformed one is logged.
fn canonical(raw: &str, field: &str) -> Option<SalesforceId> {
    SalesforceId::try_from(raw)
        .inspect_err(|e| {
            tracing::warn!(field, record = raw, error = %e,
                "Salesforce returned a malformed id; the row is left out of the org feed.");
        })
        .ok()
}

fn canonical_quiet(raw: &str) -> Option<SalesforceId> {
    SalesforceId::try_from(raw).ok()
}

/// Routes one read's records to the org's users (pure; see the module header). `linked` maps a
/// Contact id to the users linked to it; `views` holds each followed list view's members among
/// the changed Contacts.
pub fn route(
    records: &[Record],
    recipients: &[Recipient],
    linked: &HashMap<String, Vec<String>>,
    views: &HashMap<SalesforceId, ViewMembers>,
) -> Vec<Delivery> {
    let by_user: HashMap<&str, &Recipient> =
        recipients.iter().map(|r| (r.user_id.as_str(), r)).collect();
    let everyone: Vec<&Recipient> = recipients
        .iter()
        .filter(|r| r.scope == Scope::All)
        .collect();
    let mut by_owner: HashMap<&SalesforceId, Vec<&Recipient>> = HashMap::new();
    for r in recipients {
        by_owner.entry(&r.salesforce_user_id).or_default().push(r);
    }
    let mut by_view: HashMap<&SalesforceId, Vec<&Recipient>> = HashMap::new();
    for r in recipients {
        if let Scope::ListView(v) = &r.scope {
            by_view.entry(v).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for record in records {
        let (id, owner) = match record {
            Record::Changed(c) => (&c.id, c.owner_id.as_ref()),
            Record::Deleted { id, owner, .. } => (id, owner.as_ref()),
        };
        // Candidates in a stable order, each once.
        let mut candidates: BTreeSet<&str> = BTreeSet::new();
        candidates.extend(everyone.iter().map(|r| r.user_id.as_str()));
        if let Some(owner) = owner {
            candidates.extend(
                by_owner
                    .get(owner)
                    .into_iter()
                    .flatten()
                    .map(|r| r.user_id.as_str()),
            );
        }
        let linked_here: HashSet<&str> = linked
            .get(id.as_str())
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|u| by_user.contains_key(u))
            .collect();
        candidates.extend(&linked_here);
        match record {
            Record::Changed(contact) => {
                for (view, members) in views {
                    if members.ids.contains(id) {
                        candidates.extend(
                            by_view
                                .get(view)
                                .into_iter()
                                .flatten()
                                .map(|r| r.user_id.as_str()),
                        );
                    }
                }
                for user in candidates {
                    let Some(r) = by_user.get(user) else { continue };
                    let own = owner == Some(&r.salesforce_user_id);
                    let member = match &r.scope {
                        Scope::All => true,
                        Scope::Mine => own,
                        Scope::ListView(v) => views
                            .get(v)
                            .is_some_and(|m| m.ids.contains(id) && (!m.mine || own)),
                    };
                    // B7: a Contact created from the mailbox stays its owner's.
                    let in_scope = member || (own && contact.sync_key.is_some());
                    if in_scope || linked_here.contains(user) {
                        out.push(Delivery {
                            user_id: user.to_owned(),
                            salesforce_id: id.clone(),
                            routed: Routed::Changed {
                                contact: Box::new(contact.clone()),
                                in_scope,
                            },
                        });
                    }
                }
            }
            Record::Deleted { at, .. } => {
                out.extend(candidates.into_iter().map(|user| Delivery {
                    user_id: user.to_owned(),
                    salesforce_id: id.clone(),
                    routed: Routed::Deleted { at: *at },
                }));
            }
        }
    }
    out
}

/// The list views the org's users follow.
pub fn followed_views(recipients: &[Recipient]) -> BTreeSet<SalesforceId> {
    recipients
        .iter()
        .filter_map(|r| match &r.scope {
            Scope::ListView(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// Chunks of ids for `Id IN (...)` lookups.
pub fn id_chunks(ids: &[SalesforceId]) -> impl Iterator<Item = String> + '_ {
    ids.chunks(LOOKUP_CHUNK).map(|chunk| {
        chunk
            .iter()
            .map(|id| salesforce_client::soql::quote(id.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sync_core::SyncKey;
    use sync_core::fields::SalesforceContactFields;

    fn id(s15: &str) -> SalesforceId {
        SalesforceId::try_from(s15).unwrap()
    }

    const ANN: &str = "005xx0000000001";
    const BOB: &str = "005xx0000000002";
    const VIEW: &str = "00Bxx0000000001";

    fn recipient(user: &str, owner: &str, scope: Scope) -> Recipient {
        Recipient {
            user_id: user.into(),
            salesforce_user_id: id(owner),
            scope,
        }
    }

    fn contact(contact: &str, owner: &str, key: bool) -> SalesforceContact {
        SalesforceContact {
            id: id(contact),
            owner_id: Some(id(owner)),
            sync_key: key.then(|| SyncKey::for_salesforce(&id("003xx00000000ZZ"))),
            fields: SalesforceContactFields::default(),
        }
    }

    fn recipients() -> Vec<Recipient> {
        vec![
            recipient("ann", ANN, Scope::Mine),
            recipient("bob", BOB, Scope::Mine),
            recipient("cat", "005xx0000000003", Scope::All),
            recipient("dan", "005xx0000000004", Scope::ListView(id(VIEW))),
            recipient("eve", BOB, Scope::ListView(id(VIEW))),
        ]
    }

    /// (user, in scope or `None` for a deletion), sorted.
    fn summary(deliveries: &[Delivery]) -> Vec<(String, Option<bool>)> {
        let mut out: Vec<_> = deliveries
            .iter()
            .map(|d| {
                let scope = match &d.routed {
                    Routed::Changed { in_scope, .. } => Some(*in_scope),
                    Routed::Deleted { .. } => None,
                };
                (d.user_id.clone(), scope)
            })
            .collect();
        out.sort();
        out
    }

    fn views(members: &[&str], mine: bool) -> HashMap<SalesforceId, ViewMembers> {
        HashMap::from([(
            id(VIEW),
            ViewMembers {
                ids: members.iter().map(|m| id(m)).collect(),
                mine,
            },
        )])
    }

    #[test]
    fn a_change_reaches_its_owner_the_all_scope_users_and_the_views_holding_it() {
        let records = [Record::Changed(contact("003xx0000000001", ANN, false))];
        let got = route(
            &records,
            &recipients(),
            &HashMap::new(),
            &views(&["003xx0000000001"], false),
        );
        assert_eq!(
            summary(&got),
            [
                ("ann".into(), Some(true)),
                ("cat".into(), Some(true)),
                ("dan".into(), Some(true)),
                ("eve".into(), Some(true)),
            ]
        );
        assert!(got.iter().all(|d| d.salesforce_id == id("003xx0000000001")));
    }

    #[test]
    fn a_mine_scoped_view_holds_only_the_viewers_own_and_nobody_else_hears_of_it() {
        let records = [Record::Changed(contact("003xx0000000001", BOB, false))];
        let got = route(
            &records,
            &recipients(),
            &HashMap::new(),
            &views(&["003xx0000000001"], true),
        );
        assert_eq!(
            summary(&got),
            [
                ("bob".into(), Some(true)),
                ("cat".into(), Some(true)),
                ("eve".into(), Some(true)),
            ]
        );
    }

    #[test]
    fn a_linked_user_whose_scope_no_longer_holds_it_hears_of_the_exit() {
        // Owner changed from ann to bob; ann holds a link; the view no longer holds it.
        let records = [Record::Changed(contact("003xx0000000001", BOB, false))];
        let linked = HashMap::from([(
            id("003xx0000000001").to_string(),
            vec!["ann".to_owned(), "dan".to_owned(), "gone-user".to_owned()],
        )]);
        let got = route(&records, &recipients(), &linked, &views(&[], false));
        assert_eq!(
            summary(&got),
            [
                ("ann".into(), Some(false)),
                ("bob".into(), Some(true)),
                ("cat".into(), Some(true)),
                ("dan".into(), Some(false)),
            ]
        );
    }

    #[test]
    fn b7_a_contact_created_from_the_mailbox_stays_its_owners_whatever_the_scope() {
        let records = [Record::Changed(contact("003xx0000000001", BOB, true))];
        let got = route(&records, &recipients(), &HashMap::new(), &views(&[], false));
        // eve follows a view that does not hold it, but she owns it and it carries our key.
        assert_eq!(
            summary(&got),
            [
                ("bob".into(), Some(true)),
                ("cat".into(), Some(true)),
                ("eve".into(), Some(true)),
            ]
        );
    }

    #[test]
    fn a_deletion_reaches_the_linked_users_the_owner_and_the_all_scope_users() {
        let at = Utc::now();
        let records = [Record::Deleted {
            id: id("003xx0000000009"),
            at,
            owner: Some(id(ANN)),
        }];
        let linked = HashMap::from([(id("003xx0000000009").to_string(), vec!["dan".to_owned()])]);
        let got = route(&records, &recipients(), &linked, &HashMap::new());
        assert_eq!(
            summary(&got),
            [
                ("ann".into(), None),
                ("cat".into(), None),
                ("dan".into(), None),
            ]
        );
    }
}
