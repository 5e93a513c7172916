//! Field values as stored in the org, and their JSON and text renderings.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value as Json;

use crate::schema::FieldType;
use crate::time;

/// A stored field value. Salesforce keeps no empty strings: `""` is stored as `Null`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(Box<str>),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

impl Value {
    pub fn text(s: impl Into<Box<str>>) -> Value {
        let s = s.into();
        if s.is_empty() {
            Value::Null
        } else {
            Value::Text(s)
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_datetime(&self) -> Option<DateTime<Utc>> {
        match self {
            Value::DateTime(t) => Some(*t),
            _ => None,
        }
    }

    /// REST JSON rendering (`2011-07-07T00:37:00.000+0000`, `2010-01-01`).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Text(s) => Json::String(s.to_string()),
            Value::Bool(b) => Json::Bool(*b),
            Value::Date(d) => Json::String(time::format_date(d)),
            Value::DateTime(t) => Json::String(time::format_rest(t)),
        }
    }

    /// SOAP rendering for Outbound Messages (`...000Z`); `None` for null.
    pub fn to_soap(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Text(s) => Some(s.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Date(d) => Some(time::format_date(d)),
            Value::DateTime(t) => Some(time::format_soap(t)),
        }
    }

    /// List-view results rendering: strings or null, dates in Java `toString` form.
    pub fn to_list_view(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::DateTime(t) => Json::String(time::format_java(t)),
            other => match other.to_soap() {
                Some(s) => Json::String(s),
                None => Json::Null,
            },
        }
    }

    /// The key a hash index files this value under: text folded to lower case, because
    /// `=` is case-insensitive.
    pub fn index_key(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(fold(s)),
            _ => None,
        }
    }
}

/// Case folding used by every case-insensitive comparison.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// Ordering used by ORDER BY and range filters: text compares case-insensitively.
/// Nulls are handled by the caller (NULLS FIRST/LAST).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => fold(x).cmp(&fold(y)).then_with(|| x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// Why a JSON value cannot be written to a field: becomes `JSON_PARSER_ERROR`.
#[derive(Debug, thiserror::Error)]
#[error(
    "Cannot deserialize instance of {expected} from {found} value {value} or request may be missing a required field"
)]
pub struct JsonTypeError {
    pub expected: &'static str,
    pub found: &'static str,
    pub value: String,
}

/// Converts a JSON body value to a stored value for a field of type `ty`.
pub fn from_json(ty: FieldType, v: &Json) -> Result<Value, JsonTypeError> {
    let err = |expected: &'static str| JsonTypeError {
        expected,
        found: match v {
            Json::Null => "VALUE_NULL",
            Json::Bool(_) => "VALUE_BOOLEAN",
            Json::Number(_) => "VALUE_NUMBER",
            Json::String(_) => "VALUE_STRING",
            Json::Array(_) => "START_ARRAY",
            Json::Object(_) => "START_OBJECT",
        },
        value: v.to_string(),
    };
    if v.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        FieldType::Boolean => match v {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Json::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(err("boolean")),
        },
        FieldType::Date => match v {
            Json::String(s) if s.is_empty() => Ok(Value::Null),
            // Salesforce accepts a datetime for a date field and keeps the date part.
            Json::String(s) => time::parse_date(s)
                .or_else(|| s.get(..10).and_then(time::parse_date))
                .map(Value::Date)
                .ok_or_else(|| err("date")),
            _ => Err(err("date")),
        },
        FieldType::DateTime => match v {
            Json::String(s) if s.is_empty() => Ok(Value::Null),
            Json::String(s) => time::parse_datetime(s)
                .map(Value::DateTime)
                .ok_or_else(|| err("datetime")),
            _ => Err(err("datetime")),
        },
        _ => match v {
            Json::String(s) => Ok(Value::text(s.as_str())),
            // Numbers and booleans are coerced to text, as the REST API does for string fields.
            Json::Number(n) => Ok(Value::text(n.to_string())),
            Json::Bool(b) => Ok(Value::text(b.to_string())),
            _ => Err(err("string")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_are_stored_as_null() {
        assert_eq!(
            from_json(FieldType::String, &Json::String(String::new())).ok(),
            Some(Value::Null)
        );
    }

    #[test]
    fn text_orders_case_insensitively() {
        assert_eq!(
            compare(&Value::text("apple"), &Value::text("Banana")),
            Ordering::Less
        );
    }
}
