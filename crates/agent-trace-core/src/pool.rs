//! Recycled span allocations.
//!
//! Every recording span lives in one heap allocation (an `Arc<SpanData>`'s,
//! held alone while the span records, shared among processors once it
//! ends) from start until the last processor drops it, and a span with more than four
//! attributes (a GenAI call has about ten) or with events has a second and a
//! third. Calling the allocator for each costs about a hundred instructions
//! for `malloc` and `free`, and more when spans are freed on another thread
//! than the one that made them (an export worker frees what application
//! threads allocated), where the allocator's per-thread caches do not help
//! and its arenas are contended.
//!
//! So a finished span is not freed but *blanked*: its contents are dropped,
//! its attribute and event lists emptied but keeping their buffers (up to
//! [`KEEP_ATTRIBUTES`] and [`KEEP_EVENTS`] entries), and the blank span goes
//! to a small per-thread cache, from which the next span started on that
//! thread takes it. A thread that only frees (an export worker) hands full
//! caches, [`LOCAL_CAP`] spans at a time, to a shared stock; a thread that
//! only allocates refills from it, one batch per [`LOCAL_CAP`] spans. The
//! stock is a lock-free bounded queue of batches, touched once per batch:
//! nothing here takes a lock or waits.
//!
//! Memory kept: at most [`LOCAL_CAP`] blank spans per thread and
//! [`SHARED_BATCHES`] x [`LOCAL_CAP`] in the shared stock, each at most
//! [`BLANK_SPAN_BYTES`]; [`span_pool_bytes_bound`] gives the total. Beyond
//! that, spans are freed.

use std::cell::UnsafeCell;
use std::mem;
use std::ops::Deref;
use std::sync::LazyLock;

#[cfg(not(loom))]
use crossbeam_queue::ArrayQueue;
// Under loom (the model below): the stock's queue with a loom step before
// each operation (`store.rs`).
#[cfg(loom)]
use crate::store::loom_shim::ArrayQueue;

use crate::attr::KeyValue;
use crate::span_data::{Event, SpanData, Status, UniqueSpan};

/// A blank span: every collection empty, status unset, counts zero (the
/// other fields are overwritten when it is used).
pub(crate) type Slot = UniqueSpan;

/// Blank spans a thread keeps for its next spans, and the size of a batch
/// handed to or taken from the shared stock.
pub(crate) const LOCAL_CAP: usize = 32;

/// Batches the shared stock holds at most: enough to carry an export batch
/// of 512 spans from the worker that frees them to the threads that start
/// spans, with room to spare.
pub(crate) const SHARED_BATCHES: usize = 32;

/// The most attributes a blank span keeps room for; a larger buffer is
/// freed.
pub(crate) const KEEP_ATTRIBUTES: usize = 16;

/// The most events a blank span keeps room for; a larger buffer is freed.
pub(crate) const KEEP_EVENTS: usize = 4;

/// The most memory one blank span holds: the span itself and the buffers
/// it keeps.
pub(crate) const BLANK_SPAN_BYTES: usize = mem::size_of::<SpanData>()
    // The reference counts in front of it.
    + 2 * mem::size_of::<usize>()
    + KEEP_ATTRIBUTES * mem::size_of::<KeyValue>()
    + KEEP_EVENTS * mem::size_of::<Event>();

#[cfg(not(loom))]
thread_local! {
    static LOCAL: UnsafeCell<Vec<Slot>> = const { UnsafeCell::new(Vec::new()) };
}
// Under loom, a cache per loom thread (its macro takes no `const` block).
#[cfg(loom)]
loom::thread_local! {
    static LOCAL: UnsafeCell<Vec<Slot>> = UnsafeCell::new(Vec::new());
}

/// The most memory, in bytes, that recycled spans keep alive when `threads`
/// threads start or drop spans: the per-thread caches and the shared stock,
/// full, each blank span with the largest buffers it may keep. A process's
/// memory bound for tracing is its queues' capacity in spans plus this.
///
/// ```
/// let bound = agent_trace_core::span_pool_bytes_bound(4);
/// assert!(bound < 2 << 20, "{bound} bytes for four threads");
/// ```
pub const fn span_pool_bytes_bound(threads: usize) -> usize {
    (threads + SHARED_BATCHES) * LOCAL_CAP * BLANK_SPAN_BYTES
}

/// Full batches handed over by threads that free more spans than they
/// start. Functions take it as `impl Deref`, so that the lazily made global
/// is only dereferenced (an atomic check) once per batch.
type Stock = ArrayQueue<Vec<Slot>>;

