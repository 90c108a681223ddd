//! `tracestate`: any text, as one header value or as several headers (one per
//! line). Whatever parses must write back to a form that parses equal, and the
//! truncated header written for the next hop must parse too.
#![no_main]

use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(state) = text.parse::<TraceState>() {
        let again: TraceState = state
            .to_string()
            .parse()
            .expect("written tracestate parses");
        assert_eq!(again, state);

        let cx = SpanContext::new(
            TraceId::from_u128(1).expect("non-zero"),
            SpanId::from_u64(1).expect("non-zero"),
            TraceFlags::SAMPLED,
        )
        .with_trace_state(state);
        let headers = cx.to_headers();
        if let Some(written) = headers.get("tracestate") {
            assert!(written.len() <= 512);
            written
                .parse::<TraceState>()
                .expect("truncated tracestate parses");
        }
    }

    let headers: Vec<(&str, &str)> = text.lines().map(|line| ("tracestate", line)).collect();
    if let Ok(state) = TraceState::from_headers(&headers) {
        assert_eq!(
            state.to_string().parse::<TraceState>().expect("parses"),
            state
        );
    }
});
