//! Exporters for agent-trace, and the batch pipeline in front of them: the
//! only crate of the workspace that does network I/O.
//!
//! # Shape
//!
//! A [`BatchSpanProcessor`] is the tracer's processor: the application
//! thread pushes each finished span into a bounded lock-free queue and
//! returns; a worker thread of its own exports batches through one
//! [`SpanExporter`], retrying transient failures with backoff, and counts
//! every span it does not deliver ([`BatchStats`], and with
//! [`TracerMetrics`](agent_trace_metrics::TracerMetrics) the
//! `agent_trace_spans_dropped_total{reason}` and export success/failure
//! counters). Several exporters means several pipelines, so a slow one
//! never holds up the others.
//!
//! Exporters (each behind a feature):
//!
//! - [`OtlpExporter`]: OTLP over HTTP/protobuf, HTTP/JSON (`otlp-http`,
//!   default; both encoded straight from the spans, byte for byte what the
//!   official `opentelemetry-proto` types give) or gRPC (`otlp-grpc`, with
//!   those types); custom headers, gzip, timeouts, proxies from the
//!   environment, TLS (`tls`), partial success counted.
//! - Jaeger (`jaeger`): [`OtlpExporterBuilder::jaeger`] sends OTLP to a
//!   Jaeger collector; `JaegerAgentExporter` sends Thrift compact
//!   `emitBatch` over UDP to a Jaeger v1 agent.
//! - `ZipkinExporter` (`zipkin`): Zipkin v2 JSON.
//! - [`FileExporter`] (`file`, default): OTLP JSON lines to a file (one per
//!   run, or rotating) or stdout; the embedded default.
//! - [`FnExporter`], or your own [`SpanExporter`].
//!
//! [`exporters_from_env`] builds the exporters `OTEL_TRACES_EXPORTER`
//! names, configured by the standard `OTEL_EXPORTER_*` variables.
//! [`TailSamplingProcessor`] goes in front of a pipeline to decide per
//! trace, once the trace is known: errors, slow traces and a ratio of the
//! rest are kept, with a hard cap on the memory the waiting spans take.
//! [`MetricsProcessor`] feeds the tracer's own metrics, and
//! `install_prometheus_listener` (`prometheus`) serves them with the
//! latency metrics on `/metrics`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use agent_trace_core::AgentStepTracer;
//! use agent_trace_export::{BatchSpanProcessor, OtlpExporter, Resource};
//!
//! let otlp = OtlpExporter::builder()
//!     .endpoint("http://localhost:4318/v1/traces")
//!     .resource(Resource::new("research-agent"))
//!     .build()?;
//! let pipeline = Arc::new(BatchSpanProcessor::builder(otlp).build()?);
//! let tracer = AgentStepTracer::builder().processor(pipeline.clone()).build();
//! tracer.start_trace("agent_task").end();
//! // At exit: deliver what is queued, waiting at most 5 s (no collector
//! // runs here, so this reports the failure instead of hanging).
//! let _ = tracer.shutdown(Duration::from_secs(5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `otlp-http` (default), `otlp-grpc`, `zipkin`, `jaeger`, `file`
//!   (default): the exporters above.
//! - `tls`: `https://` endpoints through rustls.
//! - `otlp-proto`: `otlp::to_request`, spans as the official message types
//!   of `opentelemetry-proto` (which builds `opentelemetry_sdk` too; no
//!   exporter but gRPC needs it).
//! - `prometheus`: `install_prometheus_listener` (classic text, or
//!   OpenMetrics with exemplars when the scraper asks for it).

#![forbid(unsafe_code)]

mod batch;
pub mod diagnostics;
mod env;
mod error;
mod exporter;
#[cfg(feature = "file")]
mod file;
mod headers;
#[cfg(feature = "http-transport")]
mod http;
#[cfg(feature = "jaeger")]
mod jaeger_thrift;
mod metrics_processor;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
mod prometheus;
mod resource;
#[cfg(any(feature = "http-transport", feature = "otlp-grpc"))]
mod runtime;
mod tail;
// Public (hidden) only for the loom model, `tests/loom_batch.rs`.
#[cfg(loom)]
#[doc(hidden)]
pub mod wake;
#[cfg(not(loom))]
mod wake;
#[cfg(feature = "zipkin")]
mod zipkin;

pub use batch::{
    BatchConfig, BatchSpanProcessor, BatchSpanProcessorBuilder, BatchStats, RetryPolicy,
};
pub use diagnostics::{Diagnostics, Dropped, ExportEvent};
pub use env::exporters_from_env;
pub use error::ExportError;
pub use exporter::{ExportOutcome, FnExporter, SpanExporter};
#[cfg(feature = "file")]
pub use file::{FileExporter, FileExporterBuilder};
pub use headers::Headers;
#[cfg(feature = "jaeger")]
pub use jaeger_thrift::{JaegerAgentExporter, JaegerAgentExporterBuilder};
pub use metrics_processor::MetricsProcessor;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
pub use otlp::{OtlpExporter, OtlpExporterBuilder, OtlpProtocol};
#[cfg(feature = "prometheus")]
pub use prometheus::{install_prometheus_listener, install_prometheus_listener_beside};
pub use resource::{Resource, SCOPE_NAME, SCOPE_VERSION};
pub use tail::{
    TAIL_BUFFER_FULL, TailSamplingConfig, TailSamplingProcessor, TailSamplingProcessorBuilder,
    TailSamplingStats, estimate_span_bytes,
};
#[cfg(feature = "zipkin")]
pub use zipkin::{ZipkinExporter, ZipkinExporterBuilder};

/// What the HTTP and gRPC transports are built from (one set of settings,
/// whichever transport an exporter uses).
#[cfg(any(feature = "http-transport", feature = "otlp-grpc"))]
#[derive(Clone, Copy)]
pub(crate) struct TransportConfig<'a> {
    /// The exporter's name, for errors.
    pub(crate) exporter: &'static str,
    pub(crate) endpoint: &'a str,
    pub(crate) headers: &'a Headers,
    /// Per request.
    pub(crate) timeout: std::time::Duration,
    pub(crate) gzip: bool,
    /// Extra trusted CA certificates (PEM), with the `tls` feature.
    pub(crate) ca_pem: Option<&'a [u8]>,
    /// Appended to delivery errors: what is likely wrong with the
    /// endpoint (an OTLP/HTTP exporter pointed at gRPC's port 4317).
    pub(crate) hint: Option<&'static str>,
}

/// `message` with an endpoint's hint (see `TransportConfig::hint`), if it
/// has one.
#[cfg(any(feature = "http-transport", feature = "otlp-grpc"))]
pub(crate) fn with_hint(hint: Option<&str>, message: String) -> String {
    match hint {
        Some(hint) => format!("{message} ({hint})"),
        None => message,
    }
}

/// Makes ring the process's rustls crypto provider, unless the application
/// installed one already (then that one is used).
#[cfg(feature = "tls")]
#[cfg_attr(
    not(any(feature = "http-transport", feature = "otlp-grpc")),
    allow(dead_code, reason = "tls alone has no transport to use it")
)]
pub(crate) fn install_crypto_provider() {
    // An error means a provider is installed already: keep it.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
