//! Deterministic latencies, shared by the `latency` bench and
//! `cargo xtask perfgate`'s `latency_record_by_handle` workload (`perf/`,
//! which includes this file), so that the two record the same values.

/// SplitMix64: the same sequence every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// Uniform in `[0, 1)`.
    pub(crate) fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 1,024 log-uniform latencies between 1 ms and 10 s, in seconds.
pub(crate) fn latencies() -> Vec<f64> {
    let mut rng = Rng(42);
    let (lo, hi) = (1e-3f64.ln(), 10f64.ln());
    (0..1024)
        .map(|_| (lo + (hi - lo) * rng.uniform()).exp())
        .collect()
}
