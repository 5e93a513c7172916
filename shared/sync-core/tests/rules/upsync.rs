//! Mailbox → Salesforce rules (B8–B14) and the LastName fallback of SPEC §2.

use crate::common::*;
use crate::{assert_quiet, synced_contact};
use sync_core::*;

#[test]
fn b8_a_contact_created_in_the_folder_gets_the_category_and_a_salesforce_contact() {
    let mut w = World::new();
    let g = w.mail_create(
        FolderKind::SyncFolder,
        &[],
        person("New", "Person", "new@example.com"),
    );
    let d = w.sync();
    assert_eq!(d.salesforce.len(), 1);
    let SalesforceCommand::Create { owner_id, .. } = &d.salesforce[0] else {
        panic!("expected a create: {d:#?}");
    };
    assert_eq!(owner_id.as_str(), USER);
    let item = &w.mailbox[&g];
    assert!(item.categories.iter().any(|c| c == SALESFORCE_CATEGORY));
    let link = w.link_for_graph(&g).expect("linked");
    assert_eq!(link.origin, Origin::Exchange);
    let sf = link.salesforce_id.clone().expect("Salesforce id stored");
    assert_eq!(w.sf[&sf].fields.last_name.as_deref(), Some("Person"));
    assert_eq!(item.stamp.as_ref(), Some(&link.sync_key));
    assert_quiet(&mut w);
}

#[test]
fn b9_a_categorised_contact_elsewhere_moves_into_the_folder_with_one_link() {
    let mut w = World::new();
    let g = w.mail_create(
        FolderKind::Other,
        &["Salesforce"],
        person("Cat", "Egory", "cat@example.com"),
    );
    let d = w.sync();
    assert!(
        matches!(d.exchange[0], ExchangeCommand::MoveIntoFolder { .. }),
        "{d:#?}"
    );
    assert!(!w.mailbox.contains_key(&g), "the original is gone");
    let items = w.folder_items();
    assert_eq!(items.len(), 1);
    let new_id = items[0].0.clone();
    assert_eq!(w.links.len(), 1);
    assert_eq!(w.links[0].graph_id.as_ref(), Some(&new_id));
    assert_eq!(w.sf.len(), 1);
    assert_quiet(&mut w);
    assert_eq!(w.sf.len(), 1);
}

#[test]
fn b10_a_category_removed_in_the_folder_is_restored_and_stays_synced() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_set_categories(&graph, &["Red"]);
    let d = w.sync();
    assert!(d.salesforce.is_empty());
    assert_eq!(
        w.mailbox[&graph].categories,
        vec!["Red".to_owned(), SALESFORCE_CATEGORY.to_owned()]
    );
    assert!(w.link_for_sf(&id).is_some());
    assert_quiet(&mut w);
}

#[test]
fn b11_a_contact_moved_out_loses_its_category_and_counts_as_removed() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    let moved = w.mail_move(&graph, FolderKind::Other).expect("moved");
    w.sync();
    let item = &w.mailbox[&moved];
    assert!(item.categories.is_empty(), "category removed");
    assert!(
        item.stamp.is_none(),
        "stamp cleared so it is never taken for the mirror"
    );
    // Auto-removal off: the mirror is re-created (B12).
    let (mirror, _) = w.mirror_of(&id).expect("mirror re-created");
    assert_ne!(mirror, &moved);
    assert_quiet(&mut w);
}

#[test]
fn b12_deleted_in_folder_with_auto_removal_off_recreates_mirror() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_delete(&graph);
    let d = w.sync();
    assert!(d.salesforce.is_empty());
    let (mirror, item) = w.mirror_of(&id).expect("re-created");
    assert_ne!(mirror, &graph);
    assert_eq!(item.fields.surname.as_deref(), Some("Lee"));
    assert!(w.sf.contains_key(&id));
    assert_quiet(&mut w);
}

#[test]
fn b12_deleted_in_folder_with_auto_removal_on_deletes_the_salesforce_contact() {
    let mut w = World::new();
    w.settings.auto_removal = true;
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_delete(&graph);
    w.sync();
    assert!(!w.sf.contains_key(&id));
    assert!(w.links.is_empty());
    assert!(w.unexplained_deletes.is_empty());
    assert_quiet(&mut w);
}

