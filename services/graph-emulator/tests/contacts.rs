//! Contacts: CRUD, the full property set, change keys, displayName regeneration, limits, ids,
//! paging, extended properties and the missing move (reference §3, §6; checklist item 4, 7).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const SF_PROP: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SalesforceId";

#[tokio::test]
async fn create_returns_201_with_the_full_property_set_and_get_reads_it_back() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let r = emu.post("/v1.0/users/u1/contacts", pavel()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let c = &r.body;
    assert_eq!(c["displayName"], "Pavel Bansky");
    assert_eq!(
        c["emailAddresses"],
        json!([{"name": "Pavel Bansky", "address": "pavelb@fabrikam.onmicrosoft.com"}])
    );
    // Unset strings are null, unset collections [] and unset addresses {} (API-created contact).
    assert_eq!(c["jobTitle"], Value::Null);
    assert_eq!(c["homePhones"], json!([]));
    assert_eq!(c["homeAddress"], json!({}));
    for property in [
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "categories",
        "parentFolderId",
        "birthday",
        "fileAs",
        "givenName",
        "initials",
        "middleName",
        "nickName",
        "surname",
        "title",
        "yomiGivenName",
        "yomiSurname",
        "yomiCompanyName",
        "generation",
        "imAddresses",
        "companyName",
        "department",
        "officeLocation",
        "profession",
        "businessHomePage",
        "assistantName",
        "manager",
        "mobilePhone",
        "businessPhones",
        "spouseName",
        "personalNotes",
        "children",
        "businessAddress",
        "otherAddress",
    ] {
        assert!(c.get(property).is_some(), "missing {property}");
    }
    let change_key = c["changeKey"].as_str().expect("changeKey");
    assert_eq!(c["@odata.etag"], format!("W/\"{change_key}\""));
    let id = c["id"].as_str().expect("id");
    let folder = emu.get("/v1.0/users/u1/contactFolders/contacts").await;
    assert_eq!(c["parentFolderId"], folder.body["id"]);
    let got = emu
        .get(&format!("/v1.0/users/u1/contacts/{}", enc(id)))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["surname"], "Bansky");
    assert_eq!(got.body["changeKey"], c["changeKey"]);
    assert!(
        got.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert!(got.header("request-id").is_some());
}

