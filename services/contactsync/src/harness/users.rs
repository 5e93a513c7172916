//! A test user: a mailbox (Exchange in the Graph emulator or Gmail in the Gmail emulator, G1), a
//! Salesforce user, registered and enabled through the admin API; their sessions; and the edits a
//! person makes in Salesforce, through its real API. The mailbox side is [`super::mailbox`].

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Provider, Stack};

const API: &str = "/services/data/v60.0";

/// A registered user with contact sync enabled.
pub struct TestUser {
    pub id: String,
    /// The mailbox's address (Graph's `userPrincipalName`, the Gmail user's email).
    pub mailbox: String,
    /// Where the mailbox lives (G1).
    pub provider: Provider,
    pub salesforce_user_id: String,
    pub salesforce_username: String,
    /// The bearer token of the user's mailbox API (Graph or People API).
    pub(super) mailbox_token: String,
    salesforce_token: String,
}

impl Stack {
    /// An Exchange user with a mailbox and a Salesforce user, registered, with contact sync
    /// enabled and `settings` merged over the defaults (SPEC §4).
    pub async fn add_user(&self, id: &str, settings: Value) -> anyhow::Result<TestUser> {
        self.add_user_on(Provider::Exchange, id, settings).await
    }

    /// [`Stack::add_user`] with the mailbox on `provider` (G1).
    pub async fn add_user_on(
        &self,
        provider: Provider,
        id: &str,
        settings: Value,
    ) -> anyhow::Result<TestUser> {
        self.add_user_on_registered_as(provider, id, settings, str::to_owned)
            .await
    }

    /// [`Stack::add_user`], registering the Salesforce user id as `registered` spells the
    /// 18-character one the emulator made (e.g. its 15-character form, B15).
    /// [`TestUser::salesforce_user_id`] stays the emulator's.
    pub async fn add_user_registered_as(
        &self,
        id: &str,
        settings: Value,
        registered: impl FnOnce(&str) -> String,
    ) -> anyhow::Result<TestUser> {
        self.add_user_on_registered_as(Provider::Exchange, id, settings, registered)
            .await
    }

