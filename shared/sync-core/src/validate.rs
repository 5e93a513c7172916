//! Checks a contact against what Salesforce would reject (C7), before anything is written.
//!
//! Catching these here turns a certain failure into a clear per-item error (code, field, message)
//! and keeps the write out of the batch, where it could only fail. Values are never truncated:
//! losing data silently is worse than a visible error.

use crate::contact::{Contact, Field};
use crate::mapping::{FIELD_TABLE, spec_of};
use crate::model::ErrorCode;

/// One reason Salesforce would reject a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: ErrorCode,
    /// The Salesforce API name of the field.
    pub field: Option<&'static str>,
    pub message: String,
}

/// The violations of `contact` among `fields` (the ones about to be written; every field for a
/// create). LastName is required whenever it is written, so a create without one fails here.
pub fn salesforce_violations(contact: &Contact, fields: &[Field]) -> Vec<Violation> {
    let mut out = Vec::new();
    if contact.last_name.is_none() && fields.contains(&Field::LastName) {
        out.push(Violation {
            code: ErrorCode::RequiredFieldMissing,
            field: Some("LastName"),
            message: "Required fields are missing: [LastName] (no surname, display name or \
                      email address to fall back on)"
                .to_owned(),
        });
    }
    for spec in FIELD_TABLE.iter().filter(|s| fields.contains(&s.field)) {
        let Some(value) = contact.get(spec.field) else {
            continue;
        };
        // The company is not written to the Contact (B14 links an Account), so its length is
        // irrelevant here.
        let Some(api_name) = spec.salesforce else {
            continue;
        };
        if let Some(max) = spec.max_len {
            let len = value.chars().count();
            if len > max {
                out.push(Violation {
                    code: ErrorCode::StringTooLong,
                    field: Some(api_name),
                    message: format!(
                        "{}: data value too large: {} characters (max length={max})",
                        spec.label, len
                    ),
                });
            }
        }
        if spec.field == Field::Email && !is_valid_email(value) {
            out.push(Violation {
                code: ErrorCode::InvalidEmailAddress,
                field: Some(api_name),
                message: format!("{}: invalid email address: {value}", spec.label),
            });
        }
        if spec.field == Field::Birthdate && value.len() != 10 {
            // A canonical birthdate that is not `YYYY-MM-DD` did not parse as a date.
            out.push(Violation {
                code: ErrorCode::InvalidDate,
                field: Some(api_name),
                message: format!("{}: not a date: {value}", spec_of(Field::Birthdate).label),
            });
        }
    }
    out
}

/// A conservative version of Salesforce's email check: one `@`, a non-empty local part of
/// printable characters, a dotted domain of letters, digits and hyphens.
pub fn is_valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_conservatively() {
        assert!(is_valid_email("ann.lee+x@mail.example.com"));
        assert!(!is_valid_email("not an email"));
        assert!(!is_valid_email("a@b"));
        assert!(!is_valid_email("a@@b.com"));
        assert!(!is_valid_email("a b@c.com"));
        assert!(!is_valid_email("@c.com"));
    }

    #[test]
    fn lengths_follow_the_reference_table() {
        let c = Contact {
            last_name: Some("L".repeat(81)),
            first_name: Some("F".repeat(40)),
            ..Contact::default()
        };
        let v = salesforce_violations(&c, &[Field::LastName, Field::FirstName]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].code, ErrorCode::StringTooLong);
        assert_eq!(v[0].field, Some("LastName"));
    }
}
