//! Tracing, JSON logs, OTLP trace export and Prometheus metrics.
//!
//! Set up once per process by [`init`] from a service's `main`, so every service logs and
//! traces the same way. [`inject_context`] and [`extract_context`] carry the W3C trace context
//! across the broker so one sync session is one trace.

mod metrics;
mod propagation;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use config::{LogFormat, TelemetrySettings};
pub use metrics::Metrics;
pub use propagation::{extract_context, inject_context, set_parent, trace_id};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("RUST_LOG is not a valid filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("the OTLP trace exporter could not be built: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInitialised(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the tracer provider alive; dropping it flushes buffered spans and shuts the exporter
/// down, so the last spans of a stopping service still reach the collector.
#[must_use = "dropping the guard shuts telemetry down"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let provider = self.provider.clone();
        // The blocking HTTP exporter must not run (or be dropped) on an async worker thread,
        // which is where a guard held by `#[tokio::main]` is dropped.
        let joined =
            std::thread::spawn(move || provider.shutdown_with_timeout(Duration::from_secs(5)))
                .join();
        if let Ok(Err(error)) = joined {
            eprintln!("telemetry shutdown: {error}");
        }
    }
}

/// Installs the global tracing subscriber (logs + OpenTelemetry layer) and the W3C propagator.
pub fn init(
    service_name: &str,
    settings: &TelemetrySettings,
) -> Result<TelemetryGuard, TelemetryError> {
    let provider = tracer_provider(service_name, settings.otlp_endpoint.as_ref())?;
    let filter = EnvFilter::try_new(&settings.log_filter)?;
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("contactsync"));
    let (json, pretty) = match settings.log_format {
        LogFormat::Json => (
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    // Every enclosing span's fields: the consume span's trace_id and the
                    // handler's own fields (user_id, job_id) both reach each line.
                    .with_span_list(true),
            ),
            None,
        ),
        LogFormat::Pretty => (None, Some(tracing_subscriber::fmt::layer())),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(pretty)
        .with(otel)
        .try_init()?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(TelemetryGuard { provider })
}

/// For tests that assert on trace context: a subscriber that creates real OpenTelemetry spans
/// (so trace ids exist) without exporting them, logging to the test's captured output.
/// Safe to call more than once; only the first call installs anything.
pub fn init_for_tests() {
    let provider = SdkTracerProvider::builder().build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("contactsync-test"));
    let installed = tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .with(otel)
        .try_init();
    if installed.is_ok() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        opentelemetry::global::set_tracer_provider(provider);
    }
}

/// Always a provider, so spans carry trace ids that propagate across services; an exporter
/// only when a collector is configured.
fn tracer_provider(
    service_name: &str,
    endpoint: Option<&url::Url>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = endpoint else {
        return Ok(builder.build());
    };
    // The variable holds the collector's base URL (the OTLP convention); the trace signal
    // lives under /v1/traces.
    let traces_url = format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'));
    // reqwest's blocking client starts (and on drop stops) its own runtime, which panics when
    // done on a tokio worker thread: build it on a plain thread.
    let exporter = std::thread::spawn(move || {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces_url)
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| TelemetryError::Exporter(error.to_string()))
    })
    .join()
    .map_err(|_| TelemetryError::Exporter("the exporter builder thread panicked".to_owned()))??;
    Ok(builder.with_batch_exporter(exporter).build())
}
