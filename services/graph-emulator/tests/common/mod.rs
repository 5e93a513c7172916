//! Shared helpers for the emulator's integration tests: start an emulator on port 0, call it
//! over real HTTP, and poll with a deadline.
#![allow(dead_code)]

use graph_emulator::{App, Config};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const TENANT: &str = "dev-tenant";
pub const CLIENT_ID: &str = "contactsync-dev";
pub const CLIENT_SECRET: &str = "dev-secret";
pub const SCOPE: &str = "https://graph.microsoft.com/.default";

/// A running emulator, stopped when dropped.
pub struct Emu {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    shutdown: CancellationToken,
}

impl Drop for Emu {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// A config for tests: port 0, otherwise production-like.
pub fn test_config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        ..Config::default()
    }
}

impl Emu {
    pub async fn start() -> Emu {
        Emu::start_with(test_config()).await
    }

    pub async fn start_with(config: Config) -> Emu {
        let tls = config.tls.is_some();
        let app = App::build(config).await.expect("emulator binds port 0");
        let base = app.base_url();
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let mut http = reqwest::Client::builder().no_proxy();
        if tls {
            let ca = reqwest::Certificate::from_pem(emulator_tls::DEV_CA_PEM.as_bytes())
                .expect("dev CA parses");
            http = http.add_root_certificate(ca);
        }
        let http = http.build().expect("client");
        let mut emu = Emu {
            base,
            http,
            token: String::new(),
            shutdown,
        };
        let minted = emu
            .control(Method::POST, "/_emulator/tokens", json!({}))
            .await;
        emu.token = minted.body["access_token"]
            .as_str()
            .expect("token minted")
            .to_owned();
        emu
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A control API call (no bearer).
    pub async fn control(&self, method: Method, path: &str, body: Value) -> Resp {
        let response = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .expect("control call");
        to_resp(response).await
    }

    /// Creates a mailbox and returns its id.
    pub async fn mailbox(&self, id: &str, upn: &str) -> String {
        let r = self
            .control(
                Method::POST,
                "/_emulator/mailboxes",
                json!({"id": id, "userPrincipalName": upn}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        id.to_owned()
    }

    /// An API call with the test's bearer token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        to_resp(request.send().await.expect("api call")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Seeds contacts through the control API (not counted as traffic).
    pub async fn seed(&self, mailbox: &str, folder: &str, contacts: Vec<Value>) -> Vec<String> {
        let r = self
            .control(
                Method::POST,
                &format!("/_emulator/mailboxes/{mailbox}/contacts"),
                json!({"folder": folder, "contacts": contacts}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["value"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// The mailbox's full state from the control API.
    pub async fn state(&self, mailbox: &str) -> Vec<Value> {
        let r = self
            .control(
                Method::GET,
                &format!("/_emulator/mailboxes/{mailbox}/contacts"),
                json!({}),
            )
            .await;
        r.body["value"].as_array().cloned().unwrap_or_default()
    }

    pub async fn counters(&self) -> Value {
        self.control(Method::GET, "/_emulator/requests", json!({}))
            .await
            .body
    }

    pub async fn set_knobs(&self, knobs: Value) {
        let r = self.control(Method::POST, "/_emulator/config", knobs).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
}

pub async fn to_resp(response: reqwest::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    });
    Resp {
        status,
        headers,
        body,
    }
}

/// Percent-encodes an id for a path segment.
pub fn enc(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The polling helper, once for every suite (`test-support`).
#[allow(unused_imports)] // Each test binary uses a different subset.
pub use test_support::poll_until;

/// A contact body like the documented create example.
pub fn pavel() -> Value {
    json!({
        "givenName": "Pavel",
        "surname": "Bansky",
        "emailAddresses": [{"address": "pavelb@fabrikam.onmicrosoft.com", "name": "Pavel Bansky"}],
        "businessPhones": ["+1 732 555 0102"]
    })
}
