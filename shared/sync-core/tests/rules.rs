//! One test per product rule (SPEC §1), named after it, run as whole sessions against the
//! reference model in `common`: user edits → reconcile → writes → results → next session.

mod common;

use common::*;
use sync_core::fields::SalesforceContactFields;
use sync_core::*;

fn synced_contact(w: &mut World, first: &str, last: &str) -> (SalesforceId, GraphItemId) {
    let email = format!(
        "{}.{}@example.com",
        first.to_lowercase(),
        last.to_lowercase()
    );
    let id = w.sf_create(USER, sf_person(first, last, &email));
    w.sync();
    let graph = w
        .mirror_of(&id)
        .map(|(g, _)| g.clone())
        .expect("mirror exists");
    (id, graph)
}

fn assert_quiet(w: &mut World) {
    let d = w.sync();
    assert!(d.has_no_writes(), "expected zero writes, got {d:#?}");
}

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
    w.add_account("001000000000000001", "Acme Corporation", 2);
    w.add_account("001000000000000002", "Globex", 3);
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
fn c3_a_session_after_a_finished_one_writes_nothing_despite_service_rewrites() {
    let mut w = World::new();
    let id = w.sf_create(
        USER,
        SalesforceContactFields {
            birthdate: Some("1980-05-06".into()),
            description: Some("line one\r\nline two".into()),
            ..sf_person("Ann", "Lee", "ann@example.com")
        },
    );
    w.sync();
    let (graph, item) = w.mirror_of(&id).expect("mirror");
    assert_eq!(
        item.fields.birthday.as_deref(),
        Some("1980-05-06T11:59:00Z")
    );
    let graph = graph.clone();
    assert_quiet(&mut w);
    // A hand edit that only adds whitespace is no change.
    w.mail_edit(&graph, |f| f.given_name = Some("  Ann ".into()));
    assert_quiet(&mut w);
    let d = w.sync_complete();
    assert!(d.has_no_writes(), "{d:#?}");
}

