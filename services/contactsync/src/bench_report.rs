//! What `contactsync bench --report FILE.html` draws: the charts a scenario hands back with its
//! figure, so a reader sees the shape of a run (a latency distribution, throughput over time),
//! not only its numbers.

/// One chart of a scenario.
#[derive(Debug, Clone)]
pub enum Chart {
    /// How samples are distributed (latencies, say), one series per kind (a direction).
    Distribution {
        title: String,
        /// The samples' unit (`ms`).
        unit: String,
        series: Vec<Series>,
    },
    /// A value over the run's time (contacts written per second), one series per kind.
    OverTime {
        title: String,
        /// The value's unit (`contacts/s`); time is in seconds from the start.
        unit: String,
        /// Each series' samples are `(seconds since start, value)`.
        series: Vec<Series>,
    },
}

/// A named series: samples of a distribution, or `(t, value)` points over time.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub samples: Vec<f64>,
    /// Over time: the seconds each sample was taken at (same length as `samples`).
    pub at_seconds: Vec<f64>,
}
