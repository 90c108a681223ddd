//! The Prometheus `/metrics` listener.

use std::net::SocketAddr;

use crate::ExportError;

/// Installs the Prometheus recorder of `agent-trace-metrics` (bucket
/// histograms with our boundaries) as the global `metrics` recorder, serves
/// the exposition text over HTTP on `addr` (any path, `/metrics` included),
/// and describes the tracer's metrics.
///
/// The listener runs on a thread of its own with its own runtime when called
/// outside a tokio runtime, and as a task of the current runtime inside one.
/// Call it at start-up, before the
/// [`LatencyMetrics`](agent_trace_metrics::LatencyMetrics) series it should
/// see are created.
///
/// To serve the text from your own HTTP server instead, use
/// `agent_trace_metrics::install_prometheus_recorder` and render its handle.
///
/// # Errors
///
/// [`ExportError::Prometheus`] when a global recorder is already installed
/// or the address cannot be bound.
pub fn install_prometheus_listener(addr: SocketAddr) -> Result<(), ExportError> {
    agent_trace_metrics::prometheus_builder()
        .with_http_listener(addr)
        .install()
        .map_err(ExportError::Prometheus)?;
    agent_trace_metrics::describe_tracer_metrics();
    Ok(())
}
