//! The canonical contact: the mapped fields of SPEC §2 in one normalised form both sides compare in.
//!
//! Normalisation is what makes echo suppression (C3) work by plain equality: whatever either
//! service rewrites on its own (surrounding whitespace, `\r\n` line ends, `""` versus `null`,
//! Graph's `T11:59:00Z` birthdays) maps to the same canonical value, so our own write read back
//! compares equal to the baseline it was written from.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One mapped field (SPEC §2). The order is the mapping table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    FirstName,
    LastName,
    Salutation,
    Title,
    Department,
    Email,
    Phone,
    MobilePhone,
    HomePhone,
    AssistantName,
    Birthdate,
    MailingStreet,
    MailingCity,
    MailingState,
    MailingPostalCode,
    MailingCountry,
    OtherStreet,
    OtherCity,
    OtherState,
    OtherPostalCode,
    OtherCountry,
    Description,
    Company,
}

impl Field {
    /// Every field, in mapping-table order.
    pub const ALL: [Field; 23] = [
        Field::FirstName,
        Field::LastName,
        Field::Salutation,
        Field::Title,
        Field::Department,
        Field::Email,
        Field::Phone,
        Field::MobilePhone,
        Field::HomePhone,
        Field::AssistantName,
        Field::Birthdate,
        Field::MailingStreet,
        Field::MailingCity,
        Field::MailingState,
        Field::MailingPostalCode,
        Field::MailingCountry,
        Field::OtherStreet,
        Field::OtherCity,
        Field::OtherState,
        Field::OtherPostalCode,
        Field::OtherCountry,
        Field::Description,
        Field::Company,
    ];
}

/// A contact's mapped fields in canonical form: trimmed, `\n` line ends, empty as `None`,
/// the birthday as `YYYY-MM-DD`. `last_name` already holds the LastName fallback (SPEC §2).
///
/// Stored as the link's baseline (JSONB) and carried in messages, hence serde.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salutation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The company: Graph's `companyName`; on the Salesforce side the parent `Account.Name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

impl Contact {
    /// The value of one field.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.slot(field).as_deref()
    }

    /// Sets one field, normalising the value (so a `Contact` built this way is canonical).
    pub fn set(&mut self, field: Field, value: Option<&str>) {
        let normalised = match field {
            Field::Birthdate => normalize_date(value),
            _ => normalize_text(value),
        };
        *self.slot_mut(field) = normalised;
    }

    /// Copies one field from another canonical contact (no re-normalising: it already is).
    pub fn copy_from(&mut self, other: &Contact, field: Field) {
        let value = other.slot(field);
        let slot = self.slot_mut(field);
        if slot != value {
            slot.clone_from(value);
        }
    }

    /// The fields whose values differ between `self` and `other`.
    pub fn diff(&self, other: &Contact) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|&f| self.get(f) != other.get(f))
            .collect()
    }

    /// A short human label for per-item errors: name, else email.
    pub fn label(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            name
        } else if let Some(email) = &self.email {
            email.clone()
        } else {
            "(unnamed contact)".to_owned()
        }
    }

    fn slot(&self, field: Field) -> &Option<String> {
        match field {
            Field::FirstName => &self.first_name,
            Field::LastName => &self.last_name,
            Field::Salutation => &self.salutation,
            Field::Title => &self.title,
            Field::Department => &self.department,
            Field::Email => &self.email,
            Field::Phone => &self.phone,
            Field::MobilePhone => &self.mobile_phone,
            Field::HomePhone => &self.home_phone,
            Field::AssistantName => &self.assistant_name,
            Field::Birthdate => &self.birthdate,
            Field::MailingStreet => &self.mailing_street,
            Field::MailingCity => &self.mailing_city,
            Field::MailingState => &self.mailing_state,
            Field::MailingPostalCode => &self.mailing_postal_code,
            Field::MailingCountry => &self.mailing_country,
            Field::OtherStreet => &self.other_street,
            Field::OtherCity => &self.other_city,
            Field::OtherState => &self.other_state,
            Field::OtherPostalCode => &self.other_postal_code,
            Field::OtherCountry => &self.other_country,
            Field::Description => &self.description,
            Field::Company => &self.company,
        }
    }

    fn slot_mut(&mut self, field: Field) -> &mut Option<String> {
        match field {
            Field::FirstName => &mut self.first_name,
            Field::LastName => &mut self.last_name,
            Field::Salutation => &mut self.salutation,
            Field::Title => &mut self.title,
            Field::Department => &mut self.department,
            Field::Email => &mut self.email,
            Field::Phone => &mut self.phone,
            Field::MobilePhone => &mut self.mobile_phone,
            Field::HomePhone => &mut self.home_phone,
            Field::AssistantName => &mut self.assistant_name,
            Field::Birthdate => &mut self.birthdate,
            Field::MailingStreet => &mut self.mailing_street,
            Field::MailingCity => &mut self.mailing_city,
            Field::MailingState => &mut self.mailing_state,
            Field::MailingPostalCode => &mut self.mailing_postal_code,
            Field::MailingCountry => &mut self.mailing_country,
            Field::OtherStreet => &mut self.other_street,
            Field::OtherCity => &mut self.other_city,
            Field::OtherState => &mut self.other_state,
            Field::OtherPostalCode => &mut self.other_postal_code,
            Field::OtherCountry => &mut self.other_country,
            Field::Description => &mut self.description,
            Field::Company => &mut self.company,
        }
    }
}

