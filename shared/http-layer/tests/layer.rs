//! The retry loop and the OAuth token request against stub servers over real HTTP: tiny axum
//! apps that answer from a script and record what they received.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::any;
use http_layer::oauth::{TokenError, request_token};
use http_layer::{Api, Disposition, HttpLayer, Response, RetryPolicy, retry_after};

/// One scripted answer: status and headers (the body says which answer it was).
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    /// Never answer: the client's timeout fires.
    stall: bool,
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        stall: false,
    }
}

fn answer_after(status: u16, retry_after: &str) -> Answer {
    Answer {
        headers: vec![("retry-after", retry_after.to_owned())],
        ..answer(status)
    }
}

fn stall() -> Answer {
    Answer {
        stall: true,
        ..answer(200)
    }
}

/// What the stub saw: method and bearer token of every request.
#[derive(Default)]
struct Stub {
    script: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<(Method, String)>>,
}

async fn handle(State(stub): State<Arc<Stub>>, method: Method, headers: HeaderMap) -> AxumResponse {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("Bearer ")
        .to_owned();
    stub.seen.lock().unwrap().push((method, token));
    // An empty script answers 200.
    let next = stub.script.lock().unwrap().pop_front();
    let Some(next) = next else {
        return (StatusCode::OK, "done").into_response();
    };
    if next.stall {
        std::future::pending::<()>().await;
    }
    let mut response = (
        StatusCode::from_u16(next.status).unwrap(),
        format!("answer {}", next.status),
    )
        .into_response();
    for (name, value) in next.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// Starts the stub on a free port; it runs until the test's runtime ends.
async fn start(script: Vec<Answer>) -> (Arc<Stub>, SocketAddr) {
    let stub = Arc::new(Stub {
        script: Mutex::new(script.into()),
        ..Stub::default()
    });
    let app = Router::new()
        .route("/{*path}", any(handle))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (stub, addr)
}

/// The client side: tokens `t1`, `t2`… from a counting "login" that may fail first.
#[derive(Default)]
struct TestApi {
    logins: AtomicUsize,
    /// Logins that fail with a transient error before one succeeds.
    failing_logins: AtomicUsize,
    /// Every login fails for good.
    login_refused: bool,
    cached: Mutex<Option<String>>,
    observed: AtomicUsize,
}

#[derive(Debug)]
enum TestError {
    Transport(reqwest::Error),
    Login {
        transient: bool,
    },
    Status {
        status: u16,
        disposition: Disposition,
    },
    Refused,
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for TestError {}

impl From<reqwest::Error> for TestError {
    fn from(e: reqwest::Error) -> Self {
        TestError::Transport(e)
    }
}

impl Api for TestApi {
    type Credential = String;
    type Error = TestError;
    const NAME: &'static str = "Stub";

    async fn credential(&self) -> Result<String, TestError> {
        if let Some(token) = self.cached.lock().unwrap().clone() {
            return Ok(token);
        }
        if self.login_refused {
            return Err(TestError::Login { transient: false });
        }
        if self
            .failing_logins
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(TestError::Login { transient: true });
        }
        let n = self.logins.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("t{n}");
        *self.cached.lock().unwrap() = Some(token.clone());
        Ok(token)
    }

    async fn invalidate(&self, refused: &String) {
        let mut cached = self.cached.lock().unwrap();
        if cached.as_ref() == Some(refused) {
            *cached = None;
        }
    }

    fn disposition(error: &TestError) -> Disposition {
        match error {
            TestError::Login { transient: true } | TestError::Transport(_) => {
                Disposition::Retry { after: None }
            }
            TestError::Status { disposition, .. } => *disposition,
            TestError::Login { .. } | TestError::Refused => Disposition::Fatal,
        }
    }

    fn classify(&self, response: &Response) -> Disposition {
        match response.status.as_u16() {
            429 | 503 => Disposition::Retry {
                after: retry_after(&response.headers),
            },
            500 => Disposition::Retry { after: None },
            401 => Disposition::ReAuth,
            404 => Disposition::PermanentItem,
            _ => Disposition::Fatal,
        }
    }

    fn failure(&self, response: Response, disposition: Disposition) -> TestError {
        TestError::Status {
            status: response.status.as_u16(),
            disposition,
        }
    }

    fn observe(&self, _headers: &reqwest::header::HeaderMap) {
        self.observed.fetch_add(1, Ordering::SeqCst);
    }
}

fn layer() -> HttpLayer {
    let policy = RetryPolicy {
        max_retries: 2,
        min_backoff: Duration::from_millis(1),
        max_wait: Duration::from_millis(20),
    };
    HttpLayer::new(policy, Duration::from_millis(500)).unwrap()
}

async fn call(
    layer: &HttpLayer,
    api: &TestApi,
    addr: SocketAddr,
    method: reqwest::Method,
) -> Result<Response, TestError> {
    let idempotent = method != reqwest::Method::POST;
    layer
        .send(api, idempotent, |token| {
            Ok(layer
                .http()
                .request(method.clone(), format!("http://{addr}/things"))
                .bearer_auth(token))
        })
        .await
}

/// The status and disposition of an error that is a refused answer.
fn refusal(error: &TestError) -> Option<(u16, Disposition)> {
    match error {
        TestError::Status {
            status,
            disposition,
        } => Some((*status, *disposition)),
        _ => None,
    }
}

fn seen(stub: &Stub) -> Vec<(Method, String)> {
    stub.seen.lock().unwrap().clone()
}

#[tokio::test]
async fn throttling_is_retried_honouring_retry_after_in_seconds_and_as_a_date() {
    let (stub, addr) = start(vec![
        answer_after(429, "0.01"),
        answer_after(503, "Wed, 21 Oct 2015 07:28:00 GMT"),
    ])
    .await;
    let api = TestApi::default();
    let response = call(&layer(), &api, addr, reqwest::Method::GET)
        .await
        .unwrap();
    assert_eq!(response.status, reqwest::StatusCode::OK);
    assert_eq!(response.body, b"done");
    assert_eq!(seen(&stub).len(), 3);
    assert_eq!(
        api.observed.load(Ordering::SeqCst),
        3,
        "every response is observed"
    );
}

#[tokio::test]
async fn retries_stop_after_the_policys_count_with_the_last_answers_error() {
    let (stub, addr) = start(vec![answer(500); 5]).await;
    let error = call(&layer(), &TestApi::default(), addr, reqwest::Method::GET)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&error),
        Some((500, Disposition::Retry { after: None }))
    );
    assert_eq!(seen(&stub).len(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn a_refused_credential_is_replaced_once_without_counting_as_a_retry() {
    let (stub, addr) = start(vec![answer(500), answer(500), answer(401)]).await;
    let api = TestApi::default();
    let response = call(&layer(), &api, addr, reqwest::Method::GET)
        .await
        .unwrap();
    assert_eq!(response.status, reqwest::StatusCode::OK);
    let tokens: Vec<String> = seen(&stub).into_iter().map(|(_, t)| t).collect();
    assert_eq!(tokens, ["t1", "t1", "t1", "t2"]);
}

#[tokio::test]
async fn a_credential_refused_twice_is_the_callers_error() {
    let (stub, addr) = start(vec![answer(401), answer(401)]).await;
    let api = TestApi::default();
    let error = call(&layer(), &api, addr, reqwest::Method::GET)
        .await
        .unwrap_err();
    assert_eq!(refusal(&error), Some((401, Disposition::ReAuth)));
    assert_eq!(seen(&stub).len(), 2);
    assert_eq!(api.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_item_error_is_returned_at_once() {
    let (stub, addr) = start(vec![answer(404)]).await;
    let error = call(&layer(), &TestApi::default(), addr, reqwest::Method::GET)
        .await
        .unwrap_err();
    assert_eq!(refusal(&error), Some((404, Disposition::PermanentItem)));
    assert_eq!(seen(&stub).len(), 1);
}

#[tokio::test]
async fn a_create_is_resent_after_503_but_not_after_500() {
    let (stub, addr) = start(vec![answer(503), answer(500)]).await;
    let error = call(&layer(), &TestApi::default(), addr, reqwest::Method::POST)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&error),
        Some((500, Disposition::Retry { after: None }))
    );
    assert_eq!(
        seen(&stub).len(),
        2,
        "503 resent, 500 may have taken effect"
    );
}

#[tokio::test]
async fn a_create_that_times_out_is_not_resent_but_a_read_is() {
    let (stub, addr) = start(vec![stall()]).await;
    let error = call(&layer(), &TestApi::default(), addr, reqwest::Method::POST)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TestError::Transport(e) if e.is_timeout()),
        "{error:?}"
    );
    assert_eq!(seen(&stub).len(), 1);

    let (stub, addr) = start(vec![stall()]).await;
    let response = call(&layer(), &TestApi::default(), addr, reqwest::Method::GET)
        .await
        .unwrap();
    assert_eq!(response.status, reqwest::StatusCode::OK);
    assert_eq!(seen(&stub).len(), 2);
}

