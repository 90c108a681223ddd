//! The in-memory store keeps at most N traces, M spans per trace, and nothing
//! older than its max age; evictions are counted. Time is a manual clock.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agent_trace_core::{AgentStepTracer, ManualClock, TraceId, TraceStoreConfig};
use support::at;

fn tracer(config: TraceStoreConfig) -> AgentStepTracer {
    AgentStepTracer::builder().store(config).build()
}

/// A one-span trace that ends at `end` seconds.
fn trace_ending_at(tracer: &AgentStepTracer, name: &'static str, end: f64) -> TraceId {
    let span = tracer.trace_builder(name).start_time(at(end - 1.0)).start();
    let id = span.trace_id();
    span.end_with_time(at(end));
    id
}

#[test]
fn oldest_traces_go_first_when_the_count_is_reached() {
    let tracer = tracer(TraceStoreConfig {
        max_traces: 3,
        ..Default::default()
    });
    let ids: Vec<TraceId> = (0..5)
        .map(|_| {
            let root = tracer.start_trace("t").entered();
            drop(tracer.start_span("child"));
            root.trace_id()
        })
        .collect();
    let store = tracer.store().unwrap();
    assert!(store.trace(ids[0]).is_none());
    assert!(store.trace(ids[1]).is_none());
    for id in &ids[2..] {
        assert_eq!(store.trace(*id).unwrap().spans().len(), 2);
    }
    let recent: Vec<TraceId> = store.recent(10).iter().map(|t| t.trace_id()).collect();
    assert_eq!(recent, vec![ids[4], ids[3], ids[2]]);
    let stats = store.stats();
    assert_eq!((stats.traces, stats.spans), (3, 6));
    assert_eq!(stats.evicted_by_count, 2);
    assert_eq!(stats.evicted_by_age, 0);
}

#[test]
fn traces_older_than_max_age_are_evicted() {
    let clock = ManualClock::new(at(1_000.0));
    let tracer = tracer(TraceStoreConfig {
        max_age: Duration::from_secs(60),
        clock: Arc::new(clock.clone()),
        ..Default::default()
    });
    let old = trace_ending_at(&tracer, "old", 950.0);
    let fresh = trace_ending_at(&tracer, "fresh", 999.0);
    let store = tracer.store().unwrap();
    assert!(store.trace(old).is_some(), "50 s old: kept");

    clock.advance(Duration::from_secs(11)); // old is now 61 s past its end
    assert!(store.trace(old).is_none());
    assert!(store.trace(fresh).is_some());
    assert_eq!(store.stats().evicted_by_age, 1);

    clock.advance(Duration::from_secs(60));
    assert!(store.recent(10).is_empty());
    assert_eq!(store.stats().evicted_by_age, 2);
    assert_eq!(store.stats().spans, 0);
}

#[test]
fn a_trace_stays_while_its_spans_keep_arriving() {
    let clock = ManualClock::new(at(1_000.0));
    let tracer = tracer(TraceStoreConfig {
        max_age: Duration::from_secs(60),
        clock: Arc::new(clock.clone()),
        ..Default::default()
    });
    let root = tracer.trace_builder("long").start_time(at(900.0)).start();
    let first = tracer
        .span_builder("early")
        .parent(&root)
        .start_time(at(900.0))
        .start();
    first.end_with_time(at(901.0)); // 99 s ago: past max age on its own
    let late = tracer
        .span_builder("late")
        .parent(&root)
        .start_time(at(990.0))
        .start();
    late.end_with_time(at(995.0));
    let trace = tracer
        .trace(root.trace_id())
        .expect("newest span is recent");
    assert_eq!(trace.spans().len(), 2);
}

#[test]
fn spans_over_the_per_trace_limit_are_dropped_and_counted() {
    let tracer = tracer(TraceStoreConfig {
        max_spans_per_trace: 3,
        ..Default::default()
    });
    let root = tracer.start_trace("t").entered();
    for _ in 0..5 {
        drop(tracer.start_span("child"));
    }
    let id = root.trace_id();
    drop(root);
    let trace = tracer.trace(id).unwrap();
    assert_eq!(trace.spans().len(), 3);
    assert_eq!(trace.dropped_spans(), 3, "two children and the root");
    assert_eq!(tracer.store().unwrap().stats().dropped_spans, 3);
}

#[test]
fn more_spans_than_the_staging_queue_holds_are_all_stored() {
    let tracer = tracer(TraceStoreConfig::default());
    let root = tracer.start_trace("big").entered();
    for _ in 0..5_000 {
        drop(tracer.start_span("child"));
    }
    let id = root.trace_id();
    drop(root);
    assert_eq!(tracer.trace(id).unwrap().spans().len(), 5_001);
}
