//! Span limits bound attributes, events, links and value lengths, and every
//! refusal is counted on the span.

mod support;

use std::sync::Arc;

use agent_trace_core::{AgentStepTracer, KeyValue, SpanLimits, Value};
use support::Collector;

fn tracer(limits: SpanLimits) -> (AgentStepTracer, Arc<Collector>) {
    support::collecting_tracer_with(|b| b.span_limits(limits))
}

#[test]
fn attributes_over_the_limit_are_dropped_and_counted() {
    let (tracer, spans) = tracer(SpanLimits {
        max_attributes_per_span: 3,
        ..Default::default()
    });
    let mut span = tracer.start_trace("s");
    for i in 0..10 {
        span.set_attribute(format!("k{i}"), i);
    }
    // Replacing an existing key is not a drop, even at the limit.
    span.set_attribute("k0", 100);
    drop(span);
    let s = spans.named("s");
    assert_eq!(s.attributes.len(), 3);
    assert_eq!(s.dropped_attributes_count, 7);
    assert_eq!(s.attribute("k0"), Some(&Value::I64(100)));
    assert_eq!(s.attribute("k3"), None);
}

#[test]
fn builder_attributes_obey_the_same_limit() {
    let (tracer, spans) = tracer(SpanLimits {
        max_attributes_per_span: 2,
        ..Default::default()
    });
    drop(
        tracer
            .trace_builder("s")
            .attributes((0..5).map(|i| KeyValue::new(format!("k{i}"), i)))
            .start(),
    );
    let s = spans.named("s");
    assert_eq!(s.attributes.len(), 2);
    assert_eq!(s.dropped_attributes_count, 3);
}

#[test]
fn events_links_and_their_attributes_are_bounded() {
    let (tracer, spans) = tracer(SpanLimits {
        max_events_per_span: 2,
        max_attributes_per_event: 1,
        max_links_per_span: 1,
        max_attributes_per_link: 1,
        ..Default::default()
    });
    let other = tracer.start_trace("other").context();
    let mut span = tracer.start_trace("s");
    span.add_event("e1", [KeyValue::new("a", 1), KeyValue::new("b", 2)]);
    span.annotate("e2");
    span.annotate("e3");
    span.add_link(
        other.clone(),
        [KeyValue::new("a", 1), KeyValue::new("b", 2)],
    );
    span.add_link(other, []);
    drop(span);
    let s = spans.named("s");
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.dropped_events_count, 1);
    assert_eq!(s.events[0].attributes.len(), 1);
    assert_eq!(s.events[0].dropped_attributes_count, 1);
    assert_eq!(s.links.len(), 1);
    assert_eq!(s.dropped_links_count, 1);
    assert_eq!(s.links[0].dropped_attributes_count, 1);
}

#[test]
fn long_strings_are_cut_on_character_boundaries() {
    let (tracer, spans) = tracer(SpanLimits {
        max_attribute_value_length: Some(5),
        ..Default::default()
    });
    let mut span = tracer
        .trace_builder("s")
        .attribute("at_start", "abcdefgh")
        .start();
    span.set_attribute("prompt", "héllo wörld".to_string()); // é is 2 bytes
    span.set_attribute("list", vec!["abcdefg", "xy"]);
    span.set_attribute("n", 123_456_789);
    span.add_event("e", [KeyValue::new("text", "0123456789")]);
    drop(span);
    let s = spans.named("s");
    assert_eq!(
        s.attribute("at_start").and_then(Value::as_str),
        Some("abcde")
    );
    assert_eq!(s.attribute("prompt").and_then(Value::as_str), Some("héll"));
    assert_eq!(
        s.attribute("list").map(|v| v.to_string()),
        Some("[abcde, xy]".into())
    );
    assert_eq!(s.attribute("n"), Some(&Value::I64(123_456_789)));
    assert_eq!(
        s.events[0].attribute("text").and_then(Value::as_str),
        Some("01234")
    );
    assert_eq!(s.dropped_attributes_count, 0, "truncation is not a drop");
}

#[test]
fn a_repeated_key_in_an_event_keeps_its_first_place_and_last_value() {
    let (tracer, spans) = tracer(SpanLimits {
        max_attributes_per_event: 2,
        ..Default::default()
    });
    let mut span = tracer.start_trace("s");
    span.add_event(
        "e",
        vec![
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
            KeyValue::new("c", 4),
            KeyValue::new("d", 5),
        ],
    );
    drop(span);
    let s = spans.named("s");
    let event = &s.events[0];
    assert_eq!(
        event.attributes,
        [KeyValue::new("a", 3), KeyValue::new("b", 2)]
    );
    // `c` and `d` are over the limit; the repeated `a` is not a drop.
    assert_eq!(event.dropped_attributes_count, 2);
}
