//! What a push sends of the latency series: per series, the values that
//! arrived since the last successful push (delta) or since the series was
//! first seen (cumulative), read from the registry's closed slots.
//!
//! # Exactly once, from slots that move
//!
//! A series keeps its values in time slots that roll up into coarser ones,
//! expire after the retention, and are shed for memory (see
//! `agent-trace-metrics`' `history` module). What the exporter remembers,
//! per series and per tier `k`, is a *cut* `c_k` (the start of the finest
//! slot some margin before the push, rounded down to tier `k`'s width) and
//! what the time range `[c_k, inf)` held at the push (`prev[k]`, bucket
//! counts and moments; left unknown when a slot straddled `c_k`).
//!
//! Values only ever arrive in the slot of their record time, which is after
//! the previous push's cut, and slots only ever merge into enclosing
//! slots. So at the next push, for the finest `k` whose cut no slot
//! straddles now (nor did then), the range `[c_k, inf)` holds exactly what
//! it held plus what arrived since: the delta is `now[c_k, inf) - prev[k]`,
//! bucket by bucket, with nothing counted twice or left out. The coarsest
//! tier's cut is aligned to every slot, so such a `k` always exists. Data
//! in the range can only leave it by expiry or by the memory budget's
//! shedding, both of which the series counts; a bucket that would go
//! negative is clamped and the shortfall counted (`lost`).
//!
//! The state is committed only when the receiver accepted the push, so a
//! failed push's values ride along with the next one (delta) or are
//! simply included (cumulative).
//!
//! Memory: per series, the cumulative bucket counts and `prev` for each
//! tier, each at most the sketch's bucket cap (`u64` per bucket).
//!
//! # The exponential histogram
//!
//! The sketch's bucket `i` spans a ratio of at most `gamma = (1 + a) / (1 -
//! a)`, but its bounds (an interpolated logarithm) are not powers of any
//! `2^(2^-scale)`, so the sketch's buckets are re-bucketed: all of bucket
//! `i`'s count goes to the OTLP bucket that holds its answer value `v_i`
//! (the value our own quantiles answer with). `v_i` grows with `i`, so the
//! order of values is kept and a quantile's rank lands in the OTLP bucket
//! of our own answer; a backend answering with that bucket's harmonic mean
//! is within `eps_s = (b - 1) / (b + 1)` (`b = 2^(2^-s)`) of our answer,
//! hence within `(1 + a)(1 + eps_s) - 1` of the exact value. The scale is
//! the smallest with `eps_s <= a / 4`: 8 at the default 1% (`eps = 0.135%`,
//! at most 1.137% from the exact value; a backend that answers anywhere
//! in the bucket: `(1 + a) b - 1 = 1.274%`).

use std::collections::HashMap;
use std::sync::Arc;

use agent_trace_metrics::{BucketMapping, LatencyMetrics, SeriesSlots, SlotView};

use super::wire::{Exemplar, ExponentialPoint, HistogramPoint, Temporality};

/// How many exemplars a data point carries at most (the newest).
const MAX_EXEMPLARS: usize = 16;

/// A push's cuts are this far before its time, so that a value whose
/// record read the clock just before the push but reached its stripe just
/// after is still counted (the default clock's reading is a 10 ms tick).
const CUT_MARGIN_NANOS: u64 = 1_000_000_000;

/// Bucket counts in the sketch's index space, dense over their range,
/// with exact moments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Counts {
    offset: i32,
    counts: Vec<u64>,
    zeros: u64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Counts {
    fn default() -> Self {
        Self::new()
    }
}

