//! `stats`: count, mean, min and max exactly as computed by hand from
//! the durations written; p50, p95 and p99 within the sketch's 1% of the
//! exact nearest-rank values.

mod support;

use agent_trace_cli::{TraceFile, operation_stats};

const T0: u64 = 1_767_225_600_000_000_000;
const MS: u64 = 1_000_000;

/// `llm`: 100 spans of 1, 2, ..., 100 ms. `tool`: nine of 10 ms, one of
/// 1 s. `zero`: three spans that start and end at once. One trace per
/// span, ten spans a line.
fn write_file(path: &std::path::Path) {
    let mut spans = Vec::new();
    for ms in 1..=100u64 {
        spans.push(("llm", ms * MS));
    }
    for _ in 0..9 {
        spans.push(("tool", 10 * MS));
    }
    spans.push(("tool", 1_000 * MS));
    for _ in 0..3 {
        spans.push(("zero", 0));
    }
    let mut text = String::new();
    for (n, chunk) in spans.chunks(10).enumerate() {
        let line: Vec<support::GenSpan<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, &(name, duration))| {
                let k = (n * 10 + i) as u64;
                support::GenSpan {
                    trace: 0x1000 + u128::from(k),
                    span: 0x2000 + k,
                    parent: None,
                    name,
                    start_ns: T0 + k * MS,
                    end_ns: T0 + k * MS + duration,
                    error: false,
                }
            })
            .collect();
        text.push_str(&support::json_line("stats-test", &line));
    }
    std::fs::write(path, text).unwrap();
}

fn within_1_percent(actual: f64, exact: f64) -> bool {
    (actual - exact).abs() <= exact * 0.01 + 1e-12
}

#[test]
fn statistics_per_operation_match_the_hand_computed_values() {
    let dir = support::TempDir::new("stats");
    let path = dir.path("stats.jsonl");
    write_file(&path);
    let (ops, read) = operation_stats(&TraceFile::new(&path), 100, |m| panic!("{m}")).unwrap();
    assert_eq!(read.spans, 113);
    let names: Vec<&str> = ops.iter().map(|o| o.operation.as_str()).collect();
    assert_eq!(names, ["llm", "tool", "zero"]);

    let llm = &ops[0];
    assert_eq!(llm.count, 100);
    // (1 + ... + 100) / 100 ms = 50.5 ms.
    assert!((llm.mean - 0.0505).abs() < 1e-12, "{}", llm.mean);
    assert!((llm.min - 0.001).abs() < 1e-15 && (llm.max - 0.1).abs() < 1e-15);
    // Nearest rank: the ceil(q * 100)-th smallest, so 50, 95 and 99 ms.
    assert!(within_1_percent(llm.p50, 0.050), "{}", llm.p50);
    assert!(within_1_percent(llm.p95, 0.095), "{}", llm.p95);
    assert!(within_1_percent(llm.p99, 0.099), "{}", llm.p99);

    let tool = &ops[1];
    assert_eq!(tool.count, 10);
    // (9 * 10 + 1000) / 10 ms = 109 ms.
    assert!((tool.mean - 0.109).abs() < 1e-12, "{}", tool.mean);
    assert!((tool.max - 1.0).abs() < 1e-15);
    // ceil(0.5 * 10) = 5th: 10 ms; ceil(0.95 * 10) = 10th: 1 s.
    assert!(within_1_percent(tool.p50, 0.010), "{}", tool.p50);
    assert!(within_1_percent(tool.p95, 1.0), "{}", tool.p95);
    assert!(within_1_percent(tool.p99, 1.0), "{}", tool.p99);

    let zero = &ops[2];
    assert_eq!(
        (zero.count, zero.mean, zero.max, zero.p99),
        (3, 0.0, 0.0, 0.0)
    );
    assert_eq!(zero.histogram.zeros(), 3);

    // The histogram counts every value once.
    let binned: u64 = llm.histogram.bins().iter().map(|b| b.2).sum();
    assert_eq!(binned, 100);

    // The command prints the exact columns as `format_duration` reads.
    let run = support::agent_trace_in(&dir.0, &["stats", "stats.jsonl", "--sort", "count"]);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let rows: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["llm", "100", "50.5ms"]);
    assert_eq!(rows[0][6], "100ms");
    assert_eq!(rows[1][..3], ["tool", "10", "109ms"]);
    assert_eq!(rows[1][6], "1.00s");
    assert_eq!(rows[2][..3], ["zero", "3", "0ns"]);
    assert!(
        run.stdout.ends_with(
            "3 operations, 113 spans; percentiles within 1% (the LatencyMetrics sketch), the rest exact\n"
        ),
        "{}",
        run.stdout
    );
}
