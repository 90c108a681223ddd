//! A `metrics` facade recorder whose series the OTLP metrics exporter
//! pushes: how the GenAI metrics (recorded by `agent-trace-genai` through
//! the facade), the cost counter and the span-duration histogram reach
//! OTLP, under the conventions' names, units and attribute names.
//!
//! Counters are one atomic each; gauges an atomic `f64`; histograms a
//! small lock around explicit bucket counts with the conventions' bounds
//! (`GEN_AI_HISTOGRAM_BUCKETS`, the span durations' `DURATION_BUCKETS`,
//! OpenTelemetry's default bounds for any other histogram). Series the
//! exporter reads from their source instead (the latency series, the
//! tracer's counters) are kept out, so nothing is sent twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use agent_trace_metrics::{
    ACTIVE_SPANS, COST_TOTAL, EXPORT_FAILURE_TOTAL, EXPORT_QUEUE_LENGTH, EXPORT_SUCCESS_TOTAL,
    FLOAT_COUNTER_NAMES, OPERATION_DURATION_SECONDS, SPAN_DURATION_SECONDS, SPANS_DROPPED_TOTAL,
    SPANS_TOTAL, TRACES_TOTAL, UNPRICED_CALLS_TOTAL, histogram_bucket_bounds,
};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// OpenTelemetry's default explicit bucket bounds, for histograms the
/// conventions give none for.
const DEFAULT_BOUNDS: &[f64] = &[
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// The names the exporter reads from their sources, never from the facade.
const FROM_SOURCES: &[&str] = &[
    OPERATION_DURATION_SECONDS,
    SPANS_TOTAL,
    TRACES_TOTAL,
    ACTIVE_SPANS,
    EXPORT_SUCCESS_TOTAL,
    EXPORT_FAILURE_TOTAL,
    SPANS_DROPPED_TOTAL,
    EXPORT_QUEUE_LENGTH,
];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(f(f64::from_bits(bits)).to_bits())
            });
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// A histogram's explicit buckets, count, sum, min and max.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramData {
    pub(crate) bounds: &'static [f64],
    pub(crate) counts: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

#[derive(Debug)]
struct HistogramCell(Mutex<HistogramData>);

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        self.record_many(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        if !value.is_finite() || count == 0 {
            return;
        }
        let mut h = lock(&self.0);
        let at = h.bounds.partition_point(|b| *b < value);
        let n = count as u64;
        h.counts[at] += n;
        h.count += n;
        h.sum += value * count as f64;
        h.min = h.min.min(value);
        h.max = h.max.max(value);
    }
}

#[derive(Debug, Clone)]
enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

/// The series recorded so far (shared by the recorder and the exporters
/// that push them).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    cells: Mutex<HashMap<Key, Cell>>,
}

/// A facade series at a push: its facade name, its labels, its value.
pub(crate) type Reading = (String, Vec<(String, String)>, Value);

/// One facade series' value at a push.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Counter(u64),
    /// A gauge, or a counter of fractional increments
    /// (`FLOAT_COUNTER_NAMES`) when `monotonic`.
    Gauge {
        value: f64,
        monotonic: bool,
    },
    Histogram(HistogramData),
}