#[tokio::test]
async fn a_create_is_resent_when_the_connection_failed() {
    // A port nothing listens on: the connection is refused, so the create never left.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let layer = layer();
    let attempts = AtomicUsize::new(0);
    let error = layer
        .send(&TestApi::default(), false, |token| {
            attempts.fetch_add(1, Ordering::SeqCst);
            Ok(layer
                .http()
                .post(format!("http://{addr}/things"))
                .bearer_auth(token))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TestError::Transport(e) if e.is_connect()),
        "{error:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_transient_login_failure_is_retried_and_a_refused_login_is_not() {
    let (stub, addr) = start(Vec::new()).await;
    let api = TestApi {
        failing_logins: AtomicUsize::new(2),
        ..TestApi::default()
    };
    call(&layer(), &api, addr, reqwest::Method::GET)
        .await
        .unwrap();
    assert_eq!(seen(&stub), [(Method::GET, "t1".to_owned())]);

    let api = TestApi {
        login_refused: true,
        ..TestApi::default()
    };
    let error = call(&layer(), &api, addr, reqwest::Method::GET)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TestError::Login { transient: false }),
        "{error:?}"
    );
    assert_eq!(seen(&stub).len(), 1, "nothing sent without a credential");
}

#[tokio::test]
async fn an_error_building_the_request_ends_the_call_unsent() {
    let (stub, addr) = start(Vec::new()).await;
    let layer = layer();
    let error = layer
        .send(&TestApi::default(), true, |_token| {
            let _ = addr;
            Err::<reqwest::RequestBuilder, _>(TestError::Refused)
        })
        .await
        .unwrap_err();
    assert!(matches!(error, TestError::Refused), "{error:?}");
    assert!(seen(&stub).is_empty());
}

