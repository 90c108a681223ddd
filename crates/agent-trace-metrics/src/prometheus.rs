//! The bridge to the [`metrics`] facade, the tracer's metric names, and
//! (feature `prometheus`) a Prometheus recorder with our buckets.
//!
//! # Why batches of bucket means, not one call per value
//!
//! Every value a [`LatencyMetrics`](crate::LatencyMetrics) records also goes
//! to the `metrics` facade as [`OPERATION_DURATION_SECONDS`], labelled
//! `operation` plus the series' own labels, so that whatever recorder the
//! application installed (Prometheus, StatsD, OpenTelemetry...) sees it.
//!
//! Calling the recorder once per value costs more than the whole record
//! (the Prometheus exporter reads `Instant::now()` and appends to a block
//! of atomics per value: 25 to 90 ns here). Instead, each live stripe of a
//! series counts, under the lock `record` already holds, how many values
//! fell in each of the [`DURATION_BUCKETS`] (plus `+Inf`) and their exact
//! sum. [`publish`] hands those over: for every non-empty bucket one
//! `record_many(mean, count)` on the series' histogram handle, where `mean`
//! is the mean of the values in that bucket. The mean of values that lie in
//! a bucket lies in the same bucket, so a recorder with our buckets ends up
//! with exactly the counts it would have had from the individual values,
//! and the sum of the means times the counts is the exact sum (up to float
//! rounding). Only a recorder with *other* bucket boundaries, or one that
//! keeps individual values, sees each value moved to its bucket's mean.
//!
//! [`publish`] runs every second on a background thread (started with the
//! first bridged series), on every render of our
//! [`PrometheusHandle`](crate::PrometheusHandle), and whenever the
//! application calls it; values recorded between two publications are held
//! in fixed-size counters, never in a growing buffer.
//!
//! Each series registers its `metrics::Histogram` handle once, when the
//! series is created, so a series reports to the recorder installed at that
//! moment: install the recorder (for example with
//! `install_prometheus_recorder`) before the first value of each series,
//! typically at start-up.
//!
//! The bridge is on by default; [`LatencyMetricsBuilder::metrics_facade`]
//! turns it off (and then no counting happens on record at all).
//!
//! # Exemplars, and why they travel beside the facade
//!
//! The `metrics` facade has no notion of an exemplar: a histogram handle
//! takes values only. So a value recorded with a trace id also keeps,
//! beside the pending counters, the newest exemplar of its bucket (a fixed
//! set allocated on the first exemplar), and [`publish`] hands those to
//! the series' [`BucketExemplars`] cell. The cell is shared with
//! our [`PrometheusRecorder`](crate::PrometheusRecorder), which renders it
//! on the `_bucket` lines of the OpenMetrics exposition. It reaches the
//! series through the registration itself: when our recorder registers one
//! of its histograms, it leaves the histogram's cell in a thread-local
//! slot, and the series (which registers on the same thread, in the same
//! call) picks it up ([`registered_with_exemplars`]). With any other
//! recorder the slot stays empty and exemplars stay in `LatencyMetrics`.
//!
//! [`LatencyMetricsBuilder::metrics_facade`]: crate::LatencyMetricsBuilder::metrics_facade

use std::cell::Cell;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use metrics::{Histogram, Label, Unit};

use crate::exemplar::{Exemplar, ExemplarSet};

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
/// Gauge of spans waiting in an export queue; label `exporter`.
pub const EXPORT_QUEUE_LENGTH: &str = "agent_trace_export_queue_length";

