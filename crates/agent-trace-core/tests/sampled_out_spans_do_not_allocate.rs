//! A span the sampler drops costs no heap allocation, whatever is done to it.
//! This test binary counts every allocation through its global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_trace_core::{AgentStepTracer, KeyValue, Sampler};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn dropped_spans_allocate_nothing() {
    let tracer = AgentStepTracer::builder()
        .sampler(Sampler::AlwaysOff)
        .without_store()
        .build();
    let work = || {
        let root = tracer.start_trace("root");
        let mut child = tracer.span_builder("child").parent(&root).start();
        child.set_attribute("model", "gpt-4");
        child.set_attribute("tokens", 150);
        child.add_event("e", [KeyValue::new("k", 1)]);
        child.annotate("note");
        let _entered = root.entered();
        drop(tracer.start_span("implicit"));
    };
    work(); // Thread-local state is set up on first use.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..1_000 {
        work();
    }
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 0);
}
