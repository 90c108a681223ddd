//! `cargo xtask bench`: every bench of the workspace, and one table of our
//! figures next to the peers' from the same run.
//!
//! Three parts, all by default, or those named:
//!
//! - `--criterion`: the criterion benches (`span`, `latency`,
//!   `otlp_encode`, `layer`), then one markdown table read from
//!   criterion's results: for each workload our median, each peer's median
//!   and the ratio peer / ours (above 1: ours is faster). Written also to
//!   `target/bench-table.md`.
//! - `--overload`: the batch pipeline under overload, next to
//!   `opentelemetry_sdk` and fastrace (`agent-trace-export`'s `overload`
//!   bench, see its header), written also to `target/bench-overload.md`;
//!   this part fails if our pipeline did not account for every span.
//! - `--e2e`: the CPU cost of tracing a simulated agent at 1,000 tasks/s
//!   with OTLP/HTTP export, ours next to the OpenTelemetry stack
//!   (`tracing`, `tracing-opentelemetry`, `opentelemetry_sdk`,
//!   `opentelemetry-otlp`) in the same run (`agent-trace`'s
//!   `agent_workload` bench), written also to `target/bench-agent.md`; this
//!   part fails if either stack did not deliver every span or the two
//!   delivered different spans.
//!
//! `--quick` runs everything briefly (criterion's warm-up 0.2 s and
//! measurement 0.5 s, 1 s per overload or agent run): what `.ci/run` does
//! so that the benches never rot. The figures of a quick run are rough.
//! Arguments after `--` go to the criterion benches (a filter, say).
//!
//! All parts are built by one `cargo bench` command line (same packages,
//! same features), so the release build is shared between them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::tidy::workspace_root;

/// The packages with benches, and the features the benches need; every
/// part uses the same list so that cargo builds once.
const PACKAGE_ARGS: &[&str] = &[
    "-p",
    "agent-trace-core",
    "-p",
    "agent-trace-metrics",
    "-p",
    "agent-trace-export",
    "-p",
    "agent-trace",
    "-p",
    "agent-trace-otel",
    "--features",
    "agent-trace-metrics/prometheus,agent-trace-export/otlp-proto",
];

/// The criterion bench targets.
const CRITERION_BENCHES: &[&str] = &["span", "latency", "otlp_encode", "layer", "bridge"];

/// Criterion settings of `--quick`.
const QUICK_CRITERION: &[&str] = &[
    "--warm-up-time",
    "0.2",
    "--measurement-time",
    "0.5",
    "--sample-size",
    "20",
];

/// One line of the table: a workload, our bench, and the peers' benches
/// (label, bench id), all in one criterion group.
struct Workload {
    name: &'static str,
    group: &'static str,
    ours: Option<&'static str>,
    peers: &'static [(&'static str, &'static str)],
}

const OTEL: &str = "opentelemetry_sdk 0.33 (batch)";
const FASTRACE: &str = "fastrace 0.7";
const HDR: (&str, &str) = ("hdrhistogram 7", "hdrhistogram_record");
const DD: (&str, &str) = ("sketches-ddsketch 0.4", "ddsketch_add");

