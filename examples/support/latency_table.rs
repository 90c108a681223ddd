//! The p50/p95/p99 table the examples print, from the global latency
//! metrics (shared by `agent_workflow` and `async_workflow` through
//! `#[path]`).

use agent_trace::latency_metrics;

/// Prints p50/p95/p99 and the count of every operation the latency metrics
/// have seen, in milliseconds, after a heading that says over how many
/// `what` (runs, tasks) they were measured.
pub(crate) fn print_latencies(runs: u64, what: &str) {
    println!("latency over {runs} {what} (ms)\n");
    let mut operations = latency_metrics().operations();
    operations.sort();
    let width = operations.iter().map(String::len).max().unwrap_or(0).max(9);
    println!(
        "{:<width$} {:>6} {:>8} {:>8} {:>8}",
        "operation", "count", "p50", "p95", "p99"
    );
    for op in operations {
        if let Some(p) = latency_metrics().percentiles(&op) {
            println!(
                "{op:<width$} {:>6} {:>8.1} {:>8.1} {:>8.1}",
                p.count,
                p.p50 * 1e3,
                p.p95 * 1e3,
                p.p99 * 1e3
            );
        }
    }
    println!();
}
