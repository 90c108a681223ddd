//! The text rendering of a known trace, compared with text written by hand.

use std::time::{Duration, UNIX_EPOCH};

use agent_trace_core::{
    Attributes, Event, FinishedSpan, KeyValue, SpanContext, SpanData, SpanId, SpanKind, Status,
    Timestamp, Trace, TraceFlags, TraceId,
};

fn ms(n: u64) -> Timestamp {
    (UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(n)).into()
}

fn span(
    id: u64,
    parent: Option<u64>,
    name: &'static str,
    (start, end): (u64, u64),
    attributes: Vec<KeyValue>,
) -> SpanData {
    SpanData {
        name: name.into(),
        context: SpanContext::new(
            TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap(),
            SpanId::from_u64(id).unwrap(),
            TraceFlags::SAMPLED,
        ),
        parent_span_id: parent.and_then(SpanId::from_u64),
        parent_is_remote: false,
        kind: SpanKind::Internal,
        start_time: ms(start),
        end_time: ms(end),
        attributes: Attributes::from_vec(attributes),
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        dropped_attributes_count: 0,
        dropped_events_count: 0,
        dropped_links_count: 0,
        scope: None,
    }
}

#[test]
fn known_trace_renders_exactly() {
    let mut root = span(
        1,
        None,
        "workflow",
        (0, 1200),
        vec![KeyValue::new("data.size", 3)],
    );
    root.status = Status::Ok;
    let collect = span(2, Some(1), "data_collection", (100, 600), vec![]);
    let fetch = span(
        3,
        Some(2),
        "fetch_api",
        (100, 350),
        vec![KeyValue::new("http.status", 200)],
    );
    let mut query = span(4, Some(2), "query_database", (350, 600), vec![]);
    query.status = Status::error("timeout");
    let mut process = span(
        5,
        Some(1),
        "data_processing",
        (600, 1150),
        vec![KeyValue::new("records_processed", 42)],
    );
    process.kind = SpanKind::Client;
    process.events.push(Event {
        name: "analysis_complete".into(),
        timestamp: ms(1100),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    });
    let long = span(
        6,
        Some(5),
        "summarise",
        (700, 712),
        vec![
            KeyValue::new("a", "x".repeat(50)),
            KeyValue::new("b", true),
            KeyValue::new("c", 0.5),
            KeyValue::new("d", vec![1i64, 2]),
            KeyValue::new("e", "hidden"),
        ],
    );

    // Spans arrive in the order they end, children first.
    let spans = [fetch, query, collect, long, process, root]
        .into_iter()
        .map(FinishedSpan::new)
        .collect();
    let trace = Trace::from_spans(spans).unwrap();
    assert_eq!(trace.root().map(|s| s.name.as_str()), Some("workflow"));

    let expected = "\
workflow  1.20s  ok  data.size=3
├─ data_collection  500ms
│  ├─ fetch_api  250ms  http.status=200
│  └─ query_database  250ms  error: timeout
└─ data_processing  550ms  [client]  records_processed=42  (1 event)
   └─ summarise  12.0ms  a=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…  b=true  c=0.5  d=[1, 2]  (+1 more)
";
    assert_eq!(trace.render(), expected);
}

#[test]
fn spans_with_a_parent_outside_the_trace_show_at_the_top() {
    let orphan = span(7, Some(99), "continued", (0, 5), vec![]);
    let child = span(8, Some(7), "step", (1, 2), vec![]);
    let trace =
        Trace::from_spans(vec![FinishedSpan::new(child), FinishedSpan::new(orphan)]).unwrap();
    assert_eq!(trace.render(), "continued  5.00ms\n└─ step  1.00ms\n");
}

#[test]
fn a_parent_cycle_in_corrupt_input_neither_hides_nor_loops() {
    let a = span(10, Some(11), "a", (0, 1), vec![]);
    let b = span(11, Some(10), "b", (0, 1), vec![]);
    let trace = Trace::from_spans(vec![FinishedSpan::new(a), FinishedSpan::new(b)]).unwrap();
    assert_eq!(trace.render(), "a  1.00ms\n└─ b  1.00ms\n");
}
