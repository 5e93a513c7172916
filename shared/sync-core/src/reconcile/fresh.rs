//! Observations no link claimed: new mailbox contacts (B8, B9), new Salesforce Contacts in scope
//! (B5), stamped items whose link is gone or elsewhere (B11, copies), and the crash case where a
//! create happened but its link was never stored (C4: adopt, never duplicate).

use std::collections::HashMap;

use crate::contact::{Contact, Field};
use crate::ids::{GraphItemId, SalesforceId, SyncKey};
use crate::mapping::{FIELD_TABLE, SalesforcePatch, graph_to_canonical, salesforce_to_canonical};
use crate::model::{
    ErrorCode, ExchangeItem, Fallback, FolderKind, ItemError, Link, LinkUpdate, Origin, Rejected,
    Relink, SalesforceCommand, SalesforceContact, Side,
};
use crate::validate::salesforce_violations;

use super::link::{ExState, SfState, decide_states, resolve_salesforce};
use super::removal::release;
use super::{Index, Plan, State};

pub(crate) fn decide_unclaimed(ix: &Index<'_>, st: &mut State, plans: &mut Vec<Plan>) {
    // Starting a link needs both sides: a half-made create from a crashed session is recognised
    // only by seeing its two halves together (C4). With one read failed, new contacts wait for
    // the next session (whose reads start from the same cursors).
    if !ix.ex_known || !ix.sf_known {
        return;
    }
    // Unclaimed Salesforce Contacts by every key a half-finished down-sync could have stamped.
    let mut contact_by_key: HashMap<SyncKey, &SalesforceContact> = HashMap::new();
    for contact in &ix.sf_order {
        if st.claimed_contacts.contains(&contact.id) || ix.link_by_sf.contains_key(&contact.id) {
            continue;
        }
        contact_by_key.insert(SyncKey::for_salesforce(&contact.id), contact);
        if let Some(key) = &contact.sync_key {
            contact_by_key.insert(key.clone(), contact);
        }
    }

    for item in &ix.ex_order {
        if st.claimed_items.contains(&item.id) {
            continue;
        }
        st.claimed_items.insert(item.id.clone());
        match item.folder {
            FolderKind::Other => {
                if let Some(plan) = outside_item(ix, st, item) {
                    plans.push(plan);
                }
            }
            FolderKind::SyncFolder => {
                let adopt = item
                    .sync_key
                    .as_ref()
                    .filter(|k| ix.key_is_free(st, k))
                    .and_then(|k| contact_by_key.get(k).map(|c| (k.clone(), *c)))
                    .filter(|(_, c)| !st.claimed_contacts.contains(&c.id));
                let plan = match adopt {
                    Some((key, contact)) => adopt_pair(ix, st, key, item, contact),
                    None => match readopt_mirror(ix, st, item) {
                        Some(plan) => plan,
                        None => new_in_folder(ix, st, item),
                    },
                };
                plans.push(plan);
            }
        }
    }

    for contact in &ix.sf_order {
        if st.claimed_contacts.contains(&contact.id)
            || ix.link_by_sf.contains_key(&contact.id)
            || ix.sf_deleted.contains(&contact.id)
            || ix.sf_out.contains(&contact.id)
            || !ix.in_scope(contact)
        {
            continue;
        }
        st.claimed_contacts.insert(contact.id.clone());
        plans.push(new_from_salesforce(ix, st, contact));
    }
}

/// A key for a new link: the preferred one if free, else the derived one, else a conflict.
fn allocate(
    ix: &Index<'_>,
    st: &mut State,
    preferred: Option<&SyncKey>,
    derived: SyncKey,
) -> Option<SyncKey> {
    let key = preferred
        .filter(|k| ix.key_is_free(st, k))
        .cloned()
        .or_else(|| ix.key_is_free(st, &derived).then_some(derived))?;
    st.new_keys.insert(key.clone());
    Some(key)
}

