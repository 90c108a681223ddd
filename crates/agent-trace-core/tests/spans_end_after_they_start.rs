//! A span's end time is never before its start time, however it is ended.

mod support;

use std::time::Duration;

use support::{at, collecting_tracer};

#[test]
fn measured_spans_never_end_before_they_start() {
    let (tracer, spans) = collecting_tracer();
    for _ in 0..10_000 {
        drop(tracer.start_trace("t"));
    }
    let root = tracer.start_trace("sleepless");
    let mut child = tracer.span_builder("c").parent(&root).start();
    child.annotate("event");
    let elapsed = child.elapsed();
    drop((child, root));
    for s in spans.take() {
        assert!(s.end_time >= s.start_time, "{s:?}");
        for e in &s.events {
            assert!(e.timestamp >= s.start_time && e.timestamp <= s.end_time);
        }
    }
    assert!(elapsed < Duration::from_secs(60));
}

#[test]
fn an_explicit_end_before_the_start_is_raised_to_the_start() {
    let (tracer, spans) = collecting_tracer();
    let span = tracer.trace_builder("t").start_time(at(100.0)).start();
    span.end_with_time(at(50.0));
    let s = spans.named("t");
    assert_eq!(s.start_time, at(100.0).into());
    assert_eq!(s.end_time, at(100.0).into());
    assert_eq!(s.duration(), Duration::ZERO);
}

#[test]
fn explicit_times_give_exact_durations() {
    let (tracer, spans) = collecting_tracer();
    let span = tracer.trace_builder("t").start_time(at(10.0)).start();
    span.end_with_time(at(12.5));
    assert_eq!(spans.named("t").duration(), Duration::from_millis(2500));
}

#[test]
fn an_event_added_with_its_own_time_keeps_it_and_its_place() {
    let (tracer, spans) = collecting_tracer();
    let start = at(1_700_000_000.0);
    let mut span = tracer.trace_builder("replayed").start_time(start).start();
    span.add_event_at("second", at(1_700_000_000.5), [("n", 2)]);
    span.add_event_at("first", at(1_700_000_000.1), []);
    span.end_with_time(at(1_700_000_001.0));
    let s = spans.named("replayed");
    let events: Vec<(&str, _)> = s
        .events
        .iter()
        .map(|e| (e.name.as_str(), e.timestamp))
        .collect();
    assert_eq!(
        events,
        [
            ("second", at(1_700_000_000.5).into()),
            ("first", at(1_700_000_000.1).into())
        ]
    );
    assert_eq!(s.events[0].attributes.len(), 1);
}
