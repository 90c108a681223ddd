//! The in-memory trace store: recent traces kept for looking at, with
//! retention bounded by count, by spans per trace and by age.
//!
//! Spans reach the store through a lock-free bounded staging queue: ending a
//! span pushes one pointer and returns. Once `DRAIN_AT` spans are staged,
//! the span that ends next moves them into the index behind it if the
//! index's lock is free (`try_lock`: it never waits); the lock is waited
//! for only when the staging queue is full (once per `STAGING` spans under
//! contention) or when someone asks a question, so the span path does not
//! wait for a lock in the common case.
//!
//! Why drain small batches: a full store evicts a trace for every trace
//! that arrives, and the evicted spans go back to the span pool of the
//! thread that drains. A few dozen at a time mostly fit the thread's pool
//! cache and are taken again by the spans it starts next; a thousand at a
//! time (a full staging queue) overflowed it, so most were freed. Measured
//! with callgrind on the agent workload bench (ten spans per task, the
//! store full): dropping the evicted spans cost about 4,850 instructions
//! per task with drains of 1,024 spans, 4,000 to 4,400 with drains of 32
//! (16 was no better); the drains' other work is the same either way, and
//! the scan for expired traces is skipped while none can be expired.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, TryLockError};
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use agent_trace_propagation::{SpanId, TraceId};
#[cfg(not(loom))]
use crossbeam_queue::ArrayQueue;

// Under loom (`tests/loom_store.rs`): loom's lock, and the queue with a
// point where loom may switch threads before each of its operations.
#[cfg(loom)]
use self::loom_shim::{ArrayQueue, Mutex, MutexGuard};

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::processor::SpanProcessor;
use crate::render;
use crate::span_data::FinishedSpan;

/// Spans staged between two drains into the index. Large enough that the
/// index lock is taken at most once per this many spans on the span path.
#[cfg(not(loom))]
const STAGING: usize = 1024;

/// Staged spans at which ending a span tries to move them into the index:
/// the thread's span pool cache holds 32 spans, and the traces these
/// evict hold about as many.
#[cfg(not(loom))]
const DRAIN_AT: usize = 32;

/// Under loom, sizes that a model's few spans reach: the first span staged
/// waits for a drain, the second tries the lock, a third finds the queue
/// full.
#[cfg(loom)]
const STAGING: usize = 2;
#[cfg(loom)]
const DRAIN_AT: usize = 2;

/// Retention of a [`TraceStore`].
#[derive(Clone, Debug)]
pub struct TraceStoreConfig {
    /// Most traces kept; the one that arrived first is evicted first
    /// (default 100).
    ///
    /// Why 100 and not more: once the store is full, every trace that
    /// arrives evicts one, and the evicted spans were last touched when
    /// they ended, so the bigger the store the colder its evictions. On
    /// the agent workload bench (ten spans a task at 1,000 tasks/s,
    /// `cargo bench -p agent-trace --bench agent_workload`, Intel Xeon,
    /// medians of four runs), keeping 1,000 traces cost 18.7 us of CPU a
    /// task more than keeping none, 300 traces 7 us, 100 traces 1 us (2.8
    /// us in a later session's interleaved runs, see BENCHMARKS.md); 1,000
    /// also held 11 MiB more. At the pace of a real agent (tasks of
    /// seconds) 100 traces are minutes of history; raise it for more.
    pub max_traces: usize,
    /// Most spans kept per trace; later ones are dropped and counted
    /// (default 10,000).
    pub max_spans_per_trace: usize,
    /// A trace is evicted once its newest span ended longer ago than this
    /// (default one hour).
    pub max_age: Duration,
    /// The clock that says what "now" is for `max_age`.
    pub clock: Arc<dyn Clock>,
}