/// Histogram of GenAI operation durations (LLM calls, tool executions,
/// agent invocations), in seconds: the OpenTelemetry GenAI semantic
/// conventions' `gen_ai.client.operation.duration` under its Prometheus
/// name. The facade's `genai` helpers record it (and name it publicly, in
/// `agent_trace::semconv::metric`); here it gets its help text and, in
/// `prometheus_builder` (feature `prometheus`), the conventions' buckets.
/// It is not one of [`HISTOGRAM_NAMES`]: it is recorded once per call, not
/// in batches, so the exporter keeps it, with those buckets.
pub const GEN_AI_OPERATION_DURATION_SECONDS: &str = "gen_ai_client_operation_duration_seconds";
/// Histogram of tokens per GenAI operation, by `gen_ai_token_type`: the
/// conventions' `gen_ai.client.token.usage` under its Prometheus name (a
/// `{token}` unit adds no suffix). As
/// [`GEN_AI_OPERATION_DURATION_SECONDS`].
pub const GEN_AI_TOKEN_USAGE: &str = "gen_ai_client_token_usage";

/// Counter of the cost of the LLM calls priced by `agent_trace::cost`, in
/// units of its `currency` label (dollars, not cents); labels `currency`,
/// `provider` and `model` (the model as named in the price table). The
/// `metrics` facade has integer counters only, so it is recorded as a gauge
/// that only goes up (`increment`); it is one of [`FLOAT_COUNTER_NAMES`],
/// which our `PrometheusRecorder` (feature `prometheus`) renders as
/// Prometheus counters.
pub const COST_TOTAL: &str = "agent_trace_cost_total";
/// Counter of the LLM calls whose model the price table does not price
/// (counted, never priced as zero); labels `provider` and `model`.
pub const UNPRICED_CALLS_TOTAL: &str = "agent_trace_llm_calls_unpriced_total";
/// The label that carries the ISO 4217 currency code on [`COST_TOTAL`].
pub const CURRENCY_LABEL: &str = "currency";
/// The label that carries the `gen_ai.provider.name` on [`COST_TOTAL`] and
/// [`UNPRICED_CALLS_TOTAL`].
pub const PROVIDER_LABEL: &str = "provider";
/// The label that carries the model on [`COST_TOTAL`] and
/// [`UNPRICED_CALLS_TOTAL`].
pub const MODEL_LABEL: &str = "model";
/// Counters with fractional increments, recorded through the facade as
/// gauges that only go up, and rendered as counters by our
/// `PrometheusRecorder`.
pub const FLOAT_COUNTER_NAMES: &[&str] = &[COST_TOTAL];

/// The explicit bucket boundaries the OpenTelemetry GenAI semantic
/// conventions give for `gen_ai.client.operation.duration`, in seconds: 10
/// ms doubling to 81.92 s.
pub const GEN_AI_DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// The explicit bucket boundaries the conventions give for
/// `gen_ai.client.token.usage`: powers of 4 from 1 to 4^13.
pub const GEN_AI_TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Histogram of the time to the first chunk of streaming GenAI calls, in
/// seconds (the conventions' `gen_ai.client.operation.time_to_first_chunk`).
pub const GEN_AI_TIME_TO_FIRST_CHUNK_SECONDS: &str =
    "gen_ai_client_operation_time_to_first_chunk_seconds";

/// Histogram of in-process agent invocation durations, in seconds (the
/// conventions' `gen_ai.invoke_agent.duration`).
pub const GEN_AI_INVOKE_AGENT_DURATION_SECONDS: &str = "gen_ai_invoke_agent_duration_seconds";

/// Histogram of tool execution durations, in seconds (the conventions'
/// `gen_ai.execute_tool.duration`).
pub const GEN_AI_EXECUTE_TOOL_DURATION_SECONDS: &str = "gen_ai_execute_tool_duration_seconds";

/// Histogram of the model calls per agent invocation (the conventions'
/// `gen_ai.invoke_agent.inference_calls`).
pub const GEN_AI_INVOKE_AGENT_INFERENCE_CALLS: &str = "gen_ai_invoke_agent_inference_calls";

/// Histogram of the tool calls per agent invocation (the conventions'
/// `gen_ai.invoke_agent.tool_calls`).
pub const GEN_AI_INVOKE_AGENT_TOOL_CALLS: &str = "gen_ai_invoke_agent_tool_calls";

