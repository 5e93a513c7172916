//! Contacts: list per folder with `$skip` paging and the indexed `$filter`s, get from any
//! folder, create in a folder, PATCH, DELETE (soft), permanentDelete, and no move.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::errors::GraphError;
use crate::folders;
use crate::model::{self, RenderMeta};
use crate::query::{self, Filter};
use crate::router::FolderRef;
use crate::server::Ctx;
use crate::state::{Contact, Mailbox, MailboxRef};
use crate::subscriptions;
use crate::wire::{ApiResponse, encode_segment};

/// How a request wants contacts written.
pub struct View {
    pub immutable: bool,
    pub select: Option<Vec<String>>,
    pub expand: Option<Vec<String>>,
}

impl View {
    pub fn from_request(ctx: &Ctx<'_>) -> Result<View, GraphError> {
        Ok(View {
            immutable: ctx.req.wants_immutable_ids(),
            select: model::parse_select(ctx.req.query_param("$select"))?,
            expand: query::parse_expand(ctx.req.query_param("$expand"))?,
        })
    }
}

/// A contact as Graph returns it to this request.
pub fn render(contact: &Contact, view: &View) -> Map<String, Value> {
    let meta = RenderMeta {
        id: contact.id_for(view.immutable),
        parent_folder_id: &contact.folder_id,
        change_key: &contact.change_key,
        created: contact.created,
        modified: contact.modified,
    };
    let mut out = model::render(&contact.props, &meta, view.select.as_deref());
    if let Some(ids) = &view.expand {
        // Only the properties named in the $expand filter come back (reference §6.1).
        let found: Vec<Value> = ids
            .iter()
            .filter_map(|id| contact.extended_value(id))
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect();
        if !found.is_empty() {
            out.insert(
                "singleValueExtendedProperties".to_owned(),
                Value::Array(found),
            );
        }
    }
    out
}

fn collection_context(
    ctx: &Ctx<'_>,
    mailbox: &Mailbox,
    folder: &FolderRef,
    folder_id: &str,
) -> String {
    let user = encode_segment(&mailbox.id);
    match folder {
        FolderRef::Default => format!(
            "{}/v1.0/$metadata#users('{user}')/contacts",
            ctx.req.base_url
        ),
        FolderRef::Chain(_) => format!(
            "{}/v1.0/$metadata#users('{user}')/contactFolders('{}')/contacts",
            ctx.req.base_url,
            encode_segment(folder_id)
        ),
    }
}

/// `/users/{id}/contacts` and `/users/{id}/contactFolders/{id}/contacts`.
pub fn collection(
    ctx: &Ctx<'_>,
    mailbox: &MailboxRef,
    folder: &FolderRef,
) -> Result<ApiResponse, GraphError> {
    match ctx.req.method {
        Method::GET => list(ctx, mailbox, folder),
        Method::POST => create(ctx, mailbox, folder),
        _ => Err(GraphError::MethodNotAllowed),
    }
}

