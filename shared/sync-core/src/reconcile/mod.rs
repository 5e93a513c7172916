//! `reconcile`: one user's links + both sides' changes + settings → the session's decisions.
//!
//! Three passes, each O(links + changes) with hash maps keyed by ids:
//! 1. index the observations (by Graph id, by stamped sync key, by Salesforce id and key);
//! 2. decide every link the changes touch (`link.rs`: where each side stands; `removal.rs`:
//!    deletions, scope exits, moves out of the folder; `update.rs`: the three-way merge, each
//!    side's write, validation);
//! 3. decide what no link claimed (`fresh.rs`): new mailbox contacts (B8, B9), new Salesforce
//!    Contacts in scope (B5), half-finished creates found by their stamp (C4), stale stamps (B11).
//!
//! Then the mass-delete guard (C5) holds every plan that deletes, if there are too many, or if
//! the sync folder was lost (B1) and Salesforce Contacts would be deleted on its account: per
//! session in [`reconcile`], per burst across sessions in [`crate::burst::reconcile_guarded`].

mod fresh;
mod link;
mod removal;
mod update;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::burst::Removal;
use crate::ids::{GraphItemId, SalesforceId, SyncKey};
use crate::model::{
    Decisions, ErrorCode, ExchangeChanges, ExchangeCommand, ExchangeItem, Fallback, GuardOutcome,
    ItemError, Link, LinkUpdate, ReadKind, SalesforceChanges, SalesforceCommand, SalesforceContact,
    Scope, Settings,
};

/// The mass-delete guard (C5) holds a session that would delete more than half of the user's
/// links and at least this many.
pub const MASS_DELETE_MIN: usize = 20;

/// Decides one session for one user. Pure: the same input always yields the same decisions.
///
/// `now` only stamps `Link::synced_at`. See the crate docs for how the pipeline wires this.
pub fn reconcile(
    links: &[Link],
    exchange: &ExchangeChanges,
    salesforce: &SalesforceChanges,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Decisions {
    let plans = plan_session(links, exchange, salesforce, settings, now);
    let mut decisions = finish(
        plans,
        links.len(),
        exchange.folder_lost,
        settings.mass_delete_confirmed,
    );
    // Records the read could not take (B15) are the session's per-item errors too (C7).
    decisions.errors.extend(salesforce.errors.iter().cloned());
    decisions
}

/// Every plan of a session, before any guard.
pub(crate) fn plan_session(
    links: &[Link],
    exchange: &ExchangeChanges,
    salesforce: &SalesforceChanges,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<Plan> {
    let ix = Index::build(links, exchange, salesforce, settings, now);
    let mut st = State::default();
    let mut plans = Vec::new();

    let touch_all = ix.ex_complete || ix.sf_complete;
    let touched = if touch_all {
        HashSet::new()
    } else {
        ix.touched_keys()
    };
    for link in links {
        if touch_all || touched.contains(&link.sync_key) {
            plans.push(link::decide_link(&ix, &mut st, link));
        }
    }
    fresh::decide_unclaimed(&ix, &mut st, &mut plans);
    plans
}

/// What one link (or one new contact) needs.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub exchange: Vec<ExchangeCommand>,
    pub salesforce: Vec<SalesforceCommand>,
    pub link: Option<LinkUpdate>,
    pub fallback: Option<Fallback>,
    pub errors: Vec<ItemError>,
    /// The plan deletes a contact on either side (counted by the guard).
    pub deletes: bool,
    /// For a deleting plan of a stored link: what lets the deletion wait and be decided again
    /// in a later session (C5 bursts). `None` for a deletion with no stored link (a half-made
    /// pair found after a crash): it cannot wait.
    pub deletion: Option<Deferrable>,
}

/// A deletion that can wait: the observation that decided it, and the link row as this session
/// resolved it when that differs from the stored one.
#[derive(Debug, Clone)]
pub(crate) struct Deferrable {
    pub removal: Removal,
    pub relinked: Option<Link>,
}

/// The observations, indexed for lookups by every id a rule needs.
pub(crate) struct Index<'a> {
    pub settings: &'a Settings,
    pub now: DateTime<Utc>,
    pub links_by_key: HashMap<&'a SyncKey, &'a Link>,
    pub link_by_sf: HashMap<&'a SalesforceId, &'a SyncKey>,
    pub link_by_graph: HashMap<&'a GraphItemId, &'a SyncKey>,

    /// The Exchange read succeeded (C5: a failed one tells nothing).
    pub ex_known: bool,
    /// A non-empty full listing: linked but unlisted means gone.
    pub ex_complete: bool,
    pub ex_items: HashMap<&'a GraphItemId, &'a ExchangeItem>,
    /// Distinct items in first-seen order (later duplicates of a delta replay win on content).
    pub ex_order: Vec<&'a ExchangeItem>,
    pub ex_removed: HashSet<&'a GraphItemId>,
    pub ex_by_stamp: HashMap<&'a SyncKey, Vec<&'a ExchangeItem>>,
    /// Unstamped items by the key an up-sync of them would get (finds a pending B8/B9 link).
    pub ex_by_derived: HashMap<SyncKey, &'a ExchangeItem>,

    pub sf_known: bool,
    /// A full listing, empty or not: linked but unlisted means gone or out of scope.
    pub sf_complete: bool,
    pub sf_contacts: HashMap<&'a SalesforceId, &'a SalesforceContact>,
    pub sf_order: Vec<&'a SalesforceContact>,
    pub sf_deleted: HashSet<&'a SalesforceId>,
    pub sf_out: HashSet<&'a SalesforceId>,
    pub sf_by_key: HashMap<&'a SyncKey, &'a SalesforceContact>,
}

