//! One series: striped live slots in front of a locked history.
//!
//! # Why stripes
//!
//! `record` locks one of [`STRIPES`] small locks, chosen per thread, and
//! adds the value to that stripe's sketch of the current finest-tier slot
//! (and to its [`PendingBuckets`] for the `metrics` facade). Two threads
//! recording into the same series almost always hold different stripes, so
//! they do not serialise; one thread always takes the same, uncontended
//! stripe. A lock-free sketch would need an atomic add per bucket *and* a
//! consistent snapshot of count, sum, min, max and `M2` for queries, which a
//! lock per stripe gives for free. The history is touched only when a
//! stripe's slot closes (once per slot width per active stripe) and by
//! queries.
//!
//! # Why a spin lock per stripe
//!
//! A stripe is held for a few nanoseconds and is almost never contended.
//! `std::sync::Mutex` unlocks with an atomic swap (it must learn whether a
//! thread sleeps on it); [`SpinLock`] unlocks with a plain release store,
//! one locked instruction fewer per record. A thread that finds a stripe
//! taken spins briefly, then yields, so a holder that was preempted (or is
//! closing a slot into the history) is waited for without burning a core.
//!
//! # What the lock costs
//!
//! Taking it is the one locked instruction of a record, and on the
//! development machine (AMD EPYC, 2 cores) it is the largest single cost
//! left: about 5 of 18 ns per handle record (a `record` loop as in
//! `benches/latency.rs`, with the lock replaced by plain stores for the
//! measurement), because a locked instruction also waits for the previous
//! record's stores to drain. Doing without it would take single-writer
//! stripes (one per thread, owned exclusively), live data kept in atomics
//! so that queries can read it under a sequence lock while the owner
//! writes, and queries and publication that never mutate a live stripe;
//! not done, the uncontended lock keeps every reader simple.
//!
//! Lock order is stripe, then history, everywhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::exemplar::{Exemplar, ExemplarSet};
use crate::history::{History, TierSpec};
use crate::prometheus::{PendingBuckets, checked_bucket_index};
use crate::sketch::{LiveSketch, Mapping, Sketch};
use crate::spin::SpinLock;

/// A stripe's lock: the crate's [`SpinLock`] (see the module docs).
pub(crate) type StripeLock<T> = SpinLock<T>;

/// How many live stripes a series has. Four covers the threads that record
/// into one operation at the same moment on typical agent hosts; each idle
/// stripe costs about a hundred bytes.
pub(crate) const STRIPES: usize = 4;

/// Settings every series shares.
#[derive(Debug)]
pub(crate) struct SeriesConfig {
    pub(crate) mapping: Mapping,
    pub(crate) specs: Vec<TierSpec>,
    pub(crate) max_buckets: usize,
    /// Whether values are also counted for the `metrics` facade.
    pub(crate) bridged: bool,
    /// The most bytes the closed slots (and their running totals) may take;
    /// the oldest slots are dropped, and counted, beyond it.
    pub(crate) history_budget: usize,
}

impl SeriesConfig {
    /// The most heap bytes the live stripes of a series can take: each
    /// stripe's bucket vector holds at most `max_buckets` counts, in a
    /// `Vec` whose capacity is at most twice its length, and its exemplars
    /// are one fixed-size allocation.
    pub(crate) fn live_bound(max_buckets: usize) -> usize {
        size_of::<Series>()
            + STRIPES * (2 * max_buckets * size_of::<u64>() + size_of::<LiveExemplars>())
    }
}

/// A stripe's data.
///
/// `repr(C)`, with [`StripeLock`] and the sketch types also `repr(C)`, so
/// that what every record touches sits in the stripe's first two cache
/// lines: the lock flag, the slot bounds and the five first live moments in
/// the first, the last two moments, the store's range and the zero count
/// in the second. The bucket count is one more line (on the heap), and the
/// Prometheus bucket's count and sum one more: `pending` starts 16-byte
/// aligned, so no bucket's pair straddles two lines. Four lines per record
/// in all, where the compiler's field order touched five or six. A
/// benchmark loop keeps every line in L1 and shows no difference; the
/// point is a record that comes between other work, which has fewer lines
/// to fetch (not measured here). `the_hot_fields_share_two_lines` checks
/// the layout.
#[derive(Debug, Default)]
#[repr(C)]
struct Live {
    /// The finest-tier slot that `sketch` belongs to, `[start, end)` in
    /// nanoseconds: comparing `now` with both is cheaper than the `u64`
    /// division that finds `now`'s slot number (needed only when it
    /// changes).
    start: u64,
    end: u64,
    sketch: LiveSketch,
    /// Allocated on the first exemplar, then cleared in place: one pointer
    /// here, so that a stripe without exemplars stays as small as before
    /// (six cache lines).
    exemplars: Option<Box<LiveExemplars>>,
    /// Values not yet handed to the `metrics` facade.
    pending: PendingBuckets,
}

