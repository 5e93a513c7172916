//! Contact reads: one contact with our sync key expanded, and lookup by extended property value.

use reqwest::Method;
use sync_core::fields::GraphContactFields;
use tracing::instrument;

use crate::client::{GraphClient, enc, query_string};
use crate::error::GraphError;
use crate::types::{GraphContact, SYNC_KEY_PROPERTY_ID};

/// `$select` for every contact read: the mapped fields plus what the sync itself needs.
pub fn contact_select() -> String {
    format!(
        "{},categories,parentFolderId,changeKey",
        GraphContactFields::SELECT
    )
}

/// An OData string literal: single quotes doubled, so no value can end the literal early.
pub(crate) fn odata_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `$expand` that returns one extended property (Graph never returns them all at once).
pub(crate) fn expand_property(property_id: &str) -> String {
    format!(
        "singleValueExtendedProperties($filter=id eq {})",
        odata_literal(property_id)
    )
}

impl GraphClient {
    /// One contact, anywhere in the mailbox, with our sync key property expanded. `None` when
    /// the id no longer exists (deleted or moved away since it was seen).
    #[instrument(skip_all, fields(mailbox = %mailbox, contact_id = %contact_id))]
    pub async fn get_contact(
        &self,
        mailbox: &str,
        contact_id: &str,
    ) -> Result<Option<GraphContact>, GraphError> {
        let select = contact_select();
        let expand = expand_property(SYNC_KEY_PROPERTY_ID);
        let url = self.url(
            &format!("/users/{}/contacts/{}", enc(mailbox), enc(contact_id)),
            &query_string(&[("$select", &select), ("$expand", &expand)]),
        )?;
        match self.send(Method::GET, url, None, None).await {
            Ok(reply) => Ok(Some(reply.json("contact")?)),
            Err(GraphError::Api(e)) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Contacts whose extended property `property_id` equals `value`, in one folder or in the
    /// default folder when `folder_id` is `None`; the property comes back expanded.
    #[instrument(skip_all, fields(mailbox = %mailbox))]
    pub async fn find_by_extended_property(
        &self,
        mailbox: &str,
        folder_id: Option<&str>,
        property_id: &str,
        value: &str,
    ) -> Result<Vec<GraphContact>, GraphError> {
        let path = match folder_id {
            Some(folder) => format!(
                "/users/{}/contactFolders/{}/contacts",
                enc(mailbox),
                enc(folder)
            ),
            None => format!("/users/{}/contacts", enc(mailbox)),
        };
        let filter = format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq {} and ep/value eq {})",
            odata_literal(property_id),
            odata_literal(value)
        );
        let select = contact_select();
        let expand = expand_property(property_id);
        let url = self.url(
            &path,
            &query_string(&[
                ("$filter", &filter),
                ("$select", &select),
                ("$expand", &expand),
            ]),
        )?;
        self.get_all(url, "contact list").await
    }

    /// Every contact of a folder (the default folder when `folder_id` is `None`; the well-known
    /// name `contacts` also addresses it), optionally narrowed by an OData `$filter` such as
    /// [`category_filter`]. Follows paging to the end.
    #[instrument(skip_all, fields(mailbox = %mailbox))]
    pub async fn list_contacts(
        &self,
        mailbox: &str,
        folder_id: Option<&str>,
        filter: Option<&str>,
    ) -> Result<Vec<GraphContact>, GraphError> {
        let path = match folder_id {
            Some(folder) => format!(
                "/users/{}/contactFolders/{}/contacts",
                enc(mailbox),
                enc(folder)
            ),
            None => format!("/users/{}/contacts", enc(mailbox)),
        };
        let select = contact_select();
        let top = self.config().max_page_size.to_string();
        let mut pairs = vec![("$select", select.as_str()), ("$top", top.as_str())];
        if let Some(filter) = filter {
            pairs.push(("$filter", filter));
        }
        let url = self.url(&path, &query_string(&pairs))?;
        self.get_all(url, "contact list").await
    }
}

/// An OData filter for contacts carrying the category `name` (B9 looks for these outside the
/// folder).
pub fn category_filter(name: &str) -> String {
    format!("categories/any(c:c eq {})", odata_literal(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_category_filter_quotes_the_name() {
        assert_eq!(
            category_filter("Sales'force"),
            "categories/any(c:c eq 'Sales''force')"
        );
    }

    #[test]
    fn quotes_in_literals_are_doubled() {
        assert_eq!(odata_literal("O'Brien"), "'O''Brien'");
        assert_eq!(
            expand_property("String {x} Name K"),
            "singleValueExtendedProperties($filter=id eq 'String {x} Name K')"
        );
    }

    #[test]
    fn the_select_list_carries_the_sync_bookkeeping_fields() {
        let select = contact_select();
        assert!(select.starts_with("givenName,surname"));
        assert!(select.ends_with(",categories,parentFolderId,changeKey"));
    }
}
