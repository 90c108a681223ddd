//! The HTML report of the hand-written fixture, opened in a real headless
//! Chromium through `chromedriver` (W3C WebDriver over loopback HTTP):
//! the waterfall lists every span in tree order, each bar is as wide as
//! its duration's share of the trace (within two pixels), clicking a span
//! shows its attributes and events, each operation has a histogram with
//! p50/p95/p99 marked, and the page fetched nothing.
//!
//! Ignored by `cargo test`: it needs Debian's `chromium` and
//! `chromium-driver` (`scripts/install-e2e-deps.sh chromium`). `cargo xtask
//! e2e` runs it; by hand:
//!
//! ```text
//! cargo test -p agent-trace-cli --features e2e-tests --test report_renders_in_chromium
//! ```
//!
//! `CHROMIUM` and `CHROMEDRIVER` override `/usr/bin/chromium` and
//! `/usr/bin/chromedriver`. The screenshot is saved as
//! `target/tmp/report-e2e/report.png`.
#![cfg_attr(
    not(feature = "e2e-tests"),
    allow(
        dead_code,
        unused_imports,
        reason = "the helpers serve the tests behind `e2e-tests`"
    )
)]

mod support;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const B: &str = "0af7651916cd43dd8448eb211c80319c";
const C: &str = "4bf92f3500000000000000000000000c";

fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// The waterfall rows on screen: name, depth, bar and track geometry.
const ROWS_SCRIPT: &str = r#"
const wf = document.getElementById("waterfall");
return { trace: wf.dataset.traceId, rows: [...wf.querySelectorAll(".wf-row")].map((row) => {
  const track = row.querySelector(".wf-track").getBoundingClientRect();
  const bar = row.querySelector(".wf-bar").getBoundingClientRect();
  return { name: row.querySelector(".span-name").textContent, id: row.dataset.spanId,
    indent: parseFloat(row.querySelector(".wf-name").style.paddingLeft),
    duration: row.querySelector(".wf-dur").textContent, selected: row.classList.contains("selected"),
    trackLeft: track.left, trackWidth: track.width, barLeft: bar.left, barWidth: bar.width };
}) };
"#;

fn rows(session: &webdriver::Session<'_>) -> (String, Vec<Value>) {
    let v = session.execute(ROWS_SCRIPT, json!([])).unwrap();
    (
        v["trace"].as_str().unwrap_or_default().to_owned(),
        v["rows"].as_array().cloned().unwrap_or_default(),
    )
}

fn names(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["name"].as_str().unwrap_or("?"))
        .collect()
}

