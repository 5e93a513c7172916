//! contactFolders and masterCategories (reference §2, §5; checklist items 3 and 6).

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn the_default_folder_is_only_reachable_as_contacts_and_is_not_listed() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let listed = emu.get("/v1.0/users/u1/contactFolders").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["value"], json!([]));
    let default = emu.get("/v1.0/users/u1/contactFolders/contacts").await;
    assert_eq!(default.status, 200);
    assert_eq!(default.body["displayName"], "Contacts");
    let odata_form = emu.get("/v1.0/users/u1/contactFolders('contacts')").await;
    assert_eq!(odata_form.body["id"], default.body["id"]);
}

#[tokio::test]
async fn folders_are_created_listed_nested_and_soft_deleted() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu
        .post(
            "/v1.0/users/u1/contactFolders",
            json!({"displayName": "Salesforce Contacts"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let default = emu.get("/v1.0/users/u1/contactFolders/contacts").await;
    assert_eq!(
        created.body["parentFolderId"], default.body["id"],
        "created under the default folder"
    );

    let dup = emu
        .post(
            "/v1.0/users/u1/contactFolders",
            json!({"displayName": "Salesforce Contacts"}),
        )
        .await;
    assert_eq!((dup.status, dup.error_code()), (409, "ErrorFolderExists"));

    let listed = emu.get("/v1.0/users/u1/contactFolders").await;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(1));
    let filtered = emu
        .get(&format!(
            "/v1.0/users/u1/contactFolders?$filter={}",
            enc("displayName eq 'Salesforce Contacts'")
        ))
        .await;
    assert_eq!(filtered.body["value"][0]["id"], id.as_str());

    let child = emu
        .post(
            &format!("/v1.0/users/u1/contactFolders/{}/childFolders", enc(&id)),
            json!({"displayName": "Family"}),
        )
        .await;
    assert_eq!(child.status, 201);
    assert_eq!(child.body["parentFolderId"], id.as_str());
    let child_id = child.body["id"].as_str().expect("id").to_owned();
    let children = emu
        .get(&format!(
            "/v1.0/users/u1/contactFolders/{}/childFolders",
            enc(&id)
        ))
        .await;
    assert_eq!(children.body["value"][0]["displayName"], "Family");
    let nested = emu
        .post(
            &format!(
                "/v1.0/users/u1/contactFolders/{}/childFolders/{}/contacts",
                enc(&id),
                enc(&child_id)
            ),
            pavel(),
        )
        .await;
    assert_eq!(nested.status, 201);
    assert_eq!(nested.body["parentFolderId"], child_id.as_str());
    let in_folder = emu
        .get(&format!(
            "/v1.0/users/u1/contactFolders/{}/contacts",
            enc(&child_id)
        ))
        .await;
    assert_eq!(in_folder.body["value"].as_array().map(Vec::len), Some(1));

    let deleted = emu
        .delete(&format!("/v1.0/users/u1/contactFolders/{}", enc(&id)))
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        emu.get("/v1.0/users/u1/contactFolders").await.body["value"],
        json!([])
    );
    let still = emu
        .get(&format!("/v1.0/users/u1/contactFolders/{}", enc(&id)))
        .await;
    assert_eq!(
        still.status, 200,
        "a soft-deleted folder's id still resolves"
    );
    let in_trash = emu
        .get("/v1.0/users/u1/contactFolders/deleteditems/childFolders")
        .await;
    assert_eq!(in_trash.body["value"][0]["id"], id.as_str());
    let default_delete = emu.delete("/v1.0/users/u1/contactFolders/contacts").await;
    assert_eq!(default_delete.status, 400);
}

#[tokio::test]
async fn master_categories_are_listed_and_created_with_unique_names() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let listed = emu.get("/v1.0/users/u1/outlook/masterCategories").await;
    assert_eq!(listed.status, 200);
    let defaults = listed.body["value"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    assert_eq!(defaults, 6, "Outlook's default colour categories");
    let created = emu
        .post(
            "/v1.0/users/u1/outlook/masterCategories",
            json!({"displayName": "Salesforce", "color": "preset9"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["color"], "preset9");
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(id.len(), 36, "a GUID");
    let dup = emu
        .post(
            "/v1.0/users/u1/outlook/masterCategories",
            json!({"displayName": "salesforce"}),
        )
        .await;
    assert_eq!(dup.status, 409);
    let listed = emu.get("/v1.0/users/u1/outlook/masterCategories").await;
    let names: Vec<&str> = listed.body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|c| c["displayName"].as_str())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "Salesforce").count(), 1);
    let rename = emu
        .patch(
            &format!("/v1.0/users/u1/outlook/masterCategories/{id}"),
            json!({"displayName": "Other"}),
        )
        .await;
    assert_eq!(rename.status, 400, "names are immutable");
    let recolour = emu
        .patch(
            &format!("/v1.0/users/u1/outlook/masterCategories/{id}"),
            json!({"color": "preset0"}),
        )
        .await;
    assert_eq!(recolour.body["color"], "preset0");
    // A contact may carry any category name, listed or not.
    let mut body = pavel();
    body["categories"] = json!(["Salesforce", "Unlisted"]);
    let contact = emu.post("/v1.0/users/u1/contacts", body).await;
    assert_eq!(
        contact.body["categories"],
        json!(["Salesforce", "Unlisted"])
    );
}