#[test]
fn b12_moved_out_with_auto_removal_on_deletes_the_salesforce_contact() {
    let mut w = World::new();
    w.settings.auto_removal = true;
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    let moved = w.mail_move(&graph, FolderKind::Other).expect("moved");
    w.sync();
    assert!(!w.sf.contains_key(&id));
    assert!(w.mailbox[&moved].categories.is_empty());
    assert!(w.folder_items().is_empty());
    assert_quiet(&mut w);
}

#[test]
fn b13_changes_in_the_folder_are_written_to_salesforce() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_edit(&graph, |f| {
        f.mobile_phone = Some("+47 999".into());
        f.surname = Some("Lee-Berg".into());
    });
    let d = w.sync();
    assert_eq!(d.salesforce.len(), 1);
    let SalesforceCommand::Update { patch, .. } = &d.salesforce[0] else {
        panic!("expected an update: {d:#?}");
    };
    assert_eq!(patch.0.len(), 2, "only the changed fields: {patch:?}");
    assert_eq!(w.sf[&id].fields.mobile_phone.as_deref(), Some("+47 999"));
    assert_eq!(w.sf[&id].fields.last_name.as_deref(), Some("Lee-Berg"));
    assert_quiet(&mut w);
}

#[test]
fn b14_an_up_synced_contact_is_linked_to_the_matching_account() {
    let mut w = World::new();
    w.add_account("001000000000001AAA", "Acme Corporation", 2);
    w.add_account("001000000000002AAA", "Globex", 3);
    let mut fields = person("Ann", "Lee", "ann@acme.example");
    fields.company_name = Some("Acme".into());
    let g = w.mail_create(FolderKind::SyncFolder, &[], fields);
    w.sync();
    let link = w.link_for_graph(&g).expect("linked").clone();
    let id = link.salesforce_id.clone().expect("created");
    assert_eq!(w.sf[&id].account.as_deref(), Some("Acme Corporation"));
    assert_eq!(link.account_name.as_deref(), Some("Acme Corporation"));
    // The mailbox keeps its own company; neither side is rewritten by the other's spelling.
    assert_eq!(w.mailbox[&g].fields.company_name.as_deref(), Some("Acme"));
    assert_quiet(&mut w);
    // A company change in the mailbox re-runs account linking.
    w.mail_edit(&g, |f| f.company_name = Some("Globex".into()));
    let d = w.sync();
    assert!(
        matches!(
            &d.salesforce[0],
            SalesforceCommand::Update {
                relink: Some(_),
                ..
            }
        ),
        "{d:#?}"
    );
    assert_eq!(w.sf[&id].account.as_deref(), Some("Globex"));
    assert_quiet(&mut w);
    // An Account change in Salesforce reaches the mailbox.
    w.sf_set_account(&id, Some("Initech"));
    w.sync();
    assert_eq!(
        w.mailbox[&g].fields.company_name.as_deref(),
        Some("Initech")
    );
    assert_quiet(&mut w);
}

#[test]
fn last_name_falls_back_to_the_display_name_then_the_email() {
    let mut w = World::new();
    let by_display = w.mail_create(
        FolderKind::SyncFolder,
        &[],
        sync_core::fields::GraphContactFields {
            display_name: Some("Front Desk".into()),
            ..Default::default()
        },
    );
    let by_email = w.mail_create(
        FolderKind::SyncFolder,
        &[],
        sync_core::fields::GraphContactFields {
            email_addresses: Some(vec![sync_core::fields::GraphEmailAddress {
                address: Some("desk@example.com".into()),
                name: None,
            }]),
            ..Default::default()
        },
    );
    w.sync();
    let last = |g: &GraphItemId| {
        let id = w
            .link_for_graph(g)
            .and_then(|l| l.salesforce_id.clone())
            .expect("created");
        w.sf[&id].fields.last_name.clone()
    };
    assert_eq!(last(&by_display).as_deref(), Some("Front Desk"));
    assert_eq!(last(&by_email).as_deref(), Some("desk@example.com"));
    assert_quiet(&mut w);
}