/// A token endpoint answering `status` with `body`.
async fn token_endpoint(status: u16, body: &'static str) -> SocketAddr {
    let app = Router::new().route(
        "/token",
        axum::routing::post(move || async move {
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[derive(Debug, serde::Deserialize)]
struct Token {
    access_token: String,
}

async fn request(addr: SocketAddr) -> Result<Token, TokenError> {
    let http = reqwest::Client::new();
    request_token(
        &http,
        format!("http://{addr}/token"),
        &[("grant_type", "client_credentials")],
    )
    .await
}

#[tokio::test]
async fn a_token_is_decoded_and_a_refusal_keeps_the_oauth_error() {
    let addr = token_endpoint(200, r#"{"access_token":"t1","expires_in":3599}"#).await;
    assert_eq!(request(addr).await.unwrap().access_token, "t1");

    let addr = token_endpoint(
        401,
        r#"{"error":"invalid_client","error_description":"bad secret"}"#,
    )
    .await;
    let error = request(addr).await.unwrap_err();
    assert!(
        matches!(&error, TokenError::Refused { status: 401, error, description }
            if error == "invalid_client" && description == "bad secret"),
        "{error:?}"
    );
    assert_eq!(error.disposition(), Disposition::Fatal);
}

#[tokio::test]
async fn an_outage_of_the_token_endpoint_is_transient_and_garbage_is_not() {
    let addr = token_endpoint(503, "<html>down</html>").await;
    let error = request(addr).await.unwrap_err();
    assert!(
        matches!(&error, TokenError::Refused { status: 503, error, .. } if error.is_empty()),
        "{error:?}"
    );
    assert_eq!(error.disposition(), Disposition::Retry { after: None });

    let addr = token_endpoint(200, "not json").await;
    let error = request(addr).await.unwrap_err();
    assert!(matches!(error, TokenError::Decode(_)), "{error:?}");
    assert_eq!(error.disposition(), Disposition::Fatal);
}