impl<'a> Index<'a> {
    fn build(
        links: &'a [Link],
        exchange: &'a ExchangeChanges,
        salesforce: &'a SalesforceChanges,
        settings: &'a Settings,
        now: DateTime<Utc>,
    ) -> Index<'a> {
        let mut links_by_key = HashMap::with_capacity(links.len());
        let mut link_by_sf = HashMap::with_capacity(links.len());
        let mut link_by_graph = HashMap::with_capacity(links.len());
        for link in links {
            links_by_key.insert(&link.sync_key, link);
            if let Some(id) = &link.salesforce_id {
                link_by_sf.insert(id, &link.sync_key);
            }
            if let Some(id) = &link.graph_id {
                link_by_graph.insert(id, &link.sync_key);
            }
        }

        let ex_known = exchange.kind != ReadKind::Failed;
        let ex_complete = exchange.kind == ReadKind::Complete && !exchange.items.is_empty();
        let mut ex_items: HashMap<&GraphItemId, &ExchangeItem> = HashMap::new();
        let mut ex_order = Vec::new();
        let mut ex_removed = HashSet::new();
        if ex_known {
            for item in &exchange.items {
                if ex_items.insert(&item.id, item).is_none() {
                    ex_order.push(item);
                }
            }
            // The last copy of a replayed item is the current one.
            for slot in &mut ex_order {
                if let Some(latest) = ex_items.get(&slot.id) {
                    *slot = latest;
                }
            }
            // An id present in some folder's listing is not gone, whatever another folder's
            // delta says (a move between folders under an immutable id).
            ex_removed = exchange
                .removed
                .iter()
                .filter(|id| !ex_items.contains_key(id))
                .collect();
        }
        let mut ex_by_stamp: HashMap<&SyncKey, Vec<&ExchangeItem>> = HashMap::new();
        let mut ex_by_derived = HashMap::new();
        for item in &ex_order {
            match &item.sync_key {
                Some(key) => ex_by_stamp.entry(key).or_default().push(item),
                None => {
                    ex_by_derived.insert(SyncKey::for_graph(&item.id), *item);
                }
            }
        }

        let sf_known = salesforce.kind != ReadKind::Failed;
        // An empty complete Salesforce listing is a real answer (B7: the scope is now empty,
        // e.g. an empty list view); only the mass-delete guard stands between it and the
        // mirrors (C5). A failed read is `Failed`, never an empty listing.
        let sf_complete = salesforce.kind == ReadKind::Complete;
        let mut sf_contacts: HashMap<&SalesforceId, &SalesforceContact> = HashMap::new();
        let mut sf_order = Vec::new();
        let mut sf_deleted = HashSet::new();
        let mut sf_out = HashSet::new();
        let mut sf_by_key = HashMap::new();
        if sf_known {
            for contact in &salesforce.contacts {
                if sf_contacts.insert(&contact.id, contact).is_none() {
                    sf_order.push(contact);
                }
            }
            for slot in &mut sf_order {
                if let Some(latest) = sf_contacts.get(&slot.id) {
                    *slot = latest;
                }
            }
            sf_deleted = salesforce.deleted.iter().collect();
            sf_out = salesforce.out_of_scope.iter().collect();
            for contact in &sf_order {
                if let Some(key) = &contact.sync_key {
                    sf_by_key.insert(key, *contact);
                }
            }
        }

