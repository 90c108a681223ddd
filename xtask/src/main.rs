//! The project's own automation, one entry point: `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: what `.ci/run` runs: formatting, clippy with
//!   `-D warnings`, the whole test suite (which includes `tidy`), docs.
//! - `cargo xtask tidy`: the architecture invariants of `ARCHITECTURE.md`,
//!   checked over the tree. Also runs as a `#[test]`, so `cargo test` alone
//!   catches a broken invariant.

mod tidy;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tidy") => tidy::check(&tidy::workspace_root()).map_err(|problems| {
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            format!("{} tidy problem(s)", problems.len())
        }),
        _ => Err("usage: cargo xtask <ci|tidy>".to_owned()),
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
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(tidy::workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

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
    Ok(())
}
