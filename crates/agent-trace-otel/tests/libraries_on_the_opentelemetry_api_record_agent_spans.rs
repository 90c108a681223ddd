//! A library written only against the `opentelemetry` API, with the bridge
//! installed as the global provider, records agent-trace spans with all it
//! gave: attributes of every type, events, links, status, errors, kind,
//! name changes, scope, start and end times.

mod support;

use std::time::{Duration, SystemTime};

use agent_trace_core::{Array, SpanKind, Status, StringValue, Value};
use opentelemetry::trace::{
    Span as _, SpanKind as OtelKind, Status as OtelStatus, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{
    Array as OtelArray, InstrumentationScope, KeyValue, StringValue as OtelString,
    Value as OtelValue,
};
use support::{span, trace_id_of, tracer};

/// The stand-in library: it sees nothing but the API.
mod vector_db {
    use opentelemetry::global;
    use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
    use opentelemetry::{InstrumentationScope, KeyValue};

    /// Runs a query and returns the span context of its span.
    pub(crate) fn query(rows: i64) -> opentelemetry::trace::SpanContext {
        let scope = InstrumentationScope::builder("vector-db")
            .with_version("1.4.2")
            .with_schema_url("https://opentelemetry.io/schemas/1.38.0")
            .with_attributes([KeyValue::new("vector_db.transport", "grpc")])
            .build();
        let tracer = global::tracer_with_scope(scope);
        let mut span = tracer
            .span_builder("query")
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("db.system", "qdrant")])
            .start(&tracer);
        span.set_attribute(KeyValue::new("db.rows", rows));
        span.add_event("cache_miss", vec![KeyValue::new("shard", 3)]);
        let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "replica timed out");
        span.record_error(&err);
        span.set_status(Status::error("replica timed out"));
        span.update_name("vector_query");
        let cx = span.span_context().clone();
        span.end();
        cx
    }
}

#[test]
fn a_library_on_the_api_records_attributes_events_status_errors_kind_and_scope() {
    tracer();
    let cx = vector_db::query(12);
    let s = span(trace_id_of(&cx), "vector_query");
    assert_eq!(s.context.span_id.to_bytes(), cx.span_id().to_bytes());
    assert_eq!(s.kind, SpanKind::Client);
    assert_eq!(s.attribute("db.system"), Some(&Value::from("qdrant")));
    assert_eq!(s.attribute("db.rows"), Some(&Value::I64(12)));
    // The scope travels beside the attributes, not among them.
    let scope = s.scope.as_deref().expect("the library's scope");
    assert_eq!(scope.name, "vector-db");
    assert_eq!(scope.version, Some(StringValue::from("1.4.2")));
    assert_eq!(
        scope.schema_url,
        Some(StringValue::from("https://opentelemetry.io/schemas/1.38.0"))
    );
    assert_eq!(
        scope.attributes,
        [agent_trace_core::KeyValue::new(
            "vector_db.transport",
            "grpc"
        )]
    );
    assert_eq!(s.attributes.len(), 2, "{:?}", s.attributes);
    assert_eq!(s.events[0].name, "cache_miss");
    assert_eq!(s.events[0].attribute("shard"), Some(&Value::I64(3)));
    assert_eq!(s.events[1].name, "exception");
    assert_eq!(
        s.events[1].attribute("exception.message"),
        Some(&Value::from("replica timed out"))
    );
    assert_eq!(s.status, Status::error("replica timed out"));
}

#[test]
fn every_attribute_value_type_maps_without_loss() {
    let tracer = agent_trace_otel::provider(tracer().clone());
    let lib = opentelemetry::trace::TracerProvider::tracer(&tracer, "types");
    let mut span = lib.start("types");
    let attributes = [
        KeyValue::new("bool", true),
        KeyValue::new("i64", i64::MIN),
        KeyValue::new("f64", 0.1f64),
        KeyValue::new("string", "a longer string than the inline buffer holds"),
        KeyValue::new(
            "bools",
            OtelValue::Array(OtelArray::Bool(vec![true, false])),
        ),
        KeyValue::new(
            "i64s",
            OtelValue::Array(OtelArray::I64(vec![1, -2, i64::MAX])),
        ),
        KeyValue::new(
            "f64s",
            OtelValue::Array(OtelArray::F64(vec![1.5, f64::INFINITY])),
        ),
        KeyValue::new(
            "strings",
            OtelValue::Array(OtelArray::String(vec![
                OtelString::from("stop"),
                OtelString::from("length"),
            ])),
        ),
    ];
    span.set_attributes(attributes);
    let trace_id = trace_id_of(span.span_context());
    span.end();
    let s = support::span(trace_id, "types");
    let expected = [
        ("bool", Value::Bool(true)),
        ("i64", Value::I64(i64::MIN)),
        ("f64", Value::F64(0.1)),
        (
            "string",
            Value::from("a longer string than the inline buffer holds"),
        ),
        ("bools", Value::Array(Array::Bool(vec![true, false].into()))),
        (
            "i64s",
            Value::Array(Array::I64(vec![1, -2, i64::MAX].into())),
        ),
        (
            "f64s",
            Value::Array(Array::F64(vec![1.5, f64::INFINITY].into())),
        ),
        (
            "strings",
            Value::Array(Array::String(
                vec![StringValue::from("stop"), StringValue::from("length")].into(),
            )),
        ),
    ];
    for (key, value) in expected {
        assert_eq!(s.attribute(key), Some(&value), "{key}");
    }
}