#[tokio::test]
async fn patch_advances_change_key_etag_and_modification_time_and_keeps_other_values() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let path = format!(
        "/v1.0/users/u1/contacts/{}",
        enc(created["id"].as_str().expect("id"))
    );
    let r = emu
        .patch(&path, json!({"homeAddress": {"street": "123 Some street", "city": "Seattle", "state": "WA", "postalCode": "98121"}, "birthday": "1974-07-22"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_ne!(r.body["changeKey"], created["changeKey"]);
    assert_ne!(r.body["@odata.etag"], created["@odata.etag"]);
    assert!(r.body["lastModifiedDateTime"].as_str() > created["lastModifiedDateTime"].as_str());
    assert_eq!(r.body["homeAddress"]["city"], "Seattle");
    assert_eq!(r.body["birthday"], "1974-07-22T11:59:00Z");
    assert_eq!(r.body["surname"], "Bansky");
    assert_eq!(r.body["businessPhones"], json!(["+1 732 555 0102"]));
    // A second PATCH advances again, and collections are replaced whole.
    let again = emu.patch(&path, json!({"businessPhones": []})).await;
    assert_ne!(again.body["changeKey"], r.body["changeKey"]);
    assert!(again.body["lastModifiedDateTime"].as_str() > r.body["lastModifiedDateTime"].as_str());
    assert_eq!(again.body["businessPhones"], json!([]));
}

#[tokio::test]
async fn display_name_is_regenerated_when_a_name_part_changes_without_it() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu
        .post("/v1.0/users/u1/contacts", json!({"givenName": "Zz", "surname": "Test MCP", "displayName": "Zz Test MCP (temporaneo)"}))
        .await
        .body;
    assert_eq!(created["displayName"], "Zz Test MCP (temporaneo)");
    let path = format!(
        "/v1.0/users/u1/contacts/{}",
        enc(created["id"].as_str().expect("id"))
    );
    let r = emu.patch(&path, json!({"givenName": "Qq"})).await;
    assert_eq!(r.body["displayName"], "Qq Test MCP");
    let kept = emu
        .patch(&path, json!({"givenName": "Rr", "displayName": "Custom"}))
        .await;
    assert_eq!(kept.body["displayName"], "Custom");
}

#[tokio::test]
async fn collection_limits_answer_400_with_the_exchange_message() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let emails: Vec<Value> = (0..4)
        .map(|i| json!({"address": format!("a{i}@x.com")}))
        .collect();
    let r = emu
        .post(
            "/v1.0/users/u1/contacts",
            json!({"surname": "X", "emailAddresses": emails}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["error"]["message"],
        "The multi value property EmailAddresses has 4 entries, that exceeds the max allowed value of 3"
    );
    let r = emu
        .post(
            "/v1.0/users/u1/contacts",
            json!({"surname": "X", "businessPhones": ["1", "2", "3"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("BusinessPhones has 3 entries")
    );
    let ok = emu
        .post(
            "/v1.0/users/u1/contacts",
            json!({"surname": "X", "businessPhones": ["1", "2"]}),
        )
        .await;
    assert_eq!(ok.status, 201);
    let state = emu.state("u1").await;
    assert_eq!(state.len(), 1, "rejected creates left nothing behind");
}

#[tokio::test]
async fn missing_and_malformed_ids_and_move_answer_like_exchange() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let id = created["id"].as_str().expect("id");
    let r = emu.get("/v1.0/users/u1/contacts/not-an-id").await;
    assert_eq!((r.status, r.error_code()), (400, "ErrorInvalidIdMalformed"));
    let deleted = emu
        .delete(&format!("/v1.0/users/u1/contacts/{}", enc(id)))
        .await;
    assert_eq!(deleted.status, 204);
    let r = emu
        .get(&format!("/v1.0/users/u1/contacts/{}", enc(id)))
        .await;
    assert_eq!((r.status, r.error_code()), (404, "ErrorItemNotFound"));
    let other = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let r = emu
        .post(
            &format!(
                "/v1.0/users/u1/contacts/{}/move",
                enc(other["id"].as_str().expect("id"))
            ),
            json!({"destinationId": "x"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["error"]["message"],
        "Resource not found for the segment 'move'."
    );
    let r = emu.get("/v1.0/users/nobody/contacts").await;
    assert_eq!((r.status, r.error_code()), (404, "ErrorInvalidUser"));
    let r = emu
        .post(
            "/v1.0/users/u1/contacts",
            json!({"surname": "X", "favouriteColour": "red"}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn delete_is_soft_the_contact_lands_in_deleted_items_with_its_immutable_id() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu
        .call_with(
            Method::POST,
            "/v1.0/users/u1/contacts",
            Some(pavel()),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await
        .body;
    let immutable = created["id"].as_str().expect("id").to_owned();
    assert!(immutable.starts_with("AAkA"), "{immutable}");
    let r = emu
        .delete(&format!("/v1.0/users/u1/contacts/{}", enc(&immutable)))
        .await;
    assert_eq!(r.status, 204);
    let state = emu.state("u1").await;
    assert_eq!(state.len(), 1);
    assert_eq!(state[0]["folderWellKnownName"], "deleteditems");
    assert_eq!(state[0]["immutableId"], immutable.as_str());
    let purge = emu
        .post(
            &format!(
                "/v1.0/users/u1/contacts/{}/permanentDelete",
                enc(&immutable)
            ),
            json!({}),
        )
        .await;
    assert_eq!(purge.status, 204);
    assert!(emu.state("u1").await.is_empty());
}

#[tokio::test]
async fn mailboxes_are_addressable_by_id_and_user_principal_name() {
    let emu = Emu::start().await;
    emu.mailbox("48d31887-5fad-4d73-a9f5-3c356e68a038", "Alex@Contoso.com")
        .await;
    let created = emu
        .post("/v1.0/users/alex@contoso.com/contacts", pavel())
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().expect("id");
    let by_id = emu
        .get(&format!(
            "/v1.0/users/48d31887-5fad-4d73-a9f5-3c356e68a038/contacts/{}",
            enc(id)
        ))
        .await;
    assert_eq!(by_id.status, 200);
    let user = emu.get("/v1.0/users/ALEX@contoso.com").await;
    assert_eq!(user.body["id"], "48d31887-5fad-4d73-a9f5-3c356e68a038");
}

#[tokio::test]
async fn prefer_immutable_id_switches_the_id_format_and_both_ids_resolve() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let regular = created["id"].as_str().expect("id").to_owned();
    assert!(regular.starts_with("AAMk"));
    let prefer = [("Prefer", "IdType=\"ImmutableId\"")];
    let r = emu
        .call_with(
            Method::GET,
            &format!("/v1.0/users/u1/contacts/{}", enc(&regular)),
            None,
            &prefer,
        )
        .await;
    let immutable = r.body["id"].as_str().expect("id").to_owned();
    assert_ne!(immutable, regular);
    let back = emu
        .get(&format!("/v1.0/users/u1/contacts/{}", enc(&immutable)))
        .await;
    assert_eq!(back.body["id"], regular.as_str());
    // A user's move in Outlook changes the regular id only.
    let folder = emu
        .post(
            "/v1.0/users/u1/contactFolders",
            json!({"displayName": "Elsewhere"}),
        )
        .await
        .body;
    let moved = emu
        .control(
            Method::POST,
            &format!("/_emulator/mailboxes/u1/contacts/{}/move", enc(&regular)),
            json!({"destinationId": folder["id"]}),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_ne!(moved.body["id"], regular.as_str());
    assert_eq!(
        emu.get(&format!("/v1.0/users/u1/contacts/{}", enc(&regular)))
            .await
            .status,
        404
    );
    let by_immutable = emu
        .call_with(
            Method::GET,
            &format!("/v1.0/users/u1/contacts/{}", enc(&immutable)),
            None,
            &prefer,
        )
        .await;
    assert_eq!(by_immutable.body["id"], immutable.as_str());
    assert_eq!(by_immutable.body["parentFolderId"], folder["id"]);
}

#[tokio::test]
async fn lists_page_with_skip_and_a_next_link_that_can_be_followed_verbatim() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let contacts: Vec<Value> = (0..25)
        .map(|i| json!({"surname": format!("S{i:02}")}))
        .collect();
    emu.seed("u1", "contacts", contacts).await;
    let mut url = "/v1.0/users/u1/contacts?$select=surname".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = emu.get(&url).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        pages += 1;
        for c in r.body["value"].as_array().expect("value") {
            assert!(c.get("givenName").is_none(), "$select narrows");
            seen.push(c["surname"].as_str().expect("surname").to_owned());
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("%24skip=") || next.contains("$skip="),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3, "default page size is 10");
    let want: Vec<String> = (0..25).map(|i| format!("S{i:02}")).collect();
    assert_eq!(seen, want);
    let top = emu.get("/v1.0/users/u1/contacts?$top=100").await;
    assert_eq!(top.body["value"].as_array().map(Vec::len), Some(25));
    assert!(top.body.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn extended_properties_are_written_expanded_by_id_and_found_by_value() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let mut body = pavel();
    body["singleValueExtendedProperties"] = json!([{"id": SF_PROP, "value": "003000000000001AAA"}]);
    let created = emu.post("/v1.0/users/u1/contacts", body).await;
    assert_eq!(created.status, 201);
    assert!(
        created.body.get("singleValueExtendedProperties").is_none(),
        "not returned on create"
    );
    let id = created.body["id"].as_str().expect("id").to_owned();
    emu.post("/v1.0/users/u1/contacts", json!({"surname": "Other"}))
        .await;

    let plain = emu
        .get(&format!("/v1.0/users/u1/contacts/{}", enc(&id)))
        .await;
    assert!(
        plain.body.get("singleValueExtendedProperties").is_none(),
        "only with $expand"
    );
    let expand = format!("singleValueExtendedProperties($filter=id eq '{SF_PROP}')");
    let expanded = emu
        .get(&format!(
            "/v1.0/users/u1/contacts/{}?$expand={}",
            enc(&id),
            enc(&expand)
        ))
        .await;
    assert_eq!(
        expanded.body["singleValueExtendedProperties"],
        json!([{"id": SF_PROP, "value": "003000000000001AAA"}])
    );

    let filter = |value: &str| {
        format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{SF_PROP}' and ep/value eq '{value}')"
        )
    };
    let found = emu
        .get(&format!(
            "/v1.0/users/u1/contacts?$filter={}",
            enc(&filter("003000000000001AAA"))
        ))
        .await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    let ids: Vec<&str> = found.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);

    // PATCH rewrites the value; the old one no longer matches.
    let patched = emu
        .patch(
            &format!("/v1.0/users/u1/contacts/{}", enc(&id)),
            json!({"singleValueExtendedProperties": [{"id": SF_PROP, "value": "003000000000002AAA"}]}),
        )
        .await;
    assert_eq!(patched.status, 200);
    let old = emu
        .get(&format!(
            "/v1.0/users/u1/contacts?$filter={}",
            enc(&filter("003000000000001AAA"))
        ))
        .await;
    assert_eq!(old.body["value"], json!([]));
    let new = emu
        .get(&format!(
            "/v1.0/users/u1/contacts?$filter={}",
            enc(&filter("003000000000002AAA"))
        ))
        .await;
    assert_eq!(new.body["value"].as_array().map(Vec::len), Some(1));
    let bad = emu
        .get(&format!(
            "/v1.0/users/u1/contacts?$filter={}",
            enc("startswith(surname,'B')")
        ))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let path = format!(
        "/v1.0/users/u1/contacts/{}",
        enc(created["id"].as_str().expect("id"))
    );
    let etag = created["@odata.etag"].as_str().expect("etag").to_owned();
    let ok = emu
        .call_with(
            Method::PATCH,
            &path,
            Some(json!({"jobTitle": "CEO"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(ok.status, 200);
    let stale = emu
        .call_with(
            Method::PATCH,
            &path,
            Some(json!({"jobTitle": "CTO"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(
        (stale.status, stale.error_code()),
        (412, "ErrorIrresolvableConflict")
    );
}

#[tokio::test]
async fn a_user_without_an_exchange_mailbox_answers_mailbox_not_enabled() {
    let emu = Emu::start().await;
    let r = emu
        .control(
            Method::POST,
            "/_emulator/mailboxes",
            json!({"id": "onprem", "userPrincipalName": "onprem@contoso.com", "mailboxEnabled": false}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = emu.get("/v1.0/users/onprem/contacts").await;
    assert_eq!(
        (r.status, r.error_code()),
        (404, "MailboxNotEnabledForRESTAPI")
    );
}

#[tokio::test]
async fn single_contacts_carry_an_etag_header_lists_count_and_unknown_options_are_refused() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await;
    assert_eq!(created.header("etag"), created.body["@odata.etag"].as_str());
    emu.post("/v1.0/users/u1/contacts", json!({"surname": "Two"}))
        .await;
    let counted = emu.get("/v1.0/users/u1/contacts?$count=true&$top=1").await;
    assert_eq!(counted.body["@odata.count"], 2);
    assert_eq!(counted.body["value"].as_array().map(Vec::len), Some(1));
    let typo = emu.get("/v1.0/users/u1/contacts?$selct=surname").await;
    assert_eq!(typo.status, 400);
    let custom = emu.get("/v1.0/users/u1/contacts?tracking=1").await;
    assert_eq!(custom.status, 200, "non-system options are ignored");
}

#[tokio::test]
async fn contacts_are_found_by_category_and_the_index_follows_patches() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let mut tagged = pavel();
    tagged["categories"] = json!(["Salesforce"]);
    let a = emu.post("/v1.0/users/u1/contacts", tagged).await.body;
    emu.post(
        "/v1.0/users/u1/contacts",
        json!({"surname": "Untagged", "categories": ["Other"]}),
    )
    .await;
    let filter = enc("categories/any(c:c eq 'salesforce')");
    let found = emu
        .get(&format!("/v1.0/users/u1/contacts?$filter={filter}"))
        .await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    let ids: Vec<&str> = found.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a["id"].as_str().expect("id")]);
    emu.patch(
        &format!(
            "/v1.0/users/u1/contacts/{}",
            enc(a["id"].as_str().expect("id"))
        ),
        json!({"categories": []}),
    )
    .await;
    let none = emu
        .get(&format!("/v1.0/users/u1/contacts?$filter={filter}"))
        .await;
    assert_eq!(none.body["value"], json!([]));
}

#[tokio::test]
async fn orderby_sorts_a_folder_and_pages_through_the_sorted_list() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let names = ["delta", "Alpha", "charlie", "Bravo", "echo"];
    emu.seed(
        "u1",
        "contacts",
        names.iter().map(|n| json!({"surname": n})).collect(),
    )
    .await;
    let asc = emu
        .get("/v1.0/users/u1/contacts?$orderby=surname&$top=3&$select=surname")
        .await;
    let got: Vec<&str> = asc.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|c| c["surname"].as_str())
        .collect();
    assert_eq!(got, vec!["Alpha", "Bravo", "charlie"]);
    let next = asc.body["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_owned();
    let rest = emu.get(&next).await;
    let got: Vec<&str> = rest.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|c| c["surname"].as_str())
        .collect();
    assert_eq!(got, vec!["delta", "echo"]);
    let desc = emu
        .get(&format!(
            "/v1.0/users/u1/contacts?$orderby={}",
            enc("surname desc")
        ))
        .await;
    assert_eq!(desc.body["value"][0]["surname"], "echo");
    assert_eq!(
        emu.get("/v1.0/users/u1/contacts?$orderby=emailAddresses")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_refused_with_415() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let r = emu
        .http
        .post(emu.url("/v1.0/users/u1/contacts"))
        .bearer_auth(&emu.token)
        .header("Content-Type", "text/plain")
        .body(pavel().to_string())
        .send()
        .await
        .expect("call");
    let r = to_resp(r).await;
    assert_eq!((r.status, r.error_code()), (415, "UnsupportedMediaType"));
    assert!(emu.state("u1").await.is_empty());
}

#[tokio::test]
async fn the_write_log_records_api_writes_with_their_time_only_while_it_is_on() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let before_on = emu.post("/v1.0/users/u1/contacts", pavel()).await;
    assert_eq!(before_on.status, 201, "{:?}", before_on.body);
    let on = emu
        .control(
            Method::POST,
            "/_emulator/write-log",
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(on.status, 200, "{:?}", on.body);
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        * 1000.0;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let patched = emu
        .patch(
            &format!("/v1.0/users/u1/contacts/{id}"),
            json!({"surname": "Later"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    // Control-API writes are not the API's.
    emu.seed("u1", "contacts", vec![pavel()]).await;

    let log = emu
        .control(Method::GET, "/_emulator/write-log", json!({}))
        .await
        .body;
    assert_eq!(log["enabled"], true);
    let writes = log["writes"].as_array().expect("writes");
    assert_eq!(writes.len(), 2, "the create and the update: {log}");
    for write in writes {
        assert_eq!(write["id"], id.as_str());
        assert!(write["immutableId"].as_str().is_some_and(|s| !s.is_empty()));
        let at = write["at_ms"].as_f64().expect("at_ms");
        assert!(at >= started_ms.floor(), "{at} is before {started_ms}");
    }
    assert!(writes[0]["at_ms"].as_f64() <= writes[1]["at_ms"].as_f64());

    let off = emu
        .control(
            Method::POST,
            "/_emulator/write-log",
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(off.status, 200);
    emu.post("/v1.0/users/u1/contacts", pavel()).await;
    let log = emu
        .control(Method::GET, "/_emulator/write-log", json!({}))
        .await
        .body;
    assert_eq!(log, json!({"enabled": false, "writes": []}));
}
