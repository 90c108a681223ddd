//! A Prometheus recorder: `metrics-exporter-prometheus` for everything,
//! except our duration histograms, which are kept and rendered here.
//!
//! # Why our histograms are not the exporter's
//!
//! The exporter keeps every value recorded into a histogram until the next
//! render (with an `Instant::now()` each), and hands `record_many(v, n)` to
//! `record(v)` `n` times. Our series hand over batches of bucket means (see
//! the parent module), so through the exporter a batch of a million values
//! would become a million appends. [`PrometheusRecorder`] therefore keeps
//! the histograms named in [`HISTOGRAM_NAMES`] itself, as one atomic
//! counter per bucket of [`DURATION_BUCKETS`] and an atomic sum: a batch is
//! one add per bucket, a single value one bucket add and one sum update,
//! and rendering walks fixed-size counters (no values to drain) with each
//! series' label text formatted once, at registration.
//!
//! The GenAI histograms of [`GEN_AI_HISTOGRAM_BUCKETS`] (operation
//! durations, token usage, agent and tool durations...) are kept the same
//! way, each with the bucket bounds the conventions give for it: they are
//! recorded at every model call, tool call and agent invocation, and
//! through the exporter each value was an allocation now and then (its
//! value list grows by blocks) and memory held until the next render or
//! upkeep, so that a recorder installed without its upkeep thread
//! (`metrics::set_global_recorder(PrometheusRecorder::new())`) grew for as
//! long as nobody scraped it (the agent workload bench: page faults on the
//! application thread at every block). Counters, gauges and
//! every other histogram go to the exporter's recorder unchanged, except
//! the gauges named in [`FLOAT_COUNTER_NAMES`] (the cost counter): the
//! facade's counters take integers, so a counter with fractional
//! increments is a facade gauge that only goes up, kept here as an atomic
//! `f64` and rendered with `# TYPE .. counter`, since that is what it is.
//!
//! # Why no listener here
//!
//! Architecture invariant: only `agent-trace-export` does network I/O. So
//! this module builds and installs the recorder and leaves serving
//! `/metrics` to the application: render [`PrometheusHandle::render`] from
//! the server it already has, or use `agent-trace-export`'s
//! `install_prometheus_listener`.
//!
//! # OpenMetrics and exemplars
//!
//! [`PrometheusHandle::render_as`] also speaks OpenMetrics 1.0
//! ([`ExpositionFormat::OpenMetrics`], chosen from a scrape's `Accept`
//! header by [`ExpositionFormat::from_accept`]), the format in which
//! Prometheus reads exemplars: each `_bucket` line of our histograms
//! carries the newest exemplar recorded in that bucket (a value recorded
//! with a trace id; see the parent module) as `# {trace_id="..."} value
//! timestamp`, with `span_id="..."` beside the trace id when the value was
//! measured on a known span (the latency processor and the `tracing`
//! layer give both). The rest, which the exporter renders in the classic format
//! only, is carried over line by line: counter families lose their
//! `_total` in `# TYPE` and `# HELP` (samples keep it, or gain it),
//! `untyped` becomes `unknown`, blank lines go, and `# EOF` ends the text.
//! The classic format stays the default and is unchanged.
//!
//! # Why buckets, not summaries
//!
//! Bucket histograms are rendered by walking counters (a summary re-sorts a
//! window of quantile sketches per render), and Prometheus can aggregate
//! them across instances with `histogram_quantile`, which summaries do not
//! allow.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::{
    Counter, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_exporter_prometheus::Matcher;
use metrics_exporter_prometheus::formatting::{
    sanitize_description, sanitize_label_key, sanitize_label_value,
};

pub use metrics_exporter_prometheus::PrometheusBuilder;

use super::{
    BUCKETS, BucketExemplars, DURATION_BUCKETS, FLOAT_COUNTER_NAMES, GEN_AI_HISTOGRAM_BUCKETS,
    HISTOGRAM_NAMES, bucket_index, describe_tracer_metrics, hand_over_exemplars,
    histogram_bucket_bounds,
};
use crate::{Exemplar, MetricsError};

