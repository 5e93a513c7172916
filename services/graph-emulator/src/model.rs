//! The contact resource: its property table, validation of request bodies, and rendering.
//!
//! Properties are kept as normalised JSON values keyed by name, so one table drives parsing,
//! `$select` and output. Unset strings render as `null`, unset collections as `[]` and unset
//! addresses as `{}`, as an API-created contact does on the real service (reference §3.1).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::config::{Knobs, ParentFolderPatch};
use crate::errors::GraphError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    StrList,
    Address,
    Emails,
    Birthday,
}

/// Writable contact properties, in the order the real service writes them.
const PROPERTIES: &[(&str, Kind)] = &[
    ("categories", Kind::StrList),
    ("birthday", Kind::Birthday),
    ("fileAs", Kind::Str),
    ("displayName", Kind::Str),
    ("givenName", Kind::Str),
    ("initials", Kind::Str),
    ("middleName", Kind::Str),
    ("nickName", Kind::Str),
    ("surname", Kind::Str),
    ("title", Kind::Str),
    ("yomiGivenName", Kind::Str),
    ("yomiSurname", Kind::Str),
    ("yomiCompanyName", Kind::Str),
    ("generation", Kind::Str),
    ("imAddresses", Kind::StrList),
    ("jobTitle", Kind::Str),
    ("companyName", Kind::Str),
    ("department", Kind::Str),
    ("officeLocation", Kind::Str),
    ("profession", Kind::Str),
    ("businessHomePage", Kind::Str),
    ("assistantName", Kind::Str),
    ("manager", Kind::Str),
    ("homePhones", Kind::StrList),
    ("mobilePhone", Kind::Str),
    ("businessPhones", Kind::StrList),
    ("spouseName", Kind::Str),
    ("personalNotes", Kind::Str),
    ("children", Kind::StrList),
    ("emailAddresses", Kind::Emails),
    ("homeAddress", Kind::Address),
    ("businessAddress", Kind::Address),
    ("otherAddress", Kind::Address),
];

/// Read-only properties from `outlookItem`; accepted in bodies and ignored, since clients that
/// copy a contact often send them back.
const READ_ONLY: &[&str] = &["id", "changeKey", "createdDateTime", "lastModifiedDateTime"];

/// Properties `$select` may name besides the writable ones.
const SELECTABLE_EXTRA: &[&str] = &[
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "parentFolderId",
];

const ADDRESS_FIELDS: &[&str] = &["street", "city", "state", "countryOrRegion", "postalCode"];
const NAME_PARTS: &[&str] = &["givenName", "middleName", "surname", "generation"];
/// Extended property types accepted in the id (`"String {guid} Name X"`).
const EXT_TYPES: &[&str] = &[
    "String",
    "Integer",
    "Boolean",
    "SystemTime",
    "Double",
    "Float",
    "Currency",
    "Long",
    "Short",
    "Binary",
    "CLSID",
    "Null",
    "Object",
];

/// A parsed contact body.
#[derive(Debug, Default, Clone)]
pub struct ContactInput {
    /// Properties to set, already normalised.
    pub props: Vec<(&'static str, Value)>,
    /// `singleValueExtendedProperties` to upsert: (id as sent, value).
    pub extended: Vec<(String, String)>,
}

impl ContactInput {
    fn sets(&self, name: &str) -> bool {
        self.props.iter().any(|(k, _)| *k == name)
    }
}

fn lookup(name: &str) -> Option<(&'static str, Kind)> {
    PROPERTIES.iter().find(|(n, _)| *n == name).copied()
}

fn type_error(property: &str, expected: &str) -> GraphError {
    GraphError::bad_request(
        "RequestBodyRead",
        format!(
            "Cannot convert the value of property '{property}' to the expected type '{expected}'."
        ),
    )
}

fn unknown_property(property: &str, on_type: &str) -> GraphError {
    GraphError::bad_request(
        "RequestBodyRead",
        format!(
            "The property '{property}' does not exist on type '{on_type}'. Make sure to only use property names that are defined by the type or mark the type as open type."
        ),
    )
}

/// Parses a JSON body into an object, with Graph's answer for bodies that are not JSON.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(GraphError::bad_request(
            "UnableToDeserializePostBody",
            "were unable to deserialize ",
        )),
    }
}

