//! C5 over bursts: deletions sliced across many near-real-time sessions are judged as one burst
//! (`reconcile_guarded`), against the reference model in `common`, and the judge's own
//! properties.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::*;
use proptest::prelude::*;
use sync_core::burst::{Burst, judge};
use sync_core::*;

/// A guarded world (sessions `step` seconds apart) with `n` Contacts synced down; their ids.
fn synced(n: usize, step: i64, auto_removal: bool) -> (World, Vec<SalesforceId>) {
    let mut w = World::new().guarded(step);
    w.settings.auto_removal = auto_removal;
    let ids = (0..n)
        .map(|i| {
            w.sf_create(
                USER,
                sf_person("B", &format!("Burst{i:02}"), &format!("b{i}@example.com")),
            )
        })
        .collect();
    w.sync_on_demand();
    assert_eq!(w.links.len(), n);
    (w, ids)
}

fn mirror(w: &World, id: &SalesforceId) -> GraphItemId {
    w.mirror_of(id).map(|(g, _)| g.clone()).expect("mirror")
}

fn deleted_in_salesforce(d: &Decisions) -> usize {
    d.salesforce
        .iter()
        .filter(|c| matches!(c, SalesforceCommand::Delete { .. }))
        .count()
}

fn deleted_in_mailbox(d: &Decisions) -> usize {
    d.exchange
        .iter()
        .filter(|c| matches!(c, ExchangeCommand::Delete { .. }))
        .count()
}

fn burst_model(w: &World) -> &BurstModel {
    w.burst.as_ref().expect("guarded world")
}

#[test]
fn c5_a_mailbox_mass_delete_sliced_across_sessions_is_held_until_confirmed() {
    let (mut w, ids) = synced(30, 5, true);
    // 25 of 30 mirrors deleted one by one; a notification session every few deletions.
    for chunk in ids[..25].chunks(3) {
        for id in chunk {
            let g = mirror(&w, id);
            w.mail_delete(&g);
        }
        let d = w.sync();
        assert_eq!(
            deleted_in_salesforce(&d),
            0,
            "nothing deleted while waiting"
        );
    }
    assert_eq!(w.waiting_deletions(), 25);
    // The burst settles: the session it starts holds the lot.
    let mut held = None;
    for _ in 0..20 {
        let d = w.sync();
        assert_eq!(deleted_in_salesforce(&d), 0);
        if let GuardOutcome::Held { deletions, links } = d.guard {
            held = Some((deletions, links));
            assert!(
                d.errors
                    .iter()
                    .any(|e| e.code == ErrorCode::MassDeleteGuard)
            );
            break;
        }
    }
    assert_eq!(held, Some((25, 30)));
    assert_eq!(w.sf.len(), 30, "nothing deleted in Salesforce");
    assert_eq!(w.links.len(), 30);
    // Still held, session after session, until an operator confirms.
    assert!(matches!(w.sync().guard, GuardOutcome::Held { .. }));
    assert_eq!(w.confirm_held(), 25);
    let d = w.sync();
    assert_eq!(deleted_in_salesforce(&d), 25);
    assert_eq!(d.guard, GuardOutcome::Clear);
    assert_eq!(w.sf.len(), 5);
    let kept: Vec<&SalesforceId> = w.sf.keys().collect();
    assert_eq!(
        kept,
        ids[25..].iter().collect::<Vec<_>>(),
        "exactly those 25"
    );
    assert!(
        w.unexplained_deletes.is_empty(),
        "{:?}",
        w.unexplained_deletes
    );
    assert!(w.sync().has_no_writes());
}

