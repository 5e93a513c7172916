//! contactFolders: list (children of the default folder, which is itself only reachable as
//! `contacts`), get, create, rename, soft delete, and childFolders. Also `GET /users/{id}`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::errors::GraphError;
use crate::model::parse_object;
use crate::query::{self, Filter};
use crate::router::FolderRef;
use crate::server::Ctx;
use crate::state::{Folder, Mailbox, MailboxRef};
use crate::wire::{ApiResponse, encode_segment};

/// The id of the folder a path names, checking each childFolders step.
pub fn resolve(mailbox: &Mailbox, folder: &FolderRef) -> Result<String, GraphError> {
    match folder {
        FolderRef::Default => Ok(mailbox.default_id.clone()),
        FolderRef::Chain(chain) => resolve_chain(mailbox, chain),
    }
}

pub fn resolve_chain(mailbox: &Mailbox, chain: &[String]) -> Result<String, GraphError> {
    let mut parent: Option<String> = None;
    for raw in chain {
        let folder = mailbox.resolve_folder(raw)?;
        if let Some(parent) = &parent
            && &folder.parent_id != parent
        {
            return Err(GraphError::item_not_found());
        }
        parent = Some(folder.id.clone());
    }
    parent.ok_or_else(GraphError::item_not_found)
}

pub fn render(folder: &Folder) -> Value {
    json!({
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id,
    })
}

fn context(ctx: &Ctx<'_>, mailbox: &Mailbox, tail: &str) -> String {
    format!(
        "{}/v1.0/$metadata#users('{}')/{tail}",
        ctx.req.base_url,
        encode_segment(&mailbox.id)
    )
}

/// `GET /users/{id}`.
pub fn user(ctx: &Ctx<'_>, mailbox: &MailboxRef) -> Result<ApiResponse, GraphError> {
    if ctx.req.method != Method::GET {
        return Err(GraphError::MethodNotAllowed);
    }
    let mailbox = mailbox.lock();
    let display = mailbox.upn.split('@').next().unwrap_or_default().to_owned();
    Ok(ApiResponse::json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#users/$entity", ctx.req.base_url),
            "id": mailbox.id,
            "userPrincipalName": mailbox.upn,
            "displayName": display,
            "mail": mailbox.upn,
        }),
    ))
}

/// `/users/{id}/contactFolders`: the children of the default folder.
pub fn top_level(ctx: &Ctx<'_>, mailbox: &MailboxRef) -> Result<ApiResponse, GraphError> {
    let parent = mailbox.lock().default_id.clone();
    list_or_create(ctx, mailbox, &parent, "contactFolders")
}

/// `/users/{id}/contactFolders/{id}/childFolders`.
pub fn children(
    ctx: &Ctx<'_>,
    mailbox: &MailboxRef,
    chain: &[String],
) -> Result<ApiResponse, GraphError> {
    let parent = resolve_chain(&mailbox.lock(), chain)?;
    list_or_create(ctx, mailbox, &parent, "contactFolders/childFolders")
}

fn list_or_create(
    ctx: &Ctx<'_>,
    mailbox: &MailboxRef,
    parent: &str,
    context_tail: &str,
) -> Result<ApiResponse, GraphError> {
    match ctx.req.method {
        Method::GET => {
            let mailbox = mailbox.lock();
            let filter = ctx
                .req
                .query_param("$filter")
                .map(query::parse_filter)
                .transpose()?;
            let name = match filter {
                None => None,
                Some(Filter::DisplayName(name)) => Some(name),
                Some(_) => {
                    return Err(GraphError::bad_request(
                        "ErrorInvalidUrlQueryFilter",
                        "The query filter contains one or more invalid nodes.",
                    ));
                }
            };
            let all: Vec<&Folder> = mailbox
                .child_folders(parent)
                .into_iter()
                .filter(|f| {
                    name.as_ref()
                        .is_none_or(|n| f.display_name.eq_ignore_ascii_case(n))
                })
                .collect();
            let skip = query::skip(ctx.req)?;
            let top = query::top(ctx.req, ctx.knobs.list_page_size, ctx.knobs.max_page_size)?;
            let value: Vec<Value> = all.iter().skip(skip).take(top).map(|f| render(f)).collect();
            let mut body = json!({
                "@odata.context": context(ctx, &mailbox, context_tail),
                "value": value,
            });
            if skip + top < all.len() {
                body["@odata.nextLink"] = Value::String(query::next_skip_link(ctx.req, skip + top));
            }
            Ok(ApiResponse::json(StatusCode::OK, body))
        }
        Method::POST => {
            let body = parse_object(&ctx.req.body)?;
            let name = match body.get("displayName") {
                Some(Value::String(name)) => name.clone(),
                _ => {
                    return Err(GraphError::bad_request(
                        "ErrorInvalidRequest",
                        "The displayName property is required.",
                    ));
                }
            };
            let mut mailbox = mailbox.lock();
            let folder = mailbox.create_folder(parent, &name)?;
            let mut out = render(folder);
            out["@odata.context"] = Value::String(context(ctx, &mailbox, "contactFolders/$entity"));
            Ok(ApiResponse::json(StatusCode::CREATED, out))
        }
        _ => Err(GraphError::MethodNotAllowed),
    }
}

/// `/users/{id}/contactFolders/{id}` (also nested under childFolders).
pub fn item(
    ctx: &Ctx<'_>,
    mailbox: &MailboxRef,
    chain: &[String],
) -> Result<ApiResponse, GraphError> {
    let mut mailbox = mailbox.lock();
    let id = resolve_chain(&mailbox, chain)?;
    match ctx.req.method {
        Method::GET => {
            let folder = mailbox.folder(&id).ok_or_else(GraphError::item_not_found)?;
            let mut out = render(folder);
            out["@odata.context"] = Value::String(context(ctx, &mailbox, "contactFolders/$entity"));
            Ok(ApiResponse::json(StatusCode::OK, out))
        }
        Method::PATCH => {
            let body = parse_object(&ctx.req.body)?;
            if let Some(name) = body.get("displayName") {
                let Some(name) = name.as_str() else {
                    return Err(GraphError::bad_request(
                        "RequestBodyRead",
                        "Cannot convert the value of property 'displayName' to the expected type 'Edm.String'.",
                    ));
                };
                if mailbox.folder(&id).is_some_and(|f| f.well_known.is_some()) {
                    return Err(GraphError::bad_request(
                        "ErrorCannotRenameDistinguishedFolder",
                        "Distinguished folders cannot be renamed.",
                    ));
                }
                mailbox.rename_folder(&id, name)?;
            }
            let folder = mailbox.folder(&id).ok_or_else(GraphError::item_not_found)?;
            Ok(ApiResponse::json(StatusCode::OK, render(folder)))
        }
        Method::DELETE => {
            mailbox.delete_folder(&id)?;
            Ok(ApiResponse::no_content())
        }
        _ => Err(GraphError::MethodNotAllowed),
    }
}
