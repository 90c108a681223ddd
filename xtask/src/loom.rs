//! `cargo xtask loom`: the loom models of the hand-written concurrency
//! protocols, each running the shipped code with loom's atomics, locks and
//! park/unpark (`cfg(loom)` shims in each crate):
//!
//! - `agent-trace-metrics/tests/loom_spin.rs`: the spin lock.
//! - `agent-trace-export/tests/loom_batch.rs`: the batch worker's wake-up
//!   flag (no lost wake-up).
//! - `agent-trace-core/tests/loom_store.rs`: the trace store's staging
//!   queue in front of its locked index (every span stored exactly once).
//! - `agent-trace-core/src/pool.rs`, unit test `loom_model`: the span
//!   pool's hand-over of recycled allocations between threads (each goes
//!   to one taker only); a unit test, as the pool's types are private.
//! - `agent-trace-clock/src/anchor.rs`, unit test `loom_model`: the
//!   re-anchoring of the clock by whichever reader passes the deadline (a
//!   reader that sees a new deadline converts with its offset, no reading
//!   uses an offset more than two intervals old, one anchoring at a time,
//!   the flag always released).
//! - `agent-trace-metrics/src/clock.rs`, unit test `loom_model`: the
//!   ticker thread's start with the first lease and stop with the last
//!   (a ticker runs while a lease is held, every ticker is woken and
//!   exits after the last lease, and leaves the tick at 0).
//!
//! Each model sets its own preemption bound (none where exhaustive search
//! takes under a second); `LOOM_MAX_PREEMPTIONS=N cargo xtask loom`
//! overrides them all. Built with `--cfg loom` in release mode (the models
//! run about five times slower unoptimised, which outweighs the shorter
//! build once it is cached), in `target/loom`, so that the normal build is
//! not invalidated. A failure names the model; rerun
//! it alone with `LOOM_LOCATION=1` (and `LOOM_LOG=1`) to see where the
//! failing interleaving went.

use crate::cargo_with_env;
use crate::tidy::workspace_root;

/// Where a model is: a test target of its crate, or the crate's unit tests
/// named `loom_model` (a model of private types).
enum Target {
    Test(&'static str),
    Unit,
}

/// Each model: its crate and where it is.
const MODELS: &[(&str, Target)] = &[
    ("agent-trace-metrics", Target::Test("loom_spin")),
    ("agent-trace-export", Target::Test("loom_batch")),
    ("agent-trace-core", Target::Test("loom_store")),
    // `pool.rs`.
    ("agent-trace-core", Target::Unit),
    // `anchor.rs`.
    ("agent-trace-clock", Target::Unit),
    // `clock.rs`.
    ("agent-trace-metrics", Target::Unit),
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(other) = args.first() {
        return Err(format!("loom: unknown argument `{other}`"));
    }
    // The caller's flags too, if any (the `--cfg` changes every crate's
    // build either way: hence the target directory of its own).
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} --cfg loom"),
        _ => "--cfg loom".to_owned(),
    };
    let target_dir = workspace_root().join("target/loom");
    let target_dir = target_dir.to_str().ok_or("a non-UTF-8 target path")?;
    let env = [
        ("RUSTFLAGS", rustflags.as_str()),
        ("CARGO_TARGET_DIR", target_dir),
    ];
    let tests: Vec<_> = MODELS
        .iter()
        .filter_map(|(package, target)| match target {
            Target::Test(test) => Some((*package, *test)),
            Target::Unit => None,
        })
        .collect();
    let mut cargo_args = vec!["test", "--release"];
    for (package, _) in &tests {
        cargo_args.extend(["-p", package]);
    }
    // The exporters' dependencies (HTTP clients, runtimes) play no part in
    // the models.
    cargo_args.push("--no-default-features");
    for (_, test) in &tests {
        cargo_args.extend(["--test", test]);
    }
    cargo_with_env(&env, &cargo_args)?;
    // The unit-test models, by name (the crates' other unit tests do not
    // run under loom).
    let mut cargo_args = vec!["test", "--release"];
    for (package, target) in MODELS {
        if matches!(target, Target::Unit) {
            cargo_args.extend(["-p", package]);
        }
    }
    cargo_args.extend(["--no-default-features", "--lib", "loom_model"]);
    cargo_with_env(&env, &cargo_args)
}
