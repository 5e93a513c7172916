//! SOQL parser: tokens → a query whose field paths are resolved against the schema and whose
//! literals are typed for the field they are compared with (contract §2 semantics).

use chrono::{DateTime, Utc};

use super::SoqlError;
pub use super::ast::{CmpOp, Cond, FieldRef, Operand, OrderItem, Query, Scope, Select};
use super::lexer::{Tok, Token, lex};
use crate::schema::{FieldType, ObjectType};
use crate::value::Value;

/// Salesforce refuses longer statements.
const MAX_QUERY_LEN: usize = 100_000;
/// `FIELDS(ALL)` and `FIELDS(CUSTOM)` need a LIMIT no larger than this.
const MAX_FIELDS_FN_LIMIT: usize = 200;
/// Marks a `FIELDS(...)` item among the raw select paths (no field can be named so).
const FIELDS_FN: &str = "FIELDS()";
/// Largest OFFSET Salesforce allows.
pub const MAX_OFFSET: usize = 2_000;

/// Parses and resolves a SOQL statement. `now` anchors date literals (`TODAY`, `LAST_N_DAYS:n`).
pub fn parse(q: &str, now: DateTime<Utc>) -> Result<Query, SoqlError> {
    if q.len() > MAX_QUERY_LEN {
        return Err(SoqlError {
            code: "MALFORMED_QUERY",
            message: "SOQL statements cannot be longer than 100,000 characters.".to_string(),
            pos: None,
        });
    }
    let tokens = lex(q)?;
    let mut p = Parser {
        t: tokens,
        i: 0,
        end: q.len(),
        object: ObjectType::Contact,
        alias: None,
        now,
    };
    p.query()
}

pub(super) struct Parser {
    pub(super) t: Vec<Token>,
    pub(super) i: usize,
    pub(super) end: usize,
    pub(super) object: ObjectType,
    /// `FROM Contact c`: paths may start with `c.`.
    pub(super) alias: Option<String>,
    pub(super) now: DateTime<Utc>,
}

/// Words that end the FROM clause, so they are never taken for an object alias.
const CLAUSE_WORDS: [&str; 9] = [
    "WHERE", "USING", "ORDER", "LIMIT", "OFFSET", "FOR", "GROUP", "WITH", "HAVING",
];

/// A field path before resolution: names and the position of the first one.
struct RawPath {
    names: Vec<String>,
    pos: usize,
}

