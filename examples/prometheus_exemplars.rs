//! Latency percentiles that link to real traces. Every span's duration
//! goes to the latency metrics with its trace id, so a percentile names an
//! example trace ("p99 = 9.6 s, e.g. trace 4bf9..."), and `/metrics`
//! serves those trace ids as OpenMetrics exemplars to a scraper that asks
//! for OpenMetrics (Prometheus does; start it with
//! `--enable-feature=exemplar-storage` to keep them).
//!
//! ```text
//! cargo run --example prometheus_exemplars                  # serves 127.0.0.1:9465/metrics until killed
//! cargo run --example prometheus_exemplars -- 127.0.0.1:9000
//! curl -H 'Accept: application/openmetrics-text' http://127.0.0.1:9465/metrics
//! ```
//!
//! On start it prints, on stderr, the trace of its one very slow LLM call
//! (the only value of the 60 s to 120 s bucket) as
//! `exemplar operation=llm_call le=120 trace_id=HEX seconds=VALUE`, which
//! `cargo xtask e2e` looks for in what Prometheus stored.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use agent_trace::Timestamp;
use anyhow::Context;

const DEFAULT_ADDR: &str = "127.0.0.1:9465";

/// SplitMix64: a deterministic PRNG, so every run records the same values.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Log-uniform in `[lo, hi)`.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (lo.ln() + unit * (hi / lo).ln()).exp()
    }
}

fn main() -> anyhow::Result<()> {
    let mut addr = DEFAULT_ADDR.to_owned();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("usage: prometheus_exemplars [ADDR (default {DEFAULT_ADDR})]");
                return Ok(());
            }
            other => addr = other.to_owned(),
        }
    }
    let addr: SocketAddr = addr.parse().with_context(|| format!("address {addr:?}"))?;

    // The listener (and its recorder) first, so that the latency series
    // register with it; no exporter: this example only serves metrics.
    let guard = agent_trace::init()
        .service_name("exemplars-example")
        .exporters_from_env(false)
        .file_by_default(false)
        .prometheus_listener(addr)
        .install()?;
    let tracer = guard.tracer();

    // Agent tasks with explicit span times, so that the durations (and so
    // the buckets) are the same on every run; the trace ids are fresh.
    let mut rng = SplitMix64(2026);
    let start = Timestamp::from(SystemTime::now() - Duration::from_secs(600));
    let mut slowest = None;
    for task in 0..200 {
        let root = tracer.trace_builder("agent_task").start_time(start).start();
        let mut t = 0.0;
        for _ in 0..3 {
            let secs = if task == 150 && slowest.is_none() {
                75.0 // the one value of the (60 s, 120 s] bucket
            } else if rng.next_u64().is_multiple_of(20) {
                rng.log_uniform(4.0, 30.0)
            } else {
                rng.log_uniform(0.3, 4.0)
            };
            let at = |s: f64| start.saturating_add(Duration::from_secs_f64(s));
            let llm = tracer
                .span_builder("llm_call")
                .parent(&root)
                .start_time(at(t))
                .start();
            if secs >= 60.0 {
                slowest = Some((llm.trace_id(), secs));
            }
            llm.end_with_time(at(t + secs));
            t += secs;
        }
        root.end_with_time(start.saturating_add(Duration::from_secs_f64(t)));
    }

    let metrics = agent_trace::latency_metrics();
    for operation in ["llm_call", "agent_task"] {
        if let Some(p) = metrics.percentiles_with_exemplars(operation) {
            eprintln!("{operation}: {p}");
        }
    }
    if let Some((trace_id, secs)) = slowest {
        eprintln!("exemplar operation=llm_call le=120 trace_id={trace_id} seconds={secs}");
    }
    eprintln!("serving http://{addr}/metrics until killed");
    loop {
        std::thread::park();
    }
}
