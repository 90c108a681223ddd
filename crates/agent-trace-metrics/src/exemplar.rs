//! Exemplars: recorded values that name the trace they came from, so that a
//! percentile links to a real trace ("p99 = 4.2 s, e.g. trace 4bf9...").
//!
//! # What is kept, and why
//!
//! A value recorded with a trace id ([`LatencyMetrics::record_with_exemplar`])
//! is offered to an [`ExemplarSet`]: a fixed array with one entry per
//! Prometheus bucket range of [`DURATION_BUCKETS`] (`(0, 5 ms]`, ...,
//! `(60 s, 120 s]`, above 120 s), holding the *newest* exemplar of that
//! range, plus one entry for the *largest* value seen. So a set holds at
//! most 14 exemplars whatever the traffic, the slow tail always has its own
//! entries (thousands of fast values never displace the one slow one, they
//! fall in other ranges), and the slowest value is always among them, so
//! every percentile has an exemplar at or above it. The bucket ranges are
//! those of the Prometheus histograms, so the same sets give the exemplars
//! of the OpenMetrics exposition, each inside the bucket it is shown on.
//!
//! Each live slot of a series keeps such a set; when the slot closes, the
//! set goes into the history next to the slot's sketch, as a list of its
//! distinct entries, and rolls up with it into coarser tiers (two sets
//! merge into the set of the union: per range the newer entry, overall the
//! larger). Merging is associative and commutative, because "newest" and
//! "largest" are total orders (ties broken by value, time and trace id), so
//! a set does not depend on the order values arrived in or slots merged.
//!
//! Plain `record` never touches any of this: the set of a live slot is
//! allocated on the first exemplar, and a series without exemplars holds
//! none in its history.
//!
//! [`LatencyMetrics::record_with_exemplar`]: crate::LatencyMetrics::record_with_exemplar
//! [`DURATION_BUCKETS`]: crate::DURATION_BUCKETS

use std::fmt;
use std::num::NonZeroU128;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::prometheus::{BUCKETS, checked_bucket_index};

/// A recorded latency together with the trace it belongs to.
///
/// Returned by [`LatencyMetrics::percentiles_with_exemplars`] and
/// [`LatencyMetrics::exemplars`]; served on the histogram buckets of the
/// OpenMetrics exposition (feature `prometheus`).
///
/// ```
/// use agent_trace_metrics::LatencyMetrics;
///
/// let metrics = LatencyMetrics::new();
/// let trace = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
/// metrics.record_with_exemplar("llm_call", 4.2, trace)?;
/// let e = metrics.exemplars("llm_call", None)[0];
/// assert_eq!(e.trace_id(), trace);
/// assert_eq!(e.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(e.to_string(), "4.2 s, trace 4bf92f3577b34da6a3ce929d0e0e4736");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`LatencyMetrics::percentiles_with_exemplars`]: crate::LatencyMetrics::percentiles_with_exemplars
/// [`LatencyMetrics::exemplars`]: crate::LatencyMetrics::exemplars
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exemplar {
    /// Seconds, as `f64` bits: finite and non-negative (`-0.0` is stored as
    /// `0.0`), so the bits order like the values.
    value_bits: u64,
    unix_nanos: u64,
    trace_id: NonZeroU128,
    /// The span the value was measured on; 0 when not known.
    span_id: u64,
}

/// What an exemplar points at: a trace, and the span in it whose latency
/// the value is (`span_id` 0: not known). A bare `u128` is a trace id
/// alone; `(trace_id, span_id)` names both.
///
/// ```
/// use agent_trace_metrics::{ExemplarIds, LatencyMetrics};
///
/// let metrics = LatencyMetrics::new();
/// let trace = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
/// metrics.record_with_exemplar("llm_call", 4.2, (trace, 0x00f0_67aa_0ba9_02b7))?;
/// let e = metrics.exemplars("llm_call", None)[0];
/// assert_eq!((e.trace_id(), e.span_id()), (trace, Some(0x00f0_67aa_0ba9_02b7)));
/// assert_eq!(ExemplarIds::from(trace).span_id, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExemplarIds {
    /// The trace (the W3C trace id as a big-endian number); 0 names none,
    /// and the value is then recorded without an exemplar.
    pub trace_id: u128,
    /// The span (the W3C span id as a big-endian number); 0: not known.
    pub span_id: u64,
}

/// A trace id alone.
impl From<u128> for ExemplarIds {
    #[inline]
    fn from(trace_id: u128) -> Self {
        Self {
            trace_id,
            span_id: 0,
        }
    }
}

