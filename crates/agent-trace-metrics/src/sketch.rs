//! The relative-error quantile sketch: a DDSketch with a cubically
//! interpolated bucket mapping, exact moments, and a compact byte form for
//! closed time slots.
//!
//! # The mapping, and why it keeps the error bound
//!
//! DDSketch puts a positive value `x` into bucket `floor(log_gamma(x))` with
//! `gamma = (1 + a) / (1 - a)`. Every bucket then spans values whose ratio is
//! at most `gamma`, and answering with the bucket's harmonic mean
//! `2 lo hi / (lo + hi)` is off by at most `(gamma - 1) / (gamma + 1) = a`,
//! relatively, for every value in the bucket.
//!
//! Calling `ln` per record costs more than everything else in `record`. So,
//! as DDSketch's "cubically interpolated mapping" does, we write
//! `x = 2^e (1 + s)` with `s` in `[0, 1)` read straight from the float's
//! exponent and mantissa bits, and replace `log2(x) = e + log2(1 + s)` by
//!
//! ```text
//! L(x) = e + P(s),   P(s) = A s^3 + B s^2 + C s,   A = 6/35, B = -3/5, C = 10/7.
//! ```
//!
//! `P(0) = 0` and `P(1) = A + B + C = 1`, so `L` is continuous across powers
//! of two, and `P' > 0` on `[0, 1]`, so `L` is strictly increasing: buckets
//! still partition the positive reals in order. What changes is the slope:
//! `dL / dlog2(x) = P'(s) (1 + s) ln 2`, whose minimum over `[0, 1)` is
//! `C ln 2 ~ 0.990` (reached at `s = 0` and `s = 2/3`). The bucket index is
//! `floor(L(x) * m)` with the multiplier
//!
//! ```text
//! m = 1 / (C ln gamma),
//! ```
//!
//! so a bucket spans `1/m = C ln gamma` in `L`, hence at most
//! `C ln gamma / (C ln 2) = log2(gamma)` in `log2(x)`: the ratio of any two
//! values in a bucket is still at most `gamma`, and the `a` bound holds. The
//! price is about 1% more buckets than the exact logarithm (`1 / (C ln 2)`).
//! Bucket bounds are found by inverting `P` (bisection; queries only).
//!
//! Values below `f64::MIN_POSITIVE` (subnormals, whose bits do not have this
//! shape) and zero go to a separate zero counter and are answered as `0`.
//!
//! # Bounded size
//!
//! A store keeps a contiguous range of at most `max_buckets` bucket counts.
//! When a value would widen the range past that, the *lowest* buckets are
//! collapsed into one (DDSketch's "collapsing lowest" store): latency tails
//! are at the top, and only quantiles that fall in the collapsed bucket lose
//! the guarantee. The default cap is the number of buckets that spans a
//! factor of 2^60 (about 10^18) between the smallest and the largest value
//! at the configured accuracy (2,101 buckets at 1%), so nothing collapses
//! for latencies between a nanosecond and thirty years.
//!
//! # Moments
//!
//! Count, sum, min and max are exact. A live slot keeps the sum of squared
//! deviations (`M2`) as sums of `x - K` and `(x - K)^2` around its first
//! value `K` (see [`LiveMoments`] for why not Welford's update), and
//! finishes them into a mean and `M2` when it closes; those are merged with
//! Chan et al.'s parallel formula. Both stay accurate where the naive
//! `sum(x^2) - n mean^2` loses every digit.

use crate::Quantile;

const A: f64 = 6.0 / 35.0;
const B: f64 = -3.0 / 5.0;
const C: f64 = 10.0 / 7.0;

const MANTISSA_MASK: u64 = (1 << 52) - 1;

/// Maps positive values to bucket indexes and back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Mapping {
    multiplier: f64,
    relative_accuracy: f64,
}

