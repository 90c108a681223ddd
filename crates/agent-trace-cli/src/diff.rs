//! Two sets of runs compared operation by operation: what `diff` prints
//! and what the report's comparison shows.
//!
//! # What is compared
//!
//! Each side (the baseline, and the current run) is read once, streaming,
//! as `stats` reads: per row, a latency sketch (the `LatencyMetrics` one
//! `stats` uses, for p50/p95/p99), bucket counts for the rank tests, and
//! running moments (count, mean, spread) of the duration, the tokens and
//! the cost, never the spans. The rows are:
//!
//! - one per operation: the span name, and for GenAI spans whose name does
//!   not already say it, the tool (`gen_ai.tool.name`), agent
//!   (`gen_ai.agent.name`) or model (`gen_ai.request.model`) too, as in
//!   `llm_call [model=gpt-4o]` (spans named as the GenAI conventions name
//!   them, `chat gpt-4o`, already are one row per model). Tokens and cost
//!   are the span's own attributes, per span.
//! - [`ALL_TRACES`], `(traces)`: one value per trace (its duration from
//!   first start to last end, whether any span failed, its tokens and cost
//!   summed as `list` sums them, without counting an agent span's totals
//!   twice); and `(traces) ROOT` per root span name when there are
//!   several. This is the cost per run that a budget is about. It needs a
//!   summary per trace while reading, as `list` does.
//!
//! # When a change is flagged
//!
//! Only when it is larger than the noise of the samples: see
//! [`significance`](crate::significance) for the tests. A metric is tested
//! when both sides have at least [`DiffOptions::min_count`] values; the
//! p-values of all the tests of a run are adjusted together (Holm), so
//! that two samples of one distribution flag nothing in at least 95% of
//! runs at the default level, however many operations there are. The
//! verdict says why a change was not flagged: too few samples, or within
//! noise with its adjusted p-value. Counts are not sampled (a count is
//! what it is), so they carry no test.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::Error;
use crate::format::{Paint, format_seconds, name_list, pad, sgr};
use crate::otlp::OtlpSpan;
use crate::pricing::Pricing;
use crate::reader::{Malformed, Origin, ReadStats};
use crate::significance::{
    Buckets, Moments, fisher_exact, holm, mann_whitney, quantile_exceedance, welch,
};
use crate::source::SpanSource;
use crate::stats::{DEFAULT_MAX_OPERATIONS, Histogram, LatencyStats, OTHER_OPERATIONS};
use crate::summary::{SpanCurrency, SpanUsage, Summaries};

/// The row of every trace, one value per trace.
pub const ALL_TRACES: &str = "(traces)";
/// The start of the per-root-span rows: `(traces) agent_task`.
pub const TRACES_OF_ROOT: &str = "(traces) ";

const TOOL_NAME: &str = "gen_ai.tool.name";
const AGENT_NAME: &str = "gen_ai.agent.name";
const REQUEST_MODEL: &str = "gen_ai.request.model";

/// How a comparison is made.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffOptions {
    /// The family-wise level: the chance that a run of two samples of one
    /// distribution flags anything. Default 0.05.
    pub alpha: f64,
    /// The fewest values a side needs for a metric to be tested. Default
    /// 20.
    pub min_count: u64,
    /// The most distinct operations a side tracks; spans of further names
    /// count under [`OTHER_OPERATIONS`]. Default
    /// [`DEFAULT_MAX_OPERATIONS`].
    pub max_operations: usize,
    /// How spans with tokens but no cost attribute are priced (both
    /// sides alike). Default: the built-in price table.
    pub pricing: Pricing,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            min_count: 20,
            max_operations: DEFAULT_MAX_OPERATIONS,
            pricing: Pricing::default(),
        }
    }
}

/// What a row compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// Traces, one value each: [`ALL_TRACES`] and `(traces) ROOT`.
    Traces,
    /// Spans of one operation, one value each.
    Operation,
}

/// A compared quantity; its name is what `--fail-on` and the output call
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// How many spans (or traces).
    Count,
    /// Median duration.
    P50,
    /// 95th percentile duration.
    P95,
    /// 99th percentile duration.
    P99,
    /// Mean duration.
    Mean,
    /// Error rate: the share of spans with an error status (of traces with
    /// an error span).
    Errors,
    /// Mean input tokens, of the spans (traces) that carry them.
    TokensIn,
    /// Mean output tokens.
    TokensOut,
    /// Mean cost.
    Cost,
}

impl Metric {
    /// Every metric, in output order.
    pub const ALL: [Metric; 9] = [
        Self::Count,
        Self::P50,
        Self::P95,
        Self::P99,
        Self::Mean,
        Self::Errors,
        Self::TokensIn,
        Self::TokensOut,
        Self::Cost,
    ];

