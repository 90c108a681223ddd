//! What a newcomer writes first, porting the Python reference
//! (`tracing-seed.md`) line by line, compiles and records what it says:
//! keys and values borrowed from strings about to be dropped, integers of
//! every width, arrays, optional values, `Display` types, events from plain
//! pairs and from mixed values, statuses by name, any error, and the future
//! extension trait beside `tracing`'s and `futures`'.

mod support;

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use agent_trace::{
    AgentFutureExt, AgentStepTracer, Array, FinishedSpan, Key, KeyValue, Status, TraceError, Value,
    attributes, display_value,
};
use support::collecting_tracer;

/// The one span a test recorded, named `name`.
fn record(name: &str, f: impl FnOnce(&AgentStepTracer, &mut agent_trace::Span)) -> FinishedSpan {
    let (tracer, spans) = collecting_tracer();
    let mut span = tracer.start_span(name.to_owned());
    f(&tracer, &mut span);
    span.end();
    spans.named(name)
}

/// The expected string value, built through the shared form (`Arc<str>`),
/// not the inline copy the conversions under test make: equality compares
/// the texts, so a copy that lost a byte cannot match itself here.
fn string(v: &str) -> Value {
    Value::String(agent_trace::StringValue::from(Arc::<str>::from(v)))
}

#[test]
fn keys_and_values_borrowed_from_a_dropped_string_are_kept() {
    let s = record("llm_inference", |_, span| {
        let request_id = format!("req-{}", 123);
        span.set_attribute("custom.request_id", request_id.as_str());
        drop(request_id);
        let key = String::from("custom.user_id");
        span.set_attribute(key.as_str(), "user-456");
        drop(key);
        // Longer than the 22 bytes kept inline: shared, still a copy.
        let prompt = "What is AI? ".repeat(4);
        let long_key = format!("custom.{}", "k".repeat(30));
        span.set_attribute(long_key.as_str(), &prompt);
        drop((prompt, long_key));
        // The zero-copy form of a long constant key.
        const INPUT_TOKENS: Key = Key::from_static("gen_ai.usage.input_tokens");
        span.set_attribute(INPUT_TOKENS, 500);
        span.set_attribute(Key::from_static("gen_ai.usage.output_tokens"), 150);
    });
    assert_eq!(s.attribute("custom.request_id"), Some(&string("req-123")));
    assert_eq!(s.attribute("custom.user_id"), Some(&string("user-456")));
    assert_eq!(
        s.attribute(&format!("custom.{}", "k".repeat(30))),
        Some(&string(&"What is AI? ".repeat(4)))
    );
    assert_eq!(
        s.attribute("gen_ai.usage.input_tokens"),
        Some(&Value::I64(500))
    );
    assert_eq!(
        s.attribute("gen_ai.usage.output_tokens"),
        Some(&Value::I64(150))
    );
}

#[test]
fn a_none_sets_nothing_and_keeps_an_earlier_value() {
    let (tracer, spans) = collecting_tracer();
    let reviewer: Option<&str> = None;
    let mut span = tracer
        .trace_builder("agent_task")
        .attribute("reviewer", reviewer)
        .attribute("agent.role", Some("planner"))
        .start();
    let user_id: Option<String> = None;
    span.set_attribute("user.id", user_id);
    span.set_attribute("retries", Some(2_u8));
    span.set_attribute("retries", None::<u8>);
    span.set_attribute("temperature", Some(0.7));
    span.end();
    let s = spans.named("agent_task");
    assert_eq!(s.attribute("reviewer"), None);
    assert_eq!(s.attribute("user.id"), None);
    assert_eq!(s.attribute("agent.role"), Some(&string("planner")));
    assert_eq!(s.attribute("retries"), Some(&Value::I64(2)));
    assert_eq!(s.attribute("temperature"), Some(&Value::F64(0.7)));
    assert_eq!(s.attributes.len(), 3, "{:?}", s.attributes);
}

