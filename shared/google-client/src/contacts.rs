//! Contact writes and batch reads: create, update (etag checked), delete, `getBatchGet`, and the
//! batch create/update/delete methods in chunks of Google's limits, each with a per-contact
//! result so one bad contact never fails the rest (C7).
//!
//! Every mutation waits for the user's turn ([`GoogleClient::mutation_turn`]): Google asks for
//! one user's mutations to be sent one at a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::instrument;

use crate::client::{GoogleClient, resource_name};
use crate::error::{Disposition, GoogleError, ItemError, RpcStatus};
use crate::sync::PERSON_FIELDS;
use crate::types::Person;

/// `people:getBatchGet` takes at most 200 resource names.
pub const MAX_BATCH_GET: usize = 200;
/// `people:batchCreateContacts` takes at most 200 contacts.
pub const MAX_BATCH_CREATE: usize = 200;
/// `people:batchUpdateContacts` takes at most 200 contacts.
pub const MAX_BATCH_UPDATE: usize = 200;
/// `people:batchDeleteContacts` takes at most 500 resource names.
pub const MAX_BATCH_DELETE: usize = 500;

/// The result of one contact of a batch call.
pub type ItemResult<T> = Result<T, ItemError>;

/// `PersonResponse`: one contact's answer inside a batch answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonResponse {
    #[serde(default)]
    requested_resource_name: Option<String>,
    #[serde(default)]
    person: Option<Person>,
    #[serde(default)]
    status: Option<RpcStatus>,
}

impl PersonResponse {
    fn outcome(self) -> ItemResult<Person> {
        match self.status {
            Some(status) if status.code != 0 => Err(ItemError::from_status(&status)),
            _ => Ok(self.person.unwrap_or_else(|| Person {
                resource_name: self.requested_resource_name.unwrap_or_default(),
                ..Person::default()
            })),
        }
    }
}

