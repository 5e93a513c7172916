//! B15: Salesforce ids are compared in their 18-character form. A user registered with the
//! 15-character id Salesforce shows in its URLs, and ids a query returns in 15 characters, sync
//! like any other; an 18-character id whose checksum disagrees is refused with a 4xx naming the
//! field.

use contactsync_e2e::{Provider, Stack, TestUser, both_providers, eventually};
use reqwest::Method;
use serde_json::{Value, json};

fn in_folder(contacts: &[Value]) -> Vec<&Value> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .collect()
}

/// Makes the Salesforce emulator answer with 15-character record ids (or 18 again).
async fn salesforce_ids_of_length(stack: &Stack, length: u8) {
    let (status, body) = stack
        .call(
            Method::POST,
            &format!("{}/_emulator/id-length", stack.salesforce_url),
            None,
            Some(json!({ "length": length })),
        )
        .await
        .expect("id-length");
    assert_eq!(status, 200, "{body}");
}

/// The Salesforce ids of the user's link store, as stored.
async fn stored_link_ids(stack: &Stack, user: &TestUser) -> Vec<String> {
    let client = stack.pool.get().await.expect("db");
    client
        .query(
            "SELECT salesforce_id FROM contact_links
             WHERE user_id = $1 AND salesforce_id IS NOT NULL ORDER BY salesforce_id",
            &[&user.id],
        )
        .await
        .expect("links")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

both_providers! {
    async fn b15_scope_mine_with_a_user_registered_by_the_15_character_id_gets_their_contacts(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        // As a new user would: the id from the user's Salesforce URL, 15 characters.
        let user = stack
            .add_user_on_registered_as(provider, "fay", json!({"scope": "mine"}), |id18| {
                id18[..15].to_owned()
            })
            .await
            .expect("user");
        let other = stack.add_user_on(provider, "gus", json!({})).await.expect("other user");
        let (status, shown) = stack
            .admin(Method::GET, "/api/v1/users/fay", None)
            .await
            .expect("user");
        assert_eq!(status, 200, "{shown}");
        assert_eq!(
            shown["salesforce_user_id"], user.salesforce_user_id,
            "stored and answered in the 18-character form"
        );

        stack
            .create_in_salesforce(&user, json!({"FirstName": "Ada", "LastName": "Lovelace"}))
            .await
            .expect("contact");
        // Salesforce takes either form of an owner id too.
        stack
            .create_in_salesforce(
                &user,
                json!({"FirstName": "Grace", "LastName": "Hopper",
                       "OwnerId": &user.salesforce_user_id[..15]}),
            )
            .await
            .expect("contact owned by the 15-character id");
        stack
            .create_in_salesforce(
                &other,
                json!({"FirstName": "Not", "LastName": "Mine",
                       "OwnerId": other.salesforce_user_id}),
            )
            .await
            .expect("someone else's contact");

        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["state"], "succeeded", "{summary}");
        assert_eq!(summary["writes"]["exchange"]["created"], 2, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mut surnames: Vec<&str> = in_folder(&mailbox)
            .iter()
            .filter_map(|c| c["surname"].as_str())
            .collect();
        surnames.sort_unstable();
        assert_eq!(surnames, vec!["Hopper", "Lovelace"], "{mailbox:?}");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b15_account_and_owner_ids_a_query_returns_in_15_characters_still_sync(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "hal", json!({})).await.expect("user");
        salesforce_ids_of_length(&stack, 15).await;

        let account = stack
            .salesforce(
                &user,
                Method::POST,
                "/sobjects/Account",
                Some(json!({"Name": "Analytical Engines"})),
            )
            .await
            .expect("account");
        let account_id = account["id"].as_str().expect("account id").to_owned();
        let contact_id = stack
            .create_in_salesforce(
                &user,
                json!({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account_id}),
            )
            .await
            .expect("contact");
        let queried = stack
            .salesforce(
                &user,
                Method::GET,
                "/query?q=SELECT+Id,OwnerId,AccountId+FROM+Contact",
                None,
            )
            .await
            .expect("query");
        assert_eq!(
            queried["records"][0]["OwnerId"].as_str().map(str::len),
            Some(15),
            "the emulator answers in 15 characters: {queried}"
        );

        // Down: the Contact is the user's (OwnerId), its company comes from the Account.
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mirrors = in_folder(&mailbox);
        assert_eq!(mirrors.len(), 1, "{mailbox:?}");
        assert_eq!(mirrors[0]["companyName"], "Analytical Engines");

        // Up: a contact made in the folder becomes a Contact; the create answers 18 characters,
        // the next queries 15, and they are one record.
        let folder = stack
            .folder_id(&user, "Salesforce Contacts")
            .await
            .expect("folder");
        stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Grace", "surname": "Hopper", "companyName": "Analytical Engines"}),
            )
            .await
            .expect("mailbox contact");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["salesforce"]["created"], 1, "{summary}");
        let hopper = stack
            .live_salesforce_contacts()
            .await
            .expect("contacts")
            .into_iter()
            .find(|c| c["LastName"] == "Hopper")
            .expect("Hopper in Salesforce");
        assert_eq!(
            hopper["AccountId"], account_id,
            "B14 linked the Account by name"
        );

        // A change in Salesforce follows the link found through the 15-character Id.
        stack
            .salesforce(
                &user,
                Method::PATCH,
                &format!("/sobjects/Contact/{contact_id}"),
                Some(json!({"Title": "Countess"})),
            )
            .await
            .expect("update");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["updated"], 1, "{summary}");
        assert_eq!(summary["writes"]["exchange"]["created"], 0, "{summary}");
        stack.assert_quiet_session(&user).await.expect("C3");

        let stored = stored_link_ids(&stack, &user).await;
        assert_eq!(stored.len(), 2, "one link each: {stored:?}");
        assert!(
            stored.iter().all(|id| id.len() == 18),
            "links store the 18-character form: {stored:?}"
        );
        assert_eq!(
            stack
                .live_salesforce_contacts()
                .await
                .expect("contacts")
                .len(),
            2,
            "no duplicate Contact"
        );
        stack.stop().await.expect("stop");
    }

    async fn b15_the_admin_api_refuses_an_18_character_id_whose_checksum_disagrees(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        // 005xx000001SvbQ's checksum is AAS.
        let (status, body) = stack
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": "ivy", "mailbox": "ivy@contoso.test", "provider": provider.as_str(),
                            "salesforce_user_id": "005xx000001SvbQAAA"})),
            )
            .await
            .expect("call");
        assert_eq!(status, 400, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("salesforce_user_id:"), "{body}");
        assert!(message.contains("checksum"), "{body}");
        let (status, _) = stack
            .admin(Method::GET, "/api/v1/users/ivy", None)
            .await
            .expect("call");
        assert_eq!(status, 404, "nothing was registered");

        let (status, body) = stack
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": "ivy", "mailbox": "ivy@contoso.test", "provider": provider.as_str(),
                            "salesforce_user_id": "005xx000001SvbQ"})),
            )
            .await
            .expect("call");
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["salesforce_user_id"], "005xx000001SvbQAAS");
        // The same user again in the other form is the same registration, not a conflict.
        let (status, body) = stack
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": "ivy", "mailbox": "ivy@contoso.test", "provider": provider.as_str(),
                            "salesforce_user_id": "005xx000001SvbQaas"})),
            )
            .await
            .expect("call");
        assert_eq!(status, 200, "{body}");

        let (status, body) = stack
            .admin(
                Method::PUT,
                "/api/v1/users/ivy/settings/contacts",
                Some(json!({"scope": "list_view", "list_view_id": "00BD0000005WcCNAAA"})),
            )
            .await
            .expect("call");
        assert_eq!(status, 400, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("list_view_id:"), "{body}");
        let (status, body) = stack
            .admin(
                Method::PUT,
                "/api/v1/users/ivy/settings/contacts",
                Some(json!({"scope": "list_view", "list_view_id": "00BD0000005WcCN"})),
            )
            .await
            .expect("call");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["list_view_id"], "00BD0000005WcCNMA0");
        stack.stop().await.expect("stop");
    }

    async fn b15_an_outbound_message_with_15_character_ids_reaches_the_owner_registered_by_15(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack
            .add_user_on_registered_as(provider, "jo", json!({}), |id18| id18[..15].to_owned())
            .await
            .expect("user");
        salesforce_ids_of_length(&stack, 15).await;
        let (status, body) = stack
            .call(
                Method::POST,
                &format!("{}/_emulator/outbound", stack.salesforce_url),
                None,
                Some(
                    json!({"endpoint_url": format!("{}/webhooks/salesforce", stack.gateway_url),
                            "fields": ["Id", "OwnerId", "LastName"]}),
                ),
            )
            .await
            .expect("outbound");
        assert!(status < 300, "{status} {body}");
        stack
            .create_in_salesforce(&user, json!({"FirstName": "Out", "LastName": "Bound"}))
            .await
            .expect("contact");
        eventually(
            20,
            "the Outbound Message (15-character OwnerId) to bring the Contact down",
            || async {
                let contacts = stack.mailbox_contacts(&user).await.ok()?;
                in_folder(&contacts)
                    .iter()
                    .any(|c| c["surname"] == "Bound")
                    .then_some(())
            },
        )
        .await;
        stack.stop().await.expect("stop");
    }
}
