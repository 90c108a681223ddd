//! Latency metrics served to Prometheus: a simulated agent workload goes
//! through `LatencyMetrics`, which forwards every value to the Prometheus
//! recorder, and `/metrics` serves the exposition text.
//!
//! ```text
//! cargo run --example prometheus                   # serves 127.0.0.1:9464/metrics until killed
//! cargo run --example prometheus -- 127.0.0.1:9000
//! cargo run --example prometheus -- --once | promtool check metrics
//! ```
//!
//! On start it prints, on stderr, its own p95 per operation as
//! `p95 operation=NAME seconds=VALUE count=N`, which `cargo xtask e2e`
//! compares with what Prometheus computes from the scraped buckets.

use std::net::SocketAddr;

use std::sync::Arc;

use agent_trace::AgentStepTracer;
use agent_trace::export::MetricsProcessor;
use agent_trace_metrics::{
    LatencyMetrics, PrometheusHandle, TracerMetrics, install_prometheus_recorder,
};
use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::routing::get;

const DEFAULT_ADDR: &str = "127.0.0.1:9464";

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

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        // The top 53 bits, exactly representable.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-uniform in `[lo, hi)`: latencies spread over orders of magnitude.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi / lo).ln()).exp()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// Records a few hundred latencies of a research agent: LLM calls (most
/// fast, a slow tail), tool calls, memory look-ups and whole tasks.
fn record_workload(metrics: &LatencyMetrics) -> anyhow::Result<()> {
    let mut rng = SplitMix64(2026);
    for _ in 0..300 {
        let model = rng.pick(&["gpt-large", "gpt-small"]);
        let seconds = if rng.unit() < 0.9 {
            rng.log_uniform(0.3, 4.0)
        } else {
            rng.log_uniform(4.0, 30.0)
        };
        metrics.record_labelled("llm_call", &[("model", model)], seconds)?;
    }
    let tools = ["web_search", "code_exec", "file_read"];
    for _ in 0..200 {
        let tool = rng.pick(&tools);
        let seconds = match tool {
            "web_search" => rng.log_uniform(0.2, 5.0),
            "code_exec" => rng.log_uniform(0.05, 10.0),
            _ => rng.log_uniform(0.01, 0.3),
        };
        metrics.record_labelled("tool_call", &[("tool", tool)], seconds)?;
    }
    for _ in 0..150 {
        metrics.record("memory_lookup", rng.log_uniform(0.01, 0.4))?;
    }
    for _ in 0..50 {
        let agent = rng.pick(&["researcher", "writer"]);
        metrics.record_labelled(
            "agent_task",
            &[("agent", agent)],
            rng.log_uniform(2.0, 30.0),
        )?;
    }
    Ok(())
}

/// Runs a few traced agent tasks through a tracer whose own metrics
/// (spans, traces, active spans, span durations) go to Prometheus too.
fn trace_workload(tracer: &AgentStepTracer, metrics: &TracerMetrics) {
    for task in 0..20 {
        let root = tracer.start_trace("agent_task");
        for step in ["plan", "llm_call", "tool_call"] {
            tracer.span_builder(step).parent(&root).start().end();
        }
        if task % 10 == 0 {
            // What the export pipeline reports when its queue is full.
            metrics.spans_dropped("queue_full").add(1);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut once = false;
    let mut addr = DEFAULT_ADDR.to_owned();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--once" => once = true,
            "-h" | "--help" => {
                println!("usage: prometheus [ADDR (default {DEFAULT_ADDR})] [--once]");
                return Ok(());
            }
            other => addr = other.to_owned(),
        }
    }
    let addr: SocketAddr = addr.parse().with_context(|| format!("address {addr:?}"))?;

    // Install the recorder before the first value of each series: a series
    // registers its histogram handle with the recorder of the moment.
    let handle = install_prometheus_recorder()?;
    let metrics = LatencyMetrics::new();
    record_workload(&metrics)?;
    let tracer_metrics = TracerMetrics::new();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(MetricsProcessor::new(tracer_metrics.clone())))
        .build();
    trace_workload(&tracer, &tracer_metrics);
    for operation in metrics.operations() {
        if let Some(p) = metrics.percentiles(&operation) {
            eprintln!(
                "p95 operation={operation} seconds={:.6} count={}",
                p.p95, p.count
            );
        }
    }

    if once {
        print!("{}", handle.render());
        return Ok(());
    }
    serve(addr, handle).await
}

async fn serve(addr: SocketAddr, handle: PrometheusHandle) -> anyhow::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    eprintln!(
        "serving http://{}/metrics until killed",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
