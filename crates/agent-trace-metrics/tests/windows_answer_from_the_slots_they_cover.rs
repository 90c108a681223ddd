//! Trailing windows include what was recorded inside them and exclude what
//! is older than the window plus one slot of the tier that holds the edge;
//! nothing outlives the retention.

mod support;

use std::time::Duration;

use agent_trace_metrics::{LatencyMetrics, Quantile, Tier, Window};
use support::{manual, manual_metrics, secs};

fn w(s: &str) -> Window {
    s.parse().unwrap()
}

#[test]
fn a_value_from_two_hours_ago_is_outside_1h_and_inside_24h() {
    let (metrics, clock) = manual_metrics();
    metrics.record("llm", 10.0).unwrap();
    clock.advance(secs(2 * 3600));
    metrics.record("llm", 1.0).unwrap();
    metrics.record("llm", 2.0).unwrap();
    let hour = metrics.stats("llm", w("1h")).unwrap();
    assert_eq!((hour.count, hour.max), (2, 2.0));
    let day = metrics.stats("llm", w("24h")).unwrap();
    assert_eq!((day.count, day.max), (3, 10.0));
    assert_eq!(metrics.stats("llm", None).unwrap().count, 3);
    assert_eq!(
        metrics.quantile_in("llm", None, w("1h"), Quantile::new(1.0).unwrap()),
        Some(2.0)
    );
}

/// (age of the value when queried, window, whether it is included). The
/// edge slack is less than the slot width of the tier holding the edge:
/// 5 s for 30 s, 1 min for 5 min and 1 h, 15 min for 24 h, 3 h for 7 d.
const EDGES: &[(u64, &str, bool)] = &[
    (20, "30s", true),
    (29, "30s", true),
    (36, "30s", false),
    (4 * 60, "5m", true),
    (6 * 60 + 1, "5m", false),
    (59 * 60, "1h", true),
    (61 * 60 + 1, "1h", false),
    (23 * 3600, "24h", true),
    (24 * 3600 + 15 * 60 + 1, "24h", false),
    (6 * 86_400, "7d", true),
    (7 * 86_400 + 3 * 3600 + 1, "7d", false),
];

#[test]
fn window_edges_are_off_by_less_than_one_slot() {
    for &(age, window, included) in EDGES {
        let (metrics, clock) = manual_metrics();
        metrics.record("op", 1.0).unwrap();
        // Something recent, so that the window is never empty.
        clock.advance(secs(age));
        metrics.record("op", 2.0).unwrap();
        let count = metrics.stats("op", w(window)).unwrap().count;
        assert_eq!(
            count,
            if included { 2 } else { 1 },
            "age {age} s, window {window}"
        );
    }
}

#[test]
fn queries_in_between_do_not_change_the_answers() {
    // The same records, once queried after every step and once never.
    let run = |query: bool| {
        let (metrics, clock) = manual_metrics();
        for i in 0..3000u32 {
            metrics.record("op", f64::from(i % 97) * 0.01).unwrap();
            clock.advance(secs(37));
            if query && i % 7 == 0 {
                let _ = metrics.stats("op", w("1h"));
            }
        }
        [w("5m"), w("1h"), w("24h"), w("7d")].map(|win| metrics.stats("op", win))
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn nothing_is_kept_beyond_the_retention() {
    let (metrics, clock) = manual_metrics();
    let h = metrics.series("op", &[]);
    for _ in 0..(8 * 24) {
        h.record(1.0).unwrap();
        clock.advance(secs(3600));
    }
    let all = metrics.stats("op", None).unwrap();
    // Seven days of hourly records, plus at most one 3 h slot of slack.
    assert!((7 * 24..=7 * 24 + 3).contains(&all.count), "{}", all.count);
    assert!(h.slot_count() <= 24 + 75 + 108 + 57);
    clock.advance(secs(8 * 86_400));
    assert_eq!(metrics.stats("op", None), None);
    assert_eq!(metrics.percentiles("op"), None);
}

#[test]
fn custom_tiers_set_the_retention() {
    let (builder, clock) = manual();
    let metrics: LatencyMetrics = builder
        .tiers(vec![
            Tier::new(Duration::from_secs(1), 10),
            Tier::new(Duration::from_secs(10), 6),
        ])
        .build()
        .unwrap();
    metrics.record("op", 1.0).unwrap();
    clock.advance(secs(50));
    metrics.record("op", 1.0).unwrap();
    assert_eq!(metrics.stats("op", None).unwrap().count, 2);
    clock.advance(secs(30));
    assert_eq!(metrics.stats("op", None).unwrap().count, 1);
}
