//! SOQL evaluation: picks the most selective indexed conjunct (Id, OwnerId, AccountId,
//! the external id, Account.Name, SystemModstamp ranges...) to find candidate rows, filters
//! them with the full condition, orders them, and renders records as REST JSON.

use std::cmp::Ordering;
use std::ops::Bound;

use chrono::Datelike;

use super::lexer::LikePart;
use super::parser::{CmpOp, Cond, FieldRef, Operand, OrderItem, Query, Scope, Select};
use crate::config::IdLength;
use crate::schema::{FieldType, IndexKind, ObjectType};
use crate::store::{Org, Table};
use crate::value::{Value, fold};

static NULL: Value = Value::Null;

/// How candidate rows were found; reported by tests to prove an index was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    FullScan,
    Index(String),
}

/// Matching rows in result order, after OFFSET and LIMIT.
#[derive(Debug)]
pub struct QueryRun {
    pub rows: Vec<u32>,
    pub plan: Plan,
}

/// Runs a parsed query for `user_id` (who `USING SCOPE mine` means).
pub fn run(org: &Org, q: &Query, user_id: &str, include_deleted: bool) -> QueryRun {
    let table = org.table(q.object);
    let mut candidates: Option<(Vec<u32>, String)> = None;
    let mut consider = |rows: Vec<u32>, why: String| {
        if candidates
            .as_ref()
            .is_none_or(|(c, _)| rows.len() < c.len())
        {
            candidates = Some((rows, why));
        }
    };
    if q.scope == Some(Scope::Mine)
        && let Some(owner) = q.object.def().field_index("OwnerId")
    {
        consider(
            table.lookup(owner, user_id),
            "OwnerId (USING SCOPE mine)".to_string(),
        );
    }
    if let Some(filter) = &q.filter {
        let conjuncts: Vec<&Cond> = match filter {
            Cond::And(items) => items.iter().collect(),
            other => vec![other],
        };
        for c in conjuncts {
            if let Some((rows, why)) = index_candidates(org, table, c) {
                consider(rows, why);
            }
        }
    }
    let (mut rows, plan) = match candidates {
        Some((mut rows, why)) => {
            rows.sort_unstable();
            rows.dedup();
            (rows, Plan::Index(why))
        }
        None => (table.all().collect(), Plan::FullScan),
    };
    let owner = q.object.def().field_index("OwnerId");
    rows.retain(|&r| {
        (include_deleted || !table.is_deleted(r))
            && (q.scope != Some(Scope::Mine)
                || owner.is_some_and(|o| {
                    table
                        .get(r, o)
                        .as_text()
                        .is_some_and(|v| v.eq_ignore_ascii_case(user_id))
                }))
            && q.filter.as_ref().is_none_or(|f| matches(org, table, r, f))
    });
    if !q.order.is_empty() {
        sort(org, table, &mut rows, &q.order);
    }
    let offset = q.offset.unwrap_or(0).min(rows.len());
    rows.drain(..offset);
    if let Some(limit) = q.limit {
        rows.truncate(limit);
    }
    QueryRun { rows, plan }
}

/// Candidate rows from one conjunct when an index can answer it.
fn index_candidates(org: &Org, table: &Table, c: &Cond) -> Option<(Vec<u32>, String)> {
    let (field, keys): (&FieldRef, Vec<&Value>) = match c {
        // Datetime fields first: their `=` is a (one-instant) range too.
        Cond::Cmp { field, op, rhs }
            if field.hops.is_empty() && table.has_ordered_index(field.field) =>
        {
            return range_candidates(table, field.field, *op, rhs);
        }
        Cond::Cmp {
            field,
            op: CmpOp::Eq,
            rhs: Operand::Value(v),
        } if !v.is_null() => (field, vec![v]),
        Cond::In {
            field,
            negated: false,
            values,
        } => (field, values.iter().collect()),
        _ => return None,
    };
    match field.hops.as_slice() {
        [] if table.has_hash_index(field.field) => {
            let mut rows = Vec::new();
            for k in keys {
                rows.extend(table.lookup(field.field, k.as_text()?));
            }
            Some((rows, field.path()))
        }
        // One hop with both ends indexed, e.g. Contact.Account.Name → Account.Name → AccountId.
        [(_, hop)] if table.has_hash_index(*hop) && field.def().index == IndexKind::Hash => {
            let parent = org.table(field.object);
            let mut rows = Vec::new();
            for k in keys {
                for p in parent.lookup(field.field, k.as_text()?) {
                    rows.extend(table.lookup(*hop, parent.id(p)));
                }
            }
            Some((rows, field.path()))
        }
        _ => None,
    }
}

