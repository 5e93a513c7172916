//! A widely used third-party client, PyPI `simple-salesforce`, pointed at the emulator by
//! instance URL and session id only, creates, reads, queries (with paging), updates, upserts
//! and deletes Contacts. The library is installed on first use under `target/pydeps/`.
//!
//! simple-salesforce hard-codes `https://` in front of the instance host, so the emulator
//! serves HTTPS here with the dev-only certificate, and `requests` trusts the dev-only CA
//! through `REQUESTS_CA_BUNDLE`, as it would a corporate CA.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use salesforce_emulator::Config;
use salesforce_emulator::tls::TlsConfig;
use serde_json::json;

const PACKAGE: &str = "simple-salesforce==1.12.10";

fn workspace_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Installs the package once into `target/pydeps/<name>`; concurrent runs install into
/// private temporary dirs and the first atomic rename wins.
fn ensure_installed() -> PathBuf {
    let root = workspace_target().join("pydeps");
    let dest = root.join("simple-salesforce-1.12.10");
    if dest.join(".complete").exists() {
        return dest;
    }
    std::fs::create_dir_all(&root).expect("create target/pydeps");
    let tmp = root.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
        ])
        .arg(&tmp)
        .arg(PACKAGE)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pip install {PACKAGE} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(tmp.join(".complete"), b"ok").expect("marker");
    if std::fs::rename(&tmp, &dest).is_err() {
        // Another test process finished first; its copy is complete, ours is surplus.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(
        dest.join(".complete").exists(),
        "simple-salesforce not installed at {}",
        dest.display()
    );
    dest
}

const SCRIPT: &str = r#"
import json, sys
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

instance, token = sys.argv[1], sys.argv[2]

sf = Salesforce(instance_url=instance, session_id=token, version="60.0")
out = {}

created = sf.Contact.create({"FirstName": "Simple", "LastName": "Py", "Email": "py@example.com"})
assert created["success"] is True and created["errors"] == [], created
cid = created["id"]
got = sf.Contact.get(cid)
assert got["LastName"] == "Py" and got["attributes"]["type"] == "Contact", got
assert sf.Contact.update(cid, {"Title": "Snake"}) == 204

res = sf.query("SELECT Id, Title, Owner.Username FROM Contact WHERE Email = 'PY@EXAMPLE.COM'")
assert res["totalSize"] == 1 and res["records"][0]["Title"] == "Snake", res
out["owner"] = res["records"][0]["Owner"]["Username"]

all_rows = sf.query_all("SELECT Id FROM Contact")
out["query_all_total"] = all_rows["totalSize"]
out["query_all_records"] = len(all_rows["records"])

first = sf.Contact.upsert("Contactsync_Key__c/py-1", {"LastName": "Up"})
again = sf.Contact.upsert("Contactsync_Key__c/py-1", {"LastName": "Up again"})
out["upsert_statuses"] = [first, again]

try:
    sf.Contact.create({"FirstName": "NoLast"})
    raise SystemExit("create without LastName succeeded")
except SalesforceMalformedRequest as e:
    out["error_code"] = e.content[0]["errorCode"]

assert sf.Contact.delete(cid) == 204
try:
    sf.Contact.get(cid)
    raise SystemExit("deleted contact still readable")
except SalesforceResourceNotFound as e:
    out["deleted_error"] = e.content[0]["errorCode"]

out["limits"] = sf.limits()["DailyApiRequests"]["Max"]
print(json.dumps(out))
"#;

#[tokio::test]
async fn simple_salesforce_crud_and_query_against_the_emulator() {
    let pydeps = tokio::task::spawn_blocking(ensure_installed)
        .await
        .expect("installer ran");
    let emu = start_with(Config {
        tls: Some(TlsConfig::dev()),
        ..Config::default()
    })
    .await;
    assert!(emu.base.starts_with("https://127.0.0.1:"), "{}", emu.base);
    let (_, token) = emu.login("py@example.com").await;
    // Enough rows that query_all has to follow nextRecordsUrl (default batch 2,000).
    let rows: Vec<_> = (0..2500)
        .map(|i| json!({"LastName": format!("Bulk{i}")}))
        .collect();
    emu.seed("Contact", "py@example.com", rows).await;
    let base = emu.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg(&base)
            .arg(&token)
            .env("PYTHONPATH", &pydeps)
            .env(
                "REQUESTS_CA_BUNDLE",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../emulator-tls/fixtures/dev-only-tls-ca.pem"),
            )
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("script ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("script prints JSON");
    assert_eq!(result["owner"], "py@example.com");
    assert_eq!(result["query_all_total"], 2501);
    assert_eq!(result["query_all_records"], 2501);
    assert_eq!(result["upsert_statuses"], json!([201, 200]));
    assert_eq!(result["error_code"], "REQUIRED_FIELD_MISSING");
    assert_eq!(result["deleted_error"], "ENTITY_IS_DELETED");
    assert_eq!(result["limits"], 1_000_000);
}