fn list(
    ctx: &Ctx<'_>,
    mailbox: &MailboxRef,
    folder: &FolderRef,
) -> Result<ApiResponse, GraphError> {
    let view = View::from_request(ctx)?;
    let filter = ctx
        .req
        .query_param("$filter")
        .map(query::parse_filter)
        .transpose()?;
    let order = query::parse_orderby(ctx.req.query_param("$orderby"))?;
    let skip = query::skip(ctx.req)?;
    let top = query::top(ctx.req, ctx.knobs.list_page_size, ctx.knobs.max_page_size)?;
    let mailbox = mailbox.lock();
    let folder_id = folders::resolve(&mailbox, folder)?;
    let all_folders = ctx.knobs.list_all_folders && *folder == FolderRef::Default;
    let in_scope = |c: &Contact| {
        if all_folders {
            c.folder_id != mailbox.deleted_id
        } else {
            c.folder_id == folder_id
        }
    };
    let (page, total): (Vec<&Contact>, usize) = match filter {
        Some(filter) => {
            let keys = match &filter {
                Filter::Extended { id, value } => mailbox.with_extended(id, value),
                Filter::Email(address) => mailbox.with_email(address),
                Filter::Category(name) => mailbox.with_category(name),
                Filter::DisplayName(_) => {
                    return Err(GraphError::bad_request(
                        "ErrorInvalidUrlQueryFilter",
                        "The query filter contains one or more invalid nodes.",
                    ));
                }
            };
            let mut matching: Vec<&Contact> = keys
                .into_iter()
                .flatten()
                .filter_map(|k| mailbox.contact(*k))
                .filter(|c| in_scope(c))
                .collect();
            if let Some(order) = &order {
                sort_contacts(&mut matching, order);
            }
            let total = matching.len();
            (matching.into_iter().skip(skip).take(top).collect(), total)
        }
        None if all_folders || order.is_some() => {
            // Only for `$orderby` or the non-default `list_all_folders` knob: a walk of the
            // folder (or mailbox) and a sort, O(n log n) per request.
            let mut matching: Vec<&Contact> = if all_folders {
                mailbox.all_contacts().filter(|c| in_scope(c)).collect()
            } else {
                let len = mailbox.folder(&folder_id).map_or(0, |f| f.len());
                mailbox.folder_page(&folder_id, 0, len)
            };
            if let Some(order) = &order {
                sort_contacts(&mut matching, order);
            }
            let total = matching.len();
            (matching.into_iter().skip(skip).take(top).collect(), total)
        }
        None => {
            let total = mailbox.folder(&folder_id).map_or(0, |f| f.len());
            (mailbox.folder_page(&folder_id, skip, top), total)
        }
    };
    let value: Vec<Value> = page
        .iter()
        .map(|c| Value::Object(render(c, &view)))
        .collect();
    let mut body = json!({
        "@odata.context": collection_context(ctx, &mailbox, folder, &folder_id),
        "value": value,
    });
    if ctx
        .req
        .query_param("$count")
        .is_some_and(|c| c.eq_ignore_ascii_case("true"))
    {
        body["@odata.count"] = Value::from(total);
    }
    if skip + top < total {
        body["@odata.nextLink"] = Value::String(query::next_skip_link(ctx.req, skip + top));
    }
    Ok(ApiResponse::json(StatusCode::OK, body))
}

fn create(
    ctx: &Ctx<'_>,
    mailbox_ref: &MailboxRef,
    folder: &FolderRef,
) -> Result<ApiResponse, GraphError> {
    let input = model::parse_contact(&ctx.req.body, ctx.knobs, false)?;
    let view = View {
        immutable: ctx.req.wants_immutable_ids(),
        select: None,
        expand: None,
    };
    let (body, mailbox_id, events) = {
        let mut mailbox = mailbox_ref.lock();
        let folder_id = folders::resolve(&mailbox, folder)?;
        let (key, events) = mailbox.create_contact(&folder_id, &input, chrono::Utc::now());
        let contact = mailbox
            .contact(key)
            .ok_or_else(GraphError::item_not_found)?;
        let mut body = render(contact, &view);
        body.insert(
            "@odata.context".to_owned(),
            Value::String(format!(
                "{}/$entity",
                collection_context(ctx, &mailbox, folder, &folder_id)
            )),
        );
        (body, mailbox.id.clone(), events)
    };
    ctx.shared.write_log.record(&events);
    subscriptions::publish(ctx.shared, &mailbox_id, events);
    Ok(with_etag(ApiResponse::json(
        StatusCode::CREATED,
        Value::Object(body),
    )))
}

/// The value a contact sorts by for one `$orderby` key (strings compare case-insensitively,
/// as Exchange does; times in their fixed-width form compare correctly as text).
fn sort_value(contact: &Contact, property: &str) -> String {
    match property {
        "id" => contact.id.clone(),
        "createdDateTime" => model::format_time(contact.created),
        "lastModifiedDateTime" => model::format_time(contact.modified),
        _ => contact
            .props
            .get(property)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_lowercase(),
    }
}

