//! Every value `LatencyMetrics` accepts reaches the `metrics` facade as
//! `agent_trace_operation_duration_seconds{operation=..., <labels>}`,
//! through a handle registered once per series, handed over by `publish()`
//! in batches: one `record_many(mean, count)` per Prometheus bucket, which
//! keeps each bucket's count and the sum exact.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use agent_trace_metrics::{LatencyMetrics, OPERATION_DURATION_SECONDS};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// Name and sorted labels of a registered metric.
type Id = (String, Vec<(String, String)>);

/// A recorder that keeps every histogram value and counts registrations.
#[derive(Debug, Default)]
struct Capture {
    values: Mutex<BTreeMap<Id, Arc<Values>>>,
    registrations: Mutex<usize>,
    descriptions: Mutex<Vec<(String, String)>>,
}

/// Every value handed over, and how many `record_many` calls it took.
#[derive(Debug, Default)]
struct Values(Mutex<(Vec<f64>, usize)>);

impl HistogramFn for Values {
    fn record(&self, value: f64) {
        self.record_many(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        let mut v = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        v.0.extend(std::iter::repeat_n(value, count));
        v.1 += 1;
    }
}

impl Capture {
    /// The values handed over for one series, sorted (batches arrive by
    /// bucket, not in recording order).
    fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.values_and_calls(name, labels).0
    }

    fn values_and_calls(&self, name: &str, labels: &[(&str, &str)]) -> (Vec<f64>, usize) {
        let id = id(
            name,
            labels.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())),
        );
        let (mut values, calls) = self
            .values
            .lock()
            .unwrap()
            .get(&id)
            .map(|v| v.0.lock().unwrap().clone())
            .unwrap_or_default();
        values.sort_by(f64::total_cmp);
        (values, calls)
    }

    fn ids(&self) -> Vec<Id> {
        self.values.lock().unwrap().keys().cloned().collect()
    }
}

fn id(name: &str, labels: impl Iterator<Item = (String, String)>) -> Id {
    let mut labels: Vec<(String, String)> = labels.collect();
    labels.sort();
    (name.to_owned(), labels)
}

impl Recorder for Capture {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.descriptions
            .lock()
            .unwrap()
            .push((key.as_str().to_owned(), description.into_owned()));
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe_counter(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe_counter(key, unit, description);
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        *self.registrations.lock().unwrap() += 1;
        let id = id(
            key.name(),
            key.labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned())),
        );
        let values = self.values.lock().unwrap().entry(id).or_default().clone();
        Histogram::from_arc(values)
    }
}

#[test]
fn values_reach_the_facade_with_the_operation_and_the_series_labels() {
    let capture = Capture::default();
    let metrics = metrics::with_local_recorder(&capture, || {
        let m = LatencyMetrics::new();
        m.record("llm_call", 1.5).unwrap();
        m.record_labelled("tool_call", &[("tool", "search"), ("agent", "a")], 0.25)
            .unwrap();
        // Label order does not make another series.
        m.record_labelled("tool_call", &[("agent", "a"), ("tool", "search")], 0.5)
            .unwrap();
        // A user label named `operation` gives way to ours.
        m.record_labelled("memory", &[("operation", "spoof")], 0.01)
            .unwrap();
        assert!(m.record("llm_call", f64::NAN).is_err());
        assert!(m.record("llm_call", -1.0).is_err());
        m
    });
    // Registered handles keep working outside the recorder's scope: the
    // series hold them.
    metrics.record("llm_call", 2.5).unwrap();
    let handle = metrics.series("tool_call", &[("tool", "search"), ("agent", "a")]);
    handle.record(0.75).unwrap();
    agent_trace_metrics::publish();

    let name = OPERATION_DURATION_SECONDS;
    assert_eq!(name, "agent_trace_operation_duration_seconds");
    assert_eq!(
        capture.values(name, &[("operation", "llm_call")]),
        [1.5, 2.5],
        "rejected values never reach the facade"
    );
    assert_eq!(
        capture.values(
            name,
            &[
                ("agent", "a"),
                ("operation", "tool_call"),
                ("tool", "search")
            ]
        ),
        [0.25, 0.5, 0.75]
    );
    assert_eq!(capture.values(name, &[("operation", "memory")]), [0.01]);
    assert_eq!(capture.ids().len(), 3, "{:?}", capture.ids());
    // Once per series, not once per value.
    assert_eq!(*capture.registrations.lock().unwrap(), 3);
    // The sketch saw the same values.
    assert_eq!(metrics.stats("llm_call", None).unwrap().count, 2);
    assert_eq!(metrics.stats("tool_call", None).unwrap().count, 3);
}

