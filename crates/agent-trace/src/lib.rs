//! agent-trace: OpenTelemetry-compatible distributed tracing and latency
//! metrics for AI agents. This is the crate to depend on; it re-exports the
//! workspace's layers and implements nothing of its own.
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
//! # What is here today
//!
//! - Everything of `agent-trace-core` at the top level: [`AgentStepTracer`],
//!   [`Span`], [`Sampler`], [`SpanProcessor`], [`TraceStore`], ...
//! - [`propagation`]: trace identity and its W3C text forms, baggage, B3.
//! - [`metrics`]: [`LatencyMetrics`], per-operation percentiles and
//!   statistics over trailing windows, thresholds, and the Prometheus bridge.
//!
//! Exporters, the global `tracer()`/`latency_metrics()`, `init()` and the
//! `tracing` layer arrive with their own issues; nothing here stands in for
//! them.
//!
//! # Features
//!
//! - `http`: `http::HeaderMap` as a propagation carrier (axum, hyper,
//!   reqwest, tonic).
//! - `prometheus`: the Prometheus recorder helpers of [`metrics`], and
//!   [`export::install_prometheus_listener`] to serve `/metrics` on an
//!   address.

pub use agent_trace_core::*;
pub use agent_trace_metrics::LatencyMetrics;

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

/// Exporters: today the Prometheus listener (feature `prometheus`); the span
/// exporters come with the export issue.
pub mod export {
    pub use agent_trace_export::*;
}
