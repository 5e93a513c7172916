//! Contact writes: create, get, update with etags and mask replace, delete, the batch methods
//! and their limits (reference §3, §4, §9.2, §9.4).

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn create_get_update_delete_with_etags() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let created = emu
        .post(
            &token,
            "/v1/people:createContact?personFields=names,phoneNumbers,clientData,memberships,metadata",
            json!({
                "names": [{"givenName": "Ada", "familyName": "Lovelace"}],
                "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}],
                "clientData": [{"key": "sfdcId", "value": "003000000000001"}],
                "emailAddresses": [],
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let person = created.body;
    let name = person["resourceName"].as_str().expect("name").to_owned();
    assert!(name.starts_with("people/c"));
    assert_eq!(person["names"][0]["displayName"], "Ada Lovelace");
    assert_eq!(person["names"][0]["metadata"]["primary"], true);
    assert!(
        person.get("emailAddresses").is_none(),
        "empty fields are omitted"
    );
    assert_eq!(
        person["memberships"][0]["contactGroupMembership"]["contactGroupResourceName"],
        "contactGroups/myContacts"
    );
    assert_eq!(
        person["memberships"][0]["contactGroupMembership"]["contactGroupId"],
        "myContacts"
    );
    let source = &person["metadata"]["sources"][0];
    assert_eq!(source["type"], "CONTACT");
    assert!(
        source["updateTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let got = emu
        .get(&token, &format!("/v1/{name}?personFields=names,clientData"))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["etag"], person["etag"]);
    assert_eq!(got.body["clientData"][0]["value"], "003000000000001");
    assert!(
        got.body.get("phoneNumbers").is_none(),
        "only the requested fields"
    );
    let r = emu.get(&token, &format!("/v1/{name}")).await;
    assert_eq!(r.status, 400, "personFields is required on get");

    // Replace semantics: names replaced, phoneNumbers listed but absent → cleared.
    let updated = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact?updatePersonFields=names,phoneNumbers&personFields=names,phoneNumbers,clientData,metadata"),
            json!({"etag": person["etag"], "names": [{"givenName": "Augusta"}]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["names"][0]["givenName"], "Augusta");
    assert!(updated.body["names"][0].get("familyName").is_none());
    assert!(updated.body.get("phoneNumbers").is_none());
    assert_eq!(
        updated.body["clientData"][0]["key"], "sfdcId",
        "unlisted fields stay"
    );
    assert_ne!(updated.body["etag"], person["etag"]);
    assert_ne!(
        updated.body["metadata"]["sources"][0]["updateTime"],
        Value::Null
    );

    // The source etag in metadata is accepted instead of the person etag.
    let by_source = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact?updatePersonFields=biographies&personFields=names,biographies,metadata"),
            json!({"metadata": {"sources": [{"type": "CONTACT", "etag": updated.body["metadata"]["sources"][0]["etag"]}]},
                   "biographies": [{"value": "Analyst", "contentType": "TEXT_PLAIN"}]}),
        )
        .await;
    assert_eq!(by_source.status, 200, "{}", by_source.body);
    assert_eq!(by_source.body["biographies"][0]["value"], "Analyst");
    let updated = by_source;

    // The old etag is now stale.
    let stale = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact?updatePersonFields=names"),
            json!({"etag": person["etag"], "names": [{"givenName": "Again"}]}),
        )
        .await;
    assert_eq!(stale.status, 400);
    assert_eq!(stale.status_name(), "FAILED_PRECONDITION");
    assert_eq!(
        stale.message(),
        "Request person.etag is different than the current person.etag. Clear local cache and get the latest person."
    );
    let no_etag = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact?updatePersonFields=names"),
            json!({"names": []}),
        )
        .await;
    assert_eq!(no_etag.status, 400);
    let no_mask = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact"),
            json!({"etag": updated.body["etag"]}),
        )
        .await;
    assert_eq!(no_mask.status, 400);
    let two_names = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact?updatePersonFields=names"),
            json!({"etag": updated.body["etag"], "names": [{"givenName": "A"}, {"givenName": "B"}]}),
        )
        .await;
    assert_eq!(two_names.status, 400);
    assert_eq!(
        two_names.message(),
        "Cannot have more than one person.names per source."
    );
    let no_groups = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact?updatePersonFields=memberships"),
            json!({"etag": updated.body["etag"], "memberships": []}),
        )
        .await;
    assert_eq!(no_groups.status, 400, "a contact keeps at least one group");

    assert_eq!(
        emu.delete(&token, &format!("/v1/{name}:deleteContact"))
            .await
            .status,
        200
    );
    let gone = emu
        .get(&token, &format!("/v1/{name}?personFields=names"))
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.status_name(), "NOT_FOUND");
    assert_eq!(gone.message(), "Requested entity was not found.");
    assert_eq!(
        emu.delete(&token, &format!("/v1/{name}:deleteContact"))
            .await
            .status,
        404
    );
    let unknown = emu.get(&token, "/v1/people/c123?personFields=names").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn bad_bodies_get_invalid_argument() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let r = emu
        .post(&token, "/v1/people:createContact", json!({"nmes": []}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("Unknown name \"nmes\""), "{}", r.body);
    let r = emu
        .post(
            &token,
            "/v1/people:createContact",
            json!({"names": {"givenName": "x"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = emu
        .post(
            &token,
            "/v1/people:createContact",
            json!({"memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/friends"}}]}),
        )
        .await;
    assert_eq!(r.status, 400, "deprecated system group");
}

/// `people:batchCreateContacts` of `n` named contacts, names read back.
async fn batch_create(emu: &Emu, token: &str, n: usize) -> Resp {
    let contacts: Vec<Value> = (0..n)
        .map(|i| json!({"contactPerson": {"names": [{"givenName": format!("B{i}")}]}}))
        .collect();
    emu.post(
        token,
        "/v1/people:batchCreateContacts",
        json!({"contacts": contacts, "readMask": "names"}),
    )
    .await
}

#[tokio::test]
async fn batch_create_update_delete_and_get() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let r = batch_create(&emu, &token, 200).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let created = r.body["createdPeople"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(created.len(), 200);
    assert_eq!(created[0]["httpStatusCode"], 200);
    assert_eq!(created[0]["person"]["names"][0]["givenName"], "B0");

    // An empty readMask returns no data beyond the name and etag.
    let r = emu
        .post(
            &token,
            "/v1/people:batchCreateContacts",
            json!({"contacts": [{"contactPerson": {"names": [{"givenName": "Quiet"}]}}], "readMask": ""}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["createdPeople"][0]["person"].get("names").is_none());
    assert!(r.body["createdPeople"][0]["person"]["resourceName"].is_string());

    let names: Vec<String> = created
        .iter()
        .map(|p| {
            p["person"]["resourceName"]
                .as_str()
                .expect("name")
                .to_owned()
        })
        .collect();
    let query: String = names[..3]
        .iter()
        .map(|n| format!("&resourceNames={n}"))
        .collect();
    let got = emu
        .get(
            &token,
            &format!("/v1/people:batchGet?personFields=names{query}&resourceNames=people/c42"),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let responses = got.body["responses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(responses.len(), 4);
    assert_eq!(responses[0]["requestedResourceName"], names[0]);
    assert_eq!(responses[3]["httpStatusCode"], 404);
    assert_eq!(responses[3]["status"]["code"], 5);

    let updates: serde_json::Map<String, Value> = created[..2]
        .iter()
        .map(|p| {
            let person = &p["person"];
            (
                person["resourceName"].as_str().expect("name").to_owned(),
                json!({"etag": person["etag"], "names": [{"givenName": "Updated"}]}),
            )
        })
        .collect();
    let r = emu
        .post(
            &token,
            "/v1/people:batchUpdateContacts",
            json!({"contacts": updates, "updateMask": "names", "readMask": "names"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["updateResult"][&names[0]]["person"]["names"][0]["givenName"],
        "Updated"
    );
    // The same etags again are stale: the whole call fails, nothing changes.
    let r = emu
        .post(
            &token,
            "/v1/people:batchUpdateContacts",
            json!({"contacts": updates, "updateMask": "names", "readMask": "names"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.status_name(), "FAILED_PRECONDITION");

    let r = emu
        .post(
            &token,
            "/v1/people:batchDeleteContacts",
            json!({"resourceNames": names[..100]}),
        )
        .await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    let list = emu
        .get(
            &token,
            "/v1/people/me/connections?personFields=names&pageSize=1000",
        )
        .await;
    assert_eq!(list.body["totalItems"], 101);
}

#[tokio::test]
async fn batch_limits_answer_400() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let r = batch_create(&emu, &token, 201).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.status_name(), "INVALID_ARGUMENT");
    let names: Vec<String> = (0..501).map(|i| format!("people/c{i}")).collect();
    let r = emu
        .post(
            &token,
            "/v1/people:batchDeleteContacts",
            json!({"resourceNames": names}),
        )
        .await;
    assert_eq!(r.status, 400);
    let updates: serde_json::Map<String, Value> = (0..201)
        .map(|i| (format!("people/c{i}"), json!({"etag": "x"})))
        .collect();
    let r = emu
        .post(
            &token,
            "/v1/people:batchUpdateContacts",
            json!({"contacts": updates, "updateMask": "names", "readMask": ""}),
        )
        .await;
    assert_eq!(r.status, 400);
    let query: String = (0..201)
        .map(|i| format!("&resourceNames=people/c{i}"))
        .collect();
    let r = emu
        .get(
            &token,
            &format!("/v1/people:batchGet?personFields=names{query}"),
        )
        .await;
    assert_eq!(r.status, 400);
    // Unknown contacts in a batch delete: 404, nothing deleted.
    let keep = emu.create(&token, "Keep").await;
    let r = emu
        .post(
            &token,
            "/v1/people:batchDeleteContacts",
            json!({"resourceNames": [keep["resourceName"], "people/c1"]}),
        )
        .await;
    assert_eq!(r.status, 404);
    let still = emu
        .get(
            &token,
            &format!(
                "/v1/{}?personFields=names",
                keep["resourceName"].as_str().expect("n")
            ),
        )
        .await;
    assert_eq!(still.status, 200);
}
