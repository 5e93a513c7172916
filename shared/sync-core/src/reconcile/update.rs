//! Both contacts exist (or one is a pending create): the three-way merge (C1), each side's
//! write of exactly the merge's changes for it (B8, B10, B13, B14 relink), validation before
//! Salesforce sees anything (C7), and the link rows for success and for each side's failure.

use crate::contact::{Contact, Field};
use crate::fields::GraphContactFields;
use crate::ids::{GraphItemId, SalesforceId};
use crate::mapping::{
    ExchangeExtras, canonical_to_graph, canonical_to_salesforce, graph_patch, graph_to_canonical,
    salesforce_patch,
};
use crate::model::{
    ConflictWinner, ExchangeCommand, ExchangeItem, Fallback, FolderKind, ItemError, Link,
    LinkUpdate, Rejected, Relink, SALESFORCE_CATEGORY, SalesforceCommand, SalesforceContact, Side,
    Stamp,
};
use crate::validate::{Violation, salesforce_violations};

use super::link::{
    ExState, SfState, is_rejected, observed_salesforce, rejected_value, salesforce_base,
};
use super::{Index, Plan};

/// C1: per field, the side that changed it wins; both changed to different values → the
/// configured winner; equal edits are no conflict. Salesforce's side compares to `sf_base`
/// (the baseline with the Account's name as company).
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
        let source = match (e_changed, s_changed) {
            (false, false) => continue,
            (true, false) => exchange,
            (false, true) => salesforce,
            (true, true) if exchange.get(field) == salesforce.get(field) => exchange,
            (true, true) => match winner {
                ConflictWinner::Salesforce => salesforce,
                ConflictWinner::Exchange => exchange,
            },
        };
        out.copy_from(source, field);
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
            out.copy_from(merged, field);
        }
    }
    out
}

/// What each side holds and what the merge may take from it.
struct Sides<'a> {
    item: Option<&'a ExchangeItem>,
    contact: Option<&'a SalesforceContact>,
    /// Salesforce's value as read this session.
    s_obs: Option<Contact>,
    /// A side's value this session unless it is the one the other side rejected (C7).
    e_fresh: Option<Contact>,
    s_fresh: Option<Contact>,
    /// What each side holds now (read, or known from the link).
    e_actual: Contact,
    s_actual: Contact,
    /// What the merge sees of each side: fresh values, else the baseline.
    e_merge: Contact,
    s_merge: Contact,
    /// The item's Graph fields as they stand (read, else the link's snapshot).
    current: Option<GraphContactFields>,
    extras: ExchangeExtras,
}

fn sides<'a>(link: &Link, ex: ExState<'a>, sf: SfState<'a>) -> Sides<'a> {
    let base = &link.baseline;
    let sf_base = salesforce_base(link);
    let item = match ex {
        ExState::Present(item) | ExState::Outside(item) => Some(item),
        _ => None,
    };
    let e_obs = item.map(|i| graph_to_canonical(&i.fields));
    let (contact, s_obs) = match observed_salesforce(sf) {
        Some((c, s)) => (Some(c), Some(s)),
        None => (None, None),
    };
    let e_fresh = e_obs
        .clone()
        .filter(|v| !is_rejected(link, Side::Exchange, v));
    let s_fresh = s_obs
        .clone()
        .filter(|v| !is_rejected(link, Side::Salesforce, v));
    let e_actual = e_obs
        .or_else(|| rejected_value(link, Side::Exchange))
        .unwrap_or_else(|| base.clone());
    let s_actual = s_obs
        .clone()
        .or_else(|| rejected_value(link, Side::Salesforce))
        .unwrap_or_else(|| sf_base.clone());
    let current = item
        .map(|i| i.fields.clone())
        .or_else(|| link.snapshot.clone());
    let extras = current
        .as_ref()
        .map(ExchangeExtras::from_graph)
        .unwrap_or_default();
    Sides {
        item,
        contact,
        s_obs,
        e_merge: e_fresh.clone().unwrap_or_else(|| base.clone()),
        s_merge: s_fresh.clone().unwrap_or(sf_base),
        e_fresh,
        s_fresh,
        e_actual,
        s_actual,
        current,
        extras,
    }
}