/// Histogram of workflow durations, in seconds (the conventions'
/// `gen_ai.invoke_workflow.duration`).
pub const GEN_AI_INVOKE_WORKFLOW_DURATION_SECONDS: &str = "gen_ai_invoke_workflow_duration_seconds";

/// Histogram of the model calls per workflow execution (the conventions'
/// `gen_ai.invoke_workflow.inference_calls`).
pub const GEN_AI_INVOKE_WORKFLOW_INFERENCE_CALLS: &str = "gen_ai_invoke_workflow_inference_calls";

/// Histogram of the tool calls per workflow execution (the conventions'
/// `gen_ai.invoke_workflow.tool_calls`).
pub const GEN_AI_INVOKE_WORKFLOW_TOOL_CALLS: &str = "gen_ai_invoke_workflow_tool_calls";

/// The bucket boundaries the conventions give for
/// `gen_ai.invoke_agent.duration`, in seconds: 100 ms doubling to 409.6 s.
pub const GEN_AI_INVOKE_AGENT_DURATION_BUCKETS: &[f64] = &[
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6,
];

/// The bucket boundaries the conventions give for
/// `gen_ai.invoke_agent.inference_calls` and `.tool_calls`.
pub const GEN_AI_AGENT_CALL_COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// The bucket boundaries the conventions give for
/// `gen_ai.invoke_workflow.duration`, in seconds: 1 s to 2 h.
pub const GEN_AI_INVOKE_WORKFLOW_DURATION_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];

/// The bucket boundaries the conventions give for
/// `gen_ai.invoke_workflow.inference_calls` and `.tool_calls`.
pub const GEN_AI_WORKFLOW_CALL_COUNT_BUCKETS: &[f64] = &[
    0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
];

/// Every GenAI histogram of the `genai` helpers with the bucket boundaries
/// the conventions give for it; `prometheus_builder` (feature `prometheus`)
/// sets them all (a histogram without buckets would render as a summary).
pub const GEN_AI_HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    (GEN_AI_OPERATION_DURATION_SECONDS, GEN_AI_DURATION_BUCKETS),
    (GEN_AI_TOKEN_USAGE, GEN_AI_TOKEN_BUCKETS),
    (GEN_AI_TIME_TO_FIRST_CHUNK_SECONDS, GEN_AI_DURATION_BUCKETS),
    (
        GEN_AI_INVOKE_AGENT_DURATION_SECONDS,
        GEN_AI_INVOKE_AGENT_DURATION_BUCKETS,
    ),
    (
        GEN_AI_EXECUTE_TOOL_DURATION_SECONDS,
        GEN_AI_DURATION_BUCKETS,
    ),
    (
        GEN_AI_INVOKE_AGENT_INFERENCE_CALLS,
        GEN_AI_AGENT_CALL_COUNT_BUCKETS,
    ),
    (
        GEN_AI_INVOKE_AGENT_TOOL_CALLS,
        GEN_AI_AGENT_CALL_COUNT_BUCKETS,
    ),
    (
        GEN_AI_INVOKE_WORKFLOW_DURATION_SECONDS,
        GEN_AI_INVOKE_WORKFLOW_DURATION_BUCKETS,
    ),
    (
        GEN_AI_INVOKE_WORKFLOW_INFERENCE_CALLS,
        GEN_AI_WORKFLOW_CALL_COUNT_BUCKETS,
    ),
    (
        GEN_AI_INVOKE_WORKFLOW_TOOL_CALLS,
        GEN_AI_WORKFLOW_CALL_COUNT_BUCKETS,
    ),
];

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