impl Mapping {
    /// `relative_accuracy` must lie in `(0, 1)`; the builder checks it.
    pub(crate) fn new(relative_accuracy: f64) -> Self {
        let gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy);
        Self {
            multiplier: 1.0 / (C * gamma.ln()),
            relative_accuracy,
        }
    }

    pub(crate) fn relative_accuracy(&self) -> f64 {
        self.relative_accuracy
    }

    /// How many buckets cover a factor of `2^octaves` between the smallest
    /// and the largest value.
    pub(crate) fn buckets_for_octaves(&self, octaves: f64) -> usize {
        (octaves * self.multiplier).ceil() as usize + 1
    }

    /// The bucket of a normal positive `x`.
    #[inline]
    pub(crate) fn index(&self, x: f64) -> i32 {
        let bits = x.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i32 - 1023;
        let s = f64::from_bits((bits & MANTISSA_MASK) | 1.0f64.to_bits()) - 1.0;
        let l = ((A * s + B) * s + C) * s + f64::from(e);
        // `floor` without `f64::floor`: on the baseline x86-64 target (no
        // SSE4.1 `roundsd`) that is a call into libm, about 15 instructions,
        // where truncating and correcting negative fractions is 4 (callgrind,
        // `benches/latency.rs` workload `record`). `|y|` stays far below
        // `i32::MAX` for every finite `x`.
        let y = l * self.multiplier;
        let t = y as i32;
        t - i32::from(f64::from(t) > y)
    }

    /// The bucket of a finite, non-negative `x`, or `None` for the zero
    /// counter (zero and subnormals).
    #[inline]
    pub(crate) fn bucket(&self, x: f64) -> Option<i32> {
        if x < f64::MIN_POSITIVE {
            None
        } else {
            Some(self.index(x))
        }
    }

    /// The smallest value of bucket `i` (the inverse of `L` at `i / m`).
    pub(crate) fn lower_bound(&self, i: i32) -> f64 {
        let l = f64::from(i) / self.multiplier;
        let e = l.floor();
        let f = l - e;
        // Solve P(s) = f by Newton's method. Only queries get here, but each
        // quantile asks twice, and 60 bisection steps were a third of a
        // week-long `percentiles` (callgrind, `benches/latency.rs` workload
        // `percentiles_7d`). P is increasing with P' between 26/35 and 10/7
        // on [0, 1] and |P''| <= 6/5, so from s = f (|P(s) - s| < 0.09)
        // the error squares each step: four steps reach the rounding floor
        // (checked against bisection over 200,001 points); six for margin,
        // and the unit tests check that every bucket's bound still inverts
        // `index`.
        let mut s = f;
        for _ in 0..6 {
            let p = ((A * s + B) * s + C) * s - f;
            let dp = (3.0 * A * s + 2.0 * B) * s + C;
            s = (s - p / dp).clamp(0.0, 1.0);
        }
        (1.0 + s) * 2f64.powi(e as i32)
    }

    /// The value reported for bucket `i`: the harmonic mean of its bounds,
    /// which is within the relative accuracy of every value in the bucket.
    pub(crate) fn value(&self, i: i32) -> f64 {
        let lo = self.lower_bound(i);
        let hi = self.lower_bound(i + 1);
        2.0 * lo * hi / (lo + hi)
    }
}

/// Exact count, sum, min and max, and mergeable mean and `M2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Moments {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) mean: f64,
    pub(crate) m2: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Welford's update: the reference the live slots' shifted sums are
    /// tested against.
    #[cfg(test)]
    fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Chan, Golub and LeVeque's pairwise combination.
    pub(crate) fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Population standard deviation (divides by `n`, not `n - 1`).
    pub(crate) fn std(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.m2.max(0.0) / self.count as f64).sqrt()
        }
    }
}