#[test]
fn c3_a_linked_item_read_without_its_stamp_is_not_stamped_again() {
    // Graph's delta does not return extended properties: a reader may hand over linked items
    // without their key.
    let mut w = World::new();
    let (_, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_edit(&graph, |f| f.department = Some("Ops".into()));
    let (mut exchange, salesforce) = w.reads(false);
    for item in &mut exchange.items {
        item.sync_key = None;
    }
    let d = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
    assert!(d.exchange.is_empty(), "{d:#?}");
    assert_eq!(d.salesforce.len(), 1);
}

#[test]
fn c4_a_redelivered_session_derives_the_same_keys_and_upserts() {
    let mut w = World::new();
    w.mail_create(
        FolderKind::SyncFolder,
        &[],
        person("Re", "Try", "re@example.com"),
    );
    let (exchange, salesforce) = w.reads(false);
    let first = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
    let second = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
    assert_eq!(first, second, "pure and deterministic");
    let SalesforceCommand::Create { sync_key, .. } = &first.salesforce[0] else {
        panic!("expected a create");
    };
    // The writer upserts on the key: a retry after a lost result finds the same Contact.
    w.sync();
    assert_eq!(w.sf.len(), 1);
    assert_eq!(
        w.sf.values().next().and_then(|r| r.key.as_ref()),
        Some(sync_key)
    );
}

#[test]
fn c4_a_mirror_whose_link_was_lost_is_adopted_not_duplicated() {
    let mut w = World::new();
    let id = w.sf_create(USER, sf_person("Ann", "Lee", "ann@example.com"));
    let before = w.clone();
    w.sync();
    // Crash: the mirror exists, the link row was never stored, the cursors did not advance.
    let mut crashed = before;
    crashed.mailbox = w.mailbox.clone();
    crashed.next = w.next;
    for (g, _) in w.folder_items() {
        crashed.mail_edit(g, |_| {});
    }
    let d = crashed.sync();
    assert!(d.has_no_writes(), "{d:#?}");
    assert_eq!(crashed.folder_items().len(), 1);
    assert!(crashed.link_for_sf(&id).is_some());
    assert_quiet(&mut crashed);
}

#[test]
fn c4_a_copy_of_a_synced_contact_in_the_folder_becomes_its_own_contact() {
    let mut w = World::new();
    let (_, graph) = synced_contact(&mut w, "Ann", "Lee");
    let copy = w.mail_create(
        FolderKind::SyncFolder,
        &["Salesforce"],
        person("Ann", "Lee", "ann.lee@example.com"),
    );
    let stamp = w.mailbox[&graph].stamp.clone();
    if let Some(item) = w.mailbox.get_mut(&copy) {
        item.stamp = stamp;
    }
    w.sync();
    assert_eq!(w.links.len(), 2);
    assert_eq!(w.sf.len(), 2);
    assert_ne!(w.mailbox[&copy].stamp, w.mailbox[&graph].stamp);
    assert_quiet(&mut w);
}

#[test]
fn c5_a_session_deleting_most_links_is_held_until_confirmed() {
    let mut w = World::new();
    let ids: Vec<SalesforceId> = (0..30)
        .map(|i| {
            w.sf_create(
                USER,
                sf_person("M", &format!("Mass{i}"), &format!("m{i}@example.com")),
            )
        })
        .collect();
    w.sync();
    for id in &ids[..25] {
        w.sf_delete(id);
    }
    let d = w.sync();
    assert!(
        matches!(
            d.guard,
            GuardOutcome::Held {
                deletions: 25,
                links: 30
            }
        ),
        "{:?}",
        d.guard
    );
    assert!(d.exchange.is_empty());
    assert!(
        d.errors
            .iter()
            .any(|e| e.code == ErrorCode::MassDeleteGuard)
    );
    assert_eq!(w.folder_items().len(), 30, "nothing deleted");
    assert_eq!(w.links.len(), 30);
    // Held again until an operator confirms, then carried out in one session.
    assert!(matches!(w.sync().guard, GuardOutcome::Held { .. }));
    w.settings.mass_delete_confirmed = true;
    let d = w.sync();
    assert_eq!(d.guard, GuardOutcome::Clear);
    assert_eq!(w.folder_items().len(), 5);
    assert_eq!(w.links.len(), 5);
}

#[test]
fn c5_a_few_deletions_are_not_held() {
    let mut w = World::new();
    let ids: Vec<SalesforceId> = (0..10)
        .map(|i| {
            w.sf_create(
                USER,
                sf_person("F", &format!("Few{i}"), &format!("f{i}@example.com")),
            )
        })
        .collect();
    w.sync();
    for id in &ids[..8] {
        w.sf_delete(id);
    }
    assert_eq!(
        w.sync().guard,
        GuardOutcome::Clear,
        "fewer than 20 is never held"
    );
    assert_eq!(w.folder_items().len(), 2);
}

#[test]
fn c5_an_empty_or_failed_read_deletes_nothing() {
    let mut w = World::new();
    for i in 0..3 {
        w.sf_create(
            USER,
            sf_person("E", &format!("Empty{i}"), &format!("e{i}@example.com")),
        );
    }
    w.sync();
    let empty_complete = SalesforceChanges {
        kind: ReadKind::Complete,
        ..SalesforceChanges::failed()
    };
    let empty_mailbox = ExchangeChanges {
        kind: ReadKind::Complete,
        ..ExchangeChanges::failed()
    };
    for (exchange, salesforce) in [
        (ExchangeChanges::failed(), SalesforceChanges::failed()),
        (empty_mailbox.clone(), empty_complete.clone()),
        (empty_mailbox, SalesforceChanges::failed()),
    ] {
        let d = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
        assert!(d.has_no_writes(), "{d:#?}");
        assert!(d.links.is_empty());
    }
}

#[test]
fn c6_a_move_in_by_category_finishes_in_one_session() {
    let mut w = World::new();
    w.mail_create(
        FolderKind::Other,
        &["Salesforce"],
        person("One", "Session", "one@example.com"),
    );
    w.sync();
    let link = &w.links[0];
    let graph = link.graph_id.clone().expect("id stamped back");
    assert!(link.salesforce_id.is_some());
    assert_eq!(w.mailbox[&graph].stamp.as_ref(), Some(&link.sync_key));
    assert_quiet(&mut w);
}

#[test]
fn c7_missing_last_name_with_no_fallback_fails_that_contact_alone() {
    let mut w = World::new();
    let bad = w.mail_create(
        FolderKind::SyncFolder,
        &[],
        sync_core::fields::GraphContactFields {
            job_title: Some("Nameless".into()),
            ..Default::default()
        },
    );
    let good = w.mail_create(
        FolderKind::SyncFolder,
        &[],
        person("Good", "One", "good@example.com"),
    );
    let d = w.sync();
    let error = d
        .errors
        .iter()
        .find(|e| e.code == ErrorCode::RequiredFieldMissing)
        .expect("error");
    assert_eq!(error.field.as_deref(), Some("LastName"));
    assert_eq!(w.sf.len(), 1, "the good contact went through");
    assert!(
        w.link_for_graph(&good)
            .and_then(|l| l.salesforce_id.as_ref())
            .is_some()
    );
    // No loop: the unchanged contact is not retried, even on a full listing.
    assert_quiet(&mut w);
    assert!(w.sync_complete().has_no_writes());
    // Fixed by the user → retried and created.
    w.mail_edit(&bad, |f| f.surname = Some("Named".into()));
    w.sync();
    assert_eq!(w.sf.len(), 2);
    assert_quiet(&mut w);
}

#[test]
fn c7_too_long_values_and_invalid_emails_are_per_item_errors_never_truncated() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_edit(&graph, |f| {
        f.given_name = Some("A".repeat(41));
        f.email_addresses = Some(vec![sync_core::fields::GraphEmailAddress {
            address: Some("not an email".into()),
            name: None,
        }]);
    });
    w.sf_edit(&id, |f| f.title = Some("Chief".into()));
    let d = w.sync();
    let codes: Vec<(ErrorCode, Option<String>)> =
        d.errors.iter().map(|e| (e.code, e.field.clone())).collect();
    assert!(
        codes.contains(&(ErrorCode::StringTooLong, Some("FirstName".into()))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&(ErrorCode::InvalidEmailAddress, Some("Email".into()))),
        "{codes:?}"
    );
    assert!(d.salesforce.is_empty(), "nothing written to Salesforce");
    assert_eq!(
        w.sf[&id].fields.first_name.as_deref(),
        Some("Ann"),
        "not truncated"
    );
    // Salesforce's own change still reaches the mailbox, and the user's values stay there.
    assert_eq!(w.mailbox[&graph].fields.job_title.as_deref(), Some("Chief"));
    assert_eq!(w.mailbox[&graph].fields.given_name, Some("A".repeat(41)));
    assert_quiet(&mut w);
    assert!(w.sync_complete().has_no_writes());
    w.mail_edit(&graph, |f| {
        f.given_name = Some("Anna".into());
        f.email_addresses = Some(vec![sync_core::fields::GraphEmailAddress {
            address: Some("anna@example.com".into()),
            name: None,
        }]);
    });
    w.sync();
    assert_eq!(w.sf[&id].fields.first_name.as_deref(), Some("Anna"));
    assert_eq!(w.sf[&id].fields.email.as_deref(), Some("anna@example.com"));
    assert_quiet(&mut w);
}

