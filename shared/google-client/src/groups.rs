//! Contact groups: listing (paged), creating (a taken name is [`GoogleError::AlreadyExists`]),
//! reading with members, and `members:modify` in chunks of Google's limit.
//!
//! For a Gmail user the folder of B1 is the group "Salesforce Contacts" and the category of
//! B9–B11 the group "Salesforce" (G1); this module only knows groups, not their roles.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use crate::client::{GoogleClient, resource_name};
use crate::error::GoogleError;
use crate::types::ContactGroup;

/// `members:modify` takes at most 1000 resource names, adds and removes together.
pub const MAX_MEMBERS_MODIFY: usize = 1000;
/// The largest `pageSize` of `contactGroups.list`.
const GROUP_PAGE_SIZE: &str = "1000";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupPage {
    #[serde(default)]
    contact_groups: Vec<ContactGroup>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// What `members:modify` could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyOutcome {
    /// Contacts to add or remove that do not exist.
    #[serde(default)]
    pub not_found_resource_names: Vec<String>,
    /// Contacts not removed because this is their last group.
    #[serde(default)]
    pub can_not_remove_last_contact_group_resource_names: Vec<String>,
}

impl GoogleClient {
    /// Every contact group of the user, system groups included.
    #[instrument(skip_all, fields(user = %user))]
    pub async fn list_groups(&self, user: &str) -> Result<Vec<ContactGroup>, GoogleError> {
        let mut groups = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut query = vec![("pageSize", GROUP_PAGE_SIZE)];
            if let Some(token) = &page_token {
                query.push(("pageToken", token));
            }
            let url = self.url("contactGroups", &query)?;
            let page: GroupPage = self
                .send(user, Method::GET, url, None, true)
                .await?
                .json("contact groups page")?;
            groups.extend(page.contact_groups);
            match page.next_page_token {
                Some(next) if !next.is_empty() => page_token = Some(next),
                _ => return Ok(groups),
            }
        }
    }

    /// Creates a user contact group. A group of that name exists: [`GoogleError::AlreadyExists`]
    /// (list the groups to find it) — also the answer when a create whose outcome was unknown
    /// did go through.
    #[instrument(skip_all, fields(user = %user, name = %name))]
    pub async fn create_group(&self, user: &str, name: &str) -> Result<ContactGroup, GoogleError> {
        if name.trim().is_empty() {
            return Err(GoogleError::Invalid("a contact group needs a name".into()));
        }
        let body = json!({ "contactGroup": { "name": name } });
        self.post(user, "contactGroups", &body, false, "created contact group")
            .await
    }

    /// One group with up to `max_members` of its members' resource names.
    #[instrument(skip_all, fields(user = %user, group = %group))]
    pub async fn get_group(
        &self,
        user: &str,
        group: &str,
        max_members: u32,
    ) -> Result<ContactGroup, GoogleError> {
        let group = resource_name("contactGroups", group)?;
        let max = max_members.to_string();
        let url = self.url(&group, &[("maxMembers", &max)])?;
        self.send(user, Method::GET, url, None, true)
            .await?
            .json("contact group")
    }

    /// Adds `add` to and removes `remove` from `group`, at most 1000 names per request (adds
    /// first). The outcomes of all requests are merged.
    #[instrument(skip_all, fields(user = %user, group = %group, add = add.len(), remove = remove.len()))]
    pub async fn modify_members(
        &self,
        user: &str,
        group: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<ModifyOutcome, GoogleError> {
        let group = resource_name("contactGroups", group)?;
        let check = |names: &[String]| -> Result<Vec<String>, GoogleError> {
            names.iter().map(|n| resource_name("people", n)).collect()
        };
        let changes: Vec<(bool, String)> = check(add)?
            .into_iter()
            .map(|n| (true, n))
            .chain(check(remove)?.into_iter().map(|n| (false, n)))
            .collect();
        let mut outcome = ModifyOutcome::default();
        for chunk in changes.chunks(MAX_MEMBERS_MODIFY) {
            let names = |adding: bool| -> Vec<&str> {
                chunk
                    .iter()
                    .filter(|(is_add, _)| *is_add == adding)
                    .map(|(_, n)| n.as_str())
                    .collect()
            };
            let body = json!({
                "resourceNamesToAdd": names(true),
                "resourceNamesToRemove": names(false),
            });
            let path = format!("{group}/members:modify");
            let part: ModifyOutcome = self
                .post(user, &path, &body, true, "members modify")
                .await?;
            outcome
                .not_found_resource_names
                .extend(part.not_found_resource_names);
            outcome
                .can_not_remove_last_contact_group_resource_names
                .extend(part.can_not_remove_last_contact_group_resource_names);
        }
        Ok(outcome)
    }
}
