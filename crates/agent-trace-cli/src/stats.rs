//! Latency statistics per operation (span name), computed while streaming
//! with the same sketch as the live [`LatencyMetrics`].
//!
//! Each span's duration is recorded into a [`LatencyMetrics`] registry on a
//! fixed [`ManualClock`], so every value lands in one time slot and the
//! percentiles are those the running application would report for the
//! same values: within the registry's relative accuracy (1%) of the exact
//! nearest-rank value; count, mean, min and max are exact. Memory is a
//! sketch and a small histogram per operation, whatever the number of
//! spans; the number of operations is capped (span names that embed ids
//! would otherwise grow it without bound), and the rest are counted under
//! [`OTHER_OPERATIONS`].

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use agent_trace_metrics::{LatencyMetrics, ManualClock};

use crate::Error;
use crate::format::{Paint, format_seconds, pad, sgr};
use crate::reader::{Malformed, ReadStats};
use crate::source::SpanSource;

/// The operation that spans of names beyond the cap are counted under.
pub const OTHER_OPERATIONS: &str = "(other operations)";

/// How many distinct operations are tracked by default.
pub const DEFAULT_MAX_OPERATIONS: usize = 1_000;

/// Histogram bins per factor of ten.
const BINS_PER_DECADE: i32 = 10;
/// The first bin's lower bound: 10^(FIRST_BIN / BINS_PER_DECADE) seconds
/// (1 ns).
const FIRST_BIN: i32 = -9 * BINS_PER_DECADE;
/// Bins up to 10^6 seconds (11.6 days); longer values go in the last bin.
const BINS: usize = (15 * BINS_PER_DECADE) as usize;

/// A latency histogram with logarithmic bins, ten per factor of ten, from
/// 1 ns; zero durations are counted apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    zero: u64,
    counts: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            zero: 0,
            counts: vec![0; BINS],
        }
    }
}

impl Histogram {
    /// Counts one duration of `seconds`.
    pub fn record(&mut self, seconds: f64) {
        if seconds <= 0.0 || !seconds.is_finite() {
            self.zero += 1;
            return;
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "floor of a log10 of a finite positive double is within i32"
        )]
        let bin = (seconds.log10() * f64::from(BINS_PER_DECADE)).floor() as i32 - FIRST_BIN;
        let bin = usize::try_from(bin).unwrap_or(0).min(BINS - 1);
        self.counts[bin] += 1;
    }

    /// Durations of zero counted.
    pub fn zeros(&self) -> u64 {
        self.zero
    }

    /// The non-empty range of bins, each as `(lower, upper, count)` in
    /// seconds, empty bins inside the range included (so that a chart of
    /// them has no gaps in its axis).
    pub fn bins(&self) -> Vec<(f64, f64, u64)> {
        let first = self.counts.iter().position(|&c| c > 0);
        let last = self.counts.iter().rposition(|&c| c > 0);
        let (Some(first), Some(last)) = (first, last) else {
            return Vec::new();
        };
        (first..=last)
            .map(|i| {
                let lower = bin_edge(i);
                (lower, bin_edge(i + 1), self.counts[i])
            })
            .collect()
    }
}

fn bin_edge(i: usize) -> f64 {
    let exponent = f64::from(FIRST_BIN + i32::try_from(i).unwrap_or(i32::MAX));
    10f64.powf(exponent / f64::from(BINS_PER_DECADE))
}

/// The latency statistics of one operation, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationStats {
    /// The span name.
    pub operation: String,
    /// How many spans.
    pub count: u64,
    /// Their mean duration (exact).
    pub mean: f64,
    /// The shortest (exact).
    pub min: f64,
    /// The longest (exact).
    pub max: f64,
    /// The median (within the sketch's relative accuracy).
    pub p50: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// Their distribution, for charts.
    pub histogram: Histogram,
}

