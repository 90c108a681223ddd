//! `diff` flags the changes that are there, with the right sign and size,
//! and not the noise: files with known shifts (latency up and down, error
//! rate, tokens, cost) against two samples of one distribution, 200 times
//! over with a seeded generator; malformed lines are reported and counted;
//! the exit status is the gate's answer.
//!
//! Every file is written here with `format!`, and every expected value is
//! worked out by hand from how the file was written, never by the code
//! under test.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use agent_trace_cli::{
    ALL_TRACES, Diff, DiffOptions, FailOn, Metric, MetricDiff, TraceFile, TraceFiles, Verdict, diff,
};

const T0: u64 = 1_767_225_600_000_000_000;
const MS: u64 = 1_000_000;

/// One span of a generated trace.
struct Span {
    name: &'static str,
    /// Duration in nanoseconds.
    nanos: u64,
    error: bool,
    /// `(key, JSON value)` attributes.
    attrs: Vec<(&'static str, String)>,
}

fn int(v: i64) -> String {
    format!("{{\"intValue\":\"{v}\"}}")
}

fn double(v: f64) -> String {
    format!("{{\"doubleValue\":{v}}}")
}

fn string(v: &str) -> String {
    format!("{{\"stringValue\":\"{v}\"}}")
}

/// One trace a line: a root `agent_run` lasting `root_nanos`, its
/// children one after the other inside it.
fn trace_line(trace: u64, root_nanos: u64, children: &[Span]) -> String {
    let start = T0 + trace * 60_000 * MS;
    let mut spans = format!(
        "{{\"traceId\":\"{trace:032x}\",\"spanId\":\"{:016x}\",\"name\":\"agent_run\",\
         \"startTimeUnixNano\":\"{start}\",\"endTimeUnixNano\":\"{}\"}}",
        trace * 100 + 1,
        start + root_nanos
    );
    let mut t = start;
    for (i, s) in children.iter().enumerate() {
        let attrs: Vec<String> = s
            .attrs
            .iter()
            .map(|(k, v)| format!("{{\"key\":\"{k}\",\"value\":{v}}}"))
            .collect();
        let _ = write!(
            spans,
            ",{{\"traceId\":\"{trace:032x}\",\"spanId\":\"{:016x}\",\"parentSpanId\":\"{:016x}\",\
             \"name\":\"{}\",\"startTimeUnixNano\":\"{t}\",\"endTimeUnixNano\":\"{}\",\
             \"attributes\":[{}]{}}}",
            trace * 100 + 2 + i as u64,
            trace * 100 + 1,
            s.name,
            t + s.nanos,
            attrs.join(","),
            if s.error {
                ",\"status\":{\"code\":2,\"message\":\"failed\"}"
            } else {
                ""
            }
        );
        t += s.nanos;
    }
    format!(
        "{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"service.name\",\
         \"value\":{{\"stringValue\":\"eval\"}}}}]}},\"scopeSpans\":[{{\"spans\":[{spans}]}}]}}]}}\n"
    )
}

fn metric<'d>(diff: &'d Diff, row: &str, metric: Metric) -> &'d MetricDiff {
    diff.rows
        .iter()
        .find(|r| r.name == row)
        .unwrap_or_else(|| panic!("no row {row:?}"))
        .metric(metric)
        .unwrap_or_else(|| panic!("no {} in {row:?}", metric.name()))
}

fn within(actual: Option<f64>, expected: f64, tolerance: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() <= tolerance)
}