impl Default for TraceStoreConfig {
    fn default() -> Self {
        Self {
            max_traces: 100,
            max_spans_per_trace: 10_000,
            max_age: Duration::from_secs(3600),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What the store has kept and let go, since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Traces held now.
    pub traces: usize,
    /// Spans held now.
    pub spans: usize,
    /// Traces evicted because `max_traces` was reached.
    pub evicted_by_count: u64,
    /// Traces evicted because they were older than `max_age`.
    pub evicted_by_age: u64,
    /// Spans refused because their trace already held `max_spans_per_trace`.
    pub dropped_spans: u64,
}

/// A stored trace, in a slot of [`Index::slots`].
struct Entry {
    trace_id: TraceId,
    spans: Vec<FinishedSpan>,
    newest_end: Timestamp,
    dropped_spans: u64,
    /// The neighbours in order of arrival ([`NIL`] at either end); a free
    /// slot links the free list through `next`.
    prev: usize,
    next: usize,
}

/// No slot: the end of a list.
const NIL: usize = usize::MAX;

/// Span buffers larger than this are freed when their trace goes, not kept
/// for the next trace in the slot (an agent task has tens of spans; a
/// trace of thousands should not pin its buffer for ever).
const KEEP_SPANS: usize = 256;

/// The traces, in slots that are reused as traces come and go, so that a
/// span's insert is one hash look-up and a push, with no allocation once
/// the store is full: a new trace takes the slot (and the span buffer) of
/// the trace it evicts. Order of arrival is a doubly linked list through
/// the slots, so evicting the oldest trace, or any trace that expired, is
/// O(1) and needs no second index.
///
/// Measured with callgrind (the agent workload's `trace_only` shape, ten
/// spans per task): the `HashMap` + `VecDeque` index it replaces cost about
/// 1,260 instructions per span (SipHash of each trace id at every insert
/// and in the age scan, the span list growing from one, and the age scan
/// looking every trace up by id).
struct Index {
    by_id: HashMap<u128, usize, IdState>,
    slots: Vec<Entry>,
    /// Head of the free slots' list.
    free: usize,
    /// The trace that arrived first, and the one that arrived last.
    oldest: usize,
    newest: usize,
    /// At most the earliest `newest_end` of the stored traces (`None` when
    /// none was stored since the last scan): while it is not past the
    /// maximum age, no trace is, and the scan for expired traces is
    /// skipped. A trace's `newest_end` only grows, so the bound holds
    /// until the next scan recomputes it.
    earliest_end: Option<Timestamp>,
    stats: StoreStats,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            by_id: HashMap::with_hasher(IdState::default()),
            slots: Vec::new(),
            free: NIL,
            oldest: NIL,
            newest: NIL,
            earliest_end: None,
            stats: StoreStats::default(),
        }
    }
}

impl Index {
    /// Stores a new trace made of `span`, as the newest.
    fn add_trace(&mut self, trace_id: TraceId, span: FinishedSpan) {
        let end = span.end_time;
        let prev = self.newest;
        let slot = if self.free == NIL {
            self.slots.push(Entry {
                trace_id,
                spans: Vec::with_capacity(4),
                newest_end: end,
                dropped_spans: 0,
                prev,
                next: NIL,
            });
            self.slots.len() - 1
        } else {
            let slot = self.free;
            let e = &mut self.slots[slot];
            self.free = e.next;
            e.trace_id = trace_id;
            e.newest_end = end;
            e.dropped_spans = 0;
            e.prev = prev;
            e.next = NIL;
            slot
        };
        self.slots[slot].spans.push(span);
        match prev {
            NIL => self.oldest = slot,
            p => self.slots[p].next = slot,
        }
        self.newest = slot;
        self.earliest_end = Some(self.earliest_end.map_or(end, |e| e.min(end)));
        self.by_id.insert(trace_id.to_u128(), slot);
        self.stats.spans += 1;
        self.stats.traces = self.by_id.len();
    }

    /// Forgets the trace in `slot` (its spans are dropped) and frees the
    /// slot.
    fn remove(&mut self, slot: usize) {
        let e = &mut self.slots[slot];
        let (prev, next) = (e.prev, e.next);
        self.by_id.remove(&e.trace_id.to_u128());
        self.stats.spans -= e.spans.len();
        if e.spans.capacity() > KEEP_SPANS {
            e.spans = Vec::new();
        } else {
            e.spans.clear();
        }
        e.next = self.free;
        e.prev = NIL;
        self.free = slot;
        match prev {
            NIL => self.oldest = next,
            p => self.slots[p].next = next,
        }
        match next {
            NIL => self.newest = prev,
            n => self.slots[n].prev = prev,
        }
        self.stats.traces = self.by_id.len();
    }

