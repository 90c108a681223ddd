//! `list`: each trace summed up exactly as the hand-written fixture says,
//! and the sort keys and filters pick and order what they say.

mod support;

use agent_trace_cli::{ListQuery, SortKey, TraceFile, TraceSummary, summarize};

/// 2026-01-01T00:00:00Z, the fixtures' time origin.
const T0: u64 = 1_767_225_600_000_000_000;
const MS: u64 = 1_000_000;

const A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const B: &str = "0af7651916cd43dd8448eb211c80319c";
const C: &str = "4bf92f3500000000000000000000000c";

fn fixture_traces() -> Vec<TraceSummary> {
    let (traces, read) = summarize(&TraceFile::new(support::fixture("agent_runs.jsonl")), |m| {
        panic!("malformed: {m}")
    })
    .unwrap();
    assert_eq!((read.lines, read.batches, read.spans), (3, 3, 11));
    traces
}

fn ids(traces: &[TraceSummary]) -> Vec<String> {
    traces.iter().map(|t| t.trace_id.to_string()).collect()
}

#[test]
fn each_trace_is_summed_up_from_its_spans() {
    let traces = fixture_traces();
    assert_eq!(ids(&traces), [A, B, C]);
    let a = &traces[0];
    // Trace A: six spans over two lines, the root last; one tool call
    // failed; two chat calls of 200/50 and 1200/300 tokens costing 0.0015
    // and 0.0105 USD.
    assert_eq!(a.root_name, "research_task");
    assert_eq!(a.service, "research-agent");
    assert!(a.has_root);
    assert_eq!(
        (a.start_unix_nanos, a.end_unix_nanos),
        (T0, T0 + 1_000 * MS)
    );
    assert_eq!((a.spans, a.error_spans), (6, 1));
    assert_eq!((a.input_tokens, a.output_tokens), (Some(1_400), Some(350)));
    assert!((a.cost.unwrap() - 0.012).abs() < 1e-12, "{:?}", a.cost);
    assert_eq!(a.currency.as_deref(), Some("USD"));

    let b = &traces[1];
    assert_eq!(
        (b.root_name.as_str(), b.service.as_str()),
        ("classify_ticket", "support-agent")
    );
    assert_eq!(b.duration_nanos(), 250 * MS);
    assert_eq!((b.spans, b.error_spans), (2, 0));
    assert_eq!((b.input_tokens, b.output_tokens), (Some(80), Some(5)));

    let c = &traces[2];
    assert_eq!(c.start_unix_nanos, T0 + 5_000 * MS);
    assert_eq!(c.duration_nanos(), 2_500 * MS);
    assert_eq!(
        (c.spans, c.input_tokens, c.output_tokens),
        (3, Some(900), Some(400))
    );
}

#[test]
fn agent_spans_do_not_count_their_calls_tokens_twice() {
    // other_sdk.json: an invoke_agent span of 300/60 tokens around a chat
    // call of 300/60.
    let (traces, _) = summarize(&TraceFile::new(support::fixture("other_sdk.json")), |m| {
        panic!("malformed: {m}")
    })
    .unwrap();
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(t.trace_id.to_string(), "5b8efff798038103d269b633813fc60c");
    assert_eq!((t.input_tokens, t.output_tokens), (Some(300), Some(60)));
    assert_eq!((t.spans, t.error_spans), (3, 1));
    assert_eq!(t.root_name, "invoke_agent planner");
    assert_eq!(t.cost, None);
}

#[test]
fn a_trace_whose_root_is_elsewhere_is_named_after_its_earliest_span() {
    let dir = support::TempDir::new("orphans");
    let path = dir.path("orphans.jsonl");
    let span = |id: u64, parent: Option<u64>, name, start: u64, end: u64| support::GenSpan {
        trace: 0xabc,
        span: id,
        parent,
        name,
        start_ns: T0 + start * MS,
        end_ns: T0 + end * MS,
        error: false,
    };
    std::fs::write(
        &path,
        support::json_line(
            "worker",
            &[
                span(2, Some(1), "handle_job", 10, 50),
                span(3, Some(2), "db_query", 20, 30),
                span(4, Some(1), "cleanup", 60, 70),
            ],
        ),
    )
    .unwrap();
    let (traces, _) = summarize(&TraceFile::new(&path), |m| panic!("malformed: {m}")).unwrap();
    assert_eq!(traces.len(), 1);
    assert!(!traces[0].has_root);
    assert_eq!(traces[0].root_name, "handle_job");
    assert_eq!(traces[0].duration_nanos(), 60 * MS);
}

#[test]
fn sort_keys_order_as_documented() {
    let by = |sort, reverse| {
        ids(&ListQuery {
            sort: Some(sort),
            reverse,
            ..ListQuery::default()
        }
        .apply(fixture_traces()))
    };
    assert_eq!(by(SortKey::Start, false), [A, B, C]);
    assert_eq!(by(SortKey::Start, true), [C, B, A]);
    // 2.5 s, 1 s, 250 ms.
    assert_eq!(by(SortKey::Duration, false), [C, A, B]);
    // 6, 3, 2 spans.
    assert_eq!(by(SortKey::Spans, false), [A, C, B]);
    // classify_ticket, then the two research_task by start.
    assert_eq!(by(SortKey::Name, false), [B, A, C]);
    assert_eq!(
        ids(&ListQuery::default().apply(fixture_traces())),
        [A, B, C]
    );
}

#[test]
fn filters_and_slowest_pick_as_documented() {
    let query = |q: ListQuery| ids(&q.apply(fixture_traces()));
    assert_eq!(
        query(ListQuery {
            errors_only: true,
            ..ListQuery::default()
        }),
        [A]
    );
    assert_eq!(
        query(ListQuery {
            name: Some("research".to_owned()),
            ..ListQuery::default()
        }),
        [A, C]
    );
    assert_eq!(
        query(ListQuery {
            name: Some("Research".to_owned()),
            ..ListQuery::default()
        }),
        Vec::<String>::new()
    );
    // The two slowest, slowest first; then in another order.
    assert_eq!(
        query(ListQuery {
            slowest: Some(2),
            ..ListQuery::default()
        }),
        [C, A]
    );
    assert_eq!(
        query(ListQuery {
            slowest: Some(2),
            sort: Some(SortKey::Start),
            ..ListQuery::default()
        }),
        [A, C]
    );
    // Filters apply before the slowest are picked.
    assert_eq!(
        query(ListQuery {
            slowest: Some(1),
            name: Some("classify".to_owned()),
            ..ListQuery::default()
        }),
        [B]
    );
    assert_eq!(
        query(ListQuery {
            slowest: Some(0),
            ..ListQuery::default()
        }),
        Vec::<String>::new()
    );
}
