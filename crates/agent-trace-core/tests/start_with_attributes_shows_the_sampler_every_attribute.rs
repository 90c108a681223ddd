//! `Span::start_with_attributes` (the entry point of integrations that keep
//! their own attribute list, such as the `tracing` layer): samplers see
//! every attribute as given, and the span keeps one value per key, the last.

use std::sync::{Arc, Mutex};

use agent_trace_core::{
    AgentStepTracer, KeyValue, Parent, Sampler, SamplingDecision, SamplingParams, ShouldSample,
    Span, SpanKind, StartMark, Value,
};

/// Samples everything and keeps the attribute keys it was shown.
#[derive(Debug, Default)]
struct Seen(Mutex<Vec<String>>);

impl ShouldSample for Seen {
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingDecision {
        let mut seen = self.0.lock().unwrap();
        seen.extend(
            params
                .attributes
                .iter()
                .map(|kv| kv.key.as_str().to_owned()),
        );
        SamplingDecision::RecordAndSample
    }
}

#[test]
fn start_with_attributes_shows_the_sampler_every_attribute_and_keeps_the_last_value() {
    let seen = Arc::new(Seen::default());
    let tracer = AgentStepTracer::builder()
        .sampler(Sampler::Custom(seen.clone()))
        .build();
    let parent = tracer.start_trace("parent");
    let mark = StartMark::now();
    let span = Span::start_with_attributes(
        &tracer,
        "child".into(),
        Parent::Span(parent.span_context()),
        SpanKind::Client,
        mark,
        vec![
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
        ],
    );
    assert_eq!(span.trace_id(), parent.trace_id());
    span.end();
    parent.end();
    assert_eq!(*seen.0.lock().unwrap(), ["a", "b", "a"]);
    let trace = tracer.store().unwrap().recent(1).pop().unwrap();
    let child = trace.spans().iter().find(|s| s.name == "child").unwrap();
    let keys: Vec<&str> = child.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(child.attribute("a"), Some(&Value::I64(3)));
    assert_eq!(child.kind, SpanKind::Client);
    // Started at the mark, as the builder's `started_at` would.
    tracer
        .span_builder("reference")
        .started_at(mark)
        .start()
        .end();
    let reference = tracer
        .store()
        .unwrap()
        .recent(2)
        .into_iter()
        .find_map(|t| t.spans().iter().find(|s| s.name == "reference").cloned())
        .expect("the reference span is stored");
    assert_eq!(child.start_time, reference.start_time);
}
