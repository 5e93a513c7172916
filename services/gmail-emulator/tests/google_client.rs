//! The official client library, PyPI `google-api-python-client` with `google-auth`, unmodified
//! and pointed at the emulator by `api_endpoint` only: a service-account key file from the
//! control API, domain-wide delegation to a user, then a full sync with a sync token, creates,
//! a batch create, an update with etag (and a stale one), a delete, an incremental sync, and
//! contact groups with `members:modify`. The libraries are installed on first use under
//! `target/pydeps/`. Plain http: the library accepts it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PACKAGES: &[&str] = &["google-api-python-client==2.202.0", "google-auth==2.62.2"];
const DIR: &str = "google-api-python-client-2.202.0-google-auth-2.62.2";

fn workspace_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Installs the packages once into `target/pydeps/<name>`; concurrent runs install into
/// private temporary dirs and the first atomic rename wins.
fn ensure_installed() -> PathBuf {
    let root = workspace_target().join("pydeps");
    let dest = root.join(DIR);
    if dest.join(".complete").exists() {
        return dest;
    }
    std::fs::create_dir_all(&root).expect("create target/pydeps");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let tmp = root.join(format!(".tmp-{}-{nanos}", std::process::id()));
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
        .args(PACKAGES)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pip install {PACKAGES:?} failed: {}{}",
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
        "client libraries not installed at {}",
        dest.display()
    );
    dest
}

const SCRIPT: &str = r#"
import json, sys
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

key, base, email = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
creds = service_account.Credentials.from_service_account_info(
    key, scopes=["https://www.googleapis.com/auth/contacts"], subject=email)
svc = build("people", "v1", credentials=creds, client_options={"api_endpoint": base},
            static_discovery=True)
people = svc.people()
out = {}

def full_sync():
    seen, request = [], people.connections().list(
        resourceName="people/me", personFields="names,emailAddresses", pageSize=2,
        requestSyncToken=True)
    pages, token = 0, None
    while request is not None:
        page = request.execute()
        pages += 1
        seen += page.get("connections", [])
        token = page.get("nextSyncToken", token)
        request = people.connections().list_next(request, page)
    return seen, pages, token

seen, pages, sync = full_sync()
out["full"] = len(seen)
out["full_pages"] = pages

created = people.createContact(
    personFields="names,emailAddresses,memberships",
    body={"names": [{"givenName": "Py", "familyName": "Thon"}],
          "emailAddresses": [{"value": "py@example.com", "type": "work"}]}).execute()
out["created_display"] = created["names"][0]["displayName"]
out["created_group"] = created["memberships"][0]["contactGroupMembership"]["contactGroupResourceName"]

batch = people.batchCreateContacts(body={
    "contacts": [{"contactPerson": {"names": [{"givenName": "Batch%d" % i}]}} for i in range(3)],
    "readMask": "names"}).execute()
out["batch_created"] = len(batch["createdPeople"])

updated = people.updateContact(
    resourceName=created["resourceName"], updatePersonFields="names",
    personFields="names", body={"etag": created["etag"], "names": [{"givenName": "Updated"}]}).execute()
out["updated_name"] = updated["names"][0]["givenName"]
try:
    people.updateContact(
        resourceName=created["resourceName"], updatePersonFields="names",
        body={"etag": created["etag"], "names": [{"givenName": "Stale"}]}).execute()
    raise SystemExit("a stale etag was accepted")
except HttpError as e:
    out["stale_status"] = e.resp.status
    out["stale_reason"] = json.loads(e.content)["error"]["status"]

victim = batch["createdPeople"][0]["person"]["resourceName"]
out["deleted"] = people.deleteContact(resourceName=victim).execute()
try:
    people.get(resourceName=victim, personFields="names").execute()
    raise SystemExit("a deleted contact is still readable")
except HttpError as e:
    out["deleted_get_status"] = e.resp.status

changes = people.connections().list(
    resourceName="people/me", personFields="names,emailAddresses", requestSyncToken=True,
    syncToken=sync).execute()
conns = changes.get("connections", [])
out["incremental"] = len(conns)
out["tombstones"] = [c["resourceName"] for c in conns if c.get("metadata", {}).get("deleted")]
out["victim"] = victim

got = people.getBatchGet(resourceNames=[created["resourceName"]], personFields="names").execute()
out["batch_get"] = got["responses"][0]["person"]["names"][0]["givenName"]

groups = svc.contactGroups()
listed = groups.list(pageSize=100).execute()
out["system_groups"] = sorted(g["name"] for g in listed["contactGroups"]
                              if g["groupType"] == "SYSTEM_CONTACT_GROUP")
group = groups.create(body={"contactGroup": {"name": "Python friends"}}).execute()
modified = groups.members().modify(resourceName=group["resourceName"], body={
    "resourceNamesToAdd": [created["resourceName"], "people/c1"]}).execute()
out["not_found"] = modified.get("notFoundResourceNames", [])
members = groups.get(resourceName=group["resourceName"], maxMembers=10).execute()
out["members"] = members.get("memberResourceNames", [])
out["created"] = created["resourceName"]
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_official_python_client_syncs_writes_and_manages_groups() {
    let pydeps = tokio::task::spawn_blocking(ensure_installed)
        .await
        .expect("installer ran");
    let emu = Emu::start().await;
    emu.control(
        Method::POST,
        "mailboxes",
        json!({"email": "py@example.com"}),
    )
    .await;
    let seed: Vec<Value> = (0..5)
        .map(|i| json!({"names": [{"givenName": format!("Seed{i}")}]}))
        .collect();
    let r = emu
        .control(
            Method::POST,
            "mailboxes/py@example.com/contacts",
            json!({ "contacts": seed }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A key generated by the emulator (aws-lc-rs), as the Cloud console hands one out.
    let key = emu
        .control(
            Method::POST,
            "service-accounts",
            json!({"client_email": "sync@contactsync-test.iam.gserviceaccount.com"}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    let base = emu.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg(key.body.to_string())
            .arg(&base)
            .arg("py@example.com")
            .env("PYTHONPATH", &pydeps)
            .env("NO_PROXY", "127.0.0.1,localhost")
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
    let result: Value = serde_json::from_str(stdout.trim()).expect("script prints JSON");
    assert_eq!(result["full"], 5);
    assert_eq!(result["full_pages"], 3);
    assert_eq!(result["created_display"], "Py Thon");
    assert_eq!(result["created_group"], "contactGroups/myContacts");
    assert_eq!(result["batch_created"], 3);
    assert_eq!(result["updated_name"], "Updated");
    assert_eq!(result["stale_status"], 400);
    assert_eq!(result["stale_reason"], "FAILED_PRECONDITION");
    assert_eq!(result["deleted"], json!({}));
    assert_eq!(result["deleted_get_status"], 404);
    // The created contact (updated) and the two surviving batch contacts, plus the tombstone.
    assert_eq!(result["incremental"], 4);
    assert_eq!(result["tombstones"], json!([result["victim"]]));
    assert_eq!(result["batch_get"], "Updated");
    assert_eq!(
        result["system_groups"],
        json!([
            "all",
            "blocked",
            "chatBuddies",
            "coworkers",
            "family",
            "friends",
            "myContacts",
            "starred"
        ])
    );
    assert_eq!(result["not_found"], json!(["people/c1"]));
    assert_eq!(result["members"], json!([result["created"]]));
    // The token endpoint was used through the key file's token_uri.
    let counters = emu.counters().await;
    assert!(
        counters["by_route"]["POST /token"].as_u64() >= Some(1),
        "{counters}"
    );
}