/// A trace id and a span id.
impl From<(u128, u64)> for ExemplarIds {
    #[inline]
    fn from((trace_id, span_id): (u128, u64)) -> Self {
        Self { trace_id, span_id }
    }
}

impl Exemplar {
    /// An exemplar of a checked (finite, non-negative) value; `None` for a
    /// zero trace id, which names no trace.
    #[inline]
    pub(crate) fn new(value: f64, ids: ExemplarIds, unix_nanos: u64) -> Option<Self> {
        // `-0.0 + 0.0` is `0.0`: one bit pattern per value.
        let value = value + 0.0;
        Some(Self {
            value_bits: value.to_bits(),
            unix_nanos,
            trace_id: NonZeroU128::new(ids.trace_id)?,
            span_id: ids.span_id,
        })
    }

    /// The latency in seconds.
    pub fn value(&self) -> f64 {
        f64::from_bits(self.value_bits)
    }

    /// The trace's id (the W3C trace id as a big-endian number); never zero.
    pub fn trace_id(&self) -> u128 {
        self.trace_id.get()
    }

    /// The span whose latency the value is, when it was recorded with one.
    pub fn span_id(&self) -> Option<u64> {
        (self.span_id != 0).then_some(self.span_id)
    }

    /// The trace id as 32 lowercase hex digits, as in `traceparent`.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id.get())
    }

    /// When the value was recorded, in nanoseconds since the Unix epoch, as
    /// read from the registry's [`Clock`](crate::Clock).
    pub fn unix_nanos(&self) -> u64 {
        self.unix_nanos
    }

    /// When the value was recorded, as a [`SystemTime`].
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_nanos)
    }

    /// Whether `self` is newer than `other` (time, then value, then trace
    /// id: a total order).
    #[inline]
    pub(crate) fn is_newer_than(&self, other: &Exemplar) -> bool {
        self.newer_key() > other.newer_key()
    }

    /// The order "newer": time, then value, then trace id, then span id.
    #[inline]
    fn newer_key(&self) -> (u64, u64, u128, u64) {
        (
            self.unix_nanos,
            self.value_bits,
            self.trace_id.get(),
            self.span_id,
        )
    }

    /// The order "larger": value, then time, then trace id, then span id.
    #[inline]
    fn larger_key(&self) -> (u64, u64, u128, u64) {
        (
            self.value_bits,
            self.unix_nanos,
            self.trace_id.get(),
            self.span_id,
        )
    }
}

impl fmt::Debug for Exemplar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exemplar")
            .field("value", &self.value())
            .field("trace_id", &format_args!("{:032x}", self.trace_id.get()))
            .field("span_id", &format_args!("{:016x}", self.span_id))
            .field("unix_nanos", &self.unix_nanos)
            .finish()
    }
}

/// `"4.2 s, trace 4bf92f3577b34da6a3ce929d0e0e4736"`.
impl fmt::Display for Exemplar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s, trace {:032x}", self.value(), self.trace_id.get())
    }
}

/// At most one exemplar per bucket range (the newest) and the largest one;
/// see the module docs. Fixed size: 14 entries of 48 bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ExemplarSet {
    by_range: [Option<Exemplar>; BUCKETS],
    largest: Option<Exemplar>,
}

impl ExemplarSet {
    /// Offers one exemplar.
    #[inline]
    pub(crate) fn add(&mut self, e: Exemplar) {
        self.add_at(checked_bucket_index(e.value()), e);
    }

    /// [`add`](Self::add) of an exemplar whose value's
    /// [`checked_bucket_index`] is `i`, found once by a caller that offers
    /// it to several sets.
    #[inline]
    pub(crate) fn add_at(&mut self, i: usize, e: Exemplar) {
        debug_assert_eq!(i, checked_bucket_index(e.value()));
        // `i < BUCKETS` already; the `min` spares a bounds check.
        let slot = &mut self.by_range[i.min(BUCKETS - 1)];
        if slot.is_none_or(|cur| e.newer_key() > cur.newer_key()) {
            *slot = Some(e);
        }
        if self
            .largest
            .is_none_or(|cur| e.larger_key() > cur.larger_key())
        {
            self.largest = Some(e);
        }
    }

    /// Offers every exemplar of `other`.
    pub(crate) fn merge(&mut self, other: &ExemplarSet) {
        for e in other.iter() {
            self.add(e);
        }
    }