    /// `count`, `p50`, `p95`, `p99`, `mean`, `errors`, `tokens.in`,
    /// `tokens.out`, `cost`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::P50 => "p50",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::Mean => "mean",
            Self::Errors => "errors",
            Self::TokensIn => "tokens.in",
            Self::TokensOut => "tokens.out",
            Self::Cost => "cost",
        }
    }

    /// The metric named `name` (as [`name`](Self::name) writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the metric is a duration (in seconds).
    pub fn is_latency(self) -> bool {
        matches!(self, Self::P50 | Self::P95 | Self::P99 | Self::Mean)
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One side of one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideStats {
    /// How many spans (traces).
    pub count: u64,
    /// Mean duration, seconds (exact).
    pub mean: f64,
    /// Median duration, seconds (within the sketch's 1%).
    pub p50: f64,
    /// 95th percentile, seconds.
    pub p95: f64,
    /// 99th percentile, seconds.
    pub p99: f64,
    /// Spans (traces) with an error.
    pub errors: u64,
    /// `errors / count`.
    pub error_rate: f64,
    /// Mean input tokens of those that carry them; `None` if none does.
    pub tokens_in: Option<f64>,
    /// Mean output tokens.
    pub tokens_out: Option<f64>,
    /// Mean cost.
    pub cost: Option<f64>,
    /// The cost's currency; `mixed` when values named different ones.
    pub currency: Option<String>,
    /// The duration histogram, for charts.
    #[serde(skip)]
    pub histogram: Histogram,
    #[serde(skip)]
    samples: Samples,
}

impl SideStats {
    /// The value of `metric` on this side (errors as a fraction).
    pub fn value(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Count => Some(self.count as f64),
            Metric::P50 => Some(self.p50),
            Metric::P95 => Some(self.p95),
            Metric::P99 => Some(self.p99),
            Metric::Mean => Some(self.mean),
            Metric::Errors => Some(self.error_rate),
            Metric::TokensIn => self.tokens_in,
            Metric::TokensOut => self.tokens_out,
            Metric::Cost => self.cost,
        }
    }
}

/// What the tests read of a side: bounded whatever the number of values.
#[derive(Debug, Clone, Default, PartialEq)]
struct Samples {
    durations: Buckets,
    duration: Moments,
    errors: u64,
    tokens_in: Moments,
    tokens_out: Moments,
    cost: Moments,
    currency: Currency,
}

/// The currency of a row's costs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Currency {
    #[default]
    None,
    One(Box<str>),
    Mixed,
}

impl Currency {
    fn see(&mut self, c: &str) {
        match self {
            Self::None => *self = Self::One(c.into()),
            Self::One(have) if &**have == c => {}
            Self::One(_) => *self = Self::Mixed,
            Self::Mixed => {}
        }
    }

    fn name(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::One(c) => Some(c.to_string()),
            Self::Mixed => Some("mixed".to_owned()),
        }
    }
}

impl Samples {
    fn record(
        &mut self,
        nanos: u64,
        error: bool,
        tokens: (Option<i64>, Option<i64>),
        cost: Option<f64>,
        currency: Option<&str>,
    ) {
        self.durations.record(nanos);
        self.duration.record(nanos as f64 / 1e9);
        self.errors += u64::from(error);
        if let Some(t) = tokens.0 {
            self.tokens_in.record(t as f64);
        }
        if let Some(t) = tokens.1 {
            self.tokens_out.record(t as f64);
        }
        if let Some(c) = cost {
            self.cost.record(c);
            if let Some(c) = currency {
                self.currency.see(c);
            }
        }
    }
}

/// Why a metric was or was not flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Flagged: significantly higher (slower, costlier, more errors).
    Worse,
    /// Flagged: significantly lower.
    Better,
    /// Tested, and the change is within the noise of the samples.
    WithinNoise,
    /// A side has fewer values than [`DiffOptions::min_count`].
    TooFewSamples,
    /// Not tested: nothing to compare (no errors on either side, a row on
    /// one side only, costs in different currencies).
    NotTested,
    /// Counted, not sampled: the change is what it is.
    Exact,
}

impl Verdict {
    /// Whether the change is flagged.
    pub fn is_flagged(self) -> bool {
        matches!(self, Self::Worse | Self::Better)
    }
}

/// One metric of one row, compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDiff {
    /// Which metric.
    pub metric: Metric,
    /// Its baseline value (seconds for latencies, a fraction for errors).
    pub baseline: Option<f64>,
    /// Its current value.
    pub current: Option<f64>,
    /// `current - baseline`.
    pub change: Option<f64>,
    /// `current / baseline - 1`; `None` when the baseline is 0.
    pub relative: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// The test's p-value, if tested.
    pub p_value: Option<f64>,
    /// The p-value adjusted for every test of the run (Holm), which the
    /// level is compared with.
    pub adjusted_p: Option<f64>,
    /// The verdict in words: `worse, p=0.0012`, `within noise, p=0.43`,
    /// `too few samples: 7 < 20`.
    pub reason: String,
}

