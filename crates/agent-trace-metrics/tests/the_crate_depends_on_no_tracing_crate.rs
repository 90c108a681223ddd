//! Architecture invariant: `agent-trace-metrics` depends on no tracing
//! crate; the tracer feeds it, not the other way round. (It shares the
//! bottom crate, `agent-trace-clock`, with them.)

#[test]
fn no_tracing_crate_is_a_dependency() {
    let manifest = include_str!("../Cargo.toml");
    let mut section = "";
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if !section.contains("dependencies") {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("");
        // The workspace's one clock, below the tracing crates too.
        if name == "agent-trace-clock" {
            continue;
        }
        for forbidden in ["agent-trace", "tracing", "opentelemetry", "fastrace"] {
            assert!(
                !name.starts_with(forbidden),
                "{section} has {name}, but this crate must not depend on tracing crates"
            );
        }
    }
}