impl Parser {
    pub(super) fn peek(&self) -> Option<&Token> {
        self.t.get(self.i)
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    pub(super) fn unexpected(&self) -> SoqlError {
        match self.peek() {
            Some(t) => SoqlError::malformed(format!("unexpected token: '{}'", t.text), t.pos),
            None => SoqlError::malformed("unexpected token: '<EOF>'".to_string(), self.end),
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Ident(s), .. }) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.i += 1;
        }
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let yes = self.peek().is_some_and(|t| &t.tok == tok);
        if yes {
            self.i += 1;
        }
        yes
    }

    pub(super) fn expect(&mut self, tok: &Tok) -> Result<(), SoqlError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn ident(&mut self) -> Result<(String, usize), SoqlError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(s),
                pos,
                ..
            }) => {
                let r = (s.clone(), *pos);
                self.i += 1;
                Ok(r)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn raw_path(&mut self) -> Result<RawPath, SoqlError> {
        let (first, pos) = self.ident()?;
        let mut names = vec![first];
        while self.eat(&Tok::Dot) {
            names.push(self.ident()?.0);
        }
        Ok(RawPath { names, pos })
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("SELECT")?;
        let mut count = false;
        let mut raw = Vec::new();
        if self.is_kw("COUNT") && self.t.get(self.i + 1).is_some_and(|t| t.tok == Tok::LParen) {
            self.i += 2;
            if !self.eat(&Tok::RParen) {
                return Err(SoqlError::malformed(
                    "aggregate functions other than COUNT() are not supported".to_string(),
                    self.pos(),
                ));
            }
            count = true;
        } else {
            loop {
                if self.is_kw("FROM") {
                    return Err(self.unexpected());
                }
                if self.is_kw("FIELDS")
                    && self.t.get(self.i + 1).is_some_and(|t| t.tok == Tok::LParen)
                {
                    let pos = self.pos();
                    self.i += 2;
                    let (kind, _) = self.ident()?;
                    self.expect(&Tok::RParen)?;
                    raw.push(RawPath {
                        names: vec![FIELDS_FN.to_string(), kind.to_ascii_uppercase()],
                        pos,
                    });
                } else {
                    raw.push(self.raw_path()?);
                }
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        self.expect_kw("FROM")?;
        let (name, pos) = self.ident()?;
        self.object = ObjectType::from_name(&name).ok_or_else(|| {
            SoqlError::at(
                "INVALID_TYPE",
                format!("sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."),
                pos,
            )
        })?;
        if let Some(Token {
            tok: Tok::Ident(a), ..
        }) = self.peek()
            && !CLAUSE_WORDS.iter().any(|w| w.eq_ignore_ascii_case(a))
        {
            self.alias = Some(a.clone());
            self.i += 1;
        }
        let mut fields_needing_limit = None;
        let select = if count {
            Select::Count
        } else {
            let mut fields: Vec<FieldRef> = Vec::new();
            for r in &raw {
                if r.names[0] == FIELDS_FN {
                    let kind = r.names[1].as_str();
                    if kind != "STANDARD" {
                        fields_needing_limit = Some(r.pos);
                    }
                    for f in self.fields_fn(kind, r.pos)? {
                        if !fields.contains(&f) {
                            fields.push(f);
                        }
                    }
                    continue;
                }
                let f = self.resolve(r)?;
                if fields.contains(&f) {
                    return Err(SoqlError::malformed(
                        format!("duplicate field selected: {}", f.path()),
                        r.pos,
                    ));
                }
                fields.push(f);
            }
            Select::Fields(fields)
        };
        let mut scope = None;
        if self.eat_kw("USING") {
            self.expect_kw("SCOPE")?;
            let (s, pos) = self.ident()?;
            scope = Some(match s.to_ascii_lowercase().as_str() {
                "mine" => Scope::Mine,
                "everything" => Scope::Everything,
                _ => return Err(SoqlError::malformed(format!("Invalid scope:{s}"), pos)),
            });
        }
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let raw = self.raw_path()?;
                let field = self.resolve(&raw)?;
                if !field.def().filterable() {
                    return Err(SoqlError::at(
                        "INVALID_FIELD",
                        format!(
                            "field '{}' can not be sorted in a query call",
                            field.def().name
                        ),
                        raw.pos,
                    ));
                }
                let descending = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let mut nulls_last = false;
                if self.eat_kw("NULLS") {
                    if self.eat_kw("LAST") {
                        nulls_last = true;
                    } else {
                        self.expect_kw("FIRST")?;
                    }
                }
                order.push(OrderItem {
                    field,
                    descending,
                    nulls_last,
                });
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.integer()?.0)
        } else {
            None
        };
        if let Some(pos) = fields_needing_limit
            && limit.is_none_or(|l| l > MAX_FIELDS_FN_LIMIT)
        {
            return Err(SoqlError::malformed(
                format!(
                    "The SOQL FIELDS function must have a LIMIT of at most {MAX_FIELDS_FN_LIMIT}"
                ),
                pos,
            ));
        }
        let offset = if self.eat_kw("OFFSET") {
            let (n, pos) = self.integer()?;
            if n > MAX_OFFSET {
                return Err(SoqlError::at(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
                    pos,
                ));
            }
            Some(n)
        } else {
            None
        };
        if self.peek().is_some() {
            return Err(self.unexpected());
        }
        Ok(Query {
            object: self.object,
            select,
            scope,
            filter,
            order,
            limit,
            offset,
        })
    }

    pub(super) fn integer(&mut self) -> Result<(usize, usize), SoqlError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Num(n),
                pos,
                ..
            }) => {
                let pos = *pos;
                let v = n.parse().map_err(|_| self.unexpected())?;
                self.i += 1;
                Ok((v, pos))
            }
            _ => Err(self.unexpected()),
        }
    }

    /// `FIELDS(ALL)`, `FIELDS(STANDARD)`, `FIELDS(CUSTOM)` expanded to the object's fields.
    fn fields_fn(&self, kind: &str, pos: usize) -> Result<Vec<FieldRef>, SoqlError> {
        let object = self.object;
        let wanted = |name: &str| match kind {
            "ALL" => Some(true),
            "STANDARD" => Some(!name.ends_with("__c")),
            "CUSTOM" => Some(name.ends_with("__c")),
            _ => None,
        };
        let mut out = Vec::new();
        for (field, f) in object.def().fields.iter().enumerate() {
            match wanted(f.name) {
                None => {
                    return Err(SoqlError::malformed(
                        format!("unexpected token: '{kind}'"),
                        pos,
                    ));
                }
                Some(true) => out.push(FieldRef {
                    hops: Vec::new(),
                    object,
                    field,
                    rel_names: Vec::new(),
                }),
                Some(false) => {}
            }
        }
        Ok(out)
    }

    /// Resolves `Account.Owner.Name` through relationship names to the final field.
    fn resolve(&self, raw: &RawPath) -> Result<FieldRef, SoqlError> {
        let mut object = self.object;
        let mut hops = Vec::new();
        let mut rel_names = Vec::new();
        let mut names: &[String] = &raw.names;
        // A path may be prefixed with the queried object's name or alias: `c.LastName`.
        let is_self = names[0].eq_ignore_ascii_case(object.name())
            || self
                .alias
                .as_deref()
                .is_some_and(|a| names[0].eq_ignore_ascii_case(a));
        if names.len() > 1 && is_self && object.def().relationship(&names[0]).is_none() {
            names = &names[1..];
        }
        let (last, rels) = names.split_last().ok_or_else(|| self.unexpected())?;
        for rel in rels {
            let def = object.def();
            let Some((idx, f)) = def.relationship(rel) else {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    format!(
                        "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                    raw.pos,
                ));
            };
            let FieldType::Reference(target) = f.ty else {
                unreachable!("relationship on a non-reference field")
            };
            hops.push((object, idx));
            rel_names.push(f.relationship.unwrap_or(f.name));
            object = target;
        }
        let Some(field) = object.def().field_index(last) else {
            return Err(SoqlError::at(
                "INVALID_FIELD",
                format!(
                    "No such column '{last}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                    object.name()
                ),
                raw.pos,
            ));
        };
        Ok(FieldRef {
            hops,
            object,
            field,
            rel_names,
        })
    }

    /// `a AND b AND c` or `a OR b OR c`; mixing both without parentheses is an error in SOQL.
    fn condition(&mut self) -> Result<Cond, SoqlError> {
        let first = self.unary()?;
        let mut items = vec![first];
        let mut joiner: Option<bool> = None; // Some(true) = AND
        loop {
            let pos = self.pos();
            let is_and = if self.eat_kw("AND") {
                true
            } else if self.eat_kw("OR") {
                false
            } else {
                break;
            };
            if joiner.is_some_and(|j| j != is_and) {
                let word = if is_and { "AND" } else { "OR" };
                return Err(SoqlError::malformed(
                    format!("unexpected token: '{word}'"),
                    pos,
                ));
            }
            joiner = Some(is_and);
            items.push(self.unary()?);
        }
        Ok(match joiner {
            None => items.remove(0),
            Some(true) => Cond::And(items),
            Some(false) => Cond::Or(items),
        })
    }

    fn unary(&mut self) -> Result<Cond, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        if self.eat(&Tok::LParen) {
            let c = self.condition()?;
            self.expect(&Tok::RParen)?;
            return Ok(c);
        }
        let raw = self.raw_path()?;
        let field = self.resolve(&raw)?;
        let def = field.def();
        if !def.filterable() {
            return Err(SoqlError::at(
                "INVALID_FIELD",
                format!("field '{}' can not be filtered in a query call", def.name),
                raw.pos,
            ));
        }
        let op_pos = self.pos();
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            self.expect(&Tok::LParen)?;
            if self.is_kw("SELECT") {
                return Err(SoqlError::malformed(
                    "semi-join sub-selects are not supported".to_string(),
                    self.pos(),
                ));
            }
            let mut values = Vec::new();
            loop {
                match self.literal(&field)? {
                    Operand::Value(v) => values.push(v),
                    Operand::Range(..) => return Err(self.unexpected()),
                }
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
            self.expect(&Tok::RParen)?;
            return Ok(Cond::In {
                field,
                negated,
                values,
            });
        }
        if negated {
            return Err(SoqlError::malformed(
                "unexpected token: 'NOT'".to_string(),
                op_pos,
            ));
        }
        if self.eat_kw("LIKE") {
            if !def.ty.is_text() {
                return Err(SoqlError::at(
                    "INVALID_FIELD",
                    format!("invalid operator on {} field: LIKE", def.ty.describe_name()),
                    op_pos,
                ));
            }
            return match self.peek() {
                Some(Token {
                    tok: Tok::Str(s), ..
                }) => {
                    let pattern = s.pattern.clone();
                    self.i += 1;
                    Ok(Cond::Like { field, pattern })
                }
                _ => Err(self.unexpected()),
            };
        }
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Eq) => CmpOp::Eq,
            Some(Tok::Ne) => CmpOp::Ne,
            Some(Tok::Lt) => CmpOp::Lt,
            Some(Tok::Le) => CmpOp::Le,
            Some(Tok::Gt) => CmpOp::Gt,
            Some(Tok::Ge) => CmpOp::Ge,
            _ => return Err(self.unexpected()),
        };
        self.i += 1;
        let rhs = self.literal(&field)?;
        if matches!(rhs, Operand::Value(Value::Null)) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(SoqlError::malformed(
                "unexpected token: 'null'".to_string(),
                op_pos,
            ));
        }
        Ok(Cond::Cmp { field, op, rhs })
    }
}
