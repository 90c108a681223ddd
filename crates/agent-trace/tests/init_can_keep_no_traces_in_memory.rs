//! A service that only exports can turn the in-memory trace store off;
//! spans still reach the exporter and their durations the latency metrics
//! (which read spans without a copy). One test: it sets globals.

use std::sync::{Arc, Mutex};

use agent_trace::FinishedSpan;
use agent_trace::export::FnExporter;

#[test]
fn without_the_store_spans_are_still_exported_and_timed() {
    let exported: Arc<Mutex<Vec<FinishedSpan>>> = Arc::default();
    let sink = exported.clone();
    let guard = agent_trace::init()
        .exporter(FnExporter::new("test", move |batch: &[FinishedSpan]| {
            sink.lock().unwrap().extend(batch.iter().cloned());
            Ok::<(), std::io::Error>(())
        }))
        .keep_traces_in_memory(false)
        .install()
        .expect("first init");
    assert!(agent_trace::tracer().store().is_none());

    let trace_id = {
        let task = agent_trace::tracer().start_trace("agent_task").entered();
        agent_trace::tracer().in_span("tool_call", |_| ());
        task.trace_id()
    };
    assert!(agent_trace::tracer().trace(trace_id).is_none());
    drop(guard);

    let names: Vec<String> = exported
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["tool_call", "agent_task"]);
    for name in ["agent_task", "tool_call"] {
        let count = agent_trace::latency_metrics()
            .stats(name, None)
            .map(|s| s.count);
        assert_eq!(count, Some(1), "{name}");
    }
}