/// One row (an operation, or traces) compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowDiff {
    /// The row's name: the operation, or [`ALL_TRACES`], `(traces) ROOT`.
    pub name: String,
    /// Spans or traces.
    pub kind: RowKind,
    /// The baseline's side; `None` if the baseline has no such row.
    pub baseline: Option<SideStats>,
    /// The current side.
    pub current: Option<SideStats>,
    /// The metrics compared, in [`Metric::ALL`] order; token and cost
    /// metrics only when a side has them.
    pub metrics: Vec<MetricDiff>,
}

impl RowDiff {
    /// Whether any metric of the row is flagged.
    pub fn is_flagged(&self) -> bool {
        self.metrics.iter().any(|m| m.verdict.is_flagged())
    }

    /// The comparison of `metric`, if the row has it.
    pub fn metric(&self, metric: Metric) -> Option<&MetricDiff> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

/// What one side was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideInfo {
    /// The paths as named.
    pub paths: Vec<String>,
    /// Traces read.
    pub traces: usize,
    /// Spans read.
    pub spans: u64,
    /// Malformed lines skipped.
    pub malformed: u64,
}

/// A comparison of two sets of runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The baseline's files and size.
    pub baseline: SideInfo,
    /// The current run's.
    pub current: SideInfo,
    /// The level the adjusted p-values were compared with.
    pub alpha: f64,
    /// The fewest values a side needed for a test.
    pub min_count: u64,
    /// How many tests the run made (what the p-values are adjusted for).
    pub tests: usize,
    /// The rows: flagged ones first, then traces, then operations, each by
    /// name.
    pub rows: Vec<RowDiff>,
}

impl Diff {
    /// How many metrics are flagged, over all rows.
    pub fn flagged(&self) -> usize {
        self.rows
            .iter()
            .flat_map(|r| &r.metrics)
            .filter(|m| m.verdict.is_flagged())
            .count()
    }
}

/// One side being read: what [`diff`] keeps per side, span by span.
///
/// ```
/// use agent_trace_cli::{DiffOptions, DiffSide, TraceFile, compare};
///
/// let dir = std::env::temp_dir().join(format!("agent-trace-cli-diff-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let file = |name: &str, ms: u64| -> std::io::Result<TraceFile> {
///     let mut text = String::new();
///     for i in 0..30u64 {
///         text.push_str(&format!(
///             concat!(
///                 r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{:032x}","spanId":"00f067aa0ba902b7","#,
///                 r#""name":"chat","startTimeUnixNano":"0","endTimeUnixNano":"{}"}}]}}]}}]}}"#, "\n"
///             ),
///             i + 1,
///             (ms + i) * 1_000_000
///         ));
///     }
///     std::fs::write(dir.join(name), text)?;
///     Ok(TraceFile::new(dir.join(name)))
/// };
/// let read = |f: TraceFile| -> Result<_, agent_trace_cli::Error> {
///     let mut side = DiffSide::new(100);
///     f.for_each_span(|origin, span| side.add(origin, &span), |_| {})?;
///     Ok(side)
/// };
/// let diff = compare(read(file("a.jsonl", 100)?)?, read(file("b.jsonl", 200)?)?, &DiffOptions::default());
/// let chat = diff.rows.iter().find(|r| r.name == "chat").unwrap();
/// assert!(chat.is_flagged());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DiffSide {
    latencies: LatencyStats,
    samples: HashMap<String, Samples>,
    summaries: Summaries,
    pricing: Pricing,
    max_operations: usize,
    spans: u64,
}

impl DiffSide {
    /// A side tracking at most `max_operations` operations (the rest count
    /// under [`OTHER_OPERATIONS`]), spans without a cost priced with the
    /// built-in price table.
    pub fn new(max_operations: usize) -> Self {
        Self::with_pricing(max_operations, Pricing::default())
    }

    /// [`new`](Self::new), spans without a cost priced with `pricing`.
    pub fn with_pricing(max_operations: usize, pricing: Pricing) -> Self {
        let max_operations = max_operations.max(1);
        Self {
            latencies: LatencyStats::new(max_operations),
            samples: HashMap::new(),
            summaries: Summaries::with_pricing(pricing.clone()),
            pricing,
            max_operations,
            spans: 0,
        }
    }

    /// Adds one span.
    pub fn add(&mut self, origin: &Origin<'_, '_>, span: &OtlpSpan<'_>) {
        self.spans += 1;
        self.summaries.add(origin, span);
        let name = operation_name(span);
        let name = if self.samples.contains_key(name.as_ref())
            || self.samples.len() < self.max_operations
        {
            name.as_ref()
        } else {
            OTHER_OPERATIONS
        };
        let nanos = span.duration_nanos();
        self.latencies.record(name, nanos);
        // The same tokens and cost as the per-trace summaries read (a
        // span's own cost, else its price).
        let (usage, currency) = SpanUsage::of(span, &self.pricing);
        if !self.samples.contains_key(name) {
            self.samples.insert(name.to_owned(), Samples::default());
        }
        if let Some(s) = self.samples.get_mut(name) {
            s.record(
                nanos,
                span.is_error(),
                (usage.input, usage.output),
                usage.cost,
                currency.as_ref().map(SpanCurrency::as_str),
            );
        }
    }

