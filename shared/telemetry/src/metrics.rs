//! The process's Prometheus registry, shared by the service code and the `/metrics` endpoint.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::registry::{Metric, Registry};

/// A cheap-to-clone handle on one registry. Services register their counters and histograms
/// at build time and update the returned handles; `/metrics` renders them all.
/// User ids never become labels (unbounded cardinality).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
}

impl Metrics {
    /// A registry whose metric names start with `contactsync_`.
    pub fn new() -> Self {
        Metrics {
            registry: Arc::new(Mutex::new(Registry::with_prefix("contactsync"))),
        }
    }

    /// Registers `metric` and returns it (metrics are handles: the clone updates the same value).
    pub fn register<M: Metric + Clone>(&self, name: &str, help: &str, metric: M) -> M {
        self.registry.lock().register(name, help, metric.clone());
        metric
    }

    /// Registers a collector that encodes its metrics at each scrape (values that live elsewhere,
    /// such as the API usage a client last saw). Its names get the `contactsync_` prefix too.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry.lock().register_collector(collector);
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry.lock())?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[test]
    fn a_registered_counter_renders_with_its_value() {
        let metrics = Metrics::new();
        let counter = metrics.register(
            "deliveries",
            "Deliveries handled",
            Counter::<u64>::default(),
        );
        counter.inc_by(3);
        let text = metrics.render().expect("renders");
        assert!(text.contains("contactsync_deliveries_total 3"), "{text}");
    }
}
