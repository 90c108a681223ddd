//! The project's own automation, one entry point: `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: what `.ci/run` runs: formatting, clippy with
//!   `-D warnings`, the whole test suite (which includes `tidy`), docs.
//! - `cargo xtask tidy`: the architecture invariants of `ARCHITECTURE.md`,
//!   checked over the tree. Also runs as a `#[test]`, so `cargo test` alone
//!   catches a broken invariant.
//! - `cargo xtask e2e`: the Prometheus bridge against the real `promtool`
//!   and a real Prometheus server, the Jaeger agent packets against an
//!   independent Thrift decoder, and the `agent-trace report` HTML in a
//!   headless Chromium (see `e2e.rs`; needs `scripts/install-e2e-deps.sh`).
//! - `cargo xtask bench [--quick] [--criterion] [--overload] [--e2e]`:
//!   every bench, with one markdown table of our medians next to the
//!   peers' from the same run, the batch pipeline under overload, and the
//!   CPU cost of tracing a simulated agent (see `bench.rs`; `--quick` is
//!   what `.ci/run` runs, so that the benches never rot).
//! - `cargo xtask powerset [--depth N]`: the facade under every
//!   combination of its features (or those of at most N features), with
//!   clippy and `-D warnings` (see `powerset.rs`).
//! - `cargo xtask sanitize`: the tests of the crates with unsafe code
//!   under AddressSanitizer and LeakSanitizer, on nightly (see
//!   `sanitize.rs`).
//! - `cargo xtask perfgate [--update]`: instructions per operation of six
//!   hot paths under callgrind, against `perf/baseline.txt`; fails when one
//!   grew more than 5% (see `perfgate.rs`; `--update` rewrites the
//!   baseline).
//! - `cargo xtask loom`: the loom models of the spin lock, the batch
//!   worker's wake-up flag, the trace store's staging queue, the span
//!   pool's hand-over, the clock's anchoring and the metrics ticker's
//!   lease (see `loom.rs`).

mod bench;
mod e2e;
mod loom;
mod perfgate;
mod powerset;
mod sanitize;
mod tidy;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run(&args[1..]),
        Some("e2e") => e2e::run(),
        Some("loom") => loom::run(&args[1..]),
        Some("perfgate") => perfgate::run(&args[1..]),
        Some("sanitize") => sanitize::run(&args[1..]),
        Some("powerset") => match args.get(1).map(String::as_str) {
            None => powerset::run(None),
            Some("--depth") => match args.get(2).and_then(|d| d.parse().ok()) {
                Some(depth) => powerset::run(Some(depth)),
                None => Err("usage: cargo xtask powerset [--depth N]".to_owned()),
            },
            Some(other) => Err(format!("powerset: unknown argument `{other}`")),
        },
        Some("tidy") => tidy::check(&tidy::workspace_root()).map_err(|problems| {
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            format!("{} tidy problem(s)", problems.len())
        }),
        _ => {
            Err("usage: cargo xtask <ci|bench|e2e|tidy|powerset|perfgate|loom|sanitize>".to_owned())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_with_env(&[], args)
}

fn cargo_with_env(env: &[(&str, &str)], args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(tidy::workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// The facade's features, checked one at a time ("" is none).
const FACADE_FEATURES: &[&str] = &[
    "",
    "tracing",
    "http",
    "prometheus",
    "otlp-http",
    "otlp-grpc",
    "zipkin",
    "jaeger",
    "file",
    "tls",
    "otlp-proto",
    "toml",
    "anyhow",
    "tower",
    "axum",
    "reqwest",
    "otel",
];

/// Every optional feature of `agent-trace-export`.
const EXPORT_FEATURES: &str = "otlp-grpc,zipkin,jaeger,prometheus,tls";

/// The whole CI: the same test command the README gives, plus the checks.
fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])?;
    // The cost crate alone, without its `toml` feature (the workspace run
    // above turns it on through the facade's dev-dependency): TOML price
    // tables are refused, naming the feature, and clippy sees that code.
    cargo(&[
        "clippy",
        "-p",
        "agent-trace-genai",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "-p", "agent-trace-genai"])?;
    // `record_exception(&anyhow_error)`, behind the facade's feature
    // `anyhow` (off in the workspace run above).
    cargo(&[
        "test",
        "-p",
        "agent-trace",
        "--features",
        "anyhow",
        "--test",
        "newcomer_first_attempts",
    ])?;
    // The exporters behind non-default features, against their receivers,
    // and each exporter feature alone (so none leans on another by accident).
    cargo(&[
        "clippy",
        "-p",
        "agent-trace-export",
        "--all-targets",
        "--features",
        EXPORT_FEATURES,
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&[
        "test",
        "-p",
        "agent-trace-export",
        "--features",
        EXPORT_FEATURES,
    ])?;
    // The facade under every combination of at most two of its features,
    // none, and all (which also builds the export crate with those
    // exporters alone): no feature leans on another by accident. Pairs are
    // exhaustive while every `cfg` names at most two features, which
    // `tidy` enforces (see powerset.rs); `cargo xtask powerset` runs all
    // 4,096. (clippy rather than check: warnings fail, without the full
    // rebuild that RUSTFLAGS would cause.)
    powerset::run(Some(2))?;
    // Broken intra-doc links and malformed docs fail the build, as warnings
    // do everywhere else.
    cargo_with_env(
        &[("RUSTDOCFLAGS", "-D warnings")],
        &["doc", "--workspace", "--no-deps", "--all-features"],
    )?;
    Ok(())
}