static SHARED: LazyLock<Stock> = LazyLock::new(new_stock);

fn new_stock() -> Stock {
    ArrayQueue::new(SHARED_BATCHES)
}

/// A blank span for a new span: from this thread's cache, else from a batch
/// of the shared stock; `None` when both are empty (the caller allocates).
#[inline]
pub(crate) fn take() -> Option<Slot> {
    take_in(&SHARED)
}

#[inline]
fn take_in(stock: &impl Deref<Target = Stock>) -> Option<Slot> {
    let hit = LOCAL.try_with(|local| {
        // SAFETY: `LOCAL` is only touched by `take`, `recycle` and their
        // cold helpers, none of which runs code that could re-enter them
        // while the reference lives (a span's contents are dropped before
        // `LOCAL` is touched, and no user code runs; `prefetch` only
        // hints).
        let local = unsafe { &mut *local.get() };
        let slot = local.pop();
        if let Some(next) = local.last() {
            prefetch(next);
        }
        slot
    });
    match hit {
        Ok(Some(slot)) => Some(slot),
        _ => refill(stock),
    }
}

/// Starts loading the next span this thread will take into the cache, while
/// the current one is used: a recycled span's lines were last written by
/// the thread that freed it (on another core, when the export worker
/// recycled it) or long ago, and its start's first stores waited for them.
/// Measured on an Intel Xeon host: the agent workload's `trace_only` run
/// 44.1 -> 40.4 us of CPU a task (interleaved medians), the overload bench
/// with two application threads 265 -> 185 ns a span.
#[inline(always)]
fn prefetch(next: &Slot) {
    prefetch_bytes(
        std::ptr::from_ref::<SpanData>(next).cast(),
        mem::size_of::<SpanData>(),
    );
}

