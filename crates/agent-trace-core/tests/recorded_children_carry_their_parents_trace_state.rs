//! A recording span's context is written field by field into its (usually
//! recycled) allocation: a child of a parent with a `tracestate` carries the
//! parent's list, live and finished, and a child of a parent without one
//! carries none, even in an allocation whose previous span had one.

use std::sync::{Arc, Mutex};

use agent_trace_core::{
    AgentStepTracer, FinishedSpan, SpanContext, SpanId, SpanProcessor, TraceFlags, TraceId,
    TraceState,
};

/// Keeps each finished span's trace id and trace state, not the span, so
/// that its allocation is recycled for the next span.
#[derive(Debug, Default)]
struct States(Mutex<Vec<(TraceId, TraceState)>>);

impl SpanProcessor for States {
    fn on_end(&self, span: FinishedSpan) {
        let cx = &span.context;
        self.0
            .lock()
            .expect("not poisoned")
            .push((cx.trace_id, cx.trace_state.clone()));
    }
}

fn remote_parent(state: TraceState, n: u64) -> SpanContext {
    SpanContext {
        trace_id: TraceId::from_u128(0xabc + u128::from(n)).expect("not zero"),
        span_id: SpanId::from_u64(0xdef + n).expect("not zero"),
        trace_flags: TraceFlags::SAMPLED,
        trace_state: state,
        is_remote: true,
    }
}

#[test]
fn children_carry_their_parents_trace_state_and_no_other() {
    let states = Arc::new(States::default());
    let tracer = AgentStepTracer::builder()
        .without_store()
        .processor(states.clone())
        .build();
    let with_state = TraceState::NONE
        .insert("vendor", "abc")
        .expect("a valid member");
    let mut expected = Vec::new();
    // Alternating, so that recycled allocations go from a span with a
    // trace state to one without and back.
    for n in 0..200_u64 {
        let state = if n % 2 == 0 {
            with_state.clone()
        } else {
            TraceState::NONE
        };
        let parent = remote_parent(state.clone(), n);
        let child = tracer.span_builder("child").parent(&parent).start();
        assert!(child.is_recording());
        let cx = child.span_context().clone();
        assert_eq!(cx.trace_state, state, "span {n}, live");
        assert_eq!(cx.trace_id, parent.trace_id);
        assert!(!cx.is_remote, "a local span, whatever its parent");
        // A grandchild inherits it in turn.
        let grandchild = tracer.span_builder("grandchild").parent(&child).start();
        assert_eq!(
            grandchild.span_context().trace_state,
            state,
            "span {n}'s child"
        );
        grandchild.end();
        child.end();
        expected.push((parent.trace_id, state.clone()));
        expected.push((parent.trace_id, state));
    }
    let got = states.0.lock().expect("not poisoned").clone();
    assert_eq!(got, expected, "finished spans, in the order they ended");
}
