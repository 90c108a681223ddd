//! The processor that turns the tracer's span starts and ends into the
//! tracer's own metrics.

use agent_trace_core::{FinishedSpan, SpanData, SpanProcessor};
use agent_trace_metrics::TracerMetrics;

/// Feeds a [`TracerMetrics`] from a tracer: spans and traces started, spans
/// active, span durations. Add it to the tracer like any processor; it
/// keeps nothing of the spans.
///
/// A span starts a new trace when it has no parent, local or remote (a
/// server span that continues a caller's trace does not).
///
/// ```
/// use std::sync::Arc;
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_export::MetricsProcessor;
/// use agent_trace_metrics::TracerMetrics;
///
/// let metrics = TracerMetrics::new();
/// let tracer = AgentStepTracer::builder()
///     .processor(Arc::new(MetricsProcessor::new(metrics.clone())))
///     .build();
/// let root = tracer.start_trace("agent_task");
/// tracer.span_builder("llm_call").parent(&root).start().end();
/// assert_eq!(metrics.counts().active, 1);
/// root.end();
/// let counts = metrics.counts();
/// assert_eq!((counts.spans, counts.traces, counts.active), (2, 1, 0));
/// ```
#[derive(Debug, Clone)]
pub struct MetricsProcessor {
    metrics: TracerMetrics,
}

impl MetricsProcessor {
    /// A processor that counts into `metrics`.
    pub fn new(metrics: TracerMetrics) -> Self {
        Self { metrics }
    }

    /// The metrics it counts into.
    pub fn metrics(&self) -> &TracerMetrics {
        &self.metrics
    }
}

impl SpanProcessor for MetricsProcessor {
    fn on_start_is_internal(&self) -> bool {
        true
    }

    fn on_start(&self, span: &SpanData) {
        self.metrics.span_started(span.parent_span_id.is_none());
    }

    fn on_end(&self, span: FinishedSpan) {
        self.on_end_borrowed(&span);
    }

    fn reads_only(&self) -> bool {
        true
    }

    fn on_end_borrowed(&self, span: &SpanData) {
        // The trace and span ids are the exemplar of the span duration
        // histogram, when the span is sampled (an unsampled trace is not
        // exported).
        let cx = &span.context;
        if cx.is_sampled() {
            self.metrics.span_ended_with_exemplar(
                span.duration(),
                (cx.trace_id.to_u128(), cx.span_id.to_u64()),
                span.end_time.as_unix_nanos(),
            );
        } else {
            self.metrics.span_ended(span.duration());
        }
    }
}