#[test]
fn c7_a_write_salesforce_rejects_is_reported_and_retried_only_after_a_change() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_edit(&graph, |f| f.personal_notes = Some(REJECTED_BY_RULE.into()));
    w.sync();
    assert!(
        w.last_errors
            .iter()
            .any(|e| e.code == ErrorCode::WriteFailed
                && e.message.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION")),
        "{:?}",
        w.last_errors
    );
    assert_quiet(&mut w);
    assert!(w.sync_complete().has_no_writes());
    assert_eq!(
        w.mailbox[&graph].fields.personal_notes.as_deref(),
        Some(REJECTED_BY_RULE)
    );
    w.mail_edit(&graph, |f| f.personal_notes = Some("fine now".into()));
    w.sync();
    assert_eq!(w.sf[&id].fields.description.as_deref(), Some("fine now"));
    assert_quiet(&mut w);
}

#[test]
fn c7_a_mailbox_write_graph_refuses_is_retried_when_salesforce_changes_again() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    w.mail_edit(&graph, |f| f.mobile_phone = Some("+1 mobile".into()));
    w.sf_edit(&id, |f| f.title = Some("CTO".into()));
    w.exchange_faults = 1;
    w.sync();
    assert!(
        w.last_errors
            .iter()
            .any(|e| e.code == ErrorCode::WriteFailed),
        "{:?}",
        w.last_errors
    );
    // Salesforce took the mailbox's edit; the mailbox kept its old title.
    assert_eq!(w.sf[&id].fields.mobile_phone.as_deref(), Some("+1 mobile"));
    assert_eq!(w.mailbox[&graph].fields.job_title, None);
    // No loop, and the mailbox's old value is never pushed back over Salesforce's.
    assert_quiet(&mut w);
    assert!(w.sync_complete().has_no_writes());
    assert_eq!(w.sf[&id].fields.title.as_deref(), Some("CTO"));
    // The next Salesforce change brings the mailbox up to date.
    w.sf_edit(&id, |f| f.department = Some("Board".into()));
    w.sync();
    assert_eq!(w.mailbox[&graph].fields.job_title.as_deref(), Some("CTO"));
    assert_eq!(
        w.mailbox[&graph].fields.department.as_deref(),
        Some("Board")
    );
    assert_quiet(&mut w);
}

#[test]
fn c7_when_both_writes_fail_the_link_stays_as_it_was_and_nothing_loops() {
    let mut w = World::new();
    let (id, graph) = synced_contact(&mut w, "Ann", "Lee");
    let before = w.link_for_sf(&id).cloned().expect("linked");
    w.mail_edit(&graph, |f| f.personal_notes = Some(REJECTED_BY_RULE.into()));
    w.sf_edit(&id, |f| f.title = Some("CTO".into()));
    w.exchange_faults = 1;
    w.sync();
    assert_eq!(w.last_errors.len(), 2, "{:?}", w.last_errors);
    assert_eq!(w.link_for_sf(&id), Some(&before));
    assert_quiet(&mut w);
    // A full listing offers both again: the mailbox gets the title, Salesforce refuses the note
    // once more, and after that the contact is quiet.
    w.sync_complete();
    assert_eq!(w.mailbox[&graph].fields.job_title.as_deref(), Some("CTO"));
    assert!(w.sync_complete().has_no_writes());
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
