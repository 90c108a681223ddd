//! Header names match in any letter case, in every carrier, as W3C Trace
//! Context requires ("Vendors MUST expect the header name in any case") and as
//! HTTP and gRPC define them.

use std::collections::HashMap;

use agent_trace_propagation::{
    B3Propagator, Baggage, Extractor, Injector, SpanContext, TextMapPropagator, TraceState,
};

const TRACEPARENT: &str = "00-12345678901234567890123456789012-1234567890123456-01";

#[test]
fn traceparent_and_tracestate_names_in_any_case() {
    // The spellings of the W3C test suite (test_traceparent_header_name_valid_casing,
    // test_tracestate_header_name_valid_casing).
    for (parent, state) in [
        ("traceparent", "tracestate"),
        ("TraceParent", "TraceState"),
        ("TrAcEpArEnT", "TrAcEsTaTe"),
        ("TRACEPARENT", "TRACESTATE"),
    ] {
        let map = HashMap::from([
            (parent.to_owned(), TRACEPARENT.to_owned()),
            (state.to_owned(), "foo=1".to_owned()),
        ]);
        let list = [(parent, TRACEPARENT), (state, "foo=1")];
        for cx in [
            SpanContext::from_headers(&map).unwrap(),
            SpanContext::from_headers(&list).unwrap(),
        ] {
            assert_eq!(cx.trace_id.to_string(), "12345678901234567890123456789012");
            assert_eq!(cx.trace_state.get("foo"), Some("1"));
        }
    }
}

#[test]
fn other_names_are_not_traceparent() {
    // test_traceparent_header_name, test_tracestate_header_name
    for name in [
        "trace-parent",
        "trace.parent",
        "trace_parent",
        "traceparent2",
    ] {
        let headers = [(name, TRACEPARENT)];
        assert!(SpanContext::from_headers(&headers).is_err(), "{name}");
    }
    let headers = [("traceparent", TRACEPARENT), ("trace-state", "foo=1")];
    assert!(
        SpanContext::from_headers(&headers)
            .unwrap()
            .trace_state
            .is_empty()
    );
}

#[test]
fn spellings_of_one_name_are_one_repeated_header() {
    let list = [("tracestate", "a=1"), ("TraceState", "b=2")];
    assert_eq!(
        TraceState::from_headers(&list).unwrap().to_string(),
        "a=1,b=2"
    );
    let list = [("baggage", "a=1"), ("BAGGAGE", "b=2")];
    assert_eq!(Baggage::from_headers(&list).unwrap().len(), 2);
}

#[test]
fn b3_names_in_any_case() {
    let headers = [
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("X-B3-SPANID", "e457b5a2e4d86bd1"),
        ("X-b3-Sampled", "1"),
    ];
    let cx = B3Propagator::default().extract(&headers).unwrap();
    assert!(cx.span_context.unwrap().is_sampled());
    let headers = [("B3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
    assert!(
        B3Propagator::default()
            .extract(&headers)
            .unwrap()
            .span_context
            .is_some()
    );
}

#[test]
fn writers_use_lowercase_names_and_replace_other_spellings() {
    let cx = SpanContext::from_headers(&[("traceparent", TRACEPARENT)]).unwrap();
    let mut map = HashMap::from([("TraceParent".to_owned(), "stale".to_owned())]);
    for (k, v) in cx.to_headers() {
        map.set(&k, v);
    }
    assert_eq!(map.keys().collect::<Vec<_>>(), vec!["traceparent"]);
    assert_eq!(map.get_all("traceparent"), vec![TRACEPARENT]);

    let mut list = vec![
        ("TRACEPARENT".to_owned(), "stale".to_owned()),
        ("traceparent".to_owned(), "stale too".to_owned()),
    ];
    list.set("traceparent", TRACEPARENT.to_owned());
    assert_eq!(
        list,
        vec![("traceparent".to_owned(), TRACEPARENT.to_owned())]
    );
}
