//! Spans of the real tracer (`agent-trace-core`), written by the real
//! `FileExporter` (`agent-trace-export`), read back field by field: the
//! format this tool reads is the one our exporter writes.

mod support;

use std::time::Duration;

use agent_trace_cli::{
    AnyValue, StatusCode, TraceFile, TraceIdPrefix, load_trace, operation_stats, summarize,
};
use agent_trace_core::{AgentStepTracer, FinishedSpan, KeyValue, SpanKind, Status};
use agent_trace_export::{FileExporter, Resource, SpanExporter};

#[derive(Debug)]
struct Flaky;

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream returned 503")
    }
}

impl std::error::Error for Flaky {}

/// A trace of the real tracer: a task, two LLM calls (one failed with a
/// recorded exception), a tool call under the second.
fn record_trace(tracer: &AgentStepTracer) -> Vec<FinishedSpan> {
    let task = tracer
        .trace_builder("research_task")
        .agent_id("researcher")
        .attribute("task.priority", 2_i64)
        .start()
        .entered();
    tracer.in_span("chat gpt-4o", |call| {
        call.set_attribute("gen_ai.usage.input_tokens", 120_i64);
        call.set_attribute("gen_ai.usage.output_tokens", 30_i64);
        call.set_attribute("agent_trace.cost", 0.25);
        call.set_attribute("agent_trace.cost.currency", "USD");
        call.record_exception(&Flaky);
    });
    tracer.in_span("chat gpt-4o", |call| {
        call.set_attribute("gen_ai.usage.input_tokens", 200_i64);
        call.set_attribute("gen_ai.usage.output_tokens", 40_i64);
        call.set_attribute("streaming", true);
        call.set_attribute("tags", vec!["a".to_owned(), "b \"quoted\"".to_owned()]);
        call.add_event("first_token", [KeyValue::new("latency_ms", 12_i64)]);
        let _tool = tracer
            .span_builder("execute_tool web_search")
            .kind(SpanKind::Client)
            .start();
        call.set_status(Status::Ok);
    });
    let id = task.trace_id();
    task.end();
    let trace = tracer.trace(id).expect("the tracer keeps recent traces");
    trace.spans().to_vec()
}

#[test]
fn spans_written_by_the_file_exporter_read_back_field_by_field() {
    let dir = support::TempDir::new("round-trip");
    let path = dir.path("traces.jsonl");
    let tracer = AgentStepTracer::new();
    let spans = record_trace(&tracer);
    assert_eq!(spans.len(), 4);
    let mut exporter = FileExporter::builder()
        .path(&path)
        .resource(Resource::new("round-trip-agent"))
        .build()
        .unwrap();
    // Two batches, two lines, as a batch pipeline would write them.
    exporter.export(&spans[..2]).unwrap();
    exporter.export(&spans[2..]).unwrap();
    exporter.force_flush().unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.lines().count(), 2);

    let file = TraceFile::new(&path);
    let prefix = TraceIdPrefix::parse(&spans[0].context.trace_id.to_string()).unwrap();
    let (trace, read) = load_trace(&file, prefix, |m| panic!("malformed: {m}")).unwrap();
    assert_eq!((read.spans, read.batches, read.malformed), (4, 2, 0));
    assert_eq!(trace.spans.len(), 4);
    for (ours, back) in spans.iter().zip(&trace.spans) {
        let b = &back.span;
        assert_eq!(b.trace_id, ours.context.trace_id);
        assert_eq!(b.span_id, ours.context.span_id);
        assert_eq!(b.parent_span_id, ours.parent_span_id);
        assert_eq!(b.name, ours.name.as_str());
        assert_eq!(b.kind.as_str(), ours.kind.as_str());
        assert_eq!(b.start_time_unix_nano, ours.start_time.as_unix_nanos());
        assert_eq!(b.end_time_unix_nano, ours.end_time.as_unix_nanos());
        assert_eq!(&*back.service, "round-trip-agent");
        let attrs = |kvs: &[agent_trace_cli::OtlpKeyValue<'_>]| {
            kvs.iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect::<Vec<_>>()
        };
        let ours_attrs: Vec<String> = ours
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        assert_eq!(attrs(&b.attributes), ours_attrs, "{}", ours.name);
        assert_eq!(b.events.len(), ours.events.len());
        for (e, o) in b.events.iter().zip(&ours.events) {
            assert_eq!(e.name, o.name.as_str());
            assert_eq!(e.time_unix_nano, o.timestamp.as_unix_nanos());
            let ours_attrs: Vec<String> = o
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            assert_eq!(attrs(&e.attributes), ours_attrs);
        }
        let (code, message) = match &ours.status {
            Status::Unset => (StatusCode::Unset, String::new()),
            Status::Ok => (StatusCode::Ok, String::new()),
            Status::Error { description } => (StatusCode::Error, description.as_str().to_owned()),
        };
        assert_eq!(
            (b.status.code, b.status.message.as_ref()),
            (code, message.as_str())
        );
    }
    // Typed values stay typed.
    let second_chat = trace
        .spans
        .iter()
        .find(|s| s.span.attribute("streaming").is_some())
        .unwrap();
    assert_eq!(
        second_chat.span.attribute("streaming"),
        Some(&AnyValue::Bool(true))
    );
    assert_eq!(
        second_chat.span.attribute("gen_ai.usage.input_tokens"),
        Some(&AnyValue::Int(200))
    );
    assert_eq!(
        second_chat.span.attribute("tags").map(ToString::to_string),
        Some("[a, b \"quoted\"]".to_owned())
    );

    // The summary and the statistics agree with the spans recorded.
    let (traces, _) = summarize(&file, |m| panic!("malformed: {m}")).unwrap();
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(t.root_name, "research_task");
    assert_eq!(t.service, "round-trip-agent");
    assert_eq!((t.spans, t.error_spans), (4, 1));
    assert_eq!((t.input_tokens, t.output_tokens), (Some(320), Some(70)));
    assert_eq!(t.cost, Some(0.25));
    assert_eq!(t.currency.as_deref(), Some("USD"));
    let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    assert_eq!(t.start_unix_nanos, root.start_time.as_unix_nanos());
    assert_eq!(
        t.duration_nanos(),
        u64::try_from(root.duration().as_nanos()).unwrap()
    );
    let (ops, _) = operation_stats(&file, 100, |m| panic!("malformed: {m}")).unwrap();
    let chat = ops.iter().find(|o| o.operation == "chat gpt-4o").unwrap();
    assert_eq!(chat.count, 2);
    let longest = spans
        .iter()
        .filter(|s| s.name.as_str() == "chat gpt-4o")
        .map(|s| s.duration())
        .max()
        .unwrap_or(Duration::ZERO);
    assert!((chat.max - longest.as_secs_f64()).abs() < 1e-9);

    // And the binary draws the tree.
    let id = t.trace_id.to_string();
    let run = support::agent_trace_in(&dir.0, &["show", "traces.jsonl", &id[..12]]);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let names: Vec<String> = run
        .stdout
        .lines()
        .skip(4)
        .filter(|l| !l.trim_start_matches(['│', ' ']).starts_with('!'))
        .map(|l| {
            let name = l.trim_start_matches(['│', '├', '└', '─', ' ']);
            let tree = &l[..l.len() - name.len()];
            format!("{tree}{}", name.split("  ").next().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        names,
        [
            "research_task",
            "├─ chat gpt-4o",
            "└─ chat gpt-4o",
            "   └─ execute_tool web_search"
        ],
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("! exception at +"), "{}", run.stdout);
    assert!(
        run.stdout.contains("upstream returned 503"),
        "{}",
        run.stdout
    );
}
