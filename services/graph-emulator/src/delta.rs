//! Contact delta per folder: opaque `$skiptoken`/`$deltatoken` links, `Prefer:
//! odata.maxpagesize`, `$select` carried in the token, `@removed` for contacts that left the
//! folder, and 410 `syncStateNotFound` for tokens the service no longer knows.
//!
//! A token is a position in the folder's change log (the mailbox sequence number of the last
//! entry served) plus a floor below which removals are not news, so serving a page is a range
//! read of two ordered maps, whatever the size of the folder.

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::contacts::{self, View};
use crate::errors::GraphError;
use crate::folders;
use crate::model;
use crate::query;
use crate::router::FolderRef;
use crate::server::Ctx;
use crate::state::{DeltaEntry, MailboxRef};
use crate::wire::ApiResponse;

#[derive(Debug, Serialize, Deserialize)]
struct Token {
    /// Emulator epoch: tokens from before a reset are unknown.
    e: u64,
    /// Mailbox id and folder id the token belongs to.
    m: String,
    f: String,
    /// Last change-log position served.
    c: u64,
    /// Removals at or below this position are not reported.
    r: u64,
    /// Delta generation of the mailbox when issued (bumped by the expiry fault).
    g: u64,
    /// Issued at, unix seconds.
    t: i64,
    /// `$select` of the initial request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<Vec<String>>,
    /// With replays on: where this round nominally started (the previous round's end), which
    /// is where the round after it will scan from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<u64>,
    /// `$expand` of the initial request: extended property ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<Vec<String>>,
    /// Page size asked for by the initial request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<usize>,
}

impl Token {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str) -> Option<Token> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

fn malformed() -> GraphError {
    GraphError::bad_request("BadRequest", "Badly formed token.")
}

pub fn handle(
    ctx: &Ctx<'_>,
    mailbox_ref: &MailboxRef,
    folder: &FolderRef,
) -> Result<ApiResponse, GraphError> {
    if ctx.req.method != Method::GET {
        return Err(GraphError::MethodNotAllowed);
    }
    let raw_token = ctx
        .req
        .query_param("$skiptoken")
        .or_else(|| ctx.req.query_param("$deltatoken"))
        .filter(|t| !t.is_empty());
    let mailbox = mailbox_ref.lock();
    let folder_id = folders::resolve(&mailbox, folder)?;
    let now = chrono::Utc::now().timestamp();
    let epoch = ctx.shared.epoch();
    let token = match raw_token {
        Some(raw) => {
            let token = Token::decode(raw).ok_or_else(malformed)?;
            let expired_by_age = ctx.knobs.delta_token_ttl_secs.is_some_and(|ttl| {
                now.saturating_sub(token.t) > i64::try_from(ttl).unwrap_or(i64::MAX)
            });
            // A position beyond the mailbox's history was not issued for this mailbox state.
            let from_the_future = token.c > mailbox.seq || token.r > mailbox.seq;
            if token.e != epoch
                || token.g < mailbox.delta_generation
                || expired_by_age
                || from_the_future
            {
                let select = token.s.as_ref().map(|s| s.join(","));
                let location = ctx.knobs.delta_gone_location.then(|| {
                    let mut url = format!("{}{}?$deltatoken=", ctx.req.base_url, ctx.req.path);
                    if let Some(select) = select {
                        url.push_str("&$select=");
                        url.push_str(&select);
                    }
                    url
                });
                return Err(GraphError::SyncStateNotFound {
                    token: raw.to_owned(),
                    location,
                });
            }
            if !token.m.eq_ignore_ascii_case(&mailbox.id) || token.f != folder_id {
                return Err(malformed());
            }
            token
        }
        None => {
            let expand = query::parse_expand(ctx.req.query_param("$expand"))?;
            if expand.is_some() && !ctx.knobs.delta_expand {
                return Err(GraphError::bad_request(
                    "ErrorInvalidUrlQuery",
                    "$expand is not supported on contact delta.",
                ));
            }
            Token {
                e: epoch,
                m: mailbox.id.clone(),
                f: folder_id.clone(),
                c: 0,
                // An initial round reports what exists, plus removals made while it pages.
                r: mailbox.seq,
                g: mailbox.delta_generation,
                t: now,
                s: model::parse_select(ctx.req.query_param("$select"))?,
                p: None,
                x: expand,
                n: ctx.req.max_page_size(),
            }
        }
    };
    let page_size = ctx
        .req
        .max_page_size()
        .or(token.n)
        .unwrap_or(ctx.knobs.delta_page_size)
        .clamp(1, ctx.knobs.max_page_size.max(1));
    let view = View {
        immutable: ctx.req.wants_immutable_ids(),
        select: token.s.clone(),
        expand: token.x.clone(),
    };
    let (entries, last, more) = mailbox.delta_page(&folder_id, token.c, token.r, page_size);
    let value: Vec<Value> = entries
        .iter()
        .map(|entry| match entry {
            DeltaEntry::Live(contact) => {
                let mut out = contacts::render(contact, &view);
                out.insert(
                    "@odata.type".to_owned(),
                    Value::from("#microsoft.graph.contact"),
                );
                Value::Object(out)
            }
            DeltaEntry::Removed(removal) => json!({
                "@odata.type": "#microsoft.graph.contact",
                "id": if view.immutable { &removal.immutable_id } else { &removal.id },
                // The reason for a contact that left by a move is UNCONFIRMED; "deleted" as inferred.
                "@removed": {"reason": "deleted"},
            }),
        })
        .collect();
    let link_base = format!("{}{}", ctx.req.base_url, ctx.req.path);
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#Collection(contact)", ctx.req.base_url),
        "value": value,
    });
    if more {
        let next = Token {
            c: last,
            t: now,
            ..token
        };
        body["@odata.nextLink"] =
            Value::String(format!("{link_base}?$skiptoken={}", next.encode()));
    } else {
        // With the replay knob the next round starts where this one started, so every change
        // is reported twice ("Your application must be prepared for replays").
        let (resume, nominal) = if ctx.knobs.delta_replay {
            (token.p.unwrap_or(token.r), Some(mailbox.seq))
        } else {
            (mailbox.seq, None)
        };
        let next = Token {
            c: resume,
            r: resume,
            p: nominal,
            t: now,
            ..token
        };
        body["@odata.deltaLink"] =
            Value::String(format!("{link_base}?$deltatoken={}", next.encode()));
    }
    Ok(ApiResponse::json(StatusCode::OK, body))
}