fn range_candidates(
    table: &Table,
    field: usize,
    op: CmpOp,
    rhs: &Operand,
) -> Option<(Vec<u32>, String)> {
    use Bound::{Excluded, Included, Unbounded};
    let (lo, hi) = match rhs {
        Operand::Value(v) => {
            let t = v.as_datetime()?;
            match op {
                CmpOp::Eq => (Included(t), Included(t)),
                CmpOp::Gt => (Excluded(t), Unbounded),
                CmpOp::Ge => (Included(t), Unbounded),
                CmpOp::Lt => (Unbounded, Excluded(t)),
                CmpOp::Le => (Unbounded, Included(t)),
                CmpOp::Ne => return None,
            }
        }
        Operand::Range(a, b, _) => {
            let (a, b) = (a.as_datetime()?, b.as_datetime()?);
            match op {
                CmpOp::Eq => (Included(a), Excluded(b)),
                CmpOp::Gt => (Included(b), Unbounded),
                CmpOp::Ge => (Included(a), Unbounded),
                CmpOp::Lt => (Unbounded, Excluded(a)),
                CmpOp::Le => (Unbounded, Excluded(b)),
                CmpOp::Ne => return None,
            }
        }
    };
    let name = table.object.def().fields[field].name;
    Some((table.range(field, lo, hi), format!("{name} range")))
}

/// The value of a (possibly relationship) field for a row; null when a hop is empty.
pub fn value_of<'a>(org: &'a Org, table: &'a Table, row: u32, f: &FieldRef) -> &'a Value {
    let mut t = table;
    let mut r = row;
    for &(_, hop) in &f.hops {
        let Some(id) = t.get(r, hop).as_text() else {
            return &NULL;
        };
        let FieldType::Reference(target) = t.object.def().fields[hop].ty else {
            return &NULL;
        };
        let next = org.table(target);
        match next.find(id) {
            Some(nr) => {
                t = next;
                r = nr;
            }
            None => return &NULL,
        }
    }
    t.get(r, f.field)
}

pub fn matches(org: &Org, table: &Table, row: u32, c: &Cond) -> bool {
    match c {
        Cond::And(items) => items.iter().all(|i| matches(org, table, row, i)),
        Cond::Or(items) => items.iter().any(|i| matches(org, table, row, i)),
        Cond::Not(inner) => !matches(org, table, row, inner),
        Cond::Cmp { field, op, rhs } => compare_op(
            value_of(org, table, row, field),
            *op,
            rhs,
            is_birthdate(field),
        ),
        Cond::In {
            field,
            negated,
            values,
        } => {
            let v = value_of(org, table, row, field);
            let hit = values.iter().any(|x| equal(v, x, is_birthdate(field)));
            hit != *negated
        }
        Cond::Like { field, pattern } => match value_of(org, table, row, field) {
            Value::Text(s) => like(&fold(s), pattern),
            _ => false,
        },
    }
}

/// Filters on Contact.Birthdate ignore the year (Object Reference: "Birthdate").
fn is_birthdate(f: &FieldRef) -> bool {
    f.object == ObjectType::Contact && f.def().name == "Birthdate"
}

fn month_day(v: &Value) -> Value {
    match v {
        Value::Date(d) => chrono::NaiveDate::from_ymd_opt(2000, d.month(), d.day())
            .map_or(Value::Null, Value::Date),
        other => other.clone(),
    }
}

fn equal(a: &Value, b: &Value, ignore_year: bool) -> bool {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => {
            if x.is_ascii() && y.is_ascii() {
                x.eq_ignore_ascii_case(y)
            } else {
                fold(x) == fold(y)
            }
        }
        (Value::Date(_), Value::Date(_)) if ignore_year => month_day(a) == month_day(b),
        _ => a == b,
    }
}

fn order_of(a: &Value, b: &Value, ignore_year: bool) -> Ordering {
    if ignore_year {
        crate::value::compare(&month_day(a), &month_day(b))
    } else {
        crate::value::compare(a, b)
    }
}

