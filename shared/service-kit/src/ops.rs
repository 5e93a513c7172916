//! The operations endpoints every service serves: `/healthz`, `/readyz` and `/metrics`, on the
//! service's HTTP port, or on a port of their own beside a public one (the gateway).

use std::future::{Future, IntoFuture as _};
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

type Check = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// The named checks `/readyz` runs; the service is ready when every one passes.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, Check)>,
}

impl Readiness {
    pub fn new() -> Self {
        Readiness::default()
    }

    /// Adds a check called `name` (it appears in the 503 body when it fails).
    pub fn with_check<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.checks
            .push((name.to_owned(), Arc::new(move || Box::pin(check()))));
        self
    }

    /// The broker connection is up.
    pub fn with_broker(self, broker: messaging::Broker) -> Self {
        self.with_check("broker", move || {
            let broker = broker.clone();
            async move { broker.is_ready().await }
        })
    }

    /// A database connection answers.
    pub fn with_database(self, pool: store::Pool) -> Self {
        self.with_check("database", move || {
            let pool = pool.clone();
            async move { store::is_ready(&pool).await }
        })
    }

    /// Runs every check concurrently: `(name, passed)` in registration order.
    pub async fn check(&self) -> Vec<(String, bool)> {
        let results = futures::future::join_all(self.checks.iter().map(|(_, check)| check())).await;
        self.checks
            .iter()
            .map(|(name, _)| name.clone())
            .zip(results)
            .collect()
    }
}

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    metrics: Metrics,
}

/// Serves the ops endpoints merged with the service's own routes until `shutdown`, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    extra_routes: Router,
    readiness: Readiness,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let http = HttpMetrics::register(&metrics);
    let app = tracked(extra_routes.merge(ops_router(readiness, metrics)), http);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Serves the service's own routes on `public` and the ops endpoints on `ops`, apart, so that
/// what exposes the public port (an Ingress) never exposes `/metrics` or the probes. Both stop on
/// `shutdown` after their in-flight requests; an error of either ends both.
pub async fn serve_apart(
    public: TcpListener,
    ops: TcpListener,
    routes: Router,
    readiness: Readiness,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let http = HttpMetrics::register(&metrics);
    let public_app = tracked(routes, http.clone());
    let ops_app = tracked(ops_router(readiness, metrics), http);
    let stop = shutdown.child_token();
    let public_server = axum::serve(public, public_app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    let ops_server = axum::serve(ops, ops_app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    // One server failing stops the other, so the service stops as a unit.
    let (public_result, ops_result) = tokio::join!(
        async {
            let result = public_server.await;
            stop.cancel();
            result
        },
        async {
            let result = ops_server.await;
            stop.cancel();
            result
        },
    );
    public_result.and(ops_result)
}

fn ops_router(readiness: Readiness, metrics: Metrics) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState { readiness, metrics })
}

/// A route layer sees the matched route template (`/api/v1/users/{id}`), which keeps the label
/// bounded; unmatched requests (404s) are not counted.
fn tracked(router: Router, http: HttpMetrics) -> Router {
    router.route_layer(middleware::from_fn_with_state(http, track_request))
}

/// Alive as long as the process answers at all: restarts are for hangs, not for dependencies.
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let results = state.readiness.check().await;
    let ready = results.iter().all(|(_, passed)| *passed);
    let checks: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, passed)| {
            (
                name,
                serde_json::Value::from(if passed { "ok" } else { "failing" }),
            )
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": checks,
    });
    (status, Json(body)).into_response()
}

async fn render_metrics(State(state): State<OpsState>) -> Response {
    match state.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

type Labels = Vec<(&'static str, String)>;

/// Requests by method, route template and status; latency by route template.
#[derive(Clone)]
struct HttpMetrics {
    requests: Family<Labels, Counter>,
    duration: Family<Labels, Histogram>,
}

impl HttpMetrics {
    fn register(metrics: &Metrics) -> Self {
        HttpMetrics {
            requests: metrics.register(
                "http_requests",
                "HTTP requests by method, route and status",
                Family::default(),
            ),
            duration: metrics.register(
                "http_request_duration_seconds",
                "HTTP request latency by route",
                Family::new_with_constructor(|| {
                    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
                }),
            ),
        }
    }
}

async fn track_request(State(http): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    http.duration
        .get_or_create(&vec![("route", route.clone())])
        .observe(started.elapsed().as_secs_f64());
    http.requests
        .get_or_create(&vec![
            ("method", method),
            ("route", route),
            ("status", response.status().as_u16().to_string()),
        ])
        .inc();
    response
}
