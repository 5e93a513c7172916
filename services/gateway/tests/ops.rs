//! The gateway's ops port: `/healthz`, `/readyz` and `/metrics` answer on `OPS_LISTEN` and never
//! on the public port, which an Ingress exposes to the internet.

mod common;

use common::start;
use reqwest::Method;

#[tokio::test]
async fn probes_and_metrics_answer_on_the_ops_port_only() {
    let stack = start().await;
    assert_ne!(stack.base, stack.ops_base, "two ports");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let public = stack.send(Method::GET, path, None, None).await;
        assert_eq!(
            public.status, 404,
            "{path} is not served on the public port"
        );
        let ops = stack.ops(path).await;
        assert_eq!(ops.status, 200, "{path} on the ops port: {}", ops.text);
    }
    assert_eq!(stack.ops("/readyz").await.json["status"], "ready");
    // A public request is counted, and the count is read on the ops port.
    let _ = stack
        .send(
            Method::GET,
            "/api/v1/users/nobody",
            Some(common::ADMIN_TOKEN),
            None,
        )
        .await;
    let metrics = stack.ops("/metrics").await.text;
    assert!(
        metrics.contains(
            "contactsync_http_requests_total{method=\"GET\",route=\"/api/v1/users/{id}\""
        ),
        "{metrics}"
    );
    stack.finish().await;
}
