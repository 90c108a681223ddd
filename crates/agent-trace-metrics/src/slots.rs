//! Read access to the closed slots of every series, for exporters that push
//! a registry's data somewhere (the OTLP metrics exporter of
//! `agent-trace-export`).
//!
//! A push must not send a value twice nor lose one, whatever the slots
//! did in between (rolled up into coarser tiers, expired, shed for memory).
//! So rather than a running total kept on the record path, a reader gets
//! what the queries get: each series' closed slots (the live stripes are
//! closed first, as every query does), each with its time range
//! `[start, end)`, its exact moments and its bucket counts decoded on
//! demand, plus the slot's exemplars. Slots of one series never overlap,
//! and the ranges of coarser tiers are unions of finer ones, so a reader
//! that remembers what a time range held at its last read knows exactly
//! what arrived since (see `agent-trace-export`'s `otlp::metrics`).
//!
//! Nothing here changes what the registry holds, except that, as with any
//! query, live slots are closed into the history and slots that aged out
//! of a tier move on.

use std::time::Duration;

use crate::LatencyMetrics;
use crate::exemplar::Exemplar;
use crate::history::{History, TierSpec};
use crate::sketch::{CompactSketch, Mapping};

/// The sketch's bucket mapping: which values bucket `index` holds and the
/// value a quantile in it is answered with.
///
/// ```
/// use agent_trace_metrics::LatencyMetrics;
///
/// let m = LatencyMetrics::new().bucket_mapping();
/// let i = m.index(0.25).unwrap();
/// assert!(m.lower_bound(i) <= 0.25 && 0.25 < m.lower_bound(i + 1));
/// assert!((m.value(i) / 0.25 - 1.0).abs() <= m.relative_accuracy());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketMapping(Mapping);

impl BucketMapping {
    /// The buckets of a sketch of relative accuracy `relative_accuracy`
    /// (`0.01` is [`LatencyMetrics`]' default), for tools that bucket
    /// values the way the sketch does without a registry (the CLI's rank
    /// tests on exported spans).
    ///
    /// ```
    /// use agent_trace_metrics::{BucketMapping, LatencyMetrics};
    ///
    /// let m = BucketMapping::new(0.01)?;
    /// assert_eq!(m, LatencyMetrics::new().bucket_mapping());
    /// assert!(BucketMapping::new(1.5).is_err());
    /// # Ok::<(), agent_trace_metrics::MetricsError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidAccuracy`](crate::MetricsError::InvalidAccuracy)
    /// outside the open interval `(0, 1)`.
    pub fn new(relative_accuracy: f64) -> Result<Self, crate::MetricsError> {
        if !(relative_accuracy > 0.0 && relative_accuracy < 1.0) {
            return Err(crate::MetricsError::InvalidAccuracy {
                value: relative_accuracy.to_string(),
            });
        }
        Ok(Self(Mapping::new(relative_accuracy)))
    }

    /// The mapping itself, for the registry's builder.
    pub(crate) fn into_mapping(self) -> Mapping {
        self.0
    }

    /// The relative accuracy `a`: every value of a bucket is within `a` of
    /// [`value`](Self::value), and `upper / lower <= (1 + a) / (1 - a)`.
    pub fn relative_accuracy(&self) -> f64 {
        self.0.relative_accuracy()
    }

    /// The bucket of a value, or `None` for the zero bucket (zero and
    /// subnormal values) and for values that are not finite and positive.
    pub fn index(&self, x: f64) -> Option<i32> {
        if x.is_finite() && x >= 0.0 {
            self.0.bucket(x)
        } else {
            None
        }
    }

    /// The smallest value of bucket `index`; the bucket is
    /// `[lower_bound(index), lower_bound(index + 1))`.
    pub fn lower_bound(&self, index: i32) -> f64 {
        self.0.lower_bound(index)
    }

    /// The value a quantile that falls in bucket `index` is answered with:
    /// the harmonic mean of its bounds.
    pub fn value(&self, index: i32) -> f64 {
        self.0.value(index)
    }
}

/// One closed slot of a series: a time range and the values recorded in it.
#[derive(Debug, Clone, Copy)]
pub struct SlotView<'a> {
    start: u64,
    end: u64,
    sketch: &'a CompactSketch,
}

