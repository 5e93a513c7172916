//! A second widely used client, npm `jsforce` (v3), pointed at the emulator by instance URL
//! and access token only: single-record CRUD, SOQL with queryMore paging, upsert by external
//! id, sObject Collections, list views, limits and error codes. Installed on first use
//! under `target/npm/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

const PACKAGE: &str = "jsforce@3.10.8";

/// Installs jsforce once into `target/npm/jsforce-3.10.8`; concurrent runs install into
/// private temporary prefixes and the first atomic rename wins.
fn ensure_installed() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/npm");
    let dest = root.join("jsforce-3.10.8");
    if dest.join(".complete").exists() {
        return dest;
    }
    std::fs::create_dir_all(&root).expect("create target/npm");
    let tmp = root.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    std::fs::create_dir_all(&tmp).expect("tmp prefix");
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&tmp)
        .arg(PACKAGE)
        .output()
        .expect("npm runs");
    assert!(
        out.status.success(),
        "npm install {PACKAGE} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(tmp.join(".complete"), b"ok").expect("marker");
    if std::fs::rename(&tmp, &dest).is_err() {
        // Another test process finished first; its copy is complete.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(
        dest.join(".complete").exists(),
        "jsforce not installed at {}",
        dest.display()
    );
    dest
}

const SCRIPT: &str = r#"
const jsforce = require('jsforce');
(async () => {
  const [instanceUrl, accessToken] = process.argv.slice(1);
  const conn = new jsforce.Connection({ instanceUrl, accessToken, version: '60.0' });
  const Contact = conn.sobject('Contact');
  const out = {};

  const c = await Contact.create({ FirstName: 'Js', LastName: 'Force', Email: 'js@example.com' });
  if (!c.success) throw new Error('create failed: ' + JSON.stringify(c));
  const rec = await Contact.retrieve(c.id);
  out.retrieved = rec.Name;
  await Contact.update({ Id: c.id, Title: 'Node' });
  const q = await conn.query("SELECT Id, Title, Owner.Username FROM Contact WHERE Email = 'JS@EXAMPLE.COM'");
  out.title = q.records[0].Title;
  out.owner = q.records[0].Owner.Username;

  let res = await conn.query('SELECT Id FROM Contact');
  let n = res.records.length;
  let pages = 1;
  while (!res.done) { res = await conn.queryMore(res.nextRecordsUrl); n += res.records.length; pages += 1; }
  out.paged = { total: res.totalSize, fetched: n, pages };

  const u1 = await Contact.upsert({ Contactsync_Key__c: 'js-1', LastName: 'Up' }, 'Contactsync_Key__c');
  const u2 = await Contact.upsert({ Contactsync_Key__c: 'js-1', LastName: 'Up again' }, 'Contactsync_Key__c');
  out.upserts = [u1.created, u2.created, u1.id === u2.id];

  const many = await Contact.create([{ LastName: 'Batch1' }, { FirstName: 'NoLast' }], { allOrNone: false });
  out.collection = many.map(r => r.success);
  const rolled = await Contact.create([{ LastName: 'Batch2' }, { FirstName: 'NoLast' }], { allOrNone: true });
  out.rolledBack = rolled.map(r => r.success === false);

  try { await Contact.create({ FirstName: 'NoLast' }); out.requiredError = 'none'; }
  catch (e) { out.requiredError = e.errorCode; }

  await Contact.destroy(c.id);
  try { await Contact.retrieve(c.id); out.deletedError = 'none'; }
  catch (e) { out.deletedError = e.errorCode; }

  const views = await Contact.listviews();
  out.views = views.listviews.map(v => v.developerName);
  const all = views.listviews.find(v => v.developerName === 'AllContacts');
  const desc = await Contact.listview(all.id).describe();
  out.viewQuery = desc.query;

  const limits = await conn.limits();
  out.dailyMax = limits.DailyApiRequests.Max;
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e && e.stack || e); process.exit(1); });
"#;

#[tokio::test]
async fn jsforce_crud_query_collections_and_list_views_against_the_emulator() {
    let prefix = tokio::task::spawn_blocking(ensure_installed)
        .await
        .expect("installer ran");
    let emu = start().await;
    let (_, token) = emu.login("js@example.com").await;
    let rows: Vec<_> = (0..2100)
        .map(|i| json!({"LastName": format!("Bulk{i}")}))
        .collect();
    emu.seed("Contact", "js@example.com", rows).await;
    let base = emu.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("-e")
            .arg(SCRIPT)
            .arg(&base)
            .arg(&token)
            .env("NODE_PATH", prefix.join("node_modules"))
            .output()
            .expect("node runs")
    })
    .await
    .expect("script ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .expect("script prints JSON");
    assert_eq!(r["retrieved"], "Js Force");
    assert_eq!(r["title"], "Node");
    assert_eq!(r["owner"], "js@example.com");
    assert_eq!(
        r["paged"],
        json!({"total": 2101, "fetched": 2101, "pages": 2})
    );
    assert_eq!(r["upserts"], json!([true, false, true]));
    assert_eq!(r["collection"], json!([true, false]));
    assert_eq!(r["rolledBack"], json!([true, true]));
    assert_eq!(r["requiredError"], "REQUIRED_FIELD_MISSING");
    assert_eq!(r["deletedError"], "ENTITY_IS_DELETED");
    assert!(
        r["views"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("MyContacts")))
    );
    assert!(
        r["viewQuery"]
            .as_str()
            .is_some_and(|q| q.contains("FROM Contact"))
    );
    assert_eq!(r["dailyMax"], 1_000_000);
}