#[test]
// Needs chromium and chromedriver (scripts/install-e2e-deps.sh chromium):
// compiled with the test-only feature `e2e-tests`, which `cargo xtask e2e`
// turns on.
#[cfg(feature = "e2e-tests")]
fn the_report_renders_and_responds_in_headless_chromium() {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-e2e");
    std::fs::create_dir_all(&out_dir).unwrap();
    let html = out_dir.join("report.html");
    let run = support::agent_trace(&["report", "agent_runs.jsonl", "-o", html.to_str().unwrap()]);
    assert_eq!(run.status, Some(0), "{}", run.stderr);

    let driver = webdriver::Driver::start(&tool("CHROMEDRIVER", "/usr/bin/chromedriver"))
        .unwrap_or_else(|e| panic!("{e}; run scripts/install-e2e-deps.sh chromium"));
    let session = driver
        .session(&tool("CHROMIUM", "/usr/bin/chromium"), 1400, 1000)
        .unwrap();
    session.goto(&format!("file://{}", html.display())).unwrap();

    // The trace list, earliest first; the first trace is shown.
    let listed = session
        .execute(
            "return [...document.querySelectorAll('#trace-table tbody tr')].map((r) => r.dataset.traceId)",
            json!([]),
        )
        .unwrap();
    assert_eq!(listed, json!([A, B, C]));
    assert_eq!(rows(&session).0, A);

    // Clicking a trace shows its waterfall.
    session
        .click(&format!("#trace-table tbody tr[data-trace-id='{C}']"))
        .unwrap();
    let (trace, c_rows) = rows(&session);
    assert_eq!(trace, C);
    assert_eq!(
        names(&c_rows),
        ["research_task", "chat gpt-4o", "execute_tool read_file"]
    );

    session
        .click(&format!("#trace-table tbody tr[data-trace-id='{A}']"))
        .unwrap();
    let (trace, a_rows) = rows(&session);
    assert_eq!(trace, A);
    // Trace A as the fixture has it: (name, depth, start ms, duration ms)
    // of a trace of 1,000 ms, in tree order.
    let expected = [
        ("research_task", 0, 0.0, 1_000.0),
        ("chat gpt-4o", 1, 10.0, 100.0),
        ("execute_tool web_search", 1, 120.0, 300.0),
        ("execute_tool web_search", 1, 430.0, 200.0),
        ("chat gpt-4o", 1, 650.0, 340.0),
        ("count_tokens", 2, 660.0, 10.0),
    ];
    assert_eq!(
        names(&a_rows),
        expected.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    for (row, &(name, depth, start, duration)) in a_rows.iter().zip(&expected) {
        let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
        let track = f("trackWidth");
        assert!(track > 300.0, "{name}: track only {track} px wide");
        let want_width = duration / 1_000.0 * track;
        let want_left = f("trackLeft") + start / 1_000.0 * track;
        assert!(
            (f("barWidth") - want_width).abs() <= 2.0,
            "{name}: bar {} px wide, want {want_width:.1} px ({duration} ms of 1 s over {track} px)",
            f("barWidth")
        );
        assert!(
            (f("barLeft") - want_left).abs() <= 2.0,
            "{name}: bar starts at {} px, want {want_left:.1} px",
            f("barLeft")
        );
        assert_eq!(f("indent"), 8.0 + 16.0 * f64::from(depth), "{name}");
    }
    let durations: Vec<&str> = a_rows
        .iter()
        .map(|r| r["duration"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        durations,
        ["1.00s", "100ms", "300ms", "200ms", "340ms", "10.0ms"]
    );

    // Clicking a span shows its attributes, status and exception.
    session
        .click(".wf-row[data-span-id='00000000000000a2']")
        .unwrap();
    let details = session
        .execute(
            r#"const d = document.getElementById("details");
               const pairs = (sel) => [...d.querySelectorAll(sel + " tr")].map((tr) =>
                 [tr.querySelector("th").textContent, tr.querySelector("td").textContent]);
               return { span: d.dataset.spanId, title: d.querySelector("h3").textContent,
                 attributes: pairs("table.attributes"), facts: pairs("table.facts"),
                 events: [...d.querySelectorAll(".event")].map((e) => ({
                   exception: e.classList.contains("exception"),
                   name: e.querySelector(".event-name").textContent, attributes: pairs(".event-attributes") })),
                 selected: [...document.querySelectorAll(".wf-row.selected")].map((r) => r.dataset.spanId) };"#,
            json!([]),
        )
        .unwrap();
    assert_eq!(details["span"], "00000000000000a2");
    assert_eq!(details["title"], "execute_tool web_search");
    assert_eq!(details["selected"], json!(["00000000000000a2"]));
    assert_eq!(
        details["attributes"],
        json!([
            ["gen_ai.operation.name", "execute_tool"],
            ["gen_ai.tool.name", "web_search"],
            ["attempt", "1"],
            ["error.type", "timeout"]
        ])
    );
    let facts = details["facts"].as_array().unwrap();
    assert!(
        facts.contains(&json!(["status", "error: search timed out"])),
        "{facts:?}"
    );
    assert!(
        facts.contains(&json!(["parent", "00000000000000a0"])),
        "{facts:?}"
    );
    assert_eq!(
        details["events"],
        json!([{
            "exception": true,
            "name": "exception at +419ms",
            "attributes": [["exception.type", "TimeoutError"], ["exception.message", "no answer within 300ms"]]
        }])
    );

    // A histogram per operation, each with p50, p95 and p99 marked.
    let histograms = session
        .execute(
            r#"return [...document.querySelectorAll("figure.histogram")].map((f) =>
                 [f.dataset.operation, [...f.querySelectorAll("line.pct")].map((l) => l.classList[1]),
                  f.querySelectorAll("rect.bin").length > 0]);"#,
            json!([]),
        )
        .unwrap();
    let ops = [
        "chat claude-sonnet-4",
        "chat gpt-4o",
        "classify_ticket",
        "count_tokens",
        "execute_tool read_file",
        "execute_tool web_search",
        "research_task",
    ];
    assert_eq!(
        histograms,
        Value::Array(
            ops.iter()
                .map(|op| json!([op, ["p50", "p95", "p99"], true]))
                .collect()
        )
    );

    // Nothing was fetched: the page is self-contained.
    let fetched = session
        .execute(
            "return performance.getEntriesByType('resource').map((e) => e.name)",
            json!([]),
        )
        .unwrap();
    assert_eq!(fetched, json!([]));

    let png = session.screenshot().unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let shot = out_dir.join("report.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
}

/// A JSON line of `n` spans named `name`, of `ms(i)` milliseconds each,
/// one trace each (ids from `first`).
fn named_spans(name: &str, first: u64, n: u64, ms: impl Fn(u64) -> u64) -> String {
    let spans: Vec<String> = (0..n)
        .map(|i| {
            let start = 1_767_225_600_000_000_000 + i * 1_000_000_000;
            format!(
                "{{\"traceId\":\"{:032x}\",\"spanId\":\"{:016x}\",\"name\":{},\
                 \"startTimeUnixNano\":\"{start}\",\"endTimeUnixNano\":\"{}\"}}",
                first + i,
                first + i,
                serde_json::Value::String(name.to_owned()),
                start + ms(i) * 1_000_000
            )
        })
        .collect();
    format!(
        "{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{}]}}]}}]}}\n",
        spans.join(",")
    )
}

#[test]
// Needs chromium and chromedriver, as the test above.
#[cfg(feature = "e2e-tests")]
fn the_comparison_report_puts_flagged_rows_first_with_side_by_side_histograms() {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-diff-e2e");
    std::fs::create_dir_all(&out_dir).unwrap();
    // The fixtures (chat slower and dearer, the tool's errors up but
    // within noise), and an operation whose name is markup, slower by
    // half in the current run.
    let hostile = "<img src=x onerror=\"window.pwned=1\">&amp;";
    let (base, head) = (out_dir.join("base.jsonl"), out_dir.join("head.jsonl"));
    std::fs::write(&base, named_spans(hostile, 0x100, 30, |i| 100 + i)).unwrap();
    std::fs::write(&head, named_spans(hostile, 0x200, 30, |i| 150 + i * 3 / 2)).unwrap();
    let html = out_dir.join("report.html");
    let (base, head) = (base.to_str().unwrap(), head.to_str().unwrap());
    let run = support::agent_trace(&[
        "report",
        "--baseline",
        "diff_base.jsonl",
        "--baseline",
        base,
        "diff_head.jsonl",
        head,
        "-o",
        html.to_str().unwrap(),
    ]);
    // 1: the fixture's malformed line; the report is written all the same.
    assert_eq!(run.status, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("diff_head.jsonl:21: truncated JSON"),
        "{}",
        run.stderr
    );

    let driver = webdriver::Driver::start(&tool("CHROMEDRIVER", "/usr/bin/chromedriver"))
        .unwrap_or_else(|e| panic!("{e}; run scripts/install-e2e-deps.sh chromium"));
    let session = driver
        .session(&tool("CHROMIUM", "/usr/bin/chromium"), 1400, 1000)
        .unwrap();
    session.goto(&format!("file://{}", html.display())).unwrap();

    let page = session
        .execute(
            r##"const rows = [...document.querySelectorAll("#comparison-table tbody tr")];
               const ops = [];
               for (const r of rows) {
                 const op = r.dataset.operation;
                 if (!ops.length || ops[ops.length - 1][0] !== op) ops.push([op, false]);
                 if (r.classList.contains("flagged")) ops[ops.length - 1][1] = true;
               }
               const flagged = rows.filter((r) => r.classList.contains("flagged")).map((r) =>
                 [r.dataset.operation, r.dataset.metric, r.classList.contains("worse") ? "worse" : "better",
                  r.querySelector(".verdict").textContent]);
               const figures = [...document.querySelectorAll("#comparison figure.compared")].map((f) => ({
                 op: f.dataset.operation, caption: f.querySelector("figcaption strong").textContent,
                 flagged: f.classList.contains("flagged"),
                 sides: [...f.querySelectorAll("svg.side")].map((s) => ({ side: s.dataset.side,
                   bins: s.querySelectorAll("rect.bin").length,
                   pct: [...s.querySelectorAll("line.pct")].map((l) => l.classList[1]),
                   ticks: [...s.querySelectorAll("text.tick")].slice(1).map((t) => t.textContent),
                   width: s.getBoundingClientRect().width })) }));
               return { ops, flagged, figures, pwned: window.pwned === 1,
                 injected: document.querySelectorAll("#comparison img").length,
                 first: document.querySelector("main section").id };"##,
            json!([]),
        )
        .unwrap();
    assert_eq!(page["first"], "comparison");
    assert_eq!(page["pwned"], false);
    assert_eq!(page["injected"], 0);

    // Flagged operations first, then the rest.
    let ops = page["ops"].as_array().unwrap();
    let first_plain = ops.iter().position(|o| o[1] == false).unwrap();
    assert!(first_plain >= 3, "{ops:?}");
    assert!(ops[first_plain..].iter().all(|o| o[1] == false), "{ops:?}");
    let flagged_ops: Vec<&str> = ops[..first_plain]
        .iter()
        .map(|o| o[0].as_str().unwrap())
        .collect();
    assert!(flagged_ops.contains(&"chat gpt-4o"), "{flagged_ops:?}");
    assert!(flagged_ops.contains(&hostile), "{flagged_ops:?}");
    let flagged = page["flagged"].as_array().unwrap();
    assert!(
        flagged.contains(&json!(["chat gpt-4o", "p50", "worse", "worse, p<0.0001"])),
        "{flagged:?}"
    );
    assert!(
        flagged.iter().any(|f| f[0] == hostile && f[1] == "p50"),
        "{flagged:?}"
    );
    // The tool's errors rose, within noise: not flagged.
    assert!(
        !flagged.iter().any(|f| f[0] == "execute_tool web_search"),
        "{flagged:?}"
    );

    // A figure per row, in the table's order, each with both sides on one
    // axis and p50/p95/p99 marked on each.
    let figures = page["figures"].as_array().unwrap();
    let figure_ops: Vec<&str> = figures.iter().map(|f| f["op"].as_str().unwrap()).collect();
    let table_ops: Vec<&str> = ops.iter().map(|o| o[0].as_str().unwrap()).collect();
    assert_eq!(figure_ops, table_ops);
    for f in figures {
        assert_eq!(f["caption"], f["op"]);
        let sides = f["sides"].as_array().unwrap();
        assert_eq!(sides.len(), 2, "{f}");
        assert_eq!(
            (&sides[0]["side"], &sides[1]["side"]),
            (&json!("baseline"), &json!("current"))
        );
        assert_eq!(sides[0]["ticks"], sides[1]["ticks"], "one axis: {f}");
        for s in sides {
            assert!(s["bins"].as_u64().unwrap() > 0, "{f}");
            assert_eq!(s["pct"], json!(["p50", "p95", "p99"]), "{f}");
            assert!(s["width"].as_f64().unwrap() > 300.0, "{f}");
        }
    }

    let fetched = session
        .execute(
            "return performance.getEntriesByType('resource').map((e) => e.name)",
            json!([]),
        )
        .unwrap();
    assert_eq!(fetched, json!([]));
    let png = session.screenshot().unwrap();
    let shot = out_dir.join("report.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
}
