//! The decision for one link: where each side's contact stands this session, then which rule
//! applies: removals (`removal.rs`: B6, B7, B11, B12, C2) or the merge (`update.rs`: C1, C7).

use crate::burst::Removal;
use crate::contact::Contact;
use crate::mapping::salesforce_to_canonical;
use crate::model::{ExchangeItem, FolderKind, Link, Origin, SalesforceContact, Side};

use super::{Deferrable, Index, Plan, State, removal, update};

/// Where the link's mailbox contact stands this session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExState<'a> {
    /// Not in this session's changes (unchanged, or the read failed).
    Unobserved,
    /// In the sync folder (possibly under a new id, found by its stamp).
    Present(&'a ExchangeItem),
    /// A synced item now in another folder (B11).
    MovedOut(&'a ExchangeItem),
    /// The item of a pending B9 link, still outside the folder: the move must be (re)done.
    Outside(&'a ExchangeItem),
    /// Deleted from the folder, or moved out to somewhere we cannot see.
    Removed,
}

/// Where the link's Salesforce Contact stands this session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SfState<'a> {
    Unobserved,
    Present(&'a SalesforceContact),
    Deleted,
    /// A down-synced Contact that left the scope (B7).
    OutOfScope,
}

pub(crate) fn decide_link(ix: &Index<'_>, st: &mut State, link: &Link) -> Plan {
    let ex = resolve_exchange(ix, st, link);
    let sf = resolve_salesforce(ix, st, link);
    decide_states(ix, link, ex, sf, false)
}

fn claim<'a>(st: &mut State, item: &'a ExchangeItem) -> &'a ExchangeItem {
    st.claimed_items.insert(item.id.clone());
    item
}

/// An unclaimed item stamped with this link's key, the sync folder first.
fn stamped<'a>(
    ix: &Index<'a>,
    st: &State,
    link: &Link,
    folder_only: bool,
) -> Option<&'a ExchangeItem> {
    let items = ix.ex_by_stamp.get(&link.sync_key)?;
    let free = |i: &&&ExchangeItem| !st.claimed_items.contains(&i.id);
    items
        .iter()
        .filter(free)
        .find(|i| i.folder == FolderKind::SyncFolder)
        .or_else(|| (!folder_only).then(|| items.iter().find(free)).flatten())
        .copied()
}

fn resolve_exchange<'a>(ix: &Index<'a>, st: &mut State, link: &Link) -> ExState<'a> {
    if !ix.ex_known {
        return ExState::Unobserved;
    }
    let by_folder = |item: &'a ExchangeItem| match item.folder {
        FolderKind::SyncFolder => ExState::Present(item),
        FolderKind::Other => ExState::MovedOut(item),
    };
    match &link.graph_id {
        Some(id) => {
            if let Some(item) = ix.ex_items.get(id).copied() {
                return by_folder(claim(st, item));
            }
            let gone = ix.ex_removed.contains(id) || ix.ex_complete;
            if !gone {
                return ExState::Unobserved;
            }
            // The id left its folder: our stamp on another item is the same contact, copied or
            // moved (ids change on moves unless immutable).
            match stamped(ix, st, link, false) {
                Some(item) => by_folder(claim(st, item)),
                None => ExState::Removed,
            }
        }
        None => {
            // A pending create or move: find its result by stamp, or the item it started from.
            if let Some(item) = stamped(ix, st, link, true) {
                return ExState::Present(claim(st, item));
            }
            match ix.ex_by_derived.get(&link.sync_key).copied() {
                Some(item) if !st.claimed_items.contains(&item.id) => match item.folder {
                    FolderKind::SyncFolder => ExState::Present(claim(st, item)),
                    FolderKind::Other => ExState::Outside(claim(st, item)),
                },
                _ => ExState::Unobserved,
            }
        }
    }
}

