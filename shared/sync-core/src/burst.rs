//! The mass-delete guard (C5) over a burst of deletions, however many sessions it spans.
//!
//! Near-real-time sync slices a mass delete: a phone emptying the folder over a few seconds sends
//! one change notification per contact, each starts a session, and each session sees a handful
//! of deletions — none of which would pass C5's threshold on its own. So a deletion a session
//! decides (either direction: a Contact deleted because its mirror left the folder, B12, or a
//! mirror deleted because its Contact was deleted or left the scope, B6/B7) does not happen at
//! once. It **waits** ([`DeletionState::Waiting`]) until the burst has settled: no new deletion
//! joined it for [`BurstPolicy::settle`]. Then all waiting deletions are judged together, with
//! the deletions carried out in the last [`BurstPolicy::window`], against the threshold
//! ([`judge`]): below it they are carried out, above it they are **held**
//! ([`DeletionState::Held`]) until an operator confirms them ([`DeletionState::Confirmed`]).
//!
//! Edits and creates are never delayed: only the plans that delete wait. An on-demand session
//! ([`BurstState::on_demand`]: `sync?wait`, "Sync now", a settings change) judges the waiting
//! deletions at once, the guard included, so one session still settles everything (C6).
//!
//! A waiting deletion is kept as the observation that decided it ([`Removal`]) and replayed into
//! every later session's reads, so it is decided again with what that session sees: a mirror
//! restored to the folder, a Contact edited in Salesforce (C2) or auto-removal switched off turn
//! it into something else, and it stops waiting. The read cursors advance as usual.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{GraphItemId, SalesforceId, SyncKey};
use crate::model::{
    Decisions, ExchangeChanges, ExchangeCommand, GuardOutcome, Link, LinkUpdate, ReadKind,
    SalesforceChanges, Settings, Side,
};
use crate::reconcile::{
    Plan, absorb, deletes_in_salesforce, guard_error, is_mass_delete, plan_session,
};

/// Why a stored link's contact is to be deleted: the observation, replayable into a later
/// session's reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Removal {
    /// The mirror left the folder (deleted, or moved out): the Contact is deleted (B12 with
    /// auto-removal on).
    MailboxRemoved { graph_id: GraphItemId },
    /// The Contact was deleted in Salesforce: the mirror is deleted (B6, C2).
    SalesforceDeleted { id: SalesforceId },
    /// The Contact left the user's scope: the mirror is removed (B7).
    SalesforceOutOfScope { id: SalesforceId },
}

impl Removal {
    /// The side whose contact the deletion removes.
    pub fn deletes_on(&self) -> Side {
        match self {
            Removal::MailboxRemoved { .. } => Side::Salesforce,
            Removal::SalesforceDeleted { .. } | Removal::SalesforceOutOfScope { .. } => {
                Side::Exchange
            }
        }
    }
}

/// Where a deletion that did not happen yet stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionState {
    /// Waiting for its burst to settle.
    Waiting,
    /// Judged part of a mass delete: waits for an operator (C5).
    Held,
    /// An operator confirmed it: the next session carries it out, guard or not.
    Confirmed,
}

impl DeletionState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionState::Waiting => "waiting",
            DeletionState::Held => "held",
            DeletionState::Confirmed => "confirmed",
        }
    }

    pub fn parse(s: &str) -> Option<DeletionState> {
        match s {
            "waiting" => Some(DeletionState::Waiting),
            "held" => Some(DeletionState::Held),
            "confirmed" => Some(DeletionState::Confirmed),
            _ => None,
        }
    }
}

/// A deletion decided but not carried out, for one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDeletion {
    pub sync_key: SyncKey,
    pub removal: Removal,
    pub state: DeletionState,
    /// When a session first decided it (the burst settles `settle` after its latest one).
    pub first_seen: DateTime<Utc>,
}

/// Deletions carried out at one time without an operator's confirmation: the rolling window's
/// memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Executed {
    pub at: DateTime<Utc>,
    pub deletions: usize,
}

/// How long deletions wait and how far back a burst reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstPolicy {
    /// A burst has settled when no deletion joined it for this long (`DELETION_SETTLE_SECS`).
    pub settle: Duration,
    /// Deletions carried out this recently count with the ones being judged
    /// (`DELETION_WINDOW_SECS`).
    pub window: Duration,
}

impl Default for BurstPolicy {
    fn default() -> Self {
        BurstPolicy {
            settle: Duration::seconds(60),
            window: Duration::seconds(3600),
        }
    }
}

