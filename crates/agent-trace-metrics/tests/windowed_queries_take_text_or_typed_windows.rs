//! Every windowed query of `LatencyMetrics` takes a window in any of its
//! forms: a `Window` (or a reference to one), `None`/`Some(window)`, a
//! `Duration`, or its text (`"1h"`, as the reference's
//! `get_stats(op, time_window="1h")`). The typed forms answer directly;
//! text and durations answer a `Result`, and a wrong one is an error that
//! names the accepted forms, never an answer over all history.

mod support;

use std::time::Duration;

use agent_trace_metrics::{LatencyMetrics, MetricsError, Quantile, Threshold, Window};
use support::{manual_metrics, secs};

const OP: &str = "llm_inference";
const LABELS: &[(&str, &str)] = &[("model", "small")];

/// The error of a window text that is not one of the accepted forms.
fn invalid_window_message(text: &str) -> String {
    format!(
        "invalid window {text:?}: expected a positive whole number followed by s, m, h or d \
         (for example 30s, 5m, 1h, 24h, 7d)"
    )
}

/// A registry with a 10 s value (trace 1) from two hours ago and two
/// recent ones, 1 s and 2 s (traces 2 and 3), all in the series `LABELS`.
fn two_hours_of_calls() -> LatencyMetrics {
    let (metrics, clock) = manual_metrics();
    metrics
        .record_labelled_with_exemplar(OP, LABELS, 10.0, 1)
        .unwrap();
    clock.advance(secs(2 * 3600));
    metrics
        .record_labelled_with_exemplar(OP, LABELS, 1.0, 2)
        .unwrap();
    metrics
        .record_labelled_with_exemplar(OP, LABELS, 2.0, 3)
        .unwrap();
    metrics
}

/// Asks every windowed query about the last hour and the last day, with
/// the windows given as `$hour` and `$day` (one form), and checks that the
/// answers cover exactly those windows. `$answer` is `unwrap` for the forms
/// whose queries answer a `Result`, and absent for the typed ones (which
/// then must compile without it).
macro_rules! check_form {
    ($hour:expr, $day:expr $(, $answer:ident)?) => {{
        let form = stringify!($hour);
        let metrics = two_hours_of_calls();

        let hour = metrics.stats(OP, $hour)$(.$answer())?.expect(form);
        assert_eq!((hour.count, hour.max), (2, 2.0), "stats over {form}");
        let day = metrics.stats(OP, $day)$(.$answer())?.expect(form);
        assert_eq!((day.count, day.max), (3, 10.0), "stats over {form}");

        let hour = metrics
            .stats_labelled(OP, LABELS, $hour)$(.$answer())?
            .expect(form);
        assert_eq!(hour.count, 2, "stats_labelled over {form}");
        let other = metrics.stats_labelled(OP, &[("model", "large")], $hour)$(.$answer())?;
        assert_eq!(other, None, "stats_labelled of an unknown series over {form}");

        let max = metrics.quantile_in(OP, None, $hour, Quantile::new(1.0).unwrap())$(.$answer())?;
        assert_eq!(max, Some(2.0), "quantile_in over {form}");
        let max = metrics.quantile_in(OP, Some(LABELS), $day, Quantile::new(1.0).unwrap())$(.$answer())?;
        assert_eq!(max, Some(10.0), "quantile_in over {form}");

        let traces: Vec<u128> = metrics
            .exemplars(OP, $hour)$(.$answer())?
            .iter()
            .map(|e| e.trace_id())
            .collect();
        assert_eq!(traces, [2, 3], "exemplars over {form}");

        let c = metrics
            .compare_periods(OP, $hour, $day)$(.$answer())?
            .expect(form);
        assert_eq!((c.count1, c.count2), (2, 3), "compare_periods over {form}");

        // Over the hour the slowest call is 2 s, within a 5 s limit; over
        // all history (what a lost window would check) the 10 s call is not.
        let threshold = Threshold::new().max(5.0).window($hour)$(.$answer())?;
        assert_eq!(threshold.window_value(), Some(Window::HOUR_1), "{form}");
        metrics.set_threshold(OP, threshold).unwrap();
        assert_eq!(metrics.check_thresholds(OP), [], "threshold over {form}");
    }};
}

#[test]
fn typed_windows_answer_directly() {
    check_form!(Window::HOUR_1, Window::HOURS_24);
    check_form!(&Window::HOUR_1, &Window::HOURS_24);
    check_form!(Some(Window::HOUR_1), Some(Window::HOURS_24));
    check_form!(
        "1h".parse::<Window>().unwrap(),
        Window::new(secs(86_400)).unwrap()
    );
}

