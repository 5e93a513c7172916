//! Property tests against the reference model: random histories of user edits on both sides,
//! interleaved with sessions (incremental and full), must keep every invariant of SPEC §1:
//! idempotence after a session (C3), convergence of mapped fields, one link per contact (C4),
//! no deletion that is not the answer to a user's removal (C5).

mod common;

use std::collections::BTreeSet;

use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use sync_core::fields::{GraphContactFields, GraphEmailAddress, SalesforceContactFields};
use sync_core::*;

const FIRST: &[&str] = &["Ann", "Bo", " Ann ", "", "Cy"];
const LAST: &[&str] = &["Lee", "Berg", "", "Okafor-Lindqvist"];
const EMAIL: &[&str] = &["a@example.com", "b@example.com", "not an email", ""];
const DEPARTMENT: &[&str] = &["Sales", "Ops", ""];
const BIRTHDAY: &[&str] = &["1980-01-02", "1980-01-02T11:59:00Z", "1975-12-31", ""];
const NOTES: &[&str] = &["note", "line1\r\nline2", REJECTED_BY_RULE, ""];
const COMPANY: &[&str] = &["Acme", "Globex", "Initech", ""];

fn opt(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[derive(Debug, Clone)]
enum MailEdit {
    GivenName(usize),
    Surname(usize),
    Email(usize),
    SecondEmail(usize),
    Department(usize),
    Birthday(usize),
    Notes(usize),
    Company(usize),
    TooLongFirstName,
}

#[derive(Debug, Clone)]
enum SfEdit {
    FirstName(usize),
    LastName(usize),
    Email(usize),
    Department(usize),
    Birthdate(usize),
    Account(usize),
}

#[derive(Debug, Clone)]
enum Action {
    SfCreate {
        mine: bool,
        first: usize,
        last: usize,
    },
    SfEdit(Index, SfEdit),
    SfDelete(Index),
    SfOwner(Index, bool),
    MailCreate {
        in_folder: bool,
        category: bool,
        first: usize,
        last: usize,
        email: usize,
    },
    MailEdit(Index, MailEdit),
    MailDelete(Index),
    MailMove(Index),
    MailCopy(Index, bool),
    MailCategories(Index, bool),
    Sync {
        complete: bool,
    },
    /// A session whose one side's read fails, or that crashes after writing.
    Trouble(Mode),
    ToggleAutoRemoval,
    ToggleWinner,
    /// B2: `mine` or `all`.
    SetScope(bool),
}

fn pick(pool: &[&str]) -> impl Strategy<Value = usize> {
    0..pool.len()
}

fn mail_edit() -> impl Strategy<Value = MailEdit> {
    prop_oneof![
        pick(FIRST).prop_map(MailEdit::GivenName),
        pick(LAST).prop_map(MailEdit::Surname),
        pick(EMAIL).prop_map(MailEdit::Email),
        pick(EMAIL).prop_map(MailEdit::SecondEmail),
        pick(DEPARTMENT).prop_map(MailEdit::Department),
        pick(BIRTHDAY).prop_map(MailEdit::Birthday),
        pick(NOTES).prop_map(MailEdit::Notes),
        pick(COMPANY).prop_map(MailEdit::Company),
        Just(MailEdit::TooLongFirstName),
    ]
}

fn sf_edit() -> impl Strategy<Value = SfEdit> {
    // Salesforce itself refuses an empty LastName or a bad email, so a user cannot make them.
    prop_oneof![
        pick(FIRST).prop_map(SfEdit::FirstName),
        (0..2usize).prop_map(SfEdit::LastName),
        (0..2usize).prop_map(SfEdit::Email),
        pick(DEPARTMENT).prop_map(SfEdit::Department),
        (0..3usize).prop_map(SfEdit::Birthdate),
        pick(COMPANY).prop_map(SfEdit::Account),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (any::<bool>(), pick(FIRST), 0..2usize)
            .prop_map(|(mine, first, last)| Action::SfCreate { mine: mine || first % 2 == 0, first, last }),
        4 => (any::<Index>(), sf_edit()).prop_map(|(i, e)| Action::SfEdit(i, e)),
        1 => any::<Index>().prop_map(Action::SfDelete),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, b)| Action::SfOwner(i, b)),
        3 => (any::<bool>(), any::<bool>(), pick(FIRST), pick(LAST), pick(EMAIL)).prop_map(
            |(in_folder, category, first, last, email)| Action::MailCreate { in_folder, category, first, last, email }
        ),
        5 => (any::<Index>(), mail_edit()).prop_map(|(i, e)| Action::MailEdit(i, e)),
        1 => any::<Index>().prop_map(Action::MailDelete),
        1 => any::<Index>().prop_map(Action::MailMove),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, b)| Action::MailCopy(i, b)),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, b)| Action::MailCategories(i, b)),
        3 => prop_oneof![3 => Just(false), 1 => Just(true)].prop_map(|complete| Action::Sync { complete }),
        1 => prop_oneof![
            Just(Mode::Crash),
            Just(Mode::Failed(Side::Exchange)),
            Just(Mode::Failed(Side::Salesforce)),
        ].prop_map(Action::Trouble),
        1 => Just(Action::ToggleAutoRemoval),
        1 => Just(Action::ToggleWinner),
        1 => any::<bool>().prop_map(Action::SetScope),
    ]
}

