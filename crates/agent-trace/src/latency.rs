//! `LatencyProcessor`: the duration of every ended span recorded as a
//! latency under the span's name.

use std::sync::Arc;
use std::time::Duration;

use agent_trace_core::StringValue;
use agent_trace_metrics::LatencyMetrics;

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

    fn on_end_borrowed(&self, span: &agent_trace_core::SpanData) {
        // An unsampled span's trace is not exported: no exemplar (id 0).
        let cx = &span.context;
        let trace_id = if cx.is_sampled() {
            cx.trace_id.to_u128()
        } else {
            0
        };
        // A `Duration` is never NaN or negative, the only rejected values.
        let duration = span.duration();
        match &self.metrics {
            Some(m) => {
                let _ = m.record_with_exemplar(span.name.as_str(), duration, trace_id);
            }
            None => record_global_latency(&span.name, duration, trace_id),
        }
    }
}

/// Span names whose [`latency_metrics`] series handle a thread keeps (see
/// [`record_global_latency`]).
const LATENCY_HANDLES: usize = 16;

/// A full [`LatencyHandles`] replaces an entry at one miss in this many;
/// the other misses record by name. Making a handle costs more than a
/// record by name, so a thread that cycles through more names than it
/// keeps would pay it at every span if each miss replaced an entry.
const REPLACE_EVERY: u32 = 8;

/// Series handles of the global [`latency_metrics`], by span name: the
/// name kept (so that a shared name's address is not reused while it is
/// here) with the handle, replaced in turn.
#[derive(Default)]
struct LatencyHandles {
    entries: [Option<(StringValue, agent_trace_metrics::SeriesHandle)>; LATENCY_HANDLES],
    next: usize,
    /// Misses since the last replacement.
    misses: u32,
}

thread_local! {
    static GLOBAL_LATENCY_HANDLES: std::cell::RefCell<LatencyHandles> =
        std::cell::RefCell::default();
}

/// Records a span's duration into the global [`latency_metrics`] through a
/// series handle this thread keeps for the span's name: found by the
/// name's address and length (span names are usually static or interned,
/// as the `genai` helpers' are), else by its text. Recording by name looks
/// the operation up in the registry's own per-thread cache by text and
/// then its series; the handle skips both (about 60 instructions a span
/// in the agent workload bench, callgrind). Only for the global registry,
/// which lives as long as the process: a handle of a registry that could
/// be dropped must not outlive it in a cache.
fn record_global_latency(span_name: &StringValue, duration: Duration, trace_id: u128) {
    let m = latency_metrics();
    let recorded = GLOBAL_LATENCY_HANDLES.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return false;
        };
        let name = span_name.as_str();
        let found = cache.entries.iter().flatten().find(|(kept, _)| {
            let kept = kept.as_str();
            kept.len() == name.len() && (std::ptr::eq(kept.as_ptr(), name.as_ptr()) || kept == name)
        });
        let handle = match found {
            Some((_, handle)) => handle,
            None => {
                let at = cache.next;
                if cache.entries[at].is_some() {
                    cache.misses += 1;
                    if cache.misses < REPLACE_EVERY {
                        return false;
                    }
                }
                cache.misses = 0;
                cache.next = (at + 1) % LATENCY_HANDLES;
                let entry = cache.entries[at].insert((span_name.clone(), m.series(name, &[])));
                &entry.1
            }
        };
        let _ = handle.record_with_exemplar(duration, trace_id);
        true
    });
    if recorded != Ok(true) {
        // A miss that keeps the entries, the thread exiting, or a recorder
        // that re-entered: by name.
        let _ = m.record_with_exemplar(span_name.as_str(), duration, trace_id);
    }
}