impl SlotView<'_> {
    /// Where the slot begins, in nanoseconds since the Unix epoch (of the
    /// registry's clock).
    pub fn start_nanos(&self) -> u64 {
        self.start
    }

    /// Where the slot ends (exclusive).
    pub fn end_nanos(&self) -> u64 {
        self.end
    }

    /// How many values the slot holds (exact).
    pub fn count(&self) -> u64 {
        self.sketch.moments().0.count
    }

    /// Their sum (exact, as summed in `f64`).
    pub fn sum(&self) -> f64 {
        self.sketch.moments().0.sum
    }

    /// The smallest value (`+inf` when empty).
    pub fn min(&self) -> f64 {
        self.sketch.moments().0.min
    }

    /// The largest value (`-inf` when empty).
    pub fn max(&self) -> f64 {
        self.sketch.moments().0.max
    }

    /// Hands `f` each non-empty bucket (its index in the
    /// [`BucketMapping`] and its count) in increasing order, and returns the
    /// count of the zero bucket. Decodes the slot's compact form: no copy
    /// of the values, nothing allocated.
    pub fn for_each_bucket(&self, f: impl FnMut(i32, u64)) -> u64 {
        self.sketch.decode(f).1
    }
}

/// One series of a registry, as [`LatencyMetrics::read_slots`] hands it
/// out: its name, its labels and its closed slots.
#[derive(Debug)]
pub struct SeriesSlots<'a> {
    operation: &'a str,
    labels: &'a [(String, String)],
    history: &'a History,
    specs: &'a [TierSpec],
    evicted: u64,
    now: u64,
}

impl<'a> SeriesSlots<'a> {
    /// The operation.
    pub fn operation(&self) -> &'a str {
        self.operation
    }

    /// The series' labels, sorted by key (empty for the unlabelled one).
    pub fn labels(&self) -> &'a [(String, String)] {
        self.labels
    }

    /// The registry's time the slots were read at (the same for every
    /// series of one [`LatencyMetrics::read_slots`]).
    pub fn read_at_nanos(&self) -> u64 {
        self.now
    }

    /// Values dropped with the oldest slots to keep the series within its
    /// memory budget, so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Every closed slot, coarsest tier first, oldest first within a tier.
    pub fn slots(&self) -> impl Iterator<Item = SlotView<'a>> + 'a {
        let specs = self.specs;
        self.history
            .tiers()
            .iter()
            .zip(specs)
            .rev()
            .flat_map(|(tier, spec)| {
                tier.iter().map(move |(slot, sketch)| SlotView {
                    start: slot.saturating_mul(spec.width),
                    end: (slot + 1).saturating_mul(spec.width),
                    sketch,
                })
            })
    }

    /// Hands `f` the exemplars of every slot that ends after `since`
    /// (nanoseconds since the Unix epoch).
    pub fn for_each_exemplar(&self, since: u64, mut f: impl FnMut(&Exemplar)) {
        let mut all = Vec::new();
        self.history
            .collect_exemplars(&mut all, Some(since), self.specs);
        for e in &all {
            f(e);
        }
    }
}

impl LatencyMetrics {
    /// The sketch's bucket mapping (see [`BucketMapping`]).
    pub fn bucket_mapping(&self) -> BucketMapping {
        BucketMapping(self.shared().config.mapping)
    }

    /// The slot width of each tier, finest first.
    pub fn slot_widths(&self) -> Vec<Duration> {
        self.shared()
            .config
            .specs
            .iter()
            .map(|s| Duration::from_nanos(s.width))
            .collect()
    }

    /// The registry's time now, in nanoseconds since the Unix epoch (its
    /// [`Clock`](crate::Clock)).
    pub fn now_nanos(&self) -> u64 {
        self.shared().now()
    }

    /// Closes the live slots of every series, then hands `f` each series
    /// with its closed slots (under that series' history lock: keep `f`
    /// short, a record that closes a slot of the series waits for it).
    /// Returns the time the slots were read at: every value recorded before
    /// it is in a slot `f` saw, every later one will be in a slot that
    /// ends after it.
    ///
    /// ```
    /// use agent_trace_metrics::LatencyMetrics;
    ///
    /// let metrics = LatencyMetrics::new();
    /// metrics.record_labelled("tool_call", &[("tool", "search")], 0.5)?;
    /// let mut seen = Vec::new();
    /// metrics.read_slots(|s| {
    ///     let count: u64 = s.slots().map(|slot| slot.count()).sum();
    ///     seen.push((s.operation().to_owned(), s.labels().to_vec(), count));
    /// });
    /// assert_eq!(seen, [("tool_call".to_owned(), vec![("tool".to_owned(), "search".to_owned())], 1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_slots(&self, mut f: impl FnMut(&SeriesSlots<'_>)) -> u64 {
        let shared = self.shared();
        let now = shared.now();
        let config = &shared.config;
        self.for_each_series(|operation, labels, series| {
            series.with_history(now, config, |history| {
                f(&SeriesSlots {
                    operation,
                    labels,
                    history,
                    specs: &config.specs,
                    evicted: series.evicted(),
                    now,
                });
            });
        });
        now
    }
}
