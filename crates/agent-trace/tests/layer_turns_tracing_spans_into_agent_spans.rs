//! `AgentTraceLayer`: `#[instrument]` and `info_span!` spans become agent
//! spans with the right parentage (sync, async, spawned tasks, and mixed
//! with the tracer's own spans), typed attributes, events, status and
//! recorded latency; `SpanExt` propagates.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::sync::Arc;

use agent_trace::propagation::SpanContext;
use agent_trace::{
    AgentStepTracer, AgentTraceLayer, FinishedSpan, LatencyMetrics, SpanExt, SpanKind, Status,
    Value,
};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt;

mod support;

use support::{Collector, collecting_tracer};

struct Setup {
    tracer: AgentStepTracer,
    spans: Arc<Collector>,
    latencies: Arc<LatencyMetrics>,
    dispatch: tracing::Dispatch,
}

fn setup() -> Setup {
    let (tracer, spans) = collecting_tracer();
    let latencies = Arc::new(LatencyMetrics::new());
    let layer = AgentTraceLayer::new(tracer.clone()).with_latency_metrics(latencies.clone());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    Setup {
        tracer,
        spans,
        latencies,
        dispatch,
    }
}

impl Setup {
    fn span(&self, name: &str) -> FinishedSpan {
        self.spans.named(name)
    }

    fn count(&self) -> usize {
        self.spans.len()
    }
}

#[derive(Debug)]
struct Weather;

#[tracing::instrument(fields(tool = "web_search", attempt = 1_i64))]
fn tool_call(query: &str) -> usize {
    tracing::info!(results = 3_i64, cached = false, "search_done");
    query.len()
}

#[tracing::instrument(skip_all, fields(model = "gpt-4", tokens = tracing::field::Empty))]
fn llm_call() {
    tool_call("weather in Paris");
    tracing::Span::current().record("tokens", 150_i64);
}

#[tracing::instrument(err)]
fn failing_step() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("rate limited"))
}

#[test]
fn instrumented_functions_nest_with_typed_attributes_and_events() {
    let s = setup();
    tracing::dispatcher::with_default(&s.dispatch, || {
        let task = tracing::info_span!("agent_task", agent = ?Weather, temperature = 0.7);
        let _e = task.enter();
        llm_call();
    });
    assert_eq!(s.count(), 3);
    let (task, llm, tool) = (
        s.span("agent_task"),
        s.span("llm_call"),
        s.span("tool_call"),
    );
    // Parentage over three levels, one trace.
    assert_eq!(task.parent_span_id, None);
    assert_eq!(llm.parent_span_id, Some(task.context.span_id));
    assert_eq!(tool.parent_span_id, Some(llm.context.span_id));
    assert_eq!(llm.context.trace_id, task.context.trace_id);
    assert_eq!(tool.context.trace_id, task.context.trace_id);
    // Typed attributes, including a Debug value and a later `record`.
    assert_eq!(task.attribute("agent"), Some(&Value::from("Weather")));
    assert_eq!(task.attribute("temperature"), Some(&Value::F64(0.7)));
    assert_eq!(tool.attribute("tool"), Some(&Value::from("web_search")));
    assert_eq!(tool.attribute("attempt"), Some(&Value::I64(1)));
    assert_eq!(
        tool.attribute("query"),
        Some(&Value::from("weather in Paris"))
    );
    assert_eq!(llm.attribute("model"), Some(&Value::from("gpt-4")));
    assert_eq!(llm.attribute("tokens"), Some(&Value::I64(150)));
    // The event, named by its message, with its fields and level.
    let event = &tool.events[0];
    assert_eq!(event.name, "search_done");
    let attr = |k: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(attr("results"), Some(Value::I64(3)));
    assert_eq!(attr("cached"), Some(Value::Bool(false)));
    assert_eq!(attr("level"), Some(Value::from("INFO")));
    // End is never before start; children end before their parents.
    assert!(tool.end_time <= llm.end_time && llm.end_time <= task.end_time);
    assert!(tool.start_time >= llm.start_time);
}

#[test]
fn errors_set_status_and_record_an_exception() {
    let s = setup();
    tracing::dispatcher::with_default(&s.dispatch, || {
        let _ = failing_step();
        let step = tracing::info_span!("manual");
        let _e = step.enter();
        tracing::error!(code = 429_i64, "provider refused");
    });
    let failing = s.span("failing_step");
    assert_eq!(failing.status, Status::error("rate limited"));
    let exception = failing
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap();
    assert!(exception.attributes.iter().any(
        |kv| kv.key.as_str() == "exception.message" && kv.value == Value::from("rate limited")
    ));
    let manual = s.span("manual");
    assert_eq!(manual.status, Status::error("provider refused"));
    assert!(manual.events.iter().any(|e| e.name == "provider refused"));
}