    /// Offers every exemplar of a list.
    pub(crate) fn extend(&mut self, list: &[Exemplar]) {
        for &e in list {
            self.add(e);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.largest.is_none()
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The newest exemplar of each bucket range, by range index.
    pub(crate) fn by_range(&self) -> &[Option<Exemplar>; BUCKETS] {
        &self.by_range
    }

    /// The distinct entries, the largest one included (it is also one of the
    /// values of its range, so offering the list to an empty set gives this
    /// set back).
    pub(crate) fn iter(&self) -> impl Iterator<Item = Exemplar> + '_ {
        let largest = self
            .largest
            .filter(|l| !self.by_range.iter().flatten().any(|e| e == l));
        self.by_range.iter().flatten().copied().chain(largest)
    }

    /// The distinct entries as a list sorted by value, for a closed slot.
    pub(crate) fn to_list(&self) -> Box<[Exemplar]> {
        let mut list: Vec<Exemplar> = self.iter().collect();
        list.sort_by_key(Exemplar::larger_key);
        list.into_boxed_slice()
    }
}

/// The exemplar of `candidates` that best illustrates the quantile value
/// `q`: the smallest at or above `q` (less the relative accuracy `a`, by
/// which the sketch's answer may exceed the exact value), the newest of
/// equals; when none is that large, the largest below.
pub(crate) fn nearest_at_or_above(candidates: &[Exemplar], q: f64, a: f64) -> Option<Exemplar> {
    let floor = q * (1.0 - a);
    let above = candidates
        .iter()
        .filter(|e| e.value() >= floor)
        .min_by(|x, y| {
            x.value()
                .total_cmp(&y.value())
                .then(y.newer_key().cmp(&x.newer_key()))
        });
    above
        .or_else(|| candidates.iter().max_by_key(|e| e.larger_key()))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(value: f64, id: u128, t: u64) -> Exemplar {
        Exemplar::new(value, id.into(), t).unwrap()
    }

    #[test]
    fn zero_trace_ids_name_no_trace_and_negative_zero_is_zero() {
        assert!(Exemplar::new(1.0, 0.into(), 5).is_none());
        assert_eq!(ex(-0.0, 1, 0), ex(0.0, 1, 0));
    }

    #[test]
    fn one_per_range_newest_wins_and_the_largest_stays() {
        let mut s = ExemplarSet::default();
        s.add(ex(0.3, 1, 10)); // (0.25, 0.5]
        s.add(ex(0.4, 2, 20)); // same range, newer
        s.add(ex(0.45, 3, 15)); // same range, older: not kept
        s.add(ex(9.0, 4, 5)); // (5, 10], the largest
        s.add(ex(6.0, 5, 30)); // same range, newer
        let list = s.to_list();
        let ids: Vec<u128> = list.iter().map(|e| e.trace_id()).collect();
        assert_eq!(ids, [2, 5, 4]);
        // The list gives the same set back.
        let mut again = ExemplarSet::default();
        again.extend(&list);
        assert_eq!(again, s);
    }

    #[test]
    fn merging_does_not_depend_on_the_order() {
        let items: Vec<Exemplar> = (1..200u128)
            .map(|i| {
                let v = ((i * 7919) % 1000) as f64 / 37.0;
                ex(v, i, ((i * 104_729) % 50) as u64)
            })
            .collect();
        let mut forward = ExemplarSet::default();
        items.iter().for_each(|&e| forward.add(e));
        let mut halves = ExemplarSet::default();
        let mut a = ExemplarSet::default();
        let mut b = ExemplarSet::default();
        items.iter().rev().step_by(2).for_each(|&e| a.add(e));
        items
            .iter()
            .rev()
            .skip(1)
            .step_by(2)
            .for_each(|&e| b.add(e));
        halves.merge(&b);
        halves.merge(&a);
        assert_eq!(forward, halves);
    }

    #[test]
    fn the_nearest_at_or_above_is_chosen() {
        let c = [ex(1.0, 1, 0), ex(2.0, 2, 0), ex(4.0, 3, 0), ex(4.0, 4, 9)];
        let pick = |q| nearest_at_or_above(&c, q, 0.01).map(|e| e.trace_id());
        assert_eq!(pick(1.5), Some(2));
        // Within the accuracy below counts as at.
        assert_eq!(pick(2.01), Some(2));
        // Equal values: the newer.
        assert_eq!(pick(3.0), Some(4));
        // Nothing that large: the largest below.
        assert_eq!(pick(9.0), Some(4));
        assert_eq!(nearest_at_or_above(&[], 1.0, 0.01), None);
    }
}
