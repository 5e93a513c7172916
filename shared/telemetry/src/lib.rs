//! Tracing, JSON logs, OTLP trace export and Prometheus metrics.