#[test]
fn c5_a_salesforce_mass_delete_sliced_across_sessions_is_held() {
    let (mut w, ids) = synced(30, 5, false);
    for chunk in ids[..25].chunks(5) {
        for id in chunk {
            w.sf_delete(id);
        }
        assert_eq!(deleted_in_mailbox(&w.sync()), 0);
    }
    for _ in 0..20 {
        if matches!(w.sync().guard, GuardOutcome::Held { .. }) {
            break;
        }
    }
    assert_eq!(burst_model(&w).count(DeletionState::Held), 25);
    assert_eq!(w.folder_items().len(), 30, "every mirror is still there");
    w.confirm_held();
    assert_eq!(deleted_in_mailbox(&w.sync()), 25);
    assert_eq!(w.folder_items().len(), 5);
    assert!(w.sync().has_no_writes());
}

#[test]
fn c5_a_few_deletions_go_ahead_once_the_burst_settles_and_not_before() {
    let (mut w, ids) = synced(30, 10, true);
    for id in &ids[..3] {
        let g = mirror(&w, id);
        w.mail_delete(&g);
    }
    let d = w.sync();
    assert_eq!(deleted_in_salesforce(&d), 0);
    let settle_until = burst_model(&w).settle_until.expect("waiting");
    assert_eq!(settle_until, w.now + Duration::seconds(60));
    let mut deleted = 0;
    while deleted == 0 {
        let d = w.sync();
        deleted = deleted_in_salesforce(&d);
        assert!(deleted == 0 || w.now >= settle_until, "carried out early");
    }
    assert_eq!(deleted, 3);
    assert_eq!(w.sf.len(), 27);
    assert_eq!(w.waiting_deletions(), 0);
    assert_eq!(burst_model(&w).settle_until, None);
}

#[test]
fn c6_an_on_demand_session_decides_waiting_deletions_at_once() {
    let (mut w, ids) = synced(30, 5, true);
    for id in &ids[..3] {
        let g = mirror(&w, id);
        w.mail_delete(&g);
    }
    assert_eq!(deleted_in_salesforce(&w.sync()), 0);
    assert_eq!(deleted_in_salesforce(&w.sync_on_demand()), 3);
    // The guard is included: an on-demand mass delete is held at once.
    for id in &ids[3..25] {
        let g = mirror(&w, id);
        w.mail_delete(&g);
    }
    let d = w.sync_on_demand();
    assert_eq!(deleted_in_salesforce(&d), 0);
    assert!(matches!(d.guard, GuardOutcome::Held { deletions: 22, .. }));
}

#[test]
fn edits_and_creates_are_not_delayed_while_deletions_wait() {
    let (mut w, ids) = synced(30, 5, true);
    let g = mirror(&w, &ids[0]);
    w.mail_delete(&g);
    w.sf_edit(&ids[1], |f| f.department = Some("Now".into()));
    w.sf_create(USER, sf_person("New", "Comer", "new@example.com"));
    let edited = mirror(&w, &ids[2]);
    w.mail_edit(&edited, |f| f.job_title = Some("Chief".into()));
    let d = w.sync();
    assert_eq!(deleted_in_salesforce(&d), 0);
    assert_eq!(w.waiting_deletions(), 1);
    assert_eq!(
        w.mirror_of(&ids[1])
            .and_then(|(_, i)| i.fields.department.clone())
            .as_deref(),
        Some("Now")
    );
    assert_eq!(w.sf[&ids[2]].fields.title.as_deref(), Some("Chief"));
    assert_eq!(w.links.len(), 31, "the new Contact is mirrored");
}

#[test]
fn c2_a_waiting_mailbox_deletion_of_a_contact_edited_in_salesforce_restores_the_mirror() {
    let (mut w, ids) = synced(30, 5, true);
    let g = mirror(&w, &ids[0]);
    w.mail_delete(&g);
    w.sync();
    assert_eq!(w.waiting_deletions(), 1);
    w.sf_edit(&ids[0], |f| f.department = Some("Edited".into()));
    let d = w.sync();
    assert_eq!(deleted_in_salesforce(&d), 0);
    assert_eq!(w.waiting_deletions(), 0, "no longer a deletion");
    assert!(w.mirror_of(&ids[0]).is_some(), "the mirror is re-created");
    for _ in 0..20 {
        assert_eq!(deleted_in_salesforce(&w.sync()), 0);
    }
    assert_eq!(w.sf.len(), 30);
}