/// Validates a contact body for create (`is_patch` false) or update.
pub fn parse_contact(
    body: &[u8],
    knobs: &Knobs,
    is_patch: bool,
) -> Result<ContactInput, GraphError> {
    let object = parse_object(body)?;
    let mut input = ContactInput::default();
    for (key, value) in object {
        // Instance annotations (`@odata.etag`, `@odata.type`, `x@odata.context`) are not data.
        if key.contains('@') {
            continue;
        }
        if READ_ONLY.contains(&key.as_str()) {
            continue;
        }
        if key == "parentFolderId" {
            if is_patch && knobs.patch_parent_folder == ParentFolderPatch::Reject {
                return Err(GraphError::bad_request(
                    "ErrorInvalidProperty",
                    "The property 'parentFolderId' cannot be updated.",
                ));
            }
            // Never a move: the folder comes from the path (reference §3.7).
            continue;
        }
        if key == "singleValueExtendedProperties" {
            input.extended = parse_extended(&value)?;
            continue;
        }
        if matches!(
            key.as_str(),
            "multiValueExtendedProperties" | "extensions" | "photo"
        ) {
            return Err(GraphError::bad_request(
                "ErrorInvalidRequest",
                format!("The emulator does not model '{key}' on contacts."),
            ));
        }
        let Some((name, kind)) = lookup(&key) else {
            return Err(unknown_property(&key, "microsoft.graph.contact"));
        };
        let normalised = normalise(name, kind, value)?;
        check_limit(name, &normalised, knobs)?;
        input.props.push((name, normalised));
    }
    Ok(input)
}

fn normalise(name: &str, kind: Kind, value: Value) -> Result<Value, GraphError> {
    if value.is_null() {
        return Ok(match kind {
            Kind::StrList | Kind::Emails => Value::Array(Vec::new()),
            Kind::Address => Value::Object(Map::new()),
            Kind::Str | Kind::Birthday => Value::Null,
        });
    }
    match kind {
        Kind::Str => match value {
            Value::String(_) => Ok(value),
            _ => Err(type_error(name, "Edm.String")),
        },
        Kind::StrList => match value {
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(Value::Array(items)),
            _ => Err(type_error(name, "Collection(Edm.String)")),
        },
        Kind::Birthday => {
            let Value::String(text) = &value else {
                return Err(type_error(name, "Edm.DateTimeOffset"));
            };
            let date =
                parse_birthday(text).ok_or_else(|| type_error(name, "Edm.DateTimeOffset"))?;
            // Exchange stores birthdays at 11:59 UTC of the day (observed on the live service).
            Ok(Value::String(format!(
                "{}T11:59:00Z",
                date.format("%Y-%m-%d")
            )))
        }
        Kind::Address => {
            let Value::Object(fields) = value else {
                return Err(type_error(name, "microsoft.graph.physicalAddress"));
            };
            let mut out = Map::new();
            for (field, v) in fields {
                if field.contains('@') {
                    continue;
                }
                if !ADDRESS_FIELDS.contains(&field.as_str()) {
                    return Err(unknown_property(&field, "microsoft.graph.physicalAddress"));
                }
                match v {
                    Value::String(_) => {
                        out.insert(field, v);
                    }
                    Value::Null => {}
                    _ => return Err(type_error(&field, "Edm.String")),
                }
            }
            Ok(Value::Object(out))
        }
        Kind::Emails => {
            let Value::Array(items) = value else {
                return Err(type_error(name, "Collection(microsoft.graph.emailAddress)"));
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Value::Object(fields) = item else {
                    return Err(type_error(name, "microsoft.graph.emailAddress"));
                };
                let mut address = Value::Null;
                let mut display = Value::Null;
                for (field, v) in fields {
                    if field.contains('@') {
                        continue;
                    }
                    if !(v.is_string() || v.is_null()) {
                        return Err(type_error(&field, "Edm.String"));
                    }
                    match field.as_str() {
                        "address" => address = v,
                        "name" => display = v,
                        _ => return Err(unknown_property(&field, "microsoft.graph.emailAddress")),
                    }
                }
                // Exchange fills a missing display name with the address.
                if display.is_null() {
                    display = address.clone();
                }
                let mut entry = Map::new();
                entry.insert("name".to_owned(), display);
                entry.insert("address".to_owned(), address);
                out.push(Value::Object(entry));
            }
            Ok(Value::Array(out))
        }
    }
}

