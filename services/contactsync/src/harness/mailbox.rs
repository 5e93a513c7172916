//! The user's mailbox as a person sees it, the same for both providers (G1): the suites call these
//! methods and never a provider's API, so one test body runs for Exchange and for Gmail users.
//!
//! Contacts are read in one shape, Graph's (`id`, `givenName`, `surname`, `emailAddresses`,
//! `businessPhones`, `companyName`, `jobTitle`, `categories`, `folderDisplayName`, …): for Gmail
//! the "Salesforce Contacts" group is the folder and the "Salesforce" group the category
//! (`super::gmail` maps them). A contact id, a folder id and a category are the provider's own
//! (a Graph item id, a People `resourceName`; a folder id, a `contactGroups/…` name).

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::users::list;
use super::{Provider, Stack, TestUser};

/// The folder of B1 (for Gmail, the contact group of that name).
pub const SYNC_FOLDER: &str = "Salesforce Contacts";
/// The category of B1 and B9–B11 (for Gmail, the contact group of that name).
pub const CATEGORY: &str = "Salesforce";

impl Stack {
    /// Creates the mailbox `address` on `provider`'s emulator; returns the bearer token its API
    /// takes for that user.
    pub(super) async fn create_mailbox(
        &self,
        provider: Provider,
        address: &str,
    ) -> anyhow::Result<String> {
        let (base, mailbox, token) = match provider {
            Provider::Exchange => (
                &self.graph_url,
                json!({"id": uuid::Uuid::new_v4().to_string(), "userPrincipalName": address}),
                json!({}),
            ),
            Provider::Gmail => (
                &self.gmail_url,
                json!({"email": address}),
                json!({"email": address}),
            ),
        };
        self.emulator_control(base, Method::POST, "/mailboxes", Some(mailbox))
            .await
            .context("creating the mailbox")?;
        let token = self
            .emulator_control(base, Method::POST, "/tokens", Some(token))
            .await
            .context("a mailbox token")?;
        Ok(token["access_token"]
            .as_str()
            .context("the mailbox token's access_token")?
            .to_owned())
    }

    /// Every live contact of the mailbox in Graph's shape, with `folderDisplayName` and, for
    /// Exchange, what the emulator's control API adds (`parentFolderId`, extended properties).
    /// Graph's DELETE moves a contact to Deleted Items; for the user (and these tests) it is
    /// gone, so that folder is left out.
    pub async fn mailbox_contacts(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        if user.provider == Provider::Gmail {
            return self.gmail_contacts(user).await;
        }
        let body = self
            .emulator_control(
                &self.graph_url,
                Method::GET,
                &format!("/mailboxes/{}/contacts", user.mailbox),
                None,
            )
            .await
            .context("reading the mailbox")?;
        Ok(list(body)
            .into_iter()
            .filter(|c| c["folderWellKnownName"] != "deleteditems")
            .collect())
    }