/// The bucket bounds agent-trace gives the histogram named `name`:
/// [`DURATION_BUCKETS`] for [`HISTOGRAM_NAMES`], the conventions' bounds
/// for each of [`GEN_AI_HISTOGRAM_BUCKETS`], `None` for any other. What
/// the Prometheus recorder keeps and what the OTLP push sends.
///
/// ```
/// use agent_trace_metrics::{DURATION_BUCKETS, GEN_AI_TOKEN_BUCKETS, histogram_bucket_bounds};
///
/// assert_eq!(histogram_bucket_bounds("agent_trace_span_duration_seconds"), Some(DURATION_BUCKETS));
/// assert_eq!(histogram_bucket_bounds("gen_ai_client_token_usage"), Some(GEN_AI_TOKEN_BUCKETS));
/// assert_eq!(histogram_bucket_bounds("my_app_histogram"), None);
/// ```
pub fn histogram_bucket_bounds(name: &str) -> Option<&'static [f64]> {
    if HISTOGRAM_NAMES.contains(&name) {
        return Some(DURATION_BUCKETS);
    }
    GEN_AI_HISTOGRAM_BUCKETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bounds)| *bounds)
}

/// Describes (unit and help text) every metric of agent-trace to the
/// installed `metrics` recorder: the tracer's own, which the core and export
/// crates emit, [`OPERATION_DURATION_SECONDS`], every GenAI histogram the
/// facade's `genai` helpers record ([`GEN_AI_HISTOGRAM_BUCKETS`]: client
/// operation durations, token usage, time to first chunk, agent, tool and
/// workflow durations and call counts), and the facade's cost metrics
/// ([`COST_TOTAL`], [`UNPRICED_CALLS_TOTAL`]).
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
    describe_gauge!(
        EXPORT_QUEUE_LENGTH,
        "Spans waiting in the export queue, by exporter."
    );
    describe_histogram!(
        GEN_AI_OPERATION_DURATION_SECONDS,
        Unit::Seconds,
        "GenAI operation duration (gen_ai.client.operation.duration): LLM calls, tool executions, agent invocations."
    );
    describe_histogram!(
        GEN_AI_TOKEN_USAGE,
        Unit::Count,
        "Number of input and output tokens used per GenAI operation (gen_ai.client.token.usage), by gen_ai_token_type."
    );
    for (name, unit, help) in [
        (
            GEN_AI_TIME_TO_FIRST_CHUNK_SECONDS,
            Unit::Seconds,
            "Time to the first chunk of streaming GenAI calls (gen_ai.client.operation.time_to_first_chunk).",
        ),
        (
            GEN_AI_INVOKE_AGENT_DURATION_SECONDS,
            Unit::Seconds,
            "Duration of in-process GenAI agent invocations (gen_ai.invoke_agent.duration).",
        ),
        (
            GEN_AI_EXECUTE_TOOL_DURATION_SECONDS,
            Unit::Seconds,
            "Duration of GenAI tool executions (gen_ai.execute_tool.duration).",
        ),
        (
            GEN_AI_INVOKE_AGENT_INFERENCE_CALLS,
            Unit::Count,
            "Model calls per GenAI agent invocation (gen_ai.invoke_agent.inference_calls).",
        ),
        (
            GEN_AI_INVOKE_AGENT_TOOL_CALLS,
            Unit::Count,
            "Tool calls per GenAI agent invocation (gen_ai.invoke_agent.tool_calls).",
        ),
        (
            GEN_AI_INVOKE_WORKFLOW_DURATION_SECONDS,
            Unit::Seconds,
            "Duration of GenAI workflow executions (gen_ai.invoke_workflow.duration).",
        ),
        (
            GEN_AI_INVOKE_WORKFLOW_INFERENCE_CALLS,
            Unit::Count,
            "Model calls per GenAI workflow execution (gen_ai.invoke_workflow.inference_calls).",
        ),
        (
            GEN_AI_INVOKE_WORKFLOW_TOOL_CALLS,
            Unit::Count,
            "Tool calls per GenAI workflow execution (gen_ai.invoke_workflow.tool_calls).",
        ),
    ] {
        describe_histogram!(name, unit, help);
    }
    // A float counter: a gauge for the facade (see `COST_TOTAL`).
    describe_gauge!(
        COST_TOTAL,
        "Cost of the LLM calls priced by agent-trace, in units of the currency label, by provider and model."
    );
    describe_counter!(
        UNPRICED_CALLS_TOTAL,
        "LLM calls whose model has no price in the price table, by provider and model."
    );
}

