//! NaN, infinite and negative latencies are refused with a typed error,
//! counted, and never reach the statistics.

mod support;

use std::time::Duration;

use agent_trace_metrics::MetricsError;
use support::manual_metrics;

#[test]
fn bad_values_are_refused_and_counted() {
    let (metrics, _clock) = manual_metrics();
    let handle = metrics.series("op", &[("k", "v")]);
    metrics.record("op", 1.0).unwrap();
    let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.001, -1e300];
    for (i, v) in bad.iter().enumerate() {
        let e = metrics.record("op", *v).unwrap_err();
        assert!(matches!(e, MetricsError::InvalidLatency { .. }), "{e}");
        assert_eq!(metrics.rejected("op"), 2 * i as u64 + 1);
        handle.record(*v).unwrap_err();
        assert_eq!(metrics.rejected("op"), 2 * i as u64 + 2);
    }
    let e = metrics
        .record_labelled("fresh", &[("a", "b")], f64::NAN)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "latency NaN is not a finite, non-negative number of seconds"
    );
    assert_eq!(metrics.rejected("fresh"), 1);
    assert_eq!(metrics.stats("fresh", None), None);
    let s = metrics.stats("op", None).unwrap();
    assert_eq!(
        (s.count, s.mean, s.min, s.max, s.std),
        (1, 1.0, 1.0, 1.0, 0.0)
    );
}

#[test]
fn zero_and_tiny_values_are_accepted() {
    let (metrics, _clock) = manual_metrics();
    for v in [0.0, -0.0, 1e-320, Duration::ZERO.as_secs_f64()] {
        metrics.record("op", v).unwrap();
    }
    metrics.record("op", Duration::from_nanos(1)).unwrap();
    let p = metrics.percentiles("op").unwrap();
    assert_eq!((p.p50, p.count), (0.0, 5));
    assert_eq!(metrics.rejected("op"), 0);
}
