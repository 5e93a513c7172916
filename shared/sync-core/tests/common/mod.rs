//! A small reference model of both sides (mailbox folders, Salesforce Contacts and Accounts) with
//! writers that execute the core's commands the way Graph and Salesforce would, so rule tests
//! and property tests can run whole sessions: user edits → delta → reconcile → writes → results.
#![allow(dead_code)]

mod writers;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use sync_core::account::AccountCandidate;
use sync_core::fields::{GraphContactFields, GraphEmailAddress, SalesforceContactFields};
use sync_core::mapping::{graph_to_canonical, salesforce_to_canonical};
use sync_core::*;

pub const USER: &str = "005000000000001AAA";
pub const OTHER_USER: &str = "005000000000002AAA";
/// A description Salesforce's (modelled) validation rule refuses: a failure only the writer sees.
pub const REJECTED_BY_RULE: &str = "REJECT-ME";

#[derive(Debug, Clone)]
pub struct MailItem {
    pub folder: FolderKind,
    pub categories: Vec<String>,
    pub stamp: Option<SyncKey>,
    pub change: u64,
    pub fields: GraphContactFields,
}

#[derive(Debug, Clone)]
pub struct SfRecord {
    pub owner: SalesforceId,
    pub key: Option<SyncKey>,
    pub fields: SalesforceContactFields,
    pub account: Option<String>,
}

/// How a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Incremental reads, or full listings of both sides.
    Normal { complete: bool },
    /// One side's read failed: nothing is known about it this session.
    Failed(Side),
    /// The process died after the writes, before results, links and cursors were stored.
    Crash,
}

/// Both services and the link store, plus what changed since the last session (the cursors).
#[derive(Debug, Clone)]
pub struct World {
    pub mailbox: BTreeMap<GraphItemId, MailItem>,
    pub sf: BTreeMap<SalesforceId, SfRecord>,
    pub accounts: Vec<AccountCandidate>,
    pub links: Vec<Link>,
    pub settings: Settings,
    pub now: DateTime<Utc>,
    pub ex_changed: BTreeSet<GraphItemId>,
    pub ex_removed: BTreeSet<GraphItemId>,
    pub sf_changed: BTreeSet<SalesforceId>,
    pub sf_deleted: BTreeSet<SalesforceId>,
    pub next: u64,
    /// Contacts the user removed since the last session (a delete by the core must be one of them).
    pub user_removed_mail: BTreeSet<GraphItemId>,
    pub user_removed_sf: BTreeSet<SalesforceId>,
    /// Every delete the core issued, checked against the user's actions (C5).
    pub unexplained_deletes: Vec<String>,
    pub last_errors: Vec<ItemError>,
    /// The next this many mailbox writes fail as Graph would refuse a property.
    pub exchange_faults: usize,
    /// The scope changed since the last finished session.
    pub scope_changed: bool,
    /// Sessions decided as the pipeline does, by `reconcile_guarded` (C5 over bursts); `None`
    /// runs the one-session guard of `reconcile`.
    pub burst: Option<BurstModel>,
}

/// The burst guard's store, and the clock of sessions in a guarded world.
#[derive(Debug, Clone)]
pub struct BurstModel {
    pub state: BurstState,
    pub policy: BurstPolicy,
    /// Time between sessions.
    pub step: chrono::Duration,
    /// The next session is on demand (`sync?wait`); reset after each session.
    pub on_demand: bool,
    pub settle_until: Option<DateTime<Utc>>,
    /// The last session's verdict.
    pub verdict: Option<Verdict>,
}

impl BurstModel {
    pub fn new(step_secs: i64) -> BurstModel {
        BurstModel {
            state: BurstState::default(),
            policy: BurstPolicy::default(),
            step: chrono::Duration::seconds(step_secs),
            on_demand: false,
            settle_until: None,
            verdict: None,
        }
    }

    pub fn count(&self, state: DeletionState) -> usize {
        self.state
            .pending
            .iter()
            .filter(|p| p.state == state)
            .count()
    }
}

pub fn sf_id(text: &str) -> SalesforceId {
    SalesforceId::try_from(text).expect("test id")
}

pub fn person(first: &str, last: &str, email: &str) -> GraphContactFields {
    GraphContactFields {
        given_name: Some(first.to_owned()),
        surname: Some(last.to_owned()),
        email_addresses: Some(vec![GraphEmailAddress {
            address: Some(email.to_owned()),
            name: Some(email.to_owned()),
        }]),
        ..GraphContactFields::default()
    }
}

