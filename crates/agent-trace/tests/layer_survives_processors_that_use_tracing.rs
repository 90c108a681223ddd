//! A processor or sampler may itself use `tracing` (a log line when a span
//! starts, say). Its spans and events re-enter the layer on the thread that
//! is starting an agent span; that must never deadlock, whichever shard of
//! the layer's span table they land in, and the application's own spans
//! must all still arrive.

mod support;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use agent_trace::{AgentStepTracer, AgentTraceLayer, SpanData, SpanProcessor};
use support::Collector;
use tracing_subscriber::layer::SubscriberExt;

/// Logs through `tracing` whenever a span starts.
#[derive(Debug)]
struct Chatty;

impl SpanProcessor for Chatty {
    fn on_start(&self, span: &SpanData) {
        tracing::info!(name = %span.name, "span started");
        let inner = tracing::info_span!("processor_work");
        inner.in_scope(|| tracing::debug!("inside the processor"));
    }

    fn on_end(&self, _span: agent_trace::FinishedSpan) {}
}

#[tracing::instrument]
fn step(i: u64) -> u64 {
    tracing::info!(i, "step running");
    i
}

/// Runs `steps` calls of `step` on a thread of their own, under our layer
/// over a tracer with `processor` and a collector, and returns what the
/// collector received; fails with `stuck` if they do not finish in 60 s.
fn run_steps(
    processor: Arc<dyn SpanProcessor>,
    steps: u64,
    stuck: &str,
) -> Vec<agent_trace::FinishedSpan> {
    let collected = Arc::new(Collector::default());
    let tracer = AgentStepTracer::builder()
        .processor(processor)
        .processor(collected.clone())
        .without_store()
        .build();
    let subscriber =
        tracing_subscriber::registry().with(AgentTraceLayer::new(tracer).without_latency_metrics());
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..steps {
                step(i);
            }
        });
        done.send(()).unwrap();
    });
    finished.recv_timeout(Duration::from_secs(60)).expect(stuck);
    collected.spans()
}

#[test]
fn spans_and_events_emitted_while_a_span_starts_do_not_deadlock() {
    // 256 spans, each started (by its enter) while the spans the processor
    // emits come and go: enough that they share a slot of the span table
    // many times over.
    let spans = run_steps(
        Arc::new(Chatty),
        256,
        "the layer deadlocked on a span started inside a processor",
    );
    let steps = spans.iter().filter(|s| s.name == "step").count();
    assert_eq!(steps, 256);
}

/// Opens and enters a span of its own whenever a span starts.
#[derive(Debug)]
struct Bookkeeping;

impl SpanProcessor for Bookkeeping {
    fn on_start(&self, _span: &SpanData) {
        tracing::info_span!("bookkeeping").in_scope(|| {});
    }

    fn on_end(&self, _span: agent_trace::FinishedSpan) {}
}

#[test]
fn spans_a_processor_opens_as_spans_start_are_kept_one_level_deep() {
    // Each `bookkeeping` span starts too, and opens another one as it
    // does: without a bound this never ends.
    let spans = run_steps(
        Arc::new(Bookkeeping),
        10,
        "the layer deadlocked or recursed on spans opened by a processor",
    );
    let named = |name: &str| spans.iter().filter(|s| s.name == name).count();
    assert_eq!(named("step"), 10);
    // One per application span: the spans opened while a `bookkeeping`
    // span itself starts are not kept.
    assert_eq!(named("bookkeeping"), 10);
}
