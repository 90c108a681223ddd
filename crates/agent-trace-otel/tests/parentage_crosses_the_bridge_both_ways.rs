//! Parentage across the bridge: spans of the `opentelemetry` API and our
//! own spans nest inside each other, three deep in both orders, across a
//! process boundary (W3C headers through the API's propagator) and across
//! `.await`s of a task that carries the API's context.

mod support;

use std::collections::HashMap;

use agent_trace_core::{AgentStepTracer, SpanId};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{FutureExt as _, Span as _, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, global};
use support::{span, trace_id_of, tracer};

fn span_id(cx: &opentelemetry::trace::SpanContext) -> SpanId {
    SpanId::from_bytes(cx.span_id().to_bytes()).expect("a valid span id")
}

#[test]
fn ours_then_the_apis_then_ours_nest() {
    let tracer = tracer();
    let lib = global::tracer("lib");
    let outer = tracer.start_trace("outer_ours");
    let trace_id = outer.trace_id();
    {
        let _entered = outer.enter();
        let middle = lib.start("middle_otel");
        let _attached = Context::current_with_span(middle).attach();
        tracer.start_span("inner_ours").end();
    }
    drop(outer);
    let outer = span(trace_id, "outer_ours");
    let middle = span(trace_id, "middle_otel");
    let inner = span(trace_id, "inner_ours");
    assert_eq!(middle.parent_span_id, Some(outer.context.span_id));
    assert_eq!(inner.parent_span_id, Some(middle.context.span_id));
}

#[test]
fn the_apis_then_ours_then_the_apis_nest() {
    let tracer = tracer();
    let lib = global::tracer("lib");
    let trace_id = lib.in_span("outer_otel", |cx| {
        let ours = tracer.start_span("middle_ours");
        let _entered = ours.enter();
        lib.start("inner_otel");
        trace_id_of(cx.span().span_context())
    });
    let outer = span(trace_id, "outer_otel");
    let middle = span(trace_id, "middle_ours");
    let inner = span(trace_id, "inner_otel");
    assert_eq!(outer.parent_span_id, None);
    assert_eq!(middle.parent_span_id, Some(outer.context.span_id));
    assert_eq!(inner.parent_span_id, Some(middle.context.span_id));
    // Once the API's context is detached, our stack is as it was.
    assert_eq!(AgentStepTracer::current_context(), None);
}

#[test]
fn an_explicit_context_wins_over_the_current_span() {
    let tracer = tracer();
    let lib = global::tracer("lib");
    let chosen = lib.start("chosen");
    let chosen_cx = Context::new().with_remote_span_context(chosen.span_context().clone());
    let current = tracer.start_trace("current");
    let _entered = current.enter();
    let child = lib.start_with_context("child", &chosen_cx);
    let trace_id = trace_id_of(chosen.span_context());
    let expected_parent = span_id(chosen.span_context());
    drop((child, chosen));
    assert_eq!(
        span(trace_id, "child").parent_span_id,
        Some(expected_parent)
    );
}

#[test]
fn a_remote_parent_arrives_through_the_apis_propagator() {
    tracer();
    let propagator = agent_trace_otel::W3cPropagator::default();
    let lib = global::tracer("lib");
    // The calling process.
    let caller = lib.start("call");
    let mut headers = HashMap::new();
    propagator.inject_context(
        &Context::new().with_remote_span_context(caller.span_context().clone()),
        &mut headers,
    );
    assert!(headers.contains_key("traceparent"));
    assert_eq!(
        propagator.fields().collect::<Vec<_>>(),
        ["traceparent", "tracestate"]
    );
    // The called process.
    let parent_cx = propagator.extract(&headers);
    assert!(parent_cx.span().span_context().is_remote());
    let handler = lib.start_with_context("handle", &parent_cx);
    let trace_id = trace_id_of(handler.span_context());
    assert_eq!(trace_id, trace_id_of(caller.span_context()));
    let caller_id = span_id(caller.span_context());
    drop((handler, caller));
    let handle = span(trace_id, "handle");
    assert_eq!(handle.parent_span_id, Some(caller_id));
    assert!(handle.parent_is_remote);
    // Headers without a `traceparent` leave the context as it was.
    assert!(!propagator.extract(&HashMap::new()).has_active_span());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_carrying_the_apis_context_keeps_its_children_across_awaits() {
    let tracer = tracer();
    let lib = global::tracer("lib");
    let root = lib.start("task");
    let trace_id = trace_id_of(root.span_context());
    let root_id = span_id(root.span_context());
    let cx = Context::current_with_span(root);
    let work = async move {
        for step in 0..3 {
            tokio::task::yield_now().await;
            // Ours, under the API's span the future carries.
            tracer.start_span(format!("ours_{step}")).end();
            // The API's, from the context current while polled.
            global::tracer("lib").start(format!("otel_{step}"));
        }
    };
    tokio::spawn(work.with_context(cx.clone()))
        .await
        .expect("the task ran");
    cx.span().end();
    for step in 0..3 {
        assert_eq!(
            span(trace_id, &format!("ours_{step}")).parent_span_id,
            Some(root_id)
        );
        assert_eq!(
            span(trace_id, &format!("otel_{step}")).parent_span_id,
            Some(root_id)
        );
    }
}

#[test]
fn contexts_detached_out_of_order_leave_our_stack_clean() {
    tracer();
    let lib = global::tracer("lib");
    let a = Context::current_with_span(lib.start("a")).attach();
    let b = Context::current_with_span(lib.start("b")).attach();
    assert!(AgentStepTracer::current_context().is_some());
    // Out of order: the API reports nothing until `b` goes too.
    drop(a);
    drop(b);
    assert_eq!(AgentStepTracer::current_context(), None);
}
