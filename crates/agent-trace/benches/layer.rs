//! The cost of `#[instrument]` under `AgentTraceLayer`, next to
//! `tracing-opentelemetry` 0.34 over `opentelemetry_sdk` 0.33 and to
//! `tracing`'s `Registry` with no layer, in the same run.
//!
//! Workloads (each a criterion group, each implementation a bench in it):
//! - `instrument_call`: one call of an `#[instrument]`ed function with two
//!   fields (`model`, a string, and `tokens`, an integer).
//! - `instrument_nested_pair`: an instrumented function that calls another.
//! - `disabled`: the same call with no subscriber at all, the cost
//!   `tracing` itself keeps for disabled spans.
//!
//! Ours records into a tracer with a counting processor (no store) and,
//! as the issue asks, records each span's duration into `LatencyMetrics`
//! (latency recording included). The peer's provider has the batch span
//! processor at its defaults in front of an exporter that drops the
//! spans. Each implementation's subscriber is the thread's default only
//! for its own bench (`tracing::dispatcher::with_default`).
//!
//! ```text
//! cargo bench -p agent-trace --bench layer
//! ```

use std::hint::black_box;
use std::sync::Arc;

use agent_trace::{AgentStepTracer, AgentTraceLayer, CountingProcessor, LatencyMetrics};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch.len());
        Ok(())
    }
}

#[tracing::instrument]
fn llm_call(model: &str, tokens: i64) -> i64 {
    black_box(tokens)
}

#[tracing::instrument]
fn agent_step(model: &str, tokens: i64) -> i64 {
    llm_call(model, tokens)
}

fn ours() -> (tracing::Dispatch, Arc<CountingProcessor>) {
    let counted = Arc::new(CountingProcessor::default());
    let tracer = AgentStepTracer::builder()
        .processor(counted.clone())
        .without_store()
        .build();
    let layer = AgentTraceLayer::new(tracer).with_latency_metrics(Arc::new(LatencyMetrics::new()));
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        counted,
    )
}

fn theirs() -> (tracing::Dispatch, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        provider,
    )
}

fn registry_only() -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry())
}

fn run(c: &mut Criterion, group: &str, call: fn() -> i64) {
    let mut g = c.benchmark_group(group);
    let (dispatch, counted) = ours();
    tracing::dispatcher::with_default(&dispatch, || {
        g.bench_function("ours", |b| b.iter(call));
    });
    // (Filtered or profiled runs may skip the bench: no assertion here.)
    black_box(counted.ended());
    let (dispatch, provider) = theirs();
    tracing::dispatcher::with_default(&dispatch, || {
        g.bench_function("tracing_opentelemetry", |b| b.iter(call));
    });
    let _ = provider.shutdown();
    let dispatch = registry_only();
    tracing::dispatcher::with_default(&dispatch, || {
        g.bench_function("registry_only", |b| b.iter(call));
    });
    g.finish();
}

fn instrument_call(c: &mut Criterion) {
    run(c, "instrument_call", || llm_call(black_box("gpt-4"), 150));
}

fn instrument_nested_pair(c: &mut Criterion) {
    run(c, "instrument_nested_pair", || {
        agent_step(black_box("gpt-4"), 150)
    });
}

fn disabled(c: &mut Criterion) {
    let mut g = c.benchmark_group("disabled");
    g.bench_function("no_subscriber", |b| {
        b.iter(|| llm_call(black_box("gpt-4"), 150))
    });
    g.finish();
}

criterion_group!(benches, instrument_call, instrument_nested_pair, disabled);
criterion_main!(benches);
