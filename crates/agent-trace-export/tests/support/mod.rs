//! A known trace, built by the real tracer, for the exporter tests; and a
//! collecting processor.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agent_trace_core::{
    AgentStepTracer, FinishedSpan, KeyValue, SpanContext, SpanKind, SpanLimits, SpanProcessor,
    Status, Value,
};

/// Keeps every finished span.
#[derive(Debug, Default, Clone)]
pub(crate) struct Collect(pub(crate) Arc<Mutex<Vec<FinishedSpan>>>);

impl SpanProcessor for Collect {
    fn on_end(&self, span: FinishedSpan) {
        self.0.lock().unwrap().push(span);
    }
}

/// The spans of one agent request, and the contexts they refer to.
#[derive(Debug)]
pub(crate) struct KnownTrace {
    /// In end order: `tool_call`, `llm_call`, `POST /chat`.
    pub(crate) spans: Vec<FinishedSpan>,
    /// The caller's context the server span continues.
    pub(crate) remote: SpanContext,
    /// The context `llm_call` links to.
    pub(crate) linked: SpanContext,
}

impl KnownTrace {
    /// The client span.
    pub(crate) fn client(&self) -> &FinishedSpan {
        self.spans.iter().find(|s| s.name == "llm_call").unwrap()
    }
}

/// A server span continuing a remote caller (with `tracestate`), a client
/// LLM call with every attribute type (one attribute over the limit), an
/// event and a link, and an internal tool call that fails.
pub(crate) fn known_trace() -> KnownTrace {
    let collect = Collect::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(collect.clone()))
        .span_limits(SpanLimits {
            max_attributes_per_span: 5,
            ..SpanLimits::default()
        })
        .without_store()
        .build();
    let headers = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "vendor=abc".to_owned()),
    ]);
    let remote = SpanContext::from_headers(&headers).unwrap();
    let linked_headers = HashMap::from([(
        "traceparent".to_owned(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
    )]);
    let linked = SpanContext::from_headers(&linked_headers).unwrap();

    let server = tracer.continue_trace(&remote, "POST /chat");
    {
        let mut llm = tracer
            .span_builder("llm_call")
            .parent(&server)
            .kind(SpanKind::Client)
            .link(linked.clone(), [KeyValue::new("reason", "retry_of")])
            .start();
        llm.set_attribute("gen_ai.request.model", "gpt-4");
        llm.set_attribute("gen_ai.usage.input_tokens", 150);
        llm.set_attribute("temperature", 0.7);
        llm.set_attribute("cache_hit", false);
        llm.set_attribute(
            "stop",
            Value::from(vec!["\n\n".to_owned(), "END".to_owned()]),
        );
        // The sixth attribute is over the limit of five: dropped, counted.
        llm.set_attribute("over_the_limit", true);
        llm.add_event("first_token", [KeyValue::new("chunk", 1)]);
        {
            let mut tool = tracer.span_builder("tool_call").parent(&llm).start();
            tool.set_attribute("tool", "web_search");
            tool.record_exception(&std::io::Error::other("search backend down"));
        }
        llm.set_status(Status::Ok);
    }
    drop(server);
    let spans = collect.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 3);
    KnownTrace {
        spans,
        remote,
        linked,
    }
}