pub(crate) fn resolve_salesforce<'a>(ix: &Index<'a>, st: &mut State, link: &Link) -> SfState<'a> {
    if !ix.sf_known {
        return SfState::Unobserved;
    }
    match &link.salesforce_id {
        Some(id) => {
            st.claimed_contacts.insert(id.clone());
            if ix.sf_deleted.contains(id) {
                return SfState::Deleted;
            }
            let contact = ix.sf_contacts.get(id).copied();
            let out = ix.sf_out.contains(id)
                || contact.is_some_and(|c| !ix.in_scope(c))
                || (contact.is_none() && ix.sf_complete);
            // Up-synced Contacts stay linked whatever the scope (B7).
            if out && link.origin == Origin::Salesforce {
                return SfState::OutOfScope;
            }
            contact.map_or(SfState::Unobserved, SfState::Present)
        }
        None => match ix.sf_by_key.get(&link.sync_key).copied() {
            // The upsert of a pending create happened; its result was lost (C4).
            Some(c)
                if !ix.link_by_sf.contains_key(&c.id) && !st.claimed_contacts.contains(&c.id) =>
            {
                st.claimed_contacts.insert(c.id.clone());
                SfState::Present(c)
            }
            _ => SfState::Unobserved,
        },
    }
}

pub(crate) fn decide_states(
    ix: &Index<'_>,
    link: &Link,
    ex: ExState<'_>,
    sf: SfState<'_>,
    is_new: bool,
) -> Plan {
    let mut plan = match (ex, sf) {
        (ex, SfState::Deleted | SfState::OutOfScope) => removal::remove_mirror(link, ex, is_new),
        // Whether to delete the Contact or restore the mirror depends on Salesforce's side (C2,
        // B7, and our own earlier writes): with its read failed, decide next session.
        (ExState::Removed | ExState::MovedOut(_), _) if !ix.sf_known => Plan::default(),
        (ExState::Removed, sf) => removal::left_folder(ix, link, None, sf),
        (ExState::MovedOut(item), sf) => removal::left_folder(ix, link, Some(item), sf),
        (ex, sf) => update::update(ix, link, ex, sf, is_new),
    };
    if plan.deletes && !is_new {
        plan.deletion = removal_of(link, ex, sf).map(|removal| Deferrable {
            removal,
            relinked: relinked(link, ex, sf),
        });
    }
    plan
}

/// The link row with the ids this session found for it (a mirror re-found by its stamp under a
/// new id, a Contact known only by its key after a lost result), when they differ from the
/// stored ones: a deletion that waits keeps what was learnt, so replaying it later finds the
/// same contacts (C4).
fn relinked(link: &Link, ex: ExState<'_>, sf: SfState<'_>) -> Option<Link> {
    let mut row = link.clone();
    if let ExState::Present(item) = ex {
        row.graph_id = Some(item.id.clone());
    }
    if let (SfState::Present(contact), None) = (sf, &link.salesforce_id) {
        row.salesforce_id = Some(contact.id.clone());
    }
    (row.graph_id != link.graph_id || row.salesforce_id != link.salesforce_id).then_some(row)
}

/// The observation that makes a stored link's plan delete, as a later session can replay it.
fn removal_of(link: &Link, ex: ExState<'_>, sf: SfState<'_>) -> Option<Removal> {
    match (sf, ex) {
        (SfState::Deleted, _) => link
            .salesforce_id
            .clone()
            .map(|id| Removal::SalesforceDeleted { id }),
        (SfState::OutOfScope, _) => link
            .salesforce_id
            .clone()
            .map(|id| Removal::SalesforceOutOfScope { id }),
        (_, ExState::Removed | ExState::MovedOut(_)) => link
            .graph_id
            .clone()
            .map(|graph_id| Removal::MailboxRemoved { graph_id }),
        _ => None,
    }
}

/// The link's baseline as the Salesforce side compares: the company is the Account's name.
pub(super) fn salesforce_base(link: &Link) -> Contact {
    let mut base = link.baseline.clone();
    base.company = link.account_name.clone();
    base
}

pub(super) fn observed_salesforce(sf: SfState<'_>) -> Option<(&SalesforceContact, Contact)> {
    match sf {
        SfState::Present(c) => Some((c, salesforce_to_canonical(&c.fields))),
        _ => None,
    }
}

pub(super) fn is_rejected(link: &Link, side: Side, value: &Contact) -> bool {
    link.rejected
        .as_ref()
        .is_some_and(|r| r.side == side && r.value == *value)
}

pub(super) fn rejected_value(link: &Link, side: Side) -> Option<Contact> {
    link.rejected
        .as_ref()
        .filter(|r| r.side == side)
        .map(|r| r.value.clone())
}
