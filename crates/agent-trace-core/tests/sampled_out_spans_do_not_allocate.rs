//! A span the sampler drops costs no heap allocation, whatever is done to it.
//! This test binary counts every allocation through its global allocator,
//! per thread, so that tests running side by side do not see each other's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use agent_trace_core::{AgentStepTracer, KeyValue, Sampler, SpanContext};
use agent_trace_propagation::{SpanId, TraceFlags, TraceId, TraceState};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static FREES: Cell<usize> = const { Cell::new(0) };
}

/// Adds one to a counter of this thread (none while the thread's locals are
/// torn down).
fn bump(counter: &'static std::thread::LocalKey<Cell<usize>>) {
    let _ = counter.try_with(|c| c.set(c.get() + 1));
}

/// This thread's count so far.
fn count(counter: &'static std::thread::LocalKey<Cell<usize>>) -> usize {
    counter.with(Cell::get)
}

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCATIONS);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump(&FREES);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A tracer whose sampler drops every span, with no store.
fn dropping_tracer() -> AgentStepTracer {
    AgentStepTracer::builder()
        .sampler(Sampler::AlwaysOff)
        .without_store()
        .build()
}

#[test]
fn dropped_spans_allocate_nothing() {
    let tracer = dropping_tracer();
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
    let before = count(&ALLOCATIONS);
    for _ in 0..1_000 {
        work();
    }
    assert_eq!(count(&ALLOCATIONS) - before, 0);
}

/// A sampled-out span under a remote parent with a `tracestate` shares the
/// parent's list (no allocation) and lets go of it when it drops: after the
/// parent is gone too, every allocation made for the list is freed.
#[test]
fn dropped_spans_release_the_parents_trace_state() {
    let tracer = dropping_tracer();
    drop(tracer.start_trace("warm-up"));
    let allocations = count(&ALLOCATIONS);
    let frees = count(&FREES);
    {
        let state = TraceState::NONE
            .insert("vendor", "abc")
            .expect("a valid member");
        let parent = SpanContext {
            trace_id: TraceId::from_u128(0xabc).expect("not zero"),
            span_id: SpanId::from_u64(0xdef).expect("not zero"),
            trace_flags: TraceFlags::NONE,
            trace_state: state,
            is_remote: true,
        };
        for _ in 0..100 {
            let child = tracer.span_builder("child").parent(&parent).start();
            assert!(!child.is_recording());
            assert_eq!(child.span_context().trace_state, parent.trace_state);
        }
    }
    let allocated = count(&ALLOCATIONS) - allocations;
    let freed = count(&FREES) - frees;
    assert!(allocated > 0, "the trace state allocates");
    assert_eq!(allocated, freed, "everything allocated is freed");
}

/// A builder's list of start attributes is made once, with room for the
/// eight or so an agent span starts with, not grown as they are added: a
/// sampled-out span given eight takes one allocation (the list, which the
/// sampler reads) and frees it.
#[test]
fn eight_start_attributes_take_one_allocation() {
    let tracer = dropping_tracer();
    let work = || {
        tracer
            .span_builder("chat gpt-4o")
            .attribute("gen_ai.operation.name", "chat")
            .attribute("gen_ai.provider.name", "openai")
            .attribute("gen_ai.request.model", "gpt-4o")
            .attribute("gen_ai.request.top_p", 0.9)
            .attribute("gen_ai.request.seed", 7)
            .attribute("server.address", "api.openai.com")
            .attribute("server.port", 443)
            .attribute("agent.step", 3)
            .start()
    };
    drop(work()); // Thread-local state is set up on first use.
    let (allocations, frees) = (count(&ALLOCATIONS), count(&FREES));
    drop(work());
    assert_eq!(count(&ALLOCATIONS) - allocations, 1);
    assert_eq!(count(&FREES) - frees, 1);
}
