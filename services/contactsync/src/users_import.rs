//! `contactsync users import FILE`: bulk onboarding from a file through the gateway's
//! `POST /api/v1/users:import` (SPEC §4), in chunks, with one line per row that failed and a
//! summary. CSV (with a header row), JSON lines or a JSON array, by the file's extension.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

/// Rows per request: well under the gateway's limit, and a failure mid-file loses little time.
const CHUNK_ROWS: usize = 1000;

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Registers the users of FILE (and their settings); prints the rows that failed.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// CSV with a header row (id,mailbox,salesforce_user_id,provider,org,enabled,scope,
    /// list_view_id,auto_removal,conflict_winner), JSON lines, or a JSON array.
    file: PathBuf,
    /// The file's format; by default from its extension (.csv, .jsonl/.ndjson, .json).
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// The gateway's base URL.
    #[arg(long, env = "GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// The operator token (`ADMIN_TOKEN`).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FileFormat {
    Csv,
    Jsonl,
    Json,
}

impl FileFormat {
    fn of(path: &Path) -> anyhow::Result<FileFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(FileFormat::Csv),
            Some("jsonl" | "ndjson") => Ok(FileFormat::Jsonl),
            Some("json") => Ok(FileFormat::Json),
            _ => bail!(
                "cannot tell the format of {} from its extension: pass --format csv|jsonl|json",
                path.display()
            ),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv",
            FileFormat::Jsonl => "application/x-ndjson",
            FileFormat::Json => "application/json",
        }
    }
}

/// One request's body and the file row its first row is.
struct Chunk {
    body: String,
    first_row: usize,
}

/// Splits a file into request bodies of at most `CHUNK_ROWS` rows each.
fn chunks(text: &str, format: FileFormat) -> anyhow::Result<Vec<Chunk>> {
    match format {
        FileFormat::Json => {
            let rows: Vec<Value> =
                serde_json::from_str(text).context("the file is not a JSON array of users")?;
            rows.chunks(CHUNK_ROWS)
                .enumerate()
                .map(|(i, rows)| {
                    Ok(Chunk {
                        body: serde_json::to_string(rows)?,
                        first_row: i * CHUNK_ROWS + 1,
                    })
                })
                .collect()
        }
        FileFormat::Jsonl => {
            // Blank lines keep their numbers, so rows are numbered as the file's lines.
            let lines: Vec<&str> = text.lines().collect();
            Ok(lines
                .chunks(CHUNK_ROWS)
                .enumerate()
                .map(|(i, lines)| Chunk {
                    body: lines.join("\n"),
                    first_row: i * CHUNK_ROWS + 1,
                })
                .collect())
        }
        FileFormat::Csv => {
            let records = csv_records(text);
            let Some((header, rows)) = records.split_first() else {
                bail!("the CSV is empty");
            };
            Ok(rows
                .chunks(CHUNK_ROWS)
                .enumerate()
                .map(|(i, rows)| Chunk {
                    body: format!("{header}\n{}\n", rows.join("\n")),
                    first_row: i * CHUNK_ROWS + 1,
                })
                .collect())
        }
    }
}

/// The CSV's records as text, split at line ends outside quoted fields (a quoted field may hold
/// a line break), so a chunk never cuts a record in two.
fn csv_records(text: &str) -> Vec<String> {
    let mut records = Vec::new();
    let mut current = String::new();
    let mut quotes = 0usize;
    for line in text.lines() {
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
        quotes += line.matches('"').count();
        if quotes.is_multiple_of(2) {
            if !current.trim().is_empty() {
                records.push(std::mem::take(&mut current));
            }
            current.clear();
            quotes = 0;
        }
    }
    if !current.trim().is_empty() {
        records.push(current);
    }
    records
}

pub async fn run(args: UsersArgs) -> anyhow::Result<()> {
    let UsersCommand::Import(args) = args.command;
    let format = match args.format {
        Some(f) => f,
        None => FileFormat::of(&args.file)?,
    };
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let url = format!("{}/api/v1/users:import", args.gateway.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let (mut created, mut updated, mut failed) = (0usize, 0usize, 0usize);
    for chunk in chunks(&text, format)? {
        let response = http
            .post(&url)
            .bearer_auth(&args.token)
            .header("content-type", format.content_type())
            .body(chunk.body)
            .send()
            .await
            .with_context(|| format!("calling {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "the gateway refused rows from {} on: {status} {}",
                chunk.first_row,
                body["error"]["message"].as_str().unwrap_or_default()
            );
        }
        for result in body["results"].as_array().into_iter().flatten() {
            let row = result["row"].as_u64().unwrap_or_default() as usize + chunk.first_row - 1;
            match result["status"].as_str() {
                Some("created") => created += 1,
                Some("updated") => updated += 1,
                _ => {
                    failed += 1;
                    println!(
                        "row {row} ({}): {}",
                        result["id"].as_str().unwrap_or("?"),
                        result["error"].as_str().unwrap_or("failed")
                    );
                }
            }
        }
    }
    println!("{created} created, {updated} updated, {failed} failed");
    if failed > 0 {
        bail!(
            "{failed} row(s) failed; fix them and import the file again (done rows stay as they are)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_is_split_between_records_never_inside_a_quoted_line_break() {
        let text = "id,mailbox\na,\"two\nlines\"\n\nb,x\n";
        assert_eq!(
            csv_records(text),
            vec!["id,mailbox", "a,\"two\nlines\"", "b,x"]
        );
    }

    #[test]
    fn chunks_keep_the_header_and_number_their_first_row() {
        let mut text = String::from("id,mailbox,salesforce_user_id\n");
        for i in 0..(CHUNK_ROWS + 5) {
            text.push_str(&format!("u{i},u{i}@x.example,005xx000001SvbQAAS\n"));
        }
        let chunks = chunks(&text, FileFormat::Csv).expect("chunks");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].first_row, CHUNK_ROWS + 1);
        assert!(
            chunks[1]
                .body
                .starts_with("id,mailbox,salesforce_user_id\n")
        );
        assert_eq!(chunks[1].body.lines().count(), 6);
        assert_eq!(
            FileFormat::of(Path::new("users.CSV")).ok(),
            Some(FileFormat::Csv)
        );
        assert!(FileFormat::of(Path::new("users.txt")).is_err());
    }
}