#[test]
fn otel_fields_rename_and_set_kind_and_status() {
    let s = setup();
    tracing::dispatcher::with_default(&s.dispatch, || {
        let span = tracing::info_span!(
            "request",
            otel.name = "chat gpt-4",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        let _e = span.enter();
        span.record("otel.status_code", "error");
        span.record("otel.status_message", "timeout");
    });
    let span = s.span("chat gpt-4");
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(span.status, Status::error("timeout"));
    // The convention fields are not attributes.
    assert!(span.attribute("otel.name").is_none());
    assert!(span.attribute("otel.kind").is_none());
}

#[test]
fn durations_are_recorded_as_latencies_under_the_span_name() {
    let s = setup();
    tracing::dispatcher::with_default(&s.dispatch, || {
        for _ in 0..5 {
            tool_call("q");
        }
    });
    let stats = s.latencies.stats("tool_call", None).unwrap();
    assert_eq!(stats.count, 5);
    // Each latency is exactly its span's recorded duration.
    let durations: Vec<f64> = s
        .spans
        .spans()
        .iter()
        .map(|sp| sp.duration().as_secs_f64())
        .collect();
    let longest = durations.iter().copied().fold(0.0, f64::max);
    let shortest = durations.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(stats.max, longest);
    assert_eq!(stats.min, shortest);
}

#[test]
fn tracer_spans_and_instrumented_spans_interleave_into_one_tree() {
    let s = setup();
    tracing::dispatcher::with_default(&s.dispatch, || {
        let root = s.tracer.start_trace("workflow").entered();
        // An instrumented function under the tracer's span...
        let step = tracing::info_span!("plan");
        let _e = step.enter();
        // ...and a tracer span under the instrumented one.
        s.tracer.in_span("llm_call", |_| {});
        drop(_e);
        drop(step);
        root.end();
    });
    let (root, plan, llm) = (s.span("workflow"), s.span("plan"), s.span("llm_call"));
    assert_eq!(plan.parent_span_id, Some(root.context.span_id));
    assert_eq!(llm.parent_span_id, Some(plan.context.span_id));
    assert_eq!(llm.context.trace_id, root.context.trace_id);
}

#[test]
fn an_instrumented_span_inside_a_tracer_span_inside_one_nests_under_the_innermost() {
    let s = setup();
    tracing::dispatcher::with_default(&s.dispatch, || {
        let plan = tracing::info_span!("plan");
        let _p = plan.enter();
        s.tracer.in_span("chat", |_| {
            tool_call("inside chat");
        });
    });
    let (plan, chat, tool) = (s.span("plan"), s.span("chat"), s.span("tool_call"));
    assert_eq!(chat.parent_span_id, Some(plan.context.span_id));
    assert_eq!(tool.parent_span_id, Some(chat.context.span_id));
}

#[tracing::instrument]
async fn fetch(url: &'static str) -> usize {
    tokio::task::yield_now().await;
    url.len()
}

#[test]
fn async_instrumented_functions_and_spawned_tasks_keep_their_parents() {
    let s = setup();
    // Every worker thread records through this test's subscriber (an
    // application would install it globally instead).
    let for_workers = s.dispatch.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&for_workers));
        })
        .build()
        .unwrap();
    let dispatch = s.dispatch.clone();
    rt.block_on(async move {
        let _default = tracing::dispatcher::set_default(&dispatch);
        let root = tracing::info_span!("research");
        async {
            let a = tokio::spawn(fetch("https://a.example").in_current_span());
            let b = tokio::spawn(fetch("https://bb.example").in_current_span());
            let (a, b) = (a.await.unwrap(), b.await.unwrap());
            assert_eq!(a + b, 35);
        }
        .instrument(root)
        .await;
    });
    drop(rt);
    assert_eq!(s.count(), 3, "research and two fetches");
    let root = s.span("research");
    let fetches: Vec<FinishedSpan> = s
        .spans
        .spans()
        .into_iter()
        .filter(|sp| sp.name == "fetch")
        .collect();
    assert_eq!(fetches.len(), 2);
    for f in fetches {
        assert_eq!(f.parent_span_id, Some(root.context.span_id));
        assert_eq!(f.context.trace_id, root.context.trace_id);
    }
}

#[test]
fn a_remote_parent_is_set_and_the_context_read_for_propagation() {
    let s = setup();
    let headers = HashMap::from([(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]);
    let remote = SpanContext::from_headers(&headers).unwrap();
    let outgoing = tracing::dispatcher::with_default(&s.dispatch, || {
        let server = tracing::info_span!("POST /chat", otel.kind = "server");
        assert!(server.set_parent(&remote));
        let _e = server.enter();
        // Too late once started.
        assert!(!server.set_parent(&remote));
        let call = tracing::info_span!("call tool service", otel.kind = "client");
        call.agent_context().unwrap().to_headers()
    });
    let server = s.span("POST /chat");
    assert_eq!(server.context.trace_id, remote.trace_id);
    assert_eq!(server.parent_span_id, Some(remote.span_id));
    assert!(server.parent_is_remote);
    let call = s.span("call tool service");
    assert_eq!(call.parent_span_id, Some(server.context.span_id));
    assert!(outgoing["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(outgoing["traceparent"].contains(&call.context.span_id.to_string()));
}