/// How often the upkeep thread of [`install_prometheus_recorder`] drains
/// values recorded into the exporter's own histograms (the application's,
/// not ours) into their buckets, bounding the memory they take between two
/// scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A `metrics-exporter-prometheus` builder with [`DURATION_BUCKETS`] set
/// for our histogram names, and the GenAI semantic conventions' buckets for
/// each of [`GEN_AI_HISTOGRAM_BUCKETS`] (for a recorder of the builder's
/// own; [`PrometheusRecorder`] keeps those histograms itself, with the same
/// buckets). Add your own settings (global labels, buckets for your
/// metrics) and wrap it with [`PrometheusRecorder::from_builder`].
///
/// Global labels set on the builder apply to the exporter's metrics, not
/// to our duration and GenAI histograms (the builder does not reveal
/// them).
///
/// ```
/// use agent_trace_metrics::{PrometheusRecorder, prometheus_builder};
///
/// let recorder = PrometheusRecorder::from_builder(prometheus_builder());
/// let _handle = recorder.handle();
/// ```
pub fn prometheus_builder() -> PrometheusBuilder {
    let mut builder = PrometheusBuilder::new();
    let ours = HISTOGRAM_NAMES.iter().map(|name| (*name, DURATION_BUCKETS));
    for (name, buckets) in ours.chain(GEN_AI_HISTOGRAM_BUCKETS.iter().copied()) {
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.into()), buckets) {
            Ok(b) => b,
            // Only an empty bucket list is refused; ours are non-empty constants.
            Err(e) => unreachable!("bucket configuration rejected: {e}"),
        };
    }
    builder
}

/// One of our histograms: a counter per bucket and the sum of the values.
#[derive(Debug)]
struct BucketHistogram {
    /// The buckets' upper bounds (`le`), `+Inf` left out.
    bounds: Bounds,
    /// One per bound, and the last for `+Inf`.
    counts: Box<[AtomicU64]>,
    /// The sum, as `f64` bits.
    sum: AtomicU64,
}

impl BucketHistogram {
    fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.get().len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum: AtomicU64::new(0.0f64.to_bits()),
        }
    }

    /// The first bound `value` does not exceed, or the last bucket
    /// (`+Inf`).
    fn index(&self, value: f64) -> usize {
        match self.bounds {
            Bounds::Durations => bucket_index(value),
            Bounds::GenAi(bounds) => bounds.iter().map(|&b| usize::from(value > b)).sum(),
        }
    }

    fn add(&self, value: f64, n: u64) {
        // NaN would make the sum NaN for good; Prometheus has no use for it.
        if value.is_nan() || n == 0 {
            return;
        }
        self.counts[self.index(value)].fetch_add(n, Ordering::Relaxed);
        let add = value * n as f64;
        // The closure never returns `None`, so this cannot fail.
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + add).to_bits())
            });
    }
}