/// Count, sum, min and max, and the mean and `M2` as *shifted sums*: the
/// form a live slot accumulates, finished into [`Moments`] when the slot
/// closes.
///
/// Welford's update divides by the count on every value, and each value's
/// mean depends on the previous one: a chain of a subtraction, a division and
/// an addition, some 20 cycles per record that no amount of out-of-order
/// execution hides. Summing `d = x - K` and `d^2` around a shift `K`, the
/// slot's first value, is two independent additions per value. The
/// cancellation in `M2 = s2 - s1^2 / n` loses about `log2((mean - K)^2 /
/// variance)` bits, and since `K` is one of the `n` values, `(mean - K)^2 <=
/// n variance`: at most `log2 n` bits, and none to speak of when `K` is a
/// typical value (on a large mean with a tiny spread this is more accurate
/// than Welford's update, see the tests). Count, sum, min and max stay
/// exact, and the mean is `sum / n`, as a closed slot's decoding computes it.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct LiveMoments {
    count: u64,
    sum: f64,
    shift: f64,
    s1: f64,
    s2: f64,
    min: f64,
    max: f64,
}

impl Default for LiveMoments {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            shift: 0.0,
            s1: 0.0,
            s2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl LiveMoments {
    /// Makes `first`, the value about to be added first, the shift `K` of
    /// an empty slot. Done once per slot, out of the hot path, so that
    /// [`add`](Self::add) needs no "is this the first value" branch.
    fn begin(&mut self, first: f64) {
        debug_assert_eq!(self.count, 0, "a slot is begun while empty");
        self.shift = first;
    }

    /// Adds a finite, non-negative value to a slot that has been begun.
    #[inline]
    fn add(&mut self, x: f64) {
        debug_assert!(self.count > 0 || self.shift == x, "add before begin");
        self.count += 1;
        self.sum += x;
        let d = x - self.shift;
        self.s1 += d;
        self.s2 += d * d;
        // Plain comparisons: `x` is never NaN, and `f64::min` pays for
        // handling it. Conditional stores, not selects: both branches are
        // almost never taken once a slot has a few values, and selects of
        // the adjacent pair compile to a ten-instruction vector blend.
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
    }

    fn finish(&self) -> Moments {
        if self.count == 0 {
            return Moments::default();
        }
        let n = self.count as f64;
        Moments {
            count: self.count,
            sum: self.sum,
            // As a closed slot's decoding computes it.
            mean: self.sum / n,
            m2: (self.s2 - self.s1 * (self.s1 / n)).max(0.0),
            min: self.min,
            max: self.max,
        }
    }
}

/// A contiguous range of bucket counts, collapsing the lowest buckets beyond
/// `max_buckets`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Store {
    offset: i32,
    counts: Vec<u64>,
}

impl Store {
    #[inline]
    pub(crate) fn add(&mut self, index: i32, n: u64, max_buckets: usize) {
        // The common case inline; widening the range out of line.
        if let Some(c) = self.count_mut(index) {
            *c += n;
        } else {
            self.widen_and_add(index, n, max_buckets);
        }
    }

    /// The count of bucket `index` if it lies in the current range.
    #[inline]
    fn count_mut(&mut self, index: i32) -> Option<&mut u64> {
        usize::try_from(index.wrapping_sub(self.offset))
            .ok()
            .and_then(|i| self.counts.get_mut(i))
    }

