//! The one error type of this crate.

use std::time::Duration;

/// What went wrong when configuring the tracer or driving its processors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A sampling ratio outside `0.0..=1.0`, or NaN.
    #[error("sampling ratio must be within 0.0..=1.0, got {0}")]
    InvalidRatio(f64),
    /// A status name other than `unset`, `ok`, `success` or `error`.
    #[error("unknown span status {0:?} (expected unset, ok, success or error)")]
    UnknownStatus(String),
    /// A span kind name other than the five OpenTelemetry kinds.
    #[error("unknown span kind {0:?} (expected internal, client, server, producer or consumer)")]
    UnknownSpanKind(String),
    /// A processor did not finish flushing or shutting down in time.
    #[error("{processor} did not finish within {timeout:?}")]
    Timeout {
        /// Which processor timed out.
        processor: &'static str,
        /// The deadline it was given.
        timeout: Duration,
    },
    /// A processor failed for a reason of its own.
    #[error("{processor} failed")]
    Processor {
        /// Which processor failed.
        processor: &'static str,
        /// The underlying cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The processor was already shut down.
    #[error("{0} is already shut down")]
    AlreadyShutdown(&'static str),
}
