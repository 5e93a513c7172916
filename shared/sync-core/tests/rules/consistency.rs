//! Consistency rules (C3–C7).

use crate::common::*;
use crate::{assert_quiet, synced_contact};
use sync_core::fields::SalesforceContactFields;
use sync_core::*;

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
fn b1_c5_a_lost_folder_holds_every_salesforce_deletion_however_few() {
    let mut w = World::new();
    for i in 0..3 {
        w.sf_create(
            USER,
            sf_person("L", &format!("Lost{i}"), &format!("l{i}@example.com")),
        );
    }
    w.sync();
    // The folder is gone with every mirror in it: the fetcher reports them removed at once.
    let lost = ExchangeChanges {
        kind: ReadKind::Complete,
        items: Vec::new(),
        removed: w.links.iter().filter_map(|l| l.graph_id.clone()).collect(),
        folder_lost: true,
    };
    let nothing = SalesforceChanges {
        kind: ReadKind::Incremental,
        ..SalesforceChanges::failed()
    };
    let decide = |settings: &Settings, folder_lost: bool| {
        let exchange = ExchangeChanges {
            folder_lost,
            ..lost.clone()
        };
        reconcile(&w.links, &exchange, &nothing, settings, w.now)
    };

    // Auto-removal off: B12 re-creates the mirrors; nothing is held.
    let d = decide(&w.settings, true);
    assert_eq!(d.guard, GuardOutcome::Clear);
    assert_eq!(d.exchange.len(), 3, "{:?}", d.exchange);
    assert!(d.salesforce.is_empty());

    // Auto-removal on: three deletions are below the guard's count, but a lost folder holds them.
    let mut on = w.settings.clone();
    on.auto_removal = true;
    let d = decide(&on, true);
    assert_eq!(
        d.guard,
        GuardOutcome::Held {
            deletions: 3,
            links: 3
        }
    );
    assert!(d.salesforce.is_empty() && d.exchange.is_empty(), "{d:#?}");
    assert!(
        d.errors
            .iter()
            .any(|e| e.code == ErrorCode::MassDeleteGuard)
    );
    // The same removals without a lost folder are three ordinary B12 deletions.
    let d = decide(&on, false);
    assert_eq!(d.guard, GuardOutcome::Clear);
    assert_eq!(d.salesforce.len(), 3);
    // An operator's confirmation lets them through.
    on.mass_delete_confirmed = true;
    let d = decide(&on, true);
    assert_eq!(d.guard, GuardOutcome::Clear);
    assert_eq!(d.salesforce.len(), 3);
}

#[test]
fn c5_a_failed_read_or_an_empty_mailbox_listing_deletes_nothing() {
    let mut w = World::new();
    for i in 0..3 {
        w.sf_create(
            USER,
            sf_person("E", &format!("Empty{i}"), &format!("e{i}@example.com")),
        );
    }
    w.sync();
    let empty_mailbox = ExchangeChanges {
        kind: ReadKind::Complete,
        ..ExchangeChanges::failed()
    };
    let nothing_changed = SalesforceChanges {
        kind: ReadKind::Incremental,
        ..SalesforceChanges::failed()
    };
    for (exchange, salesforce) in [
        (ExchangeChanges::failed(), SalesforceChanges::failed()),
        (empty_mailbox.clone(), SalesforceChanges::failed()),
        (empty_mailbox, nothing_changed),
    ] {
        let d = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
        assert!(d.has_no_writes(), "{d:#?}");
        assert!(d.links.is_empty());
    }
}

/// The Salesforce side of a session whose scope is now empty (an empty list view): a complete
/// listing with nothing in it.
fn empty_scope() -> SalesforceChanges {
    SalesforceChanges {
        kind: ReadKind::Complete,
        ..SalesforceChanges::failed()
    }
}

fn nothing_in_the_mailbox_changed() -> ExchangeChanges {
    ExchangeChanges {
        kind: ReadKind::Incremental,
        ..ExchangeChanges::failed()
    }
}

#[test]
fn b7_an_empty_complete_salesforce_listing_removes_every_down_synced_mirror() {
    let mut w = World::new();
    for i in 0..3 {
        w.sf_create(
            USER,
            sf_person("V", &format!("View{i}"), &format!("v{i}@example.com")),
        );
    }
    w.sync();
    let d = reconcile(
        &w.links,
        &nothing_in_the_mailbox_changed(),
        &empty_scope(),
        &w.settings,
        w.now,
    );
    assert_eq!(d.guard, GuardOutcome::Clear);
    let deleted = d
        .exchange
        .iter()
        .filter(|c| matches!(c, ExchangeCommand::Delete { .. }))
        .count();
    assert_eq!(deleted, 3, "{d:#?}");
    assert!(d.salesforce.is_empty(), "Salesforce is untouched: {d:#?}");
    assert_eq!(
        d.links
            .iter()
            .filter(|l| matches!(l, LinkUpdate::Delete { .. }))
            .count(),
        3
    );
}

#[test]
fn b7_an_empty_complete_salesforce_listing_keeps_contacts_created_from_the_mailbox() {
    let mut w = World::new();
    w.mail_create(
        FolderKind::SyncFolder,
        &[],
        person("Up", "Synced", "up@example.com"),
    );
    w.sync();
    assert_eq!(w.links.len(), 1);
    let d = reconcile(
        &w.links,
        &nothing_in_the_mailbox_changed(),
        &empty_scope(),
        &w.settings,
        w.now,
    );
    assert!(d.has_no_writes(), "{d:#?}");
}

#[test]
fn c5_an_empty_complete_salesforce_listing_of_many_links_is_held_until_confirmed() {
    let mut w = World::new();
    for i in 0..25 {
        w.sf_create(
            USER,
            sf_person("H", &format!("Held{i}"), &format!("h{i}@example.com")),
        );
    }
    w.sync();
    let d = reconcile(
        &w.links,
        &nothing_in_the_mailbox_changed(),
        &empty_scope(),
        &w.settings,
        w.now,
    );
    assert!(
        matches!(
            d.guard,
            GuardOutcome::Held {
                deletions: 25,
                links: 25
            }
        ),
        "{:?}",
        d.guard
    );
    assert!(d.has_no_writes(), "{d:#?}");
    w.settings.mass_delete_confirmed = true;
    let d = reconcile(
        &w.links,
        &nothing_in_the_mailbox_changed(),
        &empty_scope(),
        &w.settings,
        w.now,
    );
    assert_eq!(d.guard, GuardOutcome::Clear);
    assert_eq!(d.exchange.len(), 25);
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