    /// [`Stack::add_user_registered_as`] with the mailbox on `provider` (G1).
    pub async fn add_user_on_registered_as(
        &self,
        provider: Provider,
        id: &str,
        settings: Value,
        registered: impl FnOnce(&str) -> String,
    ) -> anyhow::Result<TestUser> {
        let mailbox = format!("{id}@contoso.test");
        let mailbox_token = self.create_mailbox(provider, &mailbox).await?;
        let username = format!("{id}@acme.test");
        let (status, body) = self
            .call(
                Method::POST,
                &format!("{}/_emulator/users", self.salesforce_url),
                None,
                Some(json!({"Username": username})),
            )
            .await?;
        if status >= 300 {
            bail!("creating the Salesforce user: {status} {body}");
        }
        let salesforce_user_id = body["Id"]
            .as_str()
            .or_else(|| body["id"].as_str())
            .context("the Salesforce user's Id")?
            .to_owned();
        let (status, body) = self
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(
                    json!({"id": id, "mailbox": mailbox, "provider": provider.as_str(),
                            "salesforce_user_id": registered(&salesforce_user_id)}),
                ),
            )
            .await?;
        if status >= 300 {
            bail!("registering the user: {status} {body}");
        }
        let mut merged = json!({"enabled": true, "scope": "mine", "auto_removal": false,
                                "conflict_winner": "salesforce"});
        if let (Some(m), Some(extra)) = (merged.as_object_mut(), settings.as_object()) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        let (status, body) = self
            .admin(
                Method::PUT,
                &format!("/api/v1/users/{id}/settings/contacts"),
                Some(merged),
            )
            .await?;
        if status >= 300 {
            bail!("enabling contact sync: {status} {body}");
        }
        let (_, token) = self
            .call(
                Method::POST,
                &format!("{}/_emulator/tokens", self.salesforce_url),
                None,
                Some(json!({"username": username})),
            )
            .await?;
        let salesforce_token = token["access_token"]
            .as_str()
            .context("salesforce token")?
            .to_owned();
        let user = TestUser {
            id: id.to_owned(),
            mailbox,
            provider,
            salesforce_user_id,
            salesforce_username: username,
            mailbox_token,
            salesforce_token,
        };
        self.settle(&user).await?;
        Ok(user)
    }

    /// Waits until the user has no session running and none remembered to run, so that the
    /// session a test starts next is the one that sees its changes.
    pub async fn settle(&self, user: &TestUser) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (_, status) = self
                .admin(
                    Method::GET,
                    &format!("/api/v1/users/{}/status", user.id),
                    None,
                )
                .await?;
            if status["running"] == false && status["pending_trigger"] == false {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the user never settled: {status}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The user's status (`GET /api/v1/users/{id}/status`).
    pub async fn status(&self, user: &TestUser) -> anyhow::Result<Value> {
        let (code, status) = self
            .admin(
                Method::GET,
                &format!("/api/v1/users/{}/status", user.id),
                None,
            )
            .await?;
        if code != 200 {
            bail!("status: {code} {status}");
        }
        Ok(status)
    }

    /// Runs one session for the user through the admin API and returns its summary (C6: one
    /// session is all it takes).
    pub async fn sync(&self, user: &TestUser) -> anyhow::Result<Value> {
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/api/v1/users/{}/sync?wait=60", user.id),
                None,
            )
            .await?;
        if status != 200 {
            bail!("sync did not finish: {status} {body}");
        }
        Ok(body)
    }

    /// Runs a session and asserts it wrote nothing on either side (C3), by the summary and by the
    /// emulators' own write counters.
    pub async fn assert_quiet_session(&self, user: &TestUser) -> anyhow::Result<()> {
        self.reset_counters().await?;
        let summary = self.sync(user).await?;
        let writes = &summary["writes"];
        for side in ["exchange", "salesforce"] {
            for op in ["created", "updated", "deleted"] {
                if writes[side][op].as_u64() != Some(0) {
                    bail!("the follow-up session wrote: {summary}");
                }
            }
        }
        let (graph, salesforce) = self.counters().await?;
        let gmail = self.gmail_counters().await?;
        for (name, counters) in [
            ("graph", &graph),
            ("salesforce", &salesforce),
            ("gmail", &gmail),
        ] {
            if let Some(routes) = counters["by_route"].as_object() {
                for (route, n) in routes {
                    // Logins and Graph's `$batch` (which may carry reads only; the summary
                    // counts its writes) are not writes.
                    let writing = !(route.starts_with("GET ")
                        || route.contains("/oauth2/")
                        || route.ends_with(" /token")
                        || route.contains("/$batch"));
                    if writing && n.as_u64().unwrap_or(0) > 0 {
                        bail!("the follow-up session called {name} {route} {n} times: {counters}");
                    }
                }
            }
        }
        if summary["state"] != "succeeded" {
            bail!("the follow-up session did not succeed: {summary}");
        }
        Ok(())
    }

    // ----- Salesforce, as the user sees it -----

    /// A Salesforce REST call as the user.
    pub async fn salesforce(
        &self,
        user: &TestUser,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{API}{path}", self.salesforce_url);
        self.api(
            &format!("salesforce {path}"),
            method,
            &url,
            &user.salesforce_token,
            body,
        )
        .await
    }

    /// Creates a Contact owned by the user; returns its Id.
    pub async fn create_in_salesforce(
        &self,
        user: &TestUser,
        fields: Value,
    ) -> anyhow::Result<String> {
        let mut fields = fields;
        if fields.get("OwnerId").is_none() {
            fields["OwnerId"] = json!(user.salesforce_user_id);
        }
        let created = self
            .salesforce(user, Method::POST, "/sobjects/Contact", Some(fields))
            .await?;
        Ok(created["id"]
            .as_str()
            .context("created Contact id")?
            .to_owned())
    }

    /// Every Contact row in the org (deleted ones included), from the control API.
    pub async fn salesforce_contacts(&self) -> anyhow::Result<Vec<Value>> {
        self.salesforce_rows("Contact").await
    }

    /// Every row of `sobject` in the org, from the control API.
    async fn salesforce_rows(&self, sobject: &str) -> anyhow::Result<Vec<Value>> {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("{}/_emulator/sobjects/{sobject}", self.salesforce_url),
                None,
                None,
            )
            .await?;
        if status != 200 {
            bail!("reading {sobject} rows: {status} {body}");
        }
        Ok(list(body))
    }

    /// The name of the Account a Contact row links to (`AccountId`), if any.
    pub async fn account_name(&self, contact: &Value) -> anyhow::Result<Option<String>> {
        let Some(id) = contact["AccountId"].as_str() else {
            return Ok(None);
        };
        Ok(self
            .salesforce_rows("Account")
            .await?
            .into_iter()
            .find(|a| a["Id"] == id)
            .and_then(|a| a["Name"].as_str().map(str::to_owned)))
    }

    /// The live (not deleted) Contacts.
    pub async fn live_salesforce_contacts(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .salesforce_contacts()
            .await?
            .into_iter()
            .filter(|c| c["IsDeleted"] != true)
            .collect())
    }
}

/// A JSON list, whether bare or under `value` / `records`.
pub(super) fn list(body: Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items,
        Value::Object(mut map) => ["value", "records", "contacts"]
            .iter()
            .find_map(|k| map.remove(*k))
            .and_then(|v| match v {
                Value::Array(items) => Some(items),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
