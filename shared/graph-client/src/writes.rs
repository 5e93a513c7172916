//! Contact writes and bulk reads through `$batch`: create (with category and sync key), patch,
//! delete (404 = already gone), and get-with-sync-key, each with a per-item result in input order.

use reqwest::Method;
use serde_json::{Map, Value, json};
use sync_core::fields::GraphContactFields;
use tracing::instrument;

use crate::batch::{BatchRequest, ItemError};
use crate::client::{GraphClient, enc, query_string};
use crate::contacts::{contact_select, expand_property};
use crate::copy::ContactCopy;
use crate::error::GraphError;
use crate::types::{GraphContact, SYNC_KEY_PROPERTY_ID};

/// A contact to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewContact {
    pub fields: GraphContactFields,
    pub categories: Vec<String>,
    /// Stamped as [`SYNC_KEY_PROPERTY_ID`], so the contact can be found again after a crash.
    pub sync_key: Option<String>,
}

impl NewContact {
    /// The POST body: unset fields are left out rather than sent as `null`.
    pub fn to_body(&self) -> Result<Value, GraphError> {
        let mut map = to_map(&self.fields)?;
        map.retain(|_, v| !v.is_null());
        if !self.categories.is_empty() {
            map.insert("categories".into(), json!(self.categories));
        }
        if let Some(key) = &self.sync_key {
            map.insert(
                "singleValueExtendedProperties".into(),
                json!([{ "id": SYNC_KEY_PROPERTY_ID, "value": key }]),
            );
        }
        Ok(Value::Object(map))
    }
}

/// A partial update: only the properties it holds are written; the rest of the contact stays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    body: Map<String, Value>,
}

impl ContactPatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mapped field, an unset one written as cleared.
    pub fn all_fields(fields: &GraphContactFields) -> Result<Self, GraphError> {
        let body = to_map(fields)?
            .into_iter()
            .map(|(k, v)| {
                let v = clearing_value(&k, v);
                (k, v)
            })
            .collect();
        Ok(Self { body })
    }

    /// Only the mapped fields whose value differs between `old` and `new`.
    pub fn changed_fields(
        old: &GraphContactFields,
        new: &GraphContactFields,
    ) -> Result<Self, GraphError> {
        let old = Self::all_fields(old)?.body;
        let body = Self::all_fields(new)?
            .body
            .into_iter()
            .filter(|(k, v)| old.get(k) != Some(v))
            .collect();
        Ok(Self { body })
    }

    /// A patch from any serializable partial record (e.g. sync-core's `GraphPatch`): its keys
    /// are written as given, with Graph's clearing forms for collections and addresses.
    pub fn from_serializable<T: serde::Serialize>(patch: &T) -> Result<Self, GraphError> {
        let body = match serde_json::to_value(patch) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                return Err(GraphError::Config(
                    "a contact patch must serialize to an object".into(),
                ));
            }
            Err(source) => {
                return Err(GraphError::Decode {
                    what: "contact patch",
                    source,
                });
            }
        };
        Ok(Self {
            body: body
                .into_iter()
                .map(|(k, v)| {
                    let v = clearing_value(&k, v);
                    (k, v)
                })
                .collect(),
        })
    }

    /// Blanks our sync key (the item leaves the sync, B11): an empty stamp reads as none.
    pub fn with_cleared_sync_key(self) -> Self {
        self.with_sync_key("")
    }

    /// Replaces the contact's categories (collections are written whole).
    pub fn with_categories(mut self, categories: Vec<String>) -> Self {
        self.body.insert("categories".into(), json!(categories));
        self
    }

    /// Stamps (or restamps) our sync key.
    pub fn with_sync_key(mut self, key: &str) -> Self {
        self.body.insert(
            "singleValueExtendedProperties".into(),
            json!([{ "id": SYNC_KEY_PROPERTY_ID, "value": key }]),
        );
        self
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    pub fn as_json(&self) -> &Map<String, Value> {
        &self.body
    }
}

fn to_map(fields: &GraphContactFields) -> Result<Map<String, Value>, GraphError> {
    match serde_json::to_value(fields) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Ok(Map::new()),
        Err(source) => Err(GraphError::Decode {
            what: "contact fields",
            source,
        }),
    }
}

const ADDRESS_KEYS: [&str; 5] = ["street", "city", "state", "postalCode", "countryOrRegion"];

