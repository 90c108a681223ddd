//! The spans the OTLP encoders' tests encode, shared by the protobuf and
//! JSON encoders' tests so that both are checked against the same edge
//! cases.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use agent_trace_core::{
    AgentStepTracer, Array, Event, FinishedSpan, InstrumentationScope, KeyValue, Link, SpanContext,
    SpanData, SpanId, SpanKind, SpanProcessor, Status, TraceFlags, TraceId, TraceState, Value,
};

#[derive(Debug, Default, Clone)]
struct Keep(Arc<std::sync::Mutex<Vec<FinishedSpan>>>);

impl SpanProcessor for Keep {
    fn on_end(&self, span: FinishedSpan) {
        self.0.lock().expect("not poisoned").push(span);
    }
}

/// The instrumentation scope of a library with every field set.
pub(super) fn library_scope() -> InstrumentationScope {
    InstrumentationScope::new("vector-store-client")
        .with_version("0.4.1")
        .with_schema_url("https://opentelemetry.io/schemas/1.38.0")
        .with_attributes([("escaped \"key\"", "déjà\n")])
}

/// Spans with every kind of field and value our model has: the defaults
/// and the edge cases (empty strings, zero, negative and extreme numbers,
/// NaN and infinities, non-ASCII text, every control character and the
/// texts JSON escapes, remote parents, trace state, times at the epoch and
/// past 2^32 seconds, dropped counts up to `u32::MAX`).
pub(super) fn spans() -> Vec<FinishedSpan> {
    let keep = Keep::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(keep.clone()))
        .without_store()
        .build();
    let remote = SpanContext {
        trace_id: TraceId::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef).expect("non-zero"),
        span_id: SpanId::from_u64(0x1122_3344_5566_7788).expect("non-zero"),
        trace_flags: TraceFlags::SAMPLED,
        // Quotes and backslashes are valid in tracestate values.
        trace_state: TraceState::from_key_value([("vendor", "a\"1\\"), ("other", "x-y")])
            .expect("valid"),
        is_remote: true,
    };
    let every_control: String = (0u8..0x20).map(char::from).collect();
    {
        let root = tracer
            .span_builder("invoke_agent \"researcher\"")
            .parent(&remote)
            .kind(SpanKind::Server)
            .attribute("gen_ai.operation.name", "invoke_agent")
            .attribute("empty", "")
            .attribute("", "empty key")
            .attribute("zero", 0_i64)
            .attribute("negative", -1_i64)
            .attribute("min", i64::MIN)
            .attribute("large", i64::MAX)
            .attribute("yes", true)
            .attribute("no", false)
            .attribute("float", 0.0)
            .attribute("negative zero", -0.0)
            .attribute("pi", -3.25)
            .attribute("tiny", 1e-300)
            .attribute("huge", 1.5e300)
            .attribute("third", 1.0 / 3.0)
            .attribute("big integer", 1e16)
            .attribute("nan", f64::NAN)
            .attribute("infinite", f64::NEG_INFINITY)
            .attribute("unicode", "délai ⏱ ответ 🦀")
            .attribute("controls", every_control.clone())
            .attribute("escapes \\ \" / \u{7f}", "\u{2028}\u{2029}</script>")
            .attribute("long", "x".repeat(300))
            .attribute("strings", vec!["stop", "", "length\n"])
            .attribute(
                "ints",
                Value::Array(Array::I64(vec![0, -7, 1 << 40, i64::MIN].into())),
            )
            .attribute(
                "floats",
                Value::Array(Array::F64(vec![0.5, -0.0, f64::INFINITY].into())),
            )
            .attribute("bools", Value::Array(Array::Bool(vec![true, false].into())))
            .attribute("none", Value::Array(Array::String(Vec::new().into())))
            .link(remote.clone(), [KeyValue::new("link.reason", "retry")])
            .link(
                SpanContext::new(
                    TraceId::from_u128(9).expect("non-zero"),
                    SpanId::from_u64(3).expect("non-zero"),
                    TraceFlags::NONE,
                ),
                [],
            )
            .start();
        let mut chat = tracer
            .span_builder("chat gpt-4o")
            .parent(&root)
            .kind(SpanKind::Client)
            .start();
        chat.set_attribute("gen_ai.usage.input_tokens", 1234_i64);
        chat.add_event("gen_ai.first_chunk", [KeyValue::new("n", 1_i64)]);
        chat.add_event("", []);
        chat.set_status(Status::error("timeout ⏱ \"quoted\"\n"));
        chat.end();
        let mut ok = tracer.span_builder("").parent(&root).start();
        ok.set_status(Status::Ok);
        ok.end();
        let mut empty_error = tracer
            .span_builder("producer")
            .parent(&root)
            .kind(SpanKind::Producer)
            .scope(Arc::new(library_scope()))
            .start();
        empty_error.set_status(Status::error(""));
        empty_error.end();
        tracer
            .span_builder(every_control)
            .kind(SpanKind::Consumer)
            .root()
            .scope(Arc::new(InstrumentationScope::new("tool \"runner\" ⏱")))
            .start()
            .end();
    }
    let mut spans = keep.0.lock().expect("not poisoned").clone();
    let mut data = SpanData::clone(&spans[0]);
    data.start_time = UNIX_EPOCH.into();
    data.end_time = UNIX_EPOCH.into();
    data.dropped_attributes_count = 3;
    data.dropped_events_count = 200;
    data.dropped_links_count = u32::MAX;
    data.events.push(Event {
        name: "at the epoch".into(),
        timestamp: UNIX_EPOCH.into(),
        attributes: vec![KeyValue::new("k", "v")],
        dropped_attributes_count: 5,
    });
    data.links.push(Link {
        context: remote,
        attributes: Vec::new(),
        dropped_attributes_count: 130,
    });
    spans.push(FinishedSpan::new(data));
    let mut late = SpanData::clone(&spans[1]);
    // The producer's scope again, equal but not the same allocation.
    late.scope = Some(Arc::new(library_scope()));
    late.start_time = (UNIX_EPOCH + Duration::from_secs(4_000_000_000)).into();
    late.end_time = late.start_time;
    spans.push(FinishedSpan::new(late));
    spans
}
