//! With the `prometheus` feature: asked for OpenMetrics, the recorder
//! renders the same metrics in OpenMetrics 1.0.0, with the newest traced
//! value of each latency and span-duration bucket as the exemplar of its
//! `_bucket` line; the classic text format stays as it was. (`cargo xtask
//! e2e` also checks the output with an independent parser and a real
//! Prometheus.)
#![cfg(feature = "prometheus")]

use std::sync::Arc;
use std::time::Duration;

use agent_trace_metrics::{
    DURATION_BUCKETS, ExpositionFormat, LatencyMetrics, ManualClock, PrometheusHandle,
    PrometheusRecorder, TracerMetrics,
};

/// 2023-11-14T22:13:20Z.
const START: u64 = 1_700_000_000 * 1_000_000_000;

const LATENCY: &str = "agent_trace_operation_duration_seconds";
const SPANS: &str = "agent_trace_span_duration_seconds";
const LLM: &str = r#"operation="llm_call",model="m1""#;

/// The bucket line of series `name{labels}` for bound `le`.
fn bucket_line<'a>(text: &'a str, name: &str, labels: &str, le: &str) -> &'a str {
    let sep = if labels.is_empty() { "" } else { "," };
    let head = format!("{name}_bucket{{{labels}{sep}le=\"{le}\"}} ");
    text.lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("no {head} in\n{text}"))
}

/// `(trace id, value, timestamp)` of the exemplar on a line, if any.
fn exemplar(line: &str) -> Option<(String, f64, f64)> {
    let (_, ex) = line.split_once(" # {trace_id=\"")?;
    let (labels, rest) = ex.split_once("} ")?;
    let id = labels.split('"').next()?;
    let (value, ts) = rest.split_once(' ')?;
    Some((id.to_owned(), value.parse().ok()?, ts.parse().ok()?))
}

/// The span id of the exemplar on a bucket line, if it names one.
fn exemplar_span(line: &str) -> Option<String> {
    let (_, ex) = line.split_once(" # {")?;
    let (labels, _) = ex.split_once("} ")?;
    let (_, span) = labels.split_once(",span_id=\"")?;
    Some(span.trim_end_matches('"').to_owned())
}

/// A recorder with traced latencies and tracer metrics in it.
fn recorded() -> (PrometheusHandle, LatencyMetrics, TracerMetrics) {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    let clock = Arc::new(ManualClock::new(START));
    let (metrics, tracer) = metrics::with_local_recorder(&recorder, || {
        agent_trace_metrics::describe_tracer_metrics();
        let m = LatencyMetrics::builder().clock(clock).build().unwrap();
        let labels = [("model", "m1")];
        for (secs, id) in [(0.3, 0x11), (0.4, 0x12), (130.0, 0x13)] {
            m.record_labelled_with_exemplar("llm_call", &labels, secs, id)
                .unwrap();
        }
        // A value measured on a known span: the exemplar names both.
        m.record_labelled_with_exemplar("llm_call", &labels, 4.2, (0x4bf9, 0x00f0_67aa_0ba9_02b7))
            .unwrap();
        // Without a trace id: counted, no exemplar.
        m.record_labelled("llm_call", &labels, 0.01).unwrap();
        let t = TracerMetrics::new();
        t.span_ended_with_exemplar(Duration::from_millis(700), 0x77, START + 500_000_000);
        t.span_ended(Duration::from_millis(20));
        t.spans_dropped("queue_full").add(3);
        (m, t)
    });
    (handle, metrics, tracer)
}