/// The mailbox side's write and what the item holds before and after it.
struct MailboxWrite {
    command: Option<ExchangeCommand>,
    graph_id: Option<GraphItemId>,
    /// `None`: the whole item is written (a create).
    before: Option<GraphContactFields>,
    after: GraphContactFields,
}

/// The write that takes the mailbox from what it holds to `target` (canonical). The patch is
/// applied to the item as Graph would, so the caller can see what the item will read as.
fn mailbox_write(
    link: &Link,
    ex: ExState<'_>,
    sides: &Sides<'_>,
    target: &Contact,
    is_new: bool,
) -> MailboxWrite {
    let key = &link.sync_key;
    let graph_id = match ex {
        ExState::Present(item) => Some(item.id.clone()),
        ExState::Outside(_) => None,
        _ => link.graph_id.clone(),
    };
    let patch = graph_patch(&sides.e_actual, target, &sides.extras);
    match (ex, &graph_id) {
        (ExState::Outside(item), _) => {
            // B9: into the folder (copy + delete, keeping the link), changes applied to the copy.
            let before = item.fields.clone();
            let mut after = before.clone();
            patch.apply_to(&mut after);
            let command = ExchangeCommand::MoveIntoFolder {
                sync_key: key.clone(),
                id: item.id.clone(),
                categories: with_category(&item.categories),
                patch,
            };
            MailboxWrite {
                command: Some(command),
                graph_id,
                before: Some(before),
                after,
            }
        }
        (_, None) => {
            let after = canonical_to_graph(target, &sides.extras);
            // A mirror to create (B5), or to re-try once Salesforce offers a fresh value.
            let command = (is_new || sides.s_fresh.is_some()).then(|| ExchangeCommand::Create {
                sync_key: key.clone(),
                fields: after.clone(),
            });
            MailboxWrite {
                command,
                graph_id,
                before: None,
                after,
            }
        }
        (_, Some(id)) => {
            // Without a snapshot (an old row) the item is rebuilt from its canonical value; only
            // what the patch changes is then taken from the rebuild, which may be lossy.
            let before = sides
                .current
                .clone()
                .unwrap_or_else(|| canonical_to_graph(&sides.e_actual, &sides.extras));
            let mut after = before.clone();
            patch.apply_to(&mut after);
            let in_folder = sides.item.filter(|i| i.folder == FolderKind::SyncFolder);
            // B8/B10: the category is (re)set on anything synced in the folder.
            let categories = in_folder
                .filter(|i| !i.has_category())
                .map(|i| with_category(&i.categories));
            // Stamp an item that lacks our key; but a linked item read without one (a delta does
            // not return extended properties unless the reader fills them in) is left alone,
            // or every session would stamp it again (C3).
            let stamp = match in_folder {
                Some(i) if i.sync_key.as_ref() == Some(key) => Stamp::Keep,
                Some(i)
                    if i.sync_key.is_none() && !is_new && link.graph_id.as_ref() == Some(&i.id) =>
                {
                    Stamp::Keep
                }
                Some(_) => Stamp::Set(key.clone()),
                None => Stamp::Keep,
            };
            let needed = !patch.is_empty() || categories.is_some() || stamp != Stamp::Keep;
            let command = needed.then(|| ExchangeCommand::Update {
                sync_key: key.clone(),
                id: id.clone(),
                patch,
                categories,
                stamp,
            });
            MailboxWrite {
                command,
                graph_id,
                before: Some(before),
                after,
            }
        }
    }
}

/// What the mailbox will read as after `write`: `target` where the write did not touch it, and
/// Graph's own result where it did (an emptied first email promotes the next; a name change
/// regenerates the display name, which may be the LastName fallback).
fn mailbox_result(target: &Contact, write: &MailboxWrite) -> Contact {
    let Some(before) = &write.before else {
        return graph_to_canonical(&write.after);
    };
    if *before == write.after {
        return target.clone();
    }
    let after = graph_to_canonical(&write.after);
    let mut out = target.clone();
    for field in graph_to_canonical(before).diff(&after) {
        out.copy_from(&after, field);
    }
    out
}

