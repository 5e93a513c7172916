//! Bulk onboarding (SPEC §4): `POST /api/v1/users:import` registers many users with their
//! settings in one call: a JSON array of user objects (each with optional `settings`), JSON lines,
//! or CSV with a header row. Every row gets its own result; a row is applied whole or not at all
//! (user and settings in one transaction), and a bad row never stops the others.
//!
//! Enabled users are not started one session each: they are made due now, and the scheduler
//! starts them at its pace (`CLAIM_BATCH` per tick), so importing thousands of users does not
//! flood the pipeline.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sync_state::StateError;
use sync_state::users;

use crate::Ctx;
use crate::auth::Operator;
use crate::error::ApiError;
use crate::users::{Registration, SettingsUpdate, needs_session, register};

/// Rows one call takes at most; `contactsync users import` splits larger files.
pub const MAX_ROWS: usize = 10_000;
/// Bodies of an import: 10,000 rows of a few hundred bytes.
pub const IMPORT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// One user to import, as a JSON object or a CSV row.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    pub id: String,
    pub mailbox: String,
    pub salesforce_user_id: String,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub settings: Option<SettingsUpdate>,
}

/// A row number and the row, or why it does not parse.
pub type NumberedRow = (usize, Result<ImportRow, String>);

/// The outcome of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowResult {
    /// 1-based: the array index + 1, the JSON line, or the CSV data row (the header is row 0).
    pub row: usize,
    pub id: Option<String>,
    pub status: RowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    Created,
    Updated,
    Failed,
}

/// The body's format, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonArray,
    JsonLines,
    Csv,
}

fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/json" => Ok(Format::JsonArray),
        "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Ok(Format::JsonLines)
        }
        "text/csv" => Ok(Format::Csv),
        other => Err(ApiError::bad(format!(
            "content-type {other:?}: send application/json (an array of users), \
             application/x-ndjson (one user per line) or text/csv (with a header row)"
        ))),
    }
}

/// Parses the body into numbered rows; a row that does not parse is already a failed result.
pub fn parse_rows(body: &[u8], csv: bool, lines: bool) -> Result<Vec<NumberedRow>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad("the body is not UTF-8"))?;
    let rows = if csv {
        parse_csv(text)?
    } else if lines {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                (
                    i + 1,
                    serde_json::from_str::<ImportRow>(line).map_err(|e| e.to_string()),
                )
            })
            .collect()
    } else {
        let items: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad(format!("the body is not a JSON array of users: {e}")))?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                (
                    i + 1,
                    serde_json::from_value::<ImportRow>(item).map_err(|e| e.to_string()),
                )
            })
            .collect()
    };
    if rows.is_empty() {
        return Err(ApiError::bad("no rows to import"));
    }
    if rows.len() > MAX_ROWS {
        return Err(ApiError::TooLarge(format!(
            "{} rows; send at most {MAX_ROWS} per call (contactsync users import splits files)",
            rows.len()
        )));
    }
    Ok(rows)
}

/// The CSV columns an import reads (header names, any order; unknown ones are refused).
const CSV_COLUMNS: [&str; 10] = [
    "id",
    "mailbox",
    "salesforce_user_id",
    "provider",
    "org",
    "enabled",
    "scope",
    "list_view_id",
    "auto_removal",
    "conflict_winner",
];

fn parse_csv(text: &str) -> Result<Vec<NumberedRow>, ApiError> {
    let records = csv_records(text).map_err(ApiError::bad)?;
    let mut records = records.into_iter();
    let header: Vec<String> = records
        .next()
        .ok_or_else(|| ApiError::bad("the CSV has no header row"))?
        .into_iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    for name in &header {
        if !CSV_COLUMNS.contains(&name.as_str()) {
            return Err(ApiError::bad(format!(
                "CSV column {name:?} is unknown; the columns are {}",
                CSV_COLUMNS.join(", ")
            )));
        }
    }
    for required in ["id", "mailbox", "salesforce_user_id"] {
        if !header.iter().any(|h| h == required) {
            return Err(ApiError::bad(format!("the CSV has no {required} column")));
        }
    }
    Ok(records
        .enumerate()
        .filter(|(_, r)| !(r.len() == 1 && r[0].trim().is_empty()))
        .map(|(i, record)| (i + 1, csv_row(&header, &record)))
        .collect())
}

fn csv_row(header: &[String], record: &[String]) -> Result<ImportRow, String> {
    if record.len() != header.len() {
        return Err(format!(
            "{} fields where the header has {}",
            record.len(),
            header.len()
        ));
    }
    let cell = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .map(|i| record[i].trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let flag = |name: &str| -> Result<Option<bool>, String> {
        match cell(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) if ["true", "yes", "1"].contains(&v.as_str()) => Ok(Some(true)),
            Some(v) if ["false", "no", "0"].contains(&v.as_str()) => Ok(Some(false)),
            Some(v) => Err(format!("{name}: expected true or false (got {v:?})")),
        }
    };
    let settings = SettingsUpdate {
        enabled: flag("enabled")?,
        scope: cell("scope"),
        list_view_id: cell("list_view_id"),
        auto_removal: flag("auto_removal")?,
        conflict_winner: cell("conflict_winner"),
    };
    let any_setting = settings.enabled.is_some()
        || settings.scope.is_some()
        || settings.list_view_id.is_some()
        || settings.auto_removal.is_some()
        || settings.conflict_winner.is_some();
    Ok(ImportRow {
        id: cell("id").unwrap_or_default(),
        mailbox: cell("mailbox").unwrap_or_default(),
        salesforce_user_id: cell("salesforce_user_id").unwrap_or_default(),
        provider: cell("provider"),
        org: cell("org"),
        settings: any_setting.then_some(settings),
    })
}

