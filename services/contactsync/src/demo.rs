//! The dev stack's org and demo data: the org `dev` wired to the three emulators, and `--seed
//! demo`'s users (two on Exchange, one on Gmail) and contacts on both sides, loaded through the emulators' control APIs and our own admin
//! API exactly as an operator and users would.

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};
use sync_state::orgs::Org;
use sync_state::secrets::Cipher;

use crate::dev::DevStack;

/// The mailbox folder mirrors live in (B1).
const FOLDER: &str = sync_core::SYNC_FOLDER_NAME;

/// The fields the package's Outbound Message sends (deploy/salesforce).
pub(crate) const OUTBOUND_FIELDS: [&str; 8] = [
    "Id",
    "OwnerId",
    "AccountId",
    "Contactsync_Key__c",
    "SystemModstamp",
    "FirstName",
    "LastName",
    "Email",
];

/// The org every user registered without `org` joins (SPEC §4).
pub const DEV_ORG: &str = "dev";

/// Creates or refreshes the org `dev` with the emulators' default credentials.
pub async fn ensure_dev_org(stack: &DevStack) -> anyhow::Result<()> {
    let cipher = Cipher::from_base64(stack.credential_key.expose())?;
    let org = Org {
        id: DEV_ORG.into(),
        name: "Dev org (emulators)".into(),
        graph_tenant_id: "dev-tenant".into(),
        graph_client_id: "contactsync-dev".into(),
        graph_client_secret: "dev-secret".into(),
        salesforce_login_url: stack.salesforce_url.clone(),
        salesforce_consumer_key: salesforce_emulator::config::DEFAULT_CLIENT_ID.into(),
        salesforce_private_key_pem: salesforce_emulator::DEV_PRIVATE_KEY_PEM.into(),
        salesforce_username: salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME.into(),
        salesforce_org_id: salesforce_emulator::config::DEFAULT_ORG_ID.into(),
        salesforce_jwt_audience: sync_state::orgs::DEFAULT_JWT_AUDIENCE.into(),
        // The Gmail emulator's dev service account, as an admin registers a Workspace's (G1).
        google: Some(sync_state::orgs::GoogleCredentials {
            client_email: gmail_emulator::DEV_CLIENT_EMAIL.into(),
            private_key_pem: gmail_emulator::DEV_PRIVATE_KEY_PEM.into(),
            token_uri: format!("{}/token", stack.gmail_url),
            api_url: stack.gmail_url.clone(),
        }),
    };
    let client = stack.pool.get().await?;
    sync_state::orgs::put_org(&**client, &cipher, &org).await?;
    // The emulators start empty every time: what an earlier run stored for the dev org's users
    // (links, cursors, the folder id) points at mailboxes and Contacts that no longer exist.
    let forgotten = sync_state::users::delete_org_users(&**client, DEV_ORG).await?;
    if forgotten > 0 {
        tracing::info!(
            users = forgotten,
            "Forgot the dev org's users of an earlier run."
        );
    }
    // The integration user the JWT bearer flow logs in as (ignored if it exists).
    let http = reqwest::Client::new();
    http.post(format!("{}/_emulator/users", stack.salesforce_url))
        .json(&json!({"Username": salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME}))
        .send()
        .await?;
    // What an admin sets up in Salesforce with the package (deploy/salesforce): the Outbound
    // Message on Contact create and update to the gateway, so Salesforce-side changes reach the
    // mailbox within seconds (SPEC §4, B3) instead of waiting for the periodic session.
    let outbound = http
        .post(format!("{}/_emulator/outbound", stack.salesforce_url))
        .json(&json!({
            "endpoint_url": format!("{}/webhooks/salesforce", stack.gateway_url),
            "fields": OUTBOUND_FIELDS,
        }))
        .send()
        .await?;
    if !outbound.status().is_success() {
        bail!(
            "configuring the emulator's Outbound Message: {} {}",
            outbound.status(),
            outbound.text().await.unwrap_or_default()
        );
    }
    // The check an operator's registration runs (SPEC §4), so a dev org that cannot work (an
    // emulator started without the sync key field) says why at once.
    let check: Value = http
        .post(format!("{}/api/v1/orgs/{DEV_ORG}/check", stack.gateway_url))
        .bearer_auth(&stack.admin_token)
        .send()
        .await?
        .json()
        .await?;
    if check["ready"] == true {
        tracing::info!("The dev org passed its check.");
    } else {
        for problem in check["problems"].as_array().into_iter().flatten() {
            tracing::warn!(
                check = %problem["check"], message = %problem["message"], fix = %problem["fix"],
                "The dev org failed its check; its users' sessions wait until it passes."
            );
        }
    }
    Ok(())
}

