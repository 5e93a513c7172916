//! Mailbox → Salesforce (B4, B8–B14), each in one session (C6), each followed by a session that
//! writes nothing (C3).

use contactsync_e2e::{Provider, Stack, TestUser, both_providers};
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

async fn ready(stack: &Stack, provider: Provider, id: &str, settings: Value) -> (TestUser, String) {
    let user = stack
        .add_user_on(provider, id, settings)
        .await
        .expect("user");
    stack.sync(&user).await.expect("setup session");
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("B1 folder");
    (user, folder)
}

both_providers! {
    async fn b8_b14_a_contact_created_in_the_folder_reaches_salesforce_owned_by_the_user_with_its_account(provider: Provider)
     {
        let stack = Stack::start().await.expect("stack");
        let (user, folder) = ready(&stack, provider, "eve", json!({})).await;
        for (name, created_hint) in [
            ("Globex Corporation", "2020"),
            ("Globex", "2021"),
            ("Initech", "2022"),
        ] {
            stack
                .salesforce(
                    &user,
                    Method::POST,
                    "/sobjects/Account",
                    Some(json!({"Name": name, "Description": created_hint})),
                )
                .await
                .expect("account");
        }
        stack
            .create_in_mailbox(&user, Some(&folder), json!({"givenName": "Hank", "surname": "Scorpio",
                "companyName": "Globex", "emailAddresses": [{"address": "hank@globex.test", "name": "Hank"}],
                "businessPhones": ["+1 555 0100"]}))
            .await
            .expect("contact");
        stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Bill", "surname": "Lumbergh",
                "companyName": "nitec"}),
            )
            .await
            .expect("contact");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["salesforce"]["created"], 2, "{summary}");
        let live = stack.live_salesforce_contacts().await.expect("contacts");
        let hank = live
            .iter()
            .find(|c| c["LastName"] == "Scorpio")
            .expect("Hank created");
        assert_eq!(hank["FirstName"], "Hank");
        assert_eq!(hank["Email"], "hank@globex.test");
        assert_eq!(hank["Phone"], "+1 555 0100");
        assert_eq!(
            hank["OwnerId"],
            user.salesforce_user_id.as_str(),
            "B8: owned by the user"
        );
        assert_eq!(
            stack.account_name(hank).await.expect("account").as_deref(),
            Some("Globex"),
            "B14 (1): the exact match, not the substring one: {hank}"
        );
        let bill = live
            .iter()
            .find(|c| c["LastName"] == "Lumbergh")
            .expect("Bill created");
        assert_eq!(
            stack.account_name(bill).await.expect("account").as_deref(),
            Some("Initech"),
            "B14 (2): the one Account containing it"
        );
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        assert!(
            in_folder(&mailbox).iter().all(|c| has_category(c)),
            "B8: the category is set: {mailbox:?}"
        );
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b4_b9_only_categorized_contacts_elsewhere_move_into_the_folder_and_reach_salesforce(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let (user, _folder) = ready(&stack, provider, "fay", json!({})).await;
        stack
            .create_in_mailbox(
                &user,
                None,
                json!({"givenName": "Personal", "surname": "Friend"}),
            )
            .await
            .expect("personal");
        let original = stack
            .create_in_mailbox(
                &user,
                None,
                json!({"givenName": "Work", "surname": "Contact",
                "categories": ["Salesforce"]}),
            )
            .await
            .expect("categorized");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["salesforce"]["created"], 1, "{summary}");
        let live = stack.live_salesforce_contacts().await.expect("contacts");
        assert!(
            live.iter().any(|c| c["LastName"] == "Contact"),
            "B9 created in Salesforce"
        );
        assert!(
            !live.iter().any(|c| c["LastName"] == "Friend"),
            "B4: personal contacts stay private"
        );
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let work: Vec<_> = mailbox
            .iter()
            .filter(|c| c["surname"] == "Contact")
            .collect();
        assert_eq!(
            work.len(),
            1,
            "B9: moved (copy + delete), never duplicated: {mailbox:?}"
        );
        assert_eq!(work[0]["folderDisplayName"], "Salesforce Contacts");
        assert!(has_category(work[0]));
        match provider {
            // Graph has no move: a copy with a new id, the original deleted.
            Provider::Exchange => assert_ne!(work[0]["id"], original.as_str(), "B9: copied"),
            // A Gmail contact joins the group: the same contact, in both groups.
            Provider::Gmail => assert_eq!(work[0]["id"], original.as_str(), "G1: the same"),
        }
        let friend: Vec<_> = mailbox
            .iter()
            .filter(|c| c["surname"] == "Friend")
            .collect();
        assert_eq!(friend.len(), 1);
        assert_ne!(friend[0]["folderDisplayName"], "Salesforce Contacts");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b10_b13_a_removed_category_comes_back_and_edits_reach_salesforce(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let (user, folder) = ready(&stack, provider, "gus", json!({})).await;
        let id = stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Nora", "surname": "Batty"}),
            )
            .await
            .expect("contact");
        stack.sync(&user).await.expect("session");
        // The user strips the category and edits the job title in Outlook or Google Contacts.
        stack
            .edit_in_mailbox(&user, &id, json!({"categories": [], "jobTitle": "Knitter"}))
            .await
            .expect("edit");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["salesforce"]["updated"], 1, "{summary}");
        let live = stack.live_salesforce_contacts().await.expect("contacts");
        let nora = live
            .iter()
            .find(|c| c["LastName"] == "Batty")
            .expect("Nora");
        assert_eq!(nora["Title"], "Knitter", "B13");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mirror = in_folder(&mailbox)[0];
        assert!(
            has_category(mirror),
            "B10: the category is restored: {mirror}"
        );
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b12_deleted_in_folder_with_auto_removal_off_recreates_the_mirror(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let (user, _) = ready(&stack, provider, "hal", json!({"auto_removal": false})).await;
        stack
            .create_in_salesforce(&user, json!({"FirstName": "Keep", "LastName": "Me"}))
            .await
            .expect("contact");
        stack.sync(&user).await.expect("session");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let id = in_folder(&mailbox)[0]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        stack
            .delete_in_mailbox(&user, &id)
            .await
            .expect("delete");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");
        assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let mirrors = in_folder(&mailbox);
        assert_eq!(mirrors.len(), 1);
        assert_eq!(mirrors[0]["surname"], "Me");
        assert_eq!(
            stack
                .live_salesforce_contacts()
                .await
                .expect("contacts")
                .iter()
                .filter(|c| c["LastName"] == "Me")
                .count(),
            1
        );
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b12_deleted_in_folder_with_auto_removal_on_deletes_the_salesforce_contact(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let (user, _) = ready(&stack, provider, "ida", json!({"auto_removal": true})).await;
        stack
            .create_in_salesforce(&user, json!({"FirstName": "Gone", "LastName": "Soon"}))
            .await
            .expect("contact");
        stack.sync(&user).await.expect("session");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let id = in_folder(&mailbox)[0]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        stack
            .delete_in_mailbox(&user, &id)
            .await
            .expect("delete");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["salesforce"]["deleted"], 1, "{summary}");
        assert!(
            !stack
                .live_salesforce_contacts()
                .await
                .expect("contacts")
                .iter()
                .any(|c| c["LastName"] == "Soon")
        );
        assert!(in_folder(&stack.mailbox_contacts(&user).await.expect("mailbox")).is_empty());
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn b11_a_synced_contact_moved_out_loses_its_category_and_counts_as_removed(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let (user, _) = ready(&stack, provider, "jim", json!({"auto_removal": false})).await;
        stack
            .create_in_salesforce(&user, json!({"FirstName": "Moved", "LastName": "Away"}))
            .await
            .expect("contact");
        stack.sync(&user).await.expect("session");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let id = in_folder(&mailbox)[0]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        // The user drags it to the default Contacts folder in Outlook (for Gmail: takes it out
        // of the "Salesforce Contacts" group).
        stack
            .move_out_of_folder(&user, &id, None)
            .await
            .expect("move");
        stack.sync(&user).await.expect("session");
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        let moved: Vec<_> = mailbox
            .iter()
            .filter(|c| c["surname"] == "Away" && c["folderDisplayName"] != "Salesforce Contacts")
            .collect();
        assert_eq!(moved.len(), 1, "{mailbox:?}");
        assert!(
            !has_category(moved[0]),
            "B11: the category is removed: {}",
            moved[0]
        );
        assert_eq!(
            in_folder(&mailbox).len(),
            1,
            "B12 (auto-removal off): the mirror is back"
        );
        assert_eq!(
            stack
                .live_salesforce_contacts()
                .await
                .expect("contacts")
                .iter()
                .filter(|c| c["LastName"] == "Away")
                .count(),
            1,
            "nothing deleted in Salesforce"
        );
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }
}