/// What the user's store holds about deletions when a session is decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BurstState {
    pub pending: Vec<PendingDeletion>,
    /// Unconfirmed deletions carried out lately (older entries are ignored).
    pub history: Vec<Executed>,
    /// Someone asked for this session (`sync?wait`, "Sync now", settings, a confirmation): the
    /// waiting deletions are judged now instead of when they settle (C6).
    pub on_demand: bool,
}

impl BurstState {
    /// Deletions carried out within `window` before `now`.
    pub fn recent(&self, now: DateTime<Utc>, window: Duration) -> usize {
        self.history
            .iter()
            .filter(|e| e.at > now - window && e.at <= now)
            .map(|e| e.deletions)
            .sum()
    }
}

/// The numbers a burst is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// Deletions waiting to be judged.
    pub waiting: usize,
    /// Deletions held earlier, still waiting for an operator.
    pub held: usize,
    /// Deletions carried out within the window.
    pub recent: usize,
    /// The user's links now (the held and waiting deletions' links included).
    pub links: usize,
    /// When the waiting deletions settle.
    pub settle_until: Option<DateTime<Utc>>,
}

/// What happens to the waiting deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing waits.
    Idle,
    /// The burst has not settled: ask again at `until`.
    Wait { until: DateTime<Utc> },
    /// Below the threshold: carry them out.
    CarryOut,
    /// A mass delete (C5): hold them for an operator.
    Hold,
}

/// Judges the waiting deletions of a burst. They wait until it settles (unless the session is
/// on demand); then they are counted with the held ones and those carried out within the window,
/// against the links the user had when the window began (`links + recent`): more than half and
/// at least [`crate::MASS_DELETE_MIN`] is a mass delete.
pub fn judge(burst: &Burst, on_demand: bool, now: DateTime<Utc>) -> Verdict {
    if burst.waiting == 0 {
        return Verdict::Idle;
    }
    if let Some(until) = burst.settle_until.filter(|t| !on_demand && now < *t) {
        return Verdict::Wait { until };
    }
    let total = burst.waiting + burst.held + burst.recent;
    if is_mass_delete(total, burst.links + burst.recent) {
        Verdict::Hold
    } else {
        Verdict::CarryOut
    }
}

/// A session decided under the burst guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarded {
    /// The commands and link rows of this session; deletions that wait or are held are not in
    /// them. `guard` is `Held` while any deletion is held (with the held count).
    pub decisions: Decisions,
    /// Every deletion still pending after this session (replaces the stored set).
    pub pending: Vec<PendingDeletion>,
    /// Unconfirmed deletions this session carries out (the window remembers them).
    pub carried_out: usize,
    /// When the waiting deletions settle; `None` when none waits.
    pub settle_until: Option<DateTime<Utc>>,
    pub verdict: Verdict,
}

/// Where a plan goes.
#[derive(Debug, Clone, Copy)]
enum Lane {
    /// Not a deletion that can wait: decided now.
    Now,
    Confirmed,
    Waiting(DateTime<Utc>),
    Held(DateTime<Utc>),
}