struct Demo<'a> {
    stack: &'a DevStack,
    http: reqwest::Client,
}

impl Demo<'_> {
    async fn call(
        &self,
        method: Method,
        url: String,
        bearer: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, &url).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{url}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn admin(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let token = self.stack.admin_token.clone();
        self.call(
            method,
            format!("{}{path}", self.stack.gateway_url),
            Some(&token),
            body,
        )
        .await
    }

    /// The names of the contacts in a Gmail user's "Salesforce Contacts" group (G1's folder).
    async fn gmail_group_members(&self, mailbox: &str) -> anyhow::Result<Vec<String>> {
        let url = |what: &str| {
            format!(
                "{}/_emulator/mailboxes/{mailbox}/{what}",
                self.stack.gmail_url
            )
        };
        let groups = self
            .call(Method::GET, url("groups"), None, Value::Null)
            .await?;
        let folder = groups["contactGroups"]
            .as_array()
            .or_else(|| groups["groups"].as_array())
            .into_iter()
            .flatten()
            .find(|g| g["name"] == FOLDER)
            .and_then(|g| g["resourceName"].as_str())
            .map(str::to_owned);
        let contacts = self
            .call(Method::GET, url("contacts"), None, Value::Null)
            .await?;
        Ok(contacts["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c["memberships"].as_array().into_iter().flatten().any(|m| {
                    folder.is_some()
                        && m["contactGroupMembership"]["contactGroupResourceName"].as_str()
                            == folder.as_deref()
                })
            })
            .filter_map(|c| {
                let name = &c["names"][0];
                name["displayName"].as_str().map(str::to_owned).or_else(|| {
                    Some(format!(
                        "{} {}",
                        name["givenName"].as_str().unwrap_or_default(),
                        name["familyName"].as_str()?
                    ))
                })
            })
            .collect())
    }

    async fn salesforce_token(&self, username: &str) -> anyhow::Result<String> {
        let token = self
            .call(
                Method::POST,
                format!("{}/_emulator/tokens", self.stack.salesforce_url),
                None,
                json!({"username": username}),
            )
            .await?;
        Ok(token["access_token"].as_str().context("token")?.to_owned())
    }
}

/// The demo's users, as `seed_demo` registers them.
pub const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// The demo user on Gmail (G1).
const GMAIL_USER: &str = "carol";