/// How many counters a [`PendingBuckets`] has: one per bound and `+Inf`.
pub(crate) const BUCKETS: usize = DURATION_BUCKETS.len() + 1;

/// Which of the [`BUCKETS`] a value falls in: the first bound it does not
/// exceed (Prometheus buckets are `le`, upper bounds inclusive), or the last
/// one (`+Inf`). Any value; see [`checked_bucket_index`] for the one
/// `record` uses. For the recorder, whose values may be anything, and as
/// the tests' reference.
#[cfg(any(test, feature = "prometheus"))]
#[inline]
pub(crate) fn bucket_index(x: f64) -> usize {
    // Twelve compares that do not branch on the data beat a binary search
    // whose branches a latency distribution makes unpredictable.
    DURATION_BUCKETS.iter().map(|&b| usize::from(x > b)).sum()
}

/// [`bucket_index`] of a finite, non-negative value, from its binary
/// exponent: one table load and one compare.
///
/// # Why it is exact
///
/// Consecutive bounds are at least a factor of two apart (checked at
/// compile time below), so the binade `[2^e, 2^(e+1))` of `x` holds at most
/// one bound. [`BOUNDS_BELOW_BINADE`] counts the bounds below `2^e`, which
/// `x` exceeds; the one bound that may lie in the binade is the next one,
/// and a single compare settles it. Zero and subnormals have the exponent
/// field 0 and go to the first bucket, as they should. The twelve compares
/// of [`bucket_index`] cost about 35 instructions of a 190-instruction
/// handle `record` (callgrind, `benches/latency.rs` workload `record`).
#[inline]
pub(crate) fn checked_bucket_index(x: f64) -> usize {
    // The sign bit is clear, so the shift leaves the 11-bit exponent field.
    // The table holds at most `BUCKETS - 1`; the `min` (a conditional move)
    // tells the compiler so, in place of a bounds check and its panic path
    // (whose landing pad cost the fast path of `record` a stack frame).
    let below =
        usize::from(BOUNDS_BELOW_BINADE[(x.to_bits() >> 52) as usize & 0x7ff]).min(BUCKETS - 1);
    below + usize::from(x > PADDED_BOUNDS[below])
}

/// [`DURATION_BUCKETS`] and `+inf`, so that [`checked_bucket_index`] can
/// compare with the bound after the last one.
const PADDED_BOUNDS: [f64; BUCKETS] = {
    let mut b = [f64::INFINITY; BUCKETS];
    let mut i = 0;
    while i < DURATION_BUCKETS.len() {
        b[i] = DURATION_BUCKETS[i];
        // The premise of `checked_bucket_index`: a binade holds at most one
        // bound.
        assert!(i == 0 || DURATION_BUCKETS[i] >= 2.0 * DURATION_BUCKETS[i - 1]);
        assert!(DURATION_BUCKETS[i] > 0.0);
        i += 1;
    }
    b
};

/// For each value of a positive float's 11-bit exponent field, how many of
/// [`DURATION_BUCKETS`] lie below the smallest value with that exponent.
static BOUNDS_BELOW_BINADE: [u8; 2048] = {
    let mut t = [0u8; 2048];
    // Field 0 (zero and subnormals) stays 0: every bound is larger.
    let mut field = 1;
    while field < 2047 {
        let low = f64::from_bits((field as u64) << 52);
        let mut n = 0;
        while n < DURATION_BUCKETS.len() && DURATION_BUCKETS[n] < low {
            n += 1;
        }
        t[field] = n as u8;
        field += 1;
    }
    // Field 2047 is infinity and NaN, which `record` refuses.
    t[2047] = DURATION_BUCKETS.len() as u8;
    t
};