/// RFC 4180 records: commas, double-quoted fields with `""` escapes and line breaks inside,
/// CRLF or LF line ends.
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                line += 1;
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("an unterminated quoted CSV field (line {line})"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// `POST /api/v1/users:import` → `{"results":[{"row","id","status","error"}]}`, one per row.
#[tracing::instrument(skip_all)]
pub async fn import(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let format = format_of(&headers)?;
    let rows = parse_rows(&body, format == Format::Csv, format == Format::JsonLines)?;
    let mut results = Vec::with_capacity(rows.len());
    for (row, parsed) in rows {
        let result = match parsed {
            Err(error) => RowResult {
                row,
                id: None,
                status: RowStatus::Failed,
                error: Some(error),
            },
            Ok(user) => {
                let id = user.id.clone();
                match import_one(&ctx, user).await {
                    Ok(status) => RowResult {
                        row,
                        id: Some(id),
                        status,
                        error: None,
                    },
                    // The database is gone: stop here rather than fail every row on it; the
                    // rows already imported stay, and a repeat of the file is harmless.
                    Err(ApiError::Unavailable(e)) => return Err(ApiError::Unavailable(e)),
                    Err(e) => RowResult {
                        row,
                        id: Some(id),
                        status: RowStatus::Failed,
                        error: Some(e.to_string()),
                    },
                }
            }
        };
        results.push(result);
    }
    let failed = results
        .iter()
        .filter(|r| r.status == RowStatus::Failed)
        .count();
    tracing::info!(rows = results.len(), failed, "Imported users.");
    Ok(Json(serde_json::json!({ "results": results })).into_response())
}

/// Validates and applies one row in one transaction: the user (created, or an identical one
/// kept) and the settings given; a user whose sync is now on is made due, for the scheduler.
async fn import_one(ctx: &Ctx, user: ImportRow) -> Result<RowStatus, ApiError> {
    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = client.transaction().await?;
    let created = register(
        ctx,
        &tx,
        Registration {
            id: &user.id,
            mailbox: &user.mailbox,
            salesforce_user_id: &user.salesforce_user_id,
            provider: user.provider.as_deref(),
            org: user.org.as_deref(),
        },
    )
    .await?;
    let status = if users::created_in(&tx, &created).await? {
        RowStatus::Created
    } else {
        RowStatus::Updated
    };
    if let Some(update) = user.settings {
        users::lock_user_row(&tx, &user.id).await?;
        let before = users::get_settings(&*tx, &user.id).await?;
        let wanted = update.apply(&before)?;
        let stored = users::put_settings(&tx, &user.id, &wanted).await?;
        if needs_session(&before, &stored) {
            users::make_due_now(&tx, &user.id).await?;
        }
    }
    tx.commit().await?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_may_be_quoted_with_commas_quotes_and_line_breaks() {
        let records =
            csv_records("a,b\r\n\"x, y\",\"say \"\"hi\"\"\nthere\"\nlast,").expect("parses");
        assert_eq!(
            records,
            vec![
                vec!["a".to_owned(), "b".to_owned()],
                vec!["x, y".to_owned(), "say \"hi\"\nthere".to_owned()],
                vec!["last".to_owned(), String::new()],
            ]
        );
        assert!(csv_records("a,\"open").is_err());
    }

    #[test]
    fn a_csv_row_takes_settings_from_its_columns_and_names_bad_ones() {
        let rows = parse_rows(
            b"id,mailbox,salesforce_user_id,enabled,scope\n\
              ann,ann@x.example,005xx000001SvbQAAS,true,all\n\
              bob,bob@x.example,005xx000001SvbQAAS,maybe,\n\
              cy,cy@x.example\n",
            true,
            false,
        )
        .expect("parses");
        assert_eq!(rows.len(), 3);
        let (row, ann) = &rows[0];
        assert_eq!(*row, 1);
        let ann = ann.as_ref().expect("ann parses");
        let settings = ann.settings.as_ref().expect("settings");
        assert_eq!(settings.enabled, Some(true));
        assert_eq!(settings.scope.as_deref(), Some("all"));
        assert!(
            rows[1]
                .1
                .as_ref()
                .expect_err("bad flag")
                .starts_with("enabled:")
        );
        assert!(
            rows[2]
                .1
                .as_ref()
                .expect_err("short row")
                .contains("fields")
        );
    }

    #[test]
    fn unknown_csv_columns_and_json_fields_are_refused() {
        assert!(parse_rows(b"id,mailbox,salesforce_user_id,colour\n", true, false).is_err());
        let rows = parse_rows(
            br#"[{"id":"a","mailbox":"a@x","salesforce_user_id":"005","colour":1}]"#,
            false,
            false,
        )
        .expect("parses");
        assert!(rows[0].1.as_ref().expect_err("unknown").contains("colour"));
        let lines = parse_rows(
            b"{\"id\":\"a\",\"mailbox\":\"a@x\",\"salesforce_user_id\":\"005\"}\n\nnot json\n",
            false,
            true,
        )
        .expect("parses");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].0, 3, "rows are numbered by line");
        assert!(lines[1].1.is_err());
    }
}
