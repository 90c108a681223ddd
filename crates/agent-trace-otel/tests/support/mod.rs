//! What the tests share: one agent-trace tracer behind the API's global
//! provider (the provider and the context observer are per process).

#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;

use agent_trace_core::{AgentStepTracer, FinishedSpan, TraceId};

/// The tracer the global provider records into, with the observer on.
pub fn tracer() -> &'static AgentStepTracer {
    static TRACER: OnceLock<AgentStepTracer> = OnceLock::new();
    TRACER.get_or_init(|| {
        let tracer = AgentStepTracer::new();
        opentelemetry::global::set_tracer_provider(agent_trace_otel::provider(tracer.clone()));
        agent_trace_otel::install_context_observer();
        tracer
    })
}

/// The ended spans of a trace.
pub fn spans(trace_id: TraceId) -> Vec<FinishedSpan> {
    tracer()
        .trace(trace_id)
        .map(|t| t.spans().to_vec())
        .unwrap_or_default()
}

/// The one ended span of `trace_id` called `name`.
pub fn span(trace_id: TraceId, name: &str) -> FinishedSpan {
    let spans = spans(trace_id);
    let mut found = spans.iter().filter(|s| s.name == name);
    let span = found
        .next()
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"));
    assert!(found.next().is_none(), "two spans called {name}");
    span.clone()
}

/// Our trace id of an API span context.
pub fn trace_id_of(cx: &opentelemetry::trace::SpanContext) -> TraceId {
    TraceId::from_bytes(cx.trace_id().to_bytes()).expect("a valid trace id")
}
