//! The retrying send: credential → request → response, with retries, backoff and one re-auth.

use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use tracing::{debug, warn};

use crate::policy::RetryPolicy;
use sync_core::Disposition;

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// What the layer needs to know about one API: its credential and how to read its errors.
///
/// Implement it on a private type of the client, so that the credential methods do not become
/// part of the client's public API.
pub trait Api: Sync {
    /// What authenticates a request: a bearer token, a session with its instance URL…
    type Credential: Send + Sync;
    /// The client's error; a transport failure converts into it.
    type Error: std::error::Error + From<reqwest::Error> + Send;
    /// The API's name in log lines ("Graph", "Salesforce").
    const NAME: &'static str;

    /// The credential to send, from a cache or from a login.
    fn credential(&self) -> impl Future<Output = Result<Self::Credential, Self::Error>> + Send;

    /// Drops `refused` from the cache (if it is still the cached one), so that the next
    /// [`Api::credential`] logs in again.
    fn invalidate(&self, refused: &Self::Credential) -> impl Future<Output = ()> + Send;

    /// What to do about an error of this client (here: a failed login).
    fn disposition(error: &Self::Error) -> Disposition;

    /// What to do about a non-success response.
    fn classify(&self, response: &Response) -> Disposition;

    /// The error a non-success response becomes when it is not retried.
    fn failure(&self, response: Response, disposition: Disposition) -> Self::Error;

    /// Sees the headers of every response, success or not (API usage, the server's clock).
    fn observe(&self, headers: &HeaderMap) {
        let _ = headers;
    }
}

/// One HTTP connection pool and the retry policy of one client.
///
/// Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct HttpLayer {
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl HttpLayer {
    /// A pool whose attempts time out after `request_timeout` (connecting: at most 10 s of it).
    pub fn new(policy: RetryPolicy, request_timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Self { http, policy })
    }

    /// The pool, for building requests and for calls outside the retry loop (a login).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Sends one call and returns its 2xx response, or the error of its last attempt.
    ///
    /// `build` makes the request for a credential; it runs again for every attempt, and an
    /// error from it (say, a link the credential must not be sent to) ends the call. A call
    /// that is not `idempotent` is resent only when it provably did not take effect: the
    /// connection failed, or the server answered 429 or 503.
    pub async fn send<A: Api>(
        &self,
        api: &A,
        idempotent: bool,
        build: impl Fn(&A::Credential) -> Result<RequestBuilder, A::Error>,
    ) -> Result<Response, A::Error> {
        let mut backoff = self.policy.backoff();
        let mut retries = 0;
        let mut reauthed = false;
        loop {
            let may_retry = retries < self.policy.max_retries;
            let credential = match api.credential().await {
                Ok(credential) => credential,
                Err(e) => match A::disposition(&e) {
                    Disposition::Retry { after } if may_retry => {
                        let wait = backoff.wait(after);
                        debug!(api = A::NAME, error = %e, "Login failed; retrying");
                        retries += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    _ => return Err(e),
                },
            };
            let response = match read(build(&credential)?).await {
                Ok(response) => response,
                Err(e) if may_retry && (idempotent || e.is_connect()) => {
                    warn!(api = A::NAME, error = %e, "Request failed in transport; retrying");
                    retries += 1;
                    tokio::time::sleep(backoff.wait(None)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            api.observe(&response.headers);
            if response.status.is_success() {
                return Ok(response);
            }
            let status = response.status;
            match api.classify(&response) {
                Disposition::Retry { after }
                    if may_retry
                        && (idempotent
                            || matches!(
                                status,
                                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                            )) =>
                {
                    let wait = backoff.wait(after);
                    debug!(
                        api = A::NAME,
                        status = status.as_u16(),
                        wait_ms = wait.as_millis() as u64,
                        "Server asked us to retry"
                    );
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Disposition::ReAuth if !reauthed => {
                    debug!(
                        api = A::NAME,
                        "Server refused the credential; fetching a new one"
                    );
                    reauthed = true;
                    api.invalidate(&credential).await;
                }
                disposition => return Err(api.failure(response, disposition)),
            }
        }
    }
}

/// Sends the request and reads the whole body; a failure in either is a transport failure.
async fn read(request: RequestBuilder) -> Result<Response, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    Ok(Response {
        status,
        headers,
        body,
    })
}