/// Values recorded into one live stripe and not yet handed to the facade:
/// a count and an exact sum per bucket. Fixed size whatever the traffic.
///
/// Each bucket's count and sum sit side by side, so that a record touches
/// one cache line of them rather than one line of counts and another of
/// sums.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingBuckets {
    /// Per bucket, how many values and their sum.
    buckets: [(u64, f64); BUCKETS],
}

impl Default for PendingBuckets {
    fn default() -> Self {
        Self {
            buckets: [(0, 0.0); BUCKETS],
        }
    }
}

impl PendingBuckets {
    /// Counts a finite, non-negative value.
    #[cfg(test)]
    fn add(&mut self, x: f64) {
        self.add_at(checked_bucket_index(x), x);
    }

    /// Counts a finite, non-negative value whose [`checked_bucket_index`] is
    /// `i` (found before the stripe lock is taken).
    #[inline]
    pub(crate) fn add_at(&mut self, i: usize, x: f64) {
        // `i < BUCKETS` already; the `min` spares a bounds check (see
        // `checked_bucket_index`).
        let (count, sum) = &mut self.buckets[i.min(BUCKETS - 1)];
        *count += 1;
        *sum += x;
    }

    /// Adds `other`'s counts and sums to these.
    pub(crate) fn merge(&mut self, other: &Self) {
        for ((count, sum), (c, s)) in self.buckets.iter_mut().zip(&other.buckets) {
            *count += c;
            *sum += s;
        }
    }

    /// Empties the counters.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.iter().all(|&(c, _)| c == 0)
    }

    /// For every non-empty bucket, the mean of its values (kept inside the
    /// bucket despite rounding) and how many there were.
    pub(crate) fn means(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        (0..BUCKETS).filter(|&i| self.buckets[i].0 > 0).map(|i| {
            let (count, sum) = self.buckets[i];
            let mean = sum / count as f64;
            let lo = if i == 0 { 0.0 } else { DURATION_BUCKETS[i - 1] };
            let hi = DURATION_BUCKETS.get(i).copied().unwrap_or(f64::MAX);
            // Every value was in (lo, hi] (or [0, hi] for the first bucket),
            // so the exact mean is too; only rounding can step outside.
            let mean = if i == 0 {
                mean.clamp(0.0, hi)
            } else {
                mean.clamp(lo.next_up(), hi)
            };
            (mean, count)
        })
    }
}

/// The newest exemplar of each bucket of one of our Prometheus histograms,
/// shared by the series that publishes into it and the recorder that
/// renders it (see the module docs). Locked once per publication and once
/// per render, never on record.
#[derive(Debug, Default)]
pub(crate) struct BucketExemplars(Mutex<[Option<Exemplar>; BUCKETS]>);

