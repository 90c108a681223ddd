//! A series' memory stays bounded by its slots whatever the traffic: a
//! typical week fits in 64 KiB, and ten million values over the widest
//! latency range stay under 1 MiB.

mod support;

use std::time::{Duration, Instant};

use agent_trace_metrics::SeriesHandle;
use support::{Rng, manual_metrics};

const KIB: usize = 1024;
const WEEK_SECS: u64 = 7 * 86_400;

/// Records `n` values from `generate`, evenly spread over seven days, and
/// returns the handle and the largest footprint seen along the way.
fn fill(
    handle: &SeriesHandle,
    clock: &agent_trace_metrics::ManualClock,
    n: u64,
    mut generate: impl FnMut() -> f64,
) -> usize {
    let step = Duration::from_nanos(WEEK_SECS * 1_000_000_000 / n);
    let mut peak = 0;
    for i in 0..n {
        handle.record(generate()).unwrap();
        clock.advance(step);
        if i % (n / 50) == 0 {
            peak = peak.max(handle.memory_bytes());
        }
    }
    peak.max(handle.memory_bytes())
}

#[test]
fn a_typical_week_fits_in_64_kib() {
    // One call per second for seven days, 0.1 to 30 s.
    let (metrics, clock) = manual_metrics();
    let handle = metrics.series("llm_inference", &[]);
    let mut rng = Rng::new(7);
    let peak = fill(&handle, &clock, WEEK_SECS, || rng.range(0.1, 30.0));
    let end = handle.memory_bytes();
    println!(
        "typical week: {} values, {} slots, {end} bytes at the end, {peak} bytes at peak",
        WEEK_SECS,
        handle.slot_count()
    );
    assert!(peak < 64 * KIB, "peak {peak} bytes");
    assert_eq!(
        metrics.stats("llm_inference", None).unwrap().count,
        WEEK_SECS
    );
}

#[test]
fn ten_million_values_from_1_us_to_10_min_stay_under_1_mib() {
    let (metrics, clock) = manual_metrics();
    let handle = metrics.series("anything", &[]);
    let mut rng = Rng::new(11);
    let started = Instant::now();
    let peak = fill(&handle, &clock, 10_000_000, || rng.log_range(1e-6, 600.0));
    let elapsed = started.elapsed();
    println!(
        "10M values over 1 us..10 min and 7 days: {} slots, {} bytes at the end, \
         {peak} bytes at peak, recorded in {elapsed:?}",
        handle.slot_count(),
        handle.memory_bytes()
    );
    assert!(peak < 1024 * KIB, "peak {peak} bytes");
    // All of it still within the retention (up to one 3 h slot expired).
    let count = metrics.stats("anything", None).unwrap().count;
    assert!(count > 10_000_000 - 10_000_000 / 50, "{count}");
}

#[test]
fn a_burst_in_one_slot_is_as_small_as_its_bucket_range() {
    let (metrics, _clock) = manual_metrics();
    let handle = metrics.series("burst", &[]);
    let mut rng = Rng::new(3);
    for _ in 0..1_000_000 {
        handle.record(rng.log_range(1e-6, 600.0)).unwrap();
    }
    let bytes = handle.memory_bytes();
    println!("1M values in one 5 s slot: {bytes} bytes");
    // One live slot: a dense range of ~1,000 u64 counts (plus growth slack).
    assert!(bytes < 24 * KIB, "{bytes} bytes");
}
