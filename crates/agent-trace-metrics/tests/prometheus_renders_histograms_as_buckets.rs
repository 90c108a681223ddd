//! With the `prometheus` feature: the recorder renders our histograms as
//! Prometheus buckets with the right counts and sums, for one series and
//! for 100, and passes the application's own metrics through.
//! (How fast rendering is belongs to a benchmark, not to a timed test.)
#![cfg(feature = "prometheus")]

use agent_trace_metrics::{LatencyMetrics, PrometheusRecorder};

/// The value of the sample line `series` (name and labels, exactly as
/// rendered) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn histograms_render_as_buckets_with_every_value_counted() {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    let metrics = metrics::with_local_recorder(&recorder, || {
        agent_trace_metrics::describe_tracer_metrics();
        let m = LatencyMetrics::new();
        for i in 0..100 {
            // 0.01 s to 1 s, then 3 s.
            m.record_labelled("llm_call", &[("model", "m1")], f64::from(i + 1) / 100.0)
                .unwrap();
        }
        m.record_labelled("llm_call", &[("model", "m1")], 3.0)
            .unwrap();
        m
    });
    let text = handle.render();
    let name = "agent_trace_operation_duration_seconds";
    let labels = r#"operation="llm_call",model="m1""#;
    let at = |le: &str| sample(&text, &format!("{name}_bucket{{{labels},le=\"{le}\"}}"));
    assert_eq!(at("0.005"), Some(0.0), "{text}");
    assert_eq!(at("0.025"), Some(2.0));
    assert_eq!(at("0.1"), Some(10.0));
    assert_eq!(at("1"), Some(100.0));
    assert_eq!(at("5"), Some(101.0));
    assert_eq!(at("120"), Some(101.0));
    assert_eq!(at("+Inf"), Some(101.0));
    assert_eq!(
        sample(&text, &format!("{name}_count{{{labels}}}")),
        Some(101.0)
    );
    // 0.01 + ... + 1.00 = 50.5, plus 3.
    let sum = sample(&text, &format!("{name}_sum{{{labels}}}")).unwrap();
    assert!((sum - 53.5).abs() < 1e-9, "{sum}");
    assert!(text.contains(&format!("# TYPE {name} histogram")));
    assert!(text.contains(&format!("# HELP {name} ")));
    assert_eq!(metrics.stats("llm_call", None).unwrap().count, 101);
}

#[test]
fn a_hundred_series_render_with_every_bucket() {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    let metrics = metrics::with_local_recorder(&recorder, || {
        let m = LatencyMetrics::new();
        for op in 0..10 {
            for tool in 0..10 {
                let s = m.series(&format!("op{op}"), &[("tool", &format!("t{tool}"))]);
                for i in 0..100 {
                    s.record(f64::from(i) * 0.3).unwrap();
                }
            }
        }
        m
    });
    let text = handle.render();
    let counts = text
        .lines()
        .filter(|l| l.starts_with("agent_trace_operation_duration_seconds_count{"))
        .count();
    assert_eq!(counts, 100);
    // 13 bucket lines (12 bounds and +Inf) per series.
    let buckets = text.lines().filter(|l| l.contains("_bucket{")).count();
    assert_eq!(buckets, 1_300);
    assert_eq!(metrics.operations().len(), 10);
}

#[test]
fn the_applications_own_metrics_render_next_to_ours() {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    let metrics = metrics::with_local_recorder(&recorder, || {
        metrics::counter!("my_app_requests_total", "route" => "/chat").increment(3);
        metrics::histogram!("my_app_payload_bytes").record(512.0);
        let m = LatencyMetrics::new();
        m.record("llm_call", 0.4).unwrap();
        m
    });
    let text = handle.render();
    assert_eq!(
        sample(&text, r#"my_app_requests_total{route="/chat"}"#),
        Some(3.0),
        "{text}"
    );
    assert!(text.contains("my_app_payload_bytes"), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"agent_trace_operation_duration_seconds_count{operation="llm_call"}"#
        ),
        Some(1.0)
    );
    drop(metrics);
}
