//! Consistency rules over the whole stack: merge and conflicts (C1), delete versus edit (C2), the
//! mass-delete guard (C5) and bad data failing alone (C7); each followed by a quiet session (C3).

use contactsync_e2e::{Provider, Stack, TestUser, both_providers};
use reqwest::Method;
use serde_json::{Value, json};

fn in_folder(contacts: &[Value]) -> Vec<&Value> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .collect()
}

async fn synced_pair(
    stack: &Stack,
    provider: Provider,
    id: &str,
    settings: Value,
) -> (TestUser, String, String) {
    let user = stack
        .add_user_on(provider, id, settings)
        .await
        .expect("user");
    let sf = stack
        .create_in_salesforce(
            &user,
            json!({"FirstName": "Pat", "LastName": "Smith",
                                            "Title": "Engineer", "Department": "R&D"}),
        )
        .await
        .expect("contact");
    stack.sync(&user).await.expect("session");
    let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
    let mailbox_id = in_folder(&mailbox)[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (user, sf, mailbox_id)
}

both_providers! {
    async fn c1_fields_changed_on_one_side_merge_and_a_true_conflict_goes_to_the_winner(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let (user, sf, mailbox_id) =
            synced_pair(&stack, provider, "kim", json!({"conflict_winner": "salesforce"})).await;
        // Different fields on each side, and the same field to different values.
        stack
            .edit_in_mailbox(
                &user,
                &mailbox_id,
                json!({"department": "Research", "jobTitle": "Mailbox title"}),
            )
            .await
            .expect("mailbox edit");
        stack
            .salesforce(
                &user,
                Method::PATCH,
                &format!("/sobjects/Contact/{sf}"),
                Some(json!({"FirstName": "Patricia", "Title": "Salesforce title"})),
            )
            .await
            .expect("salesforce edit");
        stack.sync(&user).await.expect("session");
        let live = stack.live_salesforce_contacts().await.expect("contacts");
        let c = live
            .iter()
            .find(|c| c["Id"] == sf.as_str())
            .expect("contact");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let m = in_folder(&mailbox)[0];
        assert_eq!(
            c["Department"], "Research",
            "mailbox-only change reaches Salesforce"
        );
        assert_eq!(
            m["givenName"], "Patricia",
            "Salesforce-only change reaches the mailbox"
        );
        assert_eq!(
            c["Title"], "Salesforce title",
            "conflict: the winner's value"
        );
        assert_eq!(m["jobTitle"], "Salesforce title", "both sides converge");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn c2_deleted_in_salesforce_and_edited_in_the_mailbox_deletes_the_mirror(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let (user, sf, mailbox_id) = synced_pair(&stack, provider, "lou", json!({})).await;
        stack
            .edit_in_mailbox(&user, &mailbox_id, json!({"jobTitle": "Edited"}))
            .await
            .expect("edit");
        stack
            .salesforce(
                &user,
                Method::DELETE,
                &format!("/sobjects/Contact/{sf}"),
                None,
            )
            .await
            .expect("delete");
        stack.sync(&user).await.expect("session");
        assert!(in_folder(&stack.mailbox_contacts(&user).await.expect("mailbox")).is_empty());
        assert!(
            !stack
                .live_salesforce_contacts()
                .await
                .expect("contacts")
                .iter()
                .any(|c| c["LastName"] == "Smith")
        );
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn c2_deleted_in_the_mailbox_and_edited_in_salesforce_recreates_the_mirror_even_with_auto_removal(provider: Provider)
     {
        let stack = Stack::start().await.expect("stack");
        let (user, sf, mailbox_id) = synced_pair(&stack, provider, "max", json!({"auto_removal": true})).await;
        stack
            .delete_in_mailbox(&user, &mailbox_id)
            .await
            .expect("delete");
        stack
            .salesforce(
                &user,
                Method::PATCH,
                &format!("/sobjects/Contact/{sf}"),
                Some(json!({"Title": "Edited in SF"})),
            )
            .await
            .expect("edit");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mirrors = in_folder(&mailbox);
        assert_eq!(mirrors.len(), 1);
        assert_eq!(mirrors[0]["jobTitle"], "Edited in SF");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn c5_a_session_deleting_most_links_deletes_nothing_until_an_operator_confirms(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "ned", json!({})).await.expect("user");
        let mut ids = Vec::new();
        for i in 0..24 {
            ids.push(
                stack
                    .create_in_salesforce(&user, json!({"LastName": format!("Bulk{i:02}")}))
                    .await
                    .expect("contact"),
            );
        }
        stack.sync(&user).await.expect("session");
        assert_eq!(
            in_folder(&stack.mailbox_contacts(&user).await.expect("mailbox")).len(),
            24
        );
        for id in &ids[..20] {
            stack
                .salesforce(
                    &user,
                    Method::DELETE,
                    &format!("/sobjects/Contact/{id}"),
                    None,
                )
                .await
                .expect("delete");
        }
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["deleted"], 0, "{summary}");
        assert!(
            summary["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["code"] == "mass_delete_guard")),
            "the guard is on the summary: {summary}"
        );
        let (_, status) = stack
            .admin(
                Method::GET,
                &format!("/api/v1/users/{}/status", user.id),
                None,
            )
            .await
            .expect("status");
        assert!(
            status.to_string().contains("mass_delete_guard"),
            "and on the status: {status}"
        );
        assert_eq!(
            in_folder(&stack.mailbox_contacts(&user).await.expect("mailbox")).len(),
            24
        );

        let (code, body) = stack
            .admin(
                Method::POST,
                &format!("/api/v1/users/{}/confirm-deletions", user.id),
                None,
            )
            .await
            .expect("confirm");
        assert!(code < 300, "{code} {body}");
        let remaining = contactsync_e2e::eventually(30, "the confirmed deletions", || async {
            let n = in_folder(&stack.mailbox_contacts(&user).await.ok()?).len();
            (n == 4).then_some(n)
        })
        .await;
        assert_eq!(remaining, 4);
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn c7_bad_data_fails_that_contact_alone_and_does_not_loop(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "ola", json!({})).await.expect("user");
        stack.sync(&user).await.expect("setup");
        let folder = stack
            .folder_id(&user, "Salesforce Contacts")
            .await
            .expect("folder");
        stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Good", "surname": "Contact"}),
            )
            .await
            .expect("good");
        stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Bad", "surname": "Email",
                "emailAddresses": [{"address": "not-an-email", "name": "x"}]}),
            )
            .await
            .expect("bad email");
        stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Long",
                "surname": "L".repeat(120)}),
            )
            .await
            .expect("too long");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["state"], "partial", "{summary}");
        assert_eq!(summary["writes"]["salesforce"]["created"], 1, "{summary}");
        let errors = summary["errors"].as_array().expect("errors");
        assert!(
            errors
                .iter()
                .any(|e| e["code"] == "INVALID_EMAIL_ADDRESS" && e["field"] == "Email"),
            "{summary}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e["code"] == "STRING_TOO_LONG" && e["field"] == "LastName"),
            "{summary}"
        );
        let live = stack.live_salesforce_contacts().await.expect("contacts");
        assert!(live.iter().any(|c| c["LastName"] == "Contact"));
        assert!(
            !live
                .iter()
                .any(|c| c["FirstName"] == "Bad" || c["FirstName"] == "Long"),
            "nothing truncated"
        );
        // No endless retry: the next session leaves them alone until they change.
        stack
            .assert_quiet_session(&user)
            .await
            .expect("C3 / C7: no retry loop");
        stack.stop().await.expect("stop");
    }
}
