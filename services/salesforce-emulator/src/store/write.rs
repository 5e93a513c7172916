//! Writes: field validation with Salesforce's error codes and messages (required fields,
//! lengths, emails, references, uniqueness), then applying a validated change with the
//! system fields stamped.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use super::{Change, ChangeKind, Deletion, Org};
use crate::config::DuplicateRule;
use crate::errors::SfError;
use crate::ids;
use crate::schema::{FieldDef, FieldType, ObjectType};
use crate::value::{self, Value};

/// Who performs a write: stamps `CreatedById`/`LastModifiedById` and the default `OwnerId`.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
}

/// Validated field values, by schema field index.
pub type FieldValues = Vec<(usize, Value)>;

/// Unique values claimed by earlier items of one collection request, so two items of the
/// same batch cannot both take a value that the store alone would still allow.
#[derive(Debug, Default)]
pub struct Claims {
    taken: HashMap<(usize, String), ()>,
    duplicate_rule: DuplicateRule,
}

impl Claims {
    pub fn with_duplicate_rule(duplicate_rule: DuplicateRule) -> Claims {
        Claims {
            taken: HashMap::new(),
            duplicate_rule,
        }
    }
}

impl Org {
    /// Validates a JSON body for a create (`existing = None`) or an update of `existing`.
    /// Returns every problem found, as Salesforce does, so a client sees all of them at once.
    pub fn prepare(
        &self,
        object: ObjectType,
        body: &Map<String, Json>,
        existing: Option<u32>,
        claims: &mut Claims,
    ) -> Result<FieldValues, Vec<SfError>> {
        let def = object.def();
        let mut out: FieldValues = Vec::new();
        let mut errors = Vec::new();
        for (key, raw) in body {
            if key == "attributes" {
                continue;
            }
            let Some((idx, field)) = def.field(key).filter(|(i, _)| !self.hides(object, *i)) else {
                errors.push(SfError::new(
                    "INVALID_FIELD",
                    format!("No such column '{key}' on sobject of type {}", def.name),
                ));
                continue;
            };
            if !field.writable {
                errors.push(SfError::with_fields(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        field.name
                    ),
                    &[field.name],
                ));
                continue;
            }
            let v = match value::from_json(field.ty, raw) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(SfError::json_parser(e.to_string()));
                    continue;
                }
            };
            match self.check_value(object, field, v, existing, claims) {
                Ok(v) => out.push((idx, v)),
                Err(e) => errors.push(e),
            }
        }
        // Required fields: missing on create, or explicitly blanked on update. A field that
        // already failed (too long, wrong type) is not reported a second time as missing.
        for (idx, field) in def.fields.iter().enumerate() {
            if !field.required {
                continue;
            }
            let given = out.iter().find(|(i, _)| *i == idx).map(|(_, v)| v);
            let missing = match (existing, given) {
                (None, None) => true,
                (_, Some(v)) => v.is_null(),
                (Some(_), None) => false,
            };
            let already_failed = errors.iter().any(|e| {
                e.fields
                    .as_ref()
                    .is_some_and(|f| f.iter().any(|n| n == field.name))
            }) || (given.is_none()
                && body.keys().any(|k| k.eq_ignore_ascii_case(field.name)));
            if missing && !already_failed {
                errors.push(SfError::with_fields(
                    "REQUIRED_FIELD_MISSING",
                    format!("Required fields are missing: [{}]", field.name),
                    &[field.name],
                ));
            }
        }
        if errors.is_empty()
            && claims.duplicate_rule != DuplicateRule::Off
            && object == ObjectType::Contact
            && self.duplicate_of(&out, existing).is_some()
        {
            errors.push(SfError::with_fields(
                "DUPLICATES_DETECTED",
                "Use one of these records?",
                &[],
            ));
        }
        if errors.is_empty() {
            for (idx, v) in &out {
                let f = &def.fields[*idx];
                if f.unique
                    && let Some(k) = v.index_key()
                {
                    claims.taken.insert((*idx, k), ());
                }
            }
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// A live Contact other than `existing` with the same Email and LastName as the record
    /// would have after this write (the emulator's Standard Contact Matching Rule).
    fn duplicate_of(&self, out: &FieldValues, existing: Option<u32>) -> Option<u32> {
        let def = ObjectType::Contact.def();
        let table = self.table(ObjectType::Contact);
        let after = |name: &str| -> Option<String> {
            let idx = def.must(name);
            let v = match out.iter().find(|(i, _)| *i == idx) {
                Some((_, v)) => v.clone(),
                None => existing
                    .map(|r| table.get(r, idx).clone())
                    .unwrap_or(Value::Null),
            };
            v.as_text().map(value::fold)
        };
        let (email, last) = (after("Email")?, after("LastName")?);
        let last_idx = def.must("LastName");
        table
            .lookup(def.must("Email"), &email)
            .into_iter()
            .find(|&r| {
                Some(r) != existing
                    && !table.is_deleted(r)
                    && table.get(r, last_idx).as_text().map(value::fold).as_deref()
                        == Some(last.as_str())
            })
    }

    fn check_value(
        &self,
        object: ObjectType,
        field: &'static FieldDef,
        v: Value,
        existing: Option<u32>,
        claims: &Claims,
    ) -> Result<Value, SfError> {
        let Value::Text(s) = &v else { return Ok(v) };
        let len = s.chars().count();
        if field.length > 0 && len > field.length {
            return Err(SfError::with_fields(
                "STRING_TOO_LONG",
                format!(
                    "{}: data value too large: {} (max length={})",
                    field.label, s, field.length
                ),
                &[field.name],
            ));
        }
        match field.ty {
            FieldType::Email if !valid_email(s) => Err(SfError::with_fields(
                "INVALID_EMAIL_ADDRESS",
                format!("{}: invalid email address: {}", field.label, s),
                &[field.name],
            )),
            FieldType::Reference(target) => {
                let id = ids::normalize(s)
                    .filter(|id| id.starts_with(target.def().key_prefix))
                    .ok_or_else(|| SfError::malformed_id(field.label, s, field.name))?;
                let table = self.table(target);
                match table.find(&id) {
                    None => Err(SfError::with_fields(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        &[],
                    )),
                    Some(r) if table.is_deleted(r) => Err(SfError::entity_is_deleted()),
                    Some(_) => Ok(Value::text(id)),
                }
            }
            _ if field.unique => {
                let idx = object.def().must(field.name);
                let key = value::fold(s);
                let table = self.table(object);
                let clash = table
                    .lookup(idx, s)
                    .into_iter()
                    .find(|&r| Some(r) != existing && !table.is_deleted(r));
                if let Some(r) = clash {
                    return Err(SfError::with_fields(
                        "DUPLICATE_VALUE",
                        format!(
                            "duplicate value found: {} duplicates value on record with id: {}",
                            field.name,
                            table.id(r)
                        ),
                        &[],
                    ));
                }
                if claims.taken.contains_key(&(idx, key)) {
                    return Err(SfError::with_fields(
                        "DUPLICATE_VALUE",
                        format!(
                            "duplicate value found: {} duplicates value on record with id: ",
                            field.name
                        ),
                        &[],
                    ));
                }
                Ok(v)
            }
            _ => Ok(v),
        }
    }

    /// Inserts a validated record and returns its row.
    pub fn apply_create(
        &mut self,
        object: ObjectType,
        fields: FieldValues,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> u32 {
        let def = object.def();
        let pod = self.pod.clone();
        let table = self.table_mut(object);
        let mut values = vec![Value::Null; def.fields.len()];
        values[0] = Value::text(table.next_id(&pod));
        for (i, f) in def.fields.iter().enumerate() {
            values[i] = match (f.name, f.ty) {
                ("Id", _) => continue,
                ("IsActive", _) => Value::Bool(true),
                ("CreatedDate" | "LastModifiedDate" | "SystemModstamp", _) => Value::DateTime(now),
                ("CreatedById" | "LastModifiedById" | "OwnerId", _) => {
                    Value::text(actor.user_id.as_str())
                }
                (_, FieldType::Boolean) => Value::Bool(false),
                _ => Value::Null,
            };
        }
        for (i, v) in fields {
            values[i] = v;
        }
        compute_name(object, &mut values);
        let r = table.insert(values);
        self.changes.push(Change {
            object,
            row: r,
            kind: ChangeKind::Created,
        });
        r
    }

    /// Inserts a row with a caller-chosen id (control API users). The id must be new.
    pub fn insert_with_id(
        &mut self,
        object: ObjectType,
        id18: String,
        fields: FieldValues,
        now: DateTime<Utc>,
    ) -> u32 {
        let def = object.def();
        let mut values = vec![Value::Null; def.fields.len()];
        values[0] = Value::text(id18.clone());
        for (i, f) in def.fields.iter().enumerate() {
            match f.name {
                "IsActive" => values[i] = Value::Bool(true),
                "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => {
                    values[i] = Value::DateTime(now)
                }
                "CreatedById" | "LastModifiedById" => values[i] = Value::text(id18.as_str()),
                _ => {}
            }
        }
        for (i, v) in fields {
            values[i] = v;
        }
        compute_name(object, &mut values);
        self.table_mut(object).insert(values)
    }

    /// Applies a validated update. Like Salesforce, every update stamps the audit fields,
    /// even when no value actually changed.
    pub fn apply_update(
        &mut self,
        object: ObjectType,
        row: u32,
        fields: FieldValues,
        actor: &Actor,
        now: DateTime<Utc>,
    ) {
        let def = object.def();
        let table = self.table_mut(object);
        for (i, v) in fields {
            table.set(row, i, v);
        }
        table.set(row, def.must("LastModifiedDate"), Value::DateTime(now));
        table.set(row, def.must("SystemModstamp"), Value::DateTime(now));
        table.set(
            row,
            def.must("LastModifiedById"),
            Value::text(actor.user_id.as_str()),
        );
        let mut values = table.row(row).to_dense(def.fields.len());
        if compute_name(object, &mut values)
            && let Some(n) = def.field_index("Name")
        {
            let name = values[n].clone();
            table.set(row, n, name);
        }
        self.changes.push(Change {
            object,
            row,
            kind: ChangeKind::Updated,
        });
    }

    /// Moves a record to the Recycle Bin and logs it for Get Deleted. Deleting an Account
    /// deletes its Contacts, as in Salesforce.
    pub fn delete(&mut self, object: ObjectType, row: u32, actor: &Actor, now: DateTime<Utc>) {
        let def = object.def();
        let Some(flag) = def.field_index("IsDeleted") else {
            return;
        };
        let table = self.table_mut(object);
        if table.is_deleted(row) {
            return;
        }
        table.set(row, flag, Value::Bool(true));
        table.set(row, def.must("LastModifiedDate"), Value::DateTime(now));
        table.set(row, def.must("SystemModstamp"), Value::DateTime(now));
        table.set(
            row,
            def.must("LastModifiedById"),
            Value::text(actor.user_id.as_str()),
        );
        let id = table.id(row).to_string();
        self.deletions.push(Deletion {
            object,
            id: id.clone(),
            at: now,
        });
        self.changes.push(Change {
            object,
            row,
            kind: ChangeKind::Deleted,
        });
        if object == ObjectType::Account {
            let contacts = self.table(ObjectType::Contact);
            let f = ObjectType::Contact.def().must("AccountId");
            let children: Vec<u32> = contacts.lookup(f, &id);
            for c in children {
                self.delete(ObjectType::Contact, c, actor, now);
            }
        }
    }
}

/// Recomputes the read-only compound `Name` ("First Last"); returns whether the object has one.
fn compute_name(object: ObjectType, values: &mut [Value]) -> bool {
    if object == ObjectType::Account {
        return false;
    }
    let def = object.def();
    let (Some(first), Some(last), Some(name)) = (
        def.field_index("FirstName"),
        def.field_index("LastName"),
        def.field_index("Name"),
    ) else {
        return false;
    };
    let parts: Vec<&str> = [&values[first], &values[last]]
        .iter()
        .filter_map(|v| v.as_text())
        .collect();
    values[name] = Value::text(parts.join(" "));
    true
}

/// Salesforce's email check, approximated: one `@`, a sane local part, a dotted domain.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.contains('@') || local.starts_with('.') || local.ends_with('.') {
        return false;
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails_are_checked_like_salesforce() {
        assert!(valid_email("john.smith@nodetest.example.com"));
        assert!(valid_email("o'brien+tag@example.co.uk"));
        assert!(!valid_email("not an email"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("a@@b.com"));
        assert!(!valid_email("a b@c.com"));
    }
}
