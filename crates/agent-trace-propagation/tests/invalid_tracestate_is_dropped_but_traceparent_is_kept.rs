//! W3C Trace Context's processing model: a bad `tracestate` is dropped while
//! its `traceparent` is kept, a `tracestate` is never used without a valid
//! `traceparent`, and a bad or repeated `traceparent` yields no context.

use agent_trace_propagation::{
    PropagationError, SpanContext, TextMapPropagator, TraceContextPropagator, TraceFlags,
};

const TRACEPARENT: &str = "00-12345678901234567890123456789012-1234567890123456-01";

#[test]
fn a_bad_tracestate_is_dropped_and_the_traceparent_kept() {
    for state in [
        "FOO=1",
        "foo=",
        "@foo=1,bar=2",
        "foo=1,foo=",
        &format!("foo=1,{}=1", "z".repeat(257)),
    ] {
        let headers = [("traceparent", TRACEPARENT), ("tracestate", state)];
        let cx = TraceContextPropagator
            .extract(&headers)
            .unwrap()
            .span_context
            .unwrap();
        assert_eq!(cx.trace_id.to_string(), "12345678901234567890123456789012");
        assert!(cx.trace_state.is_empty(), "{state}");
        assert!(!cx.to_headers().contains_key("tracestate"));
    }
}

#[test]
fn a_repeated_tracestate_key_keeps_the_state_and_its_first_member() {
    // test_tracestate_duplicated_keys: the tracestate is kept; the later
    // members of a repeated key are discarded.
    let cases: [(&[&str], &str); 4] = [
        (&["foo=1,foo=1"], "foo=1"),
        (&["foo=1,foo=2"], "foo=1"),
        (&["foo=1", "foo=2"], "foo=1"),
        (&["rojo=1,congo=2", "rojo=3,baz=4"], "rojo=1,congo=2,baz=4"),
    ];
    for (states, written) in cases {
        let mut headers = vec![("traceparent", TRACEPARENT)];
        headers.extend(states.iter().map(|s| ("tracestate", *s)));
        let cx = TraceContextPropagator
            .extract(&headers)
            .unwrap()
            .span_context
            .unwrap();
        assert_eq!(cx.trace_id.to_string(), "12345678901234567890123456789012");
        assert_eq!(cx.to_headers()["tracestate"], written, "{states:?}");
    }
}

#[test]
fn keys_with_at_signs_are_kept_unless_one_starts_the_key() {
    // test_tracestate_key_illegal_vendor_format and
    // test_tracestate_key_length_limit.
    let kept = [
        "foo@=1,bar=2",
        "foo@@bar=1,bar=2",
        "foo@bar@baz=1,bar=2",
        "t@vvvvvvvvvvvvvvv=1,bar=2",
    ];
    for state in kept {
        let headers = [("traceparent", TRACEPARENT), ("tracestate", state)];
        let cx = SpanContext::from_headers(&headers).unwrap();
        assert_eq!(cx.trace_state.get("bar"), Some("2"), "{state}");
        assert_eq!(cx.to_headers()["tracestate"], state);
    }
    let headers = [("traceparent", TRACEPARENT), ("tracestate", "@foo=1,bar=2")];
    let cx = SpanContext::from_headers(&headers).unwrap();
    assert_eq!(cx.trace_id.to_string(), "12345678901234567890123456789012");
    assert!(cx.trace_state.is_empty());
}

#[test]
fn a_tracestate_without_a_valid_traceparent_is_never_used() {
    // test_tracestate_included_traceparent_missing
    let headers = [("tracestate", "foo=1,bar=2")];
    let cx = TraceContextPropagator.extract(&headers).unwrap();
    assert!(cx.is_empty());
    assert_eq!(
        SpanContext::from_headers(&headers),
        Err(PropagationError::MissingHeader {
            name: "traceparent"
        })
    );

    let headers = [
        (
            "traceparent",
            "00-00000000000000000000000000000000-1234567890123456-01",
        ),
        ("tracestate", "foo=1"),
    ];
    assert_eq!(
        TraceContextPropagator.extract(&headers),
        Err(PropagationError::AllZero { what: "trace id" })
    );
}

#[test]
fn a_repeated_traceparent_is_invalid() {
    let headers = [("traceparent", TRACEPARENT), ("TraceParent", TRACEPARENT)];
    assert_eq!(
        SpanContext::from_headers(&headers),
        Err(PropagationError::DuplicateHeader {
            name: "traceparent"
        })
    );
}

#[test]
fn errors_say_what_was_wrong() {
    let cases = [
        (
            "00-12345678901234567890123456789012-1234567890123456-01-x",
            "traceparent must be 55 characters long, found 57",
        ),
        (
            "00-1234567890123456789012345678901G-1234567890123456-01",
            "trace id has a character that is not lowercase hex at position 31",
        ),
        (
            "00-12345678901234567890123456789012-0000000000000000-01",
            "parent id is all zeros, which is not a valid identifier",
        ),
        (
            "ff-12345678901234567890123456789012-1234567890123456-01",
            "traceparent version ff is forbidden",
        ),
        (
            "cc-12345678901234567890123456789012-1234567890123456-01.x",
            "traceparent needs '-' at position 55",
        ),
    ];
    for (value, message) in cases {
        let e = SpanContext::from_traceparent(value).unwrap_err();
        assert_eq!(e.to_string(), message);
    }
}

#[test]
fn the_writer_sends_version_00_and_only_known_flags() {
    let received = SpanContext::from_traceparent(
        "cc-12345678901234567890123456789012-1234567890123456-ff-future-fields",
    )
    .unwrap();
    // The application sees the flags as sent...
    assert_eq!(received.trace_flags, TraceFlags::new(0xff));
    assert!(received.trace_flags.is_random());
    // ...and the next hop gets version 00 with the reserved bits cleared.
    assert_eq!(
        received.to_traceparent(),
        "00-12345678901234567890123456789012-1234567890123456-03"
    );
}

#[test]
fn an_empty_tracestate_is_not_sent() {
    let cx = SpanContext::from_traceparent(TRACEPARENT).unwrap();
    let headers = cx.to_headers();
    assert_eq!(headers.len(), 1);
    assert_eq!(headers["traceparent"], TRACEPARENT);
}