#[test]
fn the_overflow_series_reports_under_its_own_label() {
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, || {
        let m = LatencyMetrics::builder()
            .max_series_per_operation(1)
            .build()
            .unwrap();
        m.record_labelled("tool_call", &[("tool", "a")], 0.1)
            .unwrap();
        m.record_labelled("tool_call", &[("tool", "b")], 0.2)
            .unwrap();
        m.record_labelled("tool_call", &[("tool", "c")], 0.3)
            .unwrap();
    });
    agent_trace_metrics::publish();
    let name = OPERATION_DURATION_SECONDS;
    assert_eq!(
        capture.values(name, &[("operation", "tool_call"), ("tool", "a")]),
        [0.1]
    );
    assert_eq!(
        capture.values(name, &[("operation", "tool_call"), ("series", "other")]),
        [0.2, 0.3]
    );
}

#[test]
fn a_batch_keeps_every_bucket_count_and_the_exact_sum() {
    let capture = Capture::default();
    let handle = metrics::with_local_recorder(&capture, || {
        LatencyMetrics::new().series("llm_call", &[("model", "m")])
    });
    // 10,000 values in (0.5, 1], 5,000 in (2, 5], and two in +Inf.
    let mut exact = 0.0;
    let mut n = 0;
    for i in 0..10_000 {
        let x = 0.5001 + 0.4999 * f64::from(i) / 9_999.0;
        handle.record(x).unwrap();
        exact += x;
        n += 1;
    }
    for i in 0..5_000 {
        let x = 2.0001 + f64::from(i) * 0.0005;
        handle.record(x).unwrap();
        exact += x;
        n += 1;
    }
    for x in [500.0, 1_000.0] {
        handle.record(x).unwrap();
        exact += x;
        n += 1;
    }
    agent_trace_metrics::publish();
    let (values, calls) = capture.values_and_calls(
        OPERATION_DURATION_SECONDS,
        &[("model", "m"), ("operation", "llm_call")],
    );
    assert_eq!(values.len(), n);
    let in_bucket = |lo: f64, hi: f64| values.iter().filter(|&&v| v > lo && v <= hi).count();
    assert_eq!(in_bucket(0.5, 1.0), 10_000);
    assert_eq!(in_bucket(2.0, 5.0), 5_000);
    assert_eq!(in_bucket(120.0, f64::INFINITY), 2);
    let sum: f64 = values.iter().sum();
    assert!((sum - exact).abs() <= 1e-9 * exact, "{sum} vs {exact}");
    // A handful of calls (three buckets per publication; the background
    // publisher may have split the run), not one per value.
    assert!(calls < 100, "{calls} calls for {n} values");
}

#[test]
fn the_bridge_can_be_switched_off() {
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, || {
        let m = LatencyMetrics::builder()
            .metrics_facade(false)
            .build()
            .unwrap();
        m.record("llm_call", 1.0).unwrap();
        m.series("tool_call", &[("tool", "x")]).record(0.1).unwrap();
        assert_eq!(m.stats("llm_call", None).unwrap().count, 1);
    });
    assert_eq!(*capture.registrations.lock().unwrap(), 0);
    assert!(capture.ids().is_empty());
}

#[test]
fn every_tracer_metric_is_described_with_help_text() {
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, agent_trace_metrics::describe_tracer_metrics);
    let described = capture.descriptions.lock().unwrap().clone();
    let names: Vec<&str> = described.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        agent_trace_metrics::TRACES_TOTAL,
        agent_trace_metrics::SPANS_TOTAL,
        agent_trace_metrics::SPAN_DURATION_SECONDS,
        agent_trace_metrics::ACTIVE_SPANS,
        agent_trace_metrics::EXPORT_SUCCESS_TOTAL,
        agent_trace_metrics::EXPORT_QUEUE_LENGTH,
        agent_trace_metrics::EXPORT_FAILURE_TOTAL,
        agent_trace_metrics::SPANS_DROPPED_TOTAL,
        agent_trace_metrics::OPERATION_DURATION_SECONDS,
        // The GenAI histograms of the facade's `genai` helpers (each,
        // without a help text, fails `promtool check metrics`).
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_token_usage",
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_invoke_agent_duration_seconds",
        "gen_ai_execute_tool_duration_seconds",
        "gen_ai_invoke_agent_inference_calls",
        "gen_ai_invoke_agent_tool_calls",
        "gen_ai_invoke_workflow_duration_seconds",
        "gen_ai_invoke_workflow_inference_calls",
        "gen_ai_invoke_workflow_tool_calls",
        // The cost metrics of the facade's `cost` ledger.
        agent_trace_metrics::COST_TOTAL,
        agent_trace_metrics::UNPRICED_CALLS_TOTAL,
    ] {
        assert!(names.contains(&name), "{name} is not described");
    }
    assert_eq!(names.len(), 21);
    assert!(described.iter().all(|(_, help)| !help.is_empty()));
}