    /// The side's rows, by kind and name, and its trace count.
    fn finish(self) -> (HashMap<(RowKind, String), SideStats>, usize) {
        let mut rows = HashMap::new();
        let mut samples = self.samples;
        for o in self.latencies.finish() {
            let s = samples.remove(&o.operation).unwrap_or_default();
            rows.insert((RowKind::Operation, o.operation.clone()), side_stats(o, s));
        }
        // Traces, a value each, as `list` sums them up.
        let traces = self.summaries.into_vec();
        let count = traces.len();
        let mut latencies = LatencyStats::new(self.max_operations + 1);
        let mut trace_samples: HashMap<String, Samples> = HashMap::new();
        for t in &traces {
            let root = format!("{TRACES_OF_ROOT}{}", t.root_name);
            let root =
                if trace_samples.contains_key(&root) || trace_samples.len() < self.max_operations {
                    root
                } else {
                    format!("{TRACES_OF_ROOT}{OTHER_OPERATIONS}")
                };
            for name in [ALL_TRACES, root.as_str()] {
                latencies.record(name, t.duration_nanos());
                trace_samples.entry(name.to_owned()).or_default().record(
                    t.duration_nanos(),
                    t.error_spans > 0,
                    (t.input_tokens, t.output_tokens),
                    t.cost,
                    t.currency.as_deref(),
                );
            }
        }
        drop(traces);
        for o in latencies.finish() {
            let s = trace_samples.remove(&o.operation).unwrap_or_default();
            rows.insert((RowKind::Traces, o.operation.clone()), side_stats(o, s));
        }
        (rows, count)
    }
}

fn side_stats(o: crate::stats::OperationStats, s: Samples) -> SideStats {
    let mean = |m: &Moments| (m.n > 0).then_some(m.mean);
    SideStats {
        count: o.count,
        mean: o.mean,
        p50: o.p50,
        p95: o.p95,
        p99: o.p99,
        errors: s.errors,
        error_rate: if o.count == 0 {
            0.0
        } else {
            s.errors as f64 / o.count as f64
        },
        tokens_in: mean(&s.tokens_in),
        tokens_out: mean(&s.tokens_out),
        cost: mean(&s.cost),
        currency: s.currency.name(),
        histogram: o.histogram,
        samples: s,
    }
}

/// The row a span counts in: its name, and the tool, agent or model when
/// the name does not already say it.
fn operation_name<'s>(span: &'s OtlpSpan<'_>) -> std::borrow::Cow<'s, str> {
    let name: &str = &span.name;
    for (key, label) in [
        (TOOL_NAME, "tool"),
        (AGENT_NAME, "agent"),
        (REQUEST_MODEL, "model"),
    ] {
        if let Some(value) = span
            .attribute(key)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
        {
            if name.contains(value) {
                break;
            }
            return format!("{name} [{label}={value}]").into();
        }
    }
    name.into()
}

/// Reads the baseline and the current run (each one
/// [`TraceFile`](crate::TraceFile) or several [`TraceFiles`](crate::TraceFiles),
/// one after the other, so memory holds one side's per-trace summaries at
/// a time) and compares them.
///
/// The rows are the operations (span names, split by tool, agent or model
/// for GenAI spans whose name does not say it) and [`ALL_TRACES`], a value
/// per trace. A metric is tested when both sides have at least
/// [`DiffOptions::min_count`] values: p50 by the Mann-Whitney U test on
/// 2%-wide duration buckets (ties per bucket, the tie-corrected normal
/// approximation); p95 and p99 by Fisher's exact test of how many values
/// of each side lie above the pooled sample's quantile; the error rate by
/// Fisher's exact test; the mean duration, tokens and cost by Welch's
/// t-test. The p-values of the run are adjusted together (Holm) and a
/// change is flagged ([`Verdict::Worse`], [`Verdict::Better`]) when its
/// adjusted p-value is at most [`DiffOptions::alpha`]: two samples of one
/// distribution flag nothing in at least `1 - alpha` of runs, whatever the
/// number of operations. Counts are exact ([`Verdict::Exact`]).
///
/// # Errors
///
/// As [`SpanSource::for_each_span`]; malformed lines go to `on_malformed`
/// (their path says which side) and are counted in [`SideInfo::malformed`].
pub fn diff(
    baseline: &impl SpanSource,
    current: &impl SpanSource,
    options: &DiffOptions,
    mut on_malformed: impl FnMut(&Malformed),
) -> Result<Diff, Error> {
    let mut side = DiffSide::with_pricing(options.max_operations, options.pricing.clone());
    let read = baseline.for_each_span(|o, s| side.add(o, &s), &mut on_malformed)?;
    // The baseline's per-trace summaries are folded into its rows, and
    // freed, before the current run is read.
    let base = Finished::from(side, baseline.paths(), read);
    let mut side = DiffSide::with_pricing(options.max_operations, options.pricing.clone());
    let read = current.for_each_span(|o, s| side.add(o, &s), &mut on_malformed)?;
    let cur = Finished::from(side, current.paths(), read);
    Ok(compare_finished(base, cur, options))
}

