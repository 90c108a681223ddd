//! No surprise thread: the ticker (`agent-trace-clock`) runs only
//! while a registry on the default clock, or a handle of one, is alive;
//! reads of the clock and registries on other clocks start nothing.
//!
//! Threads are listed from `/proc/self/task/*/comm`, where names are cut to
//! 15 bytes: `agent-trace-clo`. The test is alone in its binary, so that no
//! other test's registry starts or keeps the ticker meanwhile; the
//! publisher thread has a test of its own
//! (`the_publisher_thread_runs_only_while_a_bridged_series_lives.rs`).

#![cfg(target_os = "linux")]

#[path = "support/threads.rs"]
mod threads;

use std::sync::Arc;

use agent_trace_metrics::{Clock, LatencyMetrics, ManualClock, SystemClock};

/// The ticker's name as `/proc` shows it.
const COMM: &str = "agent-trace-clo";

#[test]
fn the_clock_thread_runs_only_while_a_registry_needs_it() {
    // Reads of the system clock start nothing.
    assert!(SystemClock.now_nanos() > 0);
    assert!(SystemClock.now() > ManualClock::default().now());
    assert_eq!(threads::named(COMM), 0);

    // A registry on another clock starts nothing, even when it records.
    let manual = LatencyMetrics::builder()
        .clock(Arc::new(ManualClock::new(1_000)))
        .metrics_facade(false)
        .build()
        .unwrap();
    manual.record("step", 0.5).unwrap();
    let explicit = LatencyMetrics::builder()
        .clock(Arc::new(SystemClock))
        .metrics_facade(false)
        .build()
        .unwrap();
    explicit.record("step", 0.5).unwrap();
    assert_eq!(threads::named(COMM), 0);

    // A registry on the default clock starts it; dropping it stops it.
    let metrics = LatencyMetrics::new();
    threads::wait_for(COMM, 1);
    drop(metrics);
    threads::wait_for(COMM, 0);

    // Again (a new thread), and two registries share one thread; a handle
    // keeps it running after its registry is gone.
    let a = LatencyMetrics::builder()
        .metrics_facade(false)
        .build()
        .unwrap();
    let b = LatencyMetrics::new();
    threads::wait_for(COMM, 1);
    let handle = a.series("tool_call", &[]);
    drop(a);
    drop(b);
    handle.record(0.25).unwrap();
    assert_eq!(threads::named(COMM), 1);
    drop(handle);
    threads::wait_for(COMM, 0);
}