fn nth<K: Clone, V>(map: &std::collections::BTreeMap<K, V>, i: &Index) -> Option<K> {
    if map.is_empty() {
        None
    } else {
        map.keys().nth(i.index(map.len())).cloned()
    }
}

fn apply_mail_edit(f: &mut GraphContactFields, edit: &MailEdit) {
    match edit {
        MailEdit::GivenName(i) => f.given_name = opt(FIRST[*i]),
        MailEdit::Surname(i) => f.surname = opt(LAST[*i]),
        MailEdit::Email(i) => {
            let mut emails = f.email_addresses.clone().unwrap_or_default();
            let address = opt(EMAIL[*i]);
            match emails.first_mut() {
                Some(first) => first.address = address,
                None => emails.push(GraphEmailAddress {
                    address,
                    name: None,
                }),
            }
            f.email_addresses = Some(emails);
        }
        MailEdit::SecondEmail(i) => {
            let mut emails = f.email_addresses.clone().unwrap_or_default();
            emails.truncate(1);
            emails.push(GraphEmailAddress {
                address: opt(EMAIL[*i]),
                name: None,
            });
            f.email_addresses = Some(emails);
        }
        MailEdit::Department(i) => f.department = opt(DEPARTMENT[*i]),
        MailEdit::Birthday(i) => f.birthday = opt(BIRTHDAY[*i]),
        MailEdit::Notes(i) => f.personal_notes = opt(NOTES[*i]),
        MailEdit::Company(i) => f.company_name = opt(COMPANY[*i]),
        MailEdit::TooLongFirstName => f.given_name = Some("N".repeat(41)),
    }
}

fn apply_sf_edit(w: &mut World, id: &SalesforceId, edit: &SfEdit) {
    match edit {
        SfEdit::Account(i) => {
            let name = COMPANY[*i];
            w.sf_set_account(id, (!name.is_empty()).then_some(name));
        }
        edit => w.sf_edit(id, |f: &mut SalesforceContactFields| match edit {
            SfEdit::FirstName(i) => f.first_name = opt(FIRST[*i]),
            SfEdit::LastName(i) => f.last_name = opt(LAST[*i]),
            SfEdit::Email(i) => f.email = opt(EMAIL[*i]),
            SfEdit::Department(i) => f.department = opt(DEPARTMENT[*i]),
            SfEdit::Birthdate(i) => f.birthdate = opt(&BIRTHDAY[*i][..10.min(BIRTHDAY[*i].len())]),
            SfEdit::Account(_) => {}
        }),
    }
}

