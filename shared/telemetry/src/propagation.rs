//! W3C trace context in and out of string headers (AMQP message headers).

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The `traceparent` (and `tracestate`) of `span`, ready to travel as message headers.
/// Empty when the span is disabled or no OpenTelemetry layer is installed.
pub fn inject_context(span: &tracing::Span) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    // W3C is the one format our services speak, so the propagator is fixed rather than global:
    // headers stay correct even in a process that never called `init`.
    TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
    headers
}

/// The remote parent context carried by `headers` (an empty context when there is none).
pub fn extract_context(headers: &HashMap<String, String>) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(headers)
}

/// Makes `span` a child of the trace carried by `headers`, when they carry one.
pub fn set_parent(span: &tracing::Span, headers: &HashMap<String, String>) {
    if headers.contains_key("traceparent") {
        // Fails only when the span was already entered or is disabled: then it stays a root.
        let _ = span.set_parent(extract_context(headers));
    }
}

/// The W3C trace id of `span`, for tests and log correlation; `None` without a valid context.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