/// [`crate::reconcile`] with the guard judging bursts: the pending deletions are replayed into
/// this session's reads, every deleting plan of a stored link waits, is held or goes ahead as
/// [`judge`] says, and everything else is decided as `reconcile` would.
///
/// `settings.mass_delete_confirmed` is not used: confirmation is per deletion
/// ([`DeletionState::Confirmed`]).
pub fn reconcile_guarded(
    links: &[Link],
    exchange: &ExchangeChanges,
    salesforce: &SalesforceChanges,
    settings: &Settings,
    burst: &BurstState,
    policy: &BurstPolicy,
    now: DateTime<Utc>,
) -> Guarded {
    let replayed = replay(&burst.pending, exchange, salesforce);
    let (ex, sf) = match &replayed {
        Some((ex, sf)) => (ex, sf),
        None => (exchange, salesforce),
    };
    let plans = plan_session(links, ex, sf, settings, now);

    let prior: HashMap<&SyncKey, &PendingDeletion> =
        burst.pending.iter().map(|p| (&p.sync_key, p)).collect();
    let lanes: Vec<Lane> = plans
        .iter()
        .map(|plan| match plan_key(plan) {
            None => Lane::Now,
            Some(key) => match prior.get(key) {
                None => Lane::Waiting(now),
                Some(p) => match p.state {
                    DeletionState::Waiting => Lane::Waiting(p.first_seen),
                    DeletionState::Held => Lane::Held(p.first_seen),
                    DeletionState::Confirmed => Lane::Confirmed,
                },
            },
        })
        .collect();
    let waiting_since = lanes.iter().filter_map(|l| match l {
        Lane::Waiting(t) => Some(*t),
        _ => None,
    });
    let settle_until = waiting_since.clone().max().map(|t| t + policy.settle);
    let counts = Burst {
        waiting: waiting_since.count(),
        held: lanes.iter().filter(|l| matches!(l, Lane::Held(_))).count(),
        recent: burst.recent(now, policy.window),
        links: links.len(),
        settle_until,
    };
    let verdict = judge(&counts, burst.on_demand, now);
    // A lost sync folder (B1) holds every deletion it would carry into Salesforce, however few
    // and without waiting: the mirrors vanished with the folder, not by the user's hand.
    let verdict =
        if exchange.folder_lost && verdict != Verdict::Idle && deletes_in_salesforce(&plans) {
            Verdict::Hold
        } else {
            verdict
        };

    let mut decisions = Decisions::empty();
    let mut pending = Vec::new();
    let mut carried_out = 0;
    let decided: HashSet<SyncKey> = plans.iter().filter_map(plan_key).cloned().collect();
    for (plan, lane) in plans.into_iter().zip(lanes) {
        let kept = match lane {
            Lane::Now => None,
            Lane::Confirmed => None,
            Lane::Waiting(_) if verdict == Verdict::CarryOut => None,
            Lane::Waiting(t) if verdict == Verdict::Hold => Some((DeletionState::Held, t)),
            Lane::Waiting(t) => Some((DeletionState::Waiting, t)),
            Lane::Held(t) => Some((DeletionState::Held, t)),
        };
        match (kept, plan_key(&plan).cloned()) {
            (Some((state, first_seen)), Some(sync_key)) => {
                absorb_deferred(
                    &mut decisions,
                    &mut pending,
                    plan,
                    sync_key,
                    state,
                    first_seen,
                );
            }
            _ => {
                if plan.deletes && !matches!(lane, Lane::Confirmed) {
                    carried_out += 1;
                }
                absorb(&mut decisions, plan);
            }
        }
    }
    // With a side unread, a pending deletion may not be decided at all this session: it keeps
    // waiting (or held) as it was, never dropped for want of a read (C5).
    if exchange.kind == ReadKind::Failed || salesforce.kind == ReadKind::Failed {
        pending.extend(
            burst
                .pending
                .iter()
                .filter(|p| !decided.contains(&p.sync_key))
                .cloned(),
        );
    }
    let held = pending
        .iter()
        .filter(|p| p.state == DeletionState::Held)
        .count();
    if held > 0 {
        decisions.guard = GuardOutcome::Held {
            deletions: held,
            links: links.len(),
        };
        decisions.errors.push(guard_error(held, links.len()));
    }
    // Records the read could not take (B15) are the session's per-item errors too (C7).
    decisions.errors.extend(salesforce.errors.iter().cloned());
    let still_waiting = pending.iter().any(|p| p.state == DeletionState::Waiting);
    Guarded {
        decisions,
        pending,
        carried_out,
        settle_until: settle_until.filter(|_| still_waiting),
        verdict,
    }
}

/// The link key of a plan whose deletion can wait.
fn plan_key(plan: &Plan) -> Option<&SyncKey> {
    plan.deletion.as_ref()?;
    plan.link.as_ref().map(LinkUpdate::sync_key)
}

/// What a deletion that waits leaves in the session: the release of an item moved out of the
/// folder (B11: its category goes at once; it is not a deletion), and the link row re-pointed
/// at the ids this session found. The link itself stays.
fn absorb_deferred(
    decisions: &mut Decisions,
    pending: &mut Vec<PendingDeletion>,
    plan: Plan,
    sync_key: SyncKey,
    state: DeletionState,
    first_seen: DateTime<Utc>,
) {
    decisions.exchange.extend(
        plan.exchange
            .into_iter()
            .filter(|c| matches!(c, ExchangeCommand::Update { .. })),
    );
    let Some(deferrable) = plan.deletion else {
        return;
    };
    let mut removal = deferrable.removal;
    if let Some(row) = deferrable.relinked {
        // The replayed observation names the link's ids as stored from now on.
        if let (Removal::MailboxRemoved { graph_id }, Some(id)) = (&mut removal, &row.graph_id) {
            *graph_id = id.clone();
        }
        decisions.links.push(LinkUpdate::Upsert(Box::new(row)));
    }
    pending.push(PendingDeletion {
        sync_key,
        removal,
        state,
        first_seen,
    });
}