/// Loads the demo: three users (alice and bob on Exchange, carol on Gmail) with Salesforce
/// Contacts and Accounts, for alice a categorized contact in her default Contacts folder (B9) and
/// a personal one (B4), for carol a personal Google contact (B4); registers them and enables
/// sync, waits for their first sessions and prints what each side holds then.
pub async fn seed_demo(stack: &DevStack) -> anyhow::Result<()> {
    let demo = Demo {
        stack,
        http: reqwest::Client::new(),
    };
    let api = format!("{}/services/data/v60.0", stack.salesforce_url);
    let mut users = Vec::new();
    for (name, contacts) in [
        (
            "alice",
            vec![
                ("Ada", "Lovelace", "Analytical Engines"),
                ("Grace", "Hopper", "Navy Labs"),
                ("Alan", "Turing", "Bletchley Park"),
                ("Katherine", "Johnson", "NASA"),
            ],
        ),
        (
            "bob",
            vec![
                ("Edsger", "Dijkstra", "Eindhoven"),
                ("Barbara", "Liskov", "MIT"),
            ],
        ),
        (
            GMAIL_USER,
            vec![("Donald", "Knuth", "Stanford"), ("Frances", "Allen", "IBM")],
        ),
    ] {
        let mailbox = if name == GMAIL_USER {
            let mailbox = format!("{name}@fabrikam.example");
            demo.call(
                Method::POST,
                format!("{}/_emulator/mailboxes", stack.gmail_url),
                None,
                json!({"email": mailbox}),
            )
            .await?;
            mailbox
        } else {
            let mailbox = format!("{name}@contoso.example");
            demo.call(
                Method::POST,
                format!("{}/_emulator/mailboxes", stack.graph_url),
                None,
                json!({"id": uuid::Uuid::new_v4().to_string(), "userPrincipalName": mailbox}),
            )
            .await?;
            mailbox
        };
        let username = format!("{name}@acme.example");
        let sf_user = demo
            .call(
                Method::POST,
                format!("{}/_emulator/users", stack.salesforce_url),
                None,
                json!({"Username": username}),
            )
            .await?;
        let sf_user_id = sf_user["Id"]
            .as_str()
            .context("Salesforce user id")?
            .to_owned();
        let token = demo.salesforce_token(&username).await?;
        for (first, last, company) in contacts {
            let account = demo
                .call(
                    Method::POST,
                    format!("{api}/sobjects/Account"),
                    Some(&token),
                    json!({"Name": company}),
                )
                .await?;
            demo.call(Method::POST, format!("{api}/sobjects/Contact"), Some(&token),
                      json!({"FirstName": first, "LastName": last, "OwnerId": sf_user_id,
                             "AccountId": account["id"],
                             "Email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase())}))
                .await?;
        }
        users.push((name, mailbox, sf_user_id));
    }
    // Alice's own contacts: one marked for Salesforce in her default folder (B9), one personal (B4).
    let graph_token = demo
        .call(
            Method::POST,
            format!("{}/_emulator/tokens", stack.graph_url),
            None,
            json!({}),
        )
        .await?["access_token"]
        .as_str()
        .context("graph token")?
        .to_owned();
    for contact in [
        json!({"givenName": "Margaret", "surname": "Hamilton", "companyName": "NASA",
               "emailAddresses": [{"address": "margaret@example.com", "name": "Margaret"}],
               "categories": ["Salesforce"]}),
        json!({"givenName": "Mum", "surname": "Personal"}),
    ] {
        demo.call(
            Method::POST,
            format!(
                "{}/v1.0/users/alice@contoso.example/contacts",
                stack.graph_url
            ),
            Some(&graph_token),
            contact,
        )
        .await?;
    }
    // Carol's personal Google contact: in no group of ours, so it stays out of Salesforce (B4).
    let gmail_token = demo
        .call(
            Method::POST,
            format!("{}/_emulator/tokens", stack.gmail_url),
            None,
            json!({"email": format!("{GMAIL_USER}@fabrikam.example")}),
        )
        .await?["access_token"]
        .as_str()
        .context("gmail token")?
        .to_owned();
    demo.call(
        Method::POST,
        format!("{}/v1/people:createContact", stack.gmail_url),
        Some(&gmail_token),
        json!({"names": [{"givenName": "Grandpa", "familyName": "Personal"}]}),
    )
    .await?;
    for (name, mailbox, sf_user_id) in &users {
        let provider = if *name == GMAIL_USER {
            "gmail"
        } else {
            "exchange"
        };
        demo.admin(
            Method::POST,
            "/api/v1/users",
            json!({"id": name, "mailbox": mailbox, "salesforce_user_id": sf_user_id,
                   "provider": provider}),
        )
        .await?;
        demo.admin(
            Method::PUT,
            &format!("/api/v1/users/{name}/settings/contacts"),
            json!({"enabled": true, "scope": "mine", "auto_removal": false,
                          "conflict_winner": "salesforce"}),
        )
        .await?;
    }
    // Enabling started each user's first session; wait for it (and any follow-up) to finish,
    // then show what reached each side.
    for (name, mailbox, sf_user_id) in &users {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let status = demo
                .admin(
                    Method::GET,
                    &format!("/api/v1/users/{name}/status"),
                    Value::Null,
                )
                .await?;
            if status["running"] == false && status["pending_trigger"] == false {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("{name}'s first session did not finish: {status}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mirrored = if *name == GMAIL_USER {
            demo.gmail_group_members(mailbox).await?
        } else {
            let contacts = demo
                .call(
                    Method::GET,
                    format!("{}/_emulator/mailboxes/{mailbox}/contacts", stack.graph_url),
                    None,
                    Value::Null,
                )
                .await?;
            contacts
                .as_array()
                .or_else(|| contacts["value"].as_array())
                .into_iter()
                .flatten()
                .filter(|c| c["folderDisplayName"] == crate::demo::FOLDER)
                .filter_map(|c| c["displayName"].as_str().map(str::to_owned))
                .collect()
        };
        let token = demo
            .salesforce_token(&format!("{name}@acme.example"))
            .await?;
        let owned = demo
            .call(
                Method::GET,
                format!("{api}/query?q=SELECT+Name+FROM+Contact+WHERE+OwnerId+=+'{sf_user_id}'"),
                Some(&token),
                Value::Null,
            )
            .await?;
        let owned: Vec<String> = owned["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["Name"].as_str().map(str::to_owned))
            .collect();
        println!("demo user {name}:");
        let folder = if *name == GMAIL_USER {
            "Gmail contact group"
        } else {
            "mailbox folder"
        };
        println!(
            "  {folder} \"{}\": {}",
            crate::demo::FOLDER,
            mirrored.join(", ")
        );
        println!("  Salesforce Contacts owned: {}", owned.join(", "));
    }
    Ok(())
}
