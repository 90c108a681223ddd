//! One series: striped live slots in front of a locked history.
//!
//! # Why stripes
//!
//! `record` locks one of [`STRIPES`] small mutexes, chosen per thread, and
//! adds the value to that stripe's sketch of the current finest-tier slot.
//! Two threads recording into the same series almost always hold different
//! stripes, so they do not serialise; one thread always takes the same,
//! uncontended stripe (an uncontended `Mutex` is one atomic swap to lock and
//! one to unlock). A lock-free sketch would need an atomic add per bucket
//! *and* a consistent snapshot of count, sum, min, max and `M2` for queries,
//! which a mutex per stripe gives for free. The history is touched only when
//! a stripe's slot closes (once per slot width per active stripe) and by
//! queries.
//!
//! Lock order is stripe, then history, everywhere.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::history::{History, TierSpec};
use crate::sketch::{LiveSketch, Mapping, Sketch};

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
}

#[derive(Debug, Default)]
struct Live {
    /// The finest-tier slot that `sketch` belongs to, `[start, end)` in
    /// nanoseconds: comparing `now` with both is cheaper than the `u64`
    /// division that finds `now`'s slot number (needed only when it
    /// changes).
    start: u64,
    end: u64,
    sketch: LiveSketch,
}

/// Pads a stripe to its own cache line so that two threads' stripes do not
/// false-share.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(Mutex<Live>);

#[derive(Debug)]
pub(crate) struct Series {
    stripes: [Padded; STRIPES],
    history: Mutex<History>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock can only come from a bug in this crate's
    // arithmetic; the data is still a valid sketch, so keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[inline]
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // A `const` thread local without drop glue is a plain load from the
    // thread's block; a lazily initialised one checks its state first.
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let i = s.get();
        if i < STRIPES {
            i
        } else {
            let i = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            s.set(i);
            i
        }
    })
}

impl Series {
    pub(crate) fn new(config: &SeriesConfig) -> Self {
        Self {
            stripes: Default::default(),
            history: Mutex::new(History::new(config.specs.len())),
        }
    }

    /// Records a checked value at `now`.
    #[inline]
    pub(crate) fn record(&self, x: f64, now: u64, config: &SeriesConfig) {
        let mut live = lock(&self.stripes[stripe_index()].0);
        if now < live.start || now >= live.end {
            self.roll(&mut live, now, config);
        }
        live.sketch.add(x, &config.mapping, config.max_buckets);
    }

    /// Moves a stripe on to the slot of `now`, closing its previous slot.
    #[cold]
    #[inline(never)]
    fn roll(&self, live: &mut Live, now: u64, config: &SeriesConfig) {
        if !live.sketch.is_empty() {
            self.close(live, now, config);
        }
        let width = config.specs[0].width;
        live.start = now / width * width;
        live.end = live.start.saturating_add(width);
    }

    /// Moves a stripe's live sketch into the history (stripe lock held).
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
        history.advance(now, &config.specs, config.max_buckets);
        live.sketch.clear();
    }

    /// Merges everything that ends after `since` into `acc`.
    pub(crate) fn collect_into(
        &self,
        acc: &mut Sketch,
        since: Option<u64>,
        now: u64,
        config: &SeriesConfig,
    ) {
        for stripe in &self.stripes {
            let mut live = lock(&stripe.0);
            if !live.sketch.is_empty() {
                self.close(&mut live, now, config);
            }
        }
        let mut history = lock(&self.history);
        history.advance(now, &config.specs, config.max_buckets);
        history.collect_into(acc, since, &config.specs, config.max_buckets);
    }

    /// Heap bytes owned by this series, plus its own size.
    pub(crate) fn memory_bytes(&self) -> usize {
        let live: usize = self
            .stripes
            .iter()
            .map(|s| lock(&s.0).sketch.heap_bytes())
            .sum();
        size_of::<Self>() + live + lock(&self.history).heap_bytes()
    }

    /// Closed slots currently held.
    pub(crate) fn slot_count(&self) -> usize {
        lock(&self.history).slot_count()
    }
}
