//! `cargo xtask sanitize`: the tests of the crates that hold unsafe code
//! (`agent-trace-core`, `agent-trace-metrics`; see "Unsafe code" in
//! ARCHITECTURE.md) under AddressSanitizer, on the nightly toolchain.
//!
//! `-Zsanitizer=address` instruments our code and the dependencies'; the
//! standard library stays uninstrumented (no `rust-src` here, so no
//! `-Zbuild-std`), but ASan's allocator still catches a use after free, a
//! double free or an overflow of a heap block that our code makes, and
//! LeakSanitizer reports leaked blocks at exit. Doctests are left out
//! (rustdoc does not take the flag through `RUSTFLAGS`). A separate target
//! directory keeps the instrumented build from invalidating the normal one.

use std::process::Command;

use crate::tidy::workspace_root;

/// The crates with unsafe modules.
const CRATES: &[&str] = &["agent-trace-core", "agent-trace-metrics"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(other) = args.first() {
        return Err(format!("sanitize: unknown argument `{other}`"));
    }
    let root = workspace_root();
    let target = host_target()?;
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&root)
        .arg("+nightly")
        .arg("test")
        .args(CRATES.iter().flat_map(|c| ["-p", c]))
        .args(["--lib", "--tests", "--target", &target])
        .env("RUSTFLAGS", "-Zsanitizer=address")
        // Leaks, and a report that names the test binary's frames.
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        .env("CARGO_TARGET_DIR", root.join("target/asan"));
    eprintln!("xtask: {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo +nightly: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the tests under AddressSanitizer failed ({status}); the report is above"
        ))
    }
}

/// The host's target triple: `-Zsanitizer` needs an explicit `--target`
/// so that build scripts and proc macros are built without it.
fn host_target() -> Result<String, String> {
    let out = Command::new("rustc")
        .args(["+nightly", "-vV"])
        .output()
        .map_err(|e| format!("cannot run rustc +nightly: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc +nightly -vV named no host".to_owned())
}