/// The exemplars of a live stripe.
#[derive(Debug, Default)]
struct LiveExemplars {
    /// Of the slot: into the history when the slot closes.
    slot: ExemplarSet,
    /// Not yet handed to the Prometheus recorder (see the `prometheus`
    /// module): taken by `publish`.
    pending: ExemplarSet,
}

/// Pads a stripe to its own cache line so that two threads' stripes do not
/// false-share.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(StripeLock<Live>);

#[derive(Debug)]
pub(crate) struct Series {
    stripes: [Padded; STRIPES],
    history: Mutex<History>,
    /// Values dropped with the oldest slots to keep within the budget.
    evicted: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock can only come from a bug in this crate's
    // arithmetic; the data is still a valid sketch, so keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This thread's stripe ([`agent_trace_clock::thread_stripe`], the
/// number the span path uses too), picked on first use.
#[inline]
pub(crate) fn stripe_index() -> usize {
    agent_trace_clock::thread_stripe() % STRIPES
}

/// This thread's stripe once [`stripe_index`] (or the span path) has
/// picked it.
#[inline]
fn stripe_index_if_set() -> Option<usize> {
    agent_trace_clock::thread_stripe_if_set().map(|n| n % STRIPES)
}

impl Series {
    pub(crate) fn new(config: &SeriesConfig) -> Self {
        Self {
            stripes: Default::default(),
            history: Mutex::new(History::new(config.specs.len())),
            evicted: AtomicU64::new(0),
        }
    }

    /// Records a checked value at `now`, the common case only: returns
    /// `false`, having changed nothing, when the thread has no stripe yet,
    /// the stripe is taken, the value belongs to another slot or widens the
    /// bucket range; [`record`](Self::record) then does it all.
    ///
    /// # Why a separate fast path
    ///
    /// It calls nothing, so the compiler keeps it almost entirely in
    /// scratch registers: two callee-saved registers pushed and popped
    /// instead of six, and no spills around the cold calls that the full
    /// path needs (closing a slot, widening the store, spinning on the
    /// lock); the "first value of the slot" branch is gone too (see
    /// [`roll`](Self::roll)). The buckets, which depend on the value only,
    /// are found before the lock. With the handle's own fast path this took
    /// a handle `record` from about 150 to 117 instructions (callgrind, a
    /// loop as in the `record` workload of `benches/latency.rs`).
    #[inline]
    pub(crate) fn try_record(&self, x: f64, now: u64, config: &SeriesConfig) -> bool {
        let bucket = config.mapping.bucket(x);
        let pending = config.bridged.then(|| checked_bucket_index(x));
        let Some(stripe) = stripe_index_if_set() else {
            return false;
        };
        let Some(mut live) = self.stripes[stripe].0.try_lock() else {
            return false;
        };
        // A slot whose bounds hold `now` has been begun (see `roll`).
        if now < live.start || now >= live.end || !live.sketch.try_add(x, bucket) {
            return false;
        }
        if let Some(i) = pending {
            live.pending.add_at(i, x);
        }
        true
    }

    /// Records a checked value at `now`: waits for the stripe, picks it
    /// first if need be, rolls the slot and widens the store.
    ///
    /// The by-name path calls this directly rather than trying
    /// [`try_record`](Self::try_record) first: it makes calls of its own
    /// anyway, so the fast path saves it no stack frame, and with both
    /// inlined into it a record by name measured slower, not faster (32
    /// against 24 ns in a `record` loop as in `benches/latency.rs`), at the
    /// same instruction count. Out of line for the same measurement.
    #[inline(never)]
    pub(crate) fn record(&self, x: f64, now: u64, config: &SeriesConfig) {
        let bucket = config.mapping.bucket(x);
        let pending = config.bridged.then(|| checked_bucket_index(x));
        let mut live = self.stripes[stripe_index()].0.lock();
        if now < live.start || now >= live.end {
            self.roll(&mut live, now, x, config);
        }
        live.sketch.add(x, bucket, config.max_buckets);
        if let Some(i) = pending {
            live.pending.add_at(i, x);
        }
    }

    /// Records a checked value at `now` with its exemplar (of the same
    /// value, stamped `now`).
    #[inline]
    pub(crate) fn record_with_exemplar(
        &self,
        x: f64,
        exemplar: Exemplar,
        now: u64,
        config: &SeriesConfig,
    ) {
        let bucket = config.mapping.bucket(x);
        // The exemplar's value is `x`: one range index serves the pending
        // buckets and both exemplar sets.
        let range = checked_bucket_index(x);
        let mut live = self.stripes[stripe_index()].0.lock();
        if now < live.start || now >= live.end {
            self.roll(&mut live, now, x, config);
        }
        live.sketch.add(x, bucket, config.max_buckets);
        if config.bridged {
            live.pending.add_at(range, x);
        }
        let ex = live.exemplars.get_or_insert_default();
        ex.slot.add_at(range, exemplar);
        if config.bridged {
            ex.pending.add_at(range, exemplar);
        }
    }