fn conflict(
    label: String,
    graph_id: Option<GraphItemId>,
    salesforce_id: Option<SalesforceId>,
) -> Plan {
    Plan {
        errors: vec![ItemError {
            item: label,
            code: ErrorCode::KeyConflict,
            field: None,
            message: "This contact's sync key is already used by another synced contact; it \
                      was left unsynced."
                .to_owned(),
            sync_key: None,
            graph_id,
            salesforce_id,
        }],
        ..Plan::default()
    }
}

fn new_link(ix: &Index<'_>, key: SyncKey, origin: Origin, baseline: Contact) -> Link {
    Link {
        sync_key: key,
        salesforce_id: None,
        graph_id: None,
        origin,
        account_name: None,
        baseline,
        snapshot: None,
        change_key: None,
        rejected: None,
        synced_at: ix.now,
    }
}

/// A contact in another folder: B9 if it has the category and no stamp; a stamped one left the
/// sync (B11) or is a copy of a synced contact, so it is released; anything else is personal (B4).
fn outside_item(ix: &Index<'_>, st: &mut State, item: &ExchangeItem) -> Option<Plan> {
    if item.sync_key.is_some() {
        let command = release(item)?;
        return Some(Plan {
            exchange: vec![command],
            ..Plan::default()
        });
    }
    if !item.has_category() {
        return None;
    }
    let value = graph_to_canonical(&item.fields);
    let Some(key) = allocate(ix, st, None, SyncKey::for_graph(&item.id)) else {
        return Some(conflict(value.label(), Some(item.id.clone()), None));
    };
    let link = Link {
        snapshot: Some(item.fields.clone()),
        ..new_link(ix, key, Origin::Exchange, value)
    };
    Some(decide_states(
        ix,
        &link,
        ExState::Outside(item),
        SfState::Unobserved,
        true,
    ))
}

/// A mirror we stamped for a Contact that is not linked and not in this session's changes (its
/// link was lost in a crash, and the Contact changed no further): the key names the Contact, so
/// the pair is linked again rather than the mirror being taken for a new contact (C4).
fn readopt_mirror(ix: &Index<'_>, st: &mut State, item: &ExchangeItem) -> Option<Plan> {
    let key = item.sync_key.as_ref().filter(|k| ix.key_is_free(st, k))?;
    let contact = key.salesforce_id()?;
    if ix.link_by_sf.contains_key(&contact) || st.claimed_contacts.contains(&contact) {
        return None;
    }
    st.new_keys.insert(key.clone());
    st.claimed_contacts.insert(contact.clone());
    let value = graph_to_canonical(&item.fields);
    let link = Link {
        salesforce_id: Some(contact.clone()),
        graph_id: Some(item.id.clone()),
        account_name: value.company.clone(),
        snapshot: Some(item.fields.clone()),
        change_key: item.change_key.clone(),
        ..new_link(ix, key.clone(), Origin::Salesforce, value.clone())
    };
    // Deleted or out of scope meanwhile: the usual rules apply to the re-linked pair.
    let sf = resolve_salesforce(ix, st, &link);
    let mut plan = decide_states(ix, &link, ExState::Present(item), sf, true);
    if !matches!(sf, SfState::Unobserved) {
        return Some(plan);
    }
    // What the Contact holds is unknown, and the user may have edited the mirror since it was
    // made: the mailbox's whole value is written to the Contact, so both sides agree again.
    let refused = Link {
        rejected: Some(Rejected {
            side: Side::Exchange,
            value: value.clone(),
        }),
        ..link
    };
    let violations = salesforce_violations(&value, &Field::ALL);
    if violations.is_empty() {
        plan.salesforce.push(SalesforceCommand::Update {
            sync_key: key.clone(),
            id: contact,
            patch: full_salesforce_patch(&value),
            relink: Some(Relink {
                company_name: value.company.clone(),
            }),
        });
        let fallback = plan.fallback.get_or_insert_with(|| Fallback {
            sync_key: key.clone(),
            if_exchange_fails: None,
            if_salesforce_fails: None,
        });
        fallback.if_salesforce_fails = Some(LinkUpdate::Upsert(Box::new(refused)));
    } else {
        // Salesforce would refuse the mailbox's value, and what the Contact holds is unknown: the
        // pair is linked with an empty baseline (no LastName, so never taken for Salesforce's
        // value) and the mailbox's value marked refused. A corrected mirror then writes its
        // whole value; a read of the Contact brings Salesforce's.
        let label = value.label();
        plan.errors
            .extend(violations.into_iter().map(|v| ItemError {
                item: label.clone(),
                code: v.code,
                field: v.field.map(str::to_owned),
                message: v.message,
                sync_key: Some(key.clone()),
                graph_id: Some(item.id.clone()),
                salesforce_id: refused.salesforce_id.clone(),
            }));
        plan.link = Some(LinkUpdate::Upsert(Box::new(Link {
            baseline: Contact::default(),
            account_name: None,
            ..refused
        })));
    }
    Some(plan)
}