/// `strict`: no crash or failed read happened yet, so every session must leave nothing for the next (C3, C6).
fn apply(w: &mut World, action: &Action, strict: bool) {
    match action {
        Action::SfCreate { mine, first, last } => {
            let owner = if *mine { USER } else { OTHER_USER };
            w.sf_create(
                owner,
                sf_person(FIRST[*first], LAST[*last], "sf@example.com"),
            );
        }
        Action::SfEdit(i, edit) => {
            if let Some(id) = nth(&w.sf, i) {
                apply_sf_edit(w, &id, edit);
            }
        }
        Action::SfDelete(i) => {
            if let Some(id) = nth(&w.sf, i) {
                w.sf_delete(&id);
            }
        }
        Action::SfOwner(i, mine) => {
            if let Some(id) = nth(&w.sf, i) {
                w.sf_set_owner(&id, if *mine { USER } else { OTHER_USER });
            }
        }
        Action::MailCreate {
            in_folder,
            category,
            first,
            last,
            email,
        } => {
            let folder = if *in_folder {
                FolderKind::SyncFolder
            } else {
                FolderKind::Other
            };
            let categories: &[&str] = if *category { &["Salesforce"] } else { &[] };
            w.mail_create(
                folder,
                categories,
                person(FIRST[*first], LAST[*last], EMAIL[*email]),
            );
        }
        Action::MailEdit(i, edit) => {
            if let Some(id) = nth(&w.mailbox, i) {
                w.mail_edit(&id, |f| apply_mail_edit(f, edit));
            }
        }
        Action::MailDelete(i) => {
            if let Some(id) = nth(&w.mailbox, i) {
                w.mail_delete(&id);
            }
        }
        Action::MailMove(i) => {
            if let Some(id) = nth(&w.mailbox, i) {
                let to = match w.mailbox[&id].folder {
                    FolderKind::SyncFolder => FolderKind::Other,
                    FolderKind::Other => FolderKind::SyncFolder,
                };
                w.mail_move(&id, to);
            }
        }
        Action::MailCopy(i, into_folder) => {
            if let Some(id) = nth(&w.mailbox, i) {
                let to = if *into_folder {
                    FolderKind::SyncFolder
                } else {
                    FolderKind::Other
                };
                w.mail_copy(&id, to);
            }
        }
        Action::MailCategories(i, with) => {
            if let Some(id) = nth(&w.mailbox, i) {
                let categories: &[&str] = if *with {
                    &["Salesforce", "Blue"]
                } else {
                    &["Blue"]
                };
                w.mail_set_categories(&id, categories);
            }
        }
        Action::Sync { complete } => {
            // Under the burst guard a full listing stands for a settings change: on demand.
            if let Some(burst) = w.burst.as_mut() {
                burst.on_demand = *complete;
            }
            w.sync_with(*complete);
            // C3: the session right after a finished one writes nothing. (Recovering from a
            // crash may take one more session: what the lost link knew is re-learnt. Deletions
            // waiting for their burst to settle are carried out by a later session.)
            if strict && w.waiting_deletions() == 0 {
                let mut again = w.clone();
                let d = again.sync();
                assert!(d.has_no_writes(), "writes right after a session: {d:#?}");
            }
        }
        Action::Trouble(mode) => {
            w.session(*mode);
        }
        Action::ToggleAutoRemoval => w.settings.auto_removal = !w.settings.auto_removal,
        Action::SetScope(all) => w.set_scope(if *all { Scope::All } else { Scope::Mine }),
        Action::ToggleWinner => {
            w.settings.conflict_winner = match w.settings.conflict_winner {
                ConflictWinner::Salesforce => ConflictWinner::Exchange,
                ConflictWinner::Exchange => ConflictWinner::Salesforce,
            }
        }
    }
}

fn without_company(mut c: Contact) -> Contact {
    c.company = None;
    c
}