#[test]
fn integers_of_every_width_are_i64_saturating_beyond_its_range() {
    let result = ["a"; 7];
    let s = record("widths", |_, span| {
        span.set_attribute("i8", i8::MIN);
        span.set_attribute("i16", i16::MIN);
        span.set_attribute("i32", i32::MIN);
        span.set_attribute("i64", i64::MIN);
        span.set_attribute("i128", -5_i128);
        span.set_attribute("i128.min", i128::MIN);
        span.set_attribute("i128.max", i128::MAX);
        span.set_attribute("isize", -3_isize);
        span.set_attribute("u8", u8::MAX);
        span.set_attribute("u16", u16::MAX);
        span.set_attribute("u32", u32::MAX);
        span.set_attribute("u64", 42_u64);
        span.set_attribute("u64.max", u64::MAX);
        span.set_attribute("u128", 9_u128);
        span.set_attribute("u128.max", u128::MAX);
        span.set_attribute("usize", result.len());
        span.set_attribute("usize.max", usize::MAX);
        span.set_attribute("literal", 150);
        span.set_attribute("f32", 0.5_f32);
        span.set_attribute("f64", 0.7);
        span.set_attribute("bool", true);
    });
    let expected: &[(&str, Value)] = &[
        ("i8", Value::I64(-128)),
        ("i16", Value::I64(-32_768)),
        ("i32", Value::I64(i64::from(i32::MIN))),
        ("i64", Value::I64(i64::MIN)),
        ("i128", Value::I64(-5)),
        ("i128.min", Value::I64(i64::MIN)),
        ("i128.max", Value::I64(i64::MAX)),
        ("isize", Value::I64(-3)),
        ("u8", Value::I64(255)),
        ("u16", Value::I64(65_535)),
        ("u32", Value::I64(i64::from(u32::MAX))),
        ("u64", Value::I64(42)),
        ("u64.max", Value::I64(i64::MAX)),
        ("u128", Value::I64(9)),
        ("u128.max", Value::I64(i64::MAX)),
        ("usize", Value::I64(7)),
        ("usize.max", Value::I64(i64::MAX)),
        ("literal", Value::I64(150)),
        ("f32", Value::F64(0.5)),
        ("f64", Value::F64(0.7)),
        ("bool", Value::Bool(true)),
    ];
    for (key, value) in expected {
        assert_eq!(s.attribute(key), Some(value), "{key}");
    }
}

#[test]
fn slices_arrays_and_vecs_are_array_values() {
    let scores = [0.9, 0.4];
    let offsets = [-1_i32, 0, 1];
    let tags = [String::from("fast"), String::from("cheap")];
    let stops = vec![String::from("\n"), String::from("END")];
    let s = record("arrays", |_, span| {
        span.set_attribute("stop", ["\n", "END"]);
        span.set_attribute("stop.owned", stops.clone());
        span.set_attribute("stop.borrowed", &stops);
        span.set_attribute("scores", &scores[..]);
        span.set_attribute("scores.f32", vec![0.5_f32, 0.25]);
        span.set_attribute("ids", vec![1_u8, 2, 3]);
        span.set_attribute("offsets", offsets);
        span.set_attribute("tags", &tags);
        span.set_attribute("flags", [true, false]);
        span.set_attribute("none", Vec::<i64>::new());
    });
    let strings = Value::Array(Array::String(
        vec![
            agent_trace::StringValue::copy_from("\n"),
            agent_trace::StringValue::copy_from("END"),
        ]
        .into(),
    ));
    assert_eq!(s.attribute("stop"), Some(&strings));
    assert_eq!(s.attribute("stop.owned"), Some(&strings));
    assert_eq!(s.attribute("stop.borrowed"), Some(&strings));
    assert_eq!(
        s.attribute("scores"),
        Some(&Value::Array(Array::F64(vec![0.9, 0.4].into())))
    );
    assert_eq!(
        s.attribute("scores.f32"),
        Some(&Value::Array(Array::F64(vec![0.5, 0.25].into())))
    );
    assert_eq!(
        s.attribute("ids"),
        Some(&Value::Array(Array::I64(vec![1, 2, 3].into())))
    );
    assert_eq!(
        s.attribute("offsets"),
        Some(&Value::Array(Array::I64(offsets.map(i64::from).into())))
    );
    assert_eq!(
        s.attribute("tags"),
        Some(&Value::from(tags.map(agent_trace::StringValue::from)))
    );
    assert_eq!(
        s.attribute("flags"),
        Some(&Value::Array(Array::Bool(vec![true, false].into())))
    );
    assert_eq!(
        s.attribute("none"),
        Some(&Value::Array(Array::I64(Vec::new().into())))
    );
}

/// A type with a `Display` and no conversion of its own.
struct Decision {
    tool: &'static str,
    rank: u32,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "use {} (rank {})", self.tool, self.rank)
    }
}

