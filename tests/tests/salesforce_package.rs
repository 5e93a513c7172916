//! The Salesforce package an admin deploys (`deploy/salesforce`) and its offline check
//! (`scripts/check-salesforce-package`, run by `scripts/ci-checks`): the committed package
//! passes, and each kind of mistake that would break a deploy, or deploy and break the sync, is
//! caught and named.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Runs the check on `dir`; returns (passed, output).
fn check(dir: &Path, deploy: bool) -> (bool, String) {
    let mut command = Command::new("python3");
    command
        .arg(repo().join("scripts/check-salesforce-package"))
        .arg("--dir")
        .arg(dir);
    if deploy {
        command.arg("--deploy");
    }
    let output = command.output().expect("python3 runs the check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A scratch copy of the package, removed when dropped.
struct Copy(PathBuf);

impl Copy {
    fn new() -> Copy {
        let dir = std::env::temp_dir().join(format!("sfpkg-{}", uuid::Uuid::new_v4().simple()));
        copy_dir(&repo().join("deploy/salesforce"), &dir);
        Copy(dir)
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.0.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} contains {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WORKFLOW: &str = "force-app/main/default/workflows/Contact.workflow-meta.xml";
const PERMSET: &str =
    "force-app/main/default/permissionsets/Contactsync_Integration.permissionset-meta.xml";
const FIELD: &str =
    "force-app/main/default/objects/Contact/fields/Contactsync_Key__c.field-meta.xml";
const FLOW: &str = "force-app/main/default/flows/Contactsync_Contact_Changed.flow-meta.xml";
const APP: &str = "force-app/main/default/connectedApps/Contactsync.connectedApp-meta.xml";
const MANIFEST: &str = "manifest/package.xml";

#[test]
fn the_committed_package_passes_and_asks_for_its_placeholders_before_deploy() {
    let (ok, out) = check(&repo().join("deploy/salesforce"), false);
    assert!(ok, "{out}");
    let (ok, out) = check(&repo().join("deploy/salesforce"), true);
    assert!(!ok);
    for placeholder in [
        "REPLACE-WITH-GATEWAY-HOST",
        "REPLACE-WITH-INTEGRATION-USERNAME",
        "REPLACE-WITH-CERTIFICATE-PEM",
    ] {
        assert!(out.contains(placeholder), "{out}");
    }
    let filled = Copy::new();
    filled.edit(
        WORKFLOW,
        "REPLACE-WITH-GATEWAY-HOST",
        "contactsync.acme.example",
    );
    filled.edit(
        WORKFLOW,
        "REPLACE-WITH-INTEGRATION-USERNAME",
        "integration@acme.example",
    );
    filled.edit(APP, "REPLACE-WITH-ADMIN-EMAIL", "admin@acme.example");
    filled.edit(
        APP,
        "REPLACE-WITH-CERTIFICATE-PEM",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    );
    let (ok, out) = check(&filled.0, true);
    assert!(ok, "{out}");
}

#[test]
fn each_mistake_is_caught_and_named() {
    // (file, from, to, what the report must say)
    let cases = [
        (
            MANIFEST,
            "<members>Contactsync_Integration</members>",
            "",
            "does not list PermissionSet Contactsync_Integration",
        ),
        (
            MANIFEST,
            "<members>Contactsync</members>",
            "<members>Contactsync</members><members>Other</members>",
            "lists ConnectedApp Other",
        ),
        (WORKFLOW, "</outboundMessages>", "", "not well-formed XML"),
        (
            WORKFLOW,
            "<fields>Email</fields>",
            "<fields>Emial</fields>",
            "sends Contact.Emial, which does not exist",
        ),
        (
            WORKFLOW,
            "<fields>OwnerId</fields>",
            "",
            "must send OwnerId",
        ),
        (
            WORKFLOW,
            "/webhooks/salesforce",
            "/webhooks/graph",
            "is not the gateway's /webhooks/salesforce",
        ),
        (
            FIELD,
            "<unique>true</unique>",
            "<unique>false</unique>",
            "must be Unique",
        ),
        (
            FIELD,
            "<externalId>true</externalId>",
            "<externalId>false</externalId>",
            "must be an External ID",
        ),
        (
            PERMSET,
            "<field>Contact.Contactsync_Key__c</field>",
            "<field>Contact.Contactsync_Kee__c</field>",
            "Contact.Contactsync_Kee__c, which does not exist",
        ),
        (
            PERMSET,
            "<field>Contact.MobilePhone</field>",
            "<field>Contact.Fax</field>",
            "Contact.MobilePhone is read and written by the sync but not editable",
        ),
        (
            PERMSET,
            "<name>ApiEnabled</name>",
            "<name>ViewSetup</name>",
            "ApiEnabled is not granted",
        ),
        (
            FLOW,
            "<actionName>Contact.Contactsync_Contact_Changed</actionName>",
            "<actionName>Contact.Something_Else</actionName>",
            "which the package does not define",
        ),
        (
            FLOW,
            "<recordTriggerType>CreateAndUpdate</recordTriggerType>",
            "<recordTriggerType>Create</recordTriggerType>",
            "must run on create and update",
        ),
        (
            FLOW,
            "<status>Active</status>",
            "<status>Draft</status>",
            "is not Active",
        ),
    ];
    for (file, from, to, expected) in cases {
        let copy = Copy::new();
        copy.edit(file, from, to);
        let (ok, out) = check(&copy.0, false);
        assert!(!ok, "{file}: {from} → {to} passed");
        assert!(
            out.contains(expected),
            "{file}: {from} → {to}: expected {expected:?} in\n{out}"
        );
    }
}