pub fn sf_person(first: &str, last: &str, email: &str) -> SalesforceContactFields {
    SalesforceContactFields {
        first_name: Some(first.to_owned()),
        last_name: Some(last.to_owned()),
        email: Some(email.to_owned()),
        ..SalesforceContactFields::default()
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        World {
            mailbox: BTreeMap::new(),
            sf: BTreeMap::new(),
            accounts: Vec::new(),
            links: Vec::new(),
            settings: Settings::new(sf_id(USER)),
            now: Utc
                .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
                .single()
                .expect("valid time"),
            ex_changed: BTreeSet::new(),
            ex_removed: BTreeSet::new(),
            sf_changed: BTreeSet::new(),
            sf_deleted: BTreeSet::new(),
            next: 1,
            user_removed_mail: BTreeSet::new(),
            user_removed_sf: BTreeSet::new(),
            unexplained_deletes: Vec::new(),
            last_errors: Vec::new(),
            exchange_faults: 0,
            scope_changed: false,
            burst: None,
        }
    }

    pub(crate) fn new_graph_id(&mut self) -> GraphItemId {
        self.next += 1;
        GraphItemId::try_from(format!("AAMkItem{:06}=", self.next)).expect("valid graph id")
    }

    pub(crate) fn new_sf_id(&mut self) -> SalesforceId {
        self.next += 1;
        sf_id(&format!("003{:012}AAA", self.next))
    }

    pub fn add_account(&mut self, id: &str, name: &str, day: u32) {
        self.accounts.push(AccountCandidate {
            id: sf_id(id),
            name: name.to_owned(),
            created_date: Utc
                .with_ymd_and_hms(2020, 1, day, 0, 0, 0)
                .single()
                .expect("valid date"),
        });
    }

    // ---- user actions -------------------------------------------------------------------

    pub fn mail_create(
        &mut self,
        folder: FolderKind,
        categories: &[&str],
        fields: GraphContactFields,
    ) -> GraphItemId {
        let id = self.new_graph_id();
        let item = MailItem {
            folder,
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            stamp: None,
            change: self.next,
            fields: graph_normalise(fields),
        };
        self.mailbox.insert(id.clone(), item);
        self.ex_changed.insert(id.clone());
        id
    }

    pub fn mail_edit(&mut self, id: &GraphItemId, edit: impl FnOnce(&mut GraphContactFields)) {
        self.next += 1;
        let next = self.next;
        if let Some(item) = self.mailbox.get_mut(id) {
            edit(&mut item.fields);
            item.fields = graph_normalise(item.fields.clone());
            item.change = next;
            self.ex_changed.insert(id.clone());
        }
    }

    pub fn mail_set_categories(&mut self, id: &GraphItemId, categories: &[&str]) {
        self.next += 1;
        let next = self.next;
        if let Some(item) = self.mailbox.get_mut(id) {
            item.categories = categories.iter().map(|c| (*c).to_owned()).collect();
            item.change = next;
            self.ex_changed.insert(id.clone());
        }
    }

    pub fn mail_delete(&mut self, id: &GraphItemId) {
        if self.mailbox.remove(id).is_some() {
            self.ex_removed.insert(id.clone());
            self.ex_changed.remove(id);
            self.user_removed_mail.insert(id.clone());
        }
    }

    /// Outlook's move: the item gets a new id in the target folder (ids are not immutable), the
    /// stamp and categories travel with it.
    pub fn mail_move(&mut self, id: &GraphItemId, folder: FolderKind) -> Option<GraphItemId> {
        let mut item = self.mailbox.remove(id)?;
        self.ex_removed.insert(id.clone());
        self.ex_changed.remove(id);
        if folder == FolderKind::Other {
            self.user_removed_mail.insert(id.clone());
        }
        let new = self.new_graph_id();
        item.folder = folder;
        item.change = self.next;
        self.mailbox.insert(new.clone(), item);
        self.ex_changed.insert(new.clone());
        Some(new)
    }

    /// Outlook's copy: a new item with everything, our stamp and categories included.
    pub fn mail_copy(&mut self, id: &GraphItemId, folder: FolderKind) -> Option<GraphItemId> {
        let mut item = self.mailbox.get(id)?.clone();
        let new = self.new_graph_id();
        item.folder = folder;
        item.change = self.next;
        self.mailbox.insert(new.clone(), item);
        self.ex_changed.insert(new.clone());
        Some(new)
    }

    pub fn sf_create(&mut self, owner: &str, fields: SalesforceContactFields) -> SalesforceId {
        let id = self.new_sf_id();
        self.sf.insert(
            id.clone(),
            SfRecord {
                owner: sf_id(owner),
                key: None,
                fields: sf_normalise(fields),
                account: None,
            },
        );
        self.sf_changed.insert(id.clone());
        id
    }

    pub fn sf_edit(&mut self, id: &SalesforceId, edit: impl FnOnce(&mut SalesforceContactFields)) {
        if let Some(record) = self.sf.get_mut(id) {
            edit(&mut record.fields);
            record.fields = sf_normalise(record.fields.clone());
            self.sf_changed.insert(id.clone());
        }
    }

    pub fn sf_set_account(&mut self, id: &SalesforceId, account: Option<&str>) {
        if let Some(record) = self.sf.get_mut(id) {
            record.account = account.map(str::to_owned);
            self.sf_changed.insert(id.clone());
        }
    }

    pub fn sf_set_owner(&mut self, id: &SalesforceId, owner: &str) {
        if let Some(record) = self.sf.get_mut(id) {
            record.owner = sf_id(owner);
            self.sf_changed.insert(id.clone());
            self.user_removed_sf.insert(id.clone());
        }
    }

    pub fn sf_delete(&mut self, id: &SalesforceId) {
        if self.sf.remove(id).is_some() {
            self.sf_deleted.insert(id.clone());
            self.sf_changed.remove(id);
            self.user_removed_sf.insert(id.clone());
        }
    }

    // ---- sessions -----------------------------------------------------------------------

    fn exchange_item(&self, id: &GraphItemId, item: &MailItem) -> ExchangeItem {
        ExchangeItem {
            id: id.clone(),
            folder: item.folder,
            categories: item.categories.clone(),
            sync_key: item.stamp.clone(),
            change_key: Some(format!("ck{}", item.change)),
            fields: item.fields.clone(),
        }
    }

    pub fn salesforce_contact(&self, id: &SalesforceId, record: &SfRecord) -> SalesforceContact {
        let mut fields = record.fields.clone();
        fields.account =
            record
                .account
                .as_ref()
                .map(|name| sync_core::fields::SalesforceAccountRef {
                    name: Some(name.clone()),
                });
        SalesforceContact {
            id: id.clone(),
            owner_id: Some(record.owner.clone()),
            sync_key: record.key.clone(),
            fields,
        }
    }

    /// B2 as the fetcher applies it.
    pub fn in_scope(&self, record: &SfRecord) -> bool {
        self.settings.scope == Scope::All || record.owner == sf_id(USER)
    }

    /// A scope change: the fetcher's next read is a full listing (SPEC §4's `complete`).
    pub fn set_scope(&mut self, scope: Scope) {
        if self.settings.scope != scope {
            self.settings.scope = scope;
            self.scope_changed = true;
        }
    }

    fn is_linked_sf(&self, id: &SalesforceId) -> bool {
        self.links
            .iter()
            .any(|l| l.salesforce_id.as_ref() == Some(id))
    }

    /// What the fetchers would read: incremental since the last session, or full listings.
    pub fn reads(&self, complete: bool) -> (ExchangeChanges, SalesforceChanges) {
        let ex_ids: Vec<&GraphItemId> = if complete {
            self.mailbox.keys().collect()
        } else {
            self.ex_changed.iter().collect()
        };
        let exchange = ExchangeChanges {
            kind: if complete {
                ReadKind::Complete
            } else {
                ReadKind::Incremental
            },
            items: ex_ids
                .into_iter()
                .filter_map(|id| self.mailbox.get(id).map(|i| self.exchange_item(id, i)))
                .collect(),
            // Tombstones since the cursor come with a full listing too: a listing alone cannot
            // tell an emptied folder from a bad read (C5).
            removed: self.ex_removed.iter().cloned().collect(),
            folder_lost: false,
        };
        let sf_ids: Vec<&SalesforceId> = if complete {
            self.sf.keys().collect()
        } else {
            self.sf_changed.iter().collect()
        };
        let mut salesforce = SalesforceChanges {
            kind: if complete {
                ReadKind::Complete
            } else {
                ReadKind::Incremental
            },
            contacts: Vec::new(),
            // Get Deleted works whatever the listing.
            deleted: self.sf_deleted.iter().cloned().collect(),
            out_of_scope: Vec::new(),
            errors: Vec::new(),
        };
        for id in sf_ids {
            let Some(record) = self.sf.get(id) else {
                continue;
            };
            let in_scope = self.in_scope(record);
            let linked = self.is_linked_sf(id);
            if in_scope || linked {
                salesforce
                    .contacts
                    .push(self.salesforce_contact(id, record));
            }
            if !in_scope && linked {
                salesforce.out_of_scope.push(id.clone());
            }
        }
        (exchange, salesforce)
    }

    /// One whole session: read, reconcile, write, fold results, store links.
    pub fn sync(&mut self) -> Decisions {
        self.sync_with(false)
    }

    pub fn sync_complete(&mut self) -> Decisions {
        self.sync_with(true)
    }

    pub fn sync_with(&mut self, complete: bool) -> Decisions {
        self.session(Mode::Normal { complete })
    }

    /// One session in the given mode (see [`Mode`]).
    pub fn session(&mut self, mode: Mode) -> Decisions {
        let (mut exchange, mut salesforce) =
            self.reads(self.scope_changed || matches!(mode, Mode::Normal { complete: true }));
        match mode {
            Mode::Failed(Side::Exchange) => exchange = ExchangeChanges::failed(),
            Mode::Failed(Side::Salesforce) => salesforce = SalesforceChanges::failed(),
            _ => {}
        }
        let (decisions, advance) = match self.burst.as_mut() {
            None => {
                self.now += chrono::Duration::minutes(30);
                let decisions = reconcile(
                    &self.links,
                    &exchange,
                    &salesforce,
                    &self.settings,
                    self.now,
                );
                // Cursors advance only after a session that read both sides, stored its
                // results, and was not held by the guard (a failed read keeps both cursors).
                let advance = matches!(decisions.guard, GuardOutcome::Clear)
                    && matches!(mode, Mode::Normal { .. });
                (decisions, advance)
            }
            Some(burst) => {
                self.now += burst.step;
                burst.state.on_demand = std::mem::take(&mut burst.on_demand);
                let guarded = reconcile_guarded(
                    &self.links,
                    &exchange,
                    &salesforce,
                    &self.settings,
                    &burst.state,
                    &burst.policy,
                    self.now,
                );
                // The pending deletions are stored with the session's links and cursors (a
                // crash loses all three), so the cursors advance whatever waits or is held.
                if mode != Mode::Crash {
                    burst.state.pending = guarded.pending;
                    if guarded.carried_out > 0 {
                        burst.state.history.push(Executed {
                            at: self.now,
                            deletions: guarded.carried_out,
                        });
                    }
                    burst.settle_until = guarded.settle_until;
                }
                burst.verdict = Some(guarded.verdict);
                (guarded.decisions, matches!(mode, Mode::Normal { .. }))
            }
        };
        if advance {
            self.scope_changed = false;
            self.ex_changed.clear();
            self.ex_removed.clear();
            self.sf_changed.clear();
            self.sf_deleted.clear();
        }
        self.check_deletes(&decisions);
        let results = self.execute(&decisions);
        if mode == Mode::Crash {
            // Writes happened; the results, the link rows and the cursors were never stored.
            return decisions;
        }
        let applied = apply_write_results(&decisions, &results);
        for update in applied.links {
            let key = update.sync_key().clone();
            self.links.retain(|l| l.sync_key != key);
            if let LinkUpdate::Upsert(link) = update {
                self.links.push(*link);
            }
        }
        self.last_errors = decisions.errors.clone();
        self.last_errors.extend(applied.errors);
        // A user's removal explains deletions until none is pending any more.
        let pending = self
            .burst
            .as_ref()
            .is_some_and(|b| !b.state.pending.is_empty());
        if advance && !pending {
            self.user_removed_mail.clear();
            self.user_removed_sf.clear();
        }
        decisions
    }

    /// Runs sessions as the pipeline does, `step_secs` apart, with the burst guard.
    pub fn guarded(mut self, step_secs: i64) -> World {
        self.burst = Some(BurstModel::new(step_secs));
        self
    }

    /// An on-demand session (`sync?wait`): waiting deletions are judged at once (C6).
    pub fn sync_on_demand(&mut self) -> Decisions {
        if let Some(burst) = self.burst.as_mut() {
            burst.on_demand = true;
        }
        self.sync()
    }

    /// The operator confirms the held deletions (C5).
    pub fn confirm_held(&mut self) -> usize {
        let Some(burst) = self.burst.as_mut() else {
            self.settings.mass_delete_confirmed = true;
            return 0;
        };
        let mut n = 0;
        for p in &mut burst.state.pending {
            if p.state == DeletionState::Held {
                p.state = DeletionState::Confirmed;
                n += 1;
            }
        }
        n
    }

    /// Deletions waiting for their burst to settle.
    pub fn waiting_deletions(&self) -> usize {
        self.burst
            .as_ref()
            .map_or(0, |b| b.count(DeletionState::Waiting))
    }

    fn link_of_key(&self, key: &SyncKey) -> Option<&Link> {
        self.links.iter().find(|l| &l.sync_key == key)
    }

    /// C5: the core deletes only what answers a user's removal on the other side.
    fn check_deletes(&mut self, d: &Decisions) {
        for c in &d.salesforce {
            if let SalesforceCommand::Delete { sync_key, id } = c {
                // Deleting what is already gone destroys nothing.
                let explained = !self.sf.contains_key(id)
                    || self
                        .link_of_key(sync_key)
                        .and_then(|l| l.graph_id.as_ref())
                        .is_some_and(|g| self.user_removed_mail.contains(g));
                if !explained || (self.sf.contains_key(id) && !self.settings.auto_removal) {
                    self.unexplained_deletes.push(format!("salesforce {id}"));
                }
            }
        }
        for c in &d.exchange {
            if let ExchangeCommand::Delete { sync_key, id } = c {
                // A mirror answers for its Contact: by the link, or by a down-sync key that names
                // the Contact (a mirror whose link a crash lost).
                let contact = self
                    .link_of_key(sync_key)
                    .and_then(|l| l.salesforce_id.clone())
                    .or_else(|| sync_key.salesforce_id());
                // Explained when the Contact is gone or out of scope now, whenever that happened.
                let explained = !self.mailbox.contains_key(id)
                    || contact.is_some_and(|s| {
                        self.user_removed_sf.contains(&s)
                            || self.sf.get(&s).is_none_or(|r| !self.in_scope(r))
                    });
                if !explained {
                    self.unexplained_deletes.push(format!("mailbox {id}"));
                }
            }
        }
    }

    // ---- inspection ---------------------------------------------------------------------

    pub fn link_for_sf(&self, id: &SalesforceId) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| l.salesforce_id.as_ref() == Some(id))
    }

    pub fn link_for_graph(&self, id: &GraphItemId) -> Option<&Link> {
        self.links.iter().find(|l| l.graph_id.as_ref() == Some(id))
    }

    pub fn folder_items(&self) -> Vec<(&GraphItemId, &MailItem)> {
        self.mailbox
            .iter()
            .filter(|(_, i)| i.folder == FolderKind::SyncFolder)
            .collect()
    }

    pub fn mirror_of(&self, id: &SalesforceId) -> Option<(&GraphItemId, &MailItem)> {
        let g = self.link_for_sf(id)?.graph_id.as_ref()?;
        self.mailbox.get_key_value(g)
    }

    pub fn mail_canonical(&self, id: &GraphItemId) -> Option<Contact> {
        self.mailbox.get(id).map(|i| graph_to_canonical(&i.fields))
    }

    pub fn sf_canonical(&self, id: &SalesforceId) -> Option<Contact> {
        self.sf.get(id).map(|r| salesforce_to_canonical(&r.fields))
    }
}