#[test]
fn any_display_type_is_recorded_through_display_value() {
    let path = std::path::PathBuf::from("prompts/system.txt");
    let s = record("display", |_, span| {
        span.set_attribute(
            "server.address",
            display_value(&std::net::Ipv4Addr::LOCALHOST),
        );
        span.set_attribute("file.path", display_value(&path.display()));
        let long = Decision {
            tool: "web_search_with_a_long_name",
            rank: 1,
        };
        span.set_attribute("decision", display_value(&long));
        span.set_attribute("short", display_value(&Decision { tool: "a", rank: 2 }));
    });
    assert_eq!(s.attribute("server.address"), Some(&string("127.0.0.1")));
    assert_eq!(
        s.attribute("file.path"),
        Some(&string("prompts/system.txt"))
    );
    assert_eq!(
        s.attribute("decision"),
        Some(&string("use web_search_with_a_long_name (rank 1)"))
    );
    assert_eq!(s.attribute("short"), Some(&string("use a (rank 2)")));
}

#[test]
fn events_take_plain_pairs_key_values_and_nothing() {
    let s = record("agent_decision", |_, span| {
        span.add_event("thinking_started", [("context_size", 4096)]);
        span.add_event("tokens", [("input", 500_u32), ("output", 150)]);
        span.add_event(
            "chosen",
            [
                KeyValue::new("tool", "web_search"),
                KeyValue::new("rank", 1),
            ],
        );
        span.add_event("analysis_complete", []);
        span.add_event(
            "labels",
            BTreeMap::from([("team", "search"), ("tier", "gold")]),
        );
        span.add_event("steps", (1..=2).map(|i| (format!("step.{i}"), i)));
        span.annotate("Decision based on 3 context items");
    });
    let names: Vec<&str> = s.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "thinking_started",
            "tokens",
            "chosen",
            "analysis_complete",
            "labels",
            "steps",
            "Decision based on 3 context items",
        ]
    );
    let e = &s.events;
    assert_eq!(e[0].attribute("context_size"), Some(&Value::I64(4096)));
    assert_eq!(e[1].attribute("input"), Some(&Value::I64(500)));
    assert_eq!(e[1].attribute("output"), Some(&Value::I64(150)));
    assert_eq!(e[2].attribute("tool"), Some(&string("web_search")));
    assert_eq!(e[2].attribute("rank"), Some(&Value::I64(1)));
    assert!(e[3].attributes.is_empty());
    assert_eq!(e[4].attribute("tier"), Some(&string("gold")));
    assert_eq!(e[5].attribute("step.2"), Some(&Value::I64(2)));
    assert!(e[6].attributes.is_empty());
}

#[test]
fn mixed_values_go_through_the_attributes_macro() {
    let (tracer, spans) = collecting_tracer();
    let other = tracer.start_trace("earlier_run");
    let kind = String::from("tool_call");
    let reviewer: Option<&str> = None;
    let key = String::from("decision.kind");
    let mut span = tracer
        .trace_builder("agent_decision")
        .attributes(attributes!["agent.name" => "planner", "agent.step" => 3_u16])
        .link(other.context(), [])
        .start();
    span.add_event(
        "thinking_completed",
        attributes![
            "decision" => kind.as_str(),
            "confidence" => 0.93,
            "reviewer" => reviewer,
            key.as_str() => kind.clone(),
            "alternatives" => ["answer", "ask"],
        ],
    );
    span.set_attributes(attributes!["model.name" => "gpt-4", "input.tokens" => 500]);
    span.set_attributes([("output.tokens", 150), ("output.length", 12)]);
    drop((kind, key));
    let empty: Vec<KeyValue> = attributes![];
    span.add_event("nothing", empty);
    span.end();
    other.end();

    let s = spans.named("agent_decision");
    let e = &s.events[0];
    let keys: Vec<&str> = e.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        ["decision", "confidence", "decision.kind", "alternatives"]
    );
    assert_eq!(e.attribute("decision"), Some(&string("tool_call")));
    assert_eq!(e.attribute("confidence"), Some(&Value::F64(0.93)));
    assert_eq!(e.attribute("decision.kind"), Some(&string("tool_call")));
    assert_eq!(
        e.attribute("alternatives"),
        Some(&Value::from(["answer", "ask"]))
    );
    assert!(s.events[1].attributes.is_empty());
    assert_eq!(s.attribute("agent.name"), Some(&string("planner")));
    assert_eq!(s.attribute("agent.step"), Some(&Value::I64(3)));
    assert_eq!(s.attribute("model.name"), Some(&string("gpt-4")));
    assert_eq!(s.attribute("input.tokens"), Some(&Value::I64(500)));
    assert_eq!(s.attribute("output.tokens"), Some(&Value::I64(150)));
    assert_eq!(s.links.len(), 1);
}