/// Per-operation latencies, recorded span by span.
///
/// ```
/// use agent_trace_cli::LatencyStats;
///
/// let mut stats = LatencyStats::default();
/// for ms in 1..=100 {
///     stats.record("chat", ms * 1_000_000);
/// }
/// let chat = &stats.finish()[0];
/// assert_eq!((chat.operation.as_str(), chat.count), ("chat", 100));
/// assert!((chat.mean - 0.0505).abs() < 1e-12);
/// assert!((chat.p95 - 0.095).abs() <= 0.095 * 0.01);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LatencyStats {
    metrics: LatencyMetrics,
    histograms: HashMap<String, Histogram>,
    max_operations: usize,
}

impl Default for LatencyStats {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_OPERATIONS)
    }
}

impl LatencyStats {
    /// Statistics of at most `max_operations` distinct operations (at
    /// least one); spans of further names count under
    /// [`OTHER_OPERATIONS`].
    pub fn new(max_operations: usize) -> Self {
        // A fixed clock: every value goes into one slot, and the answer
        // does not depend on how long the reading takes.
        let clock = Arc::new(ManualClock::new(1_700_000_000_000_000_000));
        let metrics = LatencyMetrics::builder()
            .clock(clock)
            .metrics_facade(false)
            .build()
            .expect("the default accuracy and tiers with a manual clock are valid settings");
        Self {
            metrics,
            histograms: HashMap::new(),
            max_operations: max_operations.max(1),
        }
    }

    /// Records one span of `operation` that took `duration_nanos`.
    pub fn record(&mut self, operation: &str, duration_nanos: u64) {
        let seconds = duration_nanos as f64 / 1e9;
        let operation = if self.histograms.contains_key(operation)
            || self.histograms.len() < self.max_operations
        {
            operation
        } else {
            OTHER_OPERATIONS
        };
        match self.histograms.get_mut(operation) {
            Some(h) => h.record(seconds),
            None => {
                let mut h = Histogram::default();
                h.record(seconds);
                self.histograms.insert(operation.to_owned(), h);
            }
        }
        // A duration from `u64` nanoseconds is finite and non-negative,
        // which is all `record` checks: it cannot fail here.
        let _ = self.metrics.record(operation, seconds);
    }

    /// The statistics of every operation, by name.
    pub fn finish(self) -> Vec<OperationStats> {
        let mut out: Vec<OperationStats> = self
            .histograms
            .into_iter()
            .filter_map(|(operation, histogram)| {
                let p = self.metrics.percentiles(&operation)?;
                let s = self.metrics.stats(&operation, None)?;
                Some(OperationStats {
                    count: s.count,
                    mean: s.mean,
                    min: s.min,
                    max: s.max,
                    p50: p.p50,
                    p95: p.p95,
                    p99: p.p99,
                    histogram,
                    operation,
                })
            })
            .collect();
        out.sort_by(|a, b| a.operation.cmp(&b.operation));
        out
    }

    /// The relative accuracy of the percentiles (0.01 is 1%).
    pub fn relative_accuracy(&self) -> f64 {
        self.metrics.relative_accuracy()
    }
}

/// Reads `source` (one [`TraceFile`](crate::TraceFile) or several
/// [`TraceFiles`](crate::TraceFiles)) and computes the latency statistics
/// of every operation.
///
/// # Errors
///
/// As [`SpanSource::for_each_span`].
pub fn operation_stats(
    source: &impl SpanSource,
    max_operations: usize,
    on_malformed: impl FnMut(&Malformed),
) -> Result<(Vec<OperationStats>, ReadStats), Error> {
    let mut stats = LatencyStats::new(max_operations);
    let read = source.for_each_span(
        |_, span| stats.record(&span.name, span.duration_nanos()),
        on_malformed,
    )?;
    Ok((stats.finish(), read))
}

/// What `stats` orders operations by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsSortKey {
    /// Operation name, alphabetically.
    #[default]
    Name,
    /// Most spans first.
    Count,
    /// Largest total time (count times mean) first.
    Total,
    /// Slowest mean first.
    Mean,
    /// Slowest median first.
    P50,
    /// Slowest 95th percentile first.
    P95,
    /// Slowest 99th percentile first.
    P99,
    /// Slowest span first.
    Max,
}

