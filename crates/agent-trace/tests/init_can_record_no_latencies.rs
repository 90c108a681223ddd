//! `init().record_latencies(false)` records no latency, `#[instrument]`
//! spans through the installed layer included (the layer's own latency
//! recording stays off). One test: `init` is once per process.
#![cfg(feature = "tracing")]

use std::time::Duration;

use agent_trace::export::FnExporter;

#[tracing::instrument]
fn tool_call() {}

#[test]
fn no_latency_is_recorded_when_asked_for_none() {
    let guard = agent_trace::init()
        .exporter(FnExporter::new("count", |_| Ok::<(), std::io::Error>(())))
        .install_tracing_subscriber(true)
        .record_latencies(false)
        .install()
        .unwrap();
    tool_call();
    agent_trace::tracer().start_trace("agent_task").end();
    guard.flush(Duration::from_secs(5)).unwrap();
    // Both spans were recorded and exported...
    assert_eq!(guard.export_stats()[0].1.exported, 2);
    // ...and neither left a latency.
    let m = agent_trace::latency_metrics();
    assert!(m.stats("tool_call", None).is_none());
    assert!(m.stats("agent_task", None).is_none());
}