/// The Salesforce side's write, with what it writes checked first (C7).
struct SalesforceWrite {
    command: Option<SalesforceCommand>,
    id: Option<SalesforceId>,
    violations: Vec<Violation>,
}

fn salesforce_write(
    ix: &Index<'_>,
    link: &Link,
    sides: &Sides<'_>,
    merged: &Contact,
    target: &Contact,
    is_new: bool,
) -> SalesforceWrite {
    let key = &link.sync_key;
    let id = link
        .salesforce_id
        .clone()
        .or_else(|| sides.contact.map(|c| c.id.clone()));
    let (command, checked, fields) = match &id {
        // Up-sync create (B8/B9), or its retry once the mailbox offers a fresh value.
        None if is_new || sides.e_fresh.is_some() => {
            let command = SalesforceCommand::Create {
                sync_key: key.clone(),
                owner_id: ix.settings.salesforce_user_id.clone(),
                fields: Box::new(canonical_to_salesforce(merged)),
                company_name: merged.company.clone(),
            };
            (Some(command), merged, Field::ALL.to_vec())
        }
        None => (None, merged, Vec::new()),
        Some(id) => {
            let patch = salesforce_patch(&sides.s_actual, target);
            // B14 again when the mailbox changed the company and Salesforce did not follow.
            let relink = (merged.company != link.baseline.company
                && merged.company == sides.e_merge.company
                && merged.company != sides.s_merge.company)
                .then(|| Relink {
                    company_name: merged.company.clone(),
                });
            let needed = !patch.is_empty() || relink.is_some();
            let command = needed.then(|| SalesforceCommand::Update {
                sync_key: key.clone(),
                id: id.clone(),
                patch,
                relink,
            });
            (command, target, sides.s_actual.diff(target))
        }
    };
    let violations = if command.is_some() {
        salesforce_violations(checked, &fields)
    } else {
        Vec::new()
    };
    SalesforceWrite {
        command,
        id,
        violations,
    }
}