fn compare_op(v: &Value, op: CmpOp, rhs: &Operand, ignore_year: bool) -> bool {
    match rhs {
        Operand::Value(Value::Null) => match op {
            CmpOp::Eq => v.is_null(),
            _ => !v.is_null(),
        },
        Operand::Value(x) => {
            if v.is_null() {
                // SOQL treats null as a value: `!=` matches it, ordering comparisons do not.
                return op == CmpOp::Ne;
            }
            match op {
                CmpOp::Eq => equal(v, x, ignore_year),
                CmpOp::Ne => !equal(v, x, ignore_year),
                CmpOp::Lt => order_of(v, x, ignore_year) == Ordering::Less,
                CmpOp::Le => order_of(v, x, ignore_year) != Ordering::Greater,
                CmpOp::Gt => order_of(v, x, ignore_year) == Ordering::Greater,
                CmpOp::Ge => order_of(v, x, ignore_year) != Ordering::Less,
            }
        }
        Operand::Range(lo, hi, _) => {
            if v.is_null() {
                return op == CmpOp::Ne;
            }
            let ge_lo = order_of(v, lo, ignore_year) != Ordering::Less;
            let lt_hi = order_of(v, hi, ignore_year) == Ordering::Less;
            match op {
                CmpOp::Eq => ge_lo && lt_hi,
                CmpOp::Ne => !(ge_lo && lt_hi),
                CmpOp::Lt => !ge_lo,
                CmpOp::Le => lt_hi,
                CmpOp::Gt => !lt_hi,
                CmpOp::Ge => ge_lo,
            }
        }
    }
}

/// Case-insensitive LIKE over chars (`text` already folded).
pub fn like(text: &str, pattern: &[LikePart]) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<LikePart> = pattern
        .iter()
        .map(|part| match part {
            LikePart::Char(c) => LikePart::Char(c.to_lowercase().next().unwrap_or(*c)),
            other => other.clone(),
        })
        .collect();
    // Classic wildcard matching with one backtrack point for the last `%`.
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(LikePart::Char(c)) if *c == t[ti] => {
                ti += 1;
                pi += 1;
            }
            Some(LikePart::One) => {
                ti += 1;
                pi += 1;
            }
            Some(LikePart::Many) => {
                star = Some((pi, ti));
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|x| *x == LikePart::Many)
}

/// Sort key part with text folded once, so sorting 100,000 rows does not fold per comparison.
#[derive(PartialEq)]
enum Key {
    Null,
    Text(String),
    Other(Value),
}