#[test]
fn bucket_lines_carry_the_newest_traced_value_of_their_bucket() {
    let (handle, _metrics, _tracer) = recorded();
    let text = handle.render_as(ExpositionFormat::OpenMetrics);
    let at = |le| exemplar(bucket_line(&text, LATENCY, LLM, le));
    // The newest of (0.25, 0.5] is 0.4 s, trace 0x12, stamped by the
    // registry's (manual) clock, in seconds.
    let (id, value, ts) = at("0.5").unwrap();
    assert_eq!(id, "00000000000000000000000000000012");
    assert_eq!((value, ts), (0.4, 1_700_000_000.0));
    assert_eq!(at("5").unwrap().0, format!("{:032x}", 0x4bf9));
    assert_eq!(
        exemplar_span(bucket_line(&text, LATENCY, LLM, "5")).as_deref(),
        Some("00f067aa0ba902b7")
    );
    // A trace id alone: no span id.
    assert_eq!(exemplar_span(bucket_line(&text, LATENCY, LLM, "0.5")), None);
    assert_eq!(at("+Inf").unwrap().1, 130.0);
    // A bucket counts only its own traced values' exemplar: none elsewhere
    // (0.01 s came without a trace id).
    for le in [
        "0.005", "0.025", "0.1", "0.25", "1", "2", "10", "20", "60", "120",
    ] {
        assert_eq!(at(le), None, "le={le}");
    }
    // The span duration histogram: 0.7 s in (0.5, 1], stamped with its end.
    let (id, value, ts) = exemplar(bucket_line(&text, SPANS, "", "1")).unwrap();
    assert_eq!(
        (id.as_str(), value),
        ("00000000000000000000000000000077", 0.7)
    );
    assert_eq!(ts, 1_700_000_000.5);
    // Every exemplar lies in its bucket: (previous bound, bound].
    for line in text.lines().filter(|l| l.contains("_bucket{")) {
        let Some((_, value, _)) = exemplar(line) else {
            continue;
        };
        let le = line
            .split("le=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let hi = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse::<f64>().unwrap()
        };
        let lo = DURATION_BUCKETS
            .iter()
            .copied()
            .filter(|b| *b < hi)
            .fold(0.0, f64::max);
        assert!(value > lo && value <= hi, "{line}");
    }
}

#[test]
fn the_rest_follows_openmetrics_and_the_classic_text_is_unchanged() {
    let (handle, _metrics, _tracer) = recorded();
    let om = handle.render_as(ExpositionFormat::OpenMetrics);
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    assert_eq!(om.matches("# EOF").count(), 1);
    assert!(
        om.lines().all(|l| !l.trim().is_empty()),
        "blank line in\n{om}"
    );
    // A counter family is named without `_total`, its samples with it.
    let has = |line: &str| om.lines().any(|l| l == line);
    assert!(has("# TYPE agent_trace_spans_dropped counter"), "{om}");
    assert!(
        om.lines()
            .any(|l| l.starts_with("# HELP agent_trace_spans_dropped "))
    );
    assert!(has(
        "agent_trace_spans_dropped_total{reason=\"queue_full\"} 3"
    ));
    assert!(!om.contains("# TYPE agent_trace_spans_dropped_total"));
    // Every sample belongs to the family declared last before it.
    let mut family = String::new();
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap().to_owned();
        } else if !line.starts_with('#') {
            assert!(line.starts_with(&family), "{line} outside {family}");
        }
    }

    let classic = handle.render();
    // (The exporter's families come in no fixed order: compare the lines.)
    let sorted = |t: &str| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&handle.render_as(ExpositionFormat::Text)),
        sorted(&classic)
    );
    assert!(!classic.contains(" # {"), "{classic}");
    assert!(!classic.contains("# EOF"));
    assert!(classic.contains("# TYPE agent_trace_spans_dropped_total counter"));
    assert!(classic.contains(&format!("{LATENCY}_bucket{{{LLM},le=\"0.5\"}} 3\n")));
}

#[test]
fn the_accept_header_chooses_the_format() {
    use ExpositionFormat::{OpenMetrics, Text};
    for (accept, expected) in [
        // Prometheus 2.x and 3.x.
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OpenMetrics,
        ),
        ("application/openmetrics-text; version=0.0.1", OpenMetrics),
        ("Application/OpenMetrics-Text", OpenMetrics),
        (
            "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5",
            Text,
        ),
        ("application/openmetrics-text;q=0", Text),
        ("application/openmetrics-text;q=nonsense", Text),
        ("text/plain", Text),
        ("*/*", Text),
        ("", Text),
        ("\u{0}\u{fffd};;,,=", Text),
    ] {
        assert_eq!(
            ExpositionFormat::from_accept(accept),
            expected,
            "{accept:?}"
        );
    }
    assert_eq!(
        Text.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
}
