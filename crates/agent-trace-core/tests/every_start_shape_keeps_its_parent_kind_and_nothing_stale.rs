//! A span starts through one of several specialised paths depending on
//! what its builder was given (nothing but a parent and a kind, or
//! attributes, links, a start time), and its allocation may be one that an
//! earlier span used. Whatever the path, the span gets the parent and kind
//! asked for, and nothing of the span that used the allocation before.

mod support;

use agent_trace_core::{KeyValue, SpanKind, Status, Timestamp};
use support::collecting_tracer;

#[test]
fn each_parent_shape_with_and_without_options_gets_its_parent_and_kind() {
    let (tracer, collected) = collecting_tracer();
    let root = tracer.trace_builder("root").kind(SpanKind::Server).start();
    let root_cx = root.context();
    {
        let _entered = tracer
            .span_builder("entered")
            .parent(&root)
            .start()
            .entered();
        let current = tracer
            .span_builder("current_plain")
            .kind(SpanKind::Producer)
            .start();
        let current_with = tracer
            .span_builder("current_with_attribute")
            .kind(SpanKind::Consumer)
            .attribute("k", 1)
            .start();
        drop((current, current_with));
    }
    let child = tracer
        .span_builder("child_plain")
        .parent(&root)
        .kind(SpanKind::Client)
        .start();
    let child_with = tracer
        .span_builder("child_with_start_time")
        .parent(&root)
        .kind(SpanKind::Client)
        .start_time(Timestamp::from_unix_nanos(1_000))
        .start();
    let by_context = tracer
        .span_builder("child_by_context")
        .parent(root_cx.clone())
        .start();
    let fresh_root = tracer
        .trace_builder("fresh_root")
        .kind(SpanKind::Consumer)
        .start();
    let fresh_root_id = fresh_root.trace_id();
    drop((child, child_with, by_context, fresh_root));
    root.end();

    let entered = collected.named("entered");
    for (name, parent, kind) in [
        ("root", None, SpanKind::Server),
        ("entered", Some(root_cx.span_id), SpanKind::Internal),
        (
            "current_plain",
            Some(entered.context.span_id),
            SpanKind::Producer,
        ),
        (
            "current_with_attribute",
            Some(entered.context.span_id),
            SpanKind::Consumer,
        ),
        ("child_plain", Some(root_cx.span_id), SpanKind::Client),
        (
            "child_with_start_time",
            Some(root_cx.span_id),
            SpanKind::Client,
        ),
        (
            "child_by_context",
            Some(root_cx.span_id),
            SpanKind::Internal,
        ),
        ("fresh_root", None, SpanKind::Consumer),
    ] {
        let span = collected.named(name);
        assert_eq!(span.parent_span_id, parent, "{name}");
        assert_eq!(span.kind, kind, "{name}");
        let expected_trace = if name == "fresh_root" {
            fresh_root_id
        } else {
            root_cx.trace_id
        };
        assert_eq!(span.context.trace_id, expected_trace, "{name}");
    }
    assert_eq!(
        collected.named("child_with_start_time").start_time,
        Timestamp::from_unix_nanos(1_000)
    );
    assert_eq!(
        collected.named("current_with_attribute").attributes.len(),
        1
    );
}

#[test]
fn a_span_started_in_a_recycled_allocation_holds_nothing_of_the_previous_one() {
    let (tracer, collected) = collecting_tracer();
    for round in 0..200_i64 {
        let mut full = tracer
            .trace_builder("full")
            .scope(std::sync::Arc::new(
                agent_trace_core::InstrumentationScope::new("a-library"),
            ))
            .start();
        for i in 0..10 {
            full.set_attribute(format!("key.{i}"), format!("value {round}"));
        }
        full.add_event("event", [KeyValue::new("round", round)]);
        full.add_link(full.context(), []);
        full.set_status(Status::error("failed"));
        full.end();
        // Dropping the collected span recycles its allocation on this
        // thread; the next span takes it.
        drop(collected.take());

        let empty = tracer.start_trace("empty");
        empty.end();
        let spans = collected.take();
        let span = &spans[0];
        assert_eq!(span.name, "empty");
        assert!(
            span.attributes.is_empty(),
            "round {round}: {:?}",
            span.attributes
        );
        assert!(span.events.is_empty());
        assert!(span.links.is_empty());
        assert_eq!(span.status, Status::Unset);
        assert_eq!(span.dropped_attributes_count, 0);
        assert_eq!(span.scope, None);
    }
}
