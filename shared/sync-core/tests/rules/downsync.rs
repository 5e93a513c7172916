//! Salesforce → mailbox rules (B1, B2, B4–B7).

use crate::common::*;
use crate::{assert_quiet, synced_contact};
use sync_core::*;

#[test]
fn b1_mirrors_go_into_the_sync_folder_with_the_category_once() {
    let mut w = World::new();
    let id = w.sf_create(USER, sf_person("Ann", "Lee", "ann@example.com"));
    let d = w.sync();
    assert_eq!(d.exchange.len(), 1);
    assert!(matches!(d.exchange[0], ExchangeCommand::Create { .. }));
    let (_, item) = w.mirror_of(&id).expect("mirror");
    assert_eq!(item.folder, FolderKind::SyncFolder);
    assert_eq!(item.categories, vec![SALESFORCE_CATEGORY.to_owned()]);
    assert_quiet(&mut w);
    assert_eq!(w.folder_items().len(), 1);
}

#[test]
fn b2_scope_mine_skips_contacts_owned_by_others_and_all_includes_them() {
    let mut w = World::new();
    let other = w.sf_create(OTHER_USER, sf_person("Bo", "Berg", "bo@example.com"));
    w.sync();
    assert!(w.link_for_sf(&other).is_none());
    // The fetcher for scope `all` lists every Contact; the core then takes them all.
    w.settings.scope = Scope::All;
    let (exchange, mut salesforce) = w.reads(true);
    salesforce.contacts =
        w.sf.iter()
            .map(|(id, r)| w.salesforce_contact(id, r))
            .collect();
    let d = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
    assert_eq!(d.exchange.len(), 1, "{d:#?}");
}

#[test]
fn b4_personal_contacts_outside_the_folder_never_reach_salesforce() {
    let mut w = World::new();
    w.mail_create(
        FolderKind::Other,
        &[],
        person("Pat", "Home", "pat@home.example"),
    );
    w.mail_create(
        FolderKind::Other,
        &["Family"],
        person("Kim", "Home", "kim@home.example"),
    );
    let d = w.sync();
    assert!(d.has_no_writes(), "{d:#?}");
    assert!(w.sf.is_empty());
    assert!(w.links.is_empty());
}

#[test]
fn b5_every_in_scope_contact_has_exactly_one_mirror() {
    let mut w = World::new();
    for i in 0..5 {
        w.sf_create(
            USER,
            sf_person("N", &format!("Person{i}"), &format!("p{i}@example.com")),
        );
    }
    w.sync();
    // A full listing (as after a restart) must not add a second mirror.
    let d = w.sync_complete();
    assert!(d.has_no_writes(), "{d:#?}");
    assert_eq!(w.folder_items().len(), 5);
    assert_eq!(w.links.len(), 5);
}

#[test]
fn b6_created_modified_and_deleted_in_salesforce_follow_in_the_folder() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.sf_edit(&id, |f| f.title = Some("CFO".into()));
    let d = w.sync();
    assert_eq!(d.exchange.len(), 1);
    assert_eq!(w.mailbox[&graph].fields.job_title.as_deref(), Some("CFO"));
    assert_quiet(&mut w);
    w.sf_delete(&id);
    w.sync();
    assert!(!w.mailbox.contains_key(&graph));
    assert!(w.links.is_empty());
    assert_quiet(&mut w);
}

#[test]
fn b7_a_contact_leaving_the_scope_loses_its_mirror_and_salesforce_is_untouched() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.sf_set_owner(&id, OTHER_USER);
    let d = w.sync();
    assert!(d.salesforce.is_empty());
    assert!(!w.mailbox.contains_key(&graph));
    assert!(w.sf.contains_key(&id));
    assert!(w.links.is_empty());
    assert_quiet(&mut w);
}

#[test]
fn b7_an_up_synced_contact_stays_linked_whatever_the_scope() {
    let mut w = World::new();
    let g = w.mail_create(
        FolderKind::SyncFolder,
        &[],
        person("Up", "Synced", "up@example.com"),
    );
    w.sync();
    let id = w
        .link_for_graph(&g)
        .and_then(|l| l.salesforce_id.clone())
        .expect("created");
    w.sf_set_owner(&id, OTHER_USER);
    w.sf_edit(&id, |f| f.title = Some("Owner changed".into()));
    w.sync();
    assert!(w.mailbox.contains_key(&g));
    assert_eq!(
        w.mailbox[&g].fields.job_title.as_deref(),
        Some("Owner changed")
    );
    assert_quiet(&mut w);
}
