//! The SOQL syntax tree after resolution: field paths resolved against the schema,
//! literals typed for the field they are compared with.

use super::lexer::LikePart;
use crate::schema::{FieldDef, ObjectType};
use crate::value::Value;

#[derive(Debug, Clone)]
pub struct Query {
    pub object: ObjectType,
    pub select: Select,
    pub scope: Option<Scope>,
    pub filter: Option<Cond>,
    pub order: Vec<OrderItem>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum Select {
    Count,
    Fields(Vec<FieldRef>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everything,
    Mine,
}

/// A resolved field path: `hops` are reference fields followed from the queried object
/// (`Account.Owner.Name` → AccountId, OwnerId), then `field` on `object`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    pub hops: Vec<(ObjectType, usize)>,
    pub object: ObjectType,
    pub field: usize,
    /// Relationship names of the hops, canonical casing (`Account`, `Owner`).
    pub rel_names: Vec<&'static str>,
}

impl FieldRef {
    pub fn def(&self) -> &'static FieldDef {
        &self.object.def().fields[self.field]
    }

    /// `Account.Name`, canonical casing.
    pub fn path(&self) -> String {
        let mut s: Vec<&str> = self.rel_names.clone();
        s.push(self.def().name);
        s.join(".")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A typed right-hand side. Date literals like `TODAY` are half-open ranges `[lo, hi)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Value(Value),
    /// `[lo, hi)` plus the literal as written (`THIS_WEEK`, `LAST_N_DAYS:7`).
    Range(Value, Value, String),
}

#[derive(Debug, Clone)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Cmp {
        field: FieldRef,
        op: CmpOp,
        rhs: Operand,
    },
    In {
        field: FieldRef,
        negated: bool,
        values: Vec<Value>,
    },
    Like {
        field: FieldRef,
        pattern: Vec<LikePart>,
    },
}

#[derive(Debug, Clone)]
pub struct OrderItem {
    pub field: FieldRef,
    pub descending: bool,
    pub nulls_last: bool,
}

impl Cond {
    /// Calls `f` on every field the condition compares.
    pub fn visit_fields(&self, f: &mut impl FnMut(&FieldRef)) {
        match self {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| c.visit_fields(f)),
            Cond::Not(inner) => inner.visit_fields(f),
            Cond::Cmp { field, .. } | Cond::In { field, .. } | Cond::Like { field, .. } => f(field),
        }
    }
}
