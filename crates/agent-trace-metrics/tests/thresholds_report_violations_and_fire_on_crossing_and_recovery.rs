//! `check_thresholds` lists every exceeded limit, and the callback fires
//! once when a limit is crossed and once when it recovers, not per check or
//! per record.

mod support;

use std::sync::{Arc, Mutex};

use agent_trace_metrics::{Quantile, Statistic, Threshold, ThresholdEvent, Window};
use support::{manual, manual_metrics, secs};

#[test]
fn exceeded_limits_are_listed_with_observed_values() {
    let (metrics, _clock) = manual_metrics();
    for i in 0..100 {
        // 1..=100 ms, then one slow call.
        metrics.record("llm", f64::from(i + 1) * 0.001).unwrap();
    }
    metrics.record("llm", 9.0).unwrap();
    metrics
        .set_threshold(
            "llm",
            Threshold::new()
                .p50(1.0)
                .p95(0.01)
                .p99(0.2)
                .quantile(Quantile::new(0.999).unwrap(), 5.0)
                .mean(0.05)
                .max(8.0),
        )
        .unwrap();
    let v = metrics.check_thresholds("llm");
    let stats: Vec<String> = v.iter().map(|v| v.statistic.to_string()).collect();
    // p50 (~51 ms) is under 1 s and p99 (~100 ms) under 0.2 s; p95, q0.999,
    // mean (~0.139 s) and max are over.
    assert_eq!(stats, ["p95", "q0.999", "mean", "max"]);
    let max = v.iter().find(|v| v.statistic == Statistic::Max).unwrap();
    assert_eq!((max.observed, max.limit, max.window), (9.0, 8.0, None));
    assert_eq!(max.operation, "llm");
    assert!(metrics.check_thresholds("other").is_empty());
    assert!(metrics.remove_threshold("llm").is_some());
    assert!(metrics.check_thresholds("llm").is_empty());
}

#[test]
fn the_callback_fires_on_crossing_and_recovery_only() {
    let events: Arc<Mutex<Vec<ThresholdEvent>>> = Arc::default();
    let seen = events.clone();
    let (builder, clock) = manual();
    let metrics = builder
        .on_threshold(move |e| seen.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let window: Window = "5m".parse().unwrap();
    metrics
        .set_threshold("llm", Threshold::new().p95(2.0).window(window))
        .unwrap();

    let crossed = |e: &ThresholdEvent| matches!(e, ThresholdEvent::Crossed(_));
    let count = |f: &dyn Fn(&ThresholdEvent) -> bool| {
        events.lock().unwrap().iter().filter(|e| f(e)).count()
    };

    // Fast calls: no violation, no event.
    for _ in 0..50 {
        metrics.record("llm", 0.5).unwrap();
        assert!(metrics.check_thresholds("llm").is_empty());
    }
    assert_eq!(events.lock().unwrap().len(), 0);

    // Slow calls: crossed once, however many checks find it exceeded.
    clock.advance(secs(600));
    for _ in 0..50 {
        metrics.record("llm", 3.0).unwrap();
        assert_eq!(metrics.check_thresholds("llm").len(), 1);
    }
    assert_eq!(count(&crossed), 1);
    assert_eq!(events.lock().unwrap().len(), 1);

    // An empty window leaves the state alone.
    clock.advance(secs(3600));
    assert!(metrics.check_thresholds("llm").is_empty());
    assert_eq!(events.lock().unwrap().len(), 1);

    // Fast again: recovered once.
    for _ in 0..10 {
        metrics.record("llm", 0.5).unwrap();
        assert!(metrics.check_thresholds("llm").is_empty());
    }
    let all = events.lock().unwrap().clone();
    assert_eq!(all.len(), 2);
    match &all[1] {
        ThresholdEvent::Recovered(v) => {
            assert_eq!((v.limit, v.window), (2.0, Some(window)));
            assert!((v.observed - 0.5).abs() <= 0.005);
        }
        other => panic!("expected a recovery, got {other:?}"),
    }

    // And crossing again fires again; check_all_thresholds checks it too.
    clock.advance(secs(600));
    metrics.record("llm", 4.0).unwrap();
    assert_eq!(metrics.check_all_thresholds().len(), 1);
    assert_eq!(count(&crossed), 2);
}
