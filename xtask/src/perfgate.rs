//! `cargo xtask perfgate [--update]`: the instruction-count regression gate.
//!
//! Builds `perf/` (the `agent-trace-perf` binary, release profile), then
//! measures each of its workloads under callgrind: the instructions the
//! calling thread runs inside the measured loop (`--collect-atstart=no
//! --toggle-collect`), once with [`OPS`] operations and once with twice as
//! many, and the figure is the difference of the two counts over the
//! difference of the operations, so that set-up and one-off costs cancel.
//! Instruction counts do not depend on the machine's load, which wall-clock
//! medians on this 2-core machine do (±30%).
//!
//! The figures are compared with [`BASELINE`]; the gate fails when one is
//! more than [`LIMIT_PERCENT`] above its baseline, naming the figure, the
//! baseline, the measurement and the change. `--update` writes the
//! measured figures as the new baseline (commit it with the change that
//! moved them, and say why in the commit message).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::tidy::workspace_root;

/// The baseline, relative to the workspace root.
const BASELINE: &str = "perf/baseline.txt";

/// How far above its baseline a figure may go, in percent.
const LIMIT_PERCENT: f64 = 5.0;

/// Operations in the first callgrind run of each workload; the second runs
/// twice as many.
const OPS: u64 = 10_000;

/// The callgrind pattern of the measured loop (`perf/src/main.rs`).
const MEASURED: &str = "--toggle-collect=*agent_trace_perf::measured*";

/// A workload of the perf binary, as `--list` prints it.
struct Workload {
    name: String,
    ops_per_iteration: u64,
    what: String,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let update = match args {
        [] => false,
        [flag] if flag == "--update" => true,
        _ => return Err("usage: cargo xtask perfgate [--update]".to_owned()),
    };
    let started = Instant::now();
    let valgrind = version("valgrind", &["--version"]).map_err(|e| {
        format!(
            "perfgate needs valgrind (callgrind): {e}; install it with \
             `scripts/install-e2e-deps.sh valgrind` (Debian package `valgrind`)"
        )
    })?;
    crate::cargo(&["build", "--release", "-p", "agent-trace-perf"])?;
    let built = started.elapsed();
    let binary = target_dir().join("release").join("agent-trace-perf");
    let workloads = list(&binary)?;
    let out_dir = target_dir().join("perfgate");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;

    let mut measured = Vec::new();
    for w in &workloads {
        let per_op = instructions_per_op(&binary, &out_dir, w)?;
        measured.push((w, per_op));
    }
    let measure_secs = (started.elapsed() - built).as_secs_f64();
    let timing = format!(
        "perfgate: {:.0} s (build {:.0} s, measurement {measure_secs:.0} s)",
        started.elapsed().as_secs_f64(),
        built.as_secs_f64()
    );

    let path = workspace_root().join(BASELINE);
    if update {
        let text = baseline_text(&measured, &valgrind)?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("perfgate: wrote {BASELINE}\n{timing}");
        return Ok(());
    }

    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {}: {e} (`cargo xtask perfgate --update` writes it)",
            path.display()
        )
    })?;
    let baseline = parse_baseline(&text)?;
    let mut failures = Vec::new();
    println!(
        "{:<26} {:>12} {:>12} {:>9}",
        "figure (instructions/op)", "baseline", "measured", "change"
    );
    for (w, per_op) in &measured {
        let Some(&base) = baseline.get(w.name.as_str()) else {
            println!(
                "{:<26} {:>12} {per_op:>12.1} {:>9}  NO BASELINE",
                w.name, "-", "-"
            );
            failures.push(format!(
                "{}: no baseline in {BASELINE} (measured {per_op:.1}; \
                 `cargo xtask perfgate --update` adds it)",
                w.name
            ));
            continue;
        };
        let change = (per_op - base) / base * 100.0;
        let verdict = if change > LIMIT_PERCENT {
            failures.push(format!(
                "{}: {per_op:.1} instructions/op against a baseline of {base:.1} \
                 ({change:+.2}%, limit +{LIMIT_PERCENT}%)",
                w.name
            ));
            "REGRESSED"
        } else if change < -LIMIT_PERCENT {
            "faster: consider --update"
        } else {
            "ok"
        };
        println!(
            "{:<26} {base:>12.1} {per_op:>12.1} {change:>+8.2}%  {verdict}",
            w.name
        );
    }
    for name in baseline.keys() {
        if !workloads.iter().any(|w| w.name == *name) {
            println!("{name:<26} in {BASELINE} but no longer measured (--update drops it)");
        }
    }
    eprintln!("{timing}");
    if failures.is_empty() {
        eprintln!(
            "perfgate: every figure within +{LIMIT_PERCENT}% of {BASELINE} ({})",
            baseline_comment(&text)
        );
        Ok(())
    } else {
        for f in &failures {
            eprintln!("perfgate: FAILED: {f}");
        }
        Err(format!(
            "perfgate: {} figure(s) over {BASELINE} by more than {LIMIT_PERCENT}%: {}. If the \
             cost is intended, run `cargo xtask perfgate --update` and commit {BASELINE} with \
             the reason",
            failures.len(),
            failures.join("; ")
        ))
    }
}