/// Every mapped Salesforce field set to `value`'s (absent ones cleared).
fn full_salesforce_patch(value: &Contact) -> SalesforcePatch {
    SalesforcePatch(
        FIELD_TABLE
            .iter()
            .filter_map(|spec| {
                let name = spec.salesforce?;
                Some((name.to_owned(), value.get(spec.field).map(str::to_owned)))
            })
            .collect(),
    )
}

/// B8: a contact created in or moved into the folder. A stamp we do not know is kept as the key
/// (a half-finished up-sync: the upsert by that key finds its Contact); a stamp that belongs to
/// another link means this is a copy, which gets a key of its own.
fn new_in_folder(ix: &Index<'_>, st: &mut State, item: &ExchangeItem) -> Plan {
    let value = graph_to_canonical(&item.fields);
    let Some(key) = allocate(ix, st, item.sync_key.as_ref(), SyncKey::for_graph(&item.id)) else {
        return conflict(value.label(), Some(item.id.clone()), None);
    };
    let link = Link {
        graph_id: Some(item.id.clone()),
        snapshot: Some(item.fields.clone()),
        change_key: item.change_key.clone(),
        ..new_link(ix, key, Origin::Exchange, value)
    };
    decide_states(ix, &link, ExState::Present(item), SfState::Unobserved, true)
}

/// A mirror we created whose link was lost (crash between write and store): link the two as if
/// the down-sync had finished, then sync whatever differs.
fn adopt_pair(
    ix: &Index<'_>,
    st: &mut State,
    key: SyncKey,
    item: &ExchangeItem,
    contact: &SalesforceContact,
) -> Plan {
    st.new_keys.insert(key.clone());
    st.claimed_contacts.insert(contact.id.clone());
    let value = salesforce_to_canonical(&contact.fields);
    // Our external id on the Contact means we created it from the mailbox (down-synced Contacts
    // never get one), which keeps B7's exemption for up-synced contacts after a crash.
    let origin = if contact.sync_key.as_ref() == Some(&key) {
        Origin::Exchange
    } else {
        Origin::Salesforce
    };
    let link = Link {
        salesforce_id: Some(contact.id.clone()),
        graph_id: Some(item.id.clone()),
        account_name: value.company.clone(),
        snapshot: Some(item.fields.clone()),
        change_key: item.change_key.clone(),
        ..new_link(ix, key, origin, value)
    };
    let sf = resolve_salesforce(ix, st, &link);
    decide_states(ix, &link, ExState::Present(item), sf, true)
}

/// B5/B6: a Contact new in scope gets a mirror.
fn new_from_salesforce(ix: &Index<'_>, st: &mut State, contact: &SalesforceContact) -> Plan {
    let value = salesforce_to_canonical(&contact.fields);
    let Some(key) = allocate(
        ix,
        st,
        contact.sync_key.as_ref(),
        SyncKey::for_salesforce(&contact.id),
    ) else {
        return conflict(value.label(), None, Some(contact.id.clone()));
    };
    let link = Link {
        salesforce_id: Some(contact.id.clone()),
        account_name: value.company.clone(),
        ..new_link(ix, key, Origin::Salesforce, value)
    };
    decide_states(
        ix,
        &link,
        ExState::Unobserved,
        SfState::Present(contact),
        true,
    )
}