    fn get(&self, trace_id: TraceId) -> Option<&Entry> {
        self.by_id
            .get(&trace_id.to_u128())
            .map(|&slot| &self.slots[slot])
    }

    /// The stored traces, the most recently arrived first.
    fn newest_first(&self) -> impl Iterator<Item = &Entry> {
        let mut slot = self.newest;
        std::iter::from_fn(move || {
            let e = self.slots.get(slot)?;
            slot = e.prev;
            Some(e)
        })
    }
}

/// The hasher of the store's index by trace id: `foldhash`, with a random
/// seed per store (a few instructions where SipHash, std's default, took
/// about 160 per id). Trace ids are random, but a remote caller chooses the
/// ids of the traces it continues, so the seed is random per store; the
/// store is bounded anyway, so even colliding ids cost a bounded scan, not
/// memory.
type IdState = foldhash::fast::RandomState;

/// Keeps recent finished traces in memory, with bounded retention.
///
/// It is a [`SpanProcessor`]; [`AgentStepTracer`](crate::AgentStepTracer)
/// adds one by default.
pub struct TraceStore {
    staged: ArrayQueue<FinishedSpan>,
    index: Mutex<Index>,
    config: TraceStoreConfig,
}

impl fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceStore")
            .field("config", &self.config)
            .field("staged", &self.staged.len())
            .finish()
    }
}

impl TraceStore {
    /// An empty store.
    pub fn new(config: TraceStoreConfig) -> Self {
        Self {
            staged: ArrayQueue::new(STAGING),
            index: Mutex::new(Index::default()),
            config,
        }
    }

    /// Adds a finished span directly (a processor receives spans through
    /// [`SpanProcessor::on_end`]; this is for spans read from elsewhere).
    pub fn insert(&self, span: FinishedSpan) {
        let mut index = self.lock();
        self.ingest(&mut index, span);
    }

    /// The index with all staged spans applied and expired traces evicted.
    fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves a consistent index (every
        // mutation is completed before anything that can panic), so a
        // poisoned lock is still usable.
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        self.drain(&mut index);
        index
    }

    /// Applies all staged spans and evicts expired traces.
    fn drain(&self, index: &mut Index) {
        while let Some(span) = self.staged.pop() {
            self.ingest(index, span);
        }
        self.evict_expired(index);
    }

    fn ingest(&self, index: &mut Index, span: FinishedSpan) {
        let trace_id = span.context.trace_id;
        if let Some(&slot) = index.by_id.get(&trace_id.to_u128()) {
            let entry = &mut index.slots[slot];
            if entry.spans.len() >= self.config.max_spans_per_trace {
                entry.dropped_spans += 1;
                index.stats.dropped_spans += 1;
                return;
            }
            entry.newest_end = entry.newest_end.max(span.end_time);
            entry.spans.push(span);
            index.stats.spans += 1;
            return;
        }
        if self.config.max_traces == 0 || self.config.max_spans_per_trace == 0 {
            index.stats.dropped_spans += 1;
            return;
        }
        while index.by_id.len() >= self.config.max_traces && index.oldest != NIL {
            index.remove(index.oldest);
            index.stats.evicted_by_count += 1;
        }
        index.add_trace(trace_id, span);
    }

    fn evict_expired(&self, index: &mut Index) {
        let now = self.config.clock.now();
        let max_age = self.config.max_age;
        let expired = |end: Timestamp| now.saturating_duration_since(end) > max_age;
        if !index.earliest_end.is_some_and(expired) {
            return;
        }
        let mut earliest = None;
        let mut slot = index.oldest;
        while slot != NIL {
            let e = &index.slots[slot];
            let (next, end) = (e.next, e.newest_end);
            if expired(end) {
                index.remove(slot);
                index.stats.evicted_by_age += 1;
            } else {
                earliest = Some(earliest.map_or(end, |e: Timestamp| e.min(end)));
            }
            slot = next;
        }
        index.earliest_end = earliest;
        index.stats.traces = index.by_id.len();
    }