/// Canonical text: `\r\n` and lone `\r` become `\n`, surrounding whitespace is trimmed, and an
/// empty result is `None` (Graph sends `""` for hand-made contacts and `null` for API-made ones).
pub fn normalize_text(value: Option<&str>) -> Option<String> {
    let value = value?;
    let unified = if value.contains('\r') {
        value.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        value.to_owned()
    };
    let trimmed = unified.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Canonical date: the `YYYY-MM-DD` prefix of a Graph `DateTimeOffset` (`…T11:59:00Z`) or a
/// Salesforce date. A value that is not a date stays as trimmed text, so validation (C7) can
/// report it instead of the sync dropping it silently.
pub fn normalize_date(value: Option<&str>) -> Option<String> {
    let text = normalize_text(value)?;
    let date_part = text.get(..10).unwrap_or(&text);
    match NaiveDate::parse_from_str(date_part, "%Y-%m-%d") {
        Ok(date) if text.len() == 10 || text.as_bytes().get(10) == Some(&b'T') => {
            Some(date.format("%Y-%m-%d").to_string())
        }
        _ => Some(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_line_ends_and_empty_strings_normalise() {
        assert_eq!(normalize_text(Some("  Ann \r\n")), Some("Ann".to_owned()));
        assert_eq!(
            normalize_text(Some("a\r\nb\rc")),
            Some("a\nb\nc".to_owned())
        );
        assert_eq!(normalize_text(Some("   ")), None);
        assert_eq!(normalize_text(None), None);
    }

    #[test]
    fn graph_birthdays_compare_as_dates() {
        assert_eq!(
            normalize_date(Some("1974-07-22T11:59:00Z")),
            Some("1974-07-22".to_owned())
        );
        assert_eq!(
            normalize_date(Some("1974-07-22")),
            Some("1974-07-22".to_owned())
        );
        assert_eq!(
            normalize_date(Some("22/07/1974")),
            Some("22/07/1974".to_owned())
        );
    }

    #[test]
    fn set_and_get_cover_every_field() {
        let mut c = Contact::default();
        for (i, field) in Field::ALL.into_iter().enumerate() {
            let value = if field == Field::Birthdate {
                "2001-02-03".to_owned()
            } else {
                format!("v{i}")
            };
            c.set(field, Some(&value));
            assert_eq!(c.get(field), Some(value.as_str()));
        }
        assert_eq!(c.diff(&c.clone()), Vec::<Field>::new());
        assert_eq!(c.diff(&Contact::default()).len(), Field::ALL.len());
    }
}