/// How a PATCH clears or sets a property on the wire: Graph keeps collections as `[]` and merges
/// complex values, so an address is written with every part (missing parts as `null`).
fn clearing_value(key: &str, value: Value) -> Value {
    match (key, value) {
        ("emailAddresses" | "businessPhones" | "homePhones", Value::Null) => json!([]),
        ("businessAddress" | "homeAddress", Value::Null) => Value::Object(
            ADDRESS_KEYS
                .iter()
                .map(|k| ((*k).into(), Value::Null))
                .collect(),
        ),
        ("businessAddress" | "homeAddress", Value::Object(mut parts)) => {
            for k in ADDRESS_KEYS {
                parts.entry(k).or_insert(Value::Null);
            }
            Value::Object(parts)
        }
        (_, value) => value,
    }
}

/// One write to a mailbox's contacts.
#[derive(Debug, Clone, PartialEq)]
// Items travel in Vecs of at most a page; boxing the contact would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum ContactWrite {
    Create {
        folder_id: String,
        contact: NewContact,
    },
    Update {
        contact_id: String,
        patch: ContactPatch,
    },
    Delete {
        contact_id: String,
    },
    /// B9's first half: create `copy` in the folder (then delete the original with `Delete`
    /// once this succeeded; both in one batch would race).
    Copy {
        folder_id: String,
        copy: ContactCopy,
    },
}

/// What a successful write did; created/updated carry the contact as Graph returned it (new id,
/// new changeKey).
#[derive(Debug, Clone, PartialEq, Eq)]
// Items travel in Vecs of at most a page; boxing the contact would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum WriteOutcome {
    Created(GraphContact),
    Updated(GraphContact),
    /// `already_gone`: Graph answered 404, i.e. someone deleted it first; that is success.
    Deleted {
        already_gone: bool,
    },
}

pub type WriteResult = Result<WriteOutcome, ItemError>;

fn parse_contact(body: serde_json::Value) -> Result<GraphContact, ItemError> {
    serde_json::from_value(body).map_err(|source| {
        ItemError::Request(std::sync::Arc::new(GraphError::Decode {
            what: "batch item contact",
            source,
        }))
    })
}

impl GraphClient {
    /// Applies `writes` to one mailbox in batches of 20, returning one result per write in
    /// input order. Throttled items are retried after `Retry-After`; a failed item never fails
    /// the others.
    #[instrument(skip_all, fields(mailbox = %mailbox, writes = writes.len()))]
    pub async fn write_contacts(&self, mailbox: &str, writes: &[ContactWrite]) -> Vec<WriteResult> {
        let m = enc(mailbox);
        let mut requests = Vec::with_capacity(writes.len());
        let mut creates = false;
        for write in writes {
            let request = match write {
                ContactWrite::Create { folder_id, contact } => {
                    creates = true;
                    match contact.to_body() {
                        Ok(body) => BatchRequest {
                            method: Method::POST,
                            url: format!("/users/{m}/contactFolders/{}/contacts", enc(folder_id)),
                            body: Some(body),
                        },
                        Err(e) => return fail_all(writes.len(), e),
                    }
                }
                ContactWrite::Copy { folder_id, copy } => {
                    creates = true;
                    BatchRequest {
                        method: Method::POST,
                        url: format!("/users/{m}/contactFolders/{}/contacts", enc(folder_id)),
                        body: Some(copy.to_body()),
                    }
                }
                ContactWrite::Update { contact_id, patch } => BatchRequest {
                    method: Method::PATCH,
                    url: format!("/users/{m}/contacts/{}", enc(contact_id)),
                    body: Some(Value::Object(patch.body.clone())),
                },
                ContactWrite::Delete { contact_id } => BatchRequest {
                    method: Method::DELETE,
                    url: format!("/users/{m}/contacts/{}", enc(contact_id)),
                    body: None,
                },
            };
            requests.push(request);
        }
        let replies = self.run_batch(mailbox, &requests, !creates).await;
        writes
            .iter()
            .zip(replies)
            .map(|(write, reply)| match (write, reply) {
                (ContactWrite::Create { .. } | ContactWrite::Copy { .. }, Ok(r)) => {
                    parse_contact(r.body).map(WriteOutcome::Created)
                }
                (ContactWrite::Update { .. }, Ok(r)) => {
                    parse_contact(r.body).map(WriteOutcome::Updated)
                }
                (ContactWrite::Delete { .. }, Ok(_)) => Ok(WriteOutcome::Deleted {
                    already_gone: false,
                }),
                (ContactWrite::Delete { .. }, Err(ItemError::Api(e))) if e.is_not_found() => {
                    Ok(WriteOutcome::Deleted { already_gone: true })
                }
                (_, Err(e)) => Err(e),
            })
            .collect()
    }

