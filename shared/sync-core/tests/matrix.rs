//! The conflict matrix (C1) and the delete-versus-edit matrix (C2, B7, B12), every combination
//! run as a session against the reference model and checked on both sides' final state.

mod common;

use common::*;
use sync_core::*;

#[derive(Debug, Clone, Copy)]
enum Edit {
    Keep,
    Set(&'static str),
    Clear,
}

impl Edit {
    fn value(self, base: &'static str) -> Option<&'static str> {
        match self {
            Edit::Keep => Some(base),
            Edit::Set(v) => Some(v),
            Edit::Clear => None,
        }
    }
}

/// C1: per field, one-sided edits win, equal edits agree, different edits go to the winner.
#[test]
fn c1_three_way_merge_per_field_with_the_conflict_winner() {
    let edits = [
        Edit::Keep,
        Edit::Set("Mailbox"),
        Edit::Set("Same"),
        Edit::Clear,
    ];
    let sf_edits = [
        Edit::Keep,
        Edit::Set("Salesforce"),
        Edit::Set("Same"),
        Edit::Clear,
    ];
    for winner in [ConflictWinner::Salesforce, ConflictWinner::Exchange] {
        for e in edits {
            for s in sf_edits {
                let mut w = World::new();
                w.settings.conflict_winner = winner;
                let id = w.sf_create(USER, sf_person("Ann", "Lee", "ann@example.com"));
                w.sf_edit(&id, |f| f.department = Some("Base".into()));
                w.sync();
                let graph = w.mirror_of(&id).map(|(g, _)| g.clone()).expect("mirror");
                // A second field edited on one side only must survive any conflict.
                if !matches!(e, Edit::Keep) {
                    w.mail_edit(&graph, |f| {
                        f.department = e.value("Base").map(str::to_owned);
                        f.mobile_phone = Some("+1 mailbox".into());
                    });
                }
                if !matches!(s, Edit::Keep) {
                    w.sf_edit(&id, |f| f.department = s.value("Base").map(str::to_owned));
                }
                w.sync();
                let e_changed = !matches!(e, Edit::Keep);
                let s_changed = !matches!(s, Edit::Keep);
                let expected = match (e_changed, s_changed) {
                    (false, false) => Some("Base"),
                    (true, false) => e.value("Base"),
                    (false, true) => s.value("Base"),
                    (true, true) if e.value("Base") == s.value("Base") => e.value("Base"),
                    (true, true) => match winner {
                        ConflictWinner::Salesforce => s.value("Base"),
                        ConflictWinner::Exchange => e.value("Base"),
                    },
                };
                let case = format!("{winner:?} mailbox={e:?} salesforce={s:?}");
                assert_eq!(
                    w.mailbox[&graph].fields.department.as_deref(),
                    expected,
                    "{case}"
                );
                assert_eq!(w.sf[&id].fields.department.as_deref(), expected, "{case}");
                if e_changed {
                    assert_eq!(
                        w.sf[&id].fields.mobile_phone.as_deref(),
                        Some("+1 mailbox"),
                        "{case}"
                    );
                }
                let d = w.sync();
                assert!(d.has_no_writes(), "{case}: {d:#?}");
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mail {
    Unchanged,
    Edited,
    Deleted,
    MovedOut,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sf {
    Unchanged,
    Edited,
    Deleted,
    OutOfScope,
}

/// C2 with B7/B12: what survives when one side deletes (or leaves) and the other edits.
#[test]
fn c2_delete_versus_edit_matrix() {
    let mails = [Mail::Unchanged, Mail::Edited, Mail::Deleted, Mail::MovedOut];
    let sfs = [Sf::Unchanged, Sf::Edited, Sf::Deleted, Sf::OutOfScope];
    for auto_removal in [false, true] {
        for mail in mails {
            for sf in sfs {
                let case =
                    format!("auto_removal={auto_removal} mailbox={mail:?} salesforce={sf:?}");
                let mut w = World::new();
                w.settings.auto_removal = auto_removal;
                let id = w.sf_create(USER, sf_person("Ann", "Lee", "ann@example.com"));
                w.sync();
                let graph = w.mirror_of(&id).map(|(g, _)| g.clone()).expect("mirror");
                let mut moved = None;
                match mail {
                    Mail::Unchanged => {}
                    Mail::Edited => {
                        w.mail_edit(&graph, |f| f.job_title = Some("Mailbox edit".into()))
                    }
                    Mail::Deleted => w.mail_delete(&graph),
                    Mail::MovedOut => moved = w.mail_move(&graph, FolderKind::Other),
                }
                match sf {
                    Sf::Unchanged => {}
                    Sf::Edited => w.sf_edit(&id, |f| f.department = Some("SF edit".into())),
                    Sf::Deleted => w.sf_delete(&id),
                    Sf::OutOfScope => w.sf_set_owner(&id, OTHER_USER),
                }
                let d = w.sync();
                assert!(
                    w.unexplained_deletes.is_empty(),
                    "{case}: {:?}",
                    w.unexplained_deletes
                );

                let mirror = w.mirror_of(&id).map(|(_, item)| item.clone());
                let salesforce_gone_by_user = sf == Sf::Deleted;
                let mailbox_gone = matches!(mail, Mail::Deleted | Mail::MovedOut);
                if matches!(sf, Sf::Deleted | Sf::OutOfScope) {
                    // The mirror goes, edited or not; Salesforce is never written.
                    assert!(mirror.is_none(), "{case}");
                    assert!(w.folder_items().is_empty(), "{case}");
                    assert!(d.salesforce.is_empty(), "{case}");
                    assert_eq!(w.sf.contains_key(&id), !salesforce_gone_by_user, "{case}");
                    assert!(w.links.is_empty(), "{case}");
                } else if mailbox_gone && sf == Sf::Unchanged && auto_removal {
                    assert!(!w.sf.contains_key(&id), "{case}: auto-removal deletes");
                    assert!(w.folder_items().is_empty(), "{case}");
                    assert!(w.links.is_empty(), "{case}");
                } else if mailbox_gone {
                    // Re-created from Salesforce's values (with its edit), nothing deleted there.
                    let mirror = mirror.unwrap_or_else(|| panic!("{case}: mirror re-created"));
                    assert!(w.sf.contains_key(&id), "{case}");
                    if sf == Sf::Edited {
                        assert_eq!(
                            mirror.fields.department.as_deref(),
                            Some("SF edit"),
                            "{case}"
                        );
                    }
                } else {
                    let mirror = mirror.unwrap_or_else(|| panic!("{case}: mirror kept"));
                    let record = &w.sf[&id];
                    if mail == Mail::Edited {
                        assert_eq!(
                            record.fields.title.as_deref(),
                            Some("Mailbox edit"),
                            "{case}"
                        );
                    }
                    if sf == Sf::Edited {
                        assert_eq!(
                            mirror.fields.department.as_deref(),
                            Some("SF edit"),
                            "{case}"
                        );
                    }
                }
                if let Some(moved) = moved {
                    let item = &w.mailbox[&moved];
                    assert!(
                        item.categories.is_empty() && item.stamp.is_none(),
                        "{case}: released"
                    );
                }
                let d = w.sync();
                assert!(d.has_no_writes(), "{case}: second session {d:#?}");
            }
        }
    }
}