#[test]
fn statuses_are_set_by_the_reference_s_names() -> Result<(), Box<dyn Error>> {
    let (tracer, spans) = collecting_tracer();
    let mut ok = tracer.start_span("tool_execution");
    ok.set_status("success")?;
    ok.end();
    let mut upper = tracer.start_span("upper");
    upper.set_status(String::from("OK"))?;
    upper.end();
    let mut failed = tracer.start_span("llm_inference");
    let e = std::io::Error::other("rate limited");
    failed.set_status(("error", e.to_string()))?;
    // "unset" is ignored, as setting `Status::Unset` is.
    failed.set_status("Unset")?;
    failed.end();
    let mut bare = tracer.start_span("bare_error");
    bare.set_status("error")?;
    bare.end();
    let mut typed = tracer.start_span("typed");
    let () = typed.set_status(Status::Ok);
    typed.end();

    assert_eq!(spans.named("tool_execution").status, Status::Ok);
    assert_eq!(spans.named("upper").status, Status::Ok);
    assert_eq!(
        spans.named("llm_inference").status,
        Status::error("rate limited")
    );
    assert_eq!(spans.named("bare_error").status, Status::error(""));
    assert_eq!(spans.named("typed").status, Status::Ok);
    Ok(())
}

#[test]
fn an_unknown_status_name_is_an_error_naming_the_accepted_ones_and_changes_nothing() {
    let (tracer, spans) = collecting_tracer();
    let mut span = tracer.start_span("tool_execution");
    span.set_status(("error", "timed out")).unwrap();
    let err = span.set_status("succes").unwrap_err();
    assert!(matches!(&err, TraceError::UnknownStatus(name) if name == "succes"));
    assert_eq!(
        err.to_string(),
        r#"unknown span status "succes" (expected unset, ok, success or error)"#
    );
    let err = span.set_status(("eror", "typo")).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected unset, ok, success or error")
    );
    span.end();
    assert_eq!(
        spans.named("tool_execution").status,
        Status::error("timed out")
    );
}

#[derive(Debug)]
struct ToolFailed(std::io::Error);

impl fmt::Display for ToolFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("web_search failed")
    }
}

impl Error for ToolFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

fn search() -> Result<(), Box<dyn Error + Send + Sync>> {
    Err(ToolFailed(std::io::Error::other("connection reset")))?;
    Ok(())
}

/// A function of the user's taking any error as `&dyn Error`.
fn report(span: &mut agent_trace::Span, error: &dyn Error) {
    span.record_exception(error);
}

/// Each exception event's type and message, in order.
fn exceptions(span: &FinishedSpan) -> Vec<(String, String)> {
    span.events
        .iter()
        .map(|e| {
            assert_eq!(e.name, "exception");
            let text = |key| e.attribute(key).and_then(Value::as_str).unwrap().to_owned();
            (text("exception.type"), text("exception.message"))
        })
        .collect()
}

#[test]
fn record_exception_takes_every_form_of_error() {
    let s = record("tool_execution", |_, span| {
        let io = std::io::Error::other("connection reset");
        span.record_exception(&io);
        let typed = ToolFailed(std::io::Error::other("connection reset"));
        span.record_exception(&typed);
        report(span, &typed);
        let boxed: Box<dyn Error> = "boom".into();
        span.record_exception(&boxed);
        let err = search().unwrap_err();
        span.record_exception(&err);
        let shared: Arc<dyn Error + Send + Sync> = Arc::new(std::fmt::Error);
        span.record_exception(&shared);
        span.record_exception(&*boxed);
    });
    let erased = "dyn core::error::Error";
    let chain = "web_search failed: connection reset";
    let expected = [
        ("std::io::error::Error", "connection reset"),
        ("newcomer_first_attempts::ToolFailed", chain),
        (erased, chain),
        (erased, "boom"),
        (erased, chain),
        (
            "alloc::sync::Arc<dyn core::error::Error + core::marker::Send + core::marker::Sync>",
            "an error occurred when formatting an argument",
        ),
        (erased, "boom"),
    ];
    let got = exceptions(&s);
    let got: Vec<(&str, &str)> = got.iter().map(|(t, m)| (t.as_str(), m.as_str())).collect();
    assert_eq!(got, expected);
    // The first error's text is the span's status; later ones keep it.
    assert_eq!(s.status, Status::error("connection reset"));
}