/// A side read to the end.
struct Finished {
    rows: HashMap<(RowKind, String), SideStats>,
    info: SideInfo,
}

impl Finished {
    fn from(side: DiffSide, paths: &[std::path::PathBuf], read: ReadStats) -> Self {
        let spans = side.spans;
        let (rows, traces) = side.finish();
        Self {
            rows,
            info: SideInfo {
                paths: paths.iter().map(|p| p.display().to_string()).collect(),
                traces,
                spans: spans.max(read.spans),
                malformed: read.malformed,
            },
        }
    }
}

/// Compares two sides read span by span (see [`DiffSide`]); [`diff`]
/// reads files and calls this.
pub fn compare(baseline: DiffSide, current: DiffSide, options: &DiffOptions) -> Diff {
    compare_finished(
        Finished::from(baseline, &[], ReadStats::default()),
        Finished::from(current, &[], ReadStats::default()),
        options,
    )
}

fn compare_finished(mut base: Finished, mut cur: Finished, options: &DiffOptions) -> Diff {
    // Per-root rows only say something when there are several roots.
    let roots: HashSet<&String> = base
        .rows
        .keys()
        .chain(cur.rows.keys())
        .filter(|(k, n)| *k == RowKind::Traces && n != ALL_TRACES)
        .map(|(_, n)| n)
        .collect();
    if roots.len() < 2 {
        let drop_roots = |rows: &mut HashMap<(RowKind, String), SideStats>| {
            rows.retain(|(k, n), _| *k != RowKind::Traces || n == ALL_TRACES);
        };
        drop_roots(&mut base.rows);
        drop_roots(&mut cur.rows);
    }
    let mut keys: Vec<(RowKind, String)> = base
        .rows
        .keys()
        .chain(cur.rows.keys())
        .cloned()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    keys.sort();
    let mut rows: Vec<RowDiff> = keys
        .into_iter()
        .map(|key| {
            let b = base.rows.remove(&key);
            let c = cur.rows.remove(&key);
            let metrics = metrics_of(b.as_ref(), c.as_ref(), options.min_count);
            RowDiff {
                name: key.1,
                kind: key.0,
                baseline: b,
                current: c,
                metrics,
            }
        })
        .collect();

    // Holm over every test of the run.
    let mut tested: Vec<(usize, usize)> = Vec::new();
    let mut p = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        for (m, metric) in row.metrics.iter().enumerate() {
            if let Some(value) = metric.p_value {
                tested.push((r, m));
                p.push(value);
            }
        }
    }
    let adjusted = holm(&p);
    for (&(r, m), &adj) in tested.iter().zip(&adjusted) {
        let metric = &mut rows[r].metrics[m];
        metric.adjusted_p = Some(adj);
        let change = metric.change.unwrap_or(0.0);
        if adj <= options.alpha && change != 0.0 {
            let worse = change > 0.0;
            metric.verdict = if worse {
                Verdict::Worse
            } else {
                Verdict::Better
            };
            metric.reason = format!(
                "{}, {}",
                if worse { "worse" } else { "better" },
                format_p(adj)
            );
        } else {
            metric.verdict = Verdict::WithinNoise;
            metric.reason = format!("within noise, {}", format_p(adj));
        }
    }
    rows.sort_by(|a, b| {
        b.is_flagged()
            .cmp(&a.is_flagged())
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.name.cmp(&b.name))
    });
    Diff {
        baseline: base.info,
        current: cur.info,
        alpha: options.alpha,
        min_count: options.min_count,
        tests: p.len(),
        rows,
    }
}

/// `p=0.43`, `p=0.0012`, `p<0.0001`.
fn format_p(p: f64) -> String {
    if p < 0.0001 {
        "p<0.0001".to_owned()
    } else if p < 0.01 {
        format!("p={p:.4}")
    } else {
        format!("p={p:.2}")
    }
}