#[test]
fn ok_is_final_links_are_kept_and_explicit_times_are_used() {
    let provider = agent_trace_otel::provider(tracer().clone());
    let lib = opentelemetry::trace::TracerProvider::tracer_with_scope(
        &provider,
        InstrumentationScope::builder("times").build(),
    );
    let other = lib.start("other");
    let other_cx = other.span_context().clone();
    // Recent: the store keeps traces by age.
    let start = SystemTime::now() - Duration::from_secs(1);
    let mut span = lib
        .span_builder("timed")
        .with_kind(OtelKind::Consumer)
        .with_start_time(start)
        .with_events(vec![opentelemetry::trace::Event::new(
            "queued",
            start + Duration::from_millis(10),
            vec![KeyValue::new("depth", 4)],
            0,
        )])
        .start(&lib);
    span.add_event_with_timestamp("dequeued", start + Duration::from_millis(120), vec![]);
    span.add_link(other_cx.clone(), vec![KeyValue::new("why", "retry")]);
    span.set_status(OtelStatus::Ok);
    span.set_status(OtelStatus::error("too late"));
    assert!(span.is_recording());
    let trace_id = trace_id_of(span.span_context());
    span.end_with_timestamp(start + Duration::from_millis(250));
    assert!(!span.is_recording());
    let s = support::span(trace_id, "timed");
    assert_eq!(s.kind, SpanKind::Consumer);
    assert_eq!(s.status, Status::Ok);
    assert_eq!(s.start_time, start.into());
    assert_eq!(s.duration(), Duration::from_millis(250));
    assert_eq!(s.links.len(), 1);
    assert_eq!(
        s.links[0].context.span_id.to_bytes(),
        other_cx.span_id().to_bytes()
    );
    // Events keep the times the API gave them.
    let events: Vec<(&str, SystemTime)> = s
        .events
        .iter()
        .map(|e| (e.name.as_str(), SystemTime::from(e.timestamp)))
        .collect();
    assert_eq!(
        events,
        [
            ("queued", start + Duration::from_millis(10)),
            ("dequeued", start + Duration::from_millis(120)),
        ]
    );
    assert_eq!(s.events[0].attribute("depth"), Some(&Value::I64(4)));
    let scope = s.scope.as_deref().expect("the tracer's scope");
    assert_eq!((scope.name.as_str(), &scope.version), ("times", &None));
    drop(other);
}

#[test]
fn a_span_context_of_the_bridge_has_our_ids_flags_and_state() {
    let ours = tracer().start_trace("ours");
    let bridged = agent_trace_otel::OtelSpan::from(ours);
    let cx = bridged.span_context();
    let ours = bridged.agent_span().expect("live").span_context().clone();
    assert_eq!(cx.trace_id().to_bytes(), ours.trace_id.to_bytes());
    assert_eq!(cx.span_id().to_bytes(), ours.span_id.to_bytes());
    assert_eq!(cx.trace_flags().to_u8(), ours.trace_flags.to_u8());
    assert_eq!(cx.is_sampled(), ours.is_sampled());
    assert!(!cx.is_remote());
    // As the API's context's span, it is what `Context::span` gives back.
    let context = opentelemetry::Context::new().with_span(bridged);
    assert_eq!(
        context.span().span_context().span_id().to_bytes(),
        ours.span_id.to_bytes()
    );
}

#[test]
fn a_span_started_with_telemetry_suppressed_records_nothing() {
    tracer();
    let lib = opentelemetry::global::tracer("lib");
    let suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
    let span = lib.start("export_request");
    assert!(!span.is_recording());
    drop(suppressed);
    assert!(lib.start("after").is_recording());
}
