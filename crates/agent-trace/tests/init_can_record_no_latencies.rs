//! `init().record_latencies(false)` records no latency, `#[instrument]`
//! spans through the installed layer included (the layer's own latency
//! recording stays off), and the GenAI helpers still keep their metric
//! handles. One test: `init` is once per process.
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
    // Before anything here touches the global registry: the metrics clock
    // still runs and learns the process's recorder (the
    // no-op one here), so the GenAI helpers keep their metric handles
    // rather than register by name at every record.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while agent_trace::metrics::process_recorder().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock thread never noted the recorder"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
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
