//! `traceparent`: any text, as one header or as several `traceparent` and
//! `tracestate` headers (one per line). Whatever parses must write back to a
//! form that parses to the same context.
#![no_main]

use agent_trace_propagation::{SpanContext, TraceFlags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cx) = SpanContext::from_traceparent(text) {
        let written = cx.to_traceparent();
        let again = SpanContext::from_traceparent(&written).expect("written traceparent parses");
        assert_eq!(again.trace_id, cx.trace_id);
        assert_eq!(again.span_id, cx.span_id);
        assert_eq!(
            again.trace_flags,
            TraceFlags::new(cx.trace_flags.to_u8() & 0x03)
        );
        assert_eq!(again.to_traceparent(), written);
    }

    // Lines alternate between the two header names.
    let headers: Vec<(&str, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            (
                if i % 2 == 0 {
                    "traceparent"
                } else {
                    "tracestate"
                },
                line,
            )
        })
        .collect();
    if let Ok(cx) = SpanContext::from_headers(&headers) {
        let again = SpanContext::from_headers(&cx.to_headers()).expect("written headers parse");
        assert_eq!(again.trace_id, cx.trace_id);
        assert_eq!(again.span_id, cx.span_id);
        assert_eq!(again.to_headers(), cx.to_headers());
    }
});
