//! A processor that panics when a span starts or ends unwinds through the
//! span's start or drop. The span's data, tracer handle and context must
//! each be freed exactly once on the way (no leak, no double free), and the
//! tracer must go on working. This test binary counts allocations and frees
//! per thread through its global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanData, SpanProcessor};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<i64> = const { Cell::new(0) };
}

/// Adds `n` to this thread's count of live allocations (not while the
/// thread's locals are torn down).
fn add(n: i64) {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + n));
}

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(1);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-1);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Panics when a span named `boom on start` starts or one named `boom on
/// end` ends; counts the spans it saw end.
#[derive(Debug, Default)]
struct Panicky {
    ended: AtomicU64,
}

impl SpanProcessor for Panicky {
    fn on_start(&self, span: &SpanData) {
        assert!(span.name != "boom on start", "on_start refuses this span");
    }

    fn on_end(&self, span: FinishedSpan) {
        self.ended.fetch_add(1, Ordering::Relaxed);
        assert!(span.name != "boom on end", "on_end refuses this span");
    }
}

/// One round: a span whose start panics, one whose end panics (with
/// attributes, an event, a parent), and a plain one that must still end.
fn round(tracer: &AgentStepTracer) {
    let started = catch_unwind(AssertUnwindSafe(|| {
        let mut span = tracer.start_trace("boom on start");
        span.set_attribute("never", "set");
    }));
    assert!(started.is_err(), "the start panics");
    let ended = catch_unwind(AssertUnwindSafe(|| {
        let root = tracer.start_trace("root");
        let mut span = tracer.span_builder("boom on end").parent(&root).start();
        span.set_attribute("model", "a model name longer than twenty-two bytes");
        span.set_attribute("tokens", 150);
        span.add_event("thinking", []);
        span.end();
    }));
    assert!(ended.is_err(), "the end panics");
    tracer.start_trace("fine").end();
}

#[test]
fn panics_in_processors_free_every_span_exactly_once() {
    std::panic::set_hook(Box::new(|_| {}));
    let processor = Arc::new(Panicky::default());
    let tracer = AgentStepTracer::builder()
        .processor(processor.clone())
        .without_store()
        .build();
    // Warm up: thread-local state, the recycled-span cache.
    for _ in 0..100 {
        round(&tracer);
    }
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..1_000 {
        round(&tracer);
    }
    let after = ALLOCATIONS.with(Cell::get);
    let _ = std::panic::take_hook();
    assert_eq!(after - before, 0, "live allocations grew over 1,000 rounds");
    // Per round: "boom on end" (panics after counting), the root it unwound
    // through, and "fine".
    assert_eq!(processor.ended.load(Ordering::Relaxed), 1_100 * 3);
}
