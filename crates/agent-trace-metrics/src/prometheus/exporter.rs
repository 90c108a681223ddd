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
//! series' label text formatted once, at registration. Counters, gauges and
//! every other histogram go to the exporter's recorder unchanged.
//!
//! # Why no listener here
//!
//! Architecture invariant: only `agent-trace-export` does network I/O. So
//! this module builds and installs the recorder and leaves serving
//! `/metrics` to the application: render [`PrometheusHandle::render`] from
//! the server it already has, or use `agent-trace-export`'s
//! `install_prometheus_listener`.
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
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::Matcher;
use metrics_exporter_prometheus::formatting::{
    sanitize_description, sanitize_label_key, sanitize_label_value,
};

pub use metrics_exporter_prometheus::PrometheusBuilder;

use super::{
    BUCKETS, DURATION_BUCKETS, GEN_AI_DURATION_BUCKETS, GEN_AI_OPERATION_DURATION_SECONDS,
    GEN_AI_TOKEN_BUCKETS, GEN_AI_TOKEN_USAGE, HISTOGRAM_NAMES, bucket_index,
    describe_tracer_metrics,
};
use crate::MetricsError;

/// How often the upkeep thread of [`install_prometheus_recorder`] drains
/// values recorded into the exporter's own histograms (the application's,
/// not ours) into their buckets, bounding the memory they take between two
/// scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A `metrics-exporter-prometheus` builder with [`DURATION_BUCKETS`] set
/// for our histogram names, and the GenAI semantic conventions' buckets for
/// `gen_ai_client_operation_duration_seconds` (10 ms doubling to 81.92 s)
/// and `gen_ai_client_token_usage` (powers of 4 up to 4^13), which the
/// exporter keeps. Add your own settings (global labels, buckets for your
/// metrics) and wrap it with [`PrometheusRecorder::from_builder`].
///
/// Global labels set on the builder apply to the exporter's metrics, not
/// to our duration histograms (the builder does not reveal them).
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
    let gen_ai = [
        (GEN_AI_OPERATION_DURATION_SECONDS, GEN_AI_DURATION_BUCKETS),
        (GEN_AI_TOKEN_USAGE, GEN_AI_TOKEN_BUCKETS),
    ];
    for (name, buckets) in ours.chain(gen_ai) {
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
    counts: [AtomicU64; BUCKETS],
    /// The sum, as `f64` bits.
    sum: AtomicU64,
}

impl Default for BucketHistogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0.0f64.to_bits()),
        }
    }
}

impl BucketHistogram {
    fn add(&self, value: f64, n: u64) {
        // NaN would make the sum NaN for good; Prometheus has no use for it.
        if value.is_nan() || n == 0 {
            return;
        }
        self.counts[bucket_index(value)].fetch_add(n, Ordering::Relaxed);
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
}

#[derive(Debug, Default)]
struct Ours {
    /// By metric name, then by label text: a deterministic render order.
    series: Mutex<BTreeMap<String, BTreeMap<String, Series>>>,
    help: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ours {
    fn is_ours(name: &str) -> bool {
        HISTOGRAM_NAMES.contains(&name)
    }

    fn register(&self, key: &Key) -> Histogram {
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
        let mut all = lock(&self.series);
        let by_labels = all.entry(key.name().to_owned()).or_default();
        let series = by_labels.entry(labels.clone()).or_insert_with(|| Series {
            labels,
            histogram: Arc::default(),
        });
        Histogram::from_arc(series.histogram.clone())
    }

    /// Appends the text of our histograms to `out`.
    fn render_into(&self, out: &mut String) {
        let help = lock(&self.help);
        let all = lock(&self.series);
        for (name, by_labels) in all.iter() {
            if let Some(h) = help.get(name) {
                let _ = writeln!(out, "# HELP {name} {h}");
            }
            let _ = writeln!(out, "# TYPE {name} histogram");
            for s in by_labels.values() {
                let sep = if s.labels.is_empty() { "" } else { "," };
                let mut cumulative = 0u64;
                for (i, c) in s.histogram.counts.iter().enumerate() {
                    cumulative += c.load(Ordering::Relaxed);
                    match DURATION_BUCKETS.get(i) {
                        Some(le) => {
                            let _ = writeln!(
                                out,
                                "{name}_bucket{{{}{sep}le=\"{le}\"}} {cumulative}",
                                s.labels
                            );
                        }
                        None => {
                            let _ = writeln!(
                                out,
                                "{name}_bucket{{{}{sep}le=\"+Inf\"}} {cumulative}",
                                s.labels
                            );
                        }
                    }
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

/// The Prometheus recorder of agent-trace: `metrics-exporter-prometheus`'s
/// recorder for counters, gauges and the application's histograms, and our
/// own bucket histograms for [`HISTOGRAM_NAMES`] (see the module docs).
///
/// Install it with [`install_prometheus_recorder`], or yourself with
/// `metrics::set_global_recorder`; render its [`PrometheusHandle`].
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
        self.inner.describe_gauge(key, unit, description);
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
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if Ours::is_ours(key.name()) {
            self.ours.register(key)
        } else {
            self.inner.register_histogram(key, metadata)
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
        self.ours.render_into(&mut out);
        out
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
    fn a_batch_is_one_add_per_bucket_and_keeps_the_sum() {
        let h = BucketHistogram::default();
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
}
