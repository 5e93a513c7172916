//! `contactsync users import FILE` against a running stack: every row of a CSV is registered
//! through the gateway, failed rows are printed with their file row, and the exit status says
//! whether all went in.

use std::process::Command;

use contactsync::harness::Stack;
use reqwest::Method;

const BIN: &str = env!("CARGO_BIN_EXE_contactsync");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_file_is_imported_through_the_gateway_with_its_failures_named() {
    let stack = Stack::start().await.expect("stack");
    let file = std::env::temp_dir().join(format!("users-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &file,
        "id,mailbox,salesforce_user_id,enabled,scope\n\
         lee,lee@contoso.test,005xx000001SvbQAAS,true,mine\n\
         \"mo\",\"mo@contoso.test\",005xx000001SvbQAAS,,\n\
         nat,nat@contoso.test,001xx000001SvbQAAS,,\n",
    )
    .expect("write");
    let run = |path: std::path::PathBuf, gateway: String| {
        Command::new(BIN)
            .args(["users", "import"])
            .arg(path)
            .env("GATEWAY_URL", gateway)
            .env("ADMIN_TOKEN", contactsync::harness::ADMIN_TOKEN)
            .output()
            .expect("runs")
    };
    let (path, gateway) = (file.clone(), stack.gateway_url.clone());
    let output = tokio::task::spawn_blocking(move || run(path, gateway))
        .await
        .expect("joins");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "one row failed: {stdout}");
    assert!(
        stdout.contains("row 3 (nat): salesforce_user_id:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 created, 0 updated, 1 failed"),
        "{stdout}"
    );
    for (id, enabled) in [("lee", true), ("mo", false)] {
        let (status, settings) = stack
            .admin(
                Method::GET,
                &format!("/api/v1/users/{id}/settings/contacts"),
                None,
            )
            .await
            .expect("settings");
        assert_eq!(status, 200, "{id}: {settings}");
        assert_eq!(settings["enabled"], enabled, "{id}");
    }
    let _ = std::fs::remove_file(&file);
    stack.stop().await.expect("stop");
}
