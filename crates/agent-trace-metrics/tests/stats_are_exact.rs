//! Count, sum, mean, min, max and population standard deviation match a
//! naive two-pass computation over the same values, across closed slots,
//! roll-ups and series.

mod support;

use std::time::Duration;

use support::{Rng, manual_metrics, naive_stats, rel};

type Gen = fn(&mut Rng) -> f64;

const CASES: &[(&str, Gen)] = &[
    ("uniform", |r| r.range(0.0, 10.0)),
    ("log-normal", |r| (0.3 * r.normal()).exp()),
    // Large mean, tiny spread: the naive `E[x^2] - E[x]^2` loses every digit.
    ("offset 1000 s with ms jitter", |r| {
        1000.0 + 0.001 * r.normal()
    }),
    ("constant", |_| 0.125),
];

#[test]
fn stats_match_a_naive_computation() {
    for (seed, (name, generate)) in CASES.iter().enumerate() {
        let (metrics, clock) = manual_metrics();
        let mut rng = Rng::new(seed as u64);
        let mut values = Vec::new();
        for i in 0..100_000 {
            let v = generate(&mut rng);
            values.push(v);
            // Two series, so the operation's stats merge them.
            let labels: &[(&str, &str)] = if i % 3 == 0 { &[("tool", "a")] } else { &[] };
            metrics.record_labelled("op", labels, v).unwrap();
            if i % 100 == 0 {
                clock.advance(Duration::from_millis(700));
            }
        }
        let (count, sum, mean, min, max, std) = naive_stats(&values);
        let s = metrics.stats("op", None).unwrap();
        assert_eq!(s.count, count, "{name}");
        assert_eq!(s.min, min, "{name}");
        assert_eq!(s.max, max, "{name}");
        assert!(rel(s.sum, sum) < 1e-12, "{name}: sum {} vs {sum}", s.sum);
        assert!(
            rel(s.mean, mean) < 1e-12,
            "{name}: mean {} vs {mean}",
            s.mean
        );
        if std == 0.0 {
            assert!(s.std < 1e-12, "{name}: std {}", s.std);
        } else {
            assert!(rel(s.std, std) < 1e-9, "{name}: std {} vs {std}", s.std);
        }
    }
}

#[test]
fn unknown_operations_and_empty_windows_have_no_stats() {
    let (metrics, clock) = manual_metrics();
    assert_eq!(metrics.stats("nothing", None), None);
    assert_eq!(metrics.percentiles("nothing"), None);
    metrics.record("op", 1.0).unwrap();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        metrics.stats("op", "5m".parse::<agent_trace_metrics::Window>().unwrap()),
        None
    );
    assert_eq!(metrics.stats("op", None).unwrap().count, 1);
}

#[test]
fn labelled_series_are_queryable_alone_and_summed() {
    let (metrics, _clock) = manual_metrics();
    let search = [("tool", "web_search"), ("agent", "researcher")];
    let search_reordered = [("agent", "researcher"), ("tool", "web_search")];
    metrics.record_labelled("tool_call", &search, 2.0).unwrap();
    metrics
        .record_labelled("tool_call", &search_reordered, 4.0)
        .unwrap();
    metrics
        .record_labelled("tool_call", &[("tool", "calculator")], 0.01)
        .unwrap();
    let one = metrics.stats_labelled("tool_call", &search, None).unwrap();
    assert_eq!((one.count, one.mean, one.std), (2, 3.0, 1.0));
    let all = metrics.stats("tool_call", None).unwrap();
    assert_eq!((all.count, all.min, all.max), (3, 0.01, 4.0));
    assert_eq!(
        metrics.stats_labelled("tool_call", &[("tool", "nope")], None),
        None
    );
    let p = metrics
        .percentiles_labelled("tool_call", &[("tool", "calculator")])
        .unwrap();
    assert_eq!((p.p50, p.count), (0.01, 1));
    assert_eq!(metrics.label_sets("tool_call").len(), 2);
}
