//! The Sync Settings page in a real headless Chromium (issue 15), over the whole stack: a user
//! opens their signed link, switches the scope and clicks **Apply**, and sees the session's
//! result; sees a contact Salesforce refuses listed with what to do, fixes it, clicks **Sync
//! now** and sees it gone — with 2,000 contacts in sync beside it. Each step leaves a screenshot
//! in `target/screenshots/`. The page passes the accessibility checks of
//! [`Browser::accessibility_problems`] and its focus follows the reading order.

use contactsync_e2e::{Browser, Stack, TestUser, eventually};
use fantoccini::Locator;
use reqwest::Method;
use serde_json::{Value, json};

/// The user's settings link from the admin API, pointed at the test's gateway.
async fn settings_link(stack: &Stack, user: &TestUser) -> String {
    let (code, body) = stack
        .admin(
            Method::GET,
            &format!("/api/v1/users/{}/settings-link", user.id),
            None,
        )
        .await
        .expect("settings link");
    assert_eq!(code, 200, "{body}");
    let url = url::Url::parse(body["url"].as_str().expect("url")).expect("a URL");
    format!(
        "{}{}?{}",
        stack.gateway_url,
        url.path(),
        url.query().expect("exp and sig")
    )
}

fn in_folder(contacts: &[Value]) -> Vec<String> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_scope_and_applying_runs_a_session_the_page_then_shows() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("sam", json!({})).await.expect("user");
    let (_, other) = stack
        .call(
            Method::POST,
            &format!("{}/_emulator/users", stack.salesforce_url),
            None,
            Some(json!({"Username": "colleague@acme.test"})),
        )
        .await
        .expect("other Salesforce user");
    let other_id = other["Id"].as_str().expect("Id").to_owned();
    stack
        .create_in_salesforce(&user, json!({"LastName": "Owned"}))
        .await
        .expect("own Contact");
    stack
        .create_in_salesforce(&user, json!({"LastName": "Colleague", "OwnerId": other_id}))
        .await
        .expect("a colleague's Contact");
    stack.sync(&user).await.expect("first session");
    let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
    assert_eq!(in_folder(&mailbox), vec!["Owned"], "Only my Contacts");

    let browser = Browser::start("settings-scope").await.expect("browser");
    browser
        .client
        .goto(&settings_link(&stack, &user).await)
        .await
        .expect("page");
    let text = browser.text().await.expect("text");
    for words in [
        "Sync Salesforce contacts",
        "Customize scope",
        "All available Contacts",
        "Only my Contacts",
        "Custom Salesforce view",
        "Auto-removal",
        "Apply",
        "Contacts in sync",
        "Next sync",
        "Near-real-time sync",
        "Sync now",
    ] {
        assert!(text.contains(words), "{words:?} on the page:\n{text}");
    }
    assert!(
        text.contains("1 contact (1 in your mailbox"),
        "one in sync:\n{text}"
    );
    let switch = browser
        .client
        .find(Locator::Id("enabled"))
        .await
        .expect("switch");
    assert!(switch.is_selected().await.expect("checked"), "sync is on");
    assert_eq!(
        browser.accessibility_problems().await.expect("checks"),
        Vec::<String>::new()
    );
    // Focus follows the reading order: the switch, the chosen scope, the view picker,
    // Auto-removal, the chosen winner, Apply.
    let mut focused = Vec::new();
    for _ in 0..6 {
        browser
            .client
            .active_element()
            .await
            .expect("active")
            .send_keys("\u{E004}")
            .await
            .expect("tab");
        let id = browser
            .client
            .execute(
                "const a = document.activeElement; return a.id || a.textContent.trim();",
                vec![],
            )
            .await
            .expect("active id");
        focused.push(id.as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        focused,
        [
            "enabled",
            "scope-mine",
            "list_view_id",
            "auto_removal",
            "winner-salesforce",
            "Apply"
        ],
        "focus order"
    );
    browser
        .screenshot("1-only-my-contacts")
        .await
        .expect("shot");

    browser
        .click_label("All available Contacts")
        .await
        .expect("scope");
    browser.click_button("Apply").await.expect("apply");
    let applied = browser
        .reload_until(60, "the session of the new scope", |t| {
            t.contains("Settings applied") || t.contains("2 contacts")
        })
        .await
        .expect("applied");
    assert!(!applied.contains("Not applied"), "{applied}");
    let all = browser
        .client
        .find(Locator::Id("scope-all"))
        .await
        .expect("radio");
    assert!(all.is_selected().await.expect("selected"), "stored");
    let text = browser
        .reload_until(60, "both contacts in sync", |t| {
            t.contains("2 contacts (2 in your mailbox") && !t.contains("running now")
        })
        .await
        .expect("in sync");
    assert!(text.contains("Last sync"), "{text}");
    let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
    let mut names = in_folder(&mailbox);
    names.sort();
    assert_eq!(names, vec!["Colleague", "Owned"], "All available Contacts");
    browser
        .screenshot("2-all-available-contacts")
        .await
        .expect("shot");
    browser.close().await.expect("close");
    stack.stop().await.expect("stop");
}

