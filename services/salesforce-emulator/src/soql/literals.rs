//! Typing of SOQL literals for the field they are compared with: Salesforce's type errors,
//! id normalisation, and date literals (`TODAY`, `LAST_N_DAYS:n`) as ranges.

use chrono::NaiveDate;

use super::SoqlError;
use super::ast::{FieldRef, Operand};
use super::dates;
use super::lexer::{Tok, Token};
use super::parser::Parser;
use crate::ids;
use crate::schema::FieldType;
use crate::value::Value;

impl Parser {
    /// Reads a literal and types it for `field`, with Salesforce's type errors.
    pub(super) fn literal(&mut self, field: &FieldRef) -> Result<Operand, SoqlError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.unexpected());
        };
        self.i += 1;
        let def = field.def();
        let type_error = |what: &str, quoted: bool| {
            SoqlError::at(
                "INVALID_FIELD",
                format!(
                    "value of filter criterion for field '{}' must be of type {} and {} be enclosed in quotes",
                    def.name,
                    what,
                    if quoted { "should" } else { "should not" }
                ),
                tok.pos,
            )
        };
        if let Tok::Ident(s) = &tok.tok {
            if s.eq_ignore_ascii_case("null") {
                return Ok(Operand::Value(Value::Null));
            }
            if def.ty == FieldType::Boolean
                && (s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"))
            {
                return Ok(Operand::Value(Value::Bool(s.eq_ignore_ascii_case("true"))));
            }
            if matches!(def.ty, FieldType::Date | FieldType::DateTime) {
                return self.date_literal(s, &tok, def.ty);
            }
        }
        match (def.ty, &tok.tok) {
            (FieldType::Id | FieldType::Reference(_), Tok::Str(s)) => {
                match ids::normalize(&s.value) {
                    Some(id) => Ok(Operand::Value(Value::text(id))),
                    None => Err(SoqlError::at(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        format!("invalid ID field: {}", s.value),
                        tok.pos,
                    )),
                }
            }
            (t, Tok::Str(s)) if t.is_text() => Ok(Operand::Value(Value::text(s.value.as_str()))),
            (t, _) if t.is_text() => Err(type_error("string", true)),
            (FieldType::Date, Tok::Date(d)) => Ok(Operand::Value(Value::Date(*d))),
            (FieldType::DateTime, Tok::DateTime(t)) => Ok(Operand::Value(Value::DateTime(*t))),
            (FieldType::Date, _) => Err(type_error("date", false)),
            (FieldType::DateTime, _) => Err(type_error("dateTime", false)),
            _ => Err(type_error("boolean", false)),
        }
    }

    /// `TODAY`, `LAST_N_DAYS:30`, ... as a half-open range in the field's type.
    fn date_literal(
        &mut self,
        name: &str,
        tok: &Token,
        ty: FieldType,
    ) -> Result<Operand, SoqlError> {
        let upper = name.to_ascii_uppercase();
        let (n, literal) = if dates::takes_argument(&upper) {
            self.expect(&Tok::Colon)?;
            let n = self.integer()?.0 as u64;
            (Some(n), format!("{upper}:{n}"))
        } else {
            (None, upper.clone())
        };
        let (lo, hi) = dates::range(&upper, n, self.now.date_naive()).ok_or_else(|| {
            SoqlError::malformed(format!("unexpected token: '{}'", tok.text), tok.pos)
        })?;
        Ok(match ty {
            FieldType::Date => Operand::Range(Value::Date(lo), Value::Date(hi), literal),
            _ => {
                let at = |d: NaiveDate| {
                    Value::DateTime(d.and_hms_opt(0, 0, 0).map_or(self.now, |t| t.and_utc()))
                };
                Operand::Range(at(lo), at(hi), literal)
            }
        })
    }
}
