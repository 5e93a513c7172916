//! `GMAIL_EMULATOR_TLS=dev`: HTTPS with the dev certificate, signed by the dev CA every emulator
//! shares; a key file's `token_uri` is then an https URL.

mod common;

use common::*;
use gmail_emulator::Config;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_dev_tls_knob_serves_https_trusted_through_the_dev_ca() {
    let config = Config::from_lookup(|name| match name {
        "GMAIL_EMULATOR_TLS" => Some("dev".to_owned()),
        "GMAIL_EMULATOR_LISTEN" => Some("127.0.0.1:0".to_owned()),
        _ => None,
    })
    .expect("config");
    let mut emu = Emu::start_with(config).await;
    assert!(emu.base.starts_with("https://127.0.0.1:"), "{}", emu.base);
    let ca = reqwest::Certificate::from_pem(emulator_tls_ca().as_bytes()).expect("dev CA");
    emu.http = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let token = emu.user("u@example.com").await;
    let r = emu.get(&token, "/v1/contactGroups").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = emu
        .control(Method::POST, "service-accounts", json!({}))
        .await;
    assert_eq!(key.body["token_uri"], format!("{}/token", emu.base));
}

fn emulator_tls_ca() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../emulator-tls/fixtures/dev-only-tls-ca.pem"),
    )
    .expect("dev CA fixture")
}