#[test]
fn text_windows_answer_a_result() {
    check_form!("1h", "24h", unwrap);
    check_form!("60m", "1d", unwrap);
    check_form!("3600s", "1440m", unwrap);
    check_form!(String::from("1h"), String::from("24h"), unwrap);
    let (hour, day) = (String::from("1h"), String::from("24h"));
    check_form!(&hour, &day, unwrap);
}

#[test]
fn durations_answer_a_result() {
    check_form!(secs(3600), Duration::from_secs(24 * 3600), unwrap);
}

#[test]
fn none_means_all_retained_history() {
    let metrics = two_hours_of_calls();
    assert_eq!(metrics.stats(OP, None).unwrap().count, 3);
    assert_eq!(metrics.stats_labelled(OP, LABELS, None).unwrap().count, 3);
    assert_eq!(
        metrics.quantile_in(OP, None, None, Quantile::new(1.0).unwrap()),
        Some(10.0)
    );
    assert_eq!(metrics.exemplars(OP, None).len(), 3);
    let c = metrics.compare_periods(OP, None, None).unwrap();
    assert_eq!((c.count1, c.count2, c.p50_change), (3, 3, 0.0));
    let threshold = Threshold::new().max(5.0).window(None);
    assert_eq!(threshold.window_value(), None);
    metrics.set_threshold(OP, threshold).unwrap();
    assert_eq!(metrics.check_thresholds(OP).len(), 1);
}

#[test]
fn a_wrong_window_text_is_an_error_naming_the_accepted_forms() {
    let metrics = two_hours_of_calls();
    let e = metrics.stats(OP, "1 hour").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid window \"1 hour\": expected a positive whole number followed by s, m, h or d \
         (for example 30s, 5m, 1h, 24h, 7d)"
    );
    assert!(matches!(e, MetricsError::InvalidWindow { ref input, .. } if input == "1 hour"));

    // Each query, each text form.
    for text in ["1w", "", "h", "-1h", "+1h", "1.5h", "1H", " 1h", "0s", "0d"] {
        let expected = invalid_window_message(text);
        let owned = text.to_owned();
        let errors = [
            metrics.stats(OP, text).map(|_| ()),
            metrics.stats(OP, owned.clone()).map(|_| ()),
            metrics.stats(OP, &owned).map(|_| ()),
            metrics.stats_labelled(OP, LABELS, text).map(|_| ()),
            metrics
                .quantile_in(OP, None, text, Quantile::P99)
                .map(|_| ()),
            metrics.exemplars(OP, text).map(|_| ()),
            metrics.compare_periods(OP, text, "24h").map(|_| ()),
            metrics.compare_periods(OP, "1h", text).map(|_| ()),
            Threshold::new().p95(2.0).window(text).map(|_| ()),
        ];
        for (i, result) in errors.into_iter().enumerate() {
            let e = result.expect_err(text);
            assert_eq!(e.to_string(), expected, "query {i}, {text:?}");
        }
    }

    // Both periods wrong: the first is reported.
    let e = metrics.compare_periods(OP, "an hour", "a day").unwrap_err();
    assert_eq!(e.to_string(), invalid_window_message("an hour"));
}

#[test]
fn a_window_out_of_range_is_an_error() {
    let metrics = two_hours_of_calls();
    let message = "window length must be between 1 nanosecond and 584 years";
    for e in [
        metrics.stats(OP, Duration::ZERO).unwrap_err(),
        metrics.stats(OP, Duration::MAX).unwrap_err(),
        metrics.stats(OP, "99999999999d").unwrap_err(),
        Threshold::new().window(Duration::ZERO).unwrap_err(),
    ] {
        assert_eq!(e, MetricsError::WindowOutOfRange);
        assert_eq!(e.to_string(), message);
    }
}

#[test]
fn a_wrong_window_leaves_the_threshold_unset() {
    let metrics = two_hours_of_calls();
    let set = Threshold::new()
        .max(5.0)
        .window("1 h")
        .and_then(|t| metrics.set_threshold(OP, t));
    assert_eq!(set.unwrap_err().to_string(), invalid_window_message("1 h"));
    assert_eq!(metrics.remove_threshold(OP), None);
}

/// The typed forms stay as convenient as before: no `Result`, `None`
/// without a type annotation, and the answer's type names no error.
#[test]
fn typed_forms_need_no_annotation_and_no_error_handling() {
    let metrics = two_hours_of_calls();
    let all: Option<agent_trace_metrics::Stats> = metrics.stats(OP, None);
    let hour: Option<agent_trace_metrics::Stats> = metrics.stats(OP, Window::HOUR_1);
    let compared: Option<agent_trace_metrics::Comparison> =
        metrics.compare_periods(OP, Window::HOUR_1, Window::DAYS_7);
    let threshold: Threshold = Threshold::new().window(Window::MINUTES_5);
    assert!(all.is_some() && hour.is_some() && compared.is_some());
    assert_eq!(threshold.window_value(), Some(Window::MINUTES_5));
}
