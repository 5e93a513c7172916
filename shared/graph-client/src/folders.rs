//! Contact folders and master categories, with the find-or-create steps of B1, and the walk of
//! the whole folder tree (`childFolders`, B9).

use std::collections::HashSet;

use futures::future::try_join_all;
use reqwest::Method;
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::client::{GraphClient, enc};
use crate::error::GraphError;
use crate::types::{Category, CategoryColor, ContactFolder};

/// The most folders [`GraphClient::list_all_contact_folders`] walks.
pub const MAX_FOLDERS: usize = 500;

/// Folder and category names compare case-insensitively, as Exchange does.
fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// A create that failed because the name exists (a concurrent create won the race). The code
/// for duplicates is not documented, so any 400/409 leads to a re-list that settles it.
fn maybe_conflict(error: &GraphError) -> bool {
    matches!(error, GraphError::Api(e) if e.status == 409 || e.status == 400)
}

impl GraphClient {
    /// Top-level contact folders (the default folder is not among them).
    #[instrument(skip_all, fields(mailbox = %mailbox))]
    pub async fn list_contact_folders(
        &self,
        mailbox: &str,
    ) -> Result<Vec<ContactFolder>, GraphError> {
        let url = self.url(&format!("/users/{}/contactFolders", enc(mailbox)), "")?;
        self.get_all(url, "contact folder list").await
    }

    /// The folders directly under `folder_id` (its `childFolders`).
    #[instrument(skip_all, fields(mailbox = %mailbox, folder_id = %folder_id))]
    pub async fn list_child_folders(
        &self,
        mailbox: &str,
        folder_id: &str,
    ) -> Result<Vec<ContactFolder>, GraphError> {
        let url = self.url(
            &format!(
                "/users/{}/contactFolders/{}/childFolders",
                enc(mailbox),
                enc(folder_id)
            ),
            "",
        )?;
        self.get_all(url, "child folder list").await
    }

    /// Every contact folder of the mailbox but the default one: the top-level folders and,
    /// level by level, their `childFolders` (B9 reads categorized contacts in any folder). Parents
    /// come before their children. A folder is listed once even if Graph showed it twice, and
    /// the walk stops at [`MAX_FOLDERS`] folders (a mailbox with more is not one a person uses).
    #[instrument(skip_all, fields(mailbox = %mailbox))]
    pub async fn list_all_contact_folders(
        &self,
        mailbox: &str,
    ) -> Result<Vec<ContactFolder>, GraphError> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut all: Vec<ContactFolder> = Vec::new();
        let mut level = self.list_contact_folders(mailbox).await?;
        while !level.is_empty() {
            level.retain(|f| seen.insert(f.id.clone()));
            level.truncate(MAX_FOLDERS.saturating_sub(all.len()));
            let parents: Vec<String> = level.iter().map(|f| f.id.clone()).collect();
            all.append(&mut level);
            if all.len() >= MAX_FOLDERS {
                warn!(
                    folders = all.len(),
                    "Stopped walking the folder tree at its limit"
                );
                break;
            }
            // Siblings are listed a few at a time: Outlook serves four requests of an app at once
            // per mailbox.
            for chunk in parents.chunks(4) {
                let children = try_join_all(
                    chunk
                        .iter()
                        .map(|parent| self.list_child_folders(mailbox, parent)),
                )
                .await?;
                level.extend(children.into_iter().flatten());
            }
        }
        Ok(all)
    }

    #[instrument(skip_all, fields(mailbox = %mailbox, name = %name))]
    pub async fn create_contact_folder(
        &self,
        mailbox: &str,
        name: &str,
    ) -> Result<ContactFolder, GraphError> {
        let url = self.url(&format!("/users/{}/contactFolders", enc(mailbox)), "")?;
        let body = json!({ "displayName": name });
        self.send(Method::POST, url, Some(&body), None)
            .await?
            .json("created contact folder")
    }

    /// Finds the top-level folder `name` or creates it; never creates a second one (B1). A
    /// create that loses a race to another worker re-lists and returns the winner's folder.
    #[instrument(skip_all, fields(mailbox = %mailbox, name = %name))]
    pub async fn ensure_folder(
        &self,
        mailbox: &str,
        name: &str,
    ) -> Result<ContactFolder, GraphError> {
        let find = |folders: Vec<ContactFolder>| {
            folders
                .into_iter()
                .find(|f| same_name(&f.display_name, name))
        };
        if let Some(found) = find(self.list_contact_folders(mailbox).await?) {
            return Ok(found);
        }
        match self.create_contact_folder(mailbox, name).await {
            Ok(created) => {
                info!(folder_id = %created.id, "Created the contact folder");
                Ok(created)
            }
            Err(e) if maybe_conflict(&e) => {
                find(self.list_contact_folders(mailbox).await?).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    #[instrument(skip_all, fields(mailbox = %mailbox))]
    pub async fn list_master_categories(&self, mailbox: &str) -> Result<Vec<Category>, GraphError> {
        let url = self.url(
            &format!("/users/{}/outlook/masterCategories", enc(mailbox)),
            "",
        )?;
        self.get_all(url, "master category list").await
    }

    #[instrument(skip_all, fields(mailbox = %mailbox, name = %name))]
    pub async fn create_master_category(
        &self,
        mailbox: &str,
        name: &str,
        color: CategoryColor,
    ) -> Result<Category, GraphError> {
        let url = self.url(
            &format!("/users/{}/outlook/masterCategories", enc(mailbox)),
            "",
        )?;
        let body = json!({ "displayName": name, "color": color.as_wire() });
        self.send(Method::POST, url, Some(&body), None)
            .await?
            .json("created master category")
    }

    /// Finds the master category `name` or creates it with `color` (B1: never a second one). An
    /// existing category keeps its colour: users may have recoloured it.
    #[instrument(skip_all, fields(mailbox = %mailbox, name = %name))]
    pub async fn ensure_category(
        &self,
        mailbox: &str,
        name: &str,
        color: CategoryColor,
    ) -> Result<Category, GraphError> {
        let find = |categories: Vec<Category>| {
            categories
                .into_iter()
                .find(|c| same_name(&c.display_name, name))
        };
        if let Some(found) = find(self.list_master_categories(mailbox).await?) {
            return Ok(found);
        }
        match self.create_master_category(mailbox, name, color).await {
            Ok(created) => {
                info!(category_id = %created.id, "Created the master category");
                Ok(created)
            }
            Err(e) if maybe_conflict(&e) => {
                find(self.list_master_categories(mailbox).await?).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }
}