/// The table, in order. Benches found in the results and not named here
/// are appended at the end, so that none is hidden.
const WORKLOADS: &[Workload] = &[
    Workload {
        name: "root span with 2 attributes",
        group: "root_span_2_attrs",
        ours: Some("ours"),
        peers: &[(OTEL, "opentelemetry_sdk"), (FASTRACE, "fastrace")],
    },
    Workload {
        name: "parent with 10 children (explicit parent)",
        group: "parent_10_children",
        ours: Some("ours/explicit_parent"),
        peers: &[
            (OTEL, "opentelemetry_sdk/explicit_parent"),
            (FASTRACE, "fastrace/explicit_parent"),
        ],
    },
    Workload {
        name: "parent with 10 children (current/local parent)",
        group: "parent_10_children",
        ours: Some("ours/current_parent"),
        peers: &[
            (OTEL, "opentelemetry_sdk/current_parent"),
            ("fastrace 0.7 (LocalSpan)", "fastrace/local_parent"),
        ],
    },
    Workload {
        name: "parent with 0 children (explicit parent)",
        group: "parent_0_children",
        ours: Some("ours/explicit_parent"),
        peers: &[
            (OTEL, "opentelemetry_sdk/explicit_parent"),
            (FASTRACE, "fastrace/explicit_parent"),
        ],
    },
    Workload {
        name: "parent with 0 children (current/local parent)",
        group: "parent_0_children",
        ours: Some("ours/current_parent"),
        peers: &[
            (OTEL, "opentelemetry_sdk/current_parent"),
            ("fastrace 0.7 (LocalSpan)", "fastrace/local_parent"),
        ],
    },
    Workload {
        name: "sampled-out span",
        group: "sampled_out_span",
        ours: Some("ours"),
        peers: &[(OTEL, "opentelemetry_sdk"), (FASTRACE, "fastrace")],
    },
    Workload {
        name: "`#[instrument]` call under our Layer",
        group: "instrument_call",
        ours: Some("ours"),
        peers: &[
            ("tracing-opentelemetry 0.34", "tracing_opentelemetry"),
            ("tracing Registry alone", "registry_only"),
        ],
    },
    Workload {
        name: "`#[instrument]` nested pair under our Layer",
        group: "instrument_nested_pair",
        ours: Some("ours"),
        peers: &[
            ("tracing-opentelemetry 0.34", "tracing_opentelemetry"),
            ("tracing Registry alone", "registry_only"),
        ],
    },
    Workload {
        name: "`#[instrument]` call, no subscriber",
        group: "disabled",
        ours: None,
        peers: &[("tracing 0.1 alone", "no_subscriber")],
    },
    Workload {
        name: "span through the `opentelemetry` API (2 attributes, an event, a status): our bridge",
        group: "otel_api_span",
        ours: Some("bridge"),
        peers: &[
            (OTEL, "opentelemetry_sdk"),
            ("agent-trace's own API, same calls", "native"),
            ("the API's no-op tracer (its own share)", "api_noop"),
        ],
    },
    Workload {
        name: "latency `record` by name",
        group: "record",
        ours: Some("ours_by_name"),
        peers: &[
            HDR,
            DD,
            (
                "metrics-exporter-prometheus 0.18 (by name)",
                "metrics_exporter_prometheus_by_name",
            ),
        ],
    },
    Workload {
        name: "latency `record` by handle",
        group: "record",
        ours: Some("ours_by_handle"),
        peers: &[
            HDR,
            DD,
            (
                "metrics-exporter-prometheus 0.18 (handle)",
                "metrics_exporter_prometheus_by_handle",
            ),
        ],
    },
    Workload {
        name: "latency `record` by handle, manual clock",
        group: "record",
        ours: Some("ours_by_handle_manual_clock"),
        peers: &[HDR, DD],
    },
    Workload {
        name: "latency `record` by name, 1 thread",
        group: "record_2_threads",
        ours: Some("ours_by_name_1_thread"),
        peers: &[],
    },
    Workload {
        name: "latency `record` by name, 2 threads (time per value)",
        group: "record_2_threads",
        ours: Some("ours_by_name_2_thread"),
        peers: &[],
    },
    Workload {
        name: "latency `record` by handle, 1 thread",
        group: "record_2_threads",
        ours: Some("ours_by_handle_1_thread"),
        peers: &[],
    },
    Workload {
        name: "latency `record` by handle, 2 threads (time per value)",
        group: "record_2_threads",
        ours: Some("ours_by_handle_2_thread"),
        peers: &[],
    },
    Workload {
        name: "`percentiles` (p50, p95, p99) of a 7-day series",
        group: "percentiles_7d",
        ours: Some("ours"),
        peers: &[
            ("hdrhistogram 7", "hdrhistogram"),
            ("sketches-ddsketch 0.4", "ddsketch"),
        ],
    },
    Workload {
        name: "p99 over the last 24 h of the 7-day series",
        group: "percentiles_7d",
        ours: Some("ours_p99_24h"),
        peers: &[],
    },
    Workload {
        name: "OTLP encoding of 512 spans (OTLP/HTTP: straight to bytes)",
        group: "otlp_encode_512_spans",
        ours: Some("ours"),
        peers: &[("opentelemetry-otlp 0.33 encoding", "opentelemetry_otlp")],
    },
    Workload {
        name: "OTLP encoding of 512 spans (gRPC, JSON: message tree)",
        group: "otlp_encode_512_spans",
        ours: Some("ours_message_tree"),
        peers: &[("opentelemetry-otlp 0.33 encoding", "opentelemetry_otlp")],
    },
    Workload {
        name: "OTLP metrics push of 100 series (read, exponential histograms, protobuf)",
        group: "otlp_metrics_push_100_series",
        ours: Some("ours"),
        peers: &[(
            "our Prometheus render, same series",
            "ours_prometheus_render",
        )],
    },
    Workload {
        name: "Prometheus render of 100 series",
        group: "prometheus_render_100_series",
        ours: Some("ours"),
        peers: &[(
            "metrics-exporter-prometheus 0.18",
            "metrics_exporter_prometheus",
        )],
    },
];