    /// The trace with this id, its spans in the order they ended.
    pub fn trace(&self, trace_id: TraceId) -> Option<Trace> {
        let index = self.lock();
        index.get(trace_id).map(Trace::from_entry)
    }

    /// Up to `n` traces, the most recently arrived first.
    pub fn recent(&self, n: usize) -> Vec<Trace> {
        let index = self.lock();
        index
            .newest_first()
            .take(n)
            .map(Trace::from_entry)
            .collect()
    }

    /// Counts of what is held and what was let go.
    pub fn stats(&self) -> StoreStats {
        self.lock().stats
    }

    /// Forgets every trace (the counters are kept).
    pub fn clear(&self) {
        let mut index = self.lock();
        let stats = index.stats;
        *index = Index {
            stats: StoreStats {
                traces: 0,
                spans: 0,
                ..stats
            },
            ..Index::default()
        };
    }
}

impl SpanProcessor for TraceStore {
    fn on_start_is_internal(&self) -> bool {
        true
    }

    #[inline]
    fn on_end(&self, span: FinishedSpan) {
        match self.staged.push(span) {
            Ok(()) => {
                if self.staged.len() >= DRAIN_AT {
                    // A small batch, when nobody holds the index (see the
                    // module docs); else a later span does it.
                    let index = match self.index.try_lock() {
                        Ok(index) => Some(index),
                        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
                        Err(TryLockError::WouldBlock) => None,
                    };
                    if let Some(mut index) = index {
                        self.drain(&mut index);
                    }
                }
            }
            Err(span) => {
                // Full: drain into the index (waiting for the lock), then
                // store this one.
                let mut index = self.lock();
                self.ingest(&mut index, span);
            }
        }
    }
}

/// Loom's lock, and crossbeam's queue with a loom operation before each of
/// its own, for the model (`tests/loom_store.rs`). The queue stays
/// crossbeam's (loom cannot see inside it, so each operation is one step);
/// the loom operation lets loom run another thread between any two of them.
#[cfg(loom)]
pub(crate) mod loom_shim {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    pub(super) use loom::sync::{Mutex, MutexGuard};

    pub(crate) struct ArrayQueue<T> {
        queue: crossbeam_queue::ArrayQueue<T>,
        step: AtomicUsize,
    }

    impl<T> ArrayQueue<T> {
        pub(crate) fn new(capacity: usize) -> Self {
            Self {
                queue: crossbeam_queue::ArrayQueue::new(capacity),
                step: AtomicUsize::new(0),
            }
        }

        fn step(&self) {
            self.step.fetch_add(1, Ordering::Relaxed);
        }

        pub(crate) fn push(&self, value: T) -> Result<(), T> {
            self.step();
            self.queue.push(value)
        }

        pub(crate) fn pop(&self) -> Option<T> {
            self.step();
            self.queue.pop()
        }

        pub(crate) fn len(&self) -> usize {
            self.step();
            self.queue.len()
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.step();
            self.queue.is_empty()
        }
    }
}

/// One stored trace: its spans, and the means to see them as a tree.
#[derive(Clone, Debug)]
pub struct Trace {
    trace_id: TraceId,
    spans: Vec<FinishedSpan>,
    dropped_spans: u64,
}

impl Trace {
    fn from_entry(entry: &Entry) -> Self {
        Self {
            trace_id: entry.trace_id,
            spans: entry.spans.clone(),
            dropped_spans: entry.dropped_spans,
        }
    }

    /// A trace made of these spans (all of one trace id, which the first span
    /// gives); `None` when `spans` is empty.
    pub fn from_spans(spans: Vec<FinishedSpan>) -> Option<Self> {
        let trace_id = spans.first()?.context.trace_id;
        Some(Self {
            trace_id,
            spans,
            dropped_spans: 0,
        })
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The spans, in the order they ended.
    pub fn spans(&self) -> &[FinishedSpan] {
        &self.spans
    }

    /// Spans of this trace the store refused for the per-trace limit.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_spans
    }

