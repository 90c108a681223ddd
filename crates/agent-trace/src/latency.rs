//! `LatencyProcessor`: the duration of every ended span recorded as a
//! latency under the span's name.

use std::sync::Arc;

use agent_trace_metrics::{ExemplarIds, LatencyMetrics};

use crate::latency_metrics;

/// Records the duration of every span a tracer ends into
/// [`LatencyMetrics`] under the span's name, so that the tracer's own spans
/// and `#[instrument]` spans alike yield p50/p95/p99 per step, with the
/// span's trace id as the exemplar when the span is sampled
/// ([`LatencyMetrics::percentiles_with_exemplars`]). [`init`](crate::init()) adds one
/// (into [`latency_metrics`]).
///
/// ```
/// use std::sync::Arc;
/// use agent_trace::{AgentStepTracer, LatencyMetrics, LatencyProcessor};
///
/// let metrics = Arc::new(LatencyMetrics::new());
/// let tracer = AgentStepTracer::builder()
///     .processor(Arc::new(LatencyProcessor::new(metrics.clone())))
///     .build();
/// tracer.start_trace("tool_call").end();
/// assert_eq!(metrics.stats("tool_call", None).unwrap().count, 1);
/// ```
#[derive(Debug, Clone)]
pub struct LatencyProcessor {
    metrics: Option<Arc<LatencyMetrics>>,
}

impl LatencyProcessor {
    /// Records into `metrics`.
    pub fn new(metrics: Arc<LatencyMetrics>) -> Self {
        Self {
            metrics: Some(metrics),
        }
    }

    /// Records into the global [`latency_metrics`].
    pub fn global() -> Self {
        Self { metrics: None }
    }
}

impl agent_trace_core::SpanProcessor for LatencyProcessor {
    fn on_start_is_internal(&self) -> bool {
        true
    }

    fn on_end(&self, span: agent_trace_core::FinishedSpan) {
        self.on_end_borrowed(&span);
    }

    fn reads_only(&self) -> bool {
        true
    }

    fn records_span_durations(&self) -> bool {
        true
    }

    fn on_end_borrowed(&self, span: &agent_trace_core::SpanData) {
        // An unsampled span's trace is not exported: no exemplar.
        let cx = &span.context;
        let exemplar = if cx.is_sampled() {
            ExemplarIds {
                trace_id: cx.trace_id.to_u128(),
                span_id: cx.span_id.to_u64(),
            }
        } else {
            ExemplarIds::default()
        };
        // A `Duration` is never NaN or negative, the only rejected values.
        let duration = span.duration();
        let m: &LatencyMetrics = match &self.metrics {
            Some(m) => m,
            None => latency_metrics(),
        };
        // A static name through the handle the registry keeps for it; any
        // other by name, through the registry's per-thread cache of recent
        // operations (no lock either way).
        let _ = match span.name.as_static() {
            Some(name) => m.record_static_with_exemplar(name, duration, exemplar),
            None => m.record_with_exemplar(span.name.as_str(), duration, exemplar),
        };
    }
}
