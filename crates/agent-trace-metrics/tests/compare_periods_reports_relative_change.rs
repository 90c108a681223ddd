//! `compare_periods` reports the relative change of period 1 against period
//! 2, like the reference's `comparison['p50_change']`.

mod support;

use agent_trace_metrics::Window;
use support::{manual_metrics, secs};

#[test]
fn the_last_hour_is_compared_with_the_last_day() {
    let (metrics, clock) = manual_metrics();
    // 23 hours of 1 s calls, then an hour of 2 s calls.
    for _ in 0..(23 * 60) {
        metrics.record("llm_inference", 1.0).unwrap();
        clock.advance(secs(60));
    }
    for _ in 0..60 {
        metrics.record("llm_inference", 2.0).unwrap();
        clock.advance(secs(60));
    }
    let hour: Window = "1h".parse().unwrap();
    let day: Window = "24h".parse().unwrap();
    let c = metrics.compare_periods("llm_inference", hour, day).unwrap();
    assert!(c.count1 >= 60 && c.count1 <= 61, "{}", c.count1);
    assert_eq!(c.count2, 23 * 60 + 60);
    // p50 of the hour is ~2 s, of the day ~1 s: +100%, within the sketch
    // accuracy on both sides.
    assert!((c.p50_change - 1.0).abs() < 0.05, "{}", c.p50_change);
    assert!((c.p99_change - 0.0).abs() < 0.05, "{}", c.p99_change);
    let mean_day = (23.0 * 60.0 + 2.0 * 60.0) / (24.0 * 60.0);
    let mean_hour = (f64::from(c.count1 as u32 - 60) + 2.0 * 60.0) / c.count1 as f64;
    assert!((c.mean_change - (mean_hour - mean_day) / mean_day).abs() < 1e-9);
}

#[test]
fn an_empty_period_gives_no_comparison() {
    let (metrics, clock) = manual_metrics();
    metrics.record("op", 1.0).unwrap();
    clock.advance(secs(7200));
    let c = metrics.compare_periods("op", "1h", "24h").unwrap();
    assert_eq!(c, None);
    assert_eq!(
        metrics.compare_periods("unknown", "1h", "24h").unwrap(),
        None
    );
}
