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
