//! Threads recording into the same operation at once lose nothing: counts,
//! sums and extremes are exact.

mod support;

use std::sync::Barrier;
use std::time::Duration;

use support::manual_metrics;

#[test]
fn threads_recording_into_one_operation_give_exact_counts() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 50_000;
    let (metrics, clock) = manual_metrics();
    let barrier = Barrier::new(THREADS as usize + 1);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (metrics, barrier) = (&metrics, &barrier);
            s.spawn(move || {
                let handle = metrics.series("llm", &[]);
                barrier.wait();
                for i in 0..PER_THREAD {
                    // Half through the registry, half through a handle.
                    let v = (t * PER_THREAD + i + 1) as f64 * 1e-6;
                    if i % 2 == 0 {
                        metrics.record("llm", v).unwrap();
                    } else {
                        handle.record(v).unwrap();
                    }
                }
            });
        }
        // Move time and query while they record, so slots close under load.
        barrier.wait();
        for _ in 0..50 {
            clock.advance(Duration::from_secs(3));
            let _ = metrics.percentiles("llm");
        }
    });
    let n = THREADS * PER_THREAD;
    let s = metrics.stats("llm", None).unwrap();
    assert_eq!(s.count, n);
    assert_eq!(s.min, 1e-6);
    assert_eq!(s.max, n as f64 * 1e-6);
    let exact_sum = (n * (n + 1) / 2) as f64 * 1e-6;
    assert!((s.sum - exact_sum).abs() / exact_sum < 1e-12);
}

/// More threads than a series has stripes, so that threads share stripes
/// and contend for them on every record (the fast path's `try_lock` fails,
/// the full path waits), while another thread queries and closes slots.
#[test]
fn threads_sharing_stripes_lose_nothing() {
    const THREADS: u64 = 9;
    const PER_THREAD: u64 = 100_000;
    let (metrics, clock) = manual_metrics();
    let handle = metrics.series("tool", &[]);
    let barrier = Barrier::new(THREADS as usize + 1);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (handle, barrier) = (&handle, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    handle.record((t * PER_THREAD + i + 1) as f64).unwrap();
                }
            });
        }
        barrier.wait();
        for _ in 0..200 {
            clock.advance(Duration::from_secs(1));
            let _ = metrics.stats("tool", None);
        }
    });
    let n = THREADS * PER_THREAD;
    let s = metrics.stats("tool", None).unwrap();
    assert_eq!(s.count, n);
    assert_eq!((s.min, s.max), (1.0, n as f64));
    assert_eq!(s.sum, (n * (n + 1) / 2) as f64);
}