/// The metrics of a row; tested ones carry a p-value, their verdict set
/// once every test of the run is known.
fn metrics_of(b: Option<&SideStats>, c: Option<&SideStats>, min_count: u64) -> Vec<MetricDiff> {
    let mut out = Vec::new();
    for metric in Metric::ALL {
        let (bv, cv) = (
            b.and_then(|s| s.value(metric)),
            c.and_then(|s| s.value(metric)),
        );
        let has_usage = matches!(metric, Metric::TokensIn | Metric::TokensOut | Metric::Cost);
        if has_usage && bv.is_none() && cv.is_none() {
            continue;
        }
        let (bv, cv) = if metric == Metric::Count {
            (bv.or(Some(0.0)), cv.or(Some(0.0)))
        } else {
            (bv, cv)
        };
        let change = bv.zip(cv).map(|(b, c)| c - b);
        let relative = bv
            .zip(cv)
            .and_then(|(b, c)| (b != 0.0).then(|| c / b - 1.0));
        let mut d = MetricDiff {
            metric,
            baseline: bv,
            current: cv,
            change,
            relative,
            verdict: Verdict::NotTested,
            p_value: None,
            adjusted_p: None,
            reason: String::new(),
        };
        if metric == Metric::Count {
            d.verdict = Verdict::Exact;
            d.reason = match (b, c) {
                (None, Some(_)) => "new".to_owned(),
                (Some(_), None) => "gone".to_owned(),
                _ => "exact".to_owned(),
            };
            out.push(d);
            continue;
        }
        let (Some(b), Some(c)) = (b, c) else {
            d.reason = if b.is_none() {
                "new: only in the current run"
            } else {
                "gone: only in the baseline"
            }
            .to_owned();
            out.push(d);
            continue;
        };
        let (sb, sc) = (&b.samples, &c.samples);
        let n = |s: &Samples| match metric {
            Metric::TokensIn => s.tokens_in.n,
            Metric::TokensOut => s.tokens_out.n,
            Metric::Cost => s.cost.n,
            _ => s.duration.n,
        };
        let fewest = n(sb).min(n(sc));
        if fewest < min_count {
            d.verdict = Verdict::TooFewSamples;
            d.reason = format!("too few samples: {fewest} < {min_count}");
            out.push(d);
            continue;
        }
        let p = match metric {
            Metric::P50 => Some(mann_whitney(&sb.durations, &sc.durations)),
            Metric::P95 => Some(quantile_exceedance(&sb.durations, &sc.durations, 0.95)),
            Metric::P99 => Some(quantile_exceedance(&sb.durations, &sc.durations, 0.99)),
            Metric::Mean => Some(welch(&sb.duration, &sc.duration)),
            Metric::Errors if sb.errors + sc.errors == 0 => {
                d.reason = "no errors on either side".to_owned();
                None
            }
            Metric::Errors => Some(fisher_exact(
                sb.errors,
                sb.duration.n - sb.errors,
                sc.errors,
                sc.duration.n - sc.errors,
            )),
            Metric::TokensIn => Some(welch(&sb.tokens_in, &sc.tokens_in)),
            Metric::TokensOut => Some(welch(&sb.tokens_out, &sc.tokens_out)),
            Metric::Cost
                if sb.currency != sc.currency
                    && sb.currency != Currency::None
                    && sc.currency != Currency::None =>
            {
                d.reason = format!(
                    "currencies differ: {} vs {}",
                    b.currency.as_deref().unwrap_or("-"),
                    c.currency.as_deref().unwrap_or("-")
                );
                None
            }
            Metric::Cost => Some(welch(&sb.cost, &sc.cost)),
            Metric::Count => None,
        };
        d.p_value = p;
        out.push(d);
    }
    out
}

/// How `diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffFormat {
    /// An aligned table for the terminal.
    #[default]
    Text,
    /// A GitHub-flavoured Markdown table, for a pull-request comment.
    Markdown,
    /// JSON, for tools.
    Json,
}

/// A value of `metric` as shown: `1.20s`, `4.0%`, `512.5`, `0.0123 USD`.
pub(crate) fn format_value(metric: Metric, value: Option<f64>, currency: Option<&str>) -> String {
    let Some(v) = value else {
        return "-".to_owned();
    };
    match metric {
        Metric::Count => format!("{v:.0}"),
        m if m.is_latency() => format_seconds(v),
        Metric::Errors => format!("{:.1}%", v * 100.0),
        Metric::TokensIn | Metric::TokensOut => format!("{v:.1}"),
        _ => match currency {
            Some(c) => format!("{v:.4} {c}"),
            None => format!("{v:.4}"),
        },
    }
}

