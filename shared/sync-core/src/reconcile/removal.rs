//! Links whose contact left one side: the mirror goes when Salesforce deletes the Contact or it
//! leaves the scope (B6, B7, C2), and a mirror deleted or moved out of the folder is either
//! answered by deleting the Contact (auto-removal) or re-created from Salesforce (B11, B12, C2).

use crate::ids::SyncKey;
use crate::mapping::{ExchangeExtras, canonical_to_graph};
use crate::model::{
    ExchangeCommand, ExchangeItem, Fallback, Link, LinkUpdate, Rejected, SALESFORCE_CATEGORY,
    SalesforceCommand, Side, Stamp,
};

use super::link::{
    ExState, SfState, is_rejected, observed_salesforce, rejected_value, salesforce_base,
};
use super::{Index, Plan};

/// The PATCH that takes an item out of the sync (B11): category off, stamp blanked, so it is
/// never mistaken for a link's contact again. The command carries the item's own derived key,
/// not a link's: its result (or failure) must not touch any link row; an item it fails to
/// release is released again when next seen.
pub(crate) fn release(item: &ExchangeItem) -> Option<ExchangeCommand> {
    let key = SyncKey::for_graph(&item.id);
    let categories = item.has_category().then(|| {
        item.categories
            .iter()
            .filter(|c| !c.trim().eq_ignore_ascii_case(SALESFORCE_CATEGORY))
            .cloned()
            .collect()
    });
    let stamp = if item.sync_key.is_some() {
        Stamp::Clear
    } else {
        Stamp::Keep
    };
    (categories.is_some() || stamp != Stamp::Keep).then(|| ExchangeCommand::Update {
        sync_key: key,
        id: item.id.clone(),
        patch: Default::default(),
        categories,
        stamp,
    })
}

/// B6/B7 and C2's first half: the Salesforce Contact is deleted or out of scope, so the mirror
/// goes, edited or not. A contact the user moved out of the folder is only released.
pub(super) fn remove_mirror(link: &Link, ex: ExState<'_>, is_new: bool) -> Plan {
    let key = &link.sync_key;
    let mut plan = Plan::default();
    match ex {
        ExState::Present(item) => {
            plan.exchange.push(ExchangeCommand::Delete {
                sync_key: key.clone(),
                id: item.id.clone(),
            });
        }
        ExState::Unobserved => {
            if let Some(id) = &link.graph_id {
                plan.exchange.push(ExchangeCommand::Delete {
                    sync_key: key.clone(),
                    id: id.clone(),
                });
            }
        }
        ExState::MovedOut(item) | ExState::Outside(item) => plan.exchange.extend(release(item)),
        ExState::Removed => {}
    }
    plan.deletes = plan
        .exchange
        .iter()
        .any(|c| matches!(c, ExchangeCommand::Delete { .. }));
    if !is_new {
        plan.link = Some(LinkUpdate::Delete {
            sync_key: key.clone(),
        });
        // A failed delete keeps the row, so the next session that touches it tries again.
        plan.fallback = Some(Fallback {
            sync_key: key.clone(),
            if_exchange_fails: None,
            if_salesforce_fails: None,
        });
    }
    plan
}

/// B11/B12 and C2's second half: the mirror was deleted or moved out of the folder.
pub(super) fn left_folder(
    ix: &Index<'_>,
    link: &Link,
    moved: Option<&ExchangeItem>,
    sf: SfState<'_>,
) -> Plan {
    let key = &link.sync_key;
    let mut plan = Plan::default();
    if let Some(item) = moved {
        plan.exchange.extend(release(item));
    }
    let base = salesforce_base(link);
    let observed = observed_salesforce(sf);
    let edited_in_salesforce = observed
        .as_ref()
        .is_some_and(|(_, s)| *s != base && !is_rejected(link, Side::Salesforce, s));
    // The Contact may be known only by its key this session (a create whose result was lost).
    let adopted = observed.as_ref().map(|(c, _)| c.id.clone());
    let Some(sf_id) = &link.salesforce_id.clone().or(adopted) else {
        // Never reached Salesforce: nothing to delete or to restore from.
        plan.link = Some(LinkUpdate::Delete {
            sync_key: key.clone(),
        });
        return plan;
    };
    if ix.settings.auto_removal && !edited_in_salesforce {
        plan.salesforce.push(SalesforceCommand::Delete {
            sync_key: key.clone(),
            id: sf_id.clone(),
        });
        plan.deletes = true;
        plan.link = Some(LinkUpdate::Delete {
            sync_key: key.clone(),
        });
        plan.fallback = Some(Fallback {
            sync_key: key.clone(),
            if_exchange_fails: None,
            if_salesforce_fails: None,
        });
        return plan;
    }
    // Auto-removal off, or edited in Salesforce (C2): re-create the mirror from Salesforce.
    let values = observed
        .map(|(_, s)| s)
        .or_else(|| rejected_value(link, Side::Salesforce))
        .unwrap_or(base);
    if values.last_name.is_none() {
        // Salesforce's value is not known (a baseline without LastName never came from it: a
        // re-linked mirror, C4): the mirror is re-created once the Contact is read.
        plan.link = Some(LinkUpdate::Upsert(Box::new(Link {
            salesforce_id: Some(sf_id.clone()),
            graph_id: None,
            snapshot: None,
            change_key: None,
            synced_at: ix.now,
            ..link.clone()
        })));
        return plan;
    }
    let fields = canonical_to_graph(&values, &ExchangeExtras::default());
    plan.exchange.push(ExchangeCommand::Create {
        sync_key: key.clone(),
        fields: fields.clone(),
    });
    let row = Link {
        salesforce_id: Some(sf_id.clone()),
        graph_id: None,
        baseline: values.clone(),
        account_name: values.company.clone(),
        snapshot: Some(fields),
        change_key: None,
        rejected: None,
        synced_at: ix.now,
        ..link.clone()
    };
    plan.fallback = Some(Fallback {
        sync_key: key.clone(),
        if_exchange_fails: Some(LinkUpdate::Upsert(Box::new(Link {
            rejected: Some(Rejected {
                side: Side::Salesforce,
                value: values,
            }),
            ..row.clone()
        }))),
        if_salesforce_fails: None,
    });
    plan.link = Some(LinkUpdate::Upsert(Box::new(row)));
    plan
}
