//! SOQL: a lexer, a parser that resolves names against the schema, and an evaluator that
//! uses the store's indexes when the WHERE clause has a usable conjunct.

pub mod ast;
pub mod dates;
pub mod eval;
pub mod lexer;
mod literals;
pub mod parser;

use crate::errors::SfError;

pub use eval::{Plan, QueryRun};
pub use parser::{Cond, FieldRef, Query, Scope, Select};

/// A query error, positioned so the message can carry Salesforce's caret diagram.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SoqlError {
    pub code: &'static str,
    pub message: String,
    pub pos: Option<usize>,
}

impl SoqlError {
    pub fn malformed(message: String, pos: usize) -> SoqlError {
        SoqlError {
            code: "MALFORMED_QUERY",
            message,
            pos: Some(pos),
        }
    }

    pub fn at(code: &'static str, message: String, pos: usize) -> SoqlError {
        SoqlError {
            code,
            message,
            pos: Some(pos),
        }
    }

    /// The error item Salesforce returns: with a positioned diagram
    /// (`"\nSELECT Foo FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column ..."`)
    /// except for a query that does not even start with SELECT, which gets the bare message.
    pub fn to_sf(&self, query: &str) -> SfError {
        let message = match self.pos {
            Some(pos) if pos > 0 || !self.message.starts_with("unexpected token") => {
                let col = query[..pos.min(query.len())].chars().count();
                let line = query.replace('\n', " ");
                format!(
                    "\n{line}\n{caret:>width$}\nERROR at Row:1:Column:{column}\n{msg}",
                    caret = "^",
                    width = col + 1,
                    column = col + 1,
                    msg = self.message
                )
            }
            _ => self.message.clone(),
        };
        SfError::new(self.code, message)
    }
}
