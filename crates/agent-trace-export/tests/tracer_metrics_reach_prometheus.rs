//! The tracer's own metrics, fed by `MetricsProcessor`, reach a real
//! Prometheus recorder with the right values, published as differences so
//! that two renders never count a span twice.
#![cfg(feature = "prometheus")]

use std::collections::HashMap;
use std::sync::Arc;

use agent_trace_core::AgentStepTracer;
use agent_trace_export::MetricsProcessor;
use agent_trace_metrics::{PrometheusRecorder, TracerMetrics};

/// The value of the sample line `series` (name and labels, exactly as
/// rendered) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn span_counts_durations_and_labelled_counters_render() {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    // Handles register with the recorder in force when they are made (a
    // local one here; applications install theirs globally first).
    let (metrics, dropped, success, failure) = metrics::with_local_recorder(&recorder, || {
        agent_trace_metrics::describe_tracer_metrics();
        let m = TracerMetrics::new();
        let counters = (
            m.spans_dropped("queue_full"),
            m.export_success("otlp"),
            m.export_failure("zipkin"),
        );
        (m, counters.0, counters.1, counters.2)
    });
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(MetricsProcessor::new(metrics.clone())))
        .build();

    for _ in 0..2 {
        let root = tracer.start_trace("agent_task");
        for _ in 0..3 {
            tracer.span_builder("tool_call").parent(&root).start().end();
        }
    }
    // A server span continuing a caller's trace is a span, not a new trace.
    let headers = HashMap::from([(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]);
    let server = tracer.continue_trace_from_headers(&headers, "POST /process");
    dropped.add(3);
    success.add(2);
    failure.add(1);

    let text = handle.render();
    assert_eq!(
        sample(&text, "agent_trace_spans_total"),
        Some(9.0),
        "{text}"
    );
    assert_eq!(sample(&text, "agent_trace_traces_total"), Some(2.0));
    assert_eq!(sample(&text, "agent_trace_active_spans"), Some(1.0));
    assert_eq!(
        sample(&text, "agent_trace_span_duration_seconds_count"),
        Some(8.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"agent_trace_spans_dropped_total{reason="queue_full"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"agent_trace_export_success_total{exporter="otlp"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"agent_trace_export_failure_total{exporter="zipkin"}"#
        ),
        Some(1.0)
    );
    assert!(text.contains("# HELP agent_trace_span_duration_seconds "));
    assert!(text.contains("# TYPE agent_trace_span_duration_seconds histogram"));

    // A second render after one more span: differences, not totals again.
    let (server_trace, server_span) = (server.trace_id(), server.span_id());
    drop(server);
    // Asking again gives the same counter.
    metrics.spans_dropped("queue_full").add(1);
    let text = handle.render();
    assert_eq!(
        sample(&text, "agent_trace_spans_total"),
        Some(9.0),
        "{text}"
    );
    assert_eq!(sample(&text, "agent_trace_active_spans"), Some(0.0));
    assert_eq!(
        sample(&text, "agent_trace_span_duration_seconds_count"),
        Some(9.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"agent_trace_spans_dropped_total{reason="queue_full"}"#
        ),
        Some(4.0)
    );
    let counts = metrics.counts();
    assert_eq!((counts.spans, counts.traces, counts.ended), (9, 2, 9));

    // In OpenMetrics, the newest span of a bucket is its exemplar, named
    // by its trace and its own span id: the server span ended last.
    let om = handle.render_as(agent_trace_metrics::ExpositionFormat::OpenMetrics);
    let named = format!(
        r#"# {{trace_id="{:032x}",span_id="{:016x}"}}"#,
        server_trace.to_u128(),
        server_span.to_u64()
    );
    assert!(
        om.lines().any(
            |l| l.starts_with("agent_trace_span_duration_seconds_bucket") && l.contains(&named)
        ),
        "{named} missing from\n{om}"
    );
}
