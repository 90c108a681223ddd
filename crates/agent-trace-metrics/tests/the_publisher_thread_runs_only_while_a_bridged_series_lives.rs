//! No surprise thread: the thread that hands bridged series' values to the
//! `metrics` facade every second (`agent-trace-publish`) starts with the
//! first bridged series and ends within about a second of the last one's
//! drop, and a later series starts it again.
//!
//! Threads are listed from `/proc/self/task/*/comm` (names cut to 15
//! bytes: `agent-trace-pub`); the test is alone in its binary.

#![cfg(target_os = "linux")]

#[path = "support/threads.rs"]
mod threads;

use agent_trace_metrics::LatencyMetrics;

/// The publisher's name as `/proc` shows it.
const COMM: &str = "agent-trace-pub";

/// Records into `metrics` from a thread that then exits: a thread's cache
/// of recent operations keeps theirs (and so their series) alive until it
/// exits, and the test is about the series' lifetime, not the cache's.
fn record_on_another_thread(metrics: &LatencyMetrics, operation: &str) {
    std::thread::scope(|s| {
        s.spawn(|| metrics.record(operation, 0.5).unwrap());
    });
}

#[test]
fn the_publisher_thread_runs_only_while_a_bridged_series_lives() {
    // A registry without the bridge starts no publisher.
    let unbridged = LatencyMetrics::builder()
        .metrics_facade(false)
        .build()
        .unwrap();
    unbridged.record("step", 0.5).unwrap();
    assert_eq!(threads::named(COMM), 0);

    // A bridged series starts it; it ends once the series is gone.
    let bridged = LatencyMetrics::new();
    record_on_another_thread(&bridged, "step");
    threads::wait_for(COMM, 1);
    drop(bridged);
    threads::wait_for(COMM, 0);

    // A new bridged series starts it again; two registries share it.
    let a = LatencyMetrics::new();
    let b = LatencyMetrics::new();
    record_on_another_thread(&a, "step");
    record_on_another_thread(&b, "other");
    threads::wait_for(COMM, 1);
    drop(a);
    drop(b);
    threads::wait_for(COMM, 0);
}