    #[cold]
    #[inline(never)]
    fn widen_and_add(&mut self, index: i32, n: u64, max_buckets: usize) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(n);
            return;
        }
        let lo = self.offset;
        let hi = lo + self.counts.len() as i32 - 1;
        if index >= lo && index <= hi {
            self.counts[(index - lo) as usize] += n;
        } else if index < lo {
            // Widen downwards, but never past `max_buckets`; anything lower
            // lands in the lowest kept bucket. Widen by half the current
            // range more than needed, so that values arriving in falling
            // order do not shift the counts once each.
            let floor = hi - max_buckets as i32 + 1;
            let index = index.max(floor);
            if index < lo {
                let slack = self.counts.len() as i32 / 2;
                let new_lo = (index - slack).max(floor);
                let mut counts = vec![0; (lo - new_lo) as usize];
                counts.extend_from_slice(&self.counts);
                self.counts = counts;
                self.offset = new_lo;
            }
            self.counts[(index - self.offset) as usize] += n;
        } else {
            // Widen upwards; if that exceeds `max_buckets`, fold the lowest
            // buckets into the new lowest one.
            let new_lo = lo.max(index - max_buckets as i32 + 1);
            if new_lo > lo {
                let drop = ((new_lo - lo) as usize).min(self.counts.len());
                let folded: u64 = self.counts.drain(..drop).sum();
                self.offset = new_lo;
                if self.counts.is_empty() {
                    self.counts.push(0);
                }
                self.counts[0] += folded;
            }
            let needed = (index - self.offset + 1) as usize;
            if needed > self.counts.len() {
                self.counts.resize(needed, 0);
            }
            self.counts[(index - self.offset) as usize] += n;
        }
    }

    /// Takes `n` back out of bucket `index`; `false` (and no change) if the
    /// bucket does not hold that many.
    pub(crate) fn sub(&mut self, index: i32, n: u64) -> bool {
        let Some(c) = usize::try_from(index - self.offset)
            .ok()
            .and_then(|i| self.counts.get_mut(i))
        else {
            return false;
        };
        match c.checked_sub(n) {
            Some(left) => {
                *c = left;
                true
            }
            None => false,
        }
    }

    /// Whether the range is as wide as `max_buckets`, so that a value may
    /// have been collapsed into the lowest bucket.
    pub(crate) fn is_full(&self, max_buckets: usize) -> bool {
        self.counts.len() >= max_buckets
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (self.offset + i as i32, *c))
    }

    pub(crate) fn clear(&mut self) {
        self.counts.clear();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.counts.capacity() * size_of::<u64>()
    }
}

/// A sketch being filled (a live slot) or a query's merged result.
///
/// `repr(C)`, store and zeros first: in a [`LiveSketch`] they follow the
/// live moments, in the stripe's second cache line (see `Live` in the
/// `series` module); `moments` is written only when the slot closes.
#[derive(Debug, Clone, Default, PartialEq)]
#[repr(C)]
pub(crate) struct Sketch {
    pub(crate) store: Store,
    pub(crate) zeros: u64,
    pub(crate) moments: Moments,
}

impl Sketch {
    /// Adds a finite, non-negative value; tests only (live slots use
    /// [`LiveSketch`]).
    #[cfg(test)]
    pub(crate) fn add(&mut self, x: f64, mapping: &Mapping, max_buckets: usize) {
        self.moments.add(x);
        if x < f64::MIN_POSITIVE {
            self.zeros += 1;
        } else {
            self.store.add(mapping.index(x), 1, max_buckets);
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.moments.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.moments.count == 0
    }

    #[allow(
        clippy::needless_range_loop,
        reason = "index loops: iterator adapters cost several times more in the debug builds tests run in"
    )]
    pub(crate) fn merge(&mut self, other: &Sketch, max_buckets: usize) {
        self.moments.merge(&other.moments);
        self.zeros += other.zeros;
        let counts = &other.store.counts;
        for i in 0..counts.len() {
            if counts[i] > 0 {
                self.store
                    .add(other.store.offset + i as i32, counts[i], max_buckets);
            }
        }
    }

    /// Adds the buckets of `store` and `zeros` zeros, without moments.
    #[allow(
        clippy::needless_range_loop,
        reason = "index loops: iterator adapters cost several times more in the debug builds tests run in"
    )]
    pub(crate) fn merge_buckets(&mut self, zeros: u64, store: &Store, max_buckets: usize) {
        self.zeros += zeros;
        if self.store.is_empty() {
            // A copy: the common case of a query's first series.
            self.store.clone_from(store);
            return;
        }
        let counts = &store.counts;
        for i in 0..counts.len() {
            if counts[i] > 0 {
                self.store
                    .add(store.offset + i as i32, counts[i], max_buckets);
            }
        }
    }

    pub(crate) fn merge_compact(&mut self, other: &CompactSketch, max_buckets: usize) {
        let (moments, zeros) = other.decode(|i, c| self.store.add(i, c, max_buckets));
        self.moments.merge(&moments);
        self.zeros += zeros;
    }

    /// Empties the sketch, keeping its allocation for the next slot.
    pub(crate) fn clear(&mut self) {
        self.moments = Moments::default();
        self.zeros = 0;
        self.store.clear();
    }

    /// The nearest-rank quantile, within the relative accuracy unless it
    /// falls in a collapsed bucket; `None` when empty.
    pub(crate) fn quantile(&self, q: Quantile, mapping: &Mapping) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = q.rank(n);
        // The extreme ranks are known exactly.
        if rank == 1 {
            return Some(self.moments.min);
        }
        if rank == n {
            return Some(self.moments.max);
        }
        if rank <= self.zeros {
            return Some(0.0);
        }
        let mut remaining = rank - self.zeros;
        for (i, c) in self.store.iter() {
            if c >= remaining {
                // The true value lies in this bucket, and so between min and
                // max: clamping only moves the answer closer.
                let v = mapping.value(i);
                return Some(v.clamp(self.moments.min, self.moments.max));
            }
            remaining -= c;
        }
        Some(self.moments.max)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.store.heap_bytes()
    }

    pub(crate) fn to_compact(&self) -> CompactSketch {
        CompactSketch::encode(self)
    }
}