#[test]
fn b12_auto_removal_switched_off_while_a_deletion_waits_restores_the_mirror() {
    let (mut w, ids) = synced(30, 5, true);
    let g = mirror(&w, &ids[0]);
    w.mail_delete(&g);
    w.sync();
    w.settings.auto_removal = false;
    let d = w.sync();
    assert_eq!(deleted_in_salesforce(&d), 0);
    assert_eq!(w.waiting_deletions(), 0);
    assert!(w.mirror_of(&ids[0]).is_some());
}

#[test]
fn b11_a_mirror_moved_out_loses_its_category_at_once_while_its_deletion_waits() {
    let (mut w, ids) = synced(30, 5, true);
    let g = mirror(&w, &ids[0]);
    let moved = w.mail_move(&g, FolderKind::Other).expect("moved");
    w.sync();
    assert_eq!(w.waiting_deletions(), 1);
    assert!(
        !w.mailbox[&moved]
            .categories
            .iter()
            .any(|c| c == SALESFORCE_CATEGORY),
        "released now"
    );
    assert!(w.sf.contains_key(&ids[0]), "the Contact waits");
    assert_eq!(deleted_in_salesforce(&w.sync_on_demand()), 1);
    assert!(w.sync().has_no_writes());
}

#[test]
fn deletions_carried_out_in_the_window_count_with_the_next_burst() {
    let (mut w, ids) = synced(30, 30, true);
    // 10 deleted and carried out; 12 more within the hour make 22 of 30.
    for id in &ids[..10] {
        let g = mirror(&w, id);
        w.mail_delete(&g);
    }
    assert_eq!(deleted_in_salesforce(&w.sync_on_demand()), 10);
    for id in &ids[10..22] {
        let g = mirror(&w, id);
        w.mail_delete(&g);
    }
    let d = w.sync_on_demand();
    assert_eq!(deleted_in_salesforce(&d), 0);
    assert!(matches!(d.guard, GuardOutcome::Held { deletions: 12, .. }));
    // Once the window has passed, the same count alone is below the threshold... but held
    // deletions stay held until confirmed.
    w.burst.as_mut().expect("guarded").step = Duration::hours(2);
    assert!(matches!(w.sync().guard, GuardOutcome::Held { .. }));
    assert_eq!(w.confirm_held(), 12);
    assert_eq!(deleted_in_salesforce(&w.sync()), 12);
}

