//! The bridge to the [`metrics`] facade, the tracer's metric names, and
//! (feature `prometheus`) a Prometheus recorder with our buckets.
//!
//! # Why handles, registered once per series
//!
//! Every value a [`LatencyMetrics`](crate::LatencyMetrics) records also goes
//! to the `metrics` facade as [`OPERATION_DURATION_SECONDS`], labelled
//! `operation` plus the series' own labels, so that whatever recorder the
//! application installed (Prometheus, StatsD, OpenTelemetry...) sees it.
//!
//! Going through the `histogram!` macro on every record would look the
//! recorder up, build a `Key` from the name and labels (allocating for the
//! labels) and hash it into the recorder's registry, per value. Instead each
//! series registers its `metrics::Histogram` handle once, when the series is
//! created, and every record calls `handle.record(x)`: one branch when no
//! recorder is installed, one virtual call otherwise (for the Prometheus
//! recorder, a lock-free append to a block of atomics). Batching locally and
//! handing over sums would be cheaper still, but a histogram recorder needs
//! the individual values (each one lands in a bucket), so a batch would have
//! to keep them all; the handle is the cheaper of the two that stay exact.
//! Measured once in a release build on the loaded 2-core development
//! machine (an ad hoc loop, not a bench; noisy): a record through a
//! `SeriesHandle` took 77 to 105 ns with the bridge off, 81 to 92 ns with it
//! on and no recorder, and 138 to 194 ns into the Prometheus recorder.
//!
//! The consequence: a series registers with the recorder installed *when
//! the series is created*. Install the recorder (for example with
//! `install_prometheus_recorder`) before the first value of each series,
//! typically at start-up; series created earlier keep reporting to the
//! recorder of that time (the no-op one if there was none).
//!
//! The bridge is on by default and costs one branch per record without a
//! recorder; [`LatencyMetricsBuilder::metrics_facade`] turns it off.
//!
//! [`LatencyMetricsBuilder::metrics_facade`]: crate::LatencyMetricsBuilder::metrics_facade

use metrics::{Histogram, Label, Unit};

/// Histogram of every latency recorded through
/// [`LatencyMetrics`](crate::LatencyMetrics), in seconds; labels:
/// `operation` and the series' own labels.
pub const OPERATION_DURATION_SECONDS: &str = "agent_trace_operation_duration_seconds";
/// Counter of traces started (root spans).
pub const TRACES_TOTAL: &str = "agent_trace_traces_total";
/// Counter of spans started and recorded.
pub const SPANS_TOTAL: &str = "agent_trace_spans_total";
/// Histogram of span durations, in seconds.
pub const SPAN_DURATION_SECONDS: &str = "agent_trace_span_duration_seconds";
/// Gauge of spans started and not yet ended.
pub const ACTIVE_SPANS: &str = "agent_trace_active_spans";
/// Counter of span batches exported successfully; label `exporter`.
pub const EXPORT_SUCCESS_TOTAL: &str = "agent_trace_export_success_total";
/// Counter of span batches whose export failed; label `exporter`.
pub const EXPORT_FAILURE_TOTAL: &str = "agent_trace_export_failure_total";
/// Counter of spans dropped before export; label `reason`.
pub const SPANS_DROPPED_TOTAL: &str = "agent_trace_spans_dropped_total";

/// The label that carries the operation name on
/// [`OPERATION_DURATION_SECONDS`].
pub const OPERATION_LABEL: &str = "operation";
/// The label that names the exporter on the export counters.
pub const EXPORTER_LABEL: &str = "exporter";
/// The label that says why spans were dropped on [`SPANS_DROPPED_TOTAL`].
pub const REASON_LABEL: &str = "reason";

/// Bucket upper bounds, in seconds, of our histograms: from a fast tool
/// call (5 ms) to a slow multi-step agent task (2 min).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0, 120.0,
];

/// The histogram names that take [`DURATION_BUCKETS`].
pub const HISTOGRAM_NAMES: &[&str] = &[OPERATION_DURATION_SECONDS, SPAN_DURATION_SECONDS];

/// Describes (unit and help text) every metric of agent-trace to the
/// installed `metrics` recorder: the tracer's own, which the core and export
/// crates emit, and [`OPERATION_DURATION_SECONDS`].
///
/// Call it once after installing the recorder;
/// `install_prometheus_recorder` does. Calling it again is harmless.
///
/// ```
/// agent_trace_metrics::describe_tracer_metrics(); // no recorder: a no-op
/// ```
pub fn describe_tracer_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        OPERATION_DURATION_SECONDS,
        Unit::Seconds,
        "Latency of agent operations (LLM calls, tool calls, ...) recorded by agent-trace, by operation."
    );
    describe_counter!(TRACES_TOTAL, "Traces started by the agent-trace tracer.");
    describe_counter!(
        SPANS_TOTAL,
        "Spans started and recorded by the agent-trace tracer."
    );
    describe_histogram!(
        SPAN_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of spans recorded by the agent-trace tracer."
    );
    describe_gauge!(ACTIVE_SPANS, "Spans started and not yet ended.");
    describe_counter!(
        EXPORT_SUCCESS_TOTAL,
        "Span batches exported successfully, by exporter."
    );
    describe_counter!(
        EXPORT_FAILURE_TOTAL,
        "Span batches whose export failed, by exporter."
    );
    describe_counter!(
        SPANS_DROPPED_TOTAL,
        "Spans dropped before export (queue full, limits, shutdown), by reason."
    );
}

/// A series' handle in the `metrics` facade; the no-op handle when the
/// bridge is off.
#[derive(Debug, Clone)]
pub(crate) struct Bridge(Histogram);

impl Bridge {
    /// Registers the series of `operation` and `labels` (canonical, sorted
    /// by key) with the recorder in force now. A user label named
    /// `operation` is dropped: ours says which operation the value is of.
    pub(crate) fn register(enabled: bool, operation: &str, labels: &[(&str, &str)]) -> Self {
        if !enabled {
            return Self(Histogram::noop());
        }
        let mut all = Vec::with_capacity(labels.len() + 1);
        all.push(Label::new(OPERATION_LABEL, operation.to_owned()));
        all.extend(
            labels
                .iter()
                .filter(|(k, _)| *k != OPERATION_LABEL)
                .map(|&(k, v)| Label::new(k.to_owned(), v.to_owned())),
        );
        Self(metrics::histogram!(OPERATION_DURATION_SECONDS, all))
    }

    #[inline]
    pub(crate) fn record(&self, seconds: f64) {
        self.0.record(seconds);
    }
}

#[cfg(feature = "prometheus")]
mod exporter;

#[cfg(feature = "prometheus")]
pub use exporter::{
    PrometheusBuilder, PrometheusError, PrometheusHandle, install_prometheus_recorder,
    prometheus_builder,
};