/// A live slot's sketch: buckets as in [`Sketch`], moments as
/// [`LiveMoments`]. `repr(C)`, in this order, for the layout of a stripe
/// (see `Live` in the `series` module).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct LiveSketch {
    moments: LiveMoments,
    sketch: Sketch,
}

impl LiveSketch {
    /// How many of its first bytes a record touches: the live moments, the
    /// store's range and the zero count, not the closed moments after them.
    #[cfg(test)]
    pub(crate) const HOT_BYTES: usize =
        std::mem::offset_of!(LiveSketch, sketch) + std::mem::offset_of!(Sketch, moments);

    /// Prepares an empty sketch for its first value, `first`; see
    /// [`LiveMoments::begin`]. Every slot is begun before its first
    /// [`add`](Self::add).
    pub(crate) fn begin(&mut self, first: f64) {
        self.moments.begin(first);
    }

    /// Adds a finite, non-negative value (checked by the caller) whose
    /// [`Mapping::bucket`] is `bucket`.
    #[inline]
    pub(crate) fn add(&mut self, x: f64, bucket: Option<i32>, max_buckets: usize) {
        self.moments.add(x);
        match bucket {
            None => self.sketch.zeros += 1,
            Some(i) => self.sketch.store.add(i, 1, max_buckets),
        }
    }

    /// [`add`](Self::add) when that needs no allocation (the bucket lies in
    /// the store's current range, or the value is a zero); `false`, and no
    /// change, otherwise.
    #[inline]
    pub(crate) fn try_add(&mut self, x: f64, bucket: Option<i32>) -> bool {
        match bucket {
            None => self.sketch.zeros += 1,
            Some(i) => match self.sketch.store.count_mut(i) {
                Some(c) => *c += 1,
                None => return false,
            },
        }
        self.moments.add(x);
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.moments.count == 0
    }

    /// The slot as a [`Sketch`], its moments finished.
    pub(crate) fn finish(&mut self) -> &Sketch {
        self.sketch.moments = self.moments.finish();
        &self.sketch
    }

    /// Empties the sketch, keeping its allocation for the next slot.
    pub(crate) fn clear(&mut self) {
        self.moments = LiveMoments::default();
        self.sketch.clear();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.sketch.heap_bytes()
    }
}