#[cfg(feature = "anyhow")]
#[test]
fn record_exception_takes_an_anyhow_error_with_its_context() {
    use anyhow::Context as _;

    let s = record("fetch_page", |_, span| {
        let err = Err::<(), _>(std::io::Error::other("connection reset"))
            .context("fetching https://example.invalid")
            .unwrap_err();
        span.record_exception(&err);
    });
    assert_eq!(
        exceptions(&s),
        [(
            "anyhow::Error".to_owned(),
            "fetching https://example.invalid: connection reset".to_owned()
        )]
    );
}

/// The method names of `futures::FutureExt` (futures-util 0.3), in a trait
/// of the same name: `futures` itself is not in this workspace's lockfile,
/// so a stand-in proves that none of its names collides with
/// `AgentFutureExt`'s. Only the names matter; the bodies do nothing.
mod futures_like {
    macro_rules! methods {
        ($($name:ident)*) => {
            /// `futures::FutureExt`'s method names.
            #[allow(dead_code, reason = "the names are the point; one is called")]
            pub(crate) trait FutureExt: std::future::Future + Sized {
                $(
                    fn $name(self) -> Self {
                        self
                    }
                )*
            }
        };
    }

    methods!(
        map map_into then left_future right_future into_stream flatten flatten_stream fuse
        inspect catch_unwind shared remote_handle boxed boxed_local unit_error never_error
        poll_unpin now_or_never
    );

    impl<F: std::future::Future> FutureExt for F {}
}

/// Polls `f` to completion on this thread (the futures here never wait).
fn run<F: Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn the_future_extension_trait_sits_beside_tracing_s_and_futures_by_name() {
    use futures_like::FutureExt;
    use tracing::Instrument;
    use tracing::instrument::WithSubscriber;

    let (tracer, spans) = collecting_tracer();
    let step = tracer.start_span("llm_call");
    let step_context = step.context();
    let entered = step.entered();
    // Each name resolves to one trait, checked by the type it returns.
    let captured: agent_trace::InContext<_> =
        async { AgentStepTracer::current_context() }.in_current_context();
    let instrumented: tracing::instrument::Instrumented<_> = async {}.in_current_span();
    let dispatched: tracing::instrument::WithDispatch<_> = async {}.with_current_subscriber();
    let fused = async { 1 }.fuse();
    drop(entered);
    // Polled with nothing current: the context captured at creation is.
    assert_eq!(run(captured), Some(step_context.clone()));
    run(instrumented.instrument(tracing::info_span!("unused")));
    run(dispatched);
    assert_eq!(run(fused), 1);

    let child = tracer.start_span("child_of_nothing");
    let inside = async { AgentStepTracer::current_context() }.in_context(step_context.clone());
    assert_eq!(run(inside), Some(step_context));
    let ended = async {}.in_span(child);
    run(ended);
    assert_eq!(
        spans.len(),
        2,
        "llm_call and the span moved into the future"
    );
}

/// Everything imported with `*`, as a newcomer might: the glob imports do
/// not make any call used here ambiguous.
mod all_globbed {
    use super::futures_like::*;
    use agent_trace::*;
    use tracing::field::*;
    use tracing::instrument::*;

    #[test]
    fn glob_imports_leave_every_call_unambiguous() {
        let tracer = AgentStepTracer::new();
        let mut span = tracer.start_span("globbed");
        span.set_attribute("address", display_value(&std::net::Ipv4Addr::LOCALHOST));
        let captured: InContext<_> = async {}.in_current_context();
        let instrumented: Instrumented<_> = async {}.in_current_span();
        let dispatched: WithDispatch<_> = async {}.with_current_subscriber();
        super::run(captured);
        super::run(instrumented);
        super::run(dispatched);
        super::run(async {}.fuse());
        // `tracing::field::display` is still `tracing`'s.
        let _: DisplayValue<&str> = display("text");
        span.end();
    }
}
