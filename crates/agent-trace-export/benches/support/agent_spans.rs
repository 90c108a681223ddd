//! The batch of agent spans that the `otlp_encode` bench and
//! `cargo xtask perfgate`'s `otlp_encode_per_span` workload (`perf/`, which
//! includes this file) both encode, so that the two measure the same work.

use std::sync::{Arc, Mutex};

use agent_trace_core::{AgentStepTracer, FinishedSpan, KeyValue, SpanKind, SpanProcessor};

/// Spans in the batch.
pub(crate) const BATCH: usize = 512;

/// Keeps the spans it is given.
#[derive(Debug, Default, Clone)]
struct Keep(Arc<Mutex<Vec<FinishedSpan>>>);

impl SpanProcessor for Keep {
    fn on_end(&self, span: FinishedSpan) {
        self.0.lock().expect("not poisoned").push(span);
    }
}

/// [`BATCH`] spans of agent steps: tasks, LLM calls with GenAI attributes
/// and a first-token event, tool calls.
pub(crate) fn agent_spans() -> Vec<FinishedSpan> {
    let keep = Keep::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(keep.clone()))
        .without_store()
        .build();
    while keep.0.lock().expect("not poisoned").len() < BATCH {
        let task = tracer.start_trace("invoke_agent researcher");
        for i in 0..3 {
            let mut llm = tracer
                .span_builder("chat gpt-4o")
                .parent(&task)
                .kind(SpanKind::Client)
                .start();
            llm.set_attribute("gen_ai.operation.name", "chat");
            llm.set_attribute("gen_ai.provider.name", "openai");
            llm.set_attribute("gen_ai.request.model", "gpt-4o");
            llm.set_attribute("gen_ai.usage.input_tokens", 1_200 + i);
            llm.set_attribute("gen_ai.usage.output_tokens", 350 + i);
            llm.set_attribute("gen_ai.request.temperature", 0.2);
            llm.add_event("gen_ai.first_token", [KeyValue::new("chunk", 1)]);
            drop(llm);
            let mut tool = tracer
                .span_builder("execute_tool web_search")
                .parent(&task)
                .start();
            tool.set_attribute("gen_ai.tool.name", "web_search");
            tool.set_attribute("gen_ai.tool.call.id", "call_7f3a");
        }
    }
    let mut spans = keep.0.lock().expect("not poisoned").clone();
    spans.truncate(BATCH);
    spans
}
