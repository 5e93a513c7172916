//! Microsoft's JavaScript Graph client (`@microsoft/microsoft-graph-client`, from npm) creates,
//! reads, pages (a list and a delta, with its `PageIterator`), batches, updates (through a 429)
//! and deletes contacts against the emulator served over HTTPS (`GRAPH_EMULATOR_TLS=dev`),
//! configured as its docs say for a custom host: `baseUrl`, `customHosts`, and the dev CA
//! trusted by Node (`NODE_EXTRA_CA_CERTS`). The package is installed on first use into `target/npm/` (atomically,
//! so concurrent test runs are safe); the test fails if it cannot be installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PACKAGE: &str = "@microsoft/microsoft-graph-client";
const VERSION: &str = "3.0.7";

fn workspace_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Installs the package once into `target/npm/msgraph-client-VERSION`; returns the module path.
fn ensure_installed() -> PathBuf {
    let root = workspace_target().join("npm");
    let dir = root.join(format!("msgraph-client-{VERSION}"));
    let module = dir.join("node_modules").join(PACKAGE);
    if module.join("package.json").exists() {
        return module;
    }
    std::fs::create_dir_all(&root).expect("create target/npm");
    // Install into a private directory and rename it into place: a concurrent run either wins
    // the rename or finds the finished directory.
    let staging = root.join(format!(
        ".staging-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&staging).expect("create staging dir");
    let status = Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&staging)
        .arg(format!("{PACKAGE}@{VERSION}"))
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm install {PACKAGE}@{VERSION} failed");
    if std::fs::rename(&staging, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    assert!(
        module.join("package.json").exists(),
        "{PACKAGE} not installed at {}",
        module.display()
    );
    module
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_javascript_client_does_crud_paging_batching_and_retries_against_the_emulator()
{
    let module = tokio::task::spawn_blocking(ensure_installed)
        .await
        .expect("install task");
    let mut config = test_config();
    config.tls = Some(emulator_tls::TlsConfig::dev());
    let emu = Emu::start_with(config).await;
    assert!(emu.base.starts_with("https://"), "{}", emu.base);
    let ca =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../emulator-tls/fixtures/dev-only-tls-ca.pem");
    emu.mailbox("48d31887-5fad-4d73-a9f5-3c356e68a038", "alex@contoso.com")
        .await;
    let seeded: Vec<Value> = (0..9)
        .map(|i| json!({"surname": format!("Seed{i}")}))
        .collect();
    emu.seed("alex@contoso.com", "contacts", seeded).await;
    // The client's PATCH meets one injected 429; the SDK's RetryHandler must wait and retry.
    let fault = emu
        .control(
            Method::POST,
            "/_emulator/faults",
            json!({"status": 429, "count": 1, "retry_after": 0.2, "route": "PATCH /v1.0/users/{id}/contacts/{id}"}),
        )
        .await;
    assert_eq!(fault.status, 201);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/msgraph_js_client.js");
    let base = emu.base.clone();
    let runner = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args([&base, TENANT, CLIENT_ID, CLIENT_SECRET, "alex@contoso.com"])
            .env("MSGRAPH_MODULE", module)
            .env("NODE_EXTRA_CA_CERTS", ca)
            .output()
            .expect("node runs")
    });
    let output = runner.await.expect("node task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed:\n{stderr}\n{stdout}");
    let out: Value = serde_json::from_str(stdout.trim()).expect("script prints JSON");

    assert_eq!(out["created"]["displayName"], "Pavel Bansky");
    assert_eq!(out["read"]["surname"], "Bansky");
    assert!(out["read"].get("givenName").is_none());
    assert_eq!(out["updated"]["jobTitle"], "CEO");
    assert_ne!(out["updated"]["changeKey"], out["created"]["changeKey"]);
    let paged = out["paged"].as_array().expect("paged");
    assert_eq!(
        paged.len(),
        10,
        "9 seeded + Pavel, across pages of 4: {paged:?}"
    );
    let delta = out["delta"]["surnames"].as_array().expect("delta");
    assert_eq!(
        delta.len(),
        10,
        "every contact of the folder, paged: {delta:?}"
    );
    assert!(
        out["delta"]["deltaLink"]
            .as_str()
            .is_some_and(|l| l.starts_with("https://") && l.contains("deltatoken")),
        "the iterator ends on an https deltaLink: {}",
        out["delta"]
    );
    assert_eq!(out["batch"]["get"], "Bansky");
    assert_eq!(out["batch"]["createdStatus"], 201);
    assert_eq!(out["afterDelete"]["statusCode"], 404);
    assert_eq!(out["afterDelete"]["code"], "ErrorItemNotFound");

    let counters = emu.counters().await;
    assert_eq!(
        counters["by_route"]["PATCH /v1.0/users/{id}/contacts/{id}"], 2,
        "429 then the retry: {counters}"
    );
    let state = emu.state("alex@contoso.com").await;
    let surnames: Vec<&str> = state
        .iter()
        .filter(|c| c["folderWellKnownName"] == "contacts")
        .filter_map(|c| c["surname"].as_str())
        .collect();
    assert!(
        surnames.contains(&"Batched") && !surnames.contains(&"Bansky"),
        "{surnames:?}"
    );
}