/// The reads with the pending deletions' observations added back, unless this session's read
/// says otherwise (the item is listed again, the Contact is read again): the fresher read
/// decides. `None` when nothing is pending.
fn replay(
    pending: &[PendingDeletion],
    exchange: &ExchangeChanges,
    salesforce: &SalesforceChanges,
) -> Option<(ExchangeChanges, SalesforceChanges)> {
    if pending.is_empty() {
        return None;
    }
    let items: HashSet<&GraphItemId> = exchange.items.iter().map(|i| &i.id).collect();
    let contacts: HashSet<&SalesforceId> = salesforce.contacts.iter().map(|c| &c.id).collect();
    let mut ex = exchange.clone();
    let mut sf = salesforce.clone();
    for p in pending {
        match &p.removal {
            Removal::MailboxRemoved { graph_id } => {
                if exchange.kind != ReadKind::Failed
                    && !items.contains(graph_id)
                    && !ex.removed.contains(graph_id)
                {
                    ex.removed.push(graph_id.clone());
                }
            }
            Removal::SalesforceDeleted { id } => {
                if salesforce.kind != ReadKind::Failed
                    && !contacts.contains(id)
                    && !sf.deleted.contains(id)
                {
                    sf.deleted.push(id.clone());
                }
            }
            Removal::SalesforceOutOfScope { id } => {
                if salesforce.kind != ReadKind::Failed
                    && !contacts.contains(id)
                    && !sf.out_of_scope.contains(id)
                {
                    sf.out_of_scope.push(id.clone());
                }
            }
        }
    }
    Some((ex, sf))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("valid time")
            + Duration::seconds(secs)
    }

    fn burst(waiting: usize, held: usize, recent: usize, links: usize) -> Burst {
        Burst {
            waiting,
            held,
            recent,
            links,
            settle_until: Some(at(60)),
        }
    }

    #[test]
    fn nothing_waiting_is_idle() {
        assert_eq!(judge(&burst(0, 25, 0, 30), true, at(100)), Verdict::Idle);
    }

    #[test]
    fn deletions_wait_until_the_burst_settles_unless_asked_for() {
        let b = burst(3, 0, 0, 30);
        assert_eq!(judge(&b, false, at(59)), Verdict::Wait { until: at(60) });
        assert_eq!(judge(&b, false, at(60)), Verdict::CarryOut);
        assert_eq!(judge(&b, true, at(1)), Verdict::CarryOut);
    }

    #[test]
    fn a_settled_burst_over_half_and_at_least_twenty_is_held() {
        assert_eq!(judge(&burst(25, 0, 0, 30), false, at(60)), Verdict::Hold);
        assert_eq!(judge(&burst(20, 0, 0, 39), false, at(60)), Verdict::Hold);
        assert_eq!(
            judge(&burst(20, 0, 0, 40), false, at(60)),
            Verdict::CarryOut
        );
        assert_eq!(
            judge(&burst(19, 0, 0, 19), false, at(60)),
            Verdict::CarryOut
        );
    }

    #[test]
    fn deletions_of_the_window_count_against_the_links_the_window_began_with() {
        // 10 carried out of 40 a while ago (30 links left), 12 more now: 22 of 40 is a mass delete.
        assert_eq!(judge(&burst(12, 0, 10, 30), false, at(60)), Verdict::Hold);
        // 10 of 40 earlier and 5 now: 15 is below the minimum.
        assert_eq!(
            judge(&burst(5, 0, 10, 30), false, at(60)),
            Verdict::CarryOut
        );
    }

    #[test]
    fn deletions_judged_while_others_are_held_join_them() {
        assert_eq!(judge(&burst(1, 25, 0, 30), false, at(60)), Verdict::Hold);
    }

    #[test]
    fn the_window_forgets_what_is_older() {
        let state = BurstState {
            history: vec![
                Executed {
                    at: at(-4000),
                    deletions: 15,
                },
                Executed {
                    at: at(-100),
                    deletions: 4,
                },
            ],
            ..BurstState::default()
        };
        assert_eq!(state.recent(at(0), Duration::seconds(3600)), 4);
    }

    #[test]
    fn removals_say_which_side_they_delete_on() {
        let graph_id = GraphItemId::try_from("AAMkX=").expect("id");
        let id = SalesforceId::try_from("003000000000001").expect("id");
        assert_eq!(
            Removal::MailboxRemoved { graph_id }.deletes_on(),
            Side::Salesforce
        );
        assert_eq!(
            Removal::SalesforceDeleted { id: id.clone() }.deletes_on(),
            Side::Exchange
        );
        assert_eq!(
            Removal::SalesforceOutOfScope { id }.deletes_on(),
            Side::Exchange
        );
    }

    #[test]
    fn deletion_states_round_trip_through_their_names() {
        for s in [
            DeletionState::Waiting,
            DeletionState::Held,
            DeletionState::Confirmed,
        ] {
            assert_eq!(DeletionState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeletionState::parse("gone"), None);
    }
}
