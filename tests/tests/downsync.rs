//! Salesforce → mailbox (B1, B2, B5, B6, B7), each in one session (C6), each followed by a session
//! that writes nothing (C3).

use contactsync_e2e::{Provider, Stack, both_providers};
use reqwest::Method;
use serde_json::{Value, json};

fn in_folder(contacts: &[Value]) -> Vec<&Value> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .collect()
}

fn has_category(c: &Value) -> bool {
    c["categories"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|x| x == "Salesforce"))
}

both_providers! {
    async fn b1_enabling_creates_one_folder_and_one_category_whatever_the_sessions(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "ann", json!({})).await.expect("user");
        stack.sync(&user).await.expect("first session");
        stack.sync(&user).await.expect("second session");
        // For Gmail both are contact groups (G1).
        let folders = stack.folder_names(&user).await.expect("folders");
        let named = folders.iter().filter(|f| *f == "Salesforce Contacts");
        assert_eq!(named.count(), 1, "exactly one folder: {folders:?}");
        let categories = stack.category_names(&user).await.expect("categories");
        let named = categories.iter().filter(|c| *c == "Salesforce");
        assert_eq!(named.count(), 1, "exactly one category: {categories:?}");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b5_b6_a_contact_created_changed_and_deleted_in_salesforce_follows_in_one_session_each(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "bob", json!({})).await.expect("user");
        stack.sync(&user).await.expect("setup session");

        // B6 create, with an Account for companyName and Graph's birthday form.
        let account = stack
            .salesforce(
                &user,
                Method::POST,
                "/sobjects/Account",
                Some(json!({"Name": "Analytical Engines"})),
            )
            .await
            .expect("account");
        let id = stack
            .create_in_salesforce(
                &user,
                json!({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com",
                       "Phone": "+44 20 1234", "Birthdate": "1815-12-10", "Title": "Countess",
                       "AccountId": account["id"], "MailingCity": "London"}),
            )
            .await
            .expect("contact");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mirrors = in_folder(&mailbox);
        assert_eq!(mirrors.len(), 1, "{mailbox:?}");
        let mirror = mirrors[0];
        assert_eq!(mirror["givenName"], "Ada");
        assert_eq!(mirror["surname"], "Lovelace");
        assert_eq!(mirror["jobTitle"], "Countess");
        assert_eq!(mirror["companyName"], "Analytical Engines");
        assert_eq!(mirror["emailAddresses"][0]["address"], "ada@example.com");
        assert_eq!(mirror["businessPhones"][0], "+44 20 1234");
        assert_eq!(mirror["businessAddress"]["city"], "London");
        assert!(
            mirror["birthday"]
                .as_str()
                .unwrap_or_default()
                .starts_with("1815-12-10")
        );
        assert!(has_category(mirror), "B5: the category is set: {mirror}");
        stack
            .assert_quiet_session(&user)
            .await
            .expect("C3 after create");

        // B6 update.
        stack
            .salesforce(
                &user,
                Method::PATCH,
                &format!("/sobjects/Contact/{id}"),
                Some(json!({"Title": "Mathematician", "Phone": null})),
            )
            .await
            .expect("update");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["updated"], 1, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mirror = in_folder(&mailbox)[0].clone();
        assert_eq!(mirror["jobTitle"], "Mathematician");
        assert!(
            mirror["businessPhones"]
                .as_array()
                .is_none_or(|p| p.is_empty()),
            "a cleared phone is cleared: {mirror}"
        );
        stack
            .assert_quiet_session(&user)
            .await
            .expect("C3 after update");

        // B6 delete.
        stack
            .salesforce(
                &user,
                Method::DELETE,
                &format!("/sobjects/Contact/{id}"),
                None,
            )
            .await
            .expect("delete");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        assert!(in_folder(&mailbox).is_empty(), "{mailbox:?}");
        stack
            .assert_quiet_session(&user)
            .await
            .expect("C3 after delete");
        stack.stop().await.expect("stop");
    }

    async fn b2_b7_scope_mine_excludes_others_and_an_owner_change_removes_the_mirror_only(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "cy", json!({})).await.expect("user");
        let other = stack
            .add_user_on(provider, "di", json!({"enabled": false}))
            .await
            .expect("other");
        let mine = stack
            .create_in_salesforce(&user, json!({"LastName": "Mine"}))
            .await
            .expect("mine");
        stack
            .create_in_salesforce(&other, json!({"LastName": "Theirs"}))
            .await
            .expect("theirs");
        stack.sync(&user).await.expect("session");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let names: Vec<_> = in_folder(&mailbox)
            .iter()
            .map(|c| c["surname"].clone())
            .collect();
        assert_eq!(
            names,
            vec![json!("Mine")],
            "B2 mine: only the user's Contacts"
        );

        // B7: the owner changes → the mirror goes; Salesforce is untouched.
        stack
            .salesforce(
                &user,
                Method::PATCH,
                &format!("/sobjects/Contact/{mine}"),
                Some(json!({"OwnerId": other.salesforce_user_id})),
            )
            .await
            .expect("reassign");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
        assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        assert!(in_folder(&mailbox).is_empty());
        let live = stack.live_salesforce_contacts().await.expect("contacts");
        assert!(
            live.iter().any(|c| c["Id"] == mine.as_str()),
            "Salesforce untouched"
        );
        stack.assert_quiet_session(&user).await.expect("C3");

        // B2 all: a scope change reads everything in one session.
        stack
            .admin(Method::PUT, &format!("/api/v1/users/{}/settings/contacts", user.id),
                   Some(json!({"enabled": true, "scope": "all", "auto_removal": false, "conflict_winner": "salesforce"})))
            .await
            .expect("settings");
        stack.sync(&user).await.expect("session");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mut names: Vec<_> = in_folder(&mailbox)
            .iter()
            .map(|c| c["surname"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["Mine".to_owned(), "Theirs".to_owned()]);
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b2_b7_a_list_view_scope_mirrors_its_members_and_a_contact_leaving_the_view_leaves_the_folder(provider: Provider)
     {
        let stack = Stack::start().await.expect("stack");
        let (status, view) = stack
            .call(
                Method::POST,
                &format!("{}/_emulator/listviews", stack.salesforce_url),
                None,
                Some(json!({"label": "Key accounts", "where": "Department = 'Key'"})),
            )
            .await
            .expect("list view");
        assert!(status < 300, "{status} {view}");
        let view_id = view["id"].as_str().expect("view id").to_owned();
        let user = stack
            .add_user_on(provider, "vi", json!({"scope": "list_view", "list_view_id": view_id}))
            .await
            .expect("user");
        let member = stack
            .create_in_salesforce(&user, json!({"LastName": "Member", "Department": "Key"}))
            .await
            .expect("member");
        stack
            .create_in_salesforce(
                &user,
                json!({"LastName": "Outsider", "Department": "Other"}),
            )
            .await
            .expect("outsider");
        stack.sync(&user).await.expect("session");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let names: Vec<_> = in_folder(&mailbox)
            .iter()
            .map(|c| c["surname"].clone())
            .collect();
        assert_eq!(
            names,
            vec![json!("Member")],
            "B2 list view: only its members"
        );
        stack.assert_quiet_session(&user).await.expect("C3");

        // B7: the view's filter no longer matches → the mirror leaves; Salesforce is untouched.
        stack
            .salesforce(
                &user,
                Method::PATCH,
                &format!("/sobjects/Contact/{member}"),
                Some(json!({"Department": "Former"})),
            )
            .await
            .expect("edit");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
        assert!(in_folder(&stack.mailbox_contacts(&user).await.expect("mailbox")).is_empty());
        assert!(
            stack
                .live_salesforce_contacts()
                .await
                .expect("contacts")
                .iter()
                .any(|c| c["Id"] == member.as_str())
        );
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }
}
