//! Window strings and quantiles: any text as a `Window` (`"1h"`, `"7d"`;
//! `FromStr`, `Window::parse`, `TryFrom<&str>`, the only text parser of
//! agent-trace-metrics), the first 12 bytes as a `Duration` for
//! `Window::new`, and the first 8 bytes (and the text) as an `f64` for
//! `Quantile::new`.
//!
//! Nothing may panic. A window parsed from text is whole seconds, so its
//! `Display` (`"1h"`, `"90s"`: the largest exact unit) parses back to the
//! same window, and writes the same text again; a window made from a whole
//! number of seconds does too. A quantile is accepted exactly when it lies
//! in `0..=1`, and its `Display` reads back as the same number.
#![no_main]

use std::time::Duration;

use agent_trace_metrics::{Quantile, Window};
use libfuzzer_sys::fuzz_target;

fn round_trip(w: Window) {
    let text = w.to_string();
    let again: Window = text
        .parse()
        .unwrap_or_else(|e| panic!("{w:?} written as {text:?} does not parse: {e}"));
    assert_eq!(again, w, "{text:?}");
    assert_eq!(again.to_string(), text);
}

fn check_text(text: &str) {
    let parsed = text.parse::<Window>();
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Window::try_from(text))
    );
    match parsed {
        Ok(w) => {
            // The documented form: digits and one unit letter.
            let (digits, unit) = text.split_at(text.len() - 1);
            assert!(["s", "m", "h", "d"].contains(&unit), "{text:?}");
            assert!(
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
                "{text:?}"
            );
            let d = w.as_duration();
            assert!(
                d > Duration::ZERO && d.subsec_nanos() == 0,
                "{text:?}: {d:?}"
            );
            round_trip(w);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn check_duration(bytes: &[u8]) {
    let mut secs = [0u8; 8];
    let mut nanos = [0u8; 4];
    secs.copy_from_slice(&bytes[..8]);
    nanos.copy_from_slice(&bytes[8..12]);
    let d = Duration::new(
        u64::from_le_bytes(secs),
        u32::from_le_bytes(nanos) % 1_000_000_000,
    );
    match Window::new(d) {
        Ok(w) => {
            assert_eq!(w.as_duration(), d);
            assert_eq!(Window::try_from(d).ok(), Some(w));
            let _ = w.to_string();
            if d.subsec_nanos() == 0 {
                round_trip(w);
            }
        }
        Err(e) => {
            assert!(d.is_zero() || d.as_nanos() > u128::from(u64::MAX), "{d:?}");
            let _ = e.to_string();
        }
    }
}

fn check_quantile(value: f64) {
    match Quantile::new(value) {
        Ok(q) => {
            assert!((0.0..=1.0).contains(&value));
            assert_eq!(q.value().to_bits(), value.to_bits());
            assert_eq!(Quantile::try_from(value).ok(), Some(q));
            let text = q.to_string();
            let again: f64 = text.parse().expect("a quantile is written as a number");
            assert_eq!(Quantile::new(again).ok(), Some(q), "{text:?}");
        }
        Err(e) => {
            assert!(!(0.0..=1.0).contains(&value), "{value:?}");
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 12 {
        check_duration(&data[..12]);
    }
    if data.len() >= 8 {
        let mut bits = [0u8; 8];
        bits.copy_from_slice(&data[..8]);
        check_quantile(f64::from_le_bytes(bits));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
        if let Ok(value) = text.trim().parse::<f64>() {
            check_quantile(value);
        }
    }
});
