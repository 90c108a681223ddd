//! A threshold limit that is NaN, infinite or negative is refused with
//! `MetricsError::InvalidThresholdLimit`, by `Threshold::validate` and by
//! `set_threshold`, for every limit setter; zero and ordinary limits are
//! accepted.

mod support;

use agent_trace_metrics::{MetricsError, Quantile, Threshold};
use support::manual_metrics;

/// A limit setter of `Threshold`.
type Setter = fn(Threshold, f64) -> Threshold;

/// Each setter, with the name its statistic is shown by.
fn setters() -> Vec<(&'static str, Setter)> {
    vec![
        ("p50", |t, s| t.p50(s)),
        ("p95", |t, s| t.p95(s)),
        ("p99", |t, s| t.p99(s)),
        ("q0.999", |t, s| {
            t.quantile(Quantile::new(0.999).unwrap(), s)
        }),
        ("mean", |t, s| t.mean(s)),
        ("max", |t, s| t.max(s)),
    ]
}

#[test]
fn nan_infinite_and_negative_limits_are_refused_by_every_setter() {
    let bad = [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (-1.0, "-1"),
    ];
    let (metrics, _clock) = manual_metrics();
    for (statistic, set) in setters() {
        for (value, text) in bad {
            let expected = MetricsError::InvalidThresholdLimit {
                statistic: statistic.to_owned(),
                value: text.to_owned(),
            };
            let threshold = set(Threshold::new(), value);
            assert_eq!(threshold.validate(), Err(expected.clone()));
            // After valid limits, too (or replacing one of them).
            let after_valid = set(Threshold::new().p50(1.0).max(9.0), value);
            assert_eq!(after_valid.validate(), Err(expected.clone()));
            assert_eq!(metrics.set_threshold("op", threshold), Err(expected));
            assert_eq!(metrics.remove_threshold("op"), None);
        }
    }
}

#[test]
fn the_message_names_the_statistic_and_the_value() {
    let e = Threshold::new().p99(-1.0).validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "threshold limit on p99 is -1: expected a finite, non-negative number of seconds"
    );
    let e = Threshold::new().p95(f64::NAN).validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "threshold limit on p95 is NaN: expected a finite, non-negative number of seconds"
    );
}

#[test]
fn zero_and_ordinary_limits_are_accepted() {
    let (metrics, _clock) = manual_metrics();
    for (statistic, set) in setters() {
        for value in [0.0, 2.5] {
            let threshold = set(Threshold::new(), value);
            assert_eq!(threshold.validate(), Ok(()), "{statistic} {value}");
            assert_eq!(
                metrics.set_threshold("op", threshold.clone()),
                Ok(()),
                "{statistic} {value}"
            );
            assert_eq!(metrics.remove_threshold("op"), Some(threshold));
        }
    }
}

#[test]
fn a_refused_threshold_leaves_the_one_already_set() {
    let (metrics, _clock) = manual_metrics();
    let good = Threshold::new().p95(2.0);
    metrics.set_threshold("op", good.clone()).unwrap();
    let refused = metrics.set_threshold("op", Threshold::new().p95(2.0).p99(f64::NAN));
    assert_eq!(
        refused,
        Err(MetricsError::InvalidThresholdLimit {
            statistic: "p99".to_owned(),
            value: "NaN".to_owned(),
        })
    );
    assert_eq!(metrics.remove_threshold("op"), Some(good));
}

#[test]
fn a_bad_limit_replaced_by_a_good_one_is_accepted() {
    // A setter replaces the statistic's earlier limit, so only the last one
    // is checked.
    let t = Threshold::new().p95(f64::NAN).p95(1.5);
    assert_eq!(t.validate(), Ok(()));
}
