//! Randomised check of the change log: whatever mix of creates, updates, deletes and moves
//! happens between and during delta pages, a client that applies every round ends up with
//! exactly the folder's contents.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::Value;

use super::{DeltaEntry, Mailbox};
use crate::config::Knobs;
use crate::model;

/// xorshift64*: deterministic, so a failure replays with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn input(surname: &str) -> model::ContactInput {
    let body = format!("{{\"surname\":\"{surname}\"}}");
    model::parse_contact(body.as_bytes(), &Knobs::default(), false).unwrap_or_default()
}

/// One random change to the mailbox.
fn mutate(mailbox: &mut Mailbox, rng: &mut Rng, folders: &[String], counter: &mut u64) {
    let keys: Vec<u64> = mailbox
        .all_contacts()
        .filter(|c| c.folder_id != mailbox.deleted_id)
        .map(|c| c.key)
        .collect();
    *counter += 1;
    let now = Utc::now();
    match rng.below(5) {
        0 | 1 if !keys.is_empty() || rng.below(2) == 0 => {
            if keys.is_empty() {
                let folder = folders[rng.below(folders.len())].clone();
                mailbox.create_contact(&folder, &input(&format!("c{counter}")), now);
            } else {
                let key = keys[rng.below(keys.len())];
                mailbox.update_contact(key, &input(&format!("u{counter}")), now);
            }
        }
        2 if !keys.is_empty() => {
            let key = keys[rng.below(keys.len())];
            mailbox.delete_contact(key, rng.below(2) == 0, now);
        }
        3 if !keys.is_empty() => {
            let key = keys[rng.below(keys.len())];
            let folder = folders[rng.below(folders.len())].clone();
            mailbox.user_move(key, &folder, now);
        }
        _ => {
            let folder = folders[rng.below(folders.len())].clone();
            mailbox.create_contact(&folder, &input(&format!("c{counter}")), now);
        }
    }
}

fn folder_contents(mailbox: &Mailbox, folder: &str) -> HashMap<String, Value> {
    mailbox
        .all_contacts()
        .filter(|c| c.folder_id == folder)
        .map(|c| {
            (
                c.id.clone(),
                c.props.get("surname").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[test]
fn a_client_applying_every_delta_round_converges_on_the_folder_whatever_happens_meanwhile() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut mailbox = Mailbox::new("m", "m@x", false);
        let other = mailbox
            .create_folder(&mailbox.default_id.clone(), "Other")
            .map(|f| f.id.clone());
        let Ok(other) = other else { panic!("folder") };
        let folders = vec![mailbox.default_id.clone(), other];
        let tracked = folders[rng.below(2)].clone();
        let mut counter = 0;
        let mut client: HashMap<String, Value> = HashMap::new();
        // (cursor, floor) of the next request; None: start a new round from the deltaLink.
        let mut link = (0u64, mailbox.seq);
        for _round in 0..15 {
            for _ in 0..rng.below(30) {
                mutate(&mut mailbox, &mut rng, &folders, &mut counter);
            }
            let (mut cursor, floor) = link;
            loop {
                let page = 1 + rng.below(7);
                let (entries, last, more) = mailbox.delta_page(&tracked, cursor, floor, page);
                for entry in entries {
                    match entry {
                        DeltaEntry::Live(c) => {
                            client.insert(
                                c.id.clone(),
                                c.props.get("surname").cloned().unwrap_or(Value::Null),
                            );
                        }
                        DeltaEntry::Removed(r) => {
                            client.remove(&r.id);
                        }
                    }
                }
                if !more {
                    link = (mailbox.seq, mailbox.seq);
                    break;
                }
                cursor = last;
                // Changes while the client is between pages.
                for _ in 0..rng.below(4) {
                    mutate(&mut mailbox, &mut rng, &folders, &mut counter);
                }
            }
            assert_eq!(client, folder_contents(&mailbox, &tracked), "seed {seed}");
        }
    }
}
