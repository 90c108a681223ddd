//! The examples of the specifications parse exactly as the specifications say.
//!
//! Each file in `tests/data` is a table of header values, taken from the text
//! of W3C Trace Context, W3C Baggage, the W3C test suite and the B3
//! specification, with the outcome each must have. One `check` reads every
//! table; the format is described at the top of `tests/data/traceparent.txt`.

use std::path::Path;

use agent_trace_propagation::{
    B3, B3Propagator, Baggage, BaggagePropagator, PropagationError, SpanContext, TextMapPropagator,
    TraceContextPropagator, TraceState,
};

const VALID_TRACEPARENT: &str = "00-12345678901234567890123456789012-1234567890123456-00";

#[test]
fn traceparent_table() {
    check("traceparent.txt", |headers| {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|h| ("traceparent", &**h)).collect();
        let via_propagator = TraceContextPropagator.extract(&pairs);
        let cx = SpanContext::from_headers(&pairs);
        assert_eq!(
            via_propagator.map(|p| p.span_context),
            cx.clone().map(Some),
            "the propagator and SpanContext::from_headers disagree"
        );
        let cx = cx?;
        assert!(cx.is_remote);
        Ok(format!(
            "{} {} {:02x}",
            cx.trace_id,
            cx.span_id,
            cx.trace_flags.to_u8()
        ))
    });
}

#[test]
fn tracestate_table() {
    check("tracestate.txt", |headers| {
        let mut pairs = vec![("traceparent", VALID_TRACEPARENT)];
        pairs.extend(headers.iter().map(|h| ("tracestate", &**h)));
        let direct = TraceState::from_headers(&pairs);
        // Whatever the tracestate, the traceparent is used; an invalid
        // tracestate is dropped as a whole.
        let cx = TraceContextPropagator
            .extract(&pairs)
            .expect("the traceparent is valid")
            .span_context
            .expect("a traceparent is present");
        assert_eq!(cx.trace_id.to_string(), "12345678901234567890123456789012");
        assert_eq!(cx.trace_state, direct.clone().unwrap_or_default());
        direct.map(|state| state.to_string())
    });
}

#[test]
fn baggage_table() {
    check("baggage.txt", |headers| {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|h| ("baggage", &**h)).collect();
        let direct = Baggage::from_headers(&pairs);
        assert_eq!(
            BaggagePropagator.extract(&pairs).map(|cx| cx.baggage),
            direct.clone()
        );
        direct.map(|baggage| baggage.to_string())
    });
}

#[test]
fn b3_single_header_table() {
    check("b3.txt", |headers| {
        let [header] = headers else {
            panic!("one b3 header per line")
        };
        let direct = header.parse::<B3>();
        assert_eq!(
            B3Propagator::default().extract_b3(&[("b3", &**header)]),
            direct.clone().map(Some)
        );
        direct.map(|b3| b3.to_string())
    });
}

/// Runs every line of `tests/data/{file}` through `codec`, which returns the
/// canonical text of what it read, and reports all mismatches at once.
fn check(file: &str, codec: impl Fn(&[String]) -> Result<String, PropagationError>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("readable table");
    let mut cases = 0;
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = split_fields(line);
        let (expect, headers) = fields.split_first().expect("one field at least");
        let expect = unescape(expect.trim_matches(' '));
        let headers: Vec<String> = headers
            .iter()
            .map(|h| unescape(h.trim_matches(' ')))
            .collect();
        assert!(
            !headers.is_empty() || expect.is_empty(),
            "{file}:{}: no `|` before the headers",
            index + 1
        );
        cases += 1;
        let got = codec(&headers);
        let matches = match (&got, expect.split_once(' ')) {
            (Ok(canonical), _) if expect == "ok" => canonical.is_empty(),
            (Ok(canonical), Some(("ok", want))) => canonical == want,
            (Err(e), Some(("err", kind))) => variant_name(e) == kind,
            _ => false,
        };
        if !matches {
            failures.push(format!(
                "{file}:{}: expected `{}`, got {got:?}",
                index + 1,
                short(&expect)
            ));
        }
    }
    assert!(cases > 0, "{file} has no cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Splits a line on `|` not preceded by a backslash.
fn split_fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' => {
                fields.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(&line[start..]);
    fields
}

/// Expands `\t`, `\\`, `\|`, `\xHH` and `\{TEXT*N}`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('|') => out.push('|'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let code = u32::from_str_radix(&hex, 16).expect("\\xHH");
                out.push(char::from_u32(code).expect("a character"));
            }
            Some('{') => {
                let body: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let (text, times) = body.rsplit_once('*').expect("\\{TEXT*N}");
                out.push_str(&text.repeat(times.parse().expect("a count")));
            }
            other => panic!("unknown escape \\{other:?} in {s:?}"),
        }
    }
    out
}

/// `InvalidHex { .. }` → `InvalidHex`.
fn variant_name(e: &PropagationError) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

fn short(s: &str) -> String {
    if s.len() <= 120 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(120).collect::<String>())
    }
}
