//! The Gmail side of the harness's mailbox (G1): what a person using Google Contacts does, through
//! the Gmail emulator's real People API v1 (bearer token from its control API), written from the
//! wire contract (`reference/people-contract.md`) and not with the product's Google client or
//! mapping, so a misreading of the API cannot hide on both sides at once.
//!
//! Contacts are read back in Graph's shape ([`to_graph`]), the shape the suites assert on: the
//! "Salesforce Contacts" group is the folder (`folderDisplayName`), the "Salesforce" group the
//! category (`categories`). Edits come in Graph's shape too ([`to_person`], [`person_field`]).

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::mailbox::{CATEGORY, SYNC_FOLDER};
use super::{Stack, TestUser};

/// Every person field the harness reads.
const PERSON_FIELDS: &str = "names,emailAddresses,phoneNumbers,organizations,addresses,birthdays,\
                             biographies,memberships,clientData";
/// The system group every contact made in Google Contacts joins.
const MY_CONTACTS: &str = "contactGroups/myContacts";
/// The People API's largest page (connections and groups).
const PAGE_SIZE: u32 = 1000;

impl Stack {
    /// A People API call as the user (`{gmail_url}/v1/{path}`); an answer of 300 or more is an
    /// error naming the call.
    async fn people(
        &self,
        user: &TestUser,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/v1/{path}", self.gmail_url);
        let what = format!("people {method} {path}");
        self.api(&what, method, &url, &user.mailbox_token, body)
            .await
    }

