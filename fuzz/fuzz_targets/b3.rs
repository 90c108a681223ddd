//! B3: any text as a single `b3` header, and its lines as the `X-B3-*`
//! headers. Whatever parses must write back to a form that parses equal.
#![no_main]

use std::collections::HashMap;

use agent_trace_propagation::{B3, B3Propagator};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "X-B3-TraceId",
    "X-B3-SpanId",
    "X-B3-Sampled",
    "X-B3-ParentSpanId",
    "X-B3-Flags",
    "b3",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(b3) = text.parse::<B3>() {
        let again: B3 = b3.to_string().parse().expect("written b3 parses");
        assert_eq!(again, b3);
    }

    let headers: Vec<(&str, &str)> = NAMES.iter().copied().zip(text.lines()).collect();
    if let Ok(Some(b3)) = B3::from_multi(&headers) {
        let mut written = HashMap::new();
        b3.inject_multi(&mut written);
        assert_eq!(B3::from_multi(&written), Ok(Some(b3)));
    }
    // Whatever the propagator reads, it can read again from what it writes.
    if let Ok(Some(b3)) = B3Propagator::default().extract_b3(&headers) {
        let mut written = HashMap::new();
        b3.inject_multi(&mut written);
        assert_eq!(B3Propagator::default().extract_b3(&written), Ok(Some(b3)));
    }
});