impl Counts {
    fn new() -> Self {
        Self {
            offset: 0,
            counts: Vec::new(),
            zeros: 0,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn add_bucket(&mut self, i: i32, c: u64) {
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(c);
            return;
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        }
        let at = (i - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += c;
    }

    fn add_slot(&mut self, slot: &SlotView<'_>, buckets: &[(i32, u64)], zeros: u64) {
        for &(i, c) in buckets {
            self.add_bucket(i, c);
        }
        self.zeros += zeros;
        self.count += slot.count();
        self.sum += slot.sum();
        self.min = self.min.min(slot.min());
        self.max = self.max.max(slot.max());
    }

    fn add(&mut self, other: &Counts) {
        for (i, c) in other.iter() {
            self.add_bucket(i, c);
        }
        self.zeros += other.zeros;
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn get(&self, i: i32) -> u64 {
        usize::try_from(i - self.offset)
            .ok()
            .and_then(|at| self.counts.get(at))
            .copied()
            .unwrap_or(0)
    }

    fn iter(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(at, c)| (self.offset + at as i32, *c))
    }

    /// `self - earlier`, bucket by bucket, clamped at zero; returns the
    /// difference and how many values the clamping dropped (values that
    /// left the range: expired or shed). Min and max are `self`'s.
    fn minus(&self, earlier: &Counts) -> (Counts, u64) {
        let mut out = Counts::new();
        let mut lost = 0;
        for (i, c) in self.iter() {
            let e = earlier.get(i);
            if c > e {
                out.add_bucket(i, c - e);
            }
        }
        for (i, e) in earlier.iter() {
            lost += e.saturating_sub(self.get(i));
        }
        out.zeros = self.zeros.saturating_sub(earlier.zeros);
        lost += earlier.zeros.saturating_sub(self.zeros);
        out.count = out.counts.iter().sum::<u64>() + out.zeros;
        out.sum = if out.count == 0 {
            0.0
        } else {
            self.sum - earlier.sum
        };
        out.min = self.min;
        out.max = self.max;
        (out, lost)
    }
}

/// What the exporter remembers of one series between pushes.
#[derive(Debug, Clone)]
pub(crate) struct SeriesState {
    cuts: Vec<u64>,
    /// Shared between tiers whose ranges hold the same slots.
    prev: Vec<Option<Arc<Counts>>>,
    cumulative: Counts,
    /// Start of the cumulative points.
    start: u64,
    /// Time of the last committed push: the start of the next delta point.
    last: u64,
}

/// The latency histogram's form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Aggregation {
    /// Base-2 exponential buckets at this scale, each point downscaled
    /// until its buckets span at most `max_buckets`.
    Exponential { scale: i32, max_buckets: usize },
    /// These upper bounds (inclusive), increasing.
    Explicit { bounds: &'static [f64] },
}

/// The points of one push, and the states to commit when it is accepted.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) exponential: Vec<ExponentialPoint>,
    pub(crate) explicit: Vec<HistogramPoint>,
    pub(crate) next: Vec<(SeriesKey, SeriesState)>,
    /// Values that left a series' range between two pushes before being
    /// sent (expired or shed).
    pub(crate) lost: u64,
    pub(crate) time: u64,
}

pub(crate) type SeriesKey = (String, Vec<(String, String)>);

/// The exponential histogram scale for a sketch of relative accuracy `a`:
/// the smallest whose buckets' harmonic mean is within `a / 4` of every
/// value of the bucket, within OTLP's range `-10..=20`.
///
/// A backend's quantile from the pushed buckets is then within
/// `eps = (b - 1) / (b + 1)` (`b = 2^(2^-scale)`) of ours when it answers
/// with a bucket's harmonic mean, and within `(1 + a)(1 + eps) - 1` of the
/// exact value (1.137% at the default 1%, scale 8).
///
/// ```
/// use agent_trace_export::otlp::metrics::scale_for_accuracy;
///
/// assert_eq!(scale_for_accuracy(0.01), 8);
/// assert_eq!(scale_for_accuracy(0.02), 7);
/// ```
pub fn scale_for_accuracy(a: f64) -> i32 {
    (-10..=20)
        .find(|&s| {
            let b = 2f64.powf(2f64.powi(-s));
            (b - 1.0) / (b + 1.0) <= a / 4.0
        })
        .unwrap_or(20)
}

/// The OTLP exponential bucket of a positive, normal `v` at `scale`:
/// bucket `j` holds `(base^j, base^(j + 1)]` with `base = 2^(2^-scale)`
/// (the specification's `MapToIndex`; an exact power of two closes its
/// bucket).
///
/// ```
/// use agent_trace_export::otlp::metrics::exponential_index;
///
/// assert_eq!(exponential_index(1.0, 3), -1);
/// assert_eq!(exponential_index(1.01, 3), 0);
/// assert_eq!(exponential_index(4.0, 0), 1);
/// ```
pub fn exponential_index(v: f64, scale: i32) -> i32 {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let exact_power = bits & ((1 << 52) - 1) == 0;
    if scale <= 0 {
        let e = if exact_power { exp - 1 } else { exp };
        return e >> -scale;
    }
    if exact_power {
        return (exp << scale) - 1;
    }
    let factor = std::f64::consts::LOG2_E * 2f64.powi(scale);
    (v.ln() * factor).ceil() as i32 - 1
}

/// Where each sketch bucket goes in the pushed histogram (its OTLP
/// exponential index, or its explicit bucket), computed once per sketch
/// bucket: the answer value inverts the sketch's mapping (a few Newton
/// steps) and the exponential index takes a logarithm, about 100 ns a
/// bucket, which every push of every series would otherwise pay again.
/// Dense over the sketch indexes seen: at most the sketch's bucket range.
#[derive(Debug, Default)]
pub(crate) struct IndexCache {
    /// The aggregation the table is for.
    aggregation: Option<Aggregation>,
    offset: i32,
    table: Vec<i32>,
}

const UNKNOWN: i32 = i32::MIN;

impl IndexCache {
    /// The OTLP exponential index, or the explicit bucket, of sketch
    /// bucket `i`.
    fn target(&mut self, i: i32, mapping: &BucketMapping, aggregation: &Aggregation) -> i32 {
        if self.aggregation.as_ref() != Some(aggregation) {
            self.aggregation = Some(aggregation.clone());
            self.table.clear();
        }
        if self.table.is_empty() {
            self.offset = i;
            self.table.push(UNKNOWN);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.table.splice(0..0, std::iter::repeat_n(UNKNOWN, grow));
            self.offset = i;
        } else if (i - self.offset) as usize >= self.table.len() {
            self.table.resize((i - self.offset) as usize + 1, UNKNOWN);
        }
        let slot = &mut self.table[(i - self.offset) as usize];
        if *slot == UNKNOWN {
            let v = mapping.value(i);
            *slot = match aggregation {
                Aggregation::Exponential { scale, .. } => exponential_index(v, *scale),
                Aggregation::Explicit { bounds } => bounds.partition_point(|b| *b < v) as i32,
            };
        }
        *slot
    }
}

/// Reads every series of `metrics` and builds the points of a push at the
/// registry's time, against `states` (what was committed).
pub(crate) fn collect(
    metrics: &LatencyMetrics,
    states: &HashMap<SeriesKey, SeriesState>,
    temporality: Temporality,
    aggregation: &Aggregation,
    cache: &mut IndexCache,
) -> Collected {
    let mapping = metrics.bucket_mapping();
    let widths: Vec<u64> = metrics
        .slot_widths()
        .iter()
        .map(|w| u64::try_from(w.as_nanos()).unwrap_or(u64::MAX).max(1))
        .collect();
    let mut out = Collected::default();
    let mut buckets: Vec<(i32, u64)> = Vec::new();
    let time = metrics.read_slots(|series| {
        let key: SeriesKey = (series.operation().to_owned(), series.labels().to_vec());
        let state = states.get(&key);
        one_series(
            series,
            state,
            &widths,
            &mapping,
            temporality,
            aggregation,
            &mut *cache,
            &mut buckets,
            &mut out,
            key,
        );
    });
    out.time = time;
    out
}

/// The attributes of a series' points: `operation` and its labels.
fn attributes_of(series: &SeriesSlots<'_>) -> Vec<(String, String)> {
    let mut attrs = Vec::with_capacity(series.labels().len() + 1);
    attrs.push((
        agent_trace_metrics::OPERATION_LABEL.to_owned(),
        series.operation().to_owned(),
    ));
    attrs.extend(series.labels().iter().cloned());
    attrs
}

#[allow(
    clippy::too_many_arguments,
    reason = "one series' share of a push: the inputs and the outputs of `collect`"
)]
fn one_series(
    series: &SeriesSlots<'_>,
    state: Option<&SeriesState>,
    widths: &[u64],
    mapping: &BucketMapping,
    temporality: Temporality,
    aggregation: &Aggregation,
    cache: &mut IndexCache,
    buckets: &mut Vec<(i32, u64)>,
    out: &mut Collected,
    key: SeriesKey,
) {
    let now = series.read_at_nanos();
    let slots: Vec<SlotView<'_>> = series.slots().collect();
    if slots.is_empty() && state.is_none() {
        return;
    }
    let straddles = |cut: u64| {
        slots
            .iter()
            .any(|s| s.start_nanos() < cut && cut < s.end_nanos())
    };
    // The range whose content at the last push is known, and which no slot
    // straddles now (see the module docs).
    let base = state.and_then(|st| {
        (0..st.cuts.len())
            .find(|&k| st.prev[k].is_some() && !straddles(st.cuts[k]))
            .and_then(|k| Some((st.cuts[k], st.prev[k].clone()?)))
    });
    let first_start = slots.iter().map(SlotView::start_nanos).min().unwrap_or(now);
    let (base_cut, base_prev, start, last, mut cumulative) = match (state, base) {
        (Some(st), Some((cut, prev))) => (cut, prev, st.start, st.last, st.cumulative.clone()),
        // Cannot happen (the coarsest cut is aligned to every slot); if it
        // did, the series restarts: new start, everything in it once more.
        (Some(st), None) => (0, Arc::default(), st.last, st.last, Counts::new()),
        (None, _) => (0, Arc::default(), first_start, first_start, Counts::new()),
    };

    let c0 = now.saturating_sub(CUT_MARGIN_NANOS) / widths[0] * widths[0];
    let cuts: Vec<u64> = widths.iter().map(|w| c0 / w * w).collect();
    // Each slot counted once, at the finest tier whose cut it starts at or
    // after (the cuts go down with the tier); `[c_k, inf)` is then the sum
    // of the levels up to `k`.
    let mut levels: Vec<Counts> = vec![Counts::new(); cuts.len()];
    let mut range = Counts::new();
    for slot in &slots {
        let start = slot.start_nanos();
        let level = cuts.iter().position(|&c| start >= c);
        let in_base = start >= base_cut;
        if level.is_none() && !in_base {
            continue;
        }
        buckets.clear();
        let zeros = slot.for_each_bucket(|i, c| buckets.push((i, c)));
        if in_base {
            range.add_slot(slot, buckets, zeros);
        }
        if let Some(k) = level {
            levels[k].add_slot(slot, buckets, zeros);
        }
    }
    let mut prev: Vec<Option<Arc<Counts>>> = Vec::with_capacity(cuts.len());
    let mut acc: Arc<Counts> = Arc::new(Counts::new());
    for (level, &cut) in levels.iter().zip(&cuts) {
        if level.count > 0 {
            let mut next = (*acc).clone();
            next.add(level);
            acc = Arc::new(next);
        }
        prev.push((!straddles(cut)).then(|| acc.clone()));
    }
    let (delta, lost) = range.minus(&base_prev);
    out.lost += lost;
    // The range held only new values: their min and max are the delta's.
    let delta_extremes = base_prev.count == 0;
    cumulative.add(&delta);

    let since = if state.is_some() { last } else { 0 };
    let mut exemplars: Vec<Exemplar> = Vec::new();
    series.for_each_exemplar(since, |e| {
        if e.unix_nanos() >= since {
            exemplars.push(Exemplar {
                time: e.unix_nanos(),
                value: e.value(),
                trace_id: e.trace_id(),
                span_id: e.span_id(),
            });
        }
    });
    exemplars.sort_by(|a, b| b.time.cmp(&a.time).then(b.value.total_cmp(&a.value)));
    exemplars.dedup();
    exemplars.truncate(MAX_EXEMPLARS);
    exemplars.sort_by(|a, b| a.value.total_cmp(&b.value));

    let (counts, start, extremes) = match temporality {
        Temporality::Cumulative => (&cumulative, start, true),
        Temporality::Delta => (&delta, last, delta_extremes),
    };
    if counts.count > 0 {
        let attributes = attributes_of(series);
        let (min, max) = if extremes {
            (Some(counts.min), Some(counts.max))
        } else {
            (None, None)
        };
        match aggregation {
            Aggregation::Exponential { scale, max_buckets } => {
                let buckets = exponential_buckets(counts, mapping, aggregation, cache);
                let (scale, buckets) = downscale(*scale, buckets, *max_buckets);
                out.exponential.push(ExponentialPoint {
                    attributes,
                    start,
                    time: now,
                    count: counts.count,
                    sum: counts.sum,
                    min,
                    max,
                    scale,
                    zero_count: counts.zeros,
                    zero_threshold: 0.0,
                    buckets,
                    exemplars,
                });
            }
            Aggregation::Explicit { bounds } => {
                out.explicit.push(HistogramPoint {
                    attributes,
                    start,
                    time: now,
                    count: counts.count,
                    sum: counts.sum,
                    min,
                    max,
                    bounds,
                    counts: explicit_buckets(counts, mapping, aggregation, cache, bounds.len()),
                    exemplars,
                });
            }
        }
    }
    out.next.push((
        key,
        SeriesState {
            cuts,
            prev,
            cumulative,
            start,
            last: now,
        },
    ));
}