/// A closed slot's sketch as bytes.
///
/// Layout: the count and zero count as byte varints, then sum, `M2`, min
/// and max as little-endian `f64`s (the mean is `sum / count`), then the
/// buckets as a stream of *nibble varints* (3 value bits and a continuation
/// bit per half byte): `0` for no buckets, or the first bucket's index
/// (zigzag, plus one) and a tag, then either the dense form (length, one
/// count per bucket of the range, an empty bucket costing half a byte) or
/// the sparse form (number of buckets, then index delta and count per
/// non-empty bucket), whichever is shorter. Per-bucket
/// counts in a slot are mostly small, so most cost one or two nibbles: this
/// halves a week of slots compared with byte varints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompactSketch {
    bytes: Box<[u8]>,
}

const TAG_DENSE: u64 = 1;
const TAG_SPARSE: u64 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn get_f64(bytes: &[u8], pos: &mut usize) -> f64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[*pos..*pos + 8]);
    *pos += 8;
    f64::from_le_bytes(b)
}

/// Writes half bytes, low half first.
#[derive(Default)]
struct Nibbles {
    bytes: Vec<u8>,
    half: bool,
}

impl Nibbles {
    fn put(&mut self, n: u8) {
        if self.half {
            if let Some(last) = self.bytes.last_mut() {
                *last |= n << 4;
            }
        } else {
            self.bytes.push(n);
        }
        self.half = !self.half;
    }

    fn put_varint(&mut self, mut v: u64) {
        while v >= 8 {
            self.put((v as u8 & 7) | 8);
            v >>= 3;
        }
        self.put(v as u8);
    }
}

/// Reads what [`Nibbles`] wrote.
struct NibbleReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl NibbleReader<'_> {
    fn get(&mut self) -> u8 {
        let b = self.bytes[self.pos / 2];
        let n = if self.pos.is_multiple_of(2) {
            b & 0xf
        } else {
            b >> 4
        };
        self.pos += 1;
        n
    }

    fn get_varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let n = self.get();
            v |= u64::from(n & 7) << shift;
            if n < 8 {
                return v;
            }
            shift += 3;
        }
    }
}

/// How many nibbles `Nibbles::put_varint(v)` writes.
#[inline]
fn nibbles_of(v: u64) -> usize {
    (66 - (v | 1).leading_zeros() as usize) / 3
}

fn zigzag(i: i32) -> u64 {
    u64::from(((i << 1) ^ (i >> 31)) as u32)
}