impl HistogramFn for BucketHistogram {
    fn record(&self, value: f64) {
        self.add(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.add(value, count as u64);
    }
}

/// One series of one of our histograms, with its label text ready.
#[derive(Debug)]
struct Series {
    /// `k="v",k2="v2"` (sanitised), empty without labels.
    labels: String,
    histogram: Arc<BucketHistogram>,
    /// The newest exemplar per bucket, published by the `LatencyMetrics`
    /// series (or tracer metrics) that registered this histogram; `None`
    /// for the GenAI histograms, which carry none.
    exemplars: Option<Arc<BucketExemplars>>,
}

/// One of our float counters (see the module docs): an `f64`, as bits,
/// that only goes up.
#[derive(Debug, Default)]
struct FloatCounter(AtomicU64);

impl GaugeFn for FloatCounter {
    fn increment(&self, value: f64) {
        if value.is_finite() && value > 0.0 {
            // Relaxed: the value orders nothing but itself.
            let _ = self
                .0
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    Some((f64::from_bits(bits) + value).to_bits())
                });
        }
    }

    /// Ignored: a counter never goes down.
    fn decrement(&self, _value: f64) {}

    /// Sets the total, as `Counter::absolute` does for integer counters.
    fn set(&self, value: f64) {
        if value.is_finite() && value >= 0.0 {
            self.0.store(value.to_bits(), Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Default)]
struct Ours {
    /// By metric name, then by label text: a deterministic render order.
    series: Mutex<BTreeMap<String, BTreeMap<String, Series>>>,
    /// [`FLOAT_COUNTER_NAMES`] series, by name then by label text.
    float_counters: Mutex<BTreeMap<String, BTreeMap<String, Arc<FloatCounter>>>>,
    help: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bucket bounds of one of the histograms kept here.
#[derive(Clone, Copy, Debug)]
enum Bounds {
    /// [`DURATION_BUCKETS`], for [`HISTOGRAM_NAMES`]: with exemplars, and
    /// a faster index.
    Durations,
    /// A GenAI histogram's, from [`GEN_AI_HISTOGRAM_BUCKETS`].
    GenAi(&'static [f64]),
}

impl Bounds {
    fn get(self) -> &'static [f64] {
        match self {
            Self::Durations => DURATION_BUCKETS,
            Self::GenAi(bounds) => bounds,
        }
    }
}

/// The bucket bounds of the histograms kept here
/// ([`histogram_bucket_bounds`]); `None` for any other histogram (the
/// exporter's).
fn bounds_of(name: &str) -> Option<Bounds> {
    if HISTOGRAM_NAMES.contains(&name) {
        return Some(Bounds::Durations);
    }
    histogram_bucket_bounds(name).map(Bounds::GenAi)
}

impl Ours {
    fn is_ours(name: &str) -> bool {
        bounds_of(name).is_some()
    }

    fn is_float_counter(name: &str) -> bool {
        FLOAT_COUNTER_NAMES.contains(&name)
    }

    /// `k="v",k2="v2"` (sanitised), empty without labels.
    fn label_text(key: &Key) -> String {
        let mut labels = String::new();
        for (i, l) in key.labels().enumerate() {
            if i > 0 {
                labels.push(',');
            }
            let _ = write!(
                labels,
                "{}=\"{}\"",
                sanitize_label_key(l.key()),
                sanitize_label_value(l.value())
            );
        }
        labels
    }

    fn register_float_counter(&self, key: &Key) -> Gauge {
        let labels = Self::label_text(key);
        let mut all = lock(&self.float_counters);
        let counter = all
            .entry(key.name().to_owned())
            .or_default()
            .entry(labels)
            .or_default();
        Gauge::from_arc(counter.clone())
    }

    /// Registers a series of one of our histograms (`bounds`, from
    /// [`bounds_of`]).
    fn register(&self, key: &Key, bounds: Bounds) -> Histogram {
        let labels = Self::label_text(key);
        let mut all = lock(&self.series);
        let by_labels = all.entry(key.name().to_owned()).or_default();
        let series = by_labels.entry(labels.clone()).or_insert_with(|| Series {
            labels,
            histogram: Arc::new(BucketHistogram::new(bounds)),
            exemplars: matches!(bounds, Bounds::Durations).then(Arc::default),
        });
        // For the caller of this registration on this thread (see the
        // parent module's docs on exemplars).
        if let Some(exemplars) = &series.exemplars {
            hand_over_exemplars(exemplars.clone());
        }
        Histogram::from_arc(series.histogram.clone())
    }

    /// Appends the text of our float counters to `out`.
    fn render_float_counters_into(&self, out: &mut String) {
        let help = lock(&self.help);
        let all = lock(&self.float_counters);
        for (name, by_labels) in all.iter() {
            if let Some(h) = help.get(name) {
                let _ = writeln!(out, "# HELP {name} {h}");
            }
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, counter) in by_labels {
                let value = f64::from_bits(counter.0.load(Ordering::Relaxed));
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        }
    }

    /// Appends the text of our histograms to `out`, with an exemplar on
    /// each bucket line that has one when `exemplars` is set (OpenMetrics).
    fn render_into(&self, out: &mut String, exemplars: bool) {
        let help = lock(&self.help);
        let all = lock(&self.series);
        for (name, by_labels) in all.iter() {
            if let Some(h) = help.get(name) {
                let _ = writeln!(out, "# HELP {name} {h}");
            }
            let _ = writeln!(out, "# TYPE {name} histogram");
            for s in by_labels.values() {
                let sep = if s.labels.is_empty() { "" } else { "," };
                let held = match &s.exemplars {
                    Some(e) if exemplars => e.get(),
                    _ => [None; BUCKETS],
                };
                let mut cumulative = 0u64;
                for (i, c) in s.histogram.counts.iter().enumerate() {
                    let count = c.load(Ordering::Relaxed);
                    cumulative += count;
                    match s.histogram.bounds.get().get(i) {
                        Some(le) => {
                            let _ = write!(
                                out,
                                "{name}_bucket{{{}{sep}le=\"{le}\"}} {cumulative}",
                                s.labels
                            );
                        }
                        None => {
                            let _ = write!(
                                out,
                                "{name}_bucket{{{}{sep}le=\"+Inf\"}} {cumulative}",
                                s.labels
                            );
                        }
                    }
                    // Shown only on a bucket that counts values of its own
                    // (counts are handed over before exemplars, so one that
                    // has an exemplar normally counts its value already).
                    if let Some(e) = held.get(i).copied().flatten().filter(|_| count > 0) {
                        write_exemplar(out, &e);
                    }
                    out.push('\n');
                }
                let sum = f64::from_bits(s.histogram.sum.load(Ordering::Relaxed));
                let braces = |out: &mut String, suffix: &str, v: &dyn std::fmt::Display| {
                    if s.labels.is_empty() {
                        let _ = writeln!(out, "{name}_{suffix} {v}");
                    } else {
                        let _ = writeln!(out, "{name}_{suffix}{{{}}} {v}", s.labels);
                    }
                };
                braces(out, "sum", &sum);
                // The count is the +Inf bucket, read above, so the two agree.
                braces(out, "count", &cumulative);
            }
        }
    }
}

/// ` # {trace_id="...",span_id="..."} value timestamp`: an OpenMetrics
/// exemplar (the span id when known), the timestamp in seconds since the
/// epoch.
fn write_exemplar(out: &mut String, e: &Exemplar) {
    let nanos = e.unix_nanos();
    let _ = write!(out, " # {{trace_id=\"{:032x}\"", e.trace_id());
    // The span too, when the value was measured on a known one (48
    // characters of labels in all: OpenMetrics allows 128).
    if let Some(span_id) = e.span_id() {
        let _ = write!(out, ",span_id=\"{span_id:016x}\"");
    }
    let _ = write!(
        out,
        "}} {} {}.{:09}",
        e.value(),
        nanos / 1_000_000_000,
        nanos % 1_000_000_000
    );
}

/// Copies classic exposition text to `out` as OpenMetrics (see the module
/// docs): families as they come, renamed where OpenMetrics wants it.
fn classic_to_openmetrics(text: &str, out: &mut String) {
    // The HELP line comes before the TYPE line that says whether the
    // family is a counter, which decides its name: hold it until then.
    let mut help: Option<(&str, &str)> = None;
    // The current counter family's sample name and what it becomes.
    let mut counter: Option<(&str, String)> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (family, kind) = match kind.trim() {
                "counter" => {
                    let family = name.strip_suffix("_total").unwrap_or(name);
                    counter = Some((name, format!("{family}_total")));
                    (family, "counter")
                }
                "untyped" => {
                    counter = None;
                    (name, "unknown")
                }
                other => {
                    counter = None;
                    (name, other)
                }
            };
            if let Some((help_name, text)) = help.take()
                && help_name == name
            {
                out.push_str("# HELP ");
                out.push_str(family);
                out.push(' ');
                escape_help(text, out);
                out.push('\n');
            }
            let _ = writeln!(out, "# TYPE {family} {kind}");
            continue;
        }
        if line.starts_with('#') {
            // Other comments have no place in OpenMetrics.
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        match &counter {
            Some((name, renamed)) if line[..name_end] == **name => {
                out.push_str(renamed);
                out.push_str(&line[name_end..]);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
}

/// Classic HELP text (`\\` and `\n` escaped) as OpenMetrics HELP text,
/// which escapes `"` too.
fn escape_help(text: &str, out: &mut String) {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// The text formats a [`PrometheusHandle`] renders.
///
/// ```
/// use agent_trace_metrics::ExpositionFormat;
///
/// // What Prometheus sends.
/// let prometheus = "application/openmetrics-text;version=1.0.0,\
///     application/openmetrics-text;version=0.0.1;q=0.75,\
///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert_eq!(ExpositionFormat::from_accept(prometheus), ExpositionFormat::OpenMetrics);
/// assert_eq!(ExpositionFormat::from_accept("*/*"), ExpositionFormat::Text);
/// assert_eq!(
///     ExpositionFormat::OpenMetrics.content_type(),
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExpositionFormat {
    /// The Prometheus text format 0.0.4, without exemplars (the default).
    #[default]
    Text,
    /// OpenMetrics 1.0.0 text: `# EOF` at the end, counters as `_total`
    /// samples of a family without the suffix, and exemplars on our
    /// histograms' bucket lines.
    OpenMetrics,
}

impl ExpositionFormat {
    /// The format a scrape asks for in its `Accept` header: OpenMetrics
    /// when `application/openmetrics-text` is listed with a quality above
    /// zero and at least that of `text/plain` (or `text/*`, `*/*`); the
    /// text format otherwise, also for a header that cannot be read. Any
    /// version parameter is taken (Prometheus lists 1.0.0 and 0.0.1; the
    /// output is 1.0.0, which Prometheus reads under either).
    pub fn from_accept(accept: &str) -> Self {
        let (mut openmetrics, mut text) = (0.0f64, 0.0f64);
        for range in accept.split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or_default().trim();
            let mut q = 1.0;
            for p in params {
                if let Some((k, v)) = p.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    // An unreadable quality makes the range unacceptable.
                    q = v
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0);
                }
            }
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                openmetrics = openmetrics.max(q);
            } else if media.eq_ignore_ascii_case("text/plain")
                || media.eq_ignore_ascii_case("text/*")
                || media == "*/*"
            {
                text = text.max(q);
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The Prometheus recorder of agent-trace: `metrics-exporter-prometheus`'s
/// recorder for counters, gauges and the application's histograms, and our
/// own bucket histograms for [`HISTOGRAM_NAMES`] and the GenAI histograms
/// of [`GEN_AI_HISTOGRAM_BUCKETS`] (see the module docs).
///
/// Install it with [`install_prometheus_recorder`], or yourself with
/// `metrics::set_global_recorder`; render its [`PrometheusHandle`].
/// Installed yourself, it has no upkeep thread: the application's own
/// histograms (not ours, not the GenAI ones, which are counters here) keep
/// their values until a render, so render or call
/// [`run_upkeep`](PrometheusHandle::run_upkeep) every few seconds when
/// nothing scrapes it.
///
/// ```
/// use agent_trace_metrics::{LatencyMetrics, PrometheusRecorder};
///
/// let recorder = PrometheusRecorder::new();
/// let handle = recorder.handle();
/// // A local recorder for the example; applications install it globally.
/// let metrics = metrics::with_local_recorder(&recorder, || {
///     let m = LatencyMetrics::new();
///     m.record_labelled("tool_call", &[("tool", "web_search")], 0.3).map(|()| m)
/// })?;
/// let text = handle.render(); // publishes pending values first
/// assert!(text.contains(
///     r#"agent_trace_operation_duration_seconds_bucket{operation="tool_call",tool="web_search",le="0.5"} 1"#
/// ));
/// # drop(metrics);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PrometheusRecorder {
    inner: metrics_exporter_prometheus::PrometheusRecorder,
    ours: Arc<Ours>,
}

impl Default for PrometheusRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusRecorder {
    /// A recorder built from [`prometheus_builder`].
    pub fn new() -> Self {
        Self::from_builder(prometheus_builder())
    }

    /// A recorder whose exporter part is built from `builder` (see
    /// [`prometheus_builder`] for what applies to our histograms).
    pub fn from_builder(builder: PrometheusBuilder) -> Self {
        Self {
            inner: builder.build_recorder(),
            ours: Arc::default(),
        }
    }

    /// The handle that renders this recorder's metrics.
    pub fn handle(&self) -> PrometheusHandle {
        PrometheusHandle {
            inner: self.inner.handle(),
            ours: self.ours.clone(),
        }
    }
}

impl Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if Ours::is_float_counter(key.as_str()) {
            lock(&self.ours.help)
                .insert(key.as_str().to_owned(), sanitize_description(&description));
        } else {
            self.inner.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if Ours::is_ours(key.as_str()) {
            lock(&self.ours.help)
                .insert(key.as_str().to_owned(), sanitize_description(&description));
        } else {
            self.inner.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if Ours::is_float_counter(key.name()) {
            self.ours.register_float_counter(key)
        } else {
            self.inner.register_gauge(key, metadata)
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match bounds_of(key.name()) {
            Some(bounds) => self.ours.register(key, bounds),
            None => self.inner.register_histogram(key, metadata),
        }
    }
}

/// Renders a [`PrometheusRecorder`]'s metrics in the Prometheus text
/// exposition format. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrometheusHandle {
    inner: metrics_exporter_prometheus::PrometheusHandle,
    ours: Arc<Ours>,
}

impl PrometheusHandle {
    /// The `/metrics` body: first [`publish`](crate::publish)es the values
    /// every `LatencyMetrics` holds, then renders the exporter's metrics
    /// followed by our histograms.
    ///
    /// # Performance
    ///
    /// Our histograms are a walk over fixed counters with preformatted
    /// labels; `benches/latency.rs` (`prometheus_render_100_series`)
    /// measures it next to the exporter rendering the same histograms.
    pub fn render(&self) -> String {
        crate::publish();
        let mut out = self.inner.render();
        self.ours.render_into(&mut out, false);
        self.ours.render_float_counters_into(&mut out);
        out
    }

    /// The `/metrics` body in `format`: [`render`](Self::render) for
    /// [`ExpositionFormat::Text`]; for [`ExpositionFormat::OpenMetrics`]
    /// the same metrics in OpenMetrics 1.0.0, our histograms' bucket lines
    /// carrying their exemplars, ending with `# EOF` (see the module docs).
    /// Serve it with [`ExpositionFormat::content_type`].
    ///
    /// ```
    /// use agent_trace_metrics::{ExpositionFormat, LatencyMetrics, PrometheusRecorder};
    ///
    /// let recorder = PrometheusRecorder::new();
    /// let handle = recorder.handle();
    /// // A local recorder for the example; applications install it globally.
    /// let metrics = metrics::with_local_recorder(&recorder, || {
    ///     let m = LatencyMetrics::new();
    ///     m.record_with_exemplar("llm_call", 4.2, 0x4bf92f3577b34da6a3ce929d0e0e4736)
    ///         .map(|()| m)
    /// })?;
    /// let text = handle.render_as(ExpositionFormat::OpenMetrics);
    /// assert!(text.contains(
    ///     r#"agent_trace_operation_duration_seconds_bucket{operation="llm_call",le="5"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 4.2 "#
    /// ));
    /// assert!(text.ends_with("# EOF\n"));
    /// # drop(metrics);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn render_as(&self, format: ExpositionFormat) -> String {
        match format {
            ExpositionFormat::Text => self.render(),
            ExpositionFormat::OpenMetrics => {
                crate::publish();
                let mut classic = self.inner.render();
                self.ours.render_float_counters_into(&mut classic);
                let mut out = String::with_capacity(classic.len() + 4096);
                classic_to_openmetrics(&classic, &mut out);
                self.ours.render_into(&mut out, true);
                out.push_str("# EOF\n");
                out
            }
        }
    }

    /// Drains the values recorded into the exporter's own histograms (the
    /// application's) into their buckets; [`install_prometheus_recorder`]
    /// runs it every 5 s.
    pub fn run_upkeep(&self) {
        self.inner.run_upkeep();
    }
}

/// Installs a [`PrometheusRecorder`] as the global `metrics` recorder,
/// describes our metrics ([`describe_tracer_metrics`]) and starts a thread
/// that runs the exporter's upkeep every 5 s. Render the returned handle
/// from your `/metrics` endpoint.
///
/// Call it before creating the [`LatencyMetrics`](crate::LatencyMetrics)
/// series it should see (series register with the recorder in force when
/// they are created).
///
/// # Errors
///
/// [`MetricsError::RecorderAlreadyInstalled`] when a global recorder is
/// already installed; [`MetricsError::ThreadSpawn`] when the upkeep thread
/// cannot start.
pub fn install_prometheus_recorder() -> Result<PrometheusHandle, MetricsError> {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::RecorderAlreadyInstalled)?;
    start_upkeep(handle)
}

/// [`install_prometheus_recorder`] with a second recorder beside ours (a
/// [`FanoutRecorder`](crate::FanoutRecorder) of both becomes the global
/// recorder): every metric recorded through the `metrics` facade reaches
/// both, as when the same metrics are served to Prometheus and pushed over
/// OTLP.
///
/// # Errors
///
/// As [`install_prometheus_recorder`].
pub fn install_prometheus_recorder_beside(
    other: impl Recorder + Send + Sync + 'static,
) -> Result<PrometheusHandle, MetricsError> {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    metrics::set_global_recorder(crate::FanoutRecorder::new(recorder, other))
        .map_err(|_| MetricsError::RecorderAlreadyInstalled)?;
    start_upkeep(handle)
}

/// Describes our metrics and starts the upkeep thread of `handle`.
fn start_upkeep(handle: PrometheusHandle) -> Result<PrometheusHandle, MetricsError> {
    describe_tracer_metrics();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("agent-trace-prometheus-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| MetricsError::ThreadSpawn {
            thread: "agent-trace-prometheus-upkeep",
            reason: e.to_string(),
        })?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        GEN_AI_INVOKE_AGENT_DURATION_SECONDS, GEN_AI_INVOKE_WORKFLOW_TOOL_CALLS,
        GEN_AI_OPERATION_DURATION_SECONDS, GEN_AI_TOKEN_USAGE,
    };

    #[test]
    fn the_builder_accepts_our_buckets() {
        drop(super::prometheus_builder().build_recorder());
    }

    #[test]
    fn gen_ai_histograms_get_the_conventions_buckets() {
        let recorder = PrometheusRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!(GEN_AI_OPERATION_DURATION_SECONDS, "gen_ai_operation_name" => "chat")
                .record(0.015);
            metrics::histogram!(GEN_AI_TOKEN_USAGE, "gen_ai_token_type" => "input").record(100.0);
        });
        let text = recorder.handle().render();
        let has = |line: &str| text.lines().any(|l| l == line);
        let duration = GEN_AI_OPERATION_DURATION_SECONDS;
        for (le, n) in [("0.01", 0), ("0.02", 1), ("81.92", 1), ("+Inf", 1)] {
            let line =
                format!(r#"{duration}_bucket{{gen_ai_operation_name="chat",le="{le}"}} {n}"#);
            assert!(has(&line), "{line} missing from\n{text}");
        }
        for (le, n) in [("64", 0), ("256", 1), ("67108864", 1)] {
            let line = format!(
                r#"{GEN_AI_TOKEN_USAGE}_bucket{{gen_ai_token_type="input",le="{le}"}} {n}"#
            );
            assert!(has(&line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn every_gen_ai_histogram_renders_as_a_histogram_with_its_buckets() {
        let recorder = PrometheusRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            for (name, _) in GEN_AI_HISTOGRAM_BUCKETS {
                metrics::histogram!(*name).record(3.0);
            }
        });
        let text = recorder.handle().render();
        for (name, _) in GEN_AI_HISTOGRAM_BUCKETS {
            let line = format!("# TYPE {name} histogram");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        // Two boundaries the conventions give, by hand: agents from 0.1 s
        // doubling (3.0 falls in le=3.2), workflow call counts 0, 1, 2, 4.
        let agent = GEN_AI_INVOKE_AGENT_DURATION_SECONDS;
        assert!(
            text.contains(&format!(r#"{agent}_bucket{{le="1.6"}} 0"#)),
            "{text}"
        );
        assert!(
            text.contains(&format!(r#"{agent}_bucket{{le="3.2"}} 1"#)),
            "{text}"
        );
        let calls = GEN_AI_INVOKE_WORKFLOW_TOOL_CALLS;
        assert!(
            text.contains(&format!(r#"{calls}_bucket{{le="2"}} 0"#)),
            "{text}"
        );
        assert!(
            text.contains(&format!(r#"{calls}_bucket{{le="4"}} 1"#)),
            "{text}"
        );
    }

    #[test]
    fn a_batch_is_one_add_per_bucket_and_keeps_the_sum() {
        let h = BucketHistogram::new(Bounds::Durations);
        h.record_many(0.3, 1_000_000);
        h.record(7.0);
        h.record(f64::NAN);
        assert_eq!(
            h.counts[bucket_index(0.3)].load(Ordering::Relaxed),
            1_000_000
        );
        assert_eq!(h.counts[bucket_index(7.0)].load(Ordering::Relaxed), 1);
        let sum = f64::from_bits(h.sum.load(Ordering::Relaxed));
        assert!((sum - 300_007.0).abs() < 1e-6, "{sum}");
    }

    /// The GenAI histograms are counters per bucket here, not value lists
    /// in the exporter that grow until a render: the exporter's own text
    /// never has them, and a batch of a million is one add.
    #[test]
    fn gen_ai_histograms_are_bucket_counters_kept_here() {
        let recorder = PrometheusRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let tokens = metrics::histogram!(GEN_AI_TOKEN_USAGE, "gen_ai_token_type" => "input");
            tokens.record_many(300.0, 1_000_000);
            tokens.record(5.0);
            tokens.record(f64::NAN);
        });
        let exporters_own = recorder.inner.handle().render();
        assert!(
            !exporters_own.contains(GEN_AI_TOKEN_USAGE),
            "{exporters_own}"
        );
        let text = recorder.handle().render();
        let has = |line: &str| text.lines().any(|l| l == line);
        // Powers of 4: 5 falls in le=16, 300 in le=1024.
        for (le, n) in [
            ("4", 0),
            ("16", 1),
            ("256", 1),
            ("1024", 1_000_001),
            ("+Inf", 1_000_001),
        ] {
            let line = format!(
                r#"{GEN_AI_TOKEN_USAGE}_bucket{{gen_ai_token_type="input",le="{le}"}} {n}"#
            );
            assert!(has(&line), "{line} missing from\n{text}");
        }
        assert!(
            has(&format!(
                r#"{GEN_AI_TOKEN_USAGE}_sum{{gen_ai_token_type="input"}} 300000005"#
            )),
            "{text}"
        );
        assert!(
            has(&format!(
                r#"{GEN_AI_TOKEN_USAGE}_count{{gen_ai_token_type="input"}} 1000001"#
            )),
            "{text}"
        );
    }
}