    /// Takes the values of every stripe not yet handed to the facade, and
    /// their exemplars, if any.
    pub(crate) fn take_pending(&self) -> (PendingBuckets, Option<ExemplarSet>) {
        let mut all = PendingBuckets::default();
        let mut exemplars: Option<ExemplarSet> = None;
        for stripe in &self.stripes {
            let mut live = stripe.0.lock();
            if !live.pending.is_empty() {
                all.merge(&live.pending);
                live.pending.clear();
            }
            if let Some(ex) = &mut live.exemplars
                && !ex.pending.is_empty()
            {
                exemplars.get_or_insert_default().merge(&ex.pending);
                ex.pending.clear();
            }
        }
        (all, exemplars)
    }

    /// Moves a stripe on to the slot of `now`, closing its previous slot,
    /// and begins the new slot's sketch with `first`, the value about to be
    /// added.
    ///
    /// Invariant: while `start < end`, the stripe's sketch has been begun
    /// since it was last emptied. A stripe starts with `start == end == 0`,
    /// and [`close`](Self::close), the one place that empties a sketch,
    /// sets them back, so the next record comes here whether or not its
    /// time is in the old bounds.
    #[cold]
    #[inline(never)]
    fn roll(&self, live: &mut Live, now: u64, first: f64, config: &SeriesConfig) {
        if !live.sketch.is_empty() {
            self.close(live, now, config);
        }
        live.sketch.begin(first);
        let width = config.specs[0].width;
        live.start = now / width * width;
        live.end = live.start.saturating_add(width);
    }

    /// Moves a stripe's live sketch into the history (stripe lock held),
    /// and leaves the stripe without a slot (see [`roll`](Self::roll)).
    fn close(&self, live: &mut Live, now: u64, config: &SeriesConfig) {
        let mut history = lock(&self.history);
        let start = live.start;
        history.insert(
            start,
            live.sketch.finish(),
            now,
            &config.specs,
            config.max_buckets,
        );
        if let Some(ex) = &mut live.exemplars {
            history.insert_exemplars(start, &ex.slot, now, &config.specs);
            ex.slot.clear();
        }
        history.advance(now, &config.specs, config.max_buckets);
        let shed = history.shed_to(config.history_budget);
        if shed > 0 {
            self.evicted.fetch_add(shed, Ordering::Relaxed);
        }
        live.sketch.clear();
        live.start = 0;
        live.end = 0;
    }

    /// Values dropped with the oldest slots to keep within the memory budget.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Merges everything that ends after `since` into `acc`, and appends
    /// the exemplars of those slots to `exemplars` when given.
    pub(crate) fn collect_into(
        &self,
        acc: &mut Sketch,
        exemplars: Option<&mut Vec<Exemplar>>,
        since: Option<u64>,
        now: u64,
        config: &SeriesConfig,
    ) {
        self.with_history(now, config, |history| {
            history.collect_into(acc, since, &config.specs, config.max_buckets);
            if let Some(out) = exemplars {
                history.collect_exemplars(out, since, &config.specs);
            }
        });
    }

    /// Closes the live slots, moves aged slots on, and hands `f` the
    /// history, locked: what every query ([`collect_into`](Self::collect_into))
    /// and the OTLP push's reads start with.
    pub(crate) fn with_history<R>(
        &self,
        now: u64,
        config: &SeriesConfig,
        f: impl FnOnce(&mut History) -> R,
    ) -> R {
        for stripe in &self.stripes {
            let mut live = stripe.0.lock();
            if !live.sketch.is_empty() {
                self.close(&mut live, now, config);
            }
        }
        let mut history = lock(&self.history);
        history.advance(now, &config.specs, config.max_buckets);
        f(&mut history)
    }

    /// Heap bytes owned by this series, plus its own size.
    pub(crate) fn memory_bytes(&self) -> usize {
        let live: usize = self
            .stripes
            .iter()
            .map(|s| {
                let live = s.0.lock();
                live.sketch.heap_bytes()
                    + live
                        .exemplars
                        .as_ref()
                        .map_or(0, |_| size_of::<LiveExemplars>())
            })
            .sum();
        size_of::<Self>() + live + lock(&self.history).heap_bytes()
    }

    /// Closed slots currently held.
    pub(crate) fn slot_count(&self) -> usize {
        lock(&self.history).slot_count()
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    /// The layout `Live` documents: what a record touches lies in the
    /// stripe's first two cache lines, and the pending pairs do not
    /// straddle lines.
    #[test]
    fn the_hot_fields_share_two_lines() {
        let live = offset_of!(StripeLock<Live>, value);
        assert_eq!(offset_of!(StripeLock<Live>, locked), 0);
        assert!(live + offset_of!(Live, sketch) + LiveSketch::HOT_BYTES <= 128);
        assert_eq!((live + offset_of!(Live, pending)) % 16, 0);
        assert_eq!(size_of::<Padded>(), 6 * 64);
    }
}