/// What Graph does to a stored contact: regenerate an absent display name from the name parts,
/// and move the birthday to 11:59 UTC.
pub(crate) fn graph_normalise(mut fields: GraphContactFields) -> GraphContactFields {
    let blank = fields
        .display_name
        .as_deref()
        .is_none_or(|d| d.trim().is_empty());
    if blank {
        let parts: Vec<String> = [&fields.given_name, &fields.surname]
            .into_iter()
            .filter_map(|p| {
                p.as_deref()
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
            })
            .collect();
        fields.display_name = (!parts.is_empty()).then(|| parts.join(" "));
    }
    // Graph keeps every birthday at 11:59 UTC, whatever time was written.
    if let Some(date) = fields.birthday.as_deref().and_then(|b| b.get(..10))
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
    {
        fields.birthday = Some(format!("{date}T11:59:00Z"));
    }
    fields
}

/// What Salesforce does on save: trims text fields (models the rewriting C3 must absorb).
pub(crate) fn sf_normalise(mut fields: SalesforceContactFields) -> SalesforceContactFields {
    let trim = |v: &mut Option<String>| {
        if let Some(s) = v {
            let t = s.trim().to_owned();
            *v = (!t.is_empty()).then_some(t);
        }
    };
    trim(&mut fields.first_name);
    trim(&mut fields.last_name);
    trim(&mut fields.email);
    trim(&mut fields.title);
    trim(&mut fields.phone);
    fields
}
