//! Four threads, 100,000 spans each: every span reaches the processor
//! exactly once, and no two share an id.

mod support;

use std::collections::HashSet;

use support::collecting_tracer;

#[test]
fn four_threads_of_100k_spans() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 100_000;
    let (tracer, spans) = collecting_tracer();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let tracer = &tracer;
            s.spawn(move || {
                // Half roots, half children, so both id paths are exercised.
                let root = tracer.start_trace("thread_root").entered();
                for i in 0..PER_THREAD - 1 {
                    let mut span = tracer.start_span("step");
                    span.set_attribute("thread", t);
                    span.set_attribute("i", i);
                }
                drop(root);
            });
        }
    });
    let spans = spans.take();
    assert_eq!(spans.len(), THREADS * PER_THREAD);
    let span_ids: HashSet<_> = spans.iter().map(|s| s.context.span_id).collect();
    assert_eq!(span_ids.len(), spans.len(), "span id collision");
    let trace_ids: HashSet<_> = spans.iter().map(|s| s.context.trace_id).collect();
    assert_eq!(trace_ids.len(), THREADS, "one trace per thread");
    for s in &spans {
        assert!(s.end_time >= s.start_time);
    }
}