#[derive(Deserialize)]
struct BatchGetReply {
    #[serde(default)]
    responses: Vec<PersonResponse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchCreateReply {
    #[serde(default)]
    created_people: Vec<PersonResponse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchUpdateReply {
    #[serde(default)]
    update_result: BTreeMap<String, PersonResponse>,
}

/// The error of an input the API would refuse (a malformed resource name), as an item error.
fn invalid_item(error: &GoogleError) -> ItemError {
    ItemError::Api {
        // google.rpc.Code INVALID_ARGUMENT.
        code: 3,
        message: error.to_string(),
        disposition: Disposition::PermanentItem,
    }
}

/// A person as a create sends it: no identity of its own yet.
fn creatable(person: &Person) -> Person {
    Person {
        resource_name: String::new(),
        etag: None,
        metadata: None,
        ..person.clone()
    }
}

/// The checked resource name and the body of an update: it must carry the etag it was read
/// with, or Google refuses it.
fn update_body(name: &str, person: &Person) -> Result<(String, Value), GoogleError> {
    let name = resource_name("people", name)?;
    if person.etag.as_deref().is_none_or(str::is_empty) {
        return Err(GoogleError::Invalid(format!(
            "{name} has no etag; updates must send the etag they read"
        )));
    }
    let body = serde_json::to_value(person).map_err(|source| GoogleError::Decode {
        what: "person",
        source,
    })?;
    Ok((name, body))
}

fn checked_mask(mask: &str) -> Result<(), GoogleError> {
    if mask.split(',').any(|f| f.trim().is_empty()) {
        return Err(GoogleError::Invalid(format!(
            "update mask {mask:?} must list fields, comma-separated"
        )));
    }
    Ok(())
}

impl GoogleClient {
    /// Creates one contact and returns it as stored (with its resource name and etag). Not
    /// resent after a failure that may have reached Google: on such an error, look the contact
    /// up by its stamp ([`Self::find_by_client_data`]) before creating it again (C4).
    #[instrument(skip_all, fields(user = %user))]
    pub async fn create_contact(&self, user: &str, person: &Person) -> Result<Person, GoogleError> {
        let url = self.url("people:createContact", &[("personFields", PERSON_FIELDS)])?;
        let body =
            serde_json::to_value(creatable(person)).map_err(|source| GoogleError::Decode {
                what: "person",
                source,
            })?;
        self.mutate(user, Method::POST, url, Some(&body), false)
            .await?
            .json("created person")
    }

    /// Replaces the fields listed in `update_fields` (e.g. `names,emailAddresses,clientData`)
    /// with `person`'s; a listed field that `person` lacks is cleared. `person` must carry its
    /// resource name and the etag it was read with: a stale etag gives
    /// [`GoogleError::EtagMismatch`] (read again, merge, write again).
    #[instrument(skip_all, fields(user = %user, person = %person.resource_name))]
    pub async fn update_contact(
        &self,
        user: &str,
        person: &Person,
        update_fields: &str,
    ) -> Result<Person, GoogleError> {
        let (name, body) = update_body(&person.resource_name, person)?;
        checked_mask(update_fields)?;
        let url = self.url(
            &format!("{name}:updateContact"),
            &[
                ("updatePersonFields", update_fields),
                ("personFields", PERSON_FIELDS),
            ],
        )?;
        self.mutate(user, Method::PATCH, url, Some(&body), true)
            .await?
            .json("updated person")
    }

    /// Deletes one contact; one that is already gone counts as deleted.
    #[instrument(skip_all, fields(user = %user, person = %name))]
    pub async fn delete_contact(&self, user: &str, name: &str) -> Result<(), GoogleError> {
        let name = resource_name("people", name)?;
        let url = self.url(&format!("{name}:deleteContact"), &[])?;
        match self.mutate(user, Method::DELETE, url, None, true).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads contacts by resource name, 200 per request; one result per name, in input order
    /// (a contact that does not exist is an item error with code 5, NOT_FOUND).
    #[instrument(skip_all, fields(user = %user, people = names.len()))]
    pub async fn batch_get(&self, user: &str, names: &[String]) -> Vec<ItemResult<Person>> {
        let mut results = Vec::with_capacity(names.len());
        for chunk in names.chunks(MAX_BATCH_GET) {
            results.extend(self.batch_get_chunk(user, chunk).await);
        }
        results
    }

    async fn batch_get_chunk(&self, user: &str, names: &[String]) -> Vec<ItemResult<Person>> {
        let mut checked: Vec<Result<String, ItemError>> = names
            .iter()
            .map(|n| resource_name("people", n).map_err(|e| invalid_item(&e)))
            .collect();
        let mut query = vec![("personFields", PERSON_FIELDS)];
        query.extend(
            checked
                .iter()
                .filter_map(|c| c.as_ref().ok())
                .map(|n| ("resourceNames", n.as_str())),
        );
        if query.len() == 1 {
            return checked
                .into_iter()
                .map(|c| c.map(|_| Person::default()))
                .collect();
        }
        let reply: Result<BatchGetReply, GoogleError> = async {
            let url = self.url("people:batchGet", &query)?;
            self.send(user, Method::GET, url, None, true)
                .await?
                .json("batch get")
        }
        .await;
        let mut by_name: BTreeMap<String, ItemResult<Person>> = match reply {
            Ok(reply) => reply
                .responses
                .into_iter()
                .map(|r| {
                    (
                        r.requested_resource_name.clone().unwrap_or_default(),
                        r.outcome(),
                    )
                })
                .collect(),
            Err(e) => return fail_all(checked, e),
        };
        checked
            .drain(..)
            .map(|c| {
                let name = c?;
                by_name.remove(&name).unwrap_or(Err(ItemError::Missing))
            })
            .collect()
    }

    /// Creates contacts, 200 per request; one result per contact, in input order. A request that
    /// fails as a whole fails its contacts with [`ItemError::Request`]; when its disposition is
    /// not a retry the contacts may exist: look them up by stamp before creating again (C4).
    #[instrument(skip_all, fields(user = %user, people = people.len()))]
    pub async fn batch_create(&self, user: &str, people: &[Person]) -> Vec<ItemResult<Person>> {
        let mut results = Vec::with_capacity(people.len());
        for chunk in people.chunks(MAX_BATCH_CREATE) {
            let contacts: Vec<Value> = chunk
                .iter()
                .map(|p| json!({ "contactPerson": creatable(p) }))
                .collect();
            let body = json!({ "contacts": contacts, "readMask": PERSON_FIELDS });
            let reply: Result<BatchCreateReply, GoogleError> = self
                .post(
                    user,
                    "people:batchCreateContacts",
                    &body,
                    false,
                    "batch create",
                )
                .await;
            match reply {
                Ok(reply) => {
                    let mut created = reply.created_people.into_iter();
                    results.extend(chunk.iter().map(|_| {
                        created
                            .next()
                            .map_or(Err(ItemError::Missing), PersonResponse::outcome)
                    }));
                }
                Err(e) => {
                    results.extend(fail_all(chunk.iter().map(Ok::<_, ItemError>).collect(), e))
                }
            }
        }
        results
    }

    /// Updates contacts (resource name → person with its etag), 200 per request, replacing the
    /// fields of `update_mask` in each; one result per contact. A stale etag is
    /// [`ItemError::EtagMismatch`] for that contact only.
    #[instrument(skip_all, fields(user = %user, people = people.len()))]
    pub async fn batch_update(
        &self,
        user: &str,
        people: &BTreeMap<String, Person>,
        update_mask: &str,
    ) -> BTreeMap<String, ItemResult<Person>> {
        let mut results = BTreeMap::new();
        if let Err(e) = checked_mask(update_mask) {
            let e = Arc::new(e);
            return people
                .keys()
                .map(|k| (k.clone(), Err(ItemError::Request(e.clone()))))
                .collect();
        }
        let entries: Vec<(&String, &Person)> = people.iter().collect();
        for chunk in entries.chunks(MAX_BATCH_UPDATE) {
            let mut contacts = serde_json::Map::new();
            for (name, person) in chunk {
                match update_body(name, person) {
                    Ok((checked, value)) => {
                        contacts.insert(checked, value);
                    }
                    Err(e) => {
                        results.insert((*name).clone(), Err(invalid_item(&e)));
                    }
                }
            }
            if contacts.is_empty() {
                continue;
            }
            let body = json!({
                "contacts": contacts,
                "updateMask": update_mask,
                "readMask": PERSON_FIELDS,
            });
            let reply: Result<BatchUpdateReply, GoogleError> = self
                .post(
                    user,
                    "people:batchUpdateContacts",
                    &body,
                    true,
                    "batch update",
                )
                .await;
            match reply {
                Ok(mut reply) => {
                    for (name, _) in chunk {
                        if results.contains_key(*name) {
                            continue;
                        }
                        let outcome = resource_name("people", name)
                            .ok()
                            .and_then(|checked| reply.update_result.remove(&checked))
                            .map_or(Err(ItemError::Missing), PersonResponse::outcome);
                        results.insert((*name).clone(), outcome);
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for (name, _) in chunk {
                        results
                            .entry((*name).clone())
                            .or_insert_with(|| Err(ItemError::Request(e.clone())));
                    }
                }
            }
        }
        results
    }

    /// Deletes contacts, 500 per request; one result per name, in input order (Google answers
    /// a batch delete as a whole, so a failed request fails all of its names).
    #[instrument(skip_all, fields(user = %user, people = names.len()))]
    pub async fn batch_delete(&self, user: &str, names: &[String]) -> Vec<ItemResult<()>> {
        let mut results = Vec::with_capacity(names.len());
        for chunk in names.chunks(MAX_BATCH_DELETE) {
            let checked: Vec<Result<String, ItemError>> = chunk
                .iter()
                .map(|n| resource_name("people", n).map_err(|e| invalid_item(&e)))
                .collect();
            let valid: Vec<&String> = checked.iter().filter_map(|c| c.as_ref().ok()).collect();
            if valid.is_empty() {
                results.extend(checked.into_iter().map(|c| c.map(|_| ())));
                continue;
            }
            let body = json!({ "resourceNames": valid });
            let reply: Result<Value, GoogleError> = self
                .post(
                    user,
                    "people:batchDeleteContacts",
                    &body,
                    true,
                    "batch delete",
                )
                .await;
            match reply {
                Ok(_) => results.extend(checked.into_iter().map(|c| c.map(|_| ()))),
                Err(e) => results.extend(fail_all(checked, e)),
            }
        }
        results
    }
}

/// Every item of a failed request gets the request's error; items already refused before
/// sending keep their own.
fn fail_all<I, T>(items: Vec<Result<I, ItemError>>, error: GoogleError) -> Vec<ItemResult<T>> {
    let error = Arc::new(error);
    items
        .into_iter()
        .map(|item| match item {
            Ok(_) => Err(ItemError::Request(error.clone())),
            Err(own) => Err(own),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_person_response_is_the_person_or_its_status() {
        let ok: PersonResponse = serde_json::from_value(json!({
            "requestedResourceName": "people/c1", "httpStatusCode": 200,
            "person": {"resourceName": "people/c1", "etag": "%E1"}, "status": {}}))
        .unwrap();
        assert_eq!(ok.outcome().unwrap().etag.as_deref(), Some("%E1"));
        let missing: PersonResponse = serde_json::from_value(json!({
            "requestedResourceName": "people/c2",
            "status": {"code": 5, "message": "Requested entity was not found."}}))
        .unwrap();
        let err = missing.outcome().unwrap_err();
        assert_eq!(err.disposition(), Disposition::PermanentItem);
        assert!(err.to_string().contains("not found"), "{err}");
    }

    #[test]
    fn a_create_sends_no_identity() {
        let person = Person {
            resource_name: "people/c1".into(),
            etag: Some("%E".into()),
            ..Person::default()
        };
        assert_eq!(serde_json::to_value(creatable(&person)).unwrap(), json!({}));
    }

    #[test]
    fn a_mask_must_list_fields() {
        assert!(checked_mask("names,clientData").is_ok());
        assert!(checked_mask("").is_err());
        assert!(checked_mask("names,,clientData").is_err());
    }
}
