//! The operators' dashboard in a real headless Chromium (issue 15), over the whole stack: an
//! operator signs in with the form (a `Secure`, `HttpOnly`, `SameSite=Strict` cookie; no token in
//! any URL), confirms a user's held deletions (C5) and sees them carried out, and pages, filters
//! and searches 1,000 users. Each step leaves a screenshot in `target/screenshots/`.

use contactsync_e2e::{Browser, Stack, eventually};
use fantoccini::Locator;
use reqwest::Method;
use serde_json::{Value, json};

fn in_folder(contacts: &[Value]) -> usize {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .count()
}

/// The value beside a `<dt>` of the overview.
async fn fact(browser: &Browser, term: &str) -> String {
    let xpath = format!("//dt[normalize-space(.)='{term}']/following-sibling::dd[1]");
    browser
        .client
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no {term}: {e}"))
        .text()
        .await
        .expect("text")
}

/// Signs in through the form, as a person would, and checks what the browser keeps.
async fn sign_in(browser: &Browser, stack: &Stack) {
    browser
        .client
        .goto(&format!("{}/dashboard", stack.gateway_url))
        .await
        .expect("dashboard");
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/dashboard/login", "sent to the sign-in form");
    assert_eq!(
        browser.accessibility_problems().await.expect("checks"),
        Vec::<String>::new()
    );
    browser
        .client
        .find(Locator::Id("token"))
        .await
        .expect("token field")
        .send_keys(contactsync_e2e::ADMIN_TOKEN)
        .await
        .expect("typed");
    browser.click_button("Sign in").await.expect("sign in");
    let text = browser
        .reload_until(10, "the dashboard", |t| t.contains("Overview"))
        .await
        .expect("signed in");
    assert!(text.contains("Sign out"), "{text}");
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/dashboard");
    assert!(
        !url.as_str().contains(contactsync_e2e::ADMIN_TOKEN),
        "no token in the URL: {url}"
    );
    let cookie = browser
        .client
        .get_named_cookie("contactsync_operator")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly");
    assert_eq!(cookie.secure(), Some(true), "Secure");
    assert_eq!(
        format!("{:?}", cookie.same_site()),
        "Some(Strict)",
        "SameSite=Strict"
    );
    assert!(
        !cookie.value().contains(contactsync_e2e::ADMIN_TOKEN),
        "the cookie is not the token"
    );
    let from_script = browser
        .client
        .execute("return document.cookie;", vec![])
        .await
        .expect("document.cookie");
    assert_eq!(from_script, json!(""), "scripts cannot read it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_and_confirms_held_deletions() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("hal", json!({})).await.expect("user");
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
    assert_eq!(
        summary["writes"]["exchange"]["deleted"], 0,
        "held: {summary}"
    );

    let browser = Browser::start("dashboard-held").await.expect("browser");
    sign_in(&browser, &stack).await;
    browser.screenshot("1-signed-in").await.expect("shot");
    browser
        .client
        .find(Locator::Id("filter"))
        .await
        .expect("filter")
        .select_by_label("Held deletions")
        .await
        .expect("held");
    browser.click_button("Show").await.expect("show");
    let text = browser
        .reload_until(10, "the held users", |t| t.contains("of 1 user"))
        .await
        .expect("filtered");
    assert!(text.contains("hal"), "{text}");
    assert_eq!(
        browser.accessibility_problems().await.expect("checks"),
        Vec::<String>::new()
    );
    browser.scroll_to("users-title").await.expect("scroll");
    browser.screenshot("2-held").await.expect("shot");

    // The user's own page says so too, with the operator's confirm button.
    browser
        .client
        .find(Locator::LinkText("hal"))
        .await
        .expect("user link")
        .click()
        .await
        .expect("open");
    let page = browser
        .reload_until(10, "the user's page", |t| t.contains("Deletions held"))
        .await
        .expect("settings page");
    assert!(page.contains("Nothing was deleted"), "{page}");
    browser.client.back().await.expect("back");

    browser
        .click_button("Confirm deletions")
        .await
        .expect("confirm");
    let text = browser
        .reload_until(10, "the confirmation", |t| {
            t.contains("Deletions confirmed for hal")
        })
        .await
        .expect("confirmed");
    assert!(text.contains("Deletions confirmed"));
    eventually(60, "the 20 mirrors deleted", || async {
        let contacts = stack.mailbox_contacts(&user).await.ok()?;
        (in_folder(&contacts) == 4).then_some(())
    })
    .await;
    browser
        .client
        .goto(&format!("{}/dashboard?filter=held", stack.gateway_url))
        .await
        .expect("held again");
    browser
        .reload_until(30, "no held users left", |t| t.contains("No users match"))
        .await
        .expect("none held");
    browser.screenshot("3-confirmed").await.expect("shot");
    browser.close().await.expect("close");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_pages_filters_and_searches_a_thousand_users() {
    let stack = Stack::start().await.expect("stack");
    {
        let client = stack.pool.get().await.expect("client");
        // 1,000 users as a registration would leave them; their next periodic session is a day
        // away, so the scheduler leaves them alone. Every 10th has sync off, every 25th a
        // failing contact (C7), and three have held deletions (C5).
        client
            .batch_execute(
                "INSERT INTO users (id, org_id, mailbox, salesforce_user_id)
                 SELECT format('user%s', lpad(i::text, 4, '0')), 'dev',
                        format('person%s@contoso.test', lpad(i::text, 4, '0')), '005xx000001SvbQAAS'
                 FROM generate_series(0, 999) i;
                 INSERT INTO contact_settings (user_id, enabled)
                 SELECT id, right(id, 1) <> '0' FROM users WHERE id LIKE 'user%';
                 INSERT INTO user_sync_state (user_id, next_sync_at, last_error)
                 SELECT id, now() + interval '1 day',
                        CASE WHEN id IN ('user0007', 'user0507', 'user0907') THEN
                          '{\"code\": \"mass_delete_guard\", \"message\": \"This session would delete 30 of 40 synced contacts\"}'::jsonb
                        END
                 FROM users WHERE id LIKE 'user%';
                 INSERT INTO item_errors (user_id, item_key, code, field, item, message, since, seen_at)
                 SELECT id, 'k-' || id, 'INVALID_EMAIL_ADDRESS', 'Email', 'Somebody', 'invalid email', now(), now()
                 FROM users WHERE id LIKE 'user%' AND (right(id, 3)::int % 25) = 0;",
            )
            .await
            .expect("1,000 users");
    }
    let browser = Browser::start("dashboard-1000").await.expect("browser");
    sign_in(&browser, &stack).await;
    let text = browser.text().await.expect("text");
    assert!(text.contains("Showing 1–50 of 1,000 users"), "{text}");
    assert!(text.contains("Page 1 of 20"), "{text}");
    assert!(text.contains("100 disabled"), "{text}");
    assert_eq!(fact(&browser, "Failing contacts").await, "40 users");
    assert_eq!(fact(&browser, "Held deletions").await, "3 users");
    assert_eq!(
        browser.accessibility_problems().await.expect("checks"),
        Vec::<String>::new()
    );
    browser.screenshot("1-page-1").await.expect("shot");

    browser
        .client
        .find(Locator::LinkText("Next"))
        .await
        .expect("next")
        .click()
        .await
        .expect("next page");
    let text = browser
        .reload_until(10, "page 2", |t| t.contains("Page 2 of 20"))
        .await
        .expect("page 2");
    assert!(text.contains("Showing 51–100 of 1,000 users"), "{text}");
    assert!(
        text.contains("user0050") && !text.contains("user0049"),
        "{text}"
    );

    browser
        .client
        .find(Locator::Id("filter"))
        .await
        .expect("filter")
        .select_by_label("With errors")
        .await
        .expect("errors");
    browser.click_button("Show").await.expect("show");
    let text = browser
        .reload_until(10, "the users with errors", |t| t.contains("of 40 users"))
        .await
        .expect("filtered");
    assert!(text.contains("1 contact failing"), "{text}");
    assert!(
        text.contains("Page 1 of 1"),
        "the filter starts at page 1: {text}"
    );
    browser.scroll_to("users-title").await.expect("scroll");
    browser.screenshot("2-with-errors").await.expect("shot");

    browser
        .client
        .goto(&format!(
            "{}/dashboard?filter=disabled&page=2",
            stack.gateway_url
        ))
        .await
        .expect("disabled page 2");
    let text = browser.text().await.expect("text");
    assert!(text.contains("Showing 51–100 of 100 users"), "{text}");

    let search = browser.client.find(Locator::Id("q")).await.expect("search");
    search.clear().await.expect("clear");
    search.send_keys("PERSON0512@").await.expect("typed");
    browser
        .client
        .find(Locator::Id("filter"))
        .await
        .expect("filter")
        .select_by_label("All users")
        .await
        .expect("all");
    browser.click_button("Show").await.expect("search");
    let text = browser
        .reload_until(10, "the one match", |t| t.contains("of 1 user"))
        .await
        .expect("found");
    assert!(text.contains("user0512"), "{text}");
    browser.scroll_to("users-title").await.expect("scroll");
    browser.screenshot("3-search").await.expect("shot");
    browser.close().await.expect("close");
    stack.stop().await.expect("stop");
}
