//! `baggage`: any text, as one header value or as several headers (one per
//! line). Whatever parses must stay within the limits and write back to a form
//! that parses equal.
#![no_main]

use agent_trace_propagation::{Baggage, MAX_BAGGAGE_LEN, MAX_BAGGAGE_MEMBERS};
use libfuzzer_sys::fuzz_target;

fn check(baggage: &Baggage) {
    let written = baggage.to_string();
    assert!(written.len() <= MAX_BAGGAGE_LEN);
    assert!(baggage.len() <= MAX_BAGGAGE_MEMBERS);
    let again: Baggage = written.parse().expect("written baggage parses");
    assert_eq!(&again, baggage);
    assert_eq!(again.to_string(), written);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(baggage) = text.parse::<Baggage>() {
        check(&baggage);
    }
    let headers: Vec<(&str, &str)> = text.lines().map(|line| ("baggage", line)).collect();
    if let Ok(baggage) = Baggage::from_headers(&headers) {
        check(&baggage);
    }
});