        Index {
            settings,
            now,
            links_by_key,
            link_by_sf,
            link_by_graph,
            ex_known,
            ex_complete,
            ex_items,
            ex_order,
            ex_removed,
            ex_by_stamp,
            ex_by_derived,
            sf_known,
            sf_complete,
            sf_contacts,
            sf_order,
            sf_deleted,
            sf_out,
            sf_by_key,
        }
    }

    /// Whether a Contact is in the user's scope as far as the core can tell: the fetcher applies
    /// the scope's filter, and the core double-checks ownership for `mine` (an owner change read
    /// as a plain change is then a scope exit, B7).
    pub fn in_scope(&self, contact: &SalesforceContact) -> bool {
        match self.settings.scope {
            Scope::Mine => contact
                .owner_id
                .as_ref()
                .is_none_or(|owner| *owner == self.settings.salesforce_user_id),
            Scope::All | Scope::ListView(_) => !self.sf_out.contains(&contact.id),
        }
    }

    /// The links an incremental session must look at.
    fn touched_keys(&self) -> HashSet<SyncKey> {
        let mut keys = HashSet::new();
        let mut add = |key: Option<&SyncKey>| {
            if let Some(key) = key {
                keys.insert(key.clone());
            }
        };
        for item in &self.ex_order {
            add(self.link_by_graph.get(&item.id).copied());
            add(item.sync_key.as_ref());
            add(Some(&SyncKey::for_graph(&item.id)));
        }
        for id in &self.ex_removed {
            add(self.link_by_graph.get(id).copied());
        }
        for contact in &self.sf_order {
            add(self.link_by_sf.get(&contact.id).copied());
            add(contact.sync_key.as_ref());
        }
        for id in self.sf_deleted.iter().chain(self.sf_out.iter()) {
            add(self.link_by_sf.get(id).copied());
        }
        keys
    }

    /// A key no link has and this session has not handed out.
    pub fn key_is_free(&self, st: &State, key: &SyncKey) -> bool {
        !self.links_by_key.contains_key(key) && !st.new_keys.contains(key)
    }
}

/// What the passes have taken so far, so nothing is claimed twice (C4).
#[derive(Debug, Default)]
pub(crate) struct State {
    pub claimed_items: HashSet<GraphItemId>,
    pub claimed_contacts: HashSet<SalesforceId>,
    pub new_keys: HashSet<SyncKey>,
}

/// C5's threshold: more than half of `links`, and at least [`MASS_DELETE_MIN`].
pub fn is_mass_delete(deletions: usize, links: usize) -> bool {
    deletions >= MASS_DELETE_MIN && deletions * 2 > links
}

/// The `mass_delete_guard` error of a held session or burst.
pub(crate) fn guard_error(deletions: usize, links: usize) -> ItemError {
    ItemError {
        item: "(session)".to_owned(),
        code: ErrorCode::MassDeleteGuard,
        field: None,
        message: format!(
            "This session would delete {deletions} of {links} synced contacts; \
             nothing was deleted. An operator must confirm the deletions."
        ),
        sync_key: None,
        graph_id: None,
        salesforce_id: None,
    }
}

/// Adds a plan to the decisions.
pub(crate) fn absorb(decisions: &mut Decisions, plan: Plan) {
    decisions.exchange.extend(plan.exchange);
    decisions.salesforce.extend(plan.salesforce);
    decisions.links.extend(plan.link);
    decisions.fallbacks.extend(plan.fallback);
    decisions.errors.extend(plan.errors);
}

/// Whether any plan deletes a Salesforce Contact.
pub(crate) fn deletes_in_salesforce(plans: &[Plan]) -> bool {
    plans.iter().any(|p| {
        p.deletes
            && p.salesforce
                .iter()
                .any(|c| matches!(c, SalesforceCommand::Delete { .. }))
    })
}

/// Applies the guard and flattens the plans into decisions. It holds every deletion when there
/// are too many, and also when the sync folder was lost (B1) and Salesforce Contacts would be
/// deleted on its account, however few.
fn finish(plans: Vec<Plan>, link_count: usize, folder_lost: bool, confirmed: bool) -> Decisions {
    let deletions = plans.iter().filter(|p| p.deletes).count();
    let too_many = is_mass_delete(deletions, link_count);
    let held = (too_many || (folder_lost && deletes_in_salesforce(&plans))) && !confirmed;

    let mut decisions = Decisions::empty();
    for plan in plans {
        if held && plan.deletes {
            continue;
        }
        absorb(&mut decisions, plan);
    }
    if held {
        decisions.guard = GuardOutcome::Held {
            deletions,
            links: link_count,
        };
        decisions.errors.push(guard_error(deletions, link_count));
    }
    decisions
}