/// Hints the processor to load the cache lines of `len` bytes from
/// `start` (at most 16 lines) for reading: the one prefetch of the crate.
/// Elsewhere than on x86_64, nothing.
#[inline(always)]
pub(crate) fn prefetch_bytes(start: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // Every line the bytes touch, from the one they start in (they may
        // start anywhere in it), at most 16.
        let offset = start.addr() % 64;
        let first: *const i8 = start.wrapping_sub(offset).cast();
        for line in 0..(offset + len).div_ceil(64).min(16) {
            // SAFETY: `_mm_prefetch` is unsafe only for its
            // `target_feature(enable = "sse")`, which every x86_64 processor
            // has (it is in the target's baseline). A prefetch is a hint: it
            // never faults and changes no memory, whatever the address
            // (`wrapping_*` keeps the address computation itself defined).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, len);
}

#[cold]
#[inline(never)]
fn refill(stock: &impl Deref<Target = Stock>) -> Option<Slot> {
    let mut batch = stock.pop()?;
    let slot = batch.pop();
    // SAFETY: as in `take_in`. The thread's empty cache is replaced by the
    // batch; when the thread-local is gone the batch is freed instead.
    let _ = LOCAL.try_with(|local| unsafe {
        let local = &mut *local.get();
        if local.is_empty() {
            mem::swap(local, &mut batch);
        }
    });
    slot
}

/// Blanks a finished span and keeps it for a later span.
#[inline]
pub(crate) fn recycle(data: Slot) {
    recycle_in(&SHARED, data);
}

/// Drops what a span holds, keeping its buffers up to the limits.
#[inline]
fn blank(data: &mut SpanData) {
    // Every field named, no `..`: a field added to `SpanData` does not
    // compile until it is blanked here or written by the recycled start
    // (`new_span_data` in `span.rs`, which names every field too).
    let SpanData {
        name,
        context,
        // Written by every start, recycled or not: plain values.
        parent_span_id: _,
        parent_is_remote: _,
        kind: _,
        start_time: _,
        end_time: _,
        attributes,
        events,
        links,
        status,
        dropped_attributes_count,
        dropped_events_count,
        dropped_links_count,
        scope,
    } = data;
    attributes.clear();
    if attributes.capacity() > KEEP_ATTRIBUTES {
        *attributes = crate::span_data::Attributes::new();
    }
    events.clear();
    if events.capacity() > KEEP_EVENTS {
        *events = Vec::new();
    }
    // Links are rare: not worth keeping a buffer for.
    if links.capacity() != 0 {
        *links = Vec::new();
    }
    *name = crate::attr::StringValue::from_static("");
    // The ids, flags and remoteness are written by every start; the trace
    // state only when the parent has one, so it is emptied here.
    context.trace_state = agent_trace_propagation::TraceState::NONE;
    *status = Status::Unset;
    *dropped_attributes_count = 0;
    *dropped_events_count = 0;
    *dropped_links_count = 0;
    // Spans of a scope are few (the OpenTelemetry bridge's): one test.
    if scope.is_some() {
        *scope = None;
    }
}

#[inline]
fn recycle_in(stock: &impl Deref<Target = Stock>, mut data: Slot) {
    blank(&mut data);
    // When the thread-local is gone (a span dropped while the thread exits)
    // the span comes back unused and is freed.
    let mut slot = Some(data);
    let _ = LOCAL.try_with(|local| {
        // SAFETY: as in `take_in`.
        let local = unsafe { &mut *local.get() };
        let Some(slot) = slot.take() else { return };
        if local.len() < LOCAL_CAP {
            if local.capacity() == 0 {
                local.reserve_exact(LOCAL_CAP);
            }
            local.push(slot);
        } else {
            spill(stock, local, slot);
        }
    });
}

/// This thread's cache is full: hand it to the shared stock whole (or free
/// it when the stock is full) and start a new one with `slot`.
#[cold]
#[inline(never)]
fn spill(stock: &impl Deref<Target = Stock>, local: &mut Vec<Slot>, slot: Slot) {
    let mut fresh = Vec::with_capacity(LOCAL_CAP);
    fresh.push(slot);
    let full = mem::replace(local, fresh);
    // When the stock is full the batch comes back and is dropped here, its
    // spans freed.
    let _ = stock.push(full);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::thread;

    use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId};

    use super::*;
    use crate::attr::KeyValue;
    use crate::clock::Timestamp;
    use crate::span_data::{Attributes, Event, SpanKind, Status};

    /// Span data that owns heap memory in every kind of field, so that a
    /// recycled allocation whose contents were not dropped shows up as a
    /// leak under Miri or valgrind, and a double drop as a crash.
    fn span_data(n: u64) -> Slot {
        let context = SpanContext::new(
            TraceId::from_u128(u128::from(n) + 1).unwrap(),
            SpanId::from_u64(n + 1).unwrap(),
            TraceFlags::SAMPLED,
        );
        let attributes: Attributes = (0..6)
            .map(|i| KeyValue::new(format!("key.{i}"), format!("value {n} {i}")))
            .collect();
        UniqueSpan::new(SpanData {
            name: format!("span {n}").into(),
            context,
            parent_span_id: None,
            parent_is_remote: false,
            kind: SpanKind::Internal,
            start_time: Timestamp::from_unix_nanos(1),
            end_time: Timestamp::from_unix_nanos(2),
            attributes,
            events: vec![Event {
                name: format!("event {n}").into(),
                timestamp: Timestamp::from_unix_nanos(1),
                attributes: vec![KeyValue::new("k", format!("{n}"))],
                dropped_attributes_count: 0,
            }],
            links: Vec::new(),
            status: Status::error(format!("failed {n}")),
            dropped_attributes_count: 0,
            dropped_events_count: 0,
            dropped_links_count: 0,
            scope: None,
        })
    }

    fn addr<T>(b: &T) -> usize {
        std::ptr::from_ref(b).addr()
    }

    fn local_len() -> usize {
        // SAFETY: no pool operation runs while the reference lives.
        LOCAL.with(|l| unsafe { (*l.get()).len() })
    }

    #[test]
    fn a_recycled_allocation_is_the_next_one_this_thread_gets() {
        let stock = std::sync::Arc::new(new_stock());
        thread::spawn(move || {
            let data = span_data(1);
            let freed = addr(&*data);
            recycle_in(&stock, data);
            assert_eq!(addr(&*take_in(&stock).unwrap()), freed);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_freeing_thread_keeps_at_most_a_batch_and_hands_the_rest_to_an_allocating_thread() {
        let stock = std::sync::Arc::new(new_stock());
        let freed: HashSet<usize> = {
            let stock = stock.clone();
            thread::spawn(move || {
                let mut freed = HashSet::new();
                for n in 0..(LOCAL_CAP * 3) as u64 {
                    let data = span_data(n);
                    freed.insert(addr(&*data));
                    recycle_in(&stock, data);
                    assert!(local_len() <= LOCAL_CAP);
                }
                freed
            })
            .join()
            .unwrap()
        };
        // Three batches went through a cache of one: two were handed over.
        assert_eq!(stock.len(), 2);
        let reused = {
            let stock = stock.clone();
            thread::spawn(move || {
                let slots: Vec<Slot> = (0..LOCAL_CAP * 2)
                    .map(|_| take_in(&stock).unwrap())
                    .collect();
                slots
                    .iter()
                    .filter(|s| freed.contains(&addr(&***s)))
                    .count()
            })
            .join()
            .unwrap()
        };
        assert_eq!(reused, LOCAL_CAP * 2);
        assert!(stock.is_empty());
    }

    #[test]
    fn the_stock_is_bounded_and_what_does_not_fit_is_freed() {
        let stock = std::sync::Arc::new(new_stock());
        let s = stock.clone();
        thread::spawn(move || {
            for n in 0..(LOCAL_CAP * (SHARED_BATCHES + 5)) as u64 {
                recycle_in(&s, span_data(n));
            }
        })
        .join()
        .unwrap();
        assert_eq!(stock.len(), SHARED_BATCHES);
        while let Some(batch) = stock.pop() {
            assert_eq!(batch.len(), LOCAL_CAP);
        }
    }

    #[test]
    fn a_blank_span_keeps_a_small_attribute_buffer_and_frees_a_large_one() {
        let stock = std::sync::Arc::new(new_stock());
        thread::spawn(move || {
            let mut small = span_data(1);
            small
                .attributes
                .extend((6..10).map(|i| KeyValue::new(format!("k{i}"), i)));
            let kept = small.attributes.capacity();
            assert!(kept > 4 && kept <= KEEP_ATTRIBUTES);
            recycle_in(&stock, small);
            let reused = take_in(&stock).unwrap();
            assert!(reused.attributes.is_empty() && reused.events.is_empty());
            assert_eq!(reused.attributes.capacity(), kept, "the buffer is reused");
            assert!(reused.events.capacity() >= 1);
            assert_eq!(reused.status, Status::Unset);
            assert_eq!(reused.name, "");

            let mut large = span_data(2);
            large
                .attributes
                .extend((6..40).map(|i| KeyValue::new(format!("k{i}"), i)));
            recycle_in(&stock, large);
            let trimmed = take_in(&stock).unwrap();
            assert!(trimmed.attributes.capacity() <= KEEP_ATTRIBUTES);
        })
        .join()
        .unwrap();
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId};
    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::clock::Timestamp;
    use crate::span_data::{SpanKind, Status};

    fn slot(n: u64) -> Slot {
        UniqueSpan::new(SpanData {
            name: "step".into(),
            context: SpanContext::new(
                TraceId::from_u128(1).unwrap(),
                SpanId::from_u64(n + 1).unwrap(),
                TraceFlags::SAMPLED,
            ),
            parent_span_id: None,
            parent_is_remote: false,
            kind: SpanKind::Internal,
            start_time: Timestamp::from_unix_nanos(0),
            end_time: Timestamp::from_unix_nanos(0),
            attributes: Default::default(),
            events: Vec::new(),
            links: Vec::new(),
            status: Status::Unset,
            dropped_attributes_count: 0,
            dropped_events_count: 0,
            dropped_links_count: 0,
            scope: None,
        })
    }

    fn addr(s: &Slot) -> usize {
        std::ptr::from_ref::<SpanData>(s).addr()
    }

    /// A thread frees a batch and one span more (the batch goes to the
    /// stock, the last span stays in its cache) and then starts a span; two
    /// other threads start one span each. Every allocation handed out goes
    /// to one thread only, and only allocations that were freed.
    #[test]
    fn a_recycled_allocation_is_handed_to_one_taker() {
        loom::model(|| {
            let stock = Arc::new(new_stock());
            let freer = {
                let stock = stock.clone();
                thread::spawn(move || {
                    let mut freed = Vec::new();
                    for n in 0..=LOCAL_CAP as u64 {
                        let s = slot(n);
                        freed.push(addr(&s));
                        recycle_in(&stock, s);
                    }
                    (freed, take_in(&stock))
                })
            };
            let takers: Vec<_> = (0..2)
                .map(|_| {
                    let stock = stock.clone();
                    thread::spawn(move || take_in(&stock))
                })
                .collect();
            let taken: Vec<Slot> = takers
                .into_iter()
                .filter_map(|t| t.join().unwrap())
                .collect();
            let (freed, own) = freer.join().unwrap();
            let own = own.expect("the freer's own cache holds its last span");
            assert_eq!(addr(&own), freed[LOCAL_CAP], "its cache, not the stock");
            let mut all: Vec<usize> = taken.iter().map(addr).chain([addr(&own)]).collect();
            assert!(taken.len() <= 1, "one batch, taken whole by one thread");
            assert!(all.iter().all(|a| freed.contains(a)));
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), taken.len() + 1, "an allocation handed out twice");
        });
    }
}
