//! `AgentTraceLayer` keeps its spans in slots with a lock each, and its
//! agent spans hold no reference count of its tracer: spans used by many
//! threads at once keep every change and their parentage, and spans still
//! open when the subscriber is dropped end into a tracer that is still
//! there, then let it go.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Barrier};

use agent_trace::{AgentStepTracer, AgentTraceLayer, Value};
use tracing::span::Attributes;
use tracing_subscriber::layer::SubscriberExt;

mod support;

use support::collecting_tracer;

fn dispatch(tracer: AgentStepTracer) -> tracing::Dispatch {
    let layer = AgentTraceLayer::new(tracer).without_latency_metrics();
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// Spans opened through the raw `Dispatch` API (no `tracing::Span` handle,
/// which would keep the subscriber alive) and never closed: one started
/// (entered), one still pending. The layer holds the tracer's only handle.
#[test]
fn spans_left_open_when_the_subscriber_drops_end_into_its_tracer_which_is_then_freed() {
    let (tracer, collected) = collecting_tracer();
    let dispatch = dispatch(tracer);
    // The callsites' metadata, from spans made (and closed) under a bare
    // registry: a span has metadata only where some subscriber enables it.
    let bare = tracing::Dispatch::new(tracing_subscriber::registry());
    let (entered_meta, pending_meta) = tracing::dispatcher::with_default(&bare, || {
        (
            tracing::info_span!("left_entered").metadata(),
            tracing::info_span!("left_pending", model = "gpt-4").metadata(),
        )
    });
    let (Some(entered_meta), Some(pending_meta)) = (entered_meta, pending_meta) else {
        panic!("a registry enables every span");
    };
    let entered = dispatch.new_span(&Attributes::new_root(
        entered_meta,
        &entered_meta.fields().value_set(&[]),
    ));
    dispatch.enter(&entered);
    dispatch.exit(&entered);
    let model = pending_meta
        .fields()
        .field("model")
        .expect("declared above");
    let _pending = dispatch.new_span(&Attributes::new_root(
        pending_meta,
        &pending_meta
            .fields()
            .value_set(&[(&model, Some(&"gpt-4" as &dyn tracing::Value))]),
    ));
    assert_eq!(collected.len(), 0, "nothing ended yet");
    assert!(
        Arc::strong_count(&collected) > 1,
        "the collector is held here and by the tracer"
    );

    drop(dispatch);

    let mut names: Vec<String> = collected
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["left_entered", "left_pending"]);
    assert_eq!(
        collected.named("left_pending").attributes[0].value,
        Value::from("gpt-4")
    );
    assert_eq!(
        Arc::strong_count(&collected),
        1,
        "the tracer (and its processors) were freed with the layer: no span kept a count"
    );
}

#[test]
fn a_span_entered_and_recorded_by_many_threads_at_once_keeps_every_change() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 2_000;
    let (tracer, collected) = collecting_tracer();
    let dispatch = dispatch(tracer);
    tracing::dispatcher::with_default(&dispatch, || {
        let shared = tracing::info_span!("shared", round = tracing::field::Empty);
        let start = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (shared, start, dispatch) = (shared.clone(), &start, &dispatch);
                s.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        start.wait();
                        for round in 0..ROUNDS {
                            let _in = shared.enter();
                            // A child of the shared span, opened while other
                            // threads enter and record it.
                            let child = tracing::info_span!("child", thread = t as i64);
                            child.in_scope(|| tracing::info!(round = round as i64, "tick"));
                            shared.record("round", round as i64);
                        }
                    });
                });
            }
        });
    });
    drop(dispatch);

    let spans = collected.spans();
    let shared = collected.named("shared");
    let children: Vec<_> = spans.iter().filter(|s| s.name == "child").collect();
    assert_eq!(children.len(), THREADS * ROUNDS, "every child ended once");
    for child in &children {
        assert_eq!(child.parent_span_id, Some(shared.context.span_id));
        assert_eq!(child.context.trace_id, shared.context.trace_id);
        assert_eq!(child.events.len(), 1, "each child's own event, no other's");
    }
    for t in 0..THREADS {
        let of_thread = children
            .iter()
            .filter(|c| {
                c.attributes
                    .iter()
                    .any(|kv| kv.value == Value::I64(t as i64))
            })
            .count();
        assert_eq!(of_thread, ROUNDS, "thread {t}'s children kept their field");
    }
    assert_eq!(
        shared
            .attributes
            .iter()
            .filter(|kv| kv.key.as_str() == "round")
            .count(),
        1,
        "recorded again and again, the field is one attribute"
    );
    assert_eq!(
        spans.iter().filter(|s| s.name == "shared").count(),
        1,
        "the shared span ended once"
    );
}