/// `cargo xtask bench [--quick] [--criterion] [--overload] [--e2e] [-- <criterion args>]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (ours, passthrough) = match args.iter().position(|a| a == "--") {
        Some(at) => (&args[..at], &args[at + 1..]),
        None => (args, &[][..]),
    };
    let mut quick = false;
    let (mut criterion, mut overload, mut e2e) = (false, false, false);
    for a in ours {
        match a.as_str() {
            "--quick" => quick = true,
            "--criterion" => criterion = true,
            "--overload" => overload = true,
            "--e2e" => e2e = true,
            other => {
                return Err(format!(
                    "bench: unknown argument `{other}`; usage: cargo xtask bench [--quick] \
                     [--criterion] [--overload] [--e2e] [-- <criterion args>]"
                ));
            }
        }
    }
    if !(criterion || overload || e2e) {
        (criterion, overload, e2e) = (true, true, true);
    }
    let started = Instant::now();
    let target = target_dir();
    let mut failures = Vec::new();
    if criterion {
        run_criterion(&target, quick, passthrough)?;
    }
    if overload && let Err(e) = run_harness(&target, "overload", quick, "bench-overload.md") {
        failures.push(e);
    }
    if e2e && let Err(e) = run_harness(&target, "agent_workload", quick, "bench-agent.md") {
        failures.push(e);
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// The cargo target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo_command() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

/// Runs the criterion benches into a fresh results directory, then prints
/// the table and writes it to `target/bench-table.md`.
fn run_criterion(target: &Path, quick: bool, passthrough: &[String]) -> Result<(), String> {
    // A directory of this run's own, so that the table never mixes in an
    // older run's results (criterion keeps them, and compares with them).
    let home = target.join("xtask-bench").join("criterion");
    if home.exists() {
        std::fs::remove_dir_all(&home)
            .map_err(|e| format!("cannot clear {}: {e}", home.display()))?;
    }
    let mut args: Vec<&str> = vec!["bench"];
    args.extend_from_slice(PACKAGE_ARGS);
    for b in CRITERION_BENCHES {
        args.extend_from_slice(&["--bench", b]);
    }
    args.push("--");
    if quick {
        args.extend_from_slice(QUICK_CRITERION);
    }
    args.extend(passthrough.iter().map(String::as_str));
    eprintln!(
        "$ CRITERION_HOME={} cargo {}",
        home.display(),
        args.join(" ")
    );
    let status = cargo_command()
        .args(&args)
        .env("CRITERION_HOME", &home)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("criterion benches failed ({status})"));
    }
    let results = read_results(&home)?;
    let table = table(&results, quick);
    println!("{table}");
    let out = target.join("bench-table.md");
    std::fs::write(&out, &table).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!("bench: table written to {}", out.display());
    Ok(())
}

/// Runs one of the harness benches (not criterion), shows its report and
/// writes it to `target/<file>`.
fn run_harness(target: &Path, bench: &str, quick: bool, file: &str) -> Result<(), String> {
    let mut args: Vec<&str> = vec!["bench"];
    args.extend_from_slice(PACKAGE_ARGS);
    args.extend_from_slice(&["--bench", bench, "--"]);
    if quick {
        args.push("--quick");
    }
    eprintln!("$ cargo {}", args.join(" "));
    let out = cargo_command()
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    let path = target.join(file);
    std::fs::write(&path, report.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("bench: {bench} report written to {}", path.display());
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("the {bench} bench failed ({})", out.status))
    }
}

/// Medians in nanoseconds by (group, bench id), from every
/// `<home>/**/new/benchmark.json` and the `estimates.json` beside it.
fn read_results(home: &Path) -> Result<BTreeMap<(String, String), f64>, String> {
    let mut files = Vec::new();
    find_benchmark_files(home, &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let read = |p: &Path| -> Result<Value, String> {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
        };
        let id = read(&file)?;
        let estimates = read(&file.with_file_name("estimates.json"))?;
        let group = id["group_id"].as_str().unwrap_or_default().to_owned();
        let function = id["function_id"]
            .as_str()
            .or_else(|| id["value_str"].as_str())
            .unwrap_or_default()
            .to_owned();
        if let Some(median) = estimates["median"]["point_estimate"].as_f64() {
            out.insert((group, function), median);
        }
    }
    if out.is_empty() {
        return Err(format!("no criterion results under {}", home.display()));
    }
    Ok(out)
}