    /// The span without a parent (the earliest, if there are several).
    pub fn root(&self) -> Option<&FinishedSpan> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .min_by_key(|s| s.start_time)
    }

    /// The span with this id.
    pub fn span(&self, span_id: SpanId) -> Option<&FinishedSpan> {
        self.spans.iter().find(|s| s.context.span_id == span_id)
    }

    /// The spans as a tree: children under their parents, siblings by start
    /// time. Spans whose parent is not in the trace (a remote parent, or one
    /// not yet ended) are shown at the top level.
    pub fn tree(&self) -> Vec<SpanNode<'_>> {
        render::build_tree(&self.spans)
    }

    /// The tree as indented text: name, duration, status and key attributes
    /// of each span.
    pub fn render(&self) -> String {
        render::render(&self.spans)
    }
}

/// A span and its children, from [`Trace::tree`].
#[derive(Clone, Debug)]
pub struct SpanNode<'a> {
    /// The span.
    pub span: &'a FinishedSpan,
    /// Its children, by start time.
    pub children: Vec<SpanNode<'a>>,
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::AgentStepTracer;

    #[test]
    fn a_full_store_reuses_the_slots_and_span_lists_of_the_traces_it_evicts() {
        let tracer = AgentStepTracer::builder()
            .store(TraceStoreConfig {
                max_traces: 4,
                ..Default::default()
            })
            .build();
        for _ in 0..100 {
            let root = tracer.start_trace("t").entered();
            for _ in 0..5 {
                drop(tracer.start_span("child"));
            }
            drop(root);
        }
        let store = tracer.store().expect("a store");
        let index = store.lock();
        assert_eq!(index.by_id.len(), 4);
        assert_eq!(index.slots.len(), 4, "no slot beyond the most traces held");
        assert!(index.slots.iter().all(|e| e.spans.len() == 6));
        // Walking the order both ways meets every trace once.
        let newest_first: Vec<usize> = {
            let mut v = Vec::new();
            let mut at = index.newest;
            while at != NIL {
                v.push(at);
                at = index.slots[at].prev;
            }
            v
        };
        let mut oldest_first: Vec<usize> = {
            let mut v = Vec::new();
            let mut at = index.oldest;
            while at != NIL {
                v.push(at);
                at = index.slots[at].next;
            }
            v
        };
        oldest_first.reverse();
        assert_eq!(newest_first, oldest_first);
        assert_eq!(newest_first.len(), 4);
    }

    #[test]
    fn ending_a_span_does_not_wait_for_a_held_index_until_the_staging_queue_is_full() {
        let tracer = AgentStepTracer::new();
        let store = tracer.store().expect("a store");
        let root = tracer.start_trace("t").entered();
        let held = store.index.lock().expect("not poisoned");
        // Past the drain threshold, short of a full queue: each end tries
        // the lock, finds it held, and goes on (a wait would never end).
        for _ in 0..(DRAIN_AT * 4) {
            drop(tracer.start_span("child"));
        }
        assert_eq!(store.staged.len(), DRAIN_AT * 4);
        drop(held);
        drop(tracer.start_span("child")); // drains, the lock being free
        assert_eq!(store.staged.len(), 0);
        let id = root.trace_id();
        drop(root);
        assert_eq!(
            store.trace(id).expect("stored").spans().len(),
            DRAIN_AT * 4 + 2
        );
    }

    #[test]
    fn trace_ids_hash_with_every_bit_and_a_key_of_their_own() {
        let state = IdState::default();
        let other = IdState::default();
        let ids = [1_u128, 2, 1 << 64, 2 << 64, u128::MAX];
        let hashes: Vec<u64> = ids.iter().map(|id| state.hash_one(id)).collect();
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(state.hash_one(7_u128), state.hash_one(7_u128));
        assert_ne!(state.hash_one(7_u128), other.hash_one(7_u128));
    }
}
