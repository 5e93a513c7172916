//! Test harness: starts a real emulator on port 0 and talks to it over HTTP.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use salesforce_emulator::{App, Config};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const V: &str = "v60.0";

pub struct Emu {
    pub base: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Emu {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn start() -> Emu {
    start_with(Config::default()).await
}

pub async fn start_with(mut config: Config) -> Emu {
    config.listen = "127.0.0.1:0".parse().expect("addr");
    let http = if config.tls.is_some() {
        let ca = reqwest::Certificate::from_pem(salesforce_emulator::DEV_TLS_CA_PEM.as_bytes())
            .expect("dev CA parses");
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .expect("TLS client")
    } else {
        reqwest::Client::new()
    };
    let app = App::build(config).await.expect("emulator binds");
    let base = app.base_url();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    Emu {
        base,
        http,
        shutdown,
    }
}

impl Emu {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the emulator");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None, &[])
            .await
    }

    /// Control API call (no token).
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.send(method, &format!("/_emulator{path}"), None, body, &[])
            .await
    }

    /// Creates a user and returns its Id.
    pub async fn user(&self, username: &str) -> String {
        let r = self
            .control(Method::POST, "/users", Some(json!({"Username": username})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["Id"].as_str().expect("Id").to_string()
    }

    pub async fn token(&self, username: &str) -> String {
        let r = self
            .control(Method::POST, "/tokens", Some(json!({"username": username})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    /// A user plus a token for it: (user id, token).
    pub async fn login(&self, username: &str) -> (String, String) {
        let id = self.user(username).await;
        (id, self.token(username).await)
    }

    /// Seeds records through the control API as `as_user`; returns their ids.
    pub async fn seed(&self, object: &str, as_user: &str, records: Vec<Value>) -> Vec<String> {
        let r = self
            .control(
                Method::POST,
                &format!("/sobjects/{object}"),
                Some(json!({"as_user": as_user, "records": records})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_str().expect("id").to_string())
            .collect()
    }

    pub async fn query(&self, token: &str, soql: &str) -> Resp {
        let q = url_encode(soql);
        self.get(&format!("/services/data/{V}/query?q={q}"), token)
            .await
    }

    pub async fn advance_clock(&self, secs: f64) {
        let r = self
            .control(
                Method::POST,
                "/clock",
                Some(json!({"advance_seconds": secs})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
}

pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The polling helper, once for every suite (`test-support`).
#[allow(unused_imports)] // Each test binary uses a different subset.
pub use test_support::eventually;
