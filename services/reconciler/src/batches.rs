//! A session's decisions cut into its write batches for storage, one row per batch (issue 12),
//! and put back together, exactly as decided, when the last batch's results are in.
//!
//! A batch's part is its commands plus a share of the planned link rows and fallbacks, taken by
//! position so that every part stays about the same size however the links relate to the
//! commands; each keeps its position, so the whole comes back in its original order. What belongs
//! to the whole session (the guard's outcome, the errors decided before writing) stays apart.

use contracts::Commands;
use serde::{Deserialize, Serialize};
use sync_core::{Decisions, Fallback, GuardOutcome, ItemError, LinkUpdate};
use sync_state::session_batches::BatchSide;

/// Commands per mailbox write batch message: for Exchange the writer sends them as `$batch`
/// calls of 20; for Gmail as one People API batch call (`batchCreateContacts` and
/// `batchUpdateContacts` take 200), so a first mirror makes no more calls than it must.
pub const EXCHANGE_BATCH: usize = 200;
/// Commands per Salesforce write batch message: one `/composite/sobjects` call each.
pub const SALESFORCE_BATCH: usize = 200;

/// The part of a session's decisions that is not any one batch's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionPart {
    pub errors: Vec<ItemError>,
    pub guard: GuardOutcome,
}

/// One write batch's part of a session's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchPart {
    pub commands: Commands,
    /// Planned link rows, each with its position in the session's list.
    pub links: Vec<(usize, LinkUpdate)>,
    /// Fallbacks, each with its position in the session's list.
    pub fallbacks: Vec<(usize, Fallback)>,
}

impl BatchPart {
    /// Which writer carries the batch out.
    pub fn side(&self) -> BatchSide {
        match self.commands {
            Commands::Exchange(_) => BatchSide::Exchange,
            Commands::Salesforce(_) => BatchSide::Salesforce,
        }
    }
}

/// Decisions as a session stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Split {
    /// Nothing to write, so no batch: the session completes at once from these.
    NoWrites(Decisions),
    /// The session's part and its batches (Graph batches first, in command order).
    Batches(SessionPart, Vec<BatchPart>),
}

/// Cuts decisions into the session's part and its write batches.
pub(crate) fn split(decisions: Decisions) -> Split {
    if decisions.has_no_writes() {
        return Split::NoWrites(decisions);
    }
    let mut batches: Vec<BatchPart> = decisions
        .exchange
        .chunks(EXCHANGE_BATCH)
        .map(|chunk| Commands::Exchange(chunk.to_vec()))
        .chain(
            decisions
                .salesforce
                .chunks(SALESFORCE_BATCH)
                .map(|chunk| Commands::Salesforce(chunk.to_vec())),
        )
        .map(|commands| BatchPart {
            commands,
            links: Vec::new(),
            fallbacks: Vec::new(),
        })
        .collect();
    let count = batches.len();
    // Item `i` of `total` goes to batch `i * count / total`: contiguous, even shares.
    let share = |i: usize, total: usize| i * count / total;
    let total = decisions.links.len();
    for (i, link) in decisions.links.into_iter().enumerate() {
        batches[share(i, total)].links.push((i, link));
    }
    let total = decisions.fallbacks.len();
    for (i, fallback) in decisions.fallbacks.into_iter().enumerate() {
        batches[share(i, total)].fallbacks.push((i, fallback));
    }
    let session = SessionPart {
        errors: decisions.errors,
        guard: decisions.guard,
    };
    Split::Batches(session, batches)
}

