//! `init()` makes the global tracer, wires exporters behind batch
//! pipelines and the `tracing` subscriber, and its guard delivers every
//! span on drop; a second `init` is refused. One test: it sets globals.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};

use agent_trace::export::FnExporter;
use agent_trace::{FinishedSpan, InitError};

#[tracing::instrument]
fn plan_step(goal: &str) {
    agent_trace::tracer().in_span("llm_call", |span| {
        span.set_attribute("model", "gpt-4");
    });
}

#[test]
fn init_wires_the_global_tracer_and_the_guard_delivers_on_drop() {
    let exported: Arc<Mutex<Vec<FinishedSpan>>> = Arc::default();
    let sink = exported.clone();
    let guard = agent_trace::init()
        .service_name("research-agent")
        .exporter(FnExporter::new("test", move |batch: &[FinishedSpan]| {
            sink.lock().unwrap().extend(batch.iter().cloned());
            Ok::<(), std::io::Error>(())
        }))
        .install_tracing_subscriber(true)
        .install()
        .expect("first init");

    // An exporter was given, so no default file is written.
    assert_eq!(guard.default_file(), None);
    // Traces are kept in memory unless asked otherwise.
    assert!(agent_trace::tracer().store().is_some());

    let task = agent_trace::tracer().start_trace("agent_task").entered();
    plan_step("book a flight");
    task.end();
    drop(guard);

    let spans = exported.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    let (task, plan, llm) = (by("agent_task"), by("plan_step"), by("llm_call"));
    assert_eq!(plan.parent_span_id, Some(task.context.span_id));
    assert_eq!(llm.parent_span_id, Some(plan.context.span_id));
    // Every span's duration reached the global latency metrics, once.
    for name in ["agent_task", "plan_step", "llm_call"] {
        assert_eq!(
            agent_trace::latency_metrics()
                .stats(name, None)
                .map(|s| s.count),
            Some(1),
            "{name}"
        );
    }
    assert!(matches!(
        agent_trace::init().install(),
        Err(InitError::AlreadyInitialized)
    ));
}