impl Registry {
    /// Every series: its facade name, its labels, its value.
    pub(crate) fn snapshot(&self) -> Vec<Reading> {
        let cells: Vec<(Key, Cell)> = lock(&self.cells)
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        let mut out: Vec<Reading> = cells
            .into_iter()
            .map(|(key, cell)| {
                let name = key.name().to_owned();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                let value = match cell {
                    Cell::Counter(c) => Value::Counter(c.0.load(Ordering::Relaxed)),
                    Cell::Gauge(g) => Value::Gauge {
                        value: g.get(),
                        monotonic: FLOAT_COUNTER_NAMES.contains(&name.as_str()),
                    },
                    Cell::Histogram(h) => Value::Histogram(lock(&h.0).clone()),
                };
                (name, labels, value)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }
}

/// A `metrics` recorder for OTLP: install it as the global recorder
/// (`metrics::set_global_recorder`) before anything records, and hand
/// [`facade_metrics`](Self::facade_metrics) to
/// [`OtlpMetricsExporterBuilder::facade_metrics`](super::OtlpMetricsExporterBuilder::facade_metrics).
///
/// ```
/// use agent_trace_export::otlp::metrics::OtlpRecorder;
///
/// let recorder = OtlpRecorder::new();
/// let series = recorder.facade_metrics();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("agent_trace_llm_calls_unpriced_total", "model" => "x").increment(1);
/// });
/// assert_eq!(series.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct OtlpRecorder {
    registry: Arc<Registry>,
}

/// The series of an [`OtlpRecorder`], for the exporter.
#[derive(Debug, Clone)]
pub struct FacadeMetrics(pub(crate) Arc<Registry>);

impl FacadeMetrics {
    /// How many series were recorded so far.
    pub fn len(&self) -> usize {
        lock(&self.0.cells).len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl OtlpRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its series, as the exporter reads them.
    pub fn facade_metrics(&self) -> FacadeMetrics {
        FacadeMetrics(self.registry.clone())
    }

    /// Makes it the process's global `metrics` recorder, and answers its
    /// series.
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`](crate::ExportError::Config) when a global recorder is installed already
    /// (a process has one for good).
    pub fn install(self) -> Result<FacadeMetrics, crate::ExportError> {
        let series = self.facade_metrics();
        metrics::set_global_recorder(self).map_err(|_| {
            crate::ExportError::Config(
                "a global `metrics` recorder is installed already: the OTLP recorder cannot be"
                    .into(),
            )
        })?;
        Ok(series)
    }

    fn cell(&self, key: &Key, make: impl FnOnce() -> Cell) -> Option<Cell> {
        if FROM_SOURCES.contains(&key.name()) {
            return None;
        }
        Some(
            lock(&self.registry.cells)
                .entry(key.clone())
                .or_insert_with(make)
                .clone(),
        )
    }
}

impl Recorder for OtlpRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        match self.cell(key, || Cell::Counter(Arc::default())) {
            Some(Cell::Counter(c)) => Counter::from_arc(c),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        match self.cell(key, || Cell::Gauge(Arc::default())) {
            Some(Cell::Gauge(g)) => Gauge::from_arc(g),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let bounds = histogram_bounds(key.name());
        let make = || {
            Cell::Histogram(Arc::new(HistogramCell(Mutex::new(HistogramData {
                bounds,
                counts: vec![0; bounds.len() + 1],
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            }))))
        };
        match self.cell(key, make) {
            Some(Cell::Histogram(h)) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}

/// Ours and the GenAI histograms' bounds (the latency histogram is
/// read from its source, never from here), OpenTelemetry's default for
/// any other.
fn histogram_bounds(name: &str) -> &'static [f64] {
    histogram_bucket_bounds(name).unwrap_or(DEFAULT_BOUNDS)
}

/// The OTLP name, unit and description of a facade series: the GenAI
/// conventions' dotted names for the GenAI metrics, the Prometheus name
/// without its unit or `_total` suffix for ours, any other name as is.
pub(crate) fn otlp_name(name: &str) -> (String, &'static str, &'static str) {
    const GEN_AI: &[(&str, &str)] = &[
        (
            "gen_ai_client_operation_time_to_first_chunk",
            "gen_ai.client.operation.time_to_first_chunk",
        ),
        (
            "gen_ai_client_operation_duration",
            "gen_ai.client.operation.duration",
        ),
        ("gen_ai_client_token_usage", "gen_ai.client.token.usage"),
        (
            "gen_ai_invoke_agent_duration",
            "gen_ai.invoke_agent.duration",
        ),
        (
            "gen_ai_invoke_agent_inference_calls",
            "gen_ai.invoke_agent.inference_calls",
        ),
        (
            "gen_ai_invoke_agent_tool_calls",
            "gen_ai.invoke_agent.tool_calls",
        ),
        (
            "gen_ai_invoke_workflow_duration",
            "gen_ai.invoke_workflow.duration",
        ),
        (
            "gen_ai_invoke_workflow_inference_calls",
            "gen_ai.invoke_workflow.inference_calls",
        ),
        (
            "gen_ai_invoke_workflow_tool_calls",
            "gen_ai.invoke_workflow.tool_calls",
        ),
        (
            "gen_ai_execute_tool_duration",
            "gen_ai.execute_tool.duration",
        ),
    ];
    let (base, unit) = match name.strip_suffix("_seconds") {
        Some(b) => (b, "s"),
        None => (name, ""),
    };
    if let Some((_, dotted)) = GEN_AI.iter().find(|(p, _)| *p == base) {
        let (unit, description) = match *dotted {
            "gen_ai.client.token.usage" => ("{token}", "Tokens per GenAI operation, by type."),
            "gen_ai.client.operation.duration" => ("s", "Duration of GenAI operations."),
            "gen_ai.client.operation.time_to_first_chunk" => {
                ("s", "Time to the first chunk of a streamed GenAI response.")
            }
            d if d.ends_with("_calls") => ("{call}", "Calls per GenAI agent or workflow run."),
            _ => (unit, "Duration of GenAI agent, workflow and tool runs."),
        };
        return ((*dotted).to_owned(), unit, description);
    }
    if name == COST_TOTAL {
        return (
            "agent_trace_cost".to_owned(),
            "",
            "Cost of the priced LLM calls, in units of the currency attribute.",
        );
    }
    if name == UNPRICED_CALLS_TOTAL {
        return (
            "agent_trace_llm_calls_unpriced".to_owned(),
            "{call}",
            "LLM calls whose model the price table does not price.",
        );
    }
    if name == SPAN_DURATION_SECONDS {
        return (
            "agent_trace_span_duration".to_owned(),
            "s",
            "Span durations.",
        );
    }
    (name.to_owned(), "", "")
}

/// The attribute name of a facade label: the GenAI conventions' dotted
/// names for their labels, others as they are.
pub(crate) fn attribute_name(label: &str) -> String {
    match label {
        "gen_ai_operation_name" => "gen_ai.operation.name".into(),
        "gen_ai_provider_name" => "gen_ai.provider.name".into(),
        "gen_ai_request_model" => "gen_ai.request.model".into(),
        "gen_ai_response_model" => "gen_ai.response.model".into(),
        "gen_ai_token_type" => "gen_ai.token.type".into(),
        "gen_ai_agent_name" => "gen_ai.agent.name".into(),
        "gen_ai_tool_name" => "gen_ai.tool.name".into(),
        "gen_ai_tool_type" => "gen_ai.tool.type".into(),
        "gen_ai_workflow_name" => "gen_ai.workflow.name".into(),
        "error_type" => "error.type".into(),
        "server_address" => "server.address".into(),
        "server_port" => "server.port".into(),
        other => other.to_owned(),
    }
}
