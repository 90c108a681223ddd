//! A `tracestate` over 512 characters is truncated when written, by the
//! recommendation's rule: whole entries only, entries longer than 128
//! characters first, then entries from the right end.

use agent_trace_propagation::{SpanContext, TraceState};

const TRACEPARENT: &str = "00-12345678901234567890123456789012-1234567890123456-01";

fn written_tracestate(state: &str) -> Option<String> {
    let cx = SpanContext::from_traceparent(TRACEPARENT)
        .unwrap()
        .with_trace_state(state.parse::<TraceState>().unwrap());
    cx.to_headers().remove("tracestate")
}

#[test]
fn exactly_512_characters_are_kept() {
    // 16 entries of 31 characters and 16 commas... 16 * 31 + 15 = 511, plus
    // one more character in the last value makes 512.
    let mut members: Vec<String> = (0..16)
        .map(|i| format!("k{i:02}={}", "v".repeat(27)))
        .collect();
    members[15].push('v');
    let state = members.join(",");
    assert_eq!(state.len(), 512);
    assert_eq!(written_tracestate(&state).as_deref(), Some(state.as_str()));
}

#[test]
fn large_entries_are_dropped_before_small_ones() {
    let large = format!("large={}", "x".repeat(200));
    let small: Vec<String> = (0..12)
        .map(|i| format!("s{i:02}={}", "y".repeat(20)))
        .collect();
    // large at the front: it still goes first, not the small ones at the end.
    let state = format!("{large},{},large2={}", small.join(","), "z".repeat(100));
    assert!(state.len() > 512);
    let written = written_tracestate(&state).unwrap();
    assert!(written.len() <= 512);
    assert!(!written.contains("large="), "{written}");
    // The 101-character entry is not large (128 is the threshold) and fits.
    assert!(written.starts_with("s00="));
    assert!(written.ends_with(&format!("large2={}", "z".repeat(100))));
}

#[test]
fn then_entries_are_dropped_from_the_right() {
    let members: Vec<String> = (0..32)
        .map(|i| format!("k{i:02}={}", "v".repeat(30)))
        .collect();
    let written = written_tracestate(&members.join(",")).unwrap();
    // 34 characters per entry plus a comma: 15 entries make 524, 14 make 489.
    assert_eq!(written, members[..14].join(","));
}

#[test]
fn a_single_entry_too_large_for_the_header_is_not_sent() {
    let state = format!("{}={}", "k".repeat(256), "v".repeat(256));
    assert_eq!(written_tracestate(&state), None);
}