    /// Every contact group of the user (system ones included), all pages.
    async fn gmail_groups(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        let mut groups = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut path = format!("contactGroups?pageSize={PAGE_SIZE}");
            if let Some(token) = &page {
                path.push_str(&format!("&pageToken={token}"));
            }
            let mut answer = self.people(user, Method::GET, &path, None).await?;
            if let Some(Value::Array(items)) = answer.get_mut("contactGroups").map(Value::take) {
                groups.extend(items);
            }
            match answer["nextPageToken"].as_str() {
                Some(token) if !token.is_empty() => page = Some(token.to_owned()),
                _ => return Ok(groups),
            }
        }
    }

    /// The names of the user's own contact groups (not the system ones).
    pub(super) async fn gmail_group_names(&self, user: &TestUser) -> anyhow::Result<Vec<String>> {
        Ok(self
            .gmail_groups(user)
            .await?
            .iter()
            .filter(|g| g["groupType"] == "USER_CONTACT_GROUP")
            .filter_map(|g| g["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// The `resourceName` of the user's group called `name`, if there is one.
    pub(super) async fn gmail_group_id(
        &self,
        user: &TestUser,
        name: &str,
    ) -> anyhow::Result<Option<String>> {
        Ok(self
            .gmail_groups(user)
            .await?
            .iter()
            .find(|g| g["groupType"] == "USER_CONTACT_GROUP" && g["name"] == name)
            .and_then(|g| g["resourceName"].as_str().map(str::to_owned)))
    }

    /// Creates the contact group `name`; returns its `resourceName`.
    pub(super) async fn gmail_create_group(
        &self,
        user: &TestUser,
        name: &str,
    ) -> anyhow::Result<String> {
        let group = self
            .people(
                user,
                Method::POST,
                "contactGroups",
                Some(json!({"contactGroup": {"name": name}})),
            )
            .await?;
        Ok(group["resourceName"]
            .as_str()
            .context("the created group's resourceName")?
            .to_owned())
    }

    /// Deletes a contact group, keeping its contacts.
    pub(super) async fn gmail_delete_group(
        &self,
        user: &TestUser,
        group: &str,
    ) -> anyhow::Result<()> {
        self.people(
            user,
            Method::DELETE,
            &format!("{group}?deleteContacts=false"),
            None,
        )
        .await?;
        Ok(())
    }

    /// Adds contacts to a group and removes others (`members:modify`).
    pub(super) async fn gmail_modify(
        &self,
        user: &TestUser,
        group: &str,
        add: &[&str],
        remove: &[&str],
    ) -> anyhow::Result<()> {
        let answer = self
            .people(
                user,
                Method::POST,
                &format!("{group}/members:modify"),
                Some(json!({"resourceNamesToAdd": add, "resourceNamesToRemove": remove})),
            )
            .await?;
        for refused in [
            "notFoundResourceNames",
            "canNotRemoveLastContactGroupResourceNames",
        ] {
            if answer[refused].as_array().is_some_and(|a| !a.is_empty()) {
                bail!("members:modify of {group}: {answer}");
            }
        }
        Ok(())
    }

    /// Every contact of the user in Graph's shape ([`to_graph`]), all pages.
    pub(super) async fn gmail_contacts(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        let groups: HashMap<String, String> = self
            .gmail_groups(user)
            .await?
            .iter()
            .filter_map(|g| {
                Some((
                    g["resourceName"].as_str()?.to_owned(),
                    g["name"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let mut contacts = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut path =
                format!("people/me/connections?personFields={PERSON_FIELDS}&pageSize={PAGE_SIZE}");
            if let Some(token) = &page {
                path.push_str(&format!("&pageToken={token}"));
            }
            let answer = self.people(user, Method::GET, &path, None).await?;
            contacts.extend(
                answer["connections"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["metadata"]["deleted"] != true)
                    .map(|p| to_graph(p, &groups)),
            );
            match answer["nextPageToken"].as_str() {
                Some(token) if !token.is_empty() => page = Some(token.to_owned()),
                _ => return Ok(contacts),
            }
        }
    }

    /// One person as stored now (with its etag), by `people:batchGet`.
    async fn gmail_person(&self, user: &TestUser, id: &str) -> anyhow::Result<Value> {
        let mut answer = self
            .people(
                user,
                Method::GET,
                &format!("people:batchGet?resourceNames={id}&personFields={PERSON_FIELDS}"),
                None,
            )
            .await?;
        let response = answer["responses"]
            .get_mut(0)
            .map(Value::take)
            .with_context(|| format!("batchGet {id}: no response"))?;
        if response["person"].is_null() {
            bail!("batchGet {id}: {response}");
        }
        Ok(response["person"].clone())
    }

    /// Creates a contact (Graph's shape) in the group `folder`, or in "My Contacts" alone; a
    /// `categories` with "Salesforce" puts it in that group too (made if the user has none yet,
    /// as labelling a contact in Google Contacts does).
    pub(super) async fn gmail_create(
        &self,
        user: &TestUser,
        folder: Option<&str>,
        contact: &Value,
    ) -> anyhow::Result<String> {
        let mut groups = vec![MY_CONTACTS.to_owned()];
        groups.extend(folder.map(str::to_owned));
        if has_category(contact) {
            groups.push(self.gmail_category_group(user).await?);
        }
        for key in contact.as_object().into_iter().flatten().map(|(k, _)| k) {
            if key != "categories" && person_field(key).is_none() {
                bail!("the harness maps no People field for Graph's {key}");
            }
        }
        let mut person = to_person(contact);
        person.retain(|_, v| v.as_array().is_none_or(|a| !a.is_empty()));
        person.insert(
            "memberships".into(),
            groups
                .iter()
                .map(|g| json!({"contactGroupMembership": {"contactGroupResourceName": g}}))
                .collect(),
        );
        let created = self
            .people(
                user,
                Method::POST,
                "people:createContact?personFields=names",
                Some(Value::Object(person)),
            )
            .await?;
        Ok(created["resourceName"]
            .as_str()
            .context("the created contact's resourceName")?
            .to_owned())
    }

    /// Edits a contact with a patch in Graph's shape: `updateContact` with the current etag and
    /// the person fields the patch touches; `categories` through the "Salesforce" group.
    pub(super) async fn gmail_edit(
        &self,
        user: &TestUser,
        id: &str,
        patch: &Value,
    ) -> anyhow::Result<()> {
        let patch = patch.as_object().context("a patch is an object")?;
        let mut mask = BTreeSet::new();
        for key in patch.keys().filter(|k| *k != "categories") {
            mask.insert(
                person_field(key)
                    .with_context(|| format!("the harness maps no People field for {key}"))?,
            );
        }
        if !mask.is_empty() {
            let current = self.gmail_person(user, id).await?;
            let mut merged = to_graph(&current, &HashMap::new());
            for (key, value) in patch {
                merged[key] = value.clone();
            }
            let mut person = to_person(&merged);
            person.retain(|field, _| mask.contains(field.as_str()));
            person.insert("etag".into(), current["etag"].clone());
            let mask = mask.into_iter().collect::<Vec<_>>().join(",");
            self.people(
                user,
                Method::PATCH,
                &format!("{id}:updateContact?updatePersonFields={mask}&personFields=names"),
                Some(Value::Object(person)),
            )
            .await?;
        }
        if let Some(categories) = patch.get("categories") {
            let on = has_category(&json!({ "categories": categories }));
            self.gmail_set_category(user, id, on).await?;
        }
        Ok(())
    }

    /// Deletes a contact.
    pub(super) async fn gmail_delete(&self, user: &TestUser, id: &str) -> anyhow::Result<()> {
        self.people(user, Method::DELETE, &format!("{id}:deleteContact"), None)
            .await?;
        Ok(())
    }

    /// Puts a contact in the "Salesforce" group or takes it out.
    pub(super) async fn gmail_set_category(
        &self,
        user: &TestUser,
        id: &str,
        on: bool,
    ) -> anyhow::Result<()> {
        let group = self.gmail_category_group(user).await?;
        if on {
            self.gmail_modify(user, &group, &[id], &[]).await
        } else {
            self.gmail_modify(user, &group, &[], &[id]).await
        }
    }

    /// The "Salesforce" group, made if missing.
    async fn gmail_category_group(&self, user: &TestUser) -> anyhow::Result<String> {
        match self.gmail_group_id(user, CATEGORY).await? {
            Some(group) => Ok(group),
            None => self.gmail_create_group(user, CATEGORY).await,
        }
    }
}

/// Whether a Graph-shaped contact has the category.
fn has_category(contact: &Value) -> bool {
    contact["categories"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c == CATEGORY))
}

/// The person field that holds a Graph field.
fn person_field(graph_field: &str) -> Option<&'static str> {
    Some(match graph_field {
        "givenName" | "surname" | "title" => "names",
        "emailAddresses" => "emailAddresses",
        "businessPhones" | "mobilePhone" | "homePhones" => "phoneNumbers",
        "companyName" | "jobTitle" | "department" => "organizations",
        "businessAddress" | "homeAddress" => "addresses",
        "birthday" => "birthdays",
        "personalNotes" => "biographies",
        _ => return None,
    })
}

/// Graph's address keys and the People API's, in that order.
const ADDRESS_KEYS: [(&str, &str); 5] = [
    ("street", "streetAddress"),
    ("city", "city"),
    ("state", "region"),
    ("postalCode", "postalCode"),
    ("countryOrRegion", "country"),
];
/// Graph's address fields and the People API's address `type`.
const ADDRESSES: [(&str, &str); 2] = [("businessAddress", "work"), ("homeAddress", "home")];

/// A person as Graph would show the contact: `groups` maps group `resourceName`s to their names.
/// Lists are always there (`[]` when empty) as in Graph; other fields only when set.
fn to_graph(person: &Value, groups: &HashMap<String, String>) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: &Value| {
        if value.as_str().is_some_and(|s| !s.is_empty()) {
            out.insert(key.to_owned(), value.clone());
        }
    };
    let name = &person["names"][0];
    put("id", &person["resourceName"]);
    put("etag", &person["etag"]);
    put("givenName", &name["givenName"]);
    put("surname", &name["familyName"]);
    put("title", &name["honorificPrefix"]);
    put("displayName", &name["displayName"]);
    let organization = &person["organizations"][0];
    put("companyName", &organization["name"]);
    put("jobTitle", &organization["title"]);
    put("department", &organization["department"]);
    put("personalNotes", &person["biographies"][0]["value"]);
    let items = |field: &str| person[field].as_array().cloned().unwrap_or_default();
    let phones = |kind: &str| -> Vec<Value> {
        items("phoneNumbers")
            .into_iter()
            .filter(|p| p["type"] == kind)
            .map(|p| p["value"].clone())
            .collect()
    };
    if let Some(mobile) = phones("mobile").first() {
        put("mobilePhone", mobile);
    }
    out.insert("businessPhones".into(), phones("work").into());
    out.insert("homePhones".into(), phones("home").into());
    let emails: Vec<Value> = items("emailAddresses")
        .iter()
        .map(|e| json!({"address": e["value"], "name": e["displayName"].as_str().unwrap_or("")}))
        .collect();
    out.insert("emailAddresses".into(), emails.into());
    for (field, kind) in ADDRESSES {
        if let Some(address) = items("addresses").iter().find(|a| a["type"] == kind) {
            let graph: Map<String, Value> = ADDRESS_KEYS
                .iter()
                .filter(|(_, people)| !address[*people].is_null())
                .map(|(graph, people)| ((*graph).to_owned(), address[*people].clone()))
                .collect();
            out.insert(field.to_owned(), graph.into());
        }
    }
    let date = &person["birthdays"][0]["date"];
    if let (Some(y), Some(m), Some(d)) = (
        date["year"].as_u64(),
        date["month"].as_u64(),
        date["day"].as_u64(),
    ) {
        out.insert("birthday".into(), json!(format!("{y:04}-{m:02}-{d:02}")));
    }
    let member_of: Vec<&str> = items("memberships")
        .iter()
        .filter_map(|m| m["contactGroupMembership"]["contactGroupResourceName"].as_str())
        .filter_map(|g| groups.get(g).map(String::as_str))
        .collect();
    let categories: Vec<&str> = member_of
        .iter()
        .copied()
        .filter(|g| *g == CATEGORY)
        .collect();
    out.insert("categories".into(), json!(categories));
    // The folder: the sync group first, else another group of the user's, else the default.
    let folder = if member_of.contains(&SYNC_FOLDER) {
        SYNC_FOLDER
    } else {
        member_of
            .iter()
            .copied()
            .find(|g| *g != CATEGORY && !is_system_name(g))
            .unwrap_or("Contacts")
    };
    out.insert("folderDisplayName".into(), json!(folder));
    out.insert("groups".into(), json!(member_of));
    out.insert("clientData".into(), json!(items("clientData")));
    Value::Object(out)
}

/// The system groups' names ("myContacts", "starred", …) as the API names them.
fn is_system_name(name: &str) -> bool {
    matches!(
        name,
        "myContacts"
            | "starred"
            | "friends"
            | "family"
            | "coworkers"
            | "chatBuddies"
            | "all"
            | "blocked"
    )
}

/// The person fields that hold a Graph-shaped contact: every list field, `[]` when empty (so an
/// update of it clears it).
fn to_person(contact: &Value) -> Map<String, Value> {
    let text = |key: &str| contact[key].as_str().filter(|s| !s.is_empty());
    let mut person = Map::new();
    let object = |pairs: &[(&str, Option<&str>)]| -> Option<Value> {
        let map: Map<String, Value> = pairs
            .iter()
            .filter_map(|(k, v)| Some(((*k).to_owned(), json!((*v)?))))
            .collect();
        (!map.is_empty()).then_some(Value::Object(map))
    };
    let names = object(&[
        ("givenName", text("givenName")),
        ("familyName", text("surname")),
        ("honorificPrefix", text("title")),
    ]);
    person.insert("names".into(), json!(names.into_iter().collect::<Vec<_>>()));
    let organizations = object(&[
        ("name", text("companyName")),
        ("title", text("jobTitle")),
        ("department", text("department")),
    ]);
    person.insert(
        "organizations".into(),
        json!(organizations.into_iter().collect::<Vec<_>>()),
    );
    let emails: Vec<Value> = contact["emailAddresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let mut email = json!({"value": e["address"].as_str()?});
            if let Some(name) = e["name"].as_str().filter(|n| !n.is_empty()) {
                email["displayName"] = json!(name);
            }
            Some(email)
        })
        .collect();
    person.insert("emailAddresses".into(), emails.into());
    let strings = |key: &str| -> Vec<String> {
        match &contact[key] {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::String(s) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let phones: Vec<Value> = [
        ("businessPhones", "work"),
        ("mobilePhone", "mobile"),
        ("homePhones", "home"),
    ]
    .iter()
    .flat_map(|(key, kind)| {
        strings(key)
            .into_iter()
            .map(move |value| json!({"value": value, "type": kind}))
    })
    .collect();
    person.insert("phoneNumbers".into(), phones.into());
    let addresses: Vec<Value> = ADDRESSES
        .iter()
        .filter_map(|(field, kind)| {
            let address = contact[*field].as_object()?;
            let mut people: Map<String, Value> = ADDRESS_KEYS
                .iter()
                .filter_map(|(graph, people)| {
                    let value = address.get(*graph)?.as_str().filter(|s| !s.is_empty())?;
                    Some(((*people).to_owned(), json!(value)))
                })
                .collect();
            (!people.is_empty()).then(|| {
                people.insert("type".into(), json!(kind));
                Value::Object(people)
            })
        })
        .collect();
    person.insert("addresses".into(), addresses.into());
    let birthday = text("birthday").and_then(|b| {
        let mut parts = b.get(..10)?.split('-').map(|p| p.parse::<u32>().ok());
        let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
        Some(json!({"date": {"year": year, "month": month, "day": day}}))
    });
    person.insert(
        "birthdays".into(),
        json!(birthday.into_iter().collect::<Vec<_>>()),
    );
    let notes = text("personalNotes").map(|n| json!({"value": n, "contentType": "TEXT_PLAIN"}));
    person.insert(
        "biographies".into(),
        json!(notes.into_iter().collect::<Vec<_>>()),
    );
    person
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> HashMap<String, String> {
        [
            ("contactGroups/a1", SYNC_FOLDER),
            ("contactGroups/b2", CATEGORY),
            ("contactGroups/c3", "Family"),
            (MY_CONTACTS, "myContacts"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn member(group: &str) -> Value {
        json!({"contactGroupMembership": {"contactGroupResourceName": group}})
    }

    #[test]
    fn a_graph_contact_becomes_a_person_and_reads_back_the_same() {
        let contact = json!({"givenName": "Ada", "surname": "Lovelace", "title": "Lady",
            "companyName": "Analytical Engines", "jobTitle": "Countess", "department": "Maths",
            "emailAddresses": [{"address": "ada@example.com", "name": "Ada"}],
            "businessPhones": ["+44 20 1234"], "mobilePhone": "+44 77 1", "homePhones": [],
            "businessAddress": {"street": "1 Main St", "city": "London"},
            "birthday": "1815-12-10T11:59:00Z", "personalNotes": "Notes"});
        let mut person = Value::Object(to_person(&contact));
        person["resourceName"] = json!("people/c1");
        person["memberships"] = json!([member("contactGroups/a1"), member("contactGroups/b2")]);
        let back = to_graph(&person, &groups());
        for key in [
            "givenName",
            "surname",
            "title",
            "companyName",
            "jobTitle",
            "department",
            "emailAddresses",
            "businessPhones",
            "mobilePhone",
            "homePhones",
            "businessAddress",
            "personalNotes",
        ] {
            assert_eq!(back[key], contact[key], "{key}: {back}");
        }
        assert_eq!(back["birthday"], "1815-12-10");
        assert_eq!(back["id"], "people/c1");
        assert_eq!(back["categories"], json!([CATEGORY]));
        assert_eq!(back["folderDisplayName"], SYNC_FOLDER);
    }

    #[test]
    fn a_contact_outside_the_sync_group_is_in_its_own_group_or_the_default_folder() {
        let family = json!({"resourceName": "people/c2",
            "memberships": [member(MY_CONTACTS), member("contactGroups/c3")]});
        let graph = to_graph(&family, &groups());
        assert_eq!(graph["folderDisplayName"], "Family");
        assert_eq!(graph["categories"], json!([]));
        let alone = json!({"resourceName": "people/c3", "memberships": [member(MY_CONTACTS)]});
        assert_eq!(to_graph(&alone, &groups())["folderDisplayName"], "Contacts");
        let categorized = json!({"resourceName": "people/c4",
            "memberships": [member(MY_CONTACTS), member("contactGroups/b2")]});
        let graph = to_graph(&categorized, &groups());
        assert_eq!(graph["folderDisplayName"], "Contacts");
        assert_eq!(graph["categories"], json!([CATEGORY]));
    }

    #[test]
    fn cleared_fields_become_empty_lists_so_an_update_clears_them() {
        let person =
            to_person(&json!({"surname": "Batty", "businessPhones": [], "jobTitle": null}));
        assert_eq!(person["phoneNumbers"], json!([]));
        assert_eq!(person["organizations"], json!([]));
        assert_eq!(person["names"], json!([{"familyName": "Batty"}]));
    }

    #[test]
    fn every_graph_field_the_suites_write_has_a_person_field() {
        for key in [
            "givenName",
            "jobTitle",
            "emailAddresses",
            "businessPhones",
            "department",
        ] {
            assert!(person_field(key).is_some(), "{key}");
        }
        assert_eq!(person_field("categories"), None);
    }
}