fn parse_birthday(text: &str) -> Option<NaiveDate> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date);
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|dt| dt.with_timezone(&Utc).date_naive())
}

fn check_limit(name: &str, value: &Value, knobs: &Knobs) -> Result<(), GraphError> {
    let (max, wire_name) = match name {
        "emailAddresses" => (knobs.email_addresses_max, "EmailAddresses"),
        "businessPhones" => (knobs.business_phones_max, "BusinessPhones"),
        "homePhones" => (knobs.home_phones_max, "HomePhones"),
        _ => return Ok(()),
    };
    let count = value.as_array().map_or(0, Vec::len);
    if count > max {
        // Message observed on the live service; the code is UNCONFIRMED (Exchange's
        // property-validation failure).
        return Err(GraphError::bad_request(
            "ErrorPropertyValidationFailure",
            format!(
                "The multi value property {wire_name} has {count} entries, that exceeds the max allowed value of {max}"
            ),
        ));
    }
    Ok(())
}

fn parse_extended(value: &Value) -> Result<Vec<(String, String)>, GraphError> {
    let malformed = || {
        GraphError::bad_request(
            "ErrorInvalidExtendedPropertyValue",
            "The extended property is malformed: expected [{\"id\": \"String {guid} Name X\", \"value\": \"…\"}].",
        )
    };
    let Value::Array(items) = value else {
        return Err(malformed());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(malformed)?;
        let value = match item.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => return Err(malformed()),
        };
        let type_word = id.split_whitespace().next().unwrap_or_default();
        if !EXT_TYPES.iter().any(|t| t.eq_ignore_ascii_case(type_word)) || !id.contains(' ') {
            return Err(GraphError::bad_request(
                "ErrorInvalidExtendedPropertyValue",
                format!("The extended property id '{id}' is malformed."),
            ));
        }
        out.push((id.to_owned(), value));
    }
    Ok(out)
}

/// Applies a parsed body to stored properties; regenerates `displayName` as Exchange does.
pub fn apply(props: &mut Map<String, Value>, input: &ContactInput, creating: bool) {
    for (name, value) in &input.props {
        props.insert((*name).to_owned(), value.clone());
    }
    let names_changed = NAME_PARTS.iter().any(|n| input.sets(n));
    let display_given =
        input.sets("displayName") && props.get("displayName").and_then(Value::as_str).is_some();
    // On create a missing displayName is generated; on update a change to the name parts
    // without displayName overwrites it (observed: "Zz Test MCP (temporaneo)" → "Qq Test MCP").
    if !display_given && (creating || names_changed) {
        let generated = generate_display_name(props);
        props.insert("displayName".to_owned(), Value::String(generated));
    }
}

