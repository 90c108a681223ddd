//! Zipkin B3 is read from the single `b3` header or the `X-B3-*` headers, the
//! single one first, and written in the configured encoding.

use agent_trace_propagation::{
    B3, B3Encoding, B3Propagator, B3Sampling, PropagationContext, PropagationError, SpanContext,
    SpanId, TextMapPropagator, TraceId,
};

const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const SPAN: &str = "e457b5a2e4d86bd1";
const PARENT: &str = "05e3ac9a4f6e3b90";

fn context(sampling: Option<B3Sampling>, parent: Option<&str>) -> B3 {
    B3::Context {
        trace_id: TraceId::from_hex(TRACE).unwrap(),
        span_id: SpanId::from_hex(SPAN).unwrap(),
        sampling,
        parent_span_id: parent.map(|p| SpanId::from_hex(p).unwrap()),
    }
}

#[test]
fn multiple_headers_carry_ids_sampling_and_parent() {
    let headers = [
        ("X-B3-TraceId", TRACE),
        ("X-B3-ParentSpanId", PARENT),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Sampled", "1"),
    ];
    assert_eq!(
        B3::from_multi(&headers),
        Ok(Some(context(Some(B3Sampling::Accept), Some(PARENT))))
    );
}

#[test]
fn debug_flag_implies_accept_and_overrides_sampled() {
    let headers = [
        ("X-B3-TraceId", TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Sampled", "0"),
        ("X-B3-Flags", "1"),
    ];
    let b3 = B3::from_multi(&headers).unwrap().unwrap();
    assert_eq!(b3, context(Some(B3Sampling::Debug), None));
    assert!(b3.to_span_context().unwrap().is_sampled());

    // Written back, debug is the flags header alone.
    let mut out: Vec<(String, String)> = Vec::new();
    b3.inject_multi(&mut out);
    assert!(out.contains(&("x-b3-flags".to_owned(), "1".to_owned())));
    assert!(!out.iter().any(|(k, _)| k == "x-b3-sampled"));
}

#[test]
fn legacy_true_and_false_are_accepted_when_reading() {
    for (value, sampling) in [("true", B3Sampling::Accept), ("false", B3Sampling::Deny)] {
        let headers = [
            ("X-B3-TraceId", TRACE),
            ("X-B3-SpanId", SPAN),
            ("X-B3-Sampled", value),
        ];
        assert_eq!(
            B3::from_multi(&headers),
            Ok(Some(context(Some(sampling), None)))
        );
    }
    let headers = [
        ("X-B3-TraceId", TRACE),
        ("X-B3-SpanId", SPAN),
        ("X-B3-Sampled", "yes"),
    ];
    assert!(matches!(
        B3::from_multi(&headers),
        Err(PropagationError::InvalidB3Sampling {
            what: "X-B3-Sampled",
            ..
        })
    ));
}

#[test]
fn absent_sampling_defers_the_decision() {
    let b3: B3 = format!("{TRACE}-{SPAN}").parse().unwrap();
    assert_eq!(b3, context(None, None));
    assert!(!b3.to_span_context().unwrap().is_sampled());
}

#[test]
fn a_decision_can_travel_without_ids() {
    let propagator = B3Propagator::default();
    assert_eq!(
        propagator.extract_b3(&[("b3", "0")]),
        Ok(Some(B3::SamplingOnly(B3Sampling::Deny)))
    );
    assert_eq!(
        propagator.extract_b3(&[("X-B3-Sampled", "0")]),
        Ok(Some(B3::SamplingOnly(B3Sampling::Deny)))
    );
    // The shared context has nothing to hold it: no span context.
    assert!(propagator.extract(&[("b3", "0")]).unwrap().is_empty());
}

#[test]
fn ids_must_come_together() {
    assert_eq!(
        B3::from_multi(&[("X-B3-TraceId", TRACE)]),
        Err(PropagationError::MissingHeader {
            name: "X-B3-SpanId"
        })
    );
    assert_eq!(
        B3::from_multi(&[("X-B3-SpanId", SPAN)]),
        Err(PropagationError::MissingHeader {
            name: "X-B3-TraceId"
        })
    );
    assert_eq!(
        B3::from_multi(&[("X-B3-ParentSpanId", PARENT)]),
        Err(PropagationError::MissingHeader {
            name: "X-B3-TraceId"
        })
    );
    let none: [(&str, &str); 0] = [];
    assert_eq!(B3::from_multi(&none), Ok(None));
}

#[test]
fn the_single_header_takes_precedence() {
    let other_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let headers = [
        ("X-B3-TraceId", other_trace),
        ("X-B3-SpanId", SPAN),
        ("b3", &*format!("{TRACE}-{SPAN}-1")),
    ];
    let cx = B3Propagator::default().extract(&headers).unwrap();
    assert_eq!(cx.span_context.unwrap().trace_id.to_string(), TRACE);

    // An invalid single header falls back to the multiple headers...
    let headers = [
        ("X-B3-TraceId", other_trace),
        ("X-B3-SpanId", SPAN),
        ("b3", "garbage"),
    ];
    let cx = B3Propagator::default().extract(&headers).unwrap();
    assert_eq!(cx.span_context.unwrap().trace_id.to_string(), other_trace);

    // ...and so does a decision-only one, when ids are there.
    let headers = [
        ("X-B3-TraceId", other_trace),
        ("X-B3-SpanId", SPAN),
        ("b3", "1"),
    ];
    let cx = B3Propagator::default().extract(&headers).unwrap();
    assert_eq!(cx.span_context.unwrap().trace_id.to_string(), other_trace);

    // With both invalid, the single header's error is reported.
    let headers = [
        ("X-B3-TraceId", "x"),
        ("X-B3-SpanId", SPAN),
        ("b3", "garbage"),
    ];
    assert!(matches!(
        B3Propagator::default().extract(&headers),
        Err(PropagationError::InvalidB3 { .. })
    ));
}

#[test]
fn sixty_four_bit_trace_ids_are_padded() {
    let headers = [("X-B3-TraceId", "a3ce929d0e0e4736"), ("X-B3-SpanId", SPAN)];
    let cx = B3Propagator::default().extract(&headers).unwrap();
    let span = cx.span_context.unwrap();
    assert_eq!(
        span.trace_id.to_string(),
        "0000000000000000a3ce929d0e0e4736"
    );
    // Written back in W3C form, the id is the same 128-bit value.
    assert_eq!(
        span.to_traceparent(),
        format!("00-0000000000000000a3ce929d0e0e4736-{SPAN}-00")
    );
}

#[test]
fn each_encoding_writes_its_headers() {
    let span = SpanContext::from_traceparent(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
    let cx = PropagationContext::from(span);
    let written = |encoding| {
        let mut out: Vec<(String, String)> = Vec::new();
        B3Propagator::new(encoding).inject(&cx, &mut out);
        out
    };
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        written(B3Encoding::SingleHeader),
        vec![pair("b3", &format!("{TRACE}-{SPAN}-1"))]
    );
    let multi = vec![
        pair("x-b3-traceid", TRACE),
        pair("x-b3-spanid", SPAN),
        pair("x-b3-sampled", "1"),
    ];
    assert_eq!(written(B3Encoding::MultiHeader), multi);
    assert_eq!(B3Propagator::default().encoding(), B3Encoding::MultiHeader);
    let mut both = vec![pair("b3", &format!("{TRACE}-{SPAN}-1"))];
    both.extend(multi);
    assert_eq!(written(B3Encoding::SingleAndMultiHeader), both);
    // Nothing to write without a span context.
    let mut out: Vec<(String, String)> = Vec::new();
    B3Propagator::default().inject(&PropagationContext::default(), &mut out);
    assert!(out.is_empty());
}
