//! The decision for one link: where each side's contact stands this session, then the rule that
//! applies (C2 delete-versus-edit, B6/B7 removals, B11/B12 leaving the folder, C1 merge, B10, C7).

use crate::contact::{Contact, Field};
use crate::mapping::{
    ExchangeExtras, canonical_to_graph, canonical_to_salesforce, graph_patch, graph_to_canonical,
    salesforce_patch, salesforce_to_canonical,
};
use crate::model::{
    ConflictWinner, ExchangeCommand, ExchangeItem, Fallback, FolderKind, ItemError, Link,
    LinkUpdate, Origin, Rejected, Relink, SALESFORCE_CATEGORY, SalesforceCommand,
    SalesforceContact, Side, Stamp,
};
use crate::validate::salesforce_violations;

use super::{Index, Plan, State, removal};

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
    match (ex, sf) {
        (ex, SfState::Deleted | SfState::OutOfScope) => removal::remove_mirror(link, ex, is_new),
        // Whether to delete the Contact or restore the mirror depends on Salesforce's side (C2,
        // B7, and our own earlier writes): with its read failed, decide next session.
        (ExState::Removed | ExState::MovedOut(_), _) if !ix.sf_known => Plan::default(),
        (ExState::Removed, sf) => removal::left_folder(ix, link, None, sf),
        (ExState::MovedOut(item), sf) => removal::left_folder(ix, link, Some(item), sf),
        (ex, sf) => update(ix, link, ex, sf, is_new),
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

/// C1: per field, the side that changed it wins; both changed to different values → the
/// configured winner; equal edits are no conflict.
pub(crate) fn merge(
    base: &Contact,
    sf_base: &Contact,
    exchange: &Contact,
    salesforce: &Contact,
    winner: ConflictWinner,
) -> Contact {
    let mut out = base.clone();
    for field in Field::ALL {
        let e_changed = exchange.get(field) != base.get(field);
        let s_changed = salesforce.get(field) != sf_base.get(field);
        let value = match (e_changed, s_changed) {
            (false, false) => base.get(field),
            (true, false) => exchange.get(field),
            (false, true) => salesforce.get(field),
            (true, true) if exchange.get(field) == salesforce.get(field) => exchange.get(field),
            (true, true) => match winner {
                ConflictWinner::Salesforce => salesforce.get(field),
                ConflictWinner::Exchange => exchange.get(field),
            },
        };
        out.set(field, value);
    }
    out
}

/// `from` with the fields where `merged` differs from `merge_input` taken from `merged`: each side
/// receives exactly the merge's changes relative to what the merge saw of it.
fn apply_changes(
    from: &Contact,
    merged: &Contact,
    merge_input: &Contact,
    skip: Option<Field>,
) -> Contact {
    let mut out = from.clone();
    for field in merged.diff(merge_input) {
        if Some(field) != skip {
            out.set(field, merged.get(field));
        }
    }
    out
}

fn item_error(
    link: &Link,
    label: String,
    graph_id: Option<crate::ids::GraphItemId>,
    v: crate::validate::Violation,
) -> ItemError {
    ItemError {
        item: label,
        code: v.code,
        field: v.field.map(str::to_owned),
        message: v.message,
        sync_key: Some(link.sync_key.clone()),
        graph_id,
        salesforce_id: link.salesforce_id.clone(),
    }
}

/// Both contacts exist (or are pending creates): merge, write each side its changes, validate.
fn update(ix: &Index<'_>, link: &Link, ex: ExState<'_>, sf: SfState<'_>, is_new: bool) -> Plan {
    let key = &link.sync_key;
    let mut plan = Plan::default();
    let base = &link.baseline;
    let sf_base = salesforce_base(link);

    let item = match ex {
        ExState::Present(item) | ExState::Outside(item) => Some(item),
        _ => None,
    };
    let e_obs = item.map(|i| graph_to_canonical(&i.fields));
    let s_pair = observed_salesforce(sf);
    let sf_contact = s_pair.as_ref().map(|(c, _)| *c);
    let s_obs = s_pair.map(|(_, s)| s);
    // A side still showing the value the other side rejected is not offered again (C7).
    let e_fresh = e_obs
        .clone()
        .filter(|v| !is_rejected(link, Side::Exchange, v));
    let s_fresh = s_obs
        .clone()
        .filter(|v| !is_rejected(link, Side::Salesforce, v));
    let e_actual = e_obs
        .clone()
        .or_else(|| rejected_value(link, Side::Exchange))
        .unwrap_or_else(|| base.clone());
    let s_actual = s_obs
        .clone()
        .or_else(|| rejected_value(link, Side::Salesforce))
        .unwrap_or_else(|| sf_base.clone());
    let e_merge = e_fresh.clone().unwrap_or_else(|| base.clone());
    let s_merge = s_fresh.clone().unwrap_or_else(|| sf_base.clone());
    let mut merged = merge(
        base,
        &sf_base,
        &e_merge,
        &s_merge,
        ix.settings.conflict_winner,
    );

    // The item as it stands: read this session, else as last read or written.
    let current = item
        .map(|i| i.fields.clone())
        .or_else(|| link.snapshot.clone());
    let extras = current
        .as_ref()
        .map(ExchangeExtras::from_graph)
        .unwrap_or_default();
    let target_e_raw = apply_changes(&e_actual, &merged, &e_merge, None);

    // Mailbox side. The patch is applied to the item as Graph would, and what the item will then
    // read as is the target: where Graph's shapes bend a value (an emptied first email promotes
    // the next, a name change regenerates the display name) both sides get the same.
    let graph_id = match ex {
        ExState::Present(item) => Some(item.id.clone()),
        ExState::Outside(_) => None,
        _ => link.graph_id.clone(),
    };
    let mut exchange_write = false;
    // (the item before, after): `None` before means the whole item is written (a create).
    let (exchange_before, exchange_after) = match (ex, &graph_id) {
        (ExState::Outside(item), _) => {
            // B9: into the folder (copy + delete, keeping the link), with any changes applied
            // to the copy.
            let patch = graph_patch(&e_actual, &target_e_raw, &extras);
            let before = item.fields.clone();
            let mut after = before.clone();
            patch.apply_to(&mut after);
            plan.exchange.push(ExchangeCommand::MoveIntoFolder {
                sync_key: key.clone(),
                id: item.id.clone(),
                categories: with_category(&item.categories),
                patch,
            });
            exchange_write = true;
            (Some(before), after)
        }
        (_, None) => {
            let after = canonical_to_graph(&target_e_raw, &extras);
            // A mirror to create (B5) or re-try, once Salesforce offers a fresh value.
            if is_new || s_fresh.is_some() {
                plan.exchange.push(ExchangeCommand::Create {
                    sync_key: key.clone(),
                    fields: after.clone(),
                });
                exchange_write = true;
            }
            (None, after)
        }
        (_, Some(id)) => {
            let patch = graph_patch(&e_actual, &target_e_raw, &extras);
            // Without a snapshot (an old row) the item is rebuilt from its canonical value; only
            // what the patch changes is then taken from the rebuild, which may be lossy.
            let before = current
                .clone()
                .unwrap_or_else(|| canonical_to_graph(&e_actual, &extras));
            let mut after = before.clone();
            patch.apply_to(&mut after);
            let in_folder = item.filter(|i| i.folder == FolderKind::SyncFolder);
            // B8/B10: the category is (re)set on anything synced in the folder.
            let categories = in_folder
                .filter(|i| !i.has_category())
                .map(|i| with_category(&i.categories));
            let stamp = match in_folder {
                Some(i) if i.sync_key.as_ref() != Some(key) => Stamp::Set(key.clone()),
                _ => Stamp::Keep,
            };
            if !patch.is_empty() || categories.is_some() || stamp != Stamp::Keep {
                plan.exchange.push(ExchangeCommand::Update {
                    sync_key: key.clone(),
                    id: id.clone(),
                    patch,
                    categories,
                    stamp,
                });
                exchange_write = true;
            }
            (Some(before), after)
        }
    };
    let target_e = match &exchange_before {
        None => graph_to_canonical(&exchange_after),
        Some(before) => {
            let (before, after) = (
                graph_to_canonical(before),
                graph_to_canonical(&exchange_after),
            );
            let mut target = target_e_raw.clone();
            for field in before.diff(&after) {
                target.set(field, after.get(field));
            }
            target
        }
    };
    for field in target_e_raw.diff(&target_e) {
        merged.set(field, target_e.get(field));
    }
    let mut target_s = apply_changes(&s_actual, &merged, &s_merge, Some(Field::Company));
    target_s.company = s_actual.company.clone();

    // Salesforce side.
    let salesforce_id = link
        .salesforce_id
        .clone()
        .or_else(|| sf_contact.map(|c| c.id.clone()));
    let mut salesforce_cmd = None;
    let mut fields_written: Vec<Field> = Vec::new();
    match &salesforce_id {
        None => {
            // Up-sync create (B8/B9), or its retry once the mailbox offers a fresh value.
            if is_new || e_fresh.is_some() {
                fields_written = Field::ALL.to_vec();
                salesforce_cmd = Some(SalesforceCommand::Create {
                    sync_key: key.clone(),
                    owner_id: ix.settings.salesforce_user_id.clone(),
                    fields: Box::new(canonical_to_salesforce(&merged)),
                    company_name: merged.company.clone(),
                });
            }
        }
        Some(id) => {
            let patch = salesforce_patch(&s_actual, &target_s);
            // B14 again when the mailbox changed the company and Salesforce did not follow.
            let relink = (merged.company != base.company
                && merged.company == e_merge.company
                && merged.company != s_merge.company)
                .then(|| Relink {
                    company_name: merged.company.clone(),
                });
            if !patch.is_empty() || relink.is_some() {
                fields_written = s_actual.diff(&target_s);
                salesforce_cmd = Some(SalesforceCommand::Update {
                    sync_key: key.clone(),
                    id: id.clone(),
                    patch,
                    relink,
                });
            }
        }
    }
    let violations = if salesforce_cmd.is_some() {
        let checked = if salesforce_id.is_none() {
            &merged
        } else {
            &target_s
        };
        salesforce_violations(checked, &fields_written)
    } else {
        Vec::new()
    };

    let new_account_name = s_obs
        .as_ref()
        .map_or_else(|| link.account_name.clone(), |s| s.company.clone());
    let planned = Link {
        sync_key: key.clone(),
        salesforce_id: salesforce_id.clone(),
        graph_id: graph_id.clone(),
        origin: link.origin,
        baseline: merged.clone(),
        account_name: new_account_name.clone(),
        snapshot: (exchange_write || item.is_some() || graph_id.is_some())
            .then(|| exchange_after.clone()),
        change_key: item
            .and_then(|i| i.change_key.clone())
            .or_else(|| link.change_key.clone()),
        rejected: None,
        synced_at: ix.now,
    };
    // The row if Salesforce keeps its value: the baseline is what Salesforce has, and the mailbox
    // value it refused is marked so it is not offered again until it changes (C7).
    let salesforce_kept = Link {
        baseline: if salesforce_id.is_some() {
            Contact {
                company: merged.company.clone(),
                ..s_actual.clone()
            }
        } else {
            merged.clone()
        },
        rejected: Some(Rejected {
            side: Side::Exchange,
            value: target_e.clone(),
        }),
        ..planned.clone()
    };
    let row = if violations.is_empty() {
        plan.salesforce.extend(salesforce_cmd.clone());
        let rejected = if target_e != merged {
            Some(Rejected {
                side: Side::Exchange,
                value: target_e.clone(),
            })
        } else if strip_company(&target_s) != strip_company(&merged) {
            Some(Rejected {
                side: Side::Salesforce,
                value: target_s.clone(),
            })
        } else {
            // A mark stays while its side offers nothing new (it then shows the target value).
            link.rejected.as_ref().and_then(|r| match r.side {
                Side::Exchange if e_fresh.is_none() => Some(Rejected {
                    side: Side::Exchange,
                    value: target_e.clone(),
                }),
                Side::Salesforce if s_fresh.is_none() => Some(Rejected {
                    side: Side::Salesforce,
                    value: target_s.clone(),
                }),
                _ => None,
            })
        };
        Link {
            rejected,
            ..planned.clone()
        }
    } else {
        let label = merged.label();
        plan.errors.extend(
            violations
                .into_iter()
                .map(|v| item_error(link, label.clone(), graph_id.clone(), v)),
        );
        salesforce_kept.clone()
    };

    let changed = is_new || !same_row(&row, link);
    if changed {
        plan.link = Some(LinkUpdate::Upsert(Box::new(row)));
    }
    if exchange_write || !plan.salesforce.is_empty() {
        let exchange_kept = Link {
            baseline: if graph_id.is_some() {
                e_actual.clone()
            } else {
                merged.clone()
            },
            rejected: Some(Rejected {
                side: Side::Salesforce,
                value: target_s.clone(),
            }),
            ..planned.clone()
        };
        plan.fallback = Some(Fallback {
            sync_key: key.clone(),
            if_exchange_fails: exchange_write.then(|| LinkUpdate::Upsert(Box::new(exchange_kept))),
            if_salesforce_fails: (!plan.salesforce.is_empty())
                .then(|| LinkUpdate::Upsert(Box::new(salesforce_kept))),
        });
    }
    plan
}

fn strip_company(c: &Contact) -> Contact {
    Contact {
        company: None,
        ..c.clone()
    }
}

/// Rows equal but for the timestamp need no write.
fn same_row(a: &Link, b: &Link) -> bool {
    Link {
        synced_at: b.synced_at,
        ..a.clone()
    } == *b
}

fn with_category(categories: &[String]) -> Vec<String> {
    let mut out = categories.to_vec();
    if !out
        .iter()
        .any(|c| c.trim().eq_ignore_ascii_case(SALESFORCE_CATEGORY))
    {
        out.push(SALESFORCE_CATEGORY.to_owned());
    }
    out
}