/// The sketch's buckets re-bucketed at the aggregation's scale: each
/// bucket's count in the OTLP bucket of its answer value (see the module
/// docs), as `(index, count)` by increasing index.
pub(crate) fn exponential_buckets(
    counts: &Counts,
    mapping: &BucketMapping,
    aggregation: &Aggregation,
    cache: &mut IndexCache,
) -> Vec<(i32, u64)> {
    let mut out: Vec<(i32, u64)> = Vec::new();
    for (i, n) in counts.iter() {
        let j = cache.target(i, mapping, aggregation);
        // The answer value grows with `i`, so `j` never goes down.
        match out.last_mut() {
            Some((last, c)) if *last == j => *c += n,
            _ => out.push((j, n)),
        }
    }
    out
}

/// `buckets` at `scale`, downscaled (the specification's `index >> d`,
/// which merges each `2^d` adjacent buckets) until they span at most
/// `max_buckets`, and never below scale -10. Returns the new scale.
pub(crate) fn downscale(
    scale: i32,
    buckets: Vec<(i32, u64)>,
    max_buckets: usize,
) -> (i32, Vec<(i32, u64)>) {
    let (Some(&(first, _)), Some(&(last, _))) = (buckets.first(), buckets.last()) else {
        return (scale, buckets);
    };
    let span = |d: i32| usize::try_from((last >> d) - (first >> d)).unwrap_or(0) + 1;
    let mut d = 0;
    while span(d) > max_buckets.max(1) && scale - d > -10 {
        d += 1;
    }
    if d == 0 {
        return (scale, buckets);
    }
    let mut out: Vec<(i32, u64)> = Vec::with_capacity(max_buckets.min(buckets.len()));
    for (j, n) in buckets {
        let j = j >> d;
        match out.last_mut() {
            Some((last, c)) if *last == j => *c += n,
            _ => out.push((j, n)),
        }
    }
    (scale - d, out)
}

