//! `tracing-opentelemetry`'s `OpenTelemetryLayer` takes the bridge's tracer
//! (0.34 asks only for an `opentelemetry::trace::Tracer` whose spans are
//! `Send + Sync`; the `PreSampledTracer` of earlier versions is gone), so
//! `tracing` spans reach agent-trace through it, nested and with their
//! fields and events.

use agent_trace_core::{AgentStepTracer, Value};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tracing::instrument]
fn llm_call(model: &str, tokens: i64) -> i64 {
    tracing::info!(latency_ms = 180, "first token");
    tokens
}

#[tracing::instrument]
fn agent_step(model: &str) -> i64 {
    llm_call(model, 150)
}

#[test]
fn tracing_spans_reach_agent_trace_through_the_layer() {
    let tracer = AgentStepTracer::new();
    let bridged = agent_trace_otel::provider(tracer.clone()).tracer("tracing");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(bridged));
    tracing::subscriber::with_default(subscriber, || agent_step("gpt-4o"));

    let spans: Vec<_> = tracer
        .store()
        .expect("a store")
        .recent(10)
        .into_iter()
        .flat_map(|t| t.spans().to_vec())
        .collect();
    let step = spans
        .iter()
        .find(|s| s.name == "agent_step")
        .expect("agent_step");
    let call = spans
        .iter()
        .find(|s| s.name == "llm_call")
        .expect("llm_call");
    assert_eq!(call.parent_span_id, Some(step.context.span_id));
    assert_eq!(call.context.trace_id, step.context.trace_id);
    assert_eq!(call.attribute("tokens"), Some(&Value::I64(150)));
    assert_eq!(call.attribute("model"), Some(&Value::from("gpt-4o")));
    assert_eq!(call.events[0].name, "first token");
    assert_eq!(
        call.events[0].attribute("latency_ms"),
        Some(&Value::I64(180))
    );
}
