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

/// C3 (issue 12): the notified session writes to the mailbox (the category and our stamp on the
/// user's new contact); Graph notifies those writes too, and they start no second, write-free
/// session: the session that made the Salesforce Contact is the user's last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_the_notifications_of_our_own_writes_start_no_further_session() {
    let stack = Stack::start_with(Options {
        notifications: true,
        ..Options::default()
    })
    .await
    .expect("stack");
    let user = stack.add_user("echo", json!({})).await.expect("user");
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("folder");
    stack
        .create_in_mailbox(
            &user,
            Some(&folder),
            json!({"givenName": "Only", "surname": "Once"}),
        )
        .await
        .expect("contact");
    eventually(20, "the notified change to reach Salesforce", || async {
        let live = stack.live_salesforce_contacts().await.ok()?;
        live.iter().any(|c| c["LastName"] == "Once").then_some(())
    })
    .await;
    // Graph has delivered both notifications, the user's create and the echo of our write
    // (the category and stamp on it); then the user settles.
    eventually(20, "Graph to deliver the echo of our write", || async {
        let (_, subscriptions) = stack
            .call(
                Method::GET,
                &format!("{}/_emulator/subscriptions", stack.graph_url),
                None,
                None,
            )
            .await
            .ok()?;
        let delivered: u64 = subscriptions["value"]
            .as_array()?
            .iter()
            .filter_map(|s| s["delivered"].as_u64())
            .sum();
        (delivered >= 2).then_some(())
    })
    .await;
    stack.settle(&user).await.expect("settled");
    let client = stack.pool.get().await.expect("db");
    let last = sync_state::sessions::last_finished(&**client, &user.id)
        .await
        .expect("sessions")
        .expect("sessions ran");
    assert_eq!(
        (last.trigger, last.writes.salesforce.created),
        (contracts::Trigger::Notification, 1),
        "the last session is the one that up-synced the contact, no echo session after it: \
         {last:?}"
    );
    stack.stop().await.expect("stop");
}
