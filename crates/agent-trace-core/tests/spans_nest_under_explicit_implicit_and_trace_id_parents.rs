//! Parent/child and trace-id linkage, three levels deep, for each way of
//! naming a parent.

mod support;

use agent_trace_core::{AgentStepTracer, Parent, SpanKind};
use support::collecting_tracer;

#[test]
fn explicit_parents_link_three_levels() {
    let (tracer, spans) = collecting_tracer();
    let root = tracer.start_trace("workflow");
    let collect = tracer.span_builder("data_collection").parent(&root).start();
    let fetch = tracer.span_builder("fetch_api").parent(&collect).start();
    let ids = (root.context(), collect.context(), fetch.context());
    drop((fetch, collect, root));

    let root = spans.named("workflow");
    let collect = spans.named("data_collection");
    let fetch = spans.named("fetch_api");
    assert_eq!(root.context, ids.0);
    assert_eq!(root.parent_span_id, None);
    assert_eq!(collect.parent_span_id, Some(root.context.span_id));
    assert_eq!(fetch.parent_span_id, Some(collect.context.span_id));
    for s in [&collect, &fetch] {
        assert_eq!(s.context.trace_id, root.context.trace_id);
        assert!(!s.parent_is_remote);
    }
    assert_ne!(root.context.span_id, collect.context.span_id);
}

#[test]
fn entered_spans_are_implicit_parents_three_levels() {
    let (tracer, spans) = collecting_tracer();
    assert!(AgentStepTracer::current_context().is_none());
    {
        let _root = tracer.start_trace("workflow").entered();
        {
            let _a = tracer.start_span("a").entered();
            let _b = tracer.start_span("b"); // child of a, not entered
        }
        // After `a` left scope, the root is current again.
        let _c = tracer.start_span("c");
    }
    assert!(AgentStepTracer::current_context().is_none());

    let (root, a, b, c) = (
        spans.named("workflow"),
        spans.named("a"),
        spans.named("b"),
        spans.named("c"),
    );
    assert_eq!(a.parent_span_id, Some(root.context.span_id));
    assert_eq!(b.parent_span_id, Some(a.context.span_id));
    assert_eq!(c.parent_span_id, Some(root.context.span_id));
    assert!(
        [&a, &b, &c]
            .iter()
            .all(|s| s.context.trace_id == root.context.trace_id)
    );
}

#[test]
fn trace_id_parent_joins_the_trace_under_its_root() {
    let (tracer, spans) = collecting_tracer();
    // As in the reference: the trace is never entered; steps name its id.
    let trace = tracer
        .trace_builder("agent_task")
        .agent_id("agent-001")
        .start();
    let llm = tracer
        .span_builder("llm_call")
        .trace_id(trace.trace_id())
        .start();
    let tool = tracer
        .span_builder("tool_call")
        .parent(Parent::Trace(trace.trace_id()))
        .start();
    drop((llm, tool, trace));

    let root = spans.named("agent_task");
    assert_eq!(
        root.attribute("gen_ai.agent.id").and_then(|v| v.as_str()),
        Some("agent-001")
    );
    for name in ["llm_call", "tool_call"] {
        let s = spans.named(name);
        assert_eq!(s.context.trace_id, root.context.trace_id, "{name}");
        assert_eq!(s.parent_span_id, Some(root.context.span_id), "{name}");
    }
}

#[test]
fn trace_id_parent_prefers_the_innermost_entered_span_of_that_trace() {
    let (tracer, spans) = collecting_tracer();
    let trace = tracer.start_trace("task");
    let step = tracer.span_builder("step").parent(&trace).start().entered();
    let other = tracer.start_trace("unrelated").entered();
    let inner = tracer
        .span_builder("inner")
        .trace_id(trace.trace_id())
        .start();
    drop((inner, other, step, trace));
    assert_eq!(
        spans.named("inner").parent_span_id,
        Some(spans.named("step").context.span_id)
    );
}

#[test]
fn start_trace_ignores_the_current_span() {
    let (tracer, spans) = collecting_tracer();
    let outer = tracer.start_trace("outer").entered();
    let fresh = tracer.start_trace("fresh");
    assert_ne!(fresh.trace_id(), outer.trace_id());
    drop((fresh, outer));
    assert_eq!(spans.named("fresh").parent_span_id, None);
}

#[test]
fn continue_trace_makes_a_server_child_of_the_remote_parent() {
    let (tracer, spans) = collecting_tracer();
    let upstream = AgentStepTracer::builder().without_store().build();
    let remote = upstream.start_trace("api_request").context();
    drop(tracer.continue_trace(&remote, "process_data"));
    let s = spans.named("process_data");
    assert_eq!(s.context.trace_id, remote.trace_id);
    assert_eq!(s.parent_span_id, Some(remote.span_id));
    assert!(s.parent_is_remote);
    assert_eq!(s.kind, SpanKind::Server);
}

#[test]
fn guards_dropped_out_of_order_leave_the_stack_consistent() {
    let (tracer, _spans) = collecting_tracer();
    let a = tracer.start_trace("a").entered();
    let b = tracer.start_span("b").entered();
    drop(a); // out of order
    assert_eq!(
        AgentStepTracer::current_context().map(|c| c.span_id),
        Some(b.span_id())
    );
    drop(b);
    assert!(AgentStepTracer::current_context().is_none());
}