/// 200 traces a side. Trace `i`: a `chat` of `100 + i` ms (baseline; 1.5
/// times that current) with 1,000 input tokens, `100 + i % 50` output
/// tokens (40 more current) and a cost of `0.01 + 0.0001 * (i % 10)` (1.5
/// times that current); an `execute_tool` of `400 + 2 i` ms (half that
/// current) that fails for every 20th trace (every 5th current); a
/// `memory_lookup` of `10 + i % 7` ms on both sides.
fn write_shifted(path: &Path, current: bool) {
    let mut text = String::new();
    for i in 0..200u64 {
        let scale = |v: u64| if current { v * 3 / 2 } else { v };
        let chat = scale((100 + i) * MS);
        let tool = if current { 200 + i } else { 400 + 2 * i } * MS;
        let cost = (0.01 + 0.0001 * (i % 10) as f64) * if current { 1.5 } else { 1.0 };
        let output = 100 + (i % 50) as i64 + if current { 40 } else { 0 };
        let children = [
            Span {
                name: "chat",
                nanos: chat,
                error: false,
                attrs: vec![
                    ("gen_ai.operation.name", string("chat")),
                    ("gen_ai.usage.input_tokens", int(1_000)),
                    ("gen_ai.usage.output_tokens", int(output)),
                    ("agent_trace.cost", double(cost)),
                    ("agent_trace.cost.currency", string("USD")),
                ],
            },
            Span {
                name: "execute_tool",
                nanos: tool,
                error: i % if current { 5 } else { 20 } == 0,
                attrs: vec![("gen_ai.tool.name", string("web_search"))],
            },
            Span {
                name: "memory_lookup",
                nanos: (10 + i % 7) * MS,
                error: false,
                attrs: Vec::new(),
            },
        ];
        text.push_str(&trace_line(i + 1, chat + tool + 100 * MS, &children));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn known_shifts_are_flagged_with_their_sign_and_size() {
    let dir = support::TempDir::new("diff-shifts");
    let (base, head) = (dir.path("base.jsonl"), dir.path("head.jsonl"));
    write_shifted(&base, false);
    write_shifted(&head, true);
    let d = diff(
        &TraceFile::new(&base),
        &TraceFile::new(&head),
        &DiffOptions::default(),
        |m| panic!("malformed: {m}"),
    )
    .unwrap();

    // chat: 100..=299 ms, then 1.5 times each. Nearest-rank p50 (the
    // 100th of 200) 199 ms, then 298.5 ms; the sketch is within 1%.
    let p50 = metric(&d, "chat", Metric::P50);
    assert_eq!(p50.verdict, Verdict::Worse, "{p50:?}");
    assert!(within(p50.baseline, 0.199, 0.002), "{p50:?}");
    assert!(within(p50.current, 0.2985, 0.003), "{p50:?}");
    assert!(within(p50.relative, 0.5, 0.02), "{p50:?}");
    // The mean is exact: 199.5 ms, then 299.25 ms.
    let mean = metric(&d, "chat", Metric::Mean);
    assert_eq!(mean.verdict, Verdict::Worse, "{mean:?}");
    assert!(within(mean.change, 0.099_75, 1e-9), "{mean:?}");
    // With 200 a side, the tail is seen too: p95 199 * 1.5 ... every
    // current value above 290 ms is above the pooled p95.
    let p95 = metric(&d, "chat", Metric::P95);
    assert_eq!(p95.verdict, Verdict::Worse, "{p95:?}");
    assert!(within(p95.relative, 0.5, 0.02), "{p95:?}");

    // Output tokens: 124.5 on average (100 + 0..=49), 40 more current.
    let tokens = metric(&d, "chat", Metric::TokensOut);
    assert_eq!(tokens.verdict, Verdict::Worse, "{tokens:?}");
    assert!(within(tokens.baseline, 124.5, 1e-9), "{tokens:?}");
    assert!(within(tokens.change, 40.0, 1e-9), "{tokens:?}");
    let tokens_in = metric(&d, "chat", Metric::TokensIn);
    assert_eq!(tokens_in.verdict, Verdict::WithinNoise, "{tokens_in:?}");
    assert!(within(tokens_in.change, 0.0, 0.0), "{tokens_in:?}");

    // Cost: 0.01045 on average, 1.5 times that current: +0.005225.
    let cost = metric(&d, "chat", Metric::Cost);
    assert_eq!(cost.verdict, Verdict::Worse, "{cost:?}");
    assert!(within(cost.change, 0.005_225, 1e-12), "{cost:?}");
    assert!(within(cost.relative, 0.5, 1e-9), "{cost:?}");

    // The tool got twice as fast: flagged, and better.
    let tool = metric(&d, "execute_tool [tool=web_search]", Metric::P50);
    assert_eq!(tool.verdict, Verdict::Better, "{tool:?}");
    assert!(within(tool.relative, -0.5, 0.02), "{tool:?}");
    assert!(tool.change.is_some_and(|c| c < 0.0), "{tool:?}");
    // Its errors went from 10 in 200 (5%) to 40 in 200 (20%): +15 points.
    let errors = metric(&d, "execute_tool [tool=web_search]", Metric::Errors);
    assert_eq!(errors.verdict, Verdict::Worse, "{errors:?}");
    assert!(within(errors.baseline, 0.05, 1e-12), "{errors:?}");
    assert!(within(errors.change, 0.15, 1e-12), "{errors:?}");

    // Unchanged: not flagged, and said why.
    for m in [Metric::P50, Metric::P95, Metric::P99, Metric::Mean] {
        let same = metric(&d, "memory_lookup", m);
        assert_eq!(same.verdict, Verdict::WithinNoise, "{same:?}");
        assert!(same.reason.starts_with("within noise, p="), "{same:?}");
    }
    let no_errors = metric(&d, "memory_lookup", Metric::Errors);
    assert_eq!(
        (no_errors.verdict, no_errors.reason.as_str()),
        (Verdict::NotTested, "no errors on either side")
    );

    // Per trace: the cost of a trace is its chat's; 200 traces a side.
    let traces = metric(&d, ALL_TRACES, Metric::Cost);
    assert_eq!(traces.verdict, Verdict::Worse, "{traces:?}");
    assert!(within(traces.change, 0.005_225, 1e-12), "{traces:?}");
    let count = metric(&d, ALL_TRACES, Metric::Count);
    assert_eq!(
        (count.baseline, count.current, count.verdict),
        (Some(200.0), Some(200.0), Verdict::Exact)
    );
    assert_eq!((d.baseline.spans, d.current.spans), (800, 800));

    // Flagged rows come first.
    let first_unflagged = d.rows.iter().position(|r| !r.is_flagged()).unwrap();
    assert!(d.rows[first_unflagged..].iter().all(|r| !r.is_flagged()));
    assert_eq!(d.rows.last().unwrap().name, "memory_lookup");

    // The gate: crossed limits of flagged changes only.
    let gate: FailOn = "chat:p50>+40%,errors>+10pp,memory_lookup:p95>+0%,overall:cost>+60%"
        .parse()
        .unwrap();
    let outcome = gate.check(&d);
    let crossed: Vec<(&str, Metric)> = outcome
        .failures
        .iter()
        .map(|f| (f.row.as_str(), f.metric))
        .collect();
    // A trace fails when its tool call does: the traces' error rate rose
    // the same 15 points.
    assert_eq!(
        crossed,
        [
            ("chat", Metric::P50),
            (ALL_TRACES, Metric::Errors),
            ("execute_tool [tool=web_search]", Metric::Errors)
        ]
    );
}

/// SplitMix64: a seeded generator, so that every repetition is the same
/// on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Log-normal nanoseconds with median `median_ms`: latency's usual
    /// shape, skewed with a long tail.
    fn latency(&mut self, median_ms: f64, sigma: f64) -> u64 {
        (median_ms * 1e6 * (sigma * self.normal()).exp()) as u64
    }
}

/// A run of 60 traces drawn from one fixed distribution: an agent with 1
/// to 3 chat calls (log-normal latency, tokens, a cost that follows
/// them), a tool call failing 10% of the time (its latency times
/// `tool_scale`), a planning step.
fn write_sample(path: &Path, rng: &mut Rng, tool_scale: f64) {
    let mut text = String::new();
    for t in 0..60u64 {
        let mut children = Vec::new();
        for _ in 0..1 + rng.next() % 3 {
            let input = 800 + (rng.uniform() * 400.0) as i64;
            let output = (150.0 * (0.4 * rng.normal()).exp()) as i64;
            children.push(Span {
                name: "chat gpt-4o",
                nanos: rng.latency(800.0, 0.5),
                error: rng.uniform() < 0.02,
                attrs: vec![
                    ("gen_ai.request.model", string("gpt-4o")),
                    ("gen_ai.usage.input_tokens", int(input)),
                    ("gen_ai.usage.output_tokens", int(output)),
                    (
                        "agent_trace.cost",
                        double(input as f64 * 2.5e-6 + output as f64 * 1e-5),
                    ),
                ],
            });
        }
        children.push(Span {
            name: "execute_tool",
            nanos: rng.latency(300.0 * tool_scale, 0.8),
            error: rng.uniform() < 0.1,
            attrs: vec![("gen_ai.tool.name", string("search"))],
        });
        children.push(Span {
            name: "plan",
            nanos: rng.latency(20.0, 0.3),
            error: false,
            attrs: Vec::new(),
        });
        let total: u64 = children.iter().map(|c| c.nanos).sum();
        text.push_str(&trace_line(t + 1, total + rng.latency(5.0, 0.2), &children));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn two_samples_of_one_distribution_are_rarely_flagged() {
    let dir = support::TempDir::new("diff-null");
    let (a, b) = (dir.path("a.jsonl"), dir.path("b.jsonl"));
    let mut rng = Rng(0x5eed_2026);
    let mut runs_flagged = 0;
    let mut metrics_flagged = 0;
    let mut tests = 0;
    const RUNS: usize = 200;
    for _ in 0..RUNS {
        write_sample(&a, &mut rng, 1.0);
        write_sample(&b, &mut rng, 1.0);
        let d = diff(
            &TraceFile::new(&a),
            &TraceFile::new(&b),
            &DiffOptions::default(),
            |m| panic!("malformed: {m}"),
        )
        .unwrap();
        tests += d.tests;
        metrics_flagged += d.flagged();
        runs_flagged += usize::from(d.flagged() > 0);
    }
    eprintln!(
        "same distribution: {runs_flagged} of {RUNS} runs flagged something \
         ({metrics_flagged} of {tests} tests)"
    );
    // The requirement: at most 5% of runs at the default settings.
    assert!(
        runs_flagged * 20 <= RUNS,
        "{runs_flagged} of {RUNS} runs flagged a change between samples of one distribution"
    );
    // And the tests did run: about 30 a run (4 rows of up to 8 tests).
    assert!(tests >= RUNS * 20, "only {tests} tests in {RUNS} runs");
}

#[test]
fn the_same_generator_shifted_is_caught() {
    // The counterpart of the test above: the power is there at these
    // sample sizes for a change people care about.
    let dir = support::TempDir::new("diff-power");
    let (a, b) = (dir.path("a.jsonl"), dir.path("b.jsonl"));
    let mut rng = Rng(7);
    write_sample(&a, &mut rng, 1.0);
    // Every tool call twice as long.
    write_sample(&b, &mut rng, 2.0);
    let d = diff(
        &TraceFile::new(&a),
        &TraceFile::new(&b),
        &DiffOptions::default(),
        |m| panic!("malformed: {m}"),
    )
    .unwrap();
    let p50 = metric(&d, "execute_tool [tool=search]", Metric::P50);
    assert_eq!(p50.verdict, Verdict::Worse, "{p50:?}");
    // Twice as long, log-normal with sigma 0.8: the medians of 60 a side
    // differ by chance too, but not by half of the doubling.
    assert!(p50.relative.is_some_and(|r| r > 0.5 && r < 2.0), "{p50:?}");
}

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_counted() {
    let dir = support::TempDir::new("diff-malformed");
    let (base, head) = (dir.path("base.jsonl"), dir.path("head.jsonl"));
    write_shifted(&base, false);
    write_shifted(&head, true);
    let mut text = std::fs::read_to_string(&head).unwrap();
    let cut = text.find('\n').unwrap();
    text.insert_str(cut + 1, "{\"resourceSpans\":[{\"scopeSpans\":\n");
    std::fs::write(&head, text).unwrap();

    let mut seen = Vec::new();
    let d = diff(
        &TraceFile::new(&base),
        &TraceFile::new(&head),
        &DiffOptions::default(),
        |m| seen.push((m.path.clone(), m.line)),
    )
    .unwrap();
    assert_eq!(seen, [(head.clone(), 2)]);
    assert_eq!((d.baseline.malformed, d.current.malformed), (0, 1));
    // The rest of the file is read.
    assert_eq!(d.current.spans, 800);

    // Through the binary: a warning naming the place, the count in the
    // output, and exit 0 (no gate): a malformed line is not a regression.
    let run = support::agent_trace_in(&dir.0, &["diff", "base.jsonl", "head.jsonl"]);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("agent-trace: warning: head.jsonl:2: truncated JSON"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("current:  head.jsonl (200 traces, 800 spans, 1 malformed line skipped)"),
        "{}",
        run.stdout
    );
    // With --strict it is bad input.
    let run = support::agent_trace_in(&dir.0, &["diff", "base.jsonl", "head.jsonl", "--strict"]);
    assert_eq!(run.status, Some(2), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("agent-trace: error: head.jsonl:2: truncated JSON"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_exit_status_is_the_gates_answer() {
    let gate = "--fail-on=p95>+10%,cost>+5%,errors>+1pp,tokens.out>+20%";
    // The fixtures: chat 50 ms slower and dearer, more output tokens; the
    // tool's errors up from 2 to 10 in 40 (not significant over 24 tests).
    let cases: [(&[&str], i32); 9] = [
        (&["diff", "diff_base.jsonl", "diff_head.jsonl"], 0),
        (&["diff", "diff_base.jsonl", "diff_head.jsonl", gate], 1),
        (
            &[
                "diff",
                "--baseline",
                "diff_base.jsonl",
                "diff_head.jsonl",
                gate,
            ],
            1,
        ),
        // Flagged, but within the limit.
        (
            &[
                "diff",
                "diff_base.jsonl",
                "diff_head.jsonl",
                "--fail-on",
                "chat*:p50>+40%",
            ],
            0,
        ),
        // Crossed, but within noise: no failure.
        (
            &[
                "diff",
                "diff_base.jsonl",
                "diff_head.jsonl",
                "--fail-on",
                "errors>+1pp",
            ],
            0,
        ),
        (
            &[
                "diff",
                "diff_base.jsonl",
                "diff_head.jsonl",
                "--fail-on",
                "p95>+10",
            ],
            2,
        ),
        (&["diff", "diff_base.jsonl", "no-such-file.jsonl"], 2),
        (&["diff", "diff_base.jsonl"], 2),
        (
            &["diff", "diff_base.jsonl", "diff_head.jsonl", "--alpha", "5"],
            2,
        ),
    ];
    for (args, status) in cases {
        let run = support::agent_trace(args);
        assert_eq!(run.status, Some(status), "{args:?}: {}", run.stderr);
        if status == 2 {
            assert_eq!(run.stdout, "", "{args:?}");
            assert!(!run.stderr.is_empty(), "{args:?}");
        }
    }
    let run = support::agent_trace(&[
        "diff",
        "diff_base.jsonl",
        "diff_head.jsonl",
        "--fail-on",
        "p95>+10",
    ]);
    assert!(
        run.stderr
            .contains("p95 needs a unit: % (relative), or ns, us, ms, s"),
        "{}",
        run.stderr
    );
    let run = support::agent_trace(&["diff", "diff_base.jsonl", "no-such-file.jsonl"]);
    assert_eq!(
        run.stderr,
        "agent-trace: error: cannot open no-such-file.jsonl: No such file or directory (os error 2)\n"
    );
}

#[test]
fn directories_and_several_paths_make_a_side() {
    // The README's `agent-trace diff base/ head/`, with a side split over
    // files.
    let dir = support::TempDir::new("diff-dirs");
    std::fs::create_dir_all(dir.path("base")).unwrap();
    std::fs::create_dir_all(dir.path("head")).unwrap();
    write_shifted(&dir.path("base/traces-1767225600-1.jsonl"), false);
    write_shifted(&dir.path("head/traces-1767225700-2.jsonl"), true);
    write_shifted(&dir.path("extra.jsonl"), true);
    let d = diff(
        &TraceFiles::from_paths([dir.path("base")]).unwrap(),
        &TraceFiles::from_paths([dir.path("head")]).unwrap(),
        &DiffOptions::default(),
        |m| panic!("{m}"),
    )
    .unwrap();
    assert_eq!((d.baseline.traces, d.current.traces), (200, 200));

    let run = support::agent_trace_in(
        &dir.0,
        &["diff", "base/", "head/", "--fail-on", "overall:cost>+5%"],
    );
    assert_eq!(run.status, Some(1), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("(traces) cost +0.0052 (+50.0%) crosses overall:cost>+5% (worse, p<0.0001)"),
        "{}",
        run.stdout
    );
    // `--current` adds a file to the current side; it holds the same
    // trace ids as head/, so its spans join those traces.
    let run = support::agent_trace_in(
        &dir.0,
        &[
            "diff",
            "--format",
            "json",
            "base/",
            "head/",
            "--current",
            "extra.jsonl",
        ],
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["current"]["paths"],
        serde_json::json!(["head/", "extra.jsonl"])
    );
    assert_eq!(json["current"]["spans"], 1_600);
    assert_eq!(json["current"]["traces"], 200);
    assert_eq!(json["gate"], serde_json::Value::Null);
    let first = &json["rows"][0];
    assert!(first["metrics"].as_array().unwrap().len() >= 6, "{first}");
}