/// Both contacts exist (or are pending creates): merge, write each side its changes, validate.
pub(super) fn update(
    ix: &Index<'_>,
    link: &Link,
    ex: ExState<'_>,
    sf: SfState<'_>,
    is_new: bool,
) -> Plan {
    let key = &link.sync_key;
    let sides = sides(link, ex, sf);
    let mut merged = merge(
        &link.baseline,
        &salesforce_base(link),
        &sides.e_merge,
        &sides.s_merge,
        ix.settings.conflict_winner,
    );

    let target_e_raw = apply_changes(&sides.e_actual, &merged, &sides.e_merge, None);
    let mailbox = mailbox_write(link, ex, &sides, &target_e_raw, is_new);
    let target_e = mailbox_result(&target_e_raw, &mailbox);
    // Where Graph bends a value, Salesforce gets what the mailbox will really show.
    for field in target_e_raw.diff(&target_e) {
        merged.set(field, target_e.get(field));
    }
    let mut target_s = apply_changes(
        &sides.s_actual,
        &merged,
        &sides.s_merge,
        Some(Field::Company),
    );
    target_s.company = sides.s_actual.company.clone();
    let salesforce = salesforce_write(ix, link, &sides, &merged, &target_s, is_new);

    let planned = Link {
        sync_key: key.clone(),
        salesforce_id: salesforce.id.clone(),
        graph_id: mailbox.graph_id.clone(),
        origin: link.origin,
        baseline: merged.clone(),
        account_name: sides
            .s_obs
            .as_ref()
            .map_or_else(|| link.account_name.clone(), |s| s.company.clone()),
        snapshot: (mailbox.command.is_some() || sides.item.is_some() || mailbox.graph_id.is_some())
            .then(|| mailbox.after.clone()),
        change_key: sides
            .item
            .and_then(|i| i.change_key.clone())
            .or_else(|| link.change_key.clone()),
        rejected: None,
        synced_at: ix.now,
    };
    // The row if Salesforce keeps its value: the baseline is what Salesforce has, and the mailbox
    // value it refused is marked so it is not offered again until it changes (C7). Built only
    // when needed: most links in a full listing write nothing.
    let salesforce_kept = |planned: &Link| Link {
        baseline: if salesforce.id.is_some() {
            Contact {
                company: merged.company.clone(),
                ..sides.s_actual.clone()
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
    // The row if the mailbox keeps its value, symmetrically.
    let exchange_kept = |planned: &Link| Link {
        baseline: if mailbox.graph_id.is_some() {
            sides.e_actual.clone()
        } else {
            merged.clone()
        },
        rejected: Some(Rejected {
            side: Side::Salesforce,
            value: target_s.clone(),
        }),
        ..planned.clone()
    };

    let mut plan = Plan::default();
    plan.exchange.extend(mailbox.command.clone());
    let exchange_writes = !plan.exchange.is_empty();
    let valid = salesforce.violations.is_empty();
    let salesforce_writes = valid && salesforce.command.is_some();
    if exchange_writes || salesforce_writes {
        plan.fallback = Some(Fallback {
            sync_key: key.clone(),
            if_exchange_fails: exchange_writes
                .then(|| LinkUpdate::Upsert(Box::new(exchange_kept(&planned)))),
            if_salesforce_fails: salesforce_writes
                .then(|| LinkUpdate::Upsert(Box::new(salesforce_kept(&planned)))),
        });
    }
    let row = if valid {
        plan.salesforce.extend(salesforce.command.clone());
        let rejected = still_rejected(link, &sides, &merged, &target_e, &target_s);
        Link {
            rejected,
            ..planned
        }
    } else {
        let label = merged.label();
        plan.errors.extend(
            salesforce
                .violations
                .iter()
                .cloned()
                .map(|v| item_error(link, label.clone(), mailbox.graph_id.clone(), v)),
        );
        salesforce_kept(&planned)
    };
    if is_new || !same_row(&row, link) {
        plan.link = Some(LinkUpdate::Upsert(Box::new(row)));
    }
    plan
}

/// The rejected mark after a session whose writes all pass validation: a side left holding a
/// value the other does not (a refused value the merge ignored) stays marked with what it will
/// show; a mark also stays while its side offers nothing new.
fn still_rejected(
    link: &Link,
    sides: &Sides<'_>,
    merged: &Contact,
    target_e: &Contact,
    target_s: &Contact,
) -> Option<Rejected> {
    if target_e != merged {
        return Some(Rejected {
            side: Side::Exchange,
            value: target_e.clone(),
        });
    }
    if strip_company(target_s) != strip_company(merged) {
        return Some(Rejected {
            side: Side::Salesforce,
            value: target_s.clone(),
        });
    }
    link.rejected.as_ref().and_then(|r| match r.side {
        Side::Exchange if sides.e_fresh.is_none() => Some(Rejected {
            side: Side::Exchange,
            value: target_e.clone(),
        }),
        Side::Salesforce if sides.s_fresh.is_none() => Some(Rejected {
            side: Side::Salesforce,
            value: target_s.clone(),
        }),
        _ => None,
    })
}

fn item_error(
    link: &Link,
    label: String,
    graph_id: Option<GraphItemId>,
    v: Violation,
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

/// The company compares by side (the Account's name against the mailbox's), so marks ignore it.
fn strip_company(c: &Contact) -> Contact {
    Contact {
        company: None,
        ..c.clone()
    }
}

/// Rows equal but for the timestamp need no write.
fn same_row(a: &Link, b: &Link) -> bool {
    let Link {
        sync_key,
        salesforce_id,
        graph_id,
        origin,
        baseline,
        account_name,
        snapshot,
        change_key,
        rejected,
        synced_at: _,
    } = a;
    *sync_key == b.sync_key
        && *salesforce_id == b.salesforce_id
        && *graph_id == b.graph_id
        && *origin == b.origin
        && *baseline == b.baseline
        && *account_name == b.account_name
        && *snapshot == b.snapshot
        && *change_key == b.change_key
        && *rejected == b.rejected
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