/// The invariants that hold after a settled session.
/// `lost_links`: a crash lost a session's link rows after its writes. Then a later session can
/// take our own mirror deletion for the user's and answer it (B12 with auto-removal), so C5 is
/// only checked without such crashes; the reconciler stores decisions before writing (outbox),
/// which rules this crash out in the service.
fn check_invariants(w: &World, lost_links: bool) -> Result<(), TestCaseError> {
    // C4: one link per key, per Salesforce Contact, per mailbox item.
    let keys: BTreeSet<_> = w.links.iter().map(|l| &l.sync_key).collect();
    prop_assert_eq!(keys.len(), w.links.len(), "duplicate keys");
    let sf_ids: Vec<_> = w
        .links
        .iter()
        .filter_map(|l| l.salesforce_id.as_ref())
        .collect();
    prop_assert_eq!(
        sf_ids.iter().collect::<BTreeSet<_>>().len(),
        sf_ids.len(),
        "Contact linked twice"
    );
    let graph_ids: Vec<_> = w.links.iter().filter_map(|l| l.graph_id.as_ref()).collect();
    prop_assert_eq!(
        graph_ids.iter().collect::<BTreeSet<_>>().len(),
        graph_ids.len(),
        "item linked twice"
    );
    for (id, record) in &w.sf {
        let links = w
            .links
            .iter()
            .filter(|l| l.salesforce_id.as_ref() == Some(id))
            .count();
        if w.in_scope(record) {
            prop_assert_eq!(links, 1, "in-scope Contact {} has {} links", id, links);
        }
    }
    let mut stamps = BTreeSet::new();
    for (id, item) in w.folder_items() {
        prop_assert!(
            w.link_for_graph(id).is_some(),
            "folder item {} unlinked",
            id
        );
        prop_assert!(
            item.categories.iter().any(|c| c == SALESFORCE_CATEGORY),
            "no category on {}",
            id
        );
        if let Some(stamp) = &item.stamp {
            prop_assert!(stamps.insert(stamp.clone()), "stamp {} on two items", stamp);
        }
    }
    for link in &w.links {
        if let Some(g) = &link.graph_id {
            prop_assert!(
                w.mailbox
                    .get(g)
                    .is_some_and(|i| i.folder == FolderKind::SyncFolder),
                "dangling {}",
                g
            );
        }
        if let Some(s) = &link.salesforce_id {
            prop_assert!(w.sf.contains_key(s), "dangling {}", s);
        }
        // Convergence on mapped fields, unless one side holds a value the other refused (C7).
        if let (Some(g), Some(s), None) = (&link.graph_id, &link.salesforce_id, &link.rejected) {
            let mail = w.mail_canonical(g).map(without_company);
            let sf = w.sf_canonical(s).map(without_company);
            prop_assert_eq!(mail, sf, "sides differ for {}", link.sync_key);
        }
    }
    prop_assert!(
        lost_links || w.unexplained_deletes.is_empty(),
        "deletes without a user action: {:?}",
        w.unexplained_deletes
    );
    Ok(())
}

