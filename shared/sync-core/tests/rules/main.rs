//! One test per product rule (SPEC §1), named after it, run as whole sessions against the
//! reference model in `common`: user edits → reconcile → writes → results → next session.

#[path = "../common/mod.rs"]
mod common;

mod consistency;
mod downsync;
mod upsync;

use common::*;
use sync_core::*;

/// A Salesforce Contact synced down, with its mirror's id.
pub fn synced_contact(w: &mut World, first: &str, last: &str) -> (SalesforceId, GraphItemId) {
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

/// C3: the next session writes nothing.
pub fn assert_quiet(w: &mut World) {
    let d = w.sync();
    assert!(d.has_no_writes(), "expected zero writes, got {d:#?}");
}
