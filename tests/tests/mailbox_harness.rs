//! The harness's provider-neutral mailbox checked against the emulators themselves (G1): what a
//! person does in Outlook or Google Contacts reads back in the one Graph-shaped form the rule
//! suites assert on. The user's sync is off, so no session touches the contacts.

use contactsync_e2e::{Provider, Stack, both_providers};
use serde_json::{Value, json};

const SYNC: &str = "Salesforce Contacts";

/// The contact with this id, as the harness reads the mailbox.
async fn read(stack: &Stack, user: &contactsync_e2e::TestUser, id: &str) -> Option<Value> {
    stack
        .mailbox_contacts(user)
        .await
        .expect("mailbox")
        .into_iter()
        .find(|c| c["id"] == id)
}

both_providers! {
    async fn the_neutral_mailbox_acts_read_back_in_graphs_shape(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack
            .add_user_on(provider, "harry", json!({"enabled": false}))
            .await
            .expect("user");
        // Made by the person here, unless a first session already set it up (B1).
        let sync = match stack.folder_id(&user, SYNC).await {
            Ok(id) => id,
            Err(_) => stack.create_folder(&user, None, SYNC).await.expect("folder"),
        };
        let club = stack
            .create_folder(&user, None, "Book club")
            .await
            .expect("folder");
        assert_eq!(stack.folder_id(&user, SYNC).await.expect("by name"), sync);
        let names = stack.folder_names(&user).await.expect("folders");
        assert!(names.iter().any(|n| n == SYNC) && names.iter().any(|n| n == "Book club"), "{names:?}");

        // Created in the folder with the category: every mapped field reads back.
        let contact = json!({"givenName": "Ada", "surname": "Lovelace", "title": "Lady",
            "companyName": "Analytical Engines", "jobTitle": "Countess", "department": "Maths",
            "emailAddresses": [{"address": "ada@example.com", "name": "Ada"}],
            "businessPhones": ["+44 20 1234"], "mobilePhone": "+44 77 1",
            "businessAddress": {"street": "1 Main St", "city": "London"},
            "personalNotes": "Notes", "categories": ["Salesforce"]});
        let ada = stack
            .create_in_mailbox(&user, Some(&sync), contact.clone())
            .await
            .expect("create");
        let read_back = read(&stack, &user, &ada).await.expect("created");
        for key in ["givenName", "surname", "title", "companyName", "jobTitle", "department",
                    "emailAddresses", "businessPhones", "mobilePhone", "personalNotes",
                    "categories"] {
            assert_eq!(read_back[key], contact[key], "{key}: {read_back}");
        }
        assert_eq!(read_back["businessAddress"]["city"], "London", "{read_back}");
        assert_eq!(read_back["folderDisplayName"], SYNC);
        assert_eq!(stack.mailbox_mirrors(&user).await.expect("mirrors").len(), 1);

        // Created outside any folder, without the category.
        let bob = stack
            .create_in_mailbox(&user, None, json!({"givenName": "Bob", "surname": "Outside"}))
            .await
            .expect("create");
        let outside = read(&stack, &user, &bob).await.expect("created");
        assert_ne!(outside["folderDisplayName"], SYNC, "{outside}");
        assert_eq!(outside["categories"], json!([]), "{outside}");

        // An edit replaces the fields it names, clears `[]`, keeps the others.
        stack
            .edit_in_mailbox(&user, &ada, json!({"jobTitle": "Mathematician", "businessPhones": [],
                                                 "categories": []}))
            .await
            .expect("edit");
        let edited = read(&stack, &user, &ada).await.expect("still there");
        assert_eq!(edited["jobTitle"], "Mathematician", "{edited}");
        assert_eq!(edited["businessPhones"], json!([]), "{edited}");
        assert_eq!(edited["categories"], json!([]), "{edited}");
        assert_eq!(edited["companyName"], "Analytical Engines", "{edited}");
        assert_eq!(edited["givenName"], "Ada", "{edited}");
        assert_eq!(edited["folderDisplayName"], SYNC, "{edited}");
        stack.set_category(&user, &ada, true).await.expect("category");
        let categorized = read(&stack, &user, &ada).await.expect("still there");
        assert_eq!(categorized["categories"], json!(["Salesforce"]), "{categorized}");

        // Out of the folder into another, and the other contact into the folder.
        let ada = stack
            .move_out_of_folder(&user, &ada, Some(&club))
            .await
            .expect("move out");
        let moved = read(&stack, &user, &ada).await.expect("moved");
        assert_eq!(moved["folderDisplayName"], "Book club", "{moved}");
        assert_eq!(moved["surname"], "Lovelace", "{moved}");
        let bob = stack.move_into_folder(&user, &bob, &sync).await.expect("move in");
        let moved = read(&stack, &user, &bob).await.expect("moved");
        assert_eq!(moved["folderDisplayName"], SYNC, "{moved}");

        // Deleted: gone for the user.
        stack.delete_in_mailbox(&user, &bob).await.expect("delete");
        assert!(read(&stack, &user, &bob).await.is_none());
        assert!(stack.mailbox_mirrors(&user).await.expect("mirrors").is_empty());
        stack.stop().await.expect("stop");
    }
}
