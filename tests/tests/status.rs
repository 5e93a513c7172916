//! What the user's status promises, over the whole stack: a contact that fails stays listed in
//! `item_errors` until it syncs or is gone (C7), and `sync?wait` answers with a session that began
//! reading after the call, so a change made just before it is in the answer (SPEC §4).

use contactsync_e2e::{Provider, Stack, TestUser, both_providers, eventually};
use reqwest::Method;
use serde_json::{Value, json};

async fn status(stack: &Stack, user: &TestUser) -> Value {
    let (code, body) = stack
        .admin(
            Method::GET,
            &format!("/api/v1/users/{}/status", user.id),
            None,
        )
        .await
        .expect("status");
    assert_eq!(code, 200, "{body}");
    body
}

fn item_errors(status: &Value) -> Vec<Value> {
    status["item_errors"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no item_errors: {status}"))
}

fn mailbox_has(contacts: &[Value], surname: &str) -> bool {
    contacts
        .iter()
        .any(|c| c["folderDisplayName"] == "Salesforce Contacts" && c["surname"] == surname)
}

both_providers! {
    async fn c7_a_contact_salesforce_refuses_stays_in_item_errors_until_fixed_or_gone(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "uma", json!({})).await.expect("user");
        stack.sync(&user).await.expect("setup");
        let folder = stack
            .folder_id(&user, "Salesforce Contacts")
            .await
            .expect("folder");

        // Salesforce's duplicate rule blocks a Contact like one someone else owns: a refusal only
        // Salesforce can make. Next to it, a contact our checks refuse before writing.
        let (_, other) = stack
            .call(
                Method::POST,
                &format!("{}/_emulator/users", stack.salesforce_url),
                None,
                Some(json!({"Username": "someone-else@acme.test"})),
            )
            .await
            .expect("other user");
        let other_id = other["Id"].as_str().expect("other user id").to_owned();
        stack
            .create_in_salesforce(
                &user,
                json!({"LastName": "Dupont", "Email": "dana@example.com", "OwnerId": other_id}),
            )
            .await
            .expect("existing Contact");
        let (code, body) = stack
            .call(
                Method::POST,
                &format!("{}/_emulator/duplicate-rule", stack.salesforce_url),
                None,
                Some(json!({"mode": "block"})),
            )
            .await
            .expect("duplicate rule");
        assert_eq!(code, 200, "{body}");
        let refused = stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Dana", "surname": "Dupont",
                       "emailAddresses": [{"address": "dana@example.com", "name": "Dana"}]}),
            )
            .await
            .expect("refused contact");
        let invalid = stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Ivo", "surname": "Invalid",
                       "emailAddresses": [{"address": "not-an-email", "name": "Ivo"}]}),
            )
            .await
            .expect("invalid contact");

        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["state"], "partial", "{summary}");
        let first = item_errors(&status(&stack, &user).await);
        assert_eq!(first.len(), 2, "{first:?}");
        let duplicate = first
            .iter()
            .find(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("DUPLICATES_DETECTED"))
            })
            .unwrap_or_else(|| panic!("Salesforce's refusal is listed: {first:?}"))
            .clone();
        assert!(duplicate["code"].is_string() && duplicate["since"].is_string());
        assert!(
            first
                .iter()
                .any(|e| e["code"] == "INVALID_EMAIL_ADDRESS" && e["field"] == "Email"),
            "{first:?}"
        );

        // The next session rightly skips both (nothing changed): they stay listed, same since.
        let skipped = stack.sync(&user).await.expect("session");
        assert_eq!(
            skipped["errors"],
            json!([]),
            "skipped, not retried: {skipped}"
        );
        let second = item_errors(&status(&stack, &user).await);
        assert_eq!(
            second.len(),
            2,
            "a skipping session clears nothing: {second:?}"
        );
        let still = second
            .iter()
            .find(|e| e["code"] == duplicate["code"] && e["item"] == duplicate["item"])
            .expect("still failing");
        assert_eq!(still["since"], duplicate["since"], "since is kept");

        // Fixed (a new email) and gone (deleted from the folder): both leave the list.
        stack
            .edit_in_mailbox(
                &user,
                &refused,
                json!({"emailAddresses": [{"address": "dana.dupont@example.com", "name": "Dana"}]}),
            )
            .await
            .expect("fix");
        stack
            .delete_in_mailbox(&user, &invalid)
            .await
            .expect("delete");
        let fixed = stack.sync(&user).await.expect("session");
        assert_eq!(fixed["writes"]["salesforce"]["created"], 1, "{fixed}");
        let after = status(&stack, &user).await;
        assert_eq!(item_errors(&after), Vec::<Value>::new(), "{after}");
        assert!(
            stack
                .live_salesforce_contacts()
                .await
                .expect("contacts")
                .iter()
                .any(|c| c["Email"] == "dana.dupont@example.com"),
            "the fixed contact reached Salesforce"
        );
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn sync_wait_sees_a_change_made_just_before_the_call_while_a_session_was_already_reading(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "vic", json!({})).await.expect("user");
        stack
            .create_in_salesforce(&user, json!({"LastName": "Early"}))
            .await
            .expect("contact");
        stack.sync(&user).await.expect("first session");

        // Hold the next session in its mailbox read (the read of the sync folder answers 503
        // with Retry-After) once its Salesforce side has been read.
        stack
            .fail_next_mailbox_read(&user, 3)
            .await
            .expect("fault");
        let (code, started) = stack
            .admin(
                Method::POST,
                &format!("/api/v1/users/{}/sync", user.id),
                None,
            )
            .await
            .expect("sync");
        assert_eq!(code, 202, "{started}");
        let reading = started["job_id"].as_str().expect("job id").to_owned();
        let reading_id: uuid::Uuid = reading.parse().expect("a job id");
        eventually(
            30,
            "the session to be held with Salesforce read",
            || async {
                let held = stack.mailbox_faults_served(&user).await.ok()?;
                let client = stack.pool.get().await.ok()?;
                let read = sync_state::simulate::salesforce_read_stored(&**client, reading_id)
                    .await
                    .ok()??;
                (held && read).then_some(())
            },
        )
        .await;

        // A change after that session read Salesforce, then the call: the answer must include it.
        stack
            .create_in_salesforce(&user, json!({"LastName": "Late"}))
            .await
            .expect("late contact");
        let answer = stack.sync(&user).await.expect("sync?wait");
        assert_ne!(
            answer["job_id"].as_str(),
            Some(reading.as_str()),
            "not the session that was already reading: {answer}"
        );
        assert_eq!(answer["writes"]["exchange"]["created"], 1, "{answer}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        assert!(mailbox_has(&mailbox, "Late"), "{mailbox:?}");

        // The held session really missed the change: it was the follow-up that brought it.
        let client = stack.pool.get().await.expect("client");
        let held = sync_state::sessions::view(&**client, reading_id)
            .await
            .expect("held session")
            .expect("the held session is stored");
        assert_eq!(held.writes.exchange.created, 0, "{held:?}");
        drop(client);
        stack.stop().await.expect("stop");
    }
}
