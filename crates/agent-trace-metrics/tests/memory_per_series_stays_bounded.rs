//! A series' memory stays bounded whatever the traffic: a typical week fits
//! in 64 KiB, ten million values over the widest latency range stay under
//! the default 1 MiB, and a tighter `max_series_bytes` is a hard bound that
//! drops (and counts) the oldest slots instead of growing.

mod support;

use std::time::{Duration, Instant};

use agent_trace_metrics::MetricsError;
use agent_trace_metrics::SeriesHandle;
use support::{Rng, manual, manual_metrics};

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
fn exemplars_on_every_value_add_a_bounded_amount() {
    // The typical week again, every value with a trace id. A closed slot
    // keeps at most 14 exemplars of 32 bytes plus a 24-byte entry, and a
    // series at most 264 slots: at most 124.6 KB more than without.
    let (metrics, clock) = manual_metrics();
    let handle = metrics.series("llm_inference", &[]);
    let mut rng = Rng::new(7);
    let mut id = 0u128;
    let step = Duration::from_secs(1);
    let mut peak = 0;
    for i in 0..WEEK_SECS {
        id += 1;
        handle
            .record_with_exemplar(rng.range(0.1, 30.0), id)
            .unwrap();
        clock.advance(step);
        if i % (WEEK_SECS / 50) == 0 {
            peak = peak.max(handle.memory_bytes());
        }
    }
    let peak = peak.max(handle.memory_bytes());
    println!("typical week with exemplars: {peak} bytes at peak");
    assert!(peak < 64 * KIB + 124_600, "peak {peak} bytes");
    assert!(!metrics.exemplars("llm_inference", None).is_empty());
}

#[test]
fn a_byte_budget_bounds_exemplars_too() {
    let budget = 160 * KIB;
    let (builder, clock) = manual();
    let metrics = builder.max_series_bytes(budget).build().unwrap();
    let handle = metrics.series("anything", &[]);
    let mut rng = Rng::new(5);
    let n = 1_000_000u64;
    let step = Duration::from_nanos(WEEK_SECS * 1_000_000_000 / n);
    let mut peak = 0;
    for i in 0..n {
        handle
            .record_with_exemplar(rng.log_range(1e-6, 600.0), u128::from(i) + 1)
            .unwrap();
        clock.advance(step);
        if i % (n / 100) == 0 {
            peak = peak.max(handle.memory_bytes());
        }
    }
    let peak = peak.max(handle.memory_bytes());
    println!(
        "budget {budget} with exemplars: peak {peak} bytes, {} evicted",
        handle.evicted()
    );
    assert!(peak <= budget, "peak {peak} bytes over the {budget} budget");
    assert!(
        handle.evicted() > 0,
        "this traffic does not fit in {budget} bytes"
    );
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

#[test]
fn a_byte_budget_is_a_hard_bound_and_every_dropped_value_is_counted() {
    let budget = 256 * KIB;
    let (builder, clock) = manual();
    let metrics = builder.max_series_bytes(budget).build().unwrap();
    let handle = metrics.series("anything", &[]);
    let mut rng = Rng::new(5);
    let n = 10_000_000;
    let peak = fill(&handle, &clock, n, || rng.log_range(1e-6, 600.0));
    let kept = metrics.stats("anything", None).unwrap().count;
    let evicted = metrics.evicted("anything");
    println!("budget {budget}: peak {peak} bytes, {kept} kept, {evicted} evicted");
    assert!(peak <= budget, "peak {peak} bytes over the {budget} budget");
    assert!(evicted > 0, "this traffic does not fit in {budget} bytes");
    assert_eq!(handle.evicted(), evicted);
    // Kept plus evicted is everything but what the retention let go (at
    // most one 3 h slot of the week).
    assert!(kept + evicted <= n);
    assert!(kept + evicted >= n - n / 50, "{kept} + {evicted}");
    // The newest values are the ones kept: the last hour is all there.
    let hour = metrics.stats(
        "anything",
        "1h".parse::<agent_trace_metrics::Window>().unwrap(),
    );
    let per_hour = n / (7 * 24);
    assert!(hour.unwrap().count >= per_hour - per_hour / 20);
}

#[test]
fn a_budget_smaller_than_the_live_slots_is_refused() {
    let (builder, _clock) = manual();
    match builder.max_series_bytes(1_000).build() {
        Err(MetricsError::LimitTooSmall {
            what: "max_series_bytes",
            min,
            found: 1_000,
        }) => assert!(min > 16 * KIB),
        other => panic!("{other:?}"),
    }
}