/// The sketch's buckets counted against explicit upper bounds (each
/// bucket's count where its answer value falls; the zero bucket first).
fn explicit_buckets(
    counts: &Counts,
    mapping: &BucketMapping,
    aggregation: &Aggregation,
    cache: &mut IndexCache,
    bounds: usize,
) -> Vec<u64> {
    let mut out = vec![0; bounds + 1];
    out[0] += counts.zeros;
    for (i, n) in counts.iter() {
        let at = usize::try_from(cache.target(i, mapping, aggregation)).unwrap_or(0);
        out[at.min(bounds)] += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use agent_trace_metrics::{ManualClock, Tier};

    use super::*;

    fn eps(scale: i32) -> f64 {
        let b = 2f64.powf(2f64.powi(-scale));
        (b - 1.0) / (b + 1.0)
    }

    #[test]
    fn the_scale_is_the_coarsest_within_a_quarter_of_the_accuracy() {
        for a in [0.001, 0.005, 0.01, 0.02, 0.05, 0.1] {
            let s = scale_for_accuracy(a);
            assert!(eps(s) <= a / 4.0, "a={a} s={s}");
            assert!(eps(s - 1) > a / 4.0, "a={a}: {s} is not the coarsest");
        }
        assert_eq!(scale_for_accuracy(0.01), 8);
    }

    #[test]
    fn exponential_indexes_hold_their_values() {
        let mut x = 1e-7;
        while x < 1e4 {
            for scale in [-3, -1, 0, 1, 3, 8, 12] {
                let j = exponential_index(x, scale);
                let lower = (f64::from(j) * 2f64.powi(-scale)).exp2();
                let upper = (f64::from(j + 1) * 2f64.powi(-scale)).exp2();
                assert!(
                    lower < x * (1.0 + 1e-12) && x <= upper * (1.0 + 1e-12),
                    "x={x} scale={scale} j={j} ({lower}, {upper}]"
                );
            }
            x *= 1.013;
        }
        // Exact powers of two close their bucket.
        assert_eq!(exponential_index(2.0, 0), 0);
        assert_eq!(exponential_index(0.5, 2), -5);
    }

    /// Many pushes at random gaps, on tiers small enough that slots roll
    /// up, straddle the cuts and expire between pushes: the deltas count
    /// every value once, and the cumulative points never go back.
    #[test]
    fn deltas_count_every_value_once_whatever_the_slots_did() {
        let clock = Arc::new(ManualClock::new(1_700_000_000 * 1_000_000_000));
        let metrics = LatencyMetrics::builder()
            .clock(clock.clone())
            .tiers(vec![
                Tier::new(Duration::from_secs(1), 4),
                Tier::new(Duration::from_secs(4), 4),
                Tier::new(Duration::from_secs(16), 1000),
            ])
            .metrics_facade(false)
            .build()
            .unwrap();
        let aggregation = Aggregation::Exponential {
            scale: 8,
            max_buckets: usize::MAX,
        };
        let mut cache = IndexCache::default();
        let mut delta_states = HashMap::new();
        let mut cumulative_states = HashMap::new();
        let mut rng: u64 = 12345;
        let mut next = || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            rng >> 33
        };
        let (mut recorded, mut delta_sum) = (0u64, 0u64);
        for push in 0..300 {
            let n = next() % 20;
            for _ in 0..n {
                metrics
                    .record("op", (1 + next() % 1000) as f64 / 256.0)
                    .unwrap();
                recorded += 1;
                clock.advance(Duration::from_millis(next() % 900));
            }
            clock.advance(Duration::from_millis(next() % 30_000));
            let d = collect(
                &metrics,
                &delta_states,
                Temporality::Delta,
                &aggregation,
                &mut cache,
            );
            let c = collect(
                &metrics,
                &cumulative_states,
                Temporality::Cumulative,
                &aggregation,
                &mut cache,
            );
            assert_eq!(d.lost + c.lost, 0);
            delta_sum += d.exponential.iter().map(|p| p.count).sum::<u64>();
            assert_eq!(delta_sum, recorded, "push {push}");
            let total: u64 = c.exponential.iter().map(|p| p.count).sum();
            assert_eq!(total, recorded, "push {push}");
            // Every other delta push fails: nothing is committed, the next
            // one carries its values.
            if push % 2 == 0 {
                delta_sum -= d.exponential.iter().map(|p| p.count).sum::<u64>();
            } else {
                delta_states.extend(d.next);
            }
            cumulative_states.extend(c.next);
        }
    }
}