impl BucketExemplars {
    /// Takes, per bucket, the newer of the held and the offered exemplar.
    pub(crate) fn offer(&self, set: &ExemplarSet) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (cur, new) in held.iter_mut().zip(set.by_range()) {
            if let Some(new) = new
                && cur.is_none_or(|c| new.is_newer_than(&c))
            {
                *cur = Some(*new);
            }
        }
    }

    /// The exemplar of each bucket now.
    #[cfg_attr(
        not(feature = "prometheus"),
        allow(dead_code, reason = "read by the Prometheus recorder only")
    )]
    pub(crate) fn get(&self) -> [Option<Exemplar>; BUCKETS] {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

thread_local! {
    /// The exemplar cell of the histogram our recorder registered last on
    /// this thread; see [`registered_with_exemplars`].
    static HANDOFF: Cell<Option<Arc<BucketExemplars>>> = const { Cell::new(None) };
}

/// Leaves the exemplar cell of a histogram being registered for the caller
/// of [`registered_with_exemplars`] on this thread.
#[cfg(feature = "prometheus")]
pub(crate) fn hand_over_exemplars(cell: Arc<BucketExemplars>) {
    let _ = HANDOFF.try_with(|h| h.set(Some(cell)));
}

/// Registers a histogram with `register` and returns it with its exemplar
/// cell, when the recorder in force is ours (see the module docs).
pub(crate) fn registered_with_exemplars(
    register: impl FnOnce() -> Histogram,
) -> (Histogram, Option<Arc<BucketExemplars>>) {
    let _ = HANDOFF.try_with(Cell::take);
    let histogram = register();
    let cell = HANDOFF.try_with(Cell::take).ok().flatten();
    (histogram, cell)
}

/// A series' handle in the `metrics` facade (`None` when the bridge is
/// off), and its exemplar cell when the recorder is ours.
#[derive(Debug, Clone)]
pub(crate) struct Bridge {
    histogram: Option<Histogram>,
    exemplars: Option<Arc<BucketExemplars>>,
}

impl Bridge {
    /// Registers the series of `operation` and `labels` (canonical, sorted
    /// by key) with the recorder in force now. A user label named
    /// `operation` is dropped: ours says which operation the value is of.
    pub(crate) fn register(enabled: bool, operation: &str, labels: &[(&str, &str)]) -> Self {
        if !enabled {
            return Self {
                histogram: None,
                exemplars: None,
            };
        }
        let mut all = Vec::with_capacity(labels.len() + 1);
        all.push(Label::new(OPERATION_LABEL, operation.to_owned()));
        all.extend(
            labels
                .iter()
                .filter(|(k, _)| *k != OPERATION_LABEL)
                .map(|&(k, v)| Label::new(k.to_owned(), v.to_owned())),
        );
        let (histogram, exemplars) =
            registered_with_exemplars(|| metrics::histogram!(OPERATION_DURATION_SECONDS, all));
        Self {
            histogram: Some(histogram),
            exemplars,
        }
    }

    /// Whether values are counted for the facade at all.
    #[inline]
    pub(crate) fn is_enabled(&self) -> bool {
        self.histogram.is_some()
    }

    /// Hands pending values to the recorder, one call per non-empty bucket,
    /// and their exemplars to the cell.
    pub(crate) fn publish(&self, pending: &PendingBuckets, exemplars: Option<&ExemplarSet>) {
        if let Some(h) = &self.histogram {
            for (mean, count) in pending.means() {
                h.record_many(mean, usize::try_from(count).unwrap_or(usize::MAX));
            }
        }
        if let (Some(cell), Some(e)) = (&self.exemplars, exemplars) {
            cell.offer(e);
        }
    }
}

/// Something whose pending values [`publish`] hands to the facade.
pub(crate) trait Publish: Send + Sync {
    /// Hands over everything pending.
    fn publish(&self);
}

/// Every bridged series alive, for [`publish`], and whether the thread that
/// publishes them every second runs.
struct Bridged {
    series: Vec<Weak<dyn Publish>>,
    publishing: bool,
}

static BRIDGED: Mutex<Bridged> = Mutex::new(Bridged {
    series: Vec::new(),
    publishing: false,
});

/// How often the background thread publishes.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// The name of the thread that publishes every [`PUBLISH_INTERVAL`].
pub(crate) const PUBLISHER_THREAD: &str = "agent-trace-publish";

/// Adds a bridged series to those [`publish`] walks, and starts the thread
/// that publishes every second if it is not running: it runs while a
/// bridged series lives, and ends (after a last publication) within a
/// second of the last one's drop. If it cannot be started, publication
/// still happens on every render of our Prometheus handle and on every
/// explicit [`publish`], and the next registration tries again.
pub(crate) fn register_publisher(p: Weak<dyn Publish>) {
    let mut bridged = BRIDGED.lock().unwrap_or_else(PoisonError::into_inner);
    bridged.series.push(p);
    if bridged.publishing {
        return;
    }
    bridged.publishing = std::thread::Builder::new()
        .name(PUBLISHER_THREAD.into())
        .spawn(|| {
            loop {
                std::thread::sleep(PUBLISH_INTERVAL);
                publish();
                // Decided under the lock that registrations take: a series
                // registered after this sees `publishing` false and starts
                // a new thread.
                let mut bridged = BRIDGED.lock().unwrap_or_else(PoisonError::into_inner);
                if bridged.series.is_empty() {
                    bridged.publishing = false;
                    return;
                }
            }
        })
        .is_ok();
}

/// Hands every value recorded so far by every [`LatencyMetrics`] of the
/// process to the `metrics` facade (see the module docs: one
/// `record_many` per non-empty bucket of each series).
///
/// A background thread does this every second, and our Prometheus handle
/// does it before every render; call it yourself before reading another
/// recorder, for example in a test.
///
/// ```
/// use agent_trace_metrics::{LatencyMetrics, publish};
///
/// let metrics = LatencyMetrics::new();
/// metrics.record("tool_call", 0.3)?;
/// publish(); // the installed recorder (none here) now has the value
/// # Ok::<(), agent_trace_metrics::MetricsError>(())
/// ```
///
/// [`LatencyMetrics`]: crate::LatencyMetrics
pub fn publish() {
    let live: Vec<Arc<dyn Publish>> = {
        let mut bridged = BRIDGED.lock().unwrap_or_else(PoisonError::into_inner);
        bridged.series.retain(|w| w.strong_count() > 0);
        bridged.series.iter().filter_map(Weak::upgrade).collect()
    };
    for p in live {
        p.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_go_to_the_bucket_whose_bound_they_do_not_exceed() {
        assert_eq!(bucket_index(0.0), 0);
        assert_eq!(bucket_index(0.005), 0);
        assert_eq!(bucket_index(0.0051), 1);
        assert_eq!(bucket_index(1.0), 5);
        assert_eq!(bucket_index(120.0), 11);
        assert_eq!(bucket_index(120.5), 12);
    }

    /// The exponent table agrees with the twelve compares on every bound,
    /// its neighbours, powers of two around it, and a sweep of values from
    /// zero to far beyond the last bound.
    #[test]
    fn the_exponent_table_agrees_with_the_compares() {
        let mut values = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE / 2.0,
            f64::MIN_POSITIVE,
            f64::MAX,
        ];
        for &b in DURATION_BUCKETS {
            values.extend([b, b.next_up(), b.next_down()]);
            let e = b.log2().floor();
            for k in -2..=2 {
                let p = 2f64.powf(e + f64::from(k));
                values.extend([p, p.next_up(), p.next_down()]);
            }
        }
        let mut x = 1e-7;
        while x < 1e6 {
            values.push(x);
            x *= 1.000_37;
        }
        for v in values {
            let v = v + 0.0;
            assert_eq!(checked_bucket_index(v), bucket_index(v), "{v:e}");
        }
    }

    #[test]
    fn bucket_means_stay_in_their_bucket_and_keep_the_sum() {
        let mut p = PendingBuckets::default();
        // Values hugging both edges of (0.1, 0.25], and a few elsewhere.
        let values = [0.100_000_000_1, 0.25, 0.25, 0.25, 0.003, 7.0, 500.0];
        for v in values {
            p.add(v);
        }
        let means: Vec<(f64, u64)> = p.means().collect();
        assert_eq!(means.len(), 4);
        for &(mean, count) in &means {
            let i = bucket_index(mean);
            assert_eq!(p.buckets[i].0, count, "mean {mean} left its bucket");
        }
        let total: f64 = means.iter().map(|&(m, c)| m * c as f64).sum();
        let exact: f64 = values.iter().sum();
        assert!((total - exact).abs() <= 1e-12 * exact, "{total} vs {exact}");
    }
}

#[cfg(feature = "prometheus")]
mod exporter;

#[cfg(feature = "prometheus")]
pub use exporter::{
    ExpositionFormat, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
    install_prometheus_recorder, install_prometheus_recorder_beside, prometheus_builder,
};
