//! Label sets beyond the per-operation cap share one overflow series and are
//! counted; no value is lost.

mod support;

use agent_trace_metrics::OVERFLOW_LABELS;
use support::manual;

#[test]
fn the_overflow_series_takes_what_the_cap_refuses() {
    let (builder, _clock) = manual();
    let metrics = builder.max_series_per_operation(3).build().unwrap();
    let names = ["a", "b", "c", "d", "e"];
    for (i, name) in names.iter().enumerate() {
        for _ in 0..=i {
            metrics
                .record_labelled("tool_call", &[("tool", name)], 1.0)
                .unwrap();
        }
    }
    // a, b, c have their own series; d (4 records) and e (5) overflow.
    assert_eq!(metrics.overflowed("tool_call"), 9);
    assert_eq!(
        metrics
            .stats_labelled("tool_call", &[("tool", "c")], None)
            .unwrap()
            .count,
        3
    );
    assert_eq!(
        metrics.stats_labelled("tool_call", &[("tool", "d")], None),
        None
    );
    let other = metrics
        .stats_labelled("tool_call", OVERFLOW_LABELS, None)
        .unwrap();
    assert_eq!(other.count, 9);
    assert_eq!(metrics.stats("tool_call", None).unwrap().count, 15);
    assert_eq!(metrics.label_sets("tool_call").len(), 4);
    // The unlabelled series does not count against the cap.
    metrics.record("tool_call", 1.0).unwrap();
    assert_eq!(metrics.overflowed("tool_call"), 9);
    // A handle on an overflowing label set records into the overflow series.
    let h = metrics.series("tool_call", &[("tool", "f")]);
    h.record(1.0).unwrap();
    assert_eq!(
        metrics
            .stats_labelled("tool_call", OVERFLOW_LABELS, None)
            .unwrap()
            .count,
        10
    );
    // Other operations have their own cap.
    metrics
        .record_labelled("llm", &[("model", "x")], 1.0)
        .unwrap();
    assert_eq!(metrics.overflowed("llm"), 0);
}
