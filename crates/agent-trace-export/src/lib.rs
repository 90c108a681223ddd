//! Exporters for agent-trace: the only crate of the workspace that does
//! network I/O.
//!
//! Today it holds the Prometheus listener (feature `prometheus`): the
//! recorder of `agent-trace-metrics`, configured with our bucket histograms,
//! served over HTTP by a small std-only responder. The span exporters
//! (OTLP, Jaeger, Zipkin, custom, file) and their batch pipeline come with
//! the export issue; until then, spans reach code of your own through
//! `agent_trace_core::SpanProcessor`.
//!
//! # Features
//!
//! - `prometheus`: [`install_prometheus_listener`].

mod error;
mod metrics_processor;
#[cfg(feature = "prometheus")]
mod prometheus;

pub use error::ExportError;
pub use metrics_processor::MetricsProcessor;
#[cfg(feature = "prometheus")]
pub use prometheus::install_prometheus_listener;