/// Puts the decisions back together from the session's part and its batches (in batch order).
pub(crate) fn join(session: SessionPart, batches: Vec<BatchPart>) -> Decisions {
    let mut decisions = Decisions {
        errors: session.errors,
        guard: session.guard,
        ..Decisions::empty()
    };
    let mut links = Vec::new();
    let mut fallbacks = Vec::new();
    for batch in batches {
        match batch.commands {
            Commands::Exchange(commands) => decisions.exchange.extend(commands),
            Commands::Salesforce(commands) => decisions.salesforce.extend(commands),
        }
        links.extend(batch.links);
        fallbacks.extend(batch.fallbacks);
    }
    links.sort_by_key(|(i, _)| *i);
    fallbacks.sort_by_key(|(i, _)| *i);
    decisions.links = links.into_iter().map(|(_, link)| link).collect();
    decisions.fallbacks = fallbacks.into_iter().map(|(_, f)| f).collect();
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::{ErrorCode, ExchangeCommand, GraphItemId, SalesforceCommand, SyncKey};

    fn graph_id(n: usize) -> GraphItemId {
        GraphItemId::try_from(format!("AAMkAGI2TG93AAA{n}=")).expect("graph id")
    }

    fn key(n: usize) -> SyncKey {
        SyncKey::for_graph(&graph_id(n))
    }

    fn decisions(exchange: usize, salesforce: usize, links: usize) -> Decisions {
        let salesforce_id: sync_core::SalesforceId =
            "003000000000001AAA".parse().expect("a Salesforce id");
        Decisions {
            exchange: (0..exchange)
                .map(|n| ExchangeCommand::Delete {
                    sync_key: key(n),
                    id: graph_id(n),
                })
                .collect(),
            salesforce: (0..salesforce)
                .map(|n| SalesforceCommand::Delete {
                    sync_key: key(n),
                    id: salesforce_id.clone(),
                })
                .collect(),
            links: (0..links)
                .map(|n| LinkUpdate::Delete { sync_key: key(n) })
                .collect(),
            errors: vec![ItemError {
                item: "Ann".into(),
                code: ErrorCode::KeyConflict,
                field: None,
                message: "two contacts share a key".into(),
                sync_key: Some(key(0)),
                graph_id: Some(graph_id(0)),
                salesforce_id: None,
            }],
            guard: GuardOutcome::Clear,
            fallbacks: (0..links / 3)
                .map(|n| Fallback {
                    sync_key: key(n),
                    if_exchange_fails: None,
                    if_salesforce_fails: Some(LinkUpdate::Delete { sync_key: key(n) }),
                })
                .collect(),
        }
    }

    /// Through JSON, as the parts are stored.
    fn stored<T: Serialize + for<'de> Deserialize<'de>>(part: &T) -> T {
        serde_json::from_value(serde_json::to_value(part).expect("to json")).expect("from json")
    }

    #[test]
    fn decisions_cut_into_batches_and_stored_come_back_exactly_as_decided() {
        let decided = decisions(450, 450, 1_000);
        let Split::Batches(session, batches) = split(decided.clone()) else {
            panic!("writes make batches");
        };
        let sides: Vec<BatchSide> = batches.iter().map(BatchPart::side).collect();
        use BatchSide::{Exchange, Salesforce};
        assert_eq!(
            sides,
            [
                Exchange, Exchange, Exchange, Salesforce, Salesforce, Salesforce
            ]
        );
        let sizes: Vec<usize> = batches.iter().map(|b| b.commands.len()).collect();
        assert_eq!(sizes, [200, 200, 50, 200, 200, 50]);
        assert!(
            batches.iter().all(|b| (166..=167).contains(&b.links.len())),
            "every batch carries an even share of the links"
        );
        let joined = join(stored(&session), batches.iter().map(stored).collect());
        assert_eq!(joined, decided);
    }

    #[test]
    fn a_single_batch_carries_every_link_and_decisions_without_writes_make_none() {
        let decided = decisions(1, 0, 40);
        let Split::Batches(session, batches) = split(decided.clone()) else {
            panic!("one write makes a batch");
        };
        assert_eq!(batches.len(), 1);
        assert_eq!(join(session, batches), decided);
        let quiet = decisions(0, 0, 40);
        assert_eq!(split(quiet.clone()), Split::NoWrites(quiet));
    }
}
