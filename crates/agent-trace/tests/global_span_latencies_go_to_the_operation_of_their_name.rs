//! The latency processor that `init()` installs records every span's
//! duration into the global latency metrics under the span's name, with
//! the span's trace id as exemplar, whatever the name is made of (a static
//! text, a short or a long text made at run time) and however many names
//! a thread uses.

use std::sync::Arc;

use agent_trace::{AgentStepTracer, LatencyProcessor, latency_metrics};

fn tracer() -> AgentStepTracer {
    AgentStepTracer::builder()
        .without_store()
        .processor(Arc::new(LatencyProcessor::global()))
        .build()
}

fn count(name: &str) -> u64 {
    latency_metrics().stats(name, None).map_or(0, |s| s.count)
}

#[test]
fn each_name_gets_its_own_durations_whatever_it_is_made_of() {
    let tracer = tracer();
    // More names than a thread keeps handles for, some long enough to be
    // shared texts, made anew (at addresses that may be reused) each time.
    let name = |i: usize| -> String {
        if i.is_multiple_of(2) {
            format!("global-latency-op-{i}")
        } else {
            format!("global-latency-operation-with-a-long-name-{i}")
        }
    };
    for round in 1..=3_u64 {
        for i in 0..40 {
            tracer.start_trace(name(i)).end();
            assert_eq!(count(&name(i)), round, "{}", name(i));
        }
        tracer.start_trace("global-latency-static").end();
        assert_eq!(count("global-latency-static"), round);
    }
}

#[test]
fn the_global_durations_carry_the_trace_id() {
    let tracer = tracer();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let span = tracer.start_trace("global-latency-exemplar");
        ids.push(span.trace_id().to_u128());
        span.end();
    }
    let found: Vec<u128> = latency_metrics()
        .exemplars("global-latency-exemplar", None)
        .iter()
        .map(|e| e.trace_id())
        .collect();
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|id| ids.contains(id)),
        "{found:x?} not in {ids:x?}"
    );
}
