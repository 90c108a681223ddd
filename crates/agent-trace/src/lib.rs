//! agent-trace: OpenTelemetry-compatible distributed tracing and latency
//! metrics for AI agents. This is the crate to depend on: it re-exports the
//! workspace's layers (the span model, propagation, latency metrics,
//! exporters, and the GenAI helpers with cost and privacy), and adds what
//! belongs at the top (one-call setup and the `tracing` layer).
//!
//! # Quick start
//!
//! ```
//! use agent_trace::AgentStepTracer;
//!
//! let tracer = AgentStepTracer::new();
//! let trace = tracer.trace_builder("agent_task").agent_id("agent-001").start().entered();
//! tracer.in_span("llm_call", |span| {
//!     span.set_attribute("model", "gpt-4");
//!     span.set_attribute("tokens", 150);
//! });
//! let id = trace.trace_id();
//! trace.end();
//! print!("{}", tracer.trace(id).expect("kept in memory").render());
//! ```
//!
//! # What is here
//!
//! - Everything of `agent-trace-core` at the top level: [`AgentStepTracer`],
//!   [`Span`], [`Sampler`], [`SpanProcessor`], [`TraceStore`], ...
//! - The globals [`tracer()`] and [`latency_metrics()`], and [`init()`]: one
//!   call that sets up exporters (explicit, from `OTEL_*`, or a JSON-lines
//!   file by default), the tracer's own metrics, optionally Prometheus and
//!   the `tracing` subscriber, and returns a [`Guard`] that flushes on drop.
//! - [`AgentTraceLayer`] (feature `tracing`): `#[instrument]` and
//!   `info_span!` spans become agent spans, their durations latency
//!   metrics; [`SpanExt`] reads and sets their context for propagation.
//! - [`propagation`]: trace identity and its W3C text forms, baggage, B3.
//! - [`metrics`]: [`LatencyMetrics`], per-operation percentiles and
//!   statistics over trailing windows, thresholds, and the Prometheus bridge.
//! - [`export`]: the batch pipeline and the OTLP, Jaeger, Zipkin, file and
//!   custom exporters.
//! - [`semconv`] and [`genai`] (from `agent-trace-genai`): the
//!   OpenTelemetry GenAI conventions as constants, and typed builders for
//!   every GenAI span (model calls, embeddings, tools, agents, workflows,
//!   planning, memory, retrieval) that count calls per agent, price them
//!   ([`cost`]), and record the GenAI metrics.
//! - [`privacy`]: [`Sensitive`](privacy::Sensitive) content that never
//!   prints, scrubbers for e-mail addresses, keys, tokens and card numbers,
//!   and truncation that keeps JSON valid; content reaches spans only on
//!   opt-in.
//!
//! # Features
//!
//! - `tracing` (default): [`AgentTraceLayer`], [`SpanExt`].
//! - `otlp-http` (default), `otlp-grpc`, `zipkin`, `jaeger`, `file`
//!   (default), `tls`: the exporters of [`export`].
//! - `http`: `http::HeaderMap` as a propagation carrier (axum, hyper,
//!   reqwest, tonic).
//! - `prometheus`: the Prometheus recorder helpers of [`metrics`], and
//!   `export::install_prometheus_listener` to serve `/metrics` on an
//!   address.
//! - `tower` (`axum` for axum's matched routes), `reqwest`:
//!   `http_middleware`, a server layer and a client middleware that trace
//!   every request and propagate the trace by themselves.
//! - `otel`: `otel`, the `opentelemetry` API's tracer provider, tracer
//!   and propagator over agent-trace, so that libraries instrumented with
//!   that API record agent-trace spans.
//! - `toml`: price tables in TOML for [`cost`] (`PriceTable::from_toml`,
//!   `.toml` files for [`PriceTable::load`](cost::PriceTable::load)); JSON
//!   tables need no feature.

#![forbid(unsafe_code)]
// The crate docs link `AgentTraceLayer` and `SpanExt`, which exist with the
// default feature `tracing`; without it the links have no target.
#![cfg_attr(not(feature = "tracing"), allow(rustdoc::broken_intra_doc_links))]

mod exports;
mod init;
mod latency;
#[cfg(feature = "tracing")]
mod layer;
#[cfg(feature = "tracing")]
mod subscriber;

pub use agent_trace_core::*;
pub use agent_trace_metrics::LatencyMetrics;
pub use init::{
    Guard, InitBuilder, InitError, ShutdownError, TelemetrySummary, init, latency_metrics, tracer,
};
pub use latency::LatencyProcessor;
#[cfg(feature = "tracing")]
pub use layer::{AgentTraceLayer, SpanExt};

/// Trace identity (`TraceId`, `SpanId`, `TraceFlags`, `TraceState`,
/// `SpanContext`) and its W3C text forms.
pub mod propagation {
    pub use agent_trace_propagation::*;
}

/// Latency metrics: [`LatencyMetrics`], windows, statistics, period
/// comparison, thresholds, and the bridge to the `metrics` facade and
/// Prometheus.
pub mod metrics {
    pub use agent_trace_metrics::*;
}

/// Exporters and the batch pipeline: OTLP, Jaeger, Zipkin, file, custom,
/// and the Prometheus listener (feature `prometheus`).
pub mod export {
    pub use agent_trace_export::*;
}

/// Typed spans for every operation of the OpenTelemetry GenAI conventions
/// (model calls, embeddings, tools, agents, workflows, planning, memory,
/// retrieval), with per-agent call counts, costs and the GenAI metrics; see
/// [`agent_trace_genai`] for how they work.
pub mod genai {
    pub use agent_trace_genai::*;
}

pub use agent_trace_genai::{cost, privacy, semconv};

/// The OpenTelemetry tracing API (the `opentelemetry` crate) bridged onto
/// agent-trace spans (feature `otel`): install [`otel::provider()`] with
/// `opentelemetry::global::set_tracer_provider` and libraries instrumented
/// with that API record into [`tracer()`]; see [`agent_trace_otel`].
#[cfg(feature = "otel")]
pub mod otel {
    pub use agent_trace_otel::*;

    /// A [`TracerProvider`] over the global [`tracer()`](crate::tracer).
    #[track_caller]
    pub fn provider() -> TracerProvider {
        agent_trace_otel::provider(crate::tracer().clone())
    }
}

/// HTTP middleware that traces and propagates by itself (features `tower`,
/// `axum`, `reqwest`): a server span per request received, continuing the
/// caller's trace, and a client span per request sent, carrying it on; see
/// [`agent_trace_http`].
#[cfg(any(feature = "tower", feature = "reqwest"))]
pub mod http_middleware {
    pub use agent_trace_http::*;

    /// [`HttpServerLayer`] on the global [`tracer()`](crate::tracer).
    #[cfg(feature = "tower")]
    #[track_caller]
    pub fn server_layer() -> HttpServerLayer {
        HttpServerLayer::new(crate::tracer())
    }

    /// [`HttpClientMiddleware`] on the global [`tracer()`](crate::tracer).
    #[cfg(feature = "reqwest")]
    #[track_caller]
    pub fn client_middleware() -> HttpClientMiddleware {
        HttpClientMiddleware::new(crate::tracer())
    }
}