#[test]
fn a_restored_contact_stops_its_waiting_deletion() {
    let (mut w, ids) = synced(30, 5, false);
    w.sf_delete(&ids[0]);
    w.sync();
    assert_eq!(w.waiting_deletions(), 1);
    // Undeleted from the recycle bin: read again as a change.
    let record = SfRecord {
        owner: sf_id(USER),
        key: None,
        fields: sf_person("B", "Burst00", "b0@example.com"),
        account: None,
    };
    w.sf.insert(ids[0].clone(), record);
    w.sf_changed.insert(ids[0].clone());
    w.sf_deleted.remove(&ids[0]);
    let d = w.sync_on_demand();
    assert_eq!(deleted_in_mailbox(&d), 0);
    assert_eq!(w.waiting_deletions(), 0);
    assert!(w.mirror_of(&ids[0]).is_some());
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid time")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// However a burst is sliced into near-real-time sessions (each within the settle time of
    /// the previous one), it is held exactly when the whole of it in one session would be, and
    /// nothing is deleted before it settles.
    #[test]
    fn a_burst_is_judged_as_a_whole_however_it_is_sliced(
        total in 20usize..44,
        share in 0.0f64..1.0,
        slices in prop::collection::vec(1usize..6, 1..30),
        step in 1i64..59,
        from_mailbox in any::<bool>(),
    ) {
        let (mut w, ids) = synced(total, step, true);
        let deletions = ((total as f64) * share) as usize;
        let mut next = 0;
        for slice in slices.iter().cycle() {
            if next >= deletions {
                break;
            }
            for id in &ids[next..(next + slice).min(deletions)] {
                if from_mailbox {
                    let g = mirror(&w, id);
                    w.mail_delete(&g);
                } else {
                    w.sf_delete(id);
                }
            }
            next = (next + slice).min(deletions);
            let d = w.sync();
            prop_assert_eq!(deleted_in_salesforce(&d) + deleted_in_mailbox(&d), 0, "early");
        }
        // The burst settles.
        w.burst.as_mut().expect("guarded").step = Duration::seconds(61);
        w.sync();
        let held = is_mass_delete(deletions, total);
        prop_assert_eq!(burst_model(&w).count(DeletionState::Held), if held { deletions } else { 0 });
        prop_assert_eq!(w.waiting_deletions(), 0);
        let expected_links = if held { total } else { total - deletions };
        prop_assert_eq!(w.links.len(), expected_links);
        if held {
            w.confirm_held();
            w.sync();
        }
        prop_assert_eq!(w.links.len(), total - deletions);
        prop_assert!(w.unexplained_deletes.is_empty(), "{:?}", w.unexplained_deletes);
    }

    /// Without an operator, the deletions carried out within any window never amount to a mass
    /// delete of the links the window began with, whatever the timing, slicing and on-demand
    /// sessions.
    #[test]
    fn unconfirmed_deletions_within_a_window_never_amount_to_a_mass_delete(
        links in 0usize..120,
        sessions in prop::collection::vec((0usize..8, 0i64..400, any::<bool>()), 1..60),
    ) {
        let policy = BurstPolicy::default();
        let mut now = t0();
        let mut links = links;
        let mut waiting: Vec<chrono::DateTime<Utc>> = Vec::new();
        let mut held = 0usize;
        let mut history: Vec<Executed> = Vec::new();
        for (new, gap, on_demand) in sessions {
            now += Duration::seconds(gap);
            let new = new.min(links.saturating_sub(waiting.len() + held));
            waiting.extend(std::iter::repeat_n(now, new));
            let state = BurstState { history: history.clone(), ..BurstState::default() };
            let recent = state.recent(now, policy.window);
            let burst = Burst {
                waiting: waiting.len(),
                held,
                recent,
                links,
                settle_until: waiting.iter().max().map(|t| *t + policy.settle),
            };
            match judge(&burst, on_demand, now) {
                Verdict::Idle | Verdict::Wait { .. } => {}
                Verdict::Hold => held += std::mem::take(&mut waiting).len(),
                Verdict::CarryOut => {
                    let n = std::mem::take(&mut waiting).len();
                    links -= n;
                    history.push(Executed { at: now, deletions: n });
                }
            }
            let state = BurstState { history: history.clone(), ..BurstState::default() };
            let in_window = state.recent(now, policy.window);
            prop_assert!(
                !is_mass_delete(in_window, links + in_window),
                "{} deleted within the window, {} links left", in_window, links
            );
        }
    }

    /// Nothing waiting is ever carried out before it settles unless the session is on demand.
    #[test]
    fn waiting_deletions_are_not_carried_out_before_they_settle(
        waiting in 1usize..50,
        held in 0usize..30,
        recent in 0usize..30,
        links in 0usize..200,
        early in 1i64..3600,
    ) {
        let until = t0() + Duration::seconds(3600);
        let burst = Burst { waiting, held, recent, links: links.max(waiting + held), settle_until: Some(until) };
        let now = until - Duration::seconds(early);
        prop_assert_eq!(judge(&burst, false, now), Verdict::Wait { until });
        let verdict = judge(&burst, true, now);
        let mass = is_mass_delete(waiting + held + recent, burst.links + recent);
        prop_assert_eq!(verdict, if mass { Verdict::Hold } else { Verdict::CarryOut });
    }
}
