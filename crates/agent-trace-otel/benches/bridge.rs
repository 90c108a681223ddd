//! The cost of one span recorded through the `opentelemetry` API: the
//! bridge over agent-trace, next to agent-trace's own API making the same
//! calls and to `opentelemetry_sdk` 0.33, in the same run.
//!
//! Workload (`otel_api_span`): start a span with two attributes (a string
//! and an integer), add an event with one attribute, set an `Ok` status and
//! end it. Ours (bridged and native) record into a tracer with a counting
//! processor and no store; the SDK's provider has the batch span processor
//! at its defaults in front of an exporter that drops the spans.
//! `api_noop` is the API's no-op tracer making the same calls: the share of
//! the cost that is the API's own (the caller's attribute lists, the
//! current context), paid by every implementation.
//!
//! ```text
//! cargo bench -p agent-trace-otel --bench bridge
//! ```

use std::hint::black_box;
use std::sync::Arc;

use agent_trace_core::{AgentStepTracer, CountingProcessor, KeyValue, Status};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{Span as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch.len());
        Ok(())
    }
}

/// The workload, written once against the API.
fn api_span<T: opentelemetry::trace::Tracer>(tracer: &T) {
    let mut span = tracer
        .span_builder("llm_call")
        .with_attributes([
            opentelemetry::KeyValue::new("model", "gpt-4o"),
            opentelemetry::KeyValue::new("tokens", 150),
        ])
        .start(tracer);
    span.add_event(
        "first_token",
        vec![opentelemetry::KeyValue::new("latency_ms", 180)],
    );
    span.set_status(opentelemetry::trace::Status::Ok);
    span.end();
}

fn counting_tracer() -> AgentStepTracer {
    AgentStepTracer::builder()
        .processor(Arc::new(CountingProcessor::default()))
        .without_store()
        .build()
}

fn otel_api_span(c: &mut Criterion) {
    let mut g = c.benchmark_group("otel_api_span");
    let bridged = agent_trace_otel::provider(counting_tracer()).tracer("bench");
    g.bench_function("bridge", |b| b.iter(|| api_span(&bridged)));
    let native = counting_tracer();
    g.bench_function("native", |b| {
        b.iter(|| {
            let mut span = native
                .span_builder("llm_call")
                .attributes([
                    KeyValue::new("model", "gpt-4o"),
                    KeyValue::new("tokens", 150),
                ])
                .start();
            span.add_event("first_token", [KeyValue::new("latency_ms", 180)]);
            span.set_status(Status::Ok);
            span.end();
        })
    });
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .build();
    let sdk = provider.tracer("bench");
    g.bench_function("opentelemetry_sdk", |b| b.iter(|| api_span(&sdk)));
    // The API's own share, which every implementation pays: the caller's
    // lists, the current context, the builder.
    let noop = opentelemetry::trace::noop::NoopTracer::new();
    g.bench_function("api_noop", |b| b.iter(|| api_span(&noop)));
    g.finish();
    let _ = provider.shutdown();
}

criterion_group!(benches, otel_api_span);
criterion_main!(benches);