/// The cargo target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The first line a program prints for `args`.
fn version(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed ({})",
            args.join(" "),
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// The perf binary's workloads.
fn list(binary: &Path) -> Result<Vec<Workload>, String> {
    let out = Command::new(binary)
        .arg("--list")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --list failed ({})",
            binary.display(),
            out.status
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let name = parts.next().unwrap_or_default().to_owned();
            let ops = parts.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0);
            let what = parts.next().unwrap_or_default().to_owned();
            match ops {
                Some(ops_per_iteration) => Ok(Workload {
                    name,
                    ops_per_iteration,
                    what,
                }),
                None => Err(format!("unexpected --list line `{line}`")),
            }
        })
        .collect()
}

/// Instructions per operation of `w`: two callgrind runs, the difference.
fn instructions_per_op(binary: &Path, out_dir: &Path, w: &Workload) -> Result<f64, String> {
    let iterations = (OPS / w.ops_per_iteration).max(1);
    let first = callgrind(binary, out_dir, &w.name, iterations)?;
    let second = callgrind(binary, out_dir, &w.name, 2 * iterations)?;
    if first == 0 || second <= first {
        return Err(format!(
            "{}: callgrind counted {first} then {second} instructions in the measured \
             loop; is `{MEASURED}` still the loop's name in perf/src/main.rs?",
            w.name
        ));
    }
    let ops = iterations * w.ops_per_iteration;
    let per_op = (second - first) as f64 / ops as f64;
    eprintln!(
        "perfgate: {:<26} {per_op:>10.2} instructions/op ({first} and {second} for {ops} and \
         {} operations)",
        w.name,
        2 * ops
    );
    Ok(per_op)
}

/// Runs one workload under callgrind; the instructions it counted.
fn callgrind(binary: &Path, out_dir: &Path, name: &str, iterations: u64) -> Result<u64, String> {
    let out_file = out_dir.join(format!("{name}.{iterations}.callgrind"));
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            MEASURED,
            &format!("--callgrind-out-file={}", out_file.display()),
        ])
        .arg(binary)
        .args([name, &iterations.to_string()])
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{name} {iterations} under callgrind failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = std::fs::read_to_string(&out_file)
        .map_err(|e| format!("cannot read {}: {e}", out_file.display()))?;
    ["summary:", "totals:"]
        .iter()
        .find_map(|key| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .ok_or_else(|| format!("{}: no summary line", out_file.display()))
}

/// The baseline's figures by name (`#` starts a comment line).
fn parse_baseline(text: &str) -> Result<BTreeMap<&str, f64>, String> {
    let mut figures = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        match (
            parts.next(),
            parts.next().map(str::parse::<f64>),
            parts.next(),
        ) {
            (Some(name), Some(Ok(value)), None) if value > 0.0 => {
                figures.insert(name, value);
            }
            _ => {
                return Err(format!(
                    "{BASELINE}:{}: expected `<figure> <instructions per op>`, found `{line}`",
                    i + 1
                ));
            }
        }
    }
    Ok(figures)
}

/// The baseline's `# measured ...` comment, for the passing message.
fn baseline_comment(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.strip_prefix("# measured "))
        .map_or("no measurement note", str::trim)
}

/// A new baseline file.
fn baseline_text(measured: &[(&Workload, f64)], valgrind: &str) -> Result<String, String> {
    let rustc = version("rustc", &["--version"])?;
    let cpu = crate::bench::cpu_model();
    let mut t = String::new();
    t.push_str(
        "# The baseline of `cargo xtask perfgate`: instructions per operation on the calling\n\
         # thread (callgrind's Ir, difference of two runs; see xtask/src/perfgate.rs and\n\
         # BENCHMARKS.md). The gate fails when a figure exceeds its baseline by more than 5%.\n\
         # Rewritten by `cargo xtask perfgate --update`: commit it with the change that moved\n\
         # the figures, and say why in the commit message.\n",
    );
    // RFC 3339 to the minute: `YYYY-MM-DDTHH:MM`.
    let mut now = agent_trace_core::Timestamp::now().to_string();
    now.truncate("YYYY-MM-DDTHH:MM".len());
    let _ = writeln!(t, "# measured {now} UTC on {cpu}, {rustc}, {valgrind}");
    for (w, per_op) in measured {
        let _ = writeln!(t, "\n# {}\n{} {per_op:.1}", w.what, w.name);
    }
    Ok(t)
}