impl StatsSortKey {
    /// The order of `a` and `b` under this key; ties by name.
    pub fn compare(self, a: &OperationStats, b: &OperationStats) -> Ordering {
        let desc = |x: f64, y: f64| y.total_cmp(&x);
        match self {
            Self::Name => Ordering::Equal,
            Self::Count => b.count.cmp(&a.count),
            Self::Total => desc(a.mean * a.count as f64, b.mean * b.count as f64),
            Self::Mean => desc(a.mean, b.mean),
            Self::P50 => desc(a.p50, b.p50),
            Self::P95 => desc(a.p95, b.p95),
            Self::P99 => desc(a.p99, b.p99),
            Self::Max => desc(a.max, b.max),
        }
        .then_with(|| a.operation.cmp(&b.operation))
    }
}

impl FromStr for StatsSortKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "name" => Self::Name,
            "count" => Self::Count,
            "total" => Self::Total,
            "mean" => Self::Mean,
            "p50" => Self::P50,
            "p95" => Self::P95,
            "p99" => Self::P99,
            "max" => Self::Max,
            _ => {
                return Err(format!(
                    "unknown sort key {s:?} (expected name, count, total, mean, p50, p95, p99 or max)"
                ));
            }
        })
    }
}

/// The `stats` table.
pub fn render_stats(operations: &[OperationStats], accuracy: f64, paint: Paint) -> String {
    let header = ["OPERATION", "COUNT", "MEAN", "P50", "P95", "P99", "MAX"];
    let rows: Vec<[String; 7]> = operations
        .iter()
        .map(|o| {
            [
                o.operation.clone(),
                o.count.to_string(),
                format_seconds(o.mean),
                format_seconds(o.p50),
                format_seconds(o.p95),
                format_seconds(o.p99),
                format_seconds(o.max),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String; 7], header: bool| {
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| pad(c, widths[i], i == 0))
            .collect();
        let text = text.join("  ");
        let text = text.trim_end();
        let _ = writeln!(
            out,
            "{}",
            if header {
                paint.paint(sgr::BOLD, text)
            } else {
                text.into()
            }
        );
    };
    line(&mut out, &header.map(str::to_owned), true);
    for row in &rows {
        line(&mut out, row, false);
    }
    let spans: u64 = operations.iter().map(|o| o.count).sum();
    let _ = writeln!(
        out,
        "{} operation{}, {spans} span{}; percentiles within {}% (the LatencyMetrics sketch), the rest exact",
        operations.len(),
        if operations.len() == 1 { "" } else { "s" },
        if spans == 1 { "" } else { "s" },
        accuracy * 100.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_are_a_tenth_of_a_decade() {
        let mut h = Histogram::default();
        h.record(0.0);
        h.record(0.001); // exactly 1 ms: the bin [1 ms, 1.26 ms)
        h.record(0.0011);
        h.record(0.0013);
        let bins = h.bins();
        assert_eq!(h.zeros(), 1);
        assert_eq!(bins.len(), 2);
        assert!((bins[0].0 - 0.001).abs() < 1e-12, "{bins:?}");
        assert!((bins[0].1 - 0.001_258_925).abs() < 1e-9, "{bins:?}");
        assert_eq!((bins[0].2, bins[1].2), (2, 1));
    }

    #[test]
    fn operations_beyond_the_cap_are_counted_together() {
        let mut stats = LatencyStats::new(2);
        for name in ["a", "b", "c", "d", "a"] {
            stats.record(name, 1_000_000);
        }
        let ops: Vec<(String, u64)> = stats
            .finish()
            .into_iter()
            .map(|o| (o.operation, o.count))
            .collect();
        assert_eq!(
            ops,
            [
                (OTHER_OPERATIONS.to_owned(), 2),
                ("a".to_owned(), 2),
                ("b".to_owned(), 1)
            ]
        );
    }
}
