//! No input makes a parser panic, and whatever a parser accepts it writes
//! back in a form that parses to the same value. (The fuzz targets under
//! `fuzz/` check the same properties with coverage guidance.)

use agent_trace_propagation::{
    B3, B3Propagator, Baggage, BaggagePropagator, CompositePropagator, Extractor, SpanContext,
    TextMapPropagator, TraceContextPropagator, TraceFlags, TraceState,
};
use proptest::prelude::*;

/// Text that is mostly made of the characters the formats use, so that the
/// parsers get past their first checks, with some arbitrary characters.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-fA-F\\-]{0,70}",
        "(0|1|d|[0-9a-f]{16}|[0-9a-f]{32})(-(0|1|d|[0-9a-f]{16}|[0-9a-f]{32}|x)){0,4}",
        "(00|cc|ff)-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.{0,5}|.)?",
        "([a-z0-9@_*/ \\t-]{0,6}=[ -~]{0,6},?){0,6}",
        "([!-~ \\t]{0,6}(=|;|,|%[0-9a-fA-F]{0,2})){0,12}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("traceparent"),
        Just("TraceState"),
        Just("baggage"),
        Just("b3"),
        Just("X-B3-TraceId"),
        Just("x-b3-spanid"),
        Just("X-B3-ParentSpanId"),
        Just("X-B3-Sampled"),
        Just("X-B3-Flags"),
    ];
    prop::collection::vec((name.prop_map(str::to_owned), header_text()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn traceparent(s in header_text()) {
        if let Ok(cx) = SpanContext::from_traceparent(&s) {
            let again = SpanContext::from_traceparent(&cx.to_traceparent()).unwrap();
            prop_assert_eq!(again.trace_id, cx.trace_id);
            prop_assert_eq!(again.span_id, cx.span_id);
            prop_assert_eq!(again.trace_flags, TraceFlags::new(cx.trace_flags.to_u8() & 0x03));
        }
    }

    #[test]
    fn tracestate(s in header_text()) {
        if let Ok(state) = s.parse::<TraceState>() {
            prop_assert_eq!(state.to_string().parse::<TraceState>().unwrap(), state);
        }
    }

    #[test]
    fn baggage(s in header_text()) {
        if let Ok(baggage) = s.parse::<Baggage>() {
            prop_assert_eq!(baggage.to_string().parse::<Baggage>().unwrap(), baggage);
        }
    }

    #[test]
    fn b3_single(s in header_text()) {
        if let Ok(b3) = s.parse::<B3>() {
            prop_assert_eq!(b3.to_string().parse::<B3>().unwrap(), b3);
        }
    }

    #[test]
    fn every_propagator_on_arbitrary_headers(headers in headers()) {
        let propagator = CompositePropagator::default()
            .with(TraceContextPropagator)
            .with(BaggagePropagator)
            .with(B3Propagator::default());
        let _ = propagator.extract(&headers);
        let _ = B3::from_multi(&headers);
        let _ = B3Propagator::default().extract_b3(&headers);
        let _ = headers.keys();
        if let Ok(cx) = propagator.extract(&headers) {
            let mut out: Vec<(String, String)> = Vec::new();
            propagator.inject(&cx, &mut out);
            let again = propagator.extract(&out).unwrap();
            prop_assert_eq!(again.baggage, cx.baggage);
            prop_assert_eq!(again.span_context.is_some(), cx.span_context.is_some());
        }
    }
}
