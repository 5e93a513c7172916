//! A deterministic workload for `contactsync bench`: N links and M changes on both sides.
//!
//! The binary times [`BenchInput::run`]; no test here measures time.

use chrono::{DateTime, TimeZone, Utc};

use crate::contact::Contact;
use crate::fields::{GraphContactFields, GraphEmailAddress};
use crate::ids::{GraphItemId, SalesforceId, SyncKey};
use crate::model::{
    Decisions, ExchangeChanges, ExchangeItem, FolderKind, Link, Origin, ReadKind,
    SALESFORCE_CATEGORY, SalesforceChanges, SalesforceContact, Settings,
};
use crate::reconcile::reconcile;

/// Everything one `reconcile` call needs.
#[derive(Debug, Clone)]
pub struct BenchInput {
    pub links: Vec<Link>,
    pub exchange: ExchangeChanges,
    pub salesforce: SalesforceChanges,
    pub settings: Settings,
    pub now: DateTime<Utc>,
}

impl BenchInput {
    /// Runs the reconcile being measured.
    pub fn run(&self) -> Decisions {
        reconcile(
            &self.links,
            &self.exchange,
            &self.salesforce,
            &self.settings,
            self.now,
        )
    }
}

/// An 18-character id: the prefix, 12 digits and the checksum of no upper-case letter.
fn sf_id(prefix: &str, n: usize) -> SalesforceId {
    SalesforceId::trusted(format!("{prefix}{:012}AAA", n % 1_000_000_000_000))
}

fn graph_id(n: usize) -> GraphItemId {
    GraphItemId::trusted(format!("AAMkBench{n:010}="))
}

fn person(n: usize, edit: usize) -> Contact {
    Contact {
        first_name: Some(format!("First{n}")),
        last_name: Some(format!("Last{n}")),
        email: Some(format!("person{n}.{edit}@example.com")),
        phone: Some(format!("+1 555 {n:07}")),
        title: Some("Buyer".to_owned()),
        mailing_city: Some("Oslo".to_owned()),
        ..Contact::default()
    }
}

fn graph_fields(c: &Contact) -> GraphContactFields {
    GraphContactFields {
        given_name: c.first_name.clone(),
        surname: c.last_name.clone(),
        job_title: c.title.clone(),
        email_addresses: Some(vec![GraphEmailAddress {
            address: c.email.clone(),
            name: c.email.clone(),
        }]),
        business_phones: Some(c.phone.iter().cloned().collect()),
        business_address: Some(crate::fields::GraphAddress {
            city: c.mailing_city.clone(),
            ..Default::default()
        }),
        ..GraphContactFields::default()
    }
}

/// `links` synced links, and `changes` changes spread over both sides: a quarter edited in the
/// mailbox, a quarter edited in Salesforce, a quarter new Salesforce Contacts, an eighth new
/// mailbox contacts, an eighth deletions (split between sides, below the mass-delete guard).
pub fn bench_fixture(links: usize, changes: usize) -> BenchInput {
    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let user = sf_id("005", 1);
    let mut rows = Vec::with_capacity(links);
    for n in 0..links {
        let (sf, g) = (sf_id("003", n), graph_id(n));
        rows.push(Link {
            sync_key: SyncKey::for_salesforce(&sf),
            salesforce_id: Some(sf),
            graph_id: Some(g),
            origin: Origin::Salesforce,
            baseline: person(n, 0),
            account_name: None,
            snapshot: None,
            change_key: Some(format!("ck{n}")),
            rejected: None,
            synced_at: now,
        });
    }
    let mut exchange = ExchangeChanges {
        kind: ReadKind::Incremental,
        items: Vec::new(),
        removed: Vec::new(),
        folder_lost: false,
    };
    let mut salesforce = SalesforceChanges {
        kind: ReadKind::Incremental,
        contacts: Vec::new(),
        deleted: Vec::new(),
        out_of_scope: Vec::new(),
        errors: Vec::new(),
    };
    let item = |n: usize, c: &Contact, key: Option<SyncKey>| {
        Some(ExchangeItem {
            id: graph_id(n),
            folder: FolderKind::SyncFolder,
            categories: vec![SALESFORCE_CATEGORY.to_owned()],
            sync_key: key,
            change_key: Some(format!("ck{n}b")),
            fields: graph_fields(c),
        })
    };
    let contact = |n: usize, c: &Contact| {
        Some(SalesforceContact {
            id: sf_id("003", n),
            owner_id: Some(sf_id("005", 1)),
            sync_key: None,
            fields: crate::mapping::canonical_to_salesforce(c),
        })
    };
    for i in 0..changes {
        // Spread edits over the existing links; new contacts get ids past them.
        let n = if links == 0 { i } else { (i * 7919) % links };
        let fresh = links + i;
        match i % 8 {
            0 | 1 if n < links => {
                let key = rows.get(n).map(|l| l.sync_key.clone());
                exchange.items.extend(item(n, &person(n, 1), key));
            }
            2 | 3 if n < links => salesforce.contacts.extend(contact(n, &person(n, 2))),
            4 | 5 => salesforce
                .contacts
                .extend(contact(fresh, &person(fresh, 0))),
            6 => exchange.items.extend(item(fresh, &person(fresh, 0), None)),
            7 if n < links && i % 16 == 7 => salesforce.deleted.push(sf_id("003", n)),
            7 if n < links => exchange.removed.push(graph_id(n)),
            _ => {}
        }
    }
    BenchInput {
        links: rows,
        exchange,
        salesforce,
        settings: Settings::new(user),
        now,
    }
}

/// `links` synced links read back as full listings of both sides, unchanged (the session after
/// a Graph 410 or a restart): every link is looked at and nothing is written.
pub fn bench_fixture_full_listing(links: usize) -> BenchInput {
    let mut input = bench_fixture(links, 0);
    input.exchange = ExchangeChanges {
        kind: ReadKind::Complete,
        items: input
            .links
            .iter()
            .filter_map(|l| {
                Some(ExchangeItem {
                    id: l.graph_id.clone()?,
                    folder: FolderKind::SyncFolder,
                    categories: vec![SALESFORCE_CATEGORY.to_owned()],
                    sync_key: Some(l.sync_key.clone()),
                    change_key: l.change_key.clone(),
                    fields: graph_fields(&l.baseline),
                })
            })
            .collect(),
        removed: Vec::new(),
        folder_lost: false,
    };
    input.salesforce = SalesforceChanges {
        kind: ReadKind::Complete,
        contacts: input
            .links
            .iter()
            .filter_map(|l| {
                Some(SalesforceContact {
                    id: l.salesforce_id.clone()?,
                    owner_id: Some(input.settings.salesforce_user_id.clone()),
                    sync_key: None,
                    fields: crate::mapping::canonical_to_salesforce(&l.baseline),
                })
            })
            .collect(),
        deleted: Vec::new(),
        out_of_scope: Vec::new(),
        errors: Vec::new(),
    };
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_has_the_requested_shape_and_decides_writes() {
        let input = bench_fixture(200, 40);
        assert_eq!(input.links.len(), 200);
        let decisions = input.run();
        assert!(!decisions.exchange.is_empty());
        assert!(!decisions.salesforce.is_empty());
        assert!(decisions.errors.is_empty(), "{:?}", decisions.errors);
    }

    #[test]
    fn a_full_listing_of_synced_links_writes_nothing() {
        let decisions = bench_fixture_full_listing(300).run();
        assert!(decisions.has_no_writes(), "{decisions:#?}");
        assert!(decisions.errors.is_empty());
    }
}