fn sort_contacts(contacts: &mut [&Contact], order: &[(String, bool)]) {
    contacts.sort_by(|a, b| {
        for (property, descending) in order {
            let ordering = sort_value(a, property).cmp(&sort_value(b, property));
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    });
}

/// Single-entity answers carry the entity tag as a header too, as OData services do.
fn with_etag(mut response: ApiResponse) -> ApiResponse {
    let etag = match &response.body {
        crate::wire::Body::Json(body) => body
            .get("@odata.etag")
            .and_then(Value::as_str)
            .map(str::to_owned),
        crate::wire::Body::Empty => None,
    };
    if let Some(etag) = etag {
        response.set_header("ETag", &etag);
    }
    response
}

/// Checks `If-Match` against the current change key when the knob says Graph enforces it.
fn check_if_match(ctx: &Ctx<'_>, contact: &Contact) -> Result<(), GraphError> {
    let Some(value) = ctx.req.header("if-match") else {
        return Ok(());
    };
    if !ctx.knobs.enforce_if_match || value.trim() == "*" {
        return Ok(());
    }
    let tag = value.trim().trim_start_matches("W/").trim_matches('"');
    if tag == contact.change_key {
        Ok(())
    } else {
        Err(GraphError::PreconditionFailed)
    }
}

/// `/users/{id}/contacts/{id}` (and the same under any folder path: ids are mailbox-wide).
pub fn item(ctx: &Ctx<'_>, mailbox_ref: &MailboxRef, id: &str) -> Result<ApiResponse, GraphError> {
    match ctx.req.method {
        Method::GET => {
            let view = View::from_request(ctx)?;
            let mailbox = mailbox_ref.lock();
            let contact = mailbox.resolve_contact(id)?;
            let mut body = render(contact, &view);
            body.insert(
                "@odata.context".to_owned(),
                Value::String(format!(
                    "{}/v1.0/$metadata#users('{}')/contacts/$entity",
                    ctx.req.base_url,
                    encode_segment(&mailbox.id)
                )),
            );
            Ok(with_etag(ApiResponse::json(
                StatusCode::OK,
                Value::Object(body),
            )))
        }
        Method::PATCH => {
            let input = model::parse_contact(&ctx.req.body, ctx.knobs, true)?;
            let view = View {
                immutable: ctx.req.wants_immutable_ids(),
                select: None,
                expand: None,
            };
            let (body, mailbox_id, events) = {
                let mut mailbox = mailbox_ref.lock();
                let contact = mailbox.resolve_contact(id)?;
                check_if_match(ctx, contact)?;
                let key = contact.key;
                let events = mailbox.update_contact(key, &input, chrono::Utc::now());
                let contact = mailbox
                    .contact(key)
                    .ok_or_else(GraphError::item_not_found)?;
                (render(contact, &view), mailbox.id.clone(), events)
            };
            ctx.shared.write_log.record(&events);
            subscriptions::publish(ctx.shared, &mailbox_id, events);
            Ok(with_etag(ApiResponse::json(
                StatusCode::OK,
                Value::Object(body),
            )))
        }
        Method::DELETE => {
            let (mailbox_id, events) = {
                let mut mailbox = mailbox_ref.lock();
                let contact = mailbox.resolve_contact(id)?;
                check_if_match(ctx, contact)?;
                let key = contact.key;
                let events = mailbox.delete_contact(key, ctx.knobs.soft_delete, chrono::Utc::now());
                (mailbox.id.clone(), events)
            };
            ctx.shared.write_log.record(&events);
            subscriptions::publish(ctx.shared, &mailbox_id, events);
            Ok(ApiResponse::no_content())
        }
        _ => Err(GraphError::MethodNotAllowed),
    }
}

/// `/users/{id}/contacts/{id}/{action}`: only `permanentDelete` exists; Graph has no move or
/// copy for contacts and its router answers 400 for the segment.
pub fn action(
    ctx: &Ctx<'_>,
    mailbox_ref: &MailboxRef,
    id: &str,
    action: &str,
) -> Result<ApiResponse, GraphError> {
    if !(action.eq_ignore_ascii_case("permanentDelete") && ctx.knobs.permanent_delete) {
        return Err(GraphError::unknown_segment(action));
    }
    if ctx.req.method != Method::POST {
        return Err(GraphError::MethodNotAllowed);
    }
    let (mailbox_id, events) = {
        let mut mailbox = mailbox_ref.lock();
        let contact = mailbox.resolve_contact(id)?;
        let key = contact.key;
        let events = mailbox.delete_contact(key, false, chrono::Utc::now());
        (mailbox.id.clone(), events)
    };
    ctx.shared.write_log.record(&events);
    subscriptions::publish(ctx.shared, &mailbox_id, events);
    Ok(ApiResponse::no_content())
}