fn world() -> World {
    let mut w = World::new();
    w.add_account("001000000000001AAA", "Acme Corporation", 2);
    w.add_account("001000000000002AAA", "Globex", 3);
    w.add_account("001000000000003AAA", "Globex", 1);
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Random histories of edits on both sides, with sessions in between, settle into a state
    /// that satisfies C3, C4, C5 and convergence.
    #[test]
    fn random_histories_converge_without_duplicates_or_unasked_deletes(
        actions in prop::collection::vec(action(), 1..40)
    ) {
        let mut w = world();
        let mut crashed = false;
        let lost_links = actions.iter().any(|a| matches!(a, Action::Trouble(Mode::Crash)));
        for a in &actions {
            // After a crash or a failed read, what the lost link or the unread side knew is
            // re-learnt from later reads: recovery may take one more session (not C6-tight).
            crashed |= matches!(a, Action::Trouble(_));
            apply(&mut w, a, !crashed);
        }
        w.sync();
        if crashed {
            w.sync();
        }
        let d = w.sync();
        prop_assert!(d.has_no_writes(), "not idempotent: {:#?}", d);
        check_invariants(&w, lost_links)?;
        // A full listing of both sides (a restart, a 410 resync) changes nothing either. After a
        // crash it may: a Contact that left the scope while its link was lost is only seen to be
        // out of scope by a full listing (B7), which then removes its mirror, once.
        let d = w.sync_complete();
        prop_assert!(crashed || d.has_no_writes(), "full listing wrote: {:#?}", d);
        check_invariants(&w, lost_links)?;
        let d = w.sync_complete();
        prop_assert!(d.has_no_writes(), "second full listing wrote: {:#?}", d);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// The same histories with sessions decided as the pipeline does (C5 per burst, sessions 25 s
    /// apart so deletions wait across several): once the waiting deletions are judged and the
    /// held ones confirmed, the same invariants hold, and nothing is deleted that the user did
    /// not remove.
    #[test]
    fn guarded_random_histories_converge_without_duplicates_or_unasked_deletes(
        actions in prop::collection::vec(action(), 1..40)
    ) {
        let mut w = world().guarded(25);
        let mut crashed = false;
        let lost_links = actions.iter().any(|a| matches!(a, Action::Trouble(Mode::Crash)));
        for a in &actions {
            crashed |= matches!(a, Action::Trouble(_));
            apply(&mut w, a, !crashed);
        }
        w.sync_on_demand();
        if w.confirm_held() > 0 {
            w.sync();
        }
        if crashed {
            w.sync_on_demand();
            if w.confirm_held() > 0 {
                w.sync();
            }
        }
        prop_assert_eq!(w.waiting_deletions(), 0);
        let d = w.sync();
        prop_assert!(d.has_no_writes(), "not idempotent: {:#?}", d);
        check_invariants(&w, lost_links)?;
        let d = w.sync_complete();
        prop_assert!(crashed || d.has_no_writes(), "full listing wrote: {:#?}", d);
        check_invariants(&w, lost_links)?;
        let d = w.sync_complete();
        prop_assert!(d.has_no_writes(), "second full listing wrote: {:#?}", d);
    }

    /// C6 under the burst guard: an on-demand session with nothing pending decides exactly what
    /// the one-session guard decides.
    #[test]
    fn an_on_demand_session_with_nothing_pending_decides_as_reconcile(
        actions in prop::collection::vec(action(), 1..30),
        complete in any::<bool>(),
    ) {
        let mut w = world();
        for a in &actions {
            apply(&mut w, a, false);
        }
        let (exchange, salesforce) = w.reads(complete);
        let plain = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
        let state = BurstState { on_demand: true, ..BurstState::default() };
        let guarded = reconcile_guarded(
            &w.links, &exchange, &salesforce, &w.settings, &state, &BurstPolicy::default(), w.now,
        );
        prop_assert_eq!(&guarded.decisions.exchange, &plain.exchange);
        prop_assert_eq!(&guarded.decisions.salesforce, &plain.salesforce);
        prop_assert_eq!(&guarded.decisions.links, &plain.links);
        prop_assert_eq!(&guarded.decisions.guard, &plain.guard);
        prop_assert!(guarded.pending.iter().all(|p| p.state == DeletionState::Held));
        prop_assert_eq!(guarded.settle_until, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Reconciling is a pure function: the same input gives the same decisions.
    #[test]
    fn reconcile_is_deterministic(actions in prop::collection::vec(action(), 1..20)) {
        let mut w = world();
        for a in &actions {
            apply(&mut w, a, false);
        }
        let (exchange, salesforce) = w.reads(false);
        let a = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
        let b = reconcile(&w.links, &exchange, &salesforce, &w.settings, w.now);
        prop_assert_eq!(a, b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// C5: a session is held exactly when it would delete more than half of the links and at
    /// least 20; held deletions happen after the operator confirms, and nothing else waits.
    #[test]
    fn the_mass_delete_guard_holds_exactly_above_its_threshold(
        total in 20usize..44,
        deleted_share in 0.0f64..1.0,
        from_mailbox in any::<bool>(),
    ) {
        let mut w = world();
        w.settings.auto_removal = true;
        let ids: Vec<SalesforceId> = (0..total)
            .map(|i| w.sf_create(USER, sf_person("M", &format!("Mass{i}"), &format!("m{i}@example.com"))))
            .collect();
        w.sync();
        let deletions = ((total as f64) * deleted_share) as usize;
        for id in &ids[..deletions] {
            if from_mailbox {
                let graph = w.mirror_of(id).map(|(g, _)| g.clone());
                if let Some(graph) = graph {
                    w.mail_delete(&graph);
                }
            } else {
                w.sf_delete(id);
            }
        }
        // An unrelated edit that must go through even when deletions are held.
        let survivor = ids[total - 1].clone();
        w.sf_edit(&survivor, |f| f.department = Some("Kept".into()));
        let d = w.sync();
        let held = deletions >= MASS_DELETE_MIN && deletions * 2 > total;
        prop_assert_eq!(matches!(d.guard, GuardOutcome::Held { .. }), held, "{:?}", d.guard);
        let survivor_mirror = w.mirror_of(&survivor).map(|(_, item)| item.fields.department.clone());
        prop_assert_eq!(survivor_mirror, Some(Some("Kept".to_owned())));
        if held {
            prop_assert_eq!(w.links.len(), total, "nothing deleted while held");
            w.settings.mass_delete_confirmed = true;
            let d = w.sync();
            prop_assert_eq!(d.guard, GuardOutcome::Clear);
        }
        prop_assert_eq!(w.links.len(), total - deletions);
        prop_assert!(w.unexplained_deletes.is_empty(), "{:?}", w.unexplained_deletes);
    }
}