fn sort(org: &Org, table: &Table, rows: &mut [u32], order: &[OrderItem]) {
    let mut keyed: Vec<(Vec<Key>, u32)> = rows
        .iter()
        .map(|&r| {
            let keys = order
                .iter()
                .map(|o| match value_of(org, table, r, &o.field) {
                    Value::Null => Key::Null,
                    Value::Text(s) => Key::Text(fold(s)),
                    v if is_birthdate(&o.field) => Key::Other(month_day(v)),
                    v => Key::Other(v.clone()),
                })
                .collect();
            (keys, r)
        })
        .collect();
    keyed.sort_by(|(a, ra), (b, rb)| {
        for (i, o) in order.iter().enumerate() {
            let ord = match (&a[i], &b[i]) {
                (Key::Null, Key::Null) => Ordering::Equal,
                (Key::Null, _) => {
                    if o.nulls_last {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (_, Key::Null) => {
                    if o.nulls_last {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (Key::Text(x), Key::Text(y)) => dir(x.cmp(y), o.descending),
                (Key::Other(x), Key::Other(y)) => dir(crate::value::compare(x, y), o.descending),
                _ => Ordering::Equal,
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        ra.cmp(rb)
    });
    for (slot, (_, r)) in rows.iter_mut().zip(keyed) {
        *slot = r;
    }
}

fn dir(o: Ordering, descending: bool) -> Ordering {
    if descending { o.reverse() } else { o }
}

/// Appends one record as REST JSON (`attributes` first, fields in SELECT order, parent
/// relationships nested) to `out`. Written by hand to keep Salesforce's key order and to
/// render a 2,000-record page quickly.
pub fn write_record(
    out: &mut String,
    org: &Org,
    object: ObjectType,
    row: u32,
    fields: &[FieldRef],
    version: &str,
) {
    write_record_ids(out, org, object, row, fields, version, IdLength::Eighteen);
}

/// [`write_record`] with the `Id` and reference fields in `ids` characters (the
/// `SALESFORCE_EMULATOR_ID_LENGTH` knob); the record's `attributes.url` keeps 18.
pub fn write_record_ids(
    out: &mut String,
    org: &Org,
    object: ObjectType,
    row: u32,
    fields: &[FieldRef],
    version: &str,
    ids: IdLength,
) {
    write_node(out, org, object, Some(row), fields, 0, version, ids);
}

#[allow(clippy::too_many_arguments)]
fn write_node(
    out: &mut String,
    org: &Org,
    object: ObjectType,
    row: Option<u32>,
    fields: &[FieldRef],
    depth: usize,
    version: &str,
    ids: IdLength,
) {
    let table = org.table(object);
    let Some(row) = row else {
        out.push_str("null");
        return;
    };
    out.push_str("{\"attributes\":{\"type\":\"");
    out.push_str(object.name());
    out.push_str("\",\"url\":\"/services/data/");
    out.push_str(version);
    out.push_str("/sobjects/");
    out.push_str(object.name());
    out.push('/');
    out.push_str(table.id(row));
    out.push_str("\"}");
    let mut done_rels: Vec<&str> = Vec::new();
    for f in fields {
        if f.hops.len() == depth {
            out.push(',');
            push_str_json(out, f.def().name);
            out.push(':');
            match (f.def().ty, table.get(row, f.field)) {
                (FieldType::Id | FieldType::Reference(_), Value::Text(id)) => {
                    push_str_json(out, ids.apply(id));
                }
                (_, value) => push_value(out, value),
            }
        } else if f.hops.len() > depth {
            let rel = f.rel_names[depth];
            if done_rels.contains(&rel) {
                continue;
            }
            done_rels.push(rel);
            let (_, hop) = f.hops[depth];
            let sub: Vec<FieldRef> = fields
                .iter()
                .filter(|g| g.hops.len() > depth && g.rel_names[depth] == rel)
                .cloned()
                .collect();
            out.push(',');
            push_str_json(out, rel);
            out.push(':');
            let FieldType::Reference(target) = object.def().fields[hop].ty else {
                continue;
            };
            let child = table
                .get(row, hop)
                .as_text()
                .and_then(|id| org.table(target).find(id));
            write_node(out, org, target, child, &sub, depth + 1, version, ids);
        }
    }
    out.push('}');
}

pub fn push_str_json(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

pub fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Text(s) => push_str_json(out, s),
        other => out.push_str(&other.to_json().to_string()),
    }
}

/// Every field of an object, as `FieldRef`s (row GET without `fields`).
pub fn all_fields(object: ObjectType) -> Vec<FieldRef> {
    (0..object.def().fields.len())
        .map(|field| FieldRef {
            hops: Vec::new(),
            object,
            field,
            rel_names: Vec::new(),
        })
        .collect()
}

/// The selected fields of a query (empty for COUNT()).
pub fn selected(q: &Query) -> &[FieldRef] {
    match &q.select {
        Select::Count => &[],
        Select::Fields(f) => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soql::lexer::{Tok, lex};

    fn pat(s: &str) -> Vec<LikePart> {
        match lex(s).expect("lexes").remove(0).tok {
            Tok::Str(s) => s.pattern,
            _ => Vec::new(),
        }
    }

    #[test]
    fn like_matches_case_insensitively_with_wildcards() {
        assert!(like("appleton", &pat("'Appl%'")));
        assert!(like("appl", &pat("'appl%'")));
        assert!(!like("bappl", &pat("'appl%'")));
        assert!(like("a-c", &pat("'a_c'")));
        assert!(like("xxabcxxabd", &pat("'%ab_'")));
    }

    #[test]
    fn escaped_wildcards_match_only_themselves() {
        assert!(like("50% off", &pat(r"'50\% off'")));
        assert!(!like("500 off", &pat(r"'50\% off'")));
        assert!(like("a_b", &pat(r"'a\_b'")));
        assert!(!like("axb", &pat(r"'a\_b'")));
    }
}