fn generate_display_name(props: &Map<String, Value>) -> String {
    let text = |name: &str| {
        props
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let parts: Vec<&str> = NAME_PARTS.iter().filter_map(|n| text(n)).collect();
    if !parts.is_empty() {
        return parts.join(" ");
    }
    if let Some(company) = text("companyName") {
        return company.to_owned();
    }
    props
        .get("emailAddresses")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("address"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Whether `$orderby` may name this property: scalar strings and the timestamps.
pub fn is_sortable(name: &str) -> bool {
    matches!(name, "id" | "createdDateTime" | "lastModifiedDateTime")
        || lookup(name).is_some_and(|(_, kind)| kind == Kind::Str)
}

/// Validates `$select` against the contact type.
pub fn parse_select(raw: Option<&str>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(raw) = raw else { return Ok(None) };
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let known = lookup(name).is_some()
            || SELECTABLE_EXTRA.contains(&name)
            || name == "singleValueExtendedProperties";
        if !known {
            return Err(GraphError::bad_request(
                "RequestBroker--ParseUri",
                format!(
                    "Could not find a property named '{name}' on type 'microsoft.graph.contact'."
                ),
            ));
        }
        out.push(name.to_owned());
    }
    Ok(Some(out))
}

/// What a rendered contact shows besides its properties.
pub struct RenderMeta<'a> {
    pub id: &'a str,
    pub parent_folder_id: &'a str,
    pub change_key: &'a str,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The contact as Graph writes it, optionally narrowed by `$select` (`id` and `@odata.etag`
/// always come back, as on the real service).
pub fn render(
    props: &Map<String, Value>,
    meta: &RenderMeta<'_>,
    select: Option<&[String]>,
) -> Map<String, Value> {
    let wanted = |name: &str| select.is_none_or(|s| s.iter().any(|n| n == name));
    let mut out = Map::new();
    out.insert(
        "@odata.etag".to_owned(),
        Value::String(format!("W/\"{}\"", meta.change_key)),
    );
    out.insert("id".to_owned(), Value::String(meta.id.to_owned()));
    let base: [(&str, Value); 4] = [
        ("createdDateTime", Value::String(format_time(meta.created))),
        (
            "lastModifiedDateTime",
            Value::String(format_time(meta.modified)),
        ),
        ("changeKey", Value::String(meta.change_key.to_owned())),
        (
            "parentFolderId",
            Value::String(meta.parent_folder_id.to_owned()),
        ),
    ];
    for (name, value) in base {
        if wanted(name) {
            out.insert(name.to_owned(), value);
        }
    }
    for (name, kind) in PROPERTIES {
        if !wanted(name) {
            continue;
        }
        let value = props.get(*name).cloned().unwrap_or(match kind {
            Kind::StrList | Kind::Emails => Value::Array(Vec::new()),
            Kind::Address => Value::Object(Map::new()),
            Kind::Str | Kind::Birthday => Value::Null,
        });
        out.insert((*name).to_owned(), value);
    }
    out
}

/// The categories of a contact, lower-cased, for the `categories/any` index.
pub fn category_keys(props: &Map<String, Value>) -> Vec<String> {
    props
        .get("categories")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

/// The email addresses of a contact, lower-cased, for the `emailAddresses/any` index.
pub fn email_keys(props: &Map<String, Value>) -> Vec<String> {
    props
        .get("emailAddresses")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e.get("address").and_then(Value::as_str))
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn knobs() -> Knobs {
        Knobs::default()
    }

    #[test]
    fn a_missing_display_name_is_generated_from_the_name_parts() {
        let input = parse_contact(
            br#"{"givenName":"Pavel","surname":"Bansky"}"#,
            &knobs(),
            false,
        )
        .unwrap_or_default();
        let mut props = Map::new();
        apply(&mut props, &input, true);
        assert_eq!(props["displayName"], json!("Pavel Bansky"));
    }

    #[test]
    fn a_patch_of_a_name_part_without_display_name_regenerates_it() {
        let mut props = Map::new();
        let create = parse_contact(
            br#"{"givenName":"Zz","surname":"Test","displayName":"Zz Test (temp)"}"#,
            &knobs(),
            false,
        )
        .unwrap_or_default();
        apply(&mut props, &create, true);
        assert_eq!(props["displayName"], json!("Zz Test (temp)"));
        let patch = parse_contact(br#"{"givenName":"Qq"}"#, &knobs(), true).unwrap_or_default();
        apply(&mut props, &patch, false);
        assert_eq!(props["displayName"], json!("Qq Test"));
        let unrelated = parse_contact(br#"{"jobTitle":"CEO"}"#, &knobs(), true).unwrap_or_default();
        apply(&mut props, &unrelated, false);
        assert_eq!(props["displayName"], json!("Qq Test"));
    }

    #[test]
    fn too_many_business_phones_is_rejected_with_the_real_message() {
        let err = parse_contact(br#"{"businessPhones":["1","2","3"]}"#, &knobs(), false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("BusinessPhones has 3 entries, that exceeds the max allowed value of 2"),
            "{err}"
        );
    }

    #[test]
    fn birthdays_are_stored_at_eleven_fifty_nine_utc() {
        let input = parse_contact(br#"{"birthday":"1815-12-10T00:00:00Z"}"#, &knobs(), false)
            .unwrap_or_default();
        assert_eq!(input.props[0].1, json!("1815-12-10T11:59:00Z"));
    }

    #[test]
    fn unknown_properties_and_wrong_types_are_rejected() {
        assert!(parse_contact(br#"{"nope":"x"}"#, &knobs(), false).is_err());
        assert!(parse_contact(br#"{"surname":5}"#, &knobs(), false).is_err());
        assert!(parse_contact(br#"{"homeAddress":{"planet":"Mars"}}"#, &knobs(), false).is_err());
        assert!(parse_contact(b"not json", &knobs(), false).is_err());
    }
}
