//! B3: a change on either side syncs within seconds of its change notification, with no session
//! requested: Graph change notifications and Salesforce Outbound Messages reach the gateway, which
//! starts the user's session.

use contactsync_e2e::{Options, Stack, eventually};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_a_contact_created_in_outlook_reaches_salesforce_on_its_change_notification() {
    let stack = Stack::start_with(Options {
        notifications: true,
        ..Options::default()
    })
    .await
    .expect("stack");
    let user = stack.add_user("nia", json!({})).await.expect("user");
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("folder");
    let (_, subscriptions) = stack
        .call(
            Method::GET,
            &format!("{}/_emulator/subscriptions", stack.graph_url),
            None,
            None,
        )
        .await
        .expect("subscriptions");
    assert!(
        subscriptions.to_string().contains("webhooks/graph"),
        "the folder is subscribed: {subscriptions}"
    );
    stack
        .create_in_mailbox(
            &user,
            Some(&folder),
            json!({"givenName": "Swift", "surname": "Notified"}),
        )
        .await
        .expect("contact");
    eventually(20, "the notified change to reach Salesforce", || async {
        let live = stack.live_salesforce_contacts().await.ok()?;
        live.iter()
            .any(|c| c["LastName"] == "Notified")
            .then_some(())
    })
    .await;
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_a_contact_created_in_salesforce_reaches_the_mailbox_on_its_outbound_message() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("oz", json!({})).await.expect("user");
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
        "the Outbound Message to bring the Contact down",
        || async {
            let contacts = stack.mailbox_contacts(&user).await.ok()?;
            contacts
                .iter()
                .any(|c| c["surname"] == "Bound" && c["folderDisplayName"] == "Salesforce Contacts")
                .then_some(())
        },
    )
    .await;
    stack.stop().await.expect("stop");
}