fn unzigzag(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

impl CompactSketch {
    #[allow(
        clippy::needless_range_loop,
        reason = "index loops: iterator adapters cost several times more in the debug builds tests run in"
    )]
    fn encode(sketch: &Sketch) -> Self {
        let m = &sketch.moments;
        let mut bytes = Vec::with_capacity(48);
        put_varint(&mut bytes, m.count);
        put_varint(&mut bytes, sketch.zeros);
        for f in [m.sum, m.m2, m.min, m.max] {
            bytes.extend_from_slice(&f.to_le_bytes());
        }
        // One pass over the range finds its non-empty ends and the length of
        // both forms in nibbles; a second writes the shorter. Plain index
        // loops: this runs once per closed slot, also in debug test builds.
        let counts = &sketch.store.counts;
        let (mut first, mut last, mut nonzero) = (usize::MAX, 0, 0u64);
        let (mut dense_len, mut sparse_len) = (0usize, 0usize);
        for i in 0..counts.len() {
            let c = counts[i];
            if c > 0 {
                if first == usize::MAX {
                    first = i;
                    dense_len = 0;
                } else {
                    dense_len += (i - last - 1) + nibbles_of(c);
                    sparse_len += nibbles_of((i - last) as u64) + nibbles_of(c);
                    last = i;
                    nonzero += 1;
                    continue;
                }
                dense_len += nibbles_of(c);
                sparse_len += 1 + nibbles_of(c);
                last = i;
                nonzero += 1;
            }
        }
        let mut n = Nibbles::default();
        if first == usize::MAX {
            n.put_varint(0);
        } else {
            let offset = sketch.store.offset + first as i32;
            let range = &counts[first..=last];
            // `0` is kept for "no buckets".
            n.put_varint(zigzag(offset) + 1);
            if sparse_len + nibbles_of(nonzero) < dense_len + nibbles_of(range.len() as u64) {
                n.put_varint(TAG_SPARSE);
                n.put_varint(nonzero);
                let mut previous = 0;
                for i in 0..range.len() {
                    let c = range[i];
                    if c > 0 {
                        // The first delta is 0; the rest are positive.
                        n.put_varint((i - previous) as u64);
                        n.put_varint(c);
                        previous = i;
                    }
                }
            } else {
                n.put_varint(TAG_DENSE);
                n.put_varint(range.len() as u64);
                for i in 0..range.len() {
                    n.put_varint(range[i]);
                }
            }
        }
        let buckets = n;
        bytes.extend_from_slice(&buckets.bytes);
        Self {
            bytes: bytes.into_boxed_slice(),
        }
    }

    /// The moments and the zero count, without reading the buckets.
    pub(crate) fn moments(&self) -> (Moments, u64) {
        let (moments, zeros, _) = self.header();
        (moments, zeros)
    }

    /// The moments, the zero count and where the buckets start.
    fn header(&self) -> (Moments, u64, usize) {
        let b = &self.bytes;
        let mut pos = 0;
        let count = get_varint(b, &mut pos);
        let zeros = get_varint(b, &mut pos);
        let sum = get_f64(b, &mut pos);
        let m2 = get_f64(b, &mut pos);
        let min = get_f64(b, &mut pos);
        let max = get_f64(b, &mut pos);
        let moments = Moments {
            count,
            sum,
            mean: if count == 0 { 0.0 } else { sum / count as f64 },
            m2,
            min,
            max,
        };
        (moments, zeros, pos)
    }

    /// Calls `f(index, count)` for each bucket, and returns the moments and
    /// the zero count.
    pub(crate) fn decode(&self, mut f: impl FnMut(i32, u64)) -> (Moments, u64) {
        let (moments, zeros, pos) = self.header();
        let mut r = NibbleReader {
            bytes: &self.bytes[pos..],
            pos: 0,
        };
        match r.get_varint() {
            0 => {}
            offset => {
                let offset = unzigzag(offset - 1);
                match r.get_varint() {
                    TAG_DENSE => {
                        let len = r.get_varint();
                        for i in 0..len {
                            let c = r.get_varint();
                            if c > 0 {
                                f(offset + i as i32, c);
                            }
                        }
                    }
                    _ => {
                        let n = r.get_varint();
                        let mut index = offset;
                        for _ in 0..n {
                            index += r.get_varint() as i32;
                            f(index, r.get_varint());
                        }
                    }
                }
            }
        }
        (moments, zeros)
    }

    pub(crate) fn count(&self) -> u64 {
        get_varint(&self.bytes, &mut 0)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_inverts_index() {
        let m = Mapping::new(0.01);
        for i in -2000..2000 {
            let lo = m.lower_bound(i);
            assert_eq!(m.index(lo * (1.0 + 1e-12)), i, "bucket {i}");
            assert_eq!(m.index(lo * (1.0 - 1e-12)), i - 1, "bucket {i}");
        }
    }

    #[test]
    fn every_bucket_spans_at_most_gamma() {
        for a in [0.001, 0.01, 0.02, 0.05] {
            let m = Mapping::new(a);
            let gamma = (1.0 + a) / (1.0 - a);
            for i in -500..500 {
                let ratio = m.lower_bound(i + 1) / m.lower_bound(i);
                assert!(ratio <= gamma * (1.0 + 1e-12), "a={a} i={i} ratio={ratio}");
            }
        }
    }

    #[test]
    fn compact_round_trips_dense_and_sparse() {
        let m = Mapping::new(0.01);
        for values in [
            vec![1.0, 1.0, 2.0, 3.0, 0.0],
            vec![1e-6, 600.0],
            (1..2000).map(|i| f64::from(i) * 0.01).collect(),
        ] {
            let mut s = Sketch::default();
            for v in &values {
                s.add(*v, &m, 2048);
            }
            let mut back = Sketch::default();
            back.merge_compact(&s.to_compact(), 2048);
            let (a, b) = (back.moments, s.moments);
            assert_eq!(
                (a.count, a.sum, a.m2, a.min, a.max),
                (b.count, b.sum, b.m2, b.min, b.max)
            );
            assert!((a.mean - b.mean).abs() <= 1e-12 * b.mean.abs());
            assert_eq!(back.zeros, s.zeros);
            assert_eq!(
                back.store.iter().collect::<Vec<_>>(),
                s.store.iter().collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn store_collapses_lowest_buckets() {
        let mut s = Store::default();
        for i in 0..100 {
            s.add(i, 1, 10);
        }
        assert_eq!(s.counts.len(), 10);
        assert_eq!(s.offset, 90);
        assert_eq!(s.counts[0], 91);
        s.add(-5, 1, 10);
        assert_eq!(s.offset, 90);
        assert_eq!(s.counts[0], 92);
        assert_eq!(s.iter().map(|(_, c)| c).sum::<u64>(), 101);
        let mut falling = Store::default();
        for i in (0..100).rev() {
            falling.add(i, 1, 1000);
        }
        let expected: Vec<(i32, u64)> = (0..100).map(|i| (i, 1)).collect();
        assert_eq!(falling.iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn nibble_varints_round_trip() {
        let values = [0, 1, 7, 8, 63, 64, 511, 512, 1 << 40, u64::MAX];
        let mut w = Nibbles::default();
        for v in values {
            let before = w.bytes.len() * 2 - usize::from(w.half);
            w.put_varint(v);
            let after = w.bytes.len() * 2 - usize::from(w.half);
            assert_eq!(after - before, nibbles_of(v), "{v}");
        }
        let mut r = NibbleReader {
            bytes: &w.bytes,
            pos: 0,
        };
        for v in values {
            assert_eq!(r.get_varint(), v);
        }
    }

    /// The shifted sums agree with a two-pass computation, also for a
    /// large mean with a tiny spread (where they beat Welford's update, off
    /// by 2e-6 relatively there) and for a first value far from the rest.
    #[test]
    fn live_moments_match_two_pass() {
        for values in [
            vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0],
            (0..1000).map(|i| 1e9 + f64::from(i % 7) * 1e-3).collect(),
            std::iter::once(1e4)
                .chain((0..1000).map(|i| 0.5 + f64::from(i % 13) * 0.01))
                .collect::<Vec<_>>(),
            vec![0.0],
        ] {
            let (mut live, mut welford) = (LiveMoments::default(), Moments::default());
            live.begin(values[0]);
            for &v in &values {
                live.add(v);
                welford.add(v);
            }
            let live = live.finish();
            assert_eq!(
                (live.count, live.sum, live.min, live.max),
                (welford.count, welford.sum, welford.min, welford.max)
            );
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
            assert!(
                (live.mean - mean).abs() <= 1e-13 * mean.abs(),
                "{} vs {mean}",
                live.mean
            );
            assert!(
                // The f64 two-pass reference itself is off by 3e-9 on the
                // second data set (its mean is rounded to 1e9's ulp); the
                // shifted sums match the exact rational result there.
                (live.std() - std).abs() <= 1e-8 * std,
                "{} vs {std}",
                live.std()
            );
        }
    }

    #[test]
    fn zigzag_round_trips() {
        for i in [0, 1, -1, 35_000, -35_000, i32::MAX, i32::MIN] {
            assert_eq!(unzigzag(zigzag(i)), i);
        }
    }
}
