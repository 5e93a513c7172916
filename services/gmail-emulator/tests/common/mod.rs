//! Shared helpers: start an emulator on a free port, drive its control API, call the People API.
#![allow(dead_code)]

use gmail_emulator::{App, Config};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub struct Emu {
    pub base: String,
    pub http: reqwest::Client,
    stop: CancellationToken,
}

impl Drop for Emu {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A response: status, JSON body (Null when empty) and headers.
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The canonical status of a Google error body.
    pub fn status_name(&self) -> &str {
        self.body["error"]["status"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

pub fn test_config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Config::default()
    }
}

impl Emu {
    pub async fn start() -> Emu {
        Emu::start_with(test_config()).await
    }

    pub async fn start_with(config: Config) -> Emu {
        let app = App::build(config).await.expect("emulator binds");
        let base = app.base_url();
        let stop = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(stop.clone()));
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Emu { base, http, stop }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            headers,
        }
    }

    pub async fn control(&self, method: Method, path: &str, body: Value) -> Resp {
        self.send(method, &format!("/_emulator/{path}"), None, Some(body))
            .await
    }

    /// A mailbox and a token for it (control shortcut).
    pub async fn user(&self, email: &str) -> String {
        let r = self
            .control(Method::POST, "mailboxes", json!({"email": email}))
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
        let r = self
            .control(Method::POST, "tokens", json!({"email": email}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a contact with a name and an email; returns the person.
    pub async fn create(&self, token: &str, given: &str) -> Value {
        let r = self
            .post(
                token,
                "/v1/people:createContact?personFields=names,emailAddresses,memberships,metadata",
                json!({
                    "names": [{"givenName": given, "familyName": "Test"}],
                    "emailAddresses": [{"value": format!("{}@example.com", given.to_lowercase())}],
                }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    pub async fn set_knobs(&self, knobs: Value) {
        let r = self.control(Method::POST, "config", knobs).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    pub async fn counters(&self) -> Value {
        self.control(Method::GET, "requests", Value::Null)
            .await
            .body
    }
}

pub fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["resourceName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
