//! `outlook/masterCategories`: list, create with unique names, get, update (colour only), delete.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::errors::GraphError;
use crate::model::parse_object;
use crate::server::Ctx;
use crate::state::{Category, MailboxRef};
use crate::wire::{ApiResponse, encode_segment};

fn valid_color(color: &str) -> bool {
    color == "none"
        || color
            .strip_prefix("preset")
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| n <= 24)
}

fn render(category: &Category) -> Value {
    json!({
        "id": category.id,
        "displayName": category.display_name,
        "color": category.color,
    })
}

fn color_of(body: &serde_json::Map<String, Value>) -> Result<Option<String>, GraphError> {
    match body.get("color") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(color)) => {
            // The docs capitalise the constants; the wire uses lower case. Accept both.
            let lower = color.to_ascii_lowercase();
            if valid_color(&lower) {
                Ok(Some(lower))
            } else {
                Err(GraphError::bad_request(
                    "RequestBodyRead",
                    format!("The value '{color}' is not a valid categoryColor."),
                ))
            }
        }
        Some(_) => Err(GraphError::bad_request(
            "RequestBodyRead",
            "Cannot convert the value of property 'color' to the expected type 'microsoft.graph.categoryColor'.",
        )),
    }
}

/// `/users/{id}/outlook/masterCategories`.
pub fn collection(ctx: &Ctx<'_>, mailbox: &MailboxRef) -> Result<ApiResponse, GraphError> {
    let context = |id: &str, tail: &str| {
        format!(
            "{}/v1.0/$metadata#users('{}')/outlook/masterCategories{tail}",
            ctx.req.base_url,
            encode_segment(id)
        )
    };
    match ctx.req.method {
        Method::GET => {
            let mailbox = mailbox.lock();
            let value: Vec<Value> = mailbox.categories().iter().map(render).collect();
            Ok(ApiResponse::json(
                StatusCode::OK,
                json!({"@odata.context": context(&mailbox.id, ""), "value": value}),
            ))
        }
        Method::POST => {
            let body = parse_object(&ctx.req.body)?;
            let Some(name) = body.get("displayName").and_then(Value::as_str) else {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The displayName property is required.",
                ));
            };
            if name.trim().is_empty() {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The displayName property cannot be empty.",
                ));
            }
            let color = color_of(&body)?.unwrap_or_else(|| "none".to_owned());
            let mut mailbox = mailbox.lock();
            let category = mailbox.create_category(name, &color)?;
            let mut out = render(&category);
            out["@odata.context"] = Value::String(context(&mailbox.id, "/$entity"));
            Ok(ApiResponse::json(StatusCode::CREATED, out))
        }
        _ => Err(GraphError::MethodNotAllowed),
    }
}

/// `/users/{id}/outlook/masterCategories/{id}`.
pub fn item(ctx: &Ctx<'_>, mailbox: &MailboxRef, id: &str) -> Result<ApiResponse, GraphError> {
    let mut mailbox = mailbox.lock();
    let not_found = || GraphError::item_not_found();
    match ctx.req.method {
        Method::GET => {
            let category = mailbox.category_mut(id).ok_or_else(not_found)?;
            Ok(ApiResponse::json(StatusCode::OK, render(category)))
        }
        Method::PATCH => {
            let body = parse_object(&ctx.req.body)?;
            let color = color_of(&body)?;
            let category = mailbox.category_mut(id).ok_or_else(not_found)?;
            if let Some(name) = body.get("displayName").and_then(Value::as_str)
                && name != category.display_name
            {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The displayName of a category cannot be changed.",
                ));
            }
            if let Some(color) = color {
                category.color = color;
            }
            Ok(ApiResponse::json(StatusCode::OK, render(category)))
        }
        Method::DELETE => {
            if mailbox.delete_category(id) {
                Ok(ApiResponse::no_content())
            } else {
                Err(not_found())
            }
        }
        _ => Err(GraphError::MethodNotAllowed),
    }
}