/// A change as shown: `+60.0ms (+50.0%)`, `+4.0pp`, `-12 (-10.0%)`.
pub(crate) fn format_change(d: &MetricDiff) -> String {
    let Some(change) = d.change else {
        return "-".to_owned();
    };
    let sign = if change < 0.0 { "-" } else { "+" };
    let abs = change.abs();
    let absolute = match d.metric {
        Metric::Count => format!("{sign}{abs:.0}"),
        m if m.is_latency() => format!("{sign}{}", format_seconds(abs)),
        Metric::Errors => return format!("{sign}{:.1}pp", abs * 100.0),
        Metric::TokensIn | Metric::TokensOut => format!("{sign}{abs:.1}"),
        _ => format!("{sign}{abs:.4}"),
    };
    match d.relative {
        Some(r) => format!(
            "{absolute} ({}{:.1}%)",
            if r < 0.0 { "-" } else { "+" },
            r.abs() * 100.0
        ),
        None if change != 0.0 => format!("{absolute} (new)"),
        None => absolute,
    }
}

pub(crate) fn currency_of(row: &RowDiff) -> Option<&str> {
    row.current
        .as_ref()
        .and_then(|s| s.currency.as_deref())
        .or_else(|| row.baseline.as_ref().and_then(|s| s.currency.as_deref()))
}

/// `base/ (40 traces, 400 spans, 1 malformed line skipped)`.
pub(crate) fn side_line(s: &SideInfo) -> String {
    let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut out = format!(
        "{} ({}, {}",
        name_list(s.paths.iter().cloned()),
        plural(s.traces as u64, "trace"),
        plural(s.spans, "span")
    );
    if s.malformed > 0 {
        let _ = write!(out, ", {} skipped", plural(s.malformed, "malformed line"));
    }
    out.push(')');
    out
}

/// The closing line: what was tested, and how.
pub(crate) fn method_line(d: &Diff) -> String {
    format!(
        "{} test{}; p-values adjusted for all of them (Holm), flagged at {}; at least {} samples a side",
        d.tests,
        if d.tests == 1 { "" } else { "s" },
        d.alpha,
        d.min_count
    )
}

/// One line of the table: row name (first metric only), metric, values,
/// change, verdict.
fn table_cells(row: &RowDiff, m: &MetricDiff, first: bool) -> [String; 6] {
    let currency = currency_of(row);
    [
        if first {
            row.name.clone()
        } else {
            String::new()
        },
        m.metric.name().to_owned(),
        format_value(m.metric, m.baseline, currency),
        format_value(m.metric, m.current, currency),
        format_change(m),
        m.reason.clone(),
    ]
}

/// The comparison as text, Markdown or JSON, with the gate's outcome
/// (`gate`: the rules' text and the limits crossed) when there is one.
pub fn render_diff(
    diff: &Diff,
    gate: Option<&crate::gate::GateOutcome>,
    format: DiffFormat,
    paint: Paint,
) -> String {
    match format {
        DiffFormat::Text => render_text(diff, gate, paint),
        DiffFormat::Markdown => render_markdown(diff, gate),
        DiffFormat::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                diff: &'a Diff,
                flagged: usize,
                gate: Option<&'a crate::gate::GateOutcome>,
            }
            let mut text = serde_json::to_string_pretty(&Out {
                diff,
                flagged: diff.flagged(),
                gate,
            })
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            text.push('\n');
            text
        }
    }
}

