//! Price tables: any text, read as TOML (`PriceTable::from_toml`, feature
//! `toml` of `agent-trace`, on in this crate's manifest) and as
//! JSON (`PriceTable::from_json`).
//!
//! A price table is a user's file: parsing it must never panic. What is
//! accepted must hold what the docs promise (a valid currency, prices that
//! are finite and not negative, each entry found by its name and by its
//! name with a date suffix, a cost that is never negative or NaN), and, as
//! "JSON, or the same structure in TOML", a table read from TOML must read
//! back the same from JSON. What is refused must say where: a TOML error's
//! line and column count from 1 and lie within the text.
#![no_main]

use std::fmt::Write as _;

use agent_trace::cost::{CostError, PriceTable, TableFormat, TokenUsage};
use libfuzzer_sys::fuzz_target;

const USAGE: TokenUsage = TokenUsage {
    input: 10_000,
    cache_read_input: 6_000,
    cache_creation_input: 2_000,
    output: 3_000,
    reasoning_output: 1_000,
};

fn check_accepted(table: &PriceTable) {
    let currency = table.currency();
    let code = currency.as_str();
    assert!(
        code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
        "{code:?}"
    );
    assert_eq!(table.iter().count(), table.len());
    assert_eq!(table.is_empty(), table.len() == 0);
    for (provider, model, price) in table.iter() {
        for p in [
            price.input(),
            price.output(),
            price.cached_input(),
            price.cache_write(),
            price.reasoning(),
        ] {
            assert!(p.is_finite() && p >= 0.0, "{provider:?} {model:?}: {p}");
        }
        // The exact name wins over a name without its date suffix.
        assert_eq!(table.get(provider, model), Some(price));
        // (A suffix needs a name before it: `-2024-08-06` alone is a name.)
        if !model.is_empty() {
            let dated = format!("{model}-2024-08-06");
            assert!(table.get(provider, &dated).is_some(), "{dated:?}");
        }
        let cost = table.price(provider, model, &USAGE).expect("priced");
        assert_eq!(cost.currency, currency);
        assert!(cost.amount >= 0.0, "{cost:?}"); // also false for NaN
        let _ = cost.to_string();
    }
    let _ = table.get("", "");
    let _ = table.get("openai", "gpt-4o-2024-08-06");
}

fn check_refused(e: &CostError, text: &str, format: TableFormat) {
    let _ = e.to_string();
    match e {
        CostError::Parse {
            format: f,
            line,
            column,
            field,
            message,
        } => {
            assert_eq!(*f, format);
            // (`field` may be empty: a key `""` is named as it is.)
            let _ = (field, message);
            if format == TableFormat::Toml {
                let lines = text.split('\n').count();
                assert!(*line >= 1 && *line <= lines, "line {line} of {lines}");
                assert!(*column >= 1, "column {column}");
            }
        }
        other => panic!("a parse error is a CostError::Parse, not {other:?}"),
    }
}

/// `text` as a JSON string.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The table as JSON, in the file format of the docs.
fn to_json(table: &PriceTable) -> String {
    let mut out = String::from("{\"currency\":");
    json_string(&mut out, table.currency().as_str());
    if let Some(as_of) = table.as_of() {
        out.push_str(",\"as_of\":");
        json_string(&mut out, as_of);
    }
    if let Some(source) = table.source() {
        out.push_str(",\"source\":");
        json_string(&mut out, source);
    }
    out.push_str(",\"models\":{");
    let mut providers: Vec<&str> = table.iter().map(|(p, _, _)| p).collect();
    providers.sort_unstable();
    providers.dedup();
    for (i, provider) in providers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, provider);
        out.push_str(":{");
        let models = table.iter().filter(|(p, _, _)| p == provider);
        for (j, (_, model, price)) in models.enumerate() {
            if j > 0 {
                out.push(',');
            }
            json_string(&mut out, model);
            // `{:?}` of a finite f64 is a valid JSON number (`2.0`, `1e300`).
            let _ = write!(
                out,
                ":{{\"input\":{:?},\"output\":{:?},\"cached_input\":{:?},\
                 \"cache_write\":{:?},\"reasoning\":{:?}}}",
                price.input(),
                price.output(),
                price.cached_input(),
                price.cache_write(),
                price.reasoning()
            );
        }
        out.push('}');
    }
    out.push_str("}}");
    out
}

/// Equal up to the last bits: serde_json's default float parsing is not
/// always correctly rounded.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-15 * a.abs().max(b.abs()) || (a - b).abs() < 1e-300
}

fn same_table(a: &PriceTable, b: &PriceTable) {
    assert_eq!(a.currency(), b.currency());
    assert_eq!(a.as_of(), b.as_of());
    assert_eq!(a.source(), b.source());
    assert_eq!(a.len(), b.len());
    for (provider, model, pa) in a.iter() {
        let pb = b
            .get(provider, model)
            .unwrap_or_else(|| panic!("{provider:?} {model:?} missing from the JSON table"));
        for (x, y) in [
            (pa.input(), pb.input()),
            (pa.output(), pb.output()),
            (pa.cached_input(), pb.cached_input()),
            (pa.cache_write(), pb.cache_write()),
            (pa.reasoning(), pb.reasoning()),
        ] {
            assert!(close(x, y), "{provider:?} {model:?}: {x} != {y}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match PriceTable::from_toml(text) {
        Ok(table) => {
            check_accepted(&table);
            let json = to_json(&table);
            let again = PriceTable::from_json(&json)
                .unwrap_or_else(|e| panic!("the TOML table as JSON is refused: {e}\n{json}"));
            same_table(&table, &again);
        }
        Err(e) => check_refused(&e, text, TableFormat::Toml),
    }
    match PriceTable::from_json(text) {
        Ok(table) => check_accepted(&table),
        Err(e) => check_refused(&e, text, TableFormat::Json),
    }
});