    /// The mirrors: the contacts in the sync folder (for Gmail, members of its group).
    pub async fn mailbox_mirrors(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .mailbox_contacts(user)
            .await?
            .into_iter()
            .filter(|c| c["folderDisplayName"] == SYNC_FOLDER)
            .collect())
    }

    /// A Graph API call as the user's Outlook would make it (Exchange users only; the suites
    /// that run for both providers use the methods below).
    pub async fn graph(
        &self,
        user: &TestUser,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        if user.provider != Provider::Exchange {
            bail!(
                "graph {path}: {} has a {:?} mailbox",
                user.id,
                user.provider
            );
        }
        let url = format!("{}/v1.0/users/{}{path}", self.graph_url, user.mailbox);
        self.api(
            &format!("graph {path}"),
            method,
            &url,
            &user.mailbox_token,
            body,
        )
        .await
    }

    /// The id of a contact folder by name (the sync folder once B1 made it); for Gmail, the
    /// `resourceName` of the contact group.
    pub async fn folder_id(&self, user: &TestUser, name: &str) -> anyhow::Result<String> {
        let found = match user.provider {
            Provider::Exchange => {
                let folders = self
                    .graph(user, Method::GET, "/contactFolders", None)
                    .await?;
                list(folders)
                    .into_iter()
                    .find(|f| f["displayName"] == name)
                    .and_then(|f| f["id"].as_str().map(str::to_owned))
            }
            Provider::Gmail => self.gmail_group_id(user, name).await?,
        };
        found.with_context(|| format!("no folder {name}"))
    }

    /// The names of the top-level contact folders (for Gmail, of the user's contact groups).
    pub async fn folder_names(&self, user: &TestUser) -> anyhow::Result<Vec<String>> {
        match user.provider {
            Provider::Exchange => self.graph_names(user, "/contactFolders").await,
            Provider::Gmail => self.gmail_group_names(user).await,
        }
    }

    /// The names of the mailbox's categories: Outlook's master categories, or for Gmail the
    /// user's contact groups (a Gmail category is a group, G1).
    pub async fn category_names(&self, user: &TestUser) -> anyhow::Result<Vec<String>> {
        match user.provider {
            Provider::Exchange => self.graph_names(user, "/outlook/masterCategories").await,
            Provider::Gmail => self.gmail_group_names(user).await,
        }
    }

    /// Creates a contact folder as the user, top-level or under `parent`; returns its id. Gmail
    /// has no nested groups: a `parent` there is an error.
    pub async fn create_folder(
        &self,
        user: &TestUser,
        parent: Option<&str>,
        name: &str,
    ) -> anyhow::Result<String> {
        if user.provider == Provider::Gmail {
            if let Some(parent) = parent {
                bail!("Gmail contact groups do not nest (asked for {name} under {parent})");
            }
            return self.gmail_create_group(user, name).await;
        }
        let path = match parent {
            Some(p) => format!("/contactFolders/{p}/childFolders"),
            None => "/contactFolders".to_owned(),
        };
        let created = self
            .graph(
                user,
                Method::POST,
                &path,
                Some(json!({"displayName": name})),
            )
            .await?;
        Ok(created["id"]
            .as_str()
            .context("created folder id")?
            .to_owned())
    }

    /// Deletes a folder as the user: Outlook moves it with its contacts to Deleted Items; Google
    /// Contacts deletes the group and keeps its contacts ("Keep all contacts").
    pub async fn delete_folder(&self, user: &TestUser, folder: &str) -> anyhow::Result<()> {
        match user.provider {
            Provider::Exchange => {
                self.graph(
                    user,
                    Method::DELETE,
                    &format!("/contactFolders/{folder}"),
                    None,
                )
                .await?;
                Ok(())
            }
            Provider::Gmail => self.gmail_delete_group(user, folder).await,
        }
    }

    /// Deletes the category `name` as the user (Outlook's master category list; for Gmail, the
    /// group, keeping its contacts).
    pub async fn delete_category(&self, user: &TestUser, name: &str) -> anyhow::Result<()> {
        match user.provider {
            Provider::Exchange => {
                let categories = self
                    .graph(user, Method::GET, "/outlook/masterCategories", None)
                    .await?;
                let id = list(categories)
                    .into_iter()
                    .find(|c| c["displayName"] == name)
                    .and_then(|c| c["id"].as_str().map(str::to_owned))
                    .with_context(|| format!("no category {name}"))?;
                self.graph(
                    user,
                    Method::DELETE,
                    &format!("/outlook/masterCategories/{id}"),
                    None,
                )
                .await?;
                Ok(())
            }
            Provider::Gmail => {
                let group = self.folder_id(user, name).await?;
                self.gmail_delete_group(user, &group).await
            }
        }
    }

    /// Creates a contact as the user in a folder (`None`: outside any, Outlook's default folder
    /// or Gmail's "My Contacts" alone); `contact` is in Graph's shape, `categories: ["Salesforce"]`
    /// included. Returns its id.
    pub async fn create_in_mailbox(
        &self,
        user: &TestUser,
        folder: Option<&str>,
        contact: Value,
    ) -> anyhow::Result<String> {
        if user.provider == Provider::Gmail {
            return self.gmail_create(user, folder, &contact).await;
        }
        let path = match folder {
            Some(f) => format!("/contactFolders/{f}/contacts"),
            None => "/contacts".to_owned(),
        };
        let created = self.graph(user, Method::POST, &path, Some(contact)).await?;
        Ok(created["id"]
            .as_str()
            .context("created contact id")?
            .to_owned())
    }

    /// Edits a contact as the user: `patch` in Graph's shape (the fields it names are replaced,
    /// `null` or `[]` clears them; `categories` sets the category or removes it).
    pub async fn edit_in_mailbox(
        &self,
        user: &TestUser,
        id: &str,
        patch: Value,
    ) -> anyhow::Result<()> {
        if user.provider == Provider::Gmail {
            return self.gmail_edit(user, id, &patch).await;
        }
        self.graph(user, Method::PATCH, &format!("/contacts/{id}"), Some(patch))
            .await?;
        Ok(())
    }

    /// Deletes a contact as the user.
    pub async fn delete_in_mailbox(&self, user: &TestUser, id: &str) -> anyhow::Result<()> {
        if user.provider == Provider::Gmail {
            return self.gmail_delete(user, id).await;
        }
        self.graph(user, Method::DELETE, &format!("/contacts/{id}"), None)
            .await?;
        Ok(())
    }

    /// Gives a contact the category (B9) or takes it away (B10).
    pub async fn set_category(&self, user: &TestUser, id: &str, on: bool) -> anyhow::Result<()> {
        if user.provider == Provider::Gmail {
            return self.gmail_set_category(user, id, on).await;
        }
        let contact = self
            .graph(
                user,
                Method::GET,
                &format!("/contacts/{id}?$select=categories"),
                None,
            )
            .await?;
        let mut categories: Vec<String> = contact["categories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str())
            .filter(|c| *c != CATEGORY)
            .map(str::to_owned)
            .collect();
        if on {
            categories.push(CATEGORY.to_owned());
        }
        self.edit_in_mailbox(user, id, json!({"categories": categories}))
            .await
    }

    /// Moves a contact out of the sync folder as the user (B11): into `to` (a folder id), else
    /// the default folder. For Gmail it leaves the "Salesforce Contacts" group (and joins `to`).
    /// Returns the contact's id after the move.
    pub async fn move_out_of_folder(
        &self,
        user: &TestUser,
        id: &str,
        to: Option<&str>,
    ) -> anyhow::Result<String> {
        match user.provider {
            Provider::Exchange => self.graph_move(user, id, to.unwrap_or("contacts")).await,
            Provider::Gmail => {
                let sync = self.folder_id(user, SYNC_FOLDER).await?;
                if let Some(to) = to {
                    self.gmail_modify(user, to, &[id], &[]).await?;
                }
                self.gmail_modify(user, &sync, &[], &[id]).await?;
                Ok(id.to_owned())
            }
        }
    }

    /// Moves a contact into `folder` as the user (B8). For Gmail it joins that group and keeps
    /// its others (a contact is in several groups at once). Returns the contact's id after it.
    pub async fn move_into_folder(
        &self,
        user: &TestUser,
        id: &str,
        folder: &str,
    ) -> anyhow::Result<String> {
        match user.provider {
            Provider::Exchange => self.graph_move(user, id, folder).await,
            Provider::Gmail => {
                self.gmail_modify(user, folder, &[id], &[]).await?;
                Ok(id.to_owned())
            }
        }
    }

    /// Makes the next read of the user's mailbox contacts (the sync folder's delta; Gmail's
    /// connections) answer 503 with `Retry-After: retry_after` seconds, once.
    pub async fn fail_next_mailbox_read(
        &self,
        user: &TestUser,
        retry_after: u64,
    ) -> anyhow::Result<()> {
        let (base, fault) = match user.provider {
            Provider::Exchange => (
                &self.graph_url,
                json!({"status": 503, "count": 1, "retry_after": retry_after,
                       "mailbox": user.mailbox,
                       "route": "GET /v1.0/users/{id}/contactFolders/{id}/contacts/delta"}),
            ),
            Provider::Gmail => (
                &self.gmail_url,
                json!({"status": 503, "count": 1, "retry_after": retry_after,
                       "mailbox": user.mailbox, "route": "GET /v1/people/me/connections"}),
            ),
        };
        self.emulator_control(base, Method::POST, "/faults", Some(fault))
            .await
            .context("injecting the fault")?;
        Ok(())
    }

    /// Whether every fault injected on the user's mailbox emulator has been served (a fault
    /// leaves the emulator's list once it has been injected).
    pub async fn mailbox_faults_served(&self, user: &TestUser) -> anyhow::Result<bool> {
        let base = match user.provider {
            Provider::Exchange => &self.graph_url,
            Provider::Gmail => &self.gmail_url,
        };
        let faults = self
            .emulator_control(base, Method::GET, "/faults", None)
            .await?;
        Ok(faults["faults"].as_array().is_some_and(Vec::is_empty))
    }

    /// The `displayName`s of a Graph collection.
    async fn graph_names(&self, user: &TestUser, path: &str) -> anyhow::Result<Vec<String>> {
        let items = list(self.graph(user, Method::GET, path, None).await?);
        Ok(items
            .iter()
            .filter_map(|i| i["displayName"].as_str().map(str::to_owned))
            .collect())
    }

    /// Drags a contact to another folder in Outlook (the control API: Graph has no move for
    /// contacts, Outlook has).
    async fn graph_move(&self, user: &TestUser, id: &str, to: &str) -> anyhow::Result<String> {
        let moved = self
            .emulator_control(
                &self.graph_url,
                Method::POST,
                &format!("/mailboxes/{}/contacts/{id}/move", user.mailbox),
                Some(json!({"destinationId": to})),
            )
            .await
            .context("moving the contact")?;
        Ok(moved["id"].as_str().unwrap_or(id).to_owned())
    }
}
