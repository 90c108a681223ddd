//! Test doubles and helpers shared by the integration tests: a small
//! deterministic PRNG, exact reference computations, and a registry on a
//! manual clock.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::Arc;
use std::time::Duration;

use agent_trace_metrics::{LatencyMetrics, LatencyMetricsBuilder, ManualClock};

/// 2023-11-14T22:13:20Z: a realistic wall-clock start, in nanoseconds.
pub(crate) const START: u64 = 1_700_000_000 * 1_000_000_000;

/// A registry builder on a manual clock at [`START`], and the clock.
pub(crate) fn manual() -> (LatencyMetricsBuilder, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    (LatencyMetrics::builder().clock(clock.clone()), clock)
}

/// A registry with default settings on a manual clock at [`START`].
pub(crate) fn manual_metrics() -> (LatencyMetrics, Arc<ManualClock>) {
    let (b, clock) = manual();
    (b.build().expect("defaults are valid"), clock)
}

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// SplitMix64: tiny, deterministic, and good enough for test data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Log-uniform in `[lo, hi)`.
    pub(crate) fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.uniform()).exp()
    }

    /// Standard normal, by Box-Muller.
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1], so ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The nearest-rank quantile: the `max(1, ceil(q n))`-th smallest value.
pub(crate) fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// Count, sum, mean, min, max and population std, computed naively
/// (two passes, summing in `f64`).
pub(crate) fn naive_stats(values: &[f64]) -> (u64, f64, f64, f64, f64, f64) {
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    let mean = sum / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (values.len() as u64, sum, mean, min, max, var.sqrt())
}

/// Relative difference `|a - b| / |b|` (`0` when both are `0`).
pub(crate) fn rel(a: f64, b: f64) -> f64 {
    if a == b { 0.0 } else { (a - b).abs() / b.abs() }
}