fn render_text(diff: &Diff, gate: Option<&crate::gate::GateOutcome>, paint: Paint) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "baseline: {}", side_line(&diff.baseline));
    let _ = writeln!(out, "current:  {}", side_line(&diff.current));
    out.push('\n');
    const HEADER: [&str; 6] = [
        "OPERATION",
        "METRIC",
        "BASELINE",
        "CURRENT",
        "CHANGE",
        "VERDICT",
    ];
    const RIGHT: [bool; 6] = [false, false, true, true, true, false];
    let lines: Vec<([String; 6], Verdict)> = diff
        .rows
        .iter()
        .flat_map(|row| {
            row.metrics
                .iter()
                .enumerate()
                .map(move |(i, m)| (table_cells(row, m, i == 0), m.verdict))
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for (cells, _) in &lines {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[String; 6], verdict: Option<Verdict>| {
        let mut text = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                let painted = match verdict {
                    None => paint.paint(sgr::BOLD, c),
                    Some(Verdict::Worse) => paint.paint(sgr::BOLD_RED, c),
                    Some(Verdict::Better) => paint.paint(sgr::GREEN, c),
                    Some(_) => paint.paint(sgr::DIM, c),
                };
                text.push_str(&painted);
            } else {
                let cell = pad(c, widths[i], !RIGHT[i]);
                text.push_str(&if verdict.is_none() {
                    paint.paint(sgr::BOLD, &cell).into_owned()
                } else {
                    cell
                });
                text.push_str("  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &HEADER.map(str::to_owned), None);
    for (cells, verdict) in &lines {
        line(&mut out, cells, Some(*verdict));
    }
    out.push('\n');
    let flagged_rows = diff.rows.iter().filter(|r| r.is_flagged()).count();
    let _ = writeln!(
        out,
        "{} flagged change{} in {} of {} rows; {}",
        diff.flagged(),
        if diff.flagged() == 1 { "" } else { "s" },
        flagged_rows,
        diff.rows.len(),
        method_line(diff)
    );
    if let Some(g) = gate {
        if g.failures.is_empty() {
            let _ = writeln!(out, "gate: passed ({})", g.rules);
        } else {
            let _ = writeln!(
                out,
                "{}",
                paint.paint(
                    sgr::BOLD_RED,
                    &format!(
                        "gate: failed ({}): {} limit{} crossed",
                        g.rules,
                        g.failures.len(),
                        if g.failures.len() == 1 { "" } else { "s" }
                    )
                )
            );
            for f in &g.failures {
                let _ = writeln!(out, "  {f}");
            }
        }
    }
    out
}

/// `text` safe in a Markdown table cell: the characters Markdown or HTML
/// would read as markup are backslash-escaped, so an operation name cannot
/// break the table or inject a link or tag into a pull-request comment.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&'
        ) {
            out.push('\\');
        }
        if c == '\n' || c == '\r' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn markdown_table(out: &mut String, rows: &[&RowDiff]) {
    out.push_str("| Operation | Metric | Baseline | Current | Change | Verdict |\n");
    out.push_str("|---|---|---:|---:|---:|---|\n");
    for row in rows {
        for (i, m) in row.metrics.iter().enumerate() {
            let cells = table_cells(row, m, i == 0);
            let verdict = if m.verdict.is_flagged() {
                format!("**{}**", markdown_escape(&cells[5]))
            } else {
                markdown_escape(&cells[5])
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                markdown_escape(&cells[0]),
                cells[1],
                markdown_escape(&cells[2]),
                markdown_escape(&cells[3]),
                markdown_escape(&cells[4]),
                verdict
            );
        }
    }
}

fn render_markdown(diff: &Diff, gate: Option<&crate::gate::GateOutcome>) -> String {
    let mut out = String::new();
    let flagged = diff.flagged();
    let verdict = match gate {
        Some(g) if !g.failures.is_empty() => "gate failed",
        Some(_) => "gate passed",
        None => "no gate",
    };
    let _ = writeln!(
        out,
        "### agent-trace diff: {flagged} flagged change{}, {verdict}\n",
        if flagged == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "Baseline: {}  \nCurrent: {}\n",
        markdown_escape(&side_line(&diff.baseline)),
        markdown_escape(&side_line(&diff.current))
    );
    if let Some(g) = gate.filter(|g| !g.passed()) {
        let _ = writeln!(out, "**Limits crossed** ({}):\n", markdown_escape(&g.rules));
        for f in &g.failures {
            let _ = writeln!(out, "- {}", markdown_escape(&f.to_string()));
        }
        out.push('\n');
    }
    let (flagged_rows, rest): (Vec<&RowDiff>, Vec<&RowDiff>) =
        diff.rows.iter().partition(|r| r.is_flagged());
    if flagged_rows.is_empty() {
        out.push_str("No change is larger than its noise.\n\n");
    } else {
        markdown_table(&mut out, &flagged_rows);
        out.push('\n');
    }
    if !rest.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} row{} without a flagged change</summary>\n",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        );
        markdown_table(&mut out, &rest);
        out.push_str("\n</details>\n\n");
    }
    let _ = writeln!(out, "{}.", markdown_escape(&method_line(diff)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cannot_break_out_of_a_cell() {
        assert_eq!(
            markdown_escape("a|b <img src=x> [l](u) *x*"),
            "a\\|b \\<img src=x\\> \\[l\\](u) \\*x\\*"
        );
    }

    #[test]
    fn genai_spans_are_split_by_tool_agent_or_model_unless_named_so() {
        let name = |name: &str, key: &str, value: &str| {
            let json = format!(
                r#"{{"traceId":"0000000000000000000000000000000a","spanId":"000000000000000b","name":"{name}","attributes":[{{"key":"{key}","value":{{"stringValue":"{value}"}}}}]}}"#
            );
            let span: OtlpSpan<'_> = serde_json::from_str(&json).unwrap();
            operation_name(&span).into_owned()
        };
        assert_eq!(name("chat gpt-4o", REQUEST_MODEL, "gpt-4o"), "chat gpt-4o");
        assert_eq!(
            name("llm_call", REQUEST_MODEL, "gpt-4o"),
            "llm_call [model=gpt-4o]"
        );
        assert_eq!(
            name("execute_tool", TOOL_NAME, "search"),
            "execute_tool [tool=search]"
        );
        assert_eq!(
            name("invoke_agent", AGENT_NAME, "Researcher"),
            "invoke_agent [agent=Researcher]"
        );
        assert_eq!(name("plan", "other", "x"), "plan");
    }

    #[test]
    fn p_values_read_at_a_glance() {
        assert_eq!(format_p(0.431), "p=0.43");
        assert_eq!(format_p(0.001_23), "p=0.0012");
        assert_eq!(format_p(0.000_01), "p<0.0001");
    }
}
