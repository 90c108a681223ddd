//! Recycled span allocations.
//!
//! Every recording span lives in one heap allocation (a `Box<SpanData>`)
//! from start until a processor drops it. Calling the allocator for each
//! span costs about a hundred instructions for `malloc` and `free`, and more
//! when spans are freed on another thread than the one that made them (an
//! export worker frees what application threads allocated), where the
//! allocator's per-thread caches do not help and its arenas are contended.
//!
//! So a finished span's allocation is not freed: its contents are dropped
//! and the empty allocation goes to a small per-thread cache, from which the
//! next span started on that thread takes it. A thread that only frees (an
//! export worker) hands full caches, [`LOCAL_CAP`] allocations at a time, to
//! a shared stock; a thread that only allocates refills from it, one batch
//! per [`LOCAL_CAP`] spans. The stock is a lock-free bounded queue of
//! batches, touched once per batch: nothing here takes a lock or waits.
//!
//! Memory kept: at most [`LOCAL_CAP`] allocations per thread and
//! [`SHARED_BATCHES`] x [`LOCAL_CAP`] in the shared stock, that is
//! `(threads + 64) x 32 x size_of::<SpanData>()` bytes, about 13 KiB per
//! thread and 832 KiB shared on 64-bit targets (a `SpanData` is 416 bytes
//! there; a test keeps that figure honest); beyond that allocations are
//! freed.

use std::cell::UnsafeCell;
use std::mem::{self, MaybeUninit};
use std::ops::Deref;
use std::ptr;
use std::sync::LazyLock;

use crossbeam_queue::ArrayQueue;

use crate::span_data::SpanData;

/// An allocation for one span, contents not initialised.
pub(crate) type Slot = Box<MaybeUninit<SpanData>>;

/// Allocations a thread keeps for its next spans, and the size of a batch
/// handed to or taken from the shared stock.
pub(crate) const LOCAL_CAP: usize = 32;

/// Batches the shared stock holds at most.
pub(crate) const SHARED_BATCHES: usize = 64;

thread_local! {
    static LOCAL: UnsafeCell<Vec<Slot>> = const { UnsafeCell::new(Vec::new()) };
}

/// The most memory, in bytes, that recycled span allocations keep alive
/// when `threads` threads start or drop spans: the per-thread caches and the
/// shared stock, full. The allocations hold no span contents (those are
/// dropped when a span is), so this is all they cost; a process's memory
/// bound for tracing is its queues' capacity in spans plus this.
///
/// ```
/// let bound = agent_trace_core::span_pool_bytes_bound(4);
/// assert!(bound < 1 << 20, "{bound} bytes for four threads");
/// ```
pub const fn span_pool_bytes_bound(threads: usize) -> usize {
    (threads + SHARED_BATCHES) * LOCAL_CAP * mem::size_of::<SpanData>()
}

/// Full batches handed over by threads that free more spans than they
/// start. Functions take it as `impl Deref`, so that the lazily made global
/// is only dereferenced (an atomic check) once per batch.
type Stock = ArrayQueue<Vec<Slot>>;

static SHARED: LazyLock<Stock> = LazyLock::new(new_stock);

fn new_stock() -> Stock {
    ArrayQueue::new(SHARED_BATCHES)
}

/// An allocation for a new span: this thread's cache, else a batch from the
/// shared stock, else the allocator.
#[inline]
pub(crate) fn alloc() -> Slot {
    alloc_in(&SHARED)
}

#[inline]
fn alloc_in(stock: &impl Deref<Target = Stock>) -> Slot {
    // SAFETY: `LOCAL` is only touched by `alloc`, `recycle` and their cold
    // helpers, none of which runs code that could re-enter them while the
    // reference lives (no user code, no drop of a `SpanData`).
    let hit = LOCAL.try_with(|local| unsafe { (*local.get()).pop() });
    match hit {
        Ok(Some(slot)) => slot,
        _ => refill(stock),
    }
}

#[cold]
#[inline(never)]
fn refill(stock: &impl Deref<Target = Stock>) -> Slot {
    if let Some(mut batch) = stock.pop()
        && let Some(slot) = batch.pop()
    {
        // SAFETY: as in `alloc`. The thread's empty cache is replaced by the
        // batch; when the thread-local is gone the batch is freed instead.
        let _ = LOCAL.try_with(|local| unsafe {
            let local = &mut *local.get();
            if local.is_empty() {
                mem::swap(local, &mut batch);
            }
        });
        return slot;
    }
    Box::new_uninit()
}

/// Drops a finished span's contents and keeps its allocation for a later
/// span.
#[inline]
pub(crate) fn recycle(data: Box<SpanData>) {
    recycle_in(&SHARED, data);
}

#[inline]
fn recycle_in(stock: &impl Deref<Target = Stock>, data: Box<SpanData>) {
    let raw = Box::into_raw(data);
    // SAFETY: `raw` came from a `Box<SpanData>`, so it is valid and owned;
    // its contents are dropped exactly once here, and the allocation is
    // then owned again as a `Box<MaybeUninit<SpanData>>`, which has the same
    // layout and never drops contents.
    let slot: Slot = unsafe {
        ptr::drop_in_place(raw);
        Box::from_raw(raw.cast::<MaybeUninit<SpanData>>())
    };
    // When the thread-local is gone (a span dropped while the thread exits)
    // the slot comes back in the error and is freed.
    let mut slot = Some(slot);
    let _ = LOCAL.try_with(|local| {
        // SAFETY: as in `alloc`.
        let local = unsafe { &mut *local.get() };
        let slot = slot.take().expect("taken once");
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
/// it when the stock is full or busy) and start a new one with `slot`.
#[cold]
#[inline(never)]
fn spill(stock: &impl Deref<Target = Stock>, local: &mut Vec<Slot>, slot: Slot) {
    let mut fresh = Vec::with_capacity(LOCAL_CAP);
    fresh.push(slot);
    let full = mem::replace(local, fresh);
    // When the stock is full the batch comes back and is dropped here, its
    // allocations freed.
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
    fn span_data(n: u64) -> Box<SpanData> {
        let context = SpanContext::new(
            TraceId::from_u128(u128::from(n) + 1).unwrap(),
            SpanId::from_u64(n + 1).unwrap(),
            TraceFlags::SAMPLED,
        );
        let attributes: Attributes = (0..6)
            .map(|i| KeyValue::new(format!("key.{i}"), format!("value {n} {i}")))
            .collect();
        Box::new(SpanData {
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
        })
    }

    fn addr<T>(b: &T) -> usize {
        ptr::from_ref(b).addr()
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
            assert_eq!(addr(&*alloc_in(&stock)), freed);
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
                let slots: Vec<Slot> = (0..LOCAL_CAP * 2).map(|_| alloc_in(&stock)).collect();
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
    fn the_stated_bound_covers_a_full_stock_and_full_caches() {
        let cached = (SHARED_BATCHES + 3) * LOCAL_CAP;
        assert_eq!(
            span_pool_bytes_bound(3),
            cached * mem::size_of::<SpanData>()
        );
    }

    #[test]
    fn the_documented_size_of_span_data_is_the_real_one() {
        #[cfg(target_pointer_width = "64")]
        assert_eq!(mem::size_of::<SpanData>(), 416);
    }
}
