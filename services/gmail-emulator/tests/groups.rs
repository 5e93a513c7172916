//! Contact groups: system groups, create/update/delete, members:modify and memberships on
//! persons (reference §5, §9.5).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn group<'a>(list: &'a Value, resource: &str) -> &'a Value {
    list["contactGroups"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["resourceName"] == resource))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn system_groups_user_groups_and_members() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let a = emu.create(&token, "A").await;
    let b = emu.create(&token, "B").await;
    let (a_name, b_name) = (
        a["resourceName"].as_str().expect("a"),
        b["resourceName"].as_str().expect("b"),
    );

    let list = emu.get(&token, "/v1/contactGroups").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let my = group(&list.body, "contactGroups/myContacts");
    assert_eq!(my["groupType"], "SYSTEM_CONTACT_GROUP");
    assert_eq!(my["formattedName"], "My Contacts");
    assert_eq!(my["memberCount"], 2);
    assert!(my.get("etag").is_none() && my.get("metadata").is_none());
    assert!(list.body["nextSyncToken"].is_string());

    let created = emu
        .post(
            &token,
            "/v1/contactGroups",
            json!({"contactGroup": {"name": "Customers"}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let gname = created.body["resourceName"]
        .as_str()
        .expect("group")
        .to_owned();
    assert_eq!(created.body["groupType"], "USER_CONTACT_GROUP");
    assert!(created.body["etag"].is_string());
    let dup = emu
        .post(
            &token,
            "/v1/contactGroups",
            json!({"contactGroup": {"name": "Customers"}}),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.status_name(), "ALREADY_EXISTS");

    let r = emu
        .post(
            &token,
            &format!("/v1/{gname}/members:modify"),
            json!({"resourceNamesToAdd": [a_name, b_name, "people/c99"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["notFoundResourceNames"], json!(["people/c99"]));
    let got = emu.get(&token, &format!("/v1/{gname}?maxMembers=10")).await;
    assert_eq!(got.body["memberCount"], 2);
    assert_eq!(
        got.body["memberResourceNames"].as_array().map(Vec::len),
        Some(2)
    );
    let got = emu.get(&token, &format!("/v1/{gname}")).await;
    assert!(
        got.body.get("memberResourceNames").is_none(),
        "maxMembers defaults to 0"
    );

    let person = emu
        .get(&token, &format!("/v1/{a_name}?personFields=memberships"))
        .await;
    let groups: Vec<&str> = person.body["memberships"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|x| x["contactGroupMembership"]["contactGroupResourceName"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(groups.contains(&gname.as_str()) && groups.contains(&"contactGroups/myContacts"));
    assert_ne!(
        person.body["etag"], a["etag"],
        "a membership change is a contact change"
    );

    // Removing a contact from its last group is refused for that contact.
    let r = emu
        .post(
            &token,
            "/v1/contactGroups/myContacts/members:modify",
            json!({"resourceNamesToRemove": [a_name]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .get("canNotRemoveLastContactGroupResourceNames")
            .is_none()
    );
    let r = emu
        .post(
            &token,
            &format!("/v1/{gname}/members:modify"),
            json!({"resourceNamesToRemove": [a_name]}),
        )
        .await;
    assert_eq!(
        r.body["canNotRemoveLastContactGroupResourceNames"],
        json!([a_name])
    );

    // Deprecated system groups refuse adds; starred accepts them.
    let r = emu
        .post(
            &token,
            "/v1/contactGroups/friends/members:modify",
            json!({"resourceNamesToAdd": [b_name]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "Cannot add contacts to deprecated system contact group"
    );
    let r = emu
        .post(
            &token,
            "/v1/contactGroups/starred/members:modify",
            json!({"resourceNamesToAdd": [b_name]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let too_many: Vec<String> = (0..1001).map(|i| format!("people/c{i}")).collect();
    let r = emu
        .post(
            &token,
            "/v1/contactGroups/starred/members:modify",
            json!({"resourceNamesToAdd": too_many}),
        )
        .await;
    assert_eq!(r.status, 400);

    // Rename, then delete with its contacts.
    let renamed = emu
        .send(
            Method::PUT,
            &format!("/v1/{gname}"),
            Some(&token),
            Some(json!({"contactGroup": {"name": "Clients", "etag": created.body["etag"]}, "updateGroupFields": "name"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Clients");
    let r = emu
        .delete(&token, &format!("/v1/{gname}?deleteContacts=true"))
        .await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    assert_eq!(emu.get(&token, &format!("/v1/{gname}")).await.status, 404);
    assert_eq!(
        emu.get(&token, &format!("/v1/{a_name}?personFields=names"))
            .await
            .status,
        404
    );
    let r = emu.delete(&token, "/v1/contactGroups/myContacts").await;
    assert_eq!(r.status, 400, "system groups cannot be deleted");

    // Group sync: the deletion comes as a tombstone.
    let sync = list.body["nextSyncToken"].as_str().expect("sync");
    let changes = emu
        .get(&token, &format!("/v1/contactGroups?syncToken={sync}"))
        .await;
    assert_eq!(changes.status, 200, "{}", changes.body);
    assert_eq!(group(&changes.body, &gname)["metadata"]["deleted"], true);

    // The control API reads groups wholesale (b went with the deleted group).
    let c = emu.create(&token, "C").await;
    let r = emu
        .post(
            &token,
            "/v1/contactGroups/starred/members:modify",
            json!({"resourceNamesToAdd": [c["resourceName"]]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let all = emu
        .control(Method::GET, "mailboxes/u@example.com/groups", Value::Null)
        .await;
    assert_eq!(
        group(&all.body, "contactGroups/starred")["memberResourceNames"],
        json!([c["resourceName"]])
    );
}

#[tokio::test]
async fn group_lists_page() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    for i in 0..5 {
        let r = emu
            .post(
                &token,
                "/v1/contactGroups",
                json!({"contactGroup": {"name": format!("G{i}")}}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let mut seen = 0;
    let mut url = "/v1/contactGroups?pageSize=4".to_owned();
    loop {
        let r = emu.get(&token, &url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen += r.body["contactGroups"].as_array().map_or(0, Vec::len);
        match r.body["nextPageToken"].as_str() {
            Some(p) => url = format!("/v1/contactGroups?pageSize=4&pageToken={p}"),
            None => break,
        }
    }
    assert_eq!(seen, 8 + 5, "eight system groups and five of the user's");
}

#[tokio::test]
async fn a_users_own_edits_through_the_control_api_are_changes_to_sync() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let person = emu.create(&token, "Own").await;
    let name = person["resourceName"].as_str().expect("name").to_owned();
    let id = name.trim_start_matches("people/");
    let full = emu
        .get(
            &token,
            "/v1/people/me/connections?personFields=names&requestSyncToken=true",
        )
        .await;
    let sync = full.body["nextSyncToken"]
        .as_str()
        .expect("sync")
        .to_owned();
    let edited = emu
        .control(
            Method::PATCH,
            &format!("mailboxes/u@example.com/contacts/{id}"),
            json!({"names": [{"givenName": "Edited in Gmail"}]}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_ne!(edited.body["etag"], person["etag"]);
    let changes = emu
        .get(&token, &format!("/v1/people/me/connections?personFields=names&requestSyncToken=true&syncToken={sync}"))
        .await;
    assert_eq!(
        changes.body["connections"][0]["names"][0]["givenName"],
        "Edited in Gmail"
    );
    let r = emu
        .control(
            Method::DELETE,
            &format!("mailboxes/u@example.com/contacts/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(r.status, 200);
    let state = emu
        .control(Method::GET, "mailboxes/u@example.com/contacts", Value::Null)
        .await;
    assert_eq!(state.body["deleted"], json!([name]));
    assert_eq!(state.body["contacts"], json!([]));
    // None of the control calls counted as traffic: one create, two lists.
    assert_eq!(emu.counters().await["http_requests"], 3);
}