/// Creates `n` Contacts owned by the user, 200 to a call (`composite/sobjects`).
async fn bulk_contacts(stack: &Stack, user: &TestUser, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({"attributes": {"type": "Contact"}, "LastName": format!("Bulk{i:04}"),
                       "OwnerId": user.salesforce_user_id})
            })
            .collect();
        let created = stack
            .salesforce(
                user,
                Method::POST,
                "/composite/sobjects",
                Some(json!({"allOrNone": true, "records": records})),
            )
            .await
            .expect("bulk create");
        assert!(
            created
                .as_array()
                .is_some_and(|r| r.iter().all(|r| r["success"] == true)),
            "{created}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_contact_is_listed_with_what_to_do_until_it_is_fixed() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("ivy", json!({})).await.expect("user");
    bulk_contacts(&stack, &user, 2000).await;
    let (code, first) = stack
        .admin(
            Method::POST,
            &format!("/api/v1/users/{}/sync?wait=300", user.id),
            None,
        )
        .await
        .expect("first session");
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["writes"]["exchange"]["created"], 2000, "{first}");
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("folder");
    let invalid = stack
        .create_in_mailbox(
            &user,
            Some(&folder),
            json!({"givenName": "Ivo", "surname": "Invalid",
                   "emailAddresses": [{"address": "not-an-email", "name": "Ivo"}]}),
        )
        .await
        .expect("a contact Salesforce refuses");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "partial", "{summary}");

    let browser = Browser::start("settings-failing").await.expect("browser");
    let link = settings_link(&stack, &user).await;
    browser.client.goto(&link).await.expect("page");
    let text = browser.text().await.expect("text");
    assert!(text.contains("2,000 contacts"), "{text}");
    assert!(text.contains("Contacts not syncing (1)"), "{text}");
    assert!(text.contains("INVALID_EMAIL_ADDRESS"), "{text}");
    assert!(
        text.contains("Correct the email address: it must look like name@example.com."),
        "{text}"
    );
    assert!(text.contains("It is tried again as soon as it changes."));
    assert_eq!(
        browser.accessibility_problems().await.expect("checks"),
        Vec::<String>::new()
    );
    browser
        .screenshot("1-one-failing-2000-in-sync")
        .await
        .expect("shot");

    // The user corrects the address in Outlook and asks for a sync.
    stack
        .graph(
            &user,
            Method::PATCH,
            &format!("/contacts/{invalid}"),
            Some(json!({"emailAddresses": [{"address": "ivo@example.com", "name": "Ivo"}]})),
        )
        .await
        .expect("fix");
    browser.click_button("Sync now").await.expect("sync now");
    browser
        .wait_for_text(10, "the notice", |t| t.contains("Sync started"))
        .await
        .expect("sync started");
    // The status panel refreshes itself while the page is open: no reload.
    browser
        .wait_for_text(90, "the status to update by itself", |t| {
            t.contains("Every contact syncs") && !t.contains("running now")
        })
        .await
        .expect("fixed");
    browser.client.refresh().await.expect("reload");
    let text = browser.text().await.expect("text");
    assert!(!text.contains("INVALID_EMAIL_ADDRESS"), "{text}");
    assert!(text.contains("2,001 contacts"), "{text}");
    eventually(30, "the contact in Salesforce", || async {
        let contacts = stack.live_salesforce_contacts().await.ok()?;
        contacts
            .iter()
            .any(|c| c["Email"] == "ivo@example.com")
            .then_some(())
    })
    .await;
    browser.screenshot("2-fixed").await.expect("shot");
    browser.close().await.expect("close");
    stack.stop().await.expect("stop");
}