    /// Reads contacts by id with our sync key expanded, through `$batch`; `Ok(None)` for an id
    /// that no longer exists. Results are in input order.
    #[instrument(skip_all, fields(mailbox = %mailbox, ids = ids.len()))]
    pub async fn get_contacts(
        &self,
        mailbox: &str,
        ids: &[String],
    ) -> Vec<Result<Option<GraphContact>, ItemError>> {
        let query = query_string(&[
            ("$select", &contact_select()),
            ("$expand", &expand_property(SYNC_KEY_PROPERTY_ID)),
        ]);
        let requests: Vec<BatchRequest> = ids
            .iter()
            .map(|id| BatchRequest {
                method: Method::GET,
                url: format!("/users/{}/contacts/{}{query}", enc(mailbox), enc(id)),
                body: None,
            })
            .collect();
        self.run_batch(mailbox, &requests, true)
            .await
            .into_iter()
            .map(|reply| match reply {
                Ok(r) => parse_contact(r.body).map(Some),
                Err(ItemError::Api(e)) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            })
            .collect()
    }
}

fn fail_all(n: usize, error: GraphError) -> Vec<WriteResult> {
    let shared = std::sync::Arc::new(error);
    (0..n)
        .map(|_| Err(ItemError::Request(shared.clone())))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sync_core::fields::{GraphAddress, GraphEmailAddress};

    fn fields() -> GraphContactFields {
        GraphContactFields {
            given_name: Some("Ada".into()),
            surname: Some("Lovelace".into()),
            email_addresses: Some(vec![GraphEmailAddress {
                address: Some("ada@example.com".into()),
                name: None,
            }]),
            business_address: Some(GraphAddress {
                city: Some("London".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_create_body_leaves_out_unset_fields_and_stamps_the_key() {
        let new = NewContact {
            fields: fields(),
            categories: vec!["Salesforce".into()],
            sync_key: Some("k-1".into()),
        };
        let body = new.to_body().unwrap();
        assert_eq!(body["givenName"], "Ada");
        assert!(body.get("jobTitle").is_none());
        assert_eq!(body["categories"], json!(["Salesforce"]));
        assert_eq!(
            body["singleValueExtendedProperties"],
            json!([{ "id": SYNC_KEY_PROPERTY_ID, "value": "k-1" }])
        );
    }

    #[test]
    fn a_patch_of_changed_fields_holds_only_the_differences() {
        let old = fields();
        let mut new = fields();
        new.job_title = Some("Analyst".into());
        new.email_addresses = None;
        new.business_address = Some(GraphAddress {
            city: Some("Paris".into()),
            ..Default::default()
        });
        let patch = ContactPatch::changed_fields(&old, &new).unwrap();
        let body = patch.as_json();
        assert_eq!(body.len(), 3, "{body:?}");
        assert_eq!(body["jobTitle"], "Analyst");
        assert_eq!(body["emailAddresses"], json!([]));
        assert_eq!(
            body["businessAddress"],
            json!({"street": null, "city": "Paris", "state": null, "postalCode": null, "countryOrRegion": null})
        );
    }

    #[test]
    fn a_serializable_patch_keeps_its_keys_and_clears_the_graph_way() {
        let patch = ContactPatch::from_serializable(&json!({
            "jobTitle": null, "homePhones": null, "homeAddress": {"city": "Oslo"}
        }))
        .unwrap()
        .with_cleared_sync_key();
        let body = patch.as_json();
        assert_eq!(body["jobTitle"], Value::Null);
        assert_eq!(body["homePhones"], json!([]));
        assert_eq!(body["homeAddress"]["city"], "Oslo");
        assert_eq!(body["homeAddress"]["street"], Value::Null);
        assert_eq!(body["singleValueExtendedProperties"][0]["value"], "");
        assert!(ContactPatch::from_serializable(&json!(3)).is_err());
    }

    #[test]
    fn equal_fields_make_an_empty_patch() {
        assert!(
            ContactPatch::changed_fields(&fields(), &fields())
                .unwrap()
                .is_empty()
        );
    }
}
