//! `Window` and `Quantile` accept exactly their documented forms and refuse
//! the rest with typed errors that say what is accepted.

use std::error::Error;
use std::time::Duration;

use agent_trace_metrics::{LatencyMetrics, MetricsError, Quantile, Tier, Window};

/// Reads `tests/data/windows.txt`: `"<text>" => <seconds>|error` per line.
fn cases() -> Vec<(String, Option<u64>)> {
    include_str!("data/windows.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (text, expected) = l.rsplit_once(" => ").expect("`\"text\" => expected`");
            let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
            let expected = match expected.trim() {
                "error" => None,
                n => Some(n.parse().expect("seconds")),
            };
            (text.expect("quoted text").to_owned(), expected)
        })
        .collect()
}

fn check(text: &str, expected: Option<u64>) {
    match (text.parse::<Window>(), expected) {
        (Ok(w), Some(s)) => {
            assert_eq!(w.as_duration(), Duration::from_secs(s), "{text:?}");
            assert_eq!(w.to_string().parse::<Window>().unwrap(), w, "{text:?}");
        }
        (Err(e), None) => assert!(
            matches!(
                e,
                MetricsError::InvalidWindow { .. } | MetricsError::WindowOutOfRange
            ),
            "{text:?}: {e}"
        ),
        (got, _) => panic!("{text:?}: got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn windows_parse_their_documented_forms_only() {
    let cases = cases();
    assert!(cases.len() > 20);
    for (text, expected) in cases {
        check(&text, expected);
    }
    let e = "1w".parse::<Window>().unwrap_err();
    assert!(e.to_string().contains("30s, 5m, 1h, 24h, 7d"), "{e}");
    let e = "99999999999999999999999s".parse::<Window>().unwrap_err();
    assert!(
        e.source().is_some(),
        "the integer error is kept as the source"
    );
    assert_eq!(
        Window::try_from(Duration::from_secs(3600)).unwrap(),
        Window::HOUR_1
    );
    assert!(Window::new(Duration::ZERO).is_err());
    assert_eq!(Window::DAYS_7.to_string(), "7d");
}

#[test]
fn quantiles_must_lie_in_zero_to_one() {
    for ok in [0.0, 0.5, 0.999, 1.0] {
        assert_eq!(Quantile::new(ok).unwrap().value(), ok);
    }
    for bad in [-0.1, 1.0001, f64::NAN, f64::INFINITY] {
        let e = Quantile::try_from(bad).unwrap_err();
        assert!(matches!(e, MetricsError::InvalidQuantile { .. }));
    }
}

#[test]
fn bad_configurations_are_refused() {
    for a in [0.0, 1.0, -0.1, f64::NAN] {
        let e = LatencyMetrics::builder()
            .relative_accuracy(a)
            .build()
            .unwrap_err();
        assert!(matches!(e, MetricsError::InvalidAccuracy { .. }), "{e}");
    }
    let e = LatencyMetrics::builder()
        .max_series_per_operation(0)
        .build()
        .unwrap_err();
    assert!(matches!(e, MetricsError::LimitTooSmall { .. }));
    let e = LatencyMetrics::builder()
        .max_buckets(4)
        .build()
        .unwrap_err();
    assert_eq!(e.to_string(), "max_buckets must be at least 16, found 4");
    let e = LatencyMetrics::builder()
        .tiers(vec![
            Tier::new(Duration::from_secs(5), 12),
            Tier::new(Duration::from_secs(7), 60),
        ])
        .build()
        .unwrap_err();
    assert!(matches!(e, MetricsError::InvalidTiers { .. }));
}