fn find_benchmark_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_benchmark_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "benchmark.json")
            && path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "new")
        {
            out.push(path);
        }
    }
}

/// A duration in nanoseconds, with three significant digits.
fn time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {unit}")
}

/// The markdown table of one run.
fn table(results: &BTreeMap<(String, String), f64>, quick: bool) -> String {
    let get = |group: &str, id: &str| results.get(&(group.to_owned(), id.to_owned())).copied();
    let mut used = std::collections::BTreeSet::new();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Criterion medians, {} run of {} on {}.\n",
        if quick { "a quick (rough)" } else { "a full" },
        today(),
        machine()
    );
    t.push_str("| workload | ours | peer | peer's median | peer / ours |\n");
    t.push_str("|---|---|---|---|---|\n");
    for w in WORKLOADS {
        let ours = w.ours.and_then(|id| get(w.group, id));
        let peers: Vec<(&str, Option<f64>)> = w
            .peers
            .iter()
            .map(|(label, id)| (*label, get(w.group, id)))
            .collect();
        if ours.is_none() && peers.iter().all(|(_, m)| m.is_none()) {
            continue;
        }
        if let Some(id) = w.ours {
            used.insert((w.group.to_owned(), id.to_owned()));
        }
        for (_, id) in w.peers {
            used.insert((w.group.to_owned(), (*id).to_owned()));
        }
        let ours_cell = ours.map_or_else(|| "-".to_owned(), time);
        if peers.is_empty() {
            let _ = writeln!(t, "| {} | {ours_cell} | - | - | - |", w.name);
        }
        for (i, (label, median)) in peers.iter().enumerate() {
            let (workload, ours_cell) = if i == 0 {
                (w.name, ours_cell.as_str())
            } else {
                ("", "")
            };
            let ratio = match (ours, median) {
                (Some(o), Some(p)) if o > 0.0 => format!("{:.2}x", p / o),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                t,
                "| {workload} | {ours_cell} | {label} | {} | {ratio} |",
                median.map_or_else(|| "-".to_owned(), time)
            );
        }
    }
    for ((group, id), median) in results {
        if !used.contains(&(group.clone(), id.clone())) {
            let _ = writeln!(t, "| {group} | - | {id} | {} | - |", time(*median));
        }
    }
    t.push_str(
        "\npeer / ours: the peer's median over ours; above 1, ours is faster. Every figure \
         is the median time of one iteration of the workload.\n",
    );
    t
}

/// Today's date (UTC), as `YYYY-MM-DD`: the date part of the core's RFC
/// 3339 rendering.
fn today() -> String {
    let mut text = agent_trace_core::Timestamp::now().to_string();
    text.truncate("YYYY-MM-DD".len());
    text
}

/// The CPU model, from `/proc/cpuinfo`: every figure names it.
pub(crate) fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map_or("an unknown CPU", str::trim)
        .to_owned()
}

/// The CPU model and the number of cores.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{}, {cores} cores", cpu_model())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_three_digits() {
        assert_eq!(time(12.345), "12.3 ns");
        assert_eq!(time(1_234.0), "1.23 µs");
        assert_eq!(time(456_789.0), "457 µs");
        assert_eq!(time(2.5e9), "2.50 s");
    }

    #[test]
    fn the_table_puts_peers_beside_ours_and_keeps_unknown_benches() {
        let mut r = BTreeMap::new();
        let mut put = |g: &str, id: &str, ns: f64| r.insert((g.to_owned(), id.to_owned()), ns);
        put("root_span_2_attrs", "ours", 100.0);
        put("root_span_2_attrs", "opentelemetry_sdk", 350.0);
        put("brand_new", "thing", 5.0);
        let t = table(&r, true);
        assert!(t.contains("| root span with 2 attributes | 100 ns | opentelemetry_sdk 0.33 (batch) | 350 ns | 3.50x |"), "{t}");
        assert!(t.contains("| fastrace 0.7 | - | - |"), "{t}");
        assert!(t.contains("| brand_new | - | thing | 5.00 ns | - |"), "{t}");
        assert!(!t.contains("sampled-out"), "{t}");
    }
}
