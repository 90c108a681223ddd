//! A span with tokens, a provider and a model but no `agent_trace.cost`
//! (recorded by another library, or with pricing off) is priced from the
//! price table in `list`, `diff` and `report`: the built-in table by
//! default, `--prices FILE` for another, `--no-prices` for none. A span's
//! own cost always wins. Expected costs are worked out by hand from the
//! tables' prices per million tokens.

mod support;

use agent_trace_cli::{Pricing, TraceFile, summarize, summarize_with};
use support::{TempDir, agent_trace_in};

/// One trace: an agent task with two LLM calls, one priced when it was
/// made (`agent_trace.cost` 0.25, no currency), one not.
const TRACE: &str = concat!(
    r#"{"resourceSpans":[{"scopeSpans":[{"spans":["#,
    r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"agent_task","#,
    r#""startTimeUnixNano":"1000","endTimeUnixNano":"9000"},"#,
    r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7","#,
    r#""name":"chat gpt-4o","startTimeUnixNano":"2000","endTimeUnixNano":"3000","attributes":["#,
    r#"{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},"#,
    r#"{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"1000000"}},"#,
    r#"{"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"500000"}},"#,
    r#"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"100000"}}]},"#,
    r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b9","parentSpanId":"00f067aa0ba902b7","#,
    r#""name":"chat gpt-4o","startTimeUnixNano":"4000","endTimeUnixNano":"5000","attributes":["#,
    r#"{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},"#,
    r#"{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},"#,
    r#"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},"#,
    r#"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"10"}},"#,
    r#"{"key":"agent_trace.cost","value":{"doubleValue":0.25}}]}"#,
    r#"]}]}]}"#,
    "\n",
);

/// openai gpt-4o at 1.00 EUR input, 0.50 cached input, 2.00 output per
/// million tokens.
const EUR_TABLE: &str = r#"{
  "currency": "EUR",
  "models": { "openai": { "gpt-4o": { "input": 1.0, "cached_input": 0.5, "output": 2.0 } } }
}"#;

fn files(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let trace = dir.path("run.jsonl");
    std::fs::write(&trace, TRACE).unwrap();
    let table = dir.path("eur.json");
    std::fs::write(&table, EUR_TABLE).unwrap();
    (trace, table)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_built_in_table_prices_calls_without_a_cost_and_a_given_cost_wins() {
    let dir = TempDir::new("priced-builtin");
    let (trace, table) = files(&dir);
    // gpt-4o built in: 2.50 input, 1.25 cached input, 10.00 output (USD
    // per million): 0.5 M x 2.50 + 0.5 M x 1.25 + 0.1 M x 10.00 = 2.875,
    // plus the other call's own 0.25.
    let (traces, _) = summarize(&TraceFile::new(&trace), |m| panic!("{m}")).unwrap();
    let cost = traces[0].cost.unwrap();
    assert!(close(cost, 3.125), "{cost}");
    assert_eq!(traces[0].currency.as_deref(), Some("USD"));

    let (traces, _) =
        summarize_with(&TraceFile::new(&trace), &Pricing::none(), |m| panic!("{m}")).unwrap();
    assert!(close(traces[0].cost.unwrap(), 0.25));
    assert_eq!(traces[0].currency, None);

    // 0.5 M x 1.00 + 0.5 M x 0.50 + 0.1 M x 2.00 = 0.95, plus 0.25.
    let eur = Pricing::load(&table).unwrap();
    let (traces, _) = summarize_with(&TraceFile::new(&trace), &eur, |m| panic!("{m}")).unwrap();
    assert!(close(traces[0].cost.unwrap(), 1.2), "{:?}", traces[0].cost);
    assert_eq!(traces[0].currency.as_deref(), Some("EUR"));
}

#[test]
fn the_command_line_picks_the_table_and_refuses_a_bad_one() {
    let dir = TempDir::new("priced-cli");
    let (trace, table) = files(&dir);
    let trace = trace.to_str().unwrap();
    let table = table.to_str().unwrap();

    let builtin = agent_trace_in(&dir.0, &["list", trace]);
    assert_eq!(builtin.status, Some(0), "{}", builtin.stderr);
    assert!(builtin.stdout.contains("3.125"), "{}", builtin.stdout);
    let none = agent_trace_in(&dir.0, &["list", "--no-prices", trace]);
    assert!(none.stdout.contains("0.25"), "{}", none.stdout);
    assert!(!none.stdout.contains("3.125"), "{}", none.stdout);
    let eur = agent_trace_in(&dir.0, &["--prices", table, "list", trace]);
    assert!(eur.stdout.contains("1.2"), "{}", eur.stdout);

    // The same span priced on both sides: no change in cost.
    let diff = agent_trace_in(
        &dir.0,
        &["diff", "--prices", table, "--format", "json", trace, trace],
    );
    assert_eq!(diff.status, Some(0), "{}", diff.stderr);
    assert!(diff.stdout.contains("\"cost\""), "{}", diff.stdout);

    let bad = dir.path("bad.json");
    std::fs::write(
        &bad,
        r#"{"currency": "EUR", "models": {"openai": {"gpt-4o": {"input": -1}}}}"#,
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let list = agent_trace_in(&dir.0, &["list", "--prices", bad, trace]);
    assert_eq!(list.status, Some(1), "{}", list.stderr);
    assert!(
        list.stderr.contains("cannot use the price table") && list.stderr.contains("bad.json"),
        "{}",
        list.stderr
    );
    // diff answers bad input with 2, as for any other.
    let diff = agent_trace_in(&dir.0, &["diff", "--prices", bad, trace, trace]);
    assert_eq!(diff.status, Some(2), "{}", diff.stderr);
    assert!(
        diff.stderr.contains("cannot use the price table"),
        "{}",
        diff.stderr
    );
}
