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

#[test]
fn a_trace_evicted_by_age_leaves_the_others_in_order_of_arrival() {
    let clock = ManualClock::new(at(1_000.0));
    let tracer = tracer(TraceStoreConfig {
        max_traces: 3,
        max_age: Duration::from_secs(60),
        clock: Arc::new(clock.clone()),
        ..Default::default()
    });
    let a = trace_ending_at(&tracer, "a", 995.0);
    let b = trace_ending_at(&tracer, "b", 930.0); // the first to expire
    let c = trace_ending_at(&tracer, "c", 996.0);
    let store = tracer.store().unwrap();
    clock.advance(Duration::from_secs(11)); // b is 81 s past its end
    let ids = |n| -> Vec<TraceId> { store.recent(n).iter().map(|t| t.trace_id()).collect() };
    assert_eq!(ids(10), vec![c, a]);
    assert_eq!(store.stats().evicted_by_age, 1);

    // Two more: the count is reached by the second, which evicts the
    // oldest that is left (a), not the newer c.
    let d = trace_ending_at(&tracer, "d", 1_010.0);
    let e = trace_ending_at(&tracer, "e", 1_011.0);
    assert_eq!(ids(10), vec![e, d, c]);
    assert_eq!(ids(2), vec![e, d]);
    assert!(store.trace(a).is_none());
    assert!(store.trace(b).is_none());
    let stats = store.stats();
    assert_eq!((stats.traces, stats.spans), (3, 3));
    assert_eq!((stats.evicted_by_count, stats.evicted_by_age), (1, 1));
}

#[test]
fn a_trace_seen_again_after_its_eviction_starts_over() {
    let tracer = tracer(TraceStoreConfig {
        max_traces: 1,
        max_spans_per_trace: 2,
        ..Default::default()
    });
    let root = tracer.start_trace("x").entered();
    for _ in 0..3 {
        drop(tracer.start_span("child"));
    }
    let x = root.trace_id();
    let store = tracer.store().unwrap();
    assert_eq!(store.trace(x).unwrap().dropped_spans(), 1);

    let y = tracer.start_trace("y");
    let y_id = y.trace_id();
    y.end(); // evicts x
    assert!(store.trace(x).is_none());
    drop(root); // x again: a new trace, in place of y
    let trace = store.trace(x).expect("stored again");
    assert_eq!(trace.spans().len(), 1);
    assert_eq!(trace.spans()[0].name, "x");
    assert_eq!(trace.dropped_spans(), 0);
    assert!(store.trace(y_id).is_none());
    let stats = store.stats();
    assert_eq!((stats.traces, stats.spans), (1, 1));
    assert_eq!((stats.evicted_by_count, stats.dropped_spans), (2, 1));
}

#[test]
fn a_cleared_store_keeps_its_counters_and_stores_again() {
    let tracer = tracer(TraceStoreConfig {
        max_traces: 2,
        ..Default::default()
    });
    let ids: Vec<TraceId> = (0..3)
        .map(|_| {
            let t = tracer.start_trace("t");
            let id = t.trace_id();
            t.end();
            id
        })
        .collect();
    let store = tracer.store().unwrap();
    store.clear();
    assert!(store.recent(10).is_empty());
    assert!(store.trace(ids[2]).is_none());
    let stats = store.stats();
    assert_eq!(
        (stats.traces, stats.spans, stats.evicted_by_count),
        (0, 0, 1)
    );

    let again = tracer.start_trace("again");
    let id = again.trace_id();
    again.end();
    assert_eq!(store.trace(id).unwrap().spans().len(), 1);
    assert_eq!(store.recent(10).len(), 1);
    assert_eq!(store.stats().traces, 1);
}

#[test]
fn traces_expire_in_turn_as_the_clock_advances() {
    let clock = ManualClock::new(at(1_000.0));
    let tracer = tracer(TraceStoreConfig {
        max_age: Duration::from_secs(60),
        clock: Arc::new(clock.clone()),
        ..Default::default()
    });
    let a = trace_ending_at(&tracer, "a", 990.0);
    let b = trace_ending_at(&tracer, "b", 950.0);
    let c = trace_ending_at(&tracer, "c", 970.0);
    let store = tracer.store().unwrap();
    let kept = |ids: &[TraceId]| {
        ids.iter()
            .map(|id| store.trace(*id).is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(kept(&[a, b, c]), [true, true, true]);
    clock.advance(Duration::from_secs(11)); // b: 61 s
    assert_eq!(kept(&[a, b, c]), [true, false, true]);
    clock.advance(Duration::from_secs(20)); // c: 61 s
    assert_eq!(kept(&[a, b, c]), [true, false, false]);
    clock.advance(Duration::from_secs(19)); // a: 60 s, not more
    assert_eq!(kept(&[a, b, c]), [true, false, false]);
    clock.advance(Duration::from_secs(1));
    assert_eq!(kept(&[a, b, c]), [false, false, false]);
    assert_eq!(store.stats().evicted_by_age, 3);
}
