//! With the `http` feature, `http::HeaderMap` is an injector and an extractor,
//! and repeated header lines are all seen.
#![cfg(feature = "http")]

use agent_trace_propagation::{
    Baggage, BaggagePropagator, CompositePropagator, Extractor, PropagationError, SpanContext,
    TextMapPropagator, TraceContextPropagator,
};
use http::{HeaderMap, HeaderValue};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn repeated_tracestate_lines_are_combined() {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.append("tracestate", HeaderValue::from_static("foo=1,bar=2"));
    headers.append("TraceState", HeaderValue::from_static("rojo=1"));
    let cx = SpanContext::from_headers(&headers).unwrap();
    assert_eq!(cx.trace_state.to_string(), "foo=1,bar=2,rojo=1");
}

#[test]
fn repeated_traceparent_lines_are_invalid() {
    let mut headers = HeaderMap::new();
    headers.append("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.append("traceparent", HeaderValue::from_static(TRACEPARENT));
    assert_eq!(
        SpanContext::from_headers(&headers),
        Err(PropagationError::DuplicateHeader {
            name: "traceparent"
        })
    );
}

#[test]
fn lookups_ignore_case() {
    let mut headers = HeaderMap::new();
    headers.insert("baggage", HeaderValue::from_static("a=1"));
    assert_eq!(Extractor::get(&headers, "BaGgAgE"), Some("a=1"));
    assert_eq!(Extractor::keys(&headers), vec!["baggage"]);
}

#[test]
fn non_ascii_values_are_rejected_by_the_parser_not_skipped() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        HeaderValue::from_bytes(
            "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01".as_bytes(),
        )
        .unwrap(),
    );
    assert!(matches!(
        SpanContext::from_headers(&headers),
        Err(PropagationError::InvalidLength { .. })
    ));
    // Bytes that are not UTF-8 at all cannot be read as text and are skipped.
    let mut headers = HeaderMap::new();
    headers.insert("baggage", HeaderValue::from_bytes(b"a=\xff").unwrap());
    assert_eq!(Baggage::from_headers(&headers), Ok(Baggage::default()));
}

#[test]
fn injection_replaces_existing_values() {
    let propagator = CompositePropagator::default()
        .with(TraceContextPropagator)
        .with(BaggagePropagator);
    let mut incoming = HeaderMap::new();
    incoming.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    incoming.insert("baggage", HeaderValue::from_static("userId=alice"));
    let cx = propagator.extract(&incoming).unwrap();

    let mut outgoing = HeaderMap::new();
    outgoing.append("traceparent", HeaderValue::from_static("stale"));
    outgoing.append("traceparent", HeaderValue::from_static("stale too"));
    propagator.inject(&cx, &mut outgoing);
    assert_eq!(outgoing, incoming);
}
