//! The one error type of this crate.

use std::time::Duration;

/// What went wrong when configuring the tracer or driving its processors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A sampling ratio outside `0.0..=1.0`, or NaN.
    #[error("sampling ratio must be within 0.0..=1.0, got {0}")]
    InvalidRatio(f64),
    /// An `OTEL_TRACES_SAMPLER` value that names no OpenTelemetry sampler
    /// (see [`Sampler::from_otel_env`](crate::Sampler::from_otel_env)); the
    /// value is as given.
    #[error(
        "unknown OTEL_TRACES_SAMPLER value {0:?} (expected always_on, always_off, traceidratio, \
         parentbased_always_on, parentbased_always_off or parentbased_traceidratio)"
    )]
    UnknownSampler(String),
    /// An `OTEL_TRACES_SAMPLER` value naming an OpenTelemetry sampler that
    /// this crate does not implement: `jaeger_remote`,
    /// `parentbased_jaeger_remote` or `xray`; the value is as given.
    #[error(
        "OTEL_TRACES_SAMPLER value {0:?} names a sampler that agent-trace does not support \
         (supported: always_on, always_off, traceidratio, parentbased_always_on, \
         parentbased_always_off and parentbased_traceidratio)"
    )]
    UnsupportedSampler(String),
    /// An `OTEL_TRACES_SAMPLER_ARG` that is not a sampling ratio within
    /// `0.0..=1.0`.
    #[error(
        "OTEL_TRACES_SAMPLER_ARG {value:?} is {reason}: {sampler} expects a sampling ratio \
         within 0.0..=1.0"
    )]
    InvalidSamplerArg {
        /// The sampler the argument was for (`traceidratio`,
        /// `parentbased_traceidratio`).
        sampler: &'static str,
        /// The argument, as given.
        value: String,
        /// What is wrong with it: `not a number` or `out of range`.
        reason: &'static str,
    },
    /// A status name other than `unset`, `ok`, `success` or `error`.
    #[error("unknown span status {0:?} (expected unset, ok, success or error)")]
    UnknownStatus(String),
    /// A span kind name other than the five OpenTelemetry kinds.
    #[error("unknown span kind {0:?} (expected internal, client, server, producer or consumer)")]
    UnknownSpanKind(String),
    /// A processor did not finish flushing or shutting down in time.
    #[error("{processor} did not finish within {}", readable(timeout))]
    Timeout {
        /// Which processor timed out.
        processor: &'static str,
        /// The deadline it was given.
        timeout: Duration,
    },
    /// A processor failed for a reason of its own.
    #[error("{processor} failed: {cause}")]
    Processor {
        /// Which processor failed.
        processor: &'static str,
        /// The underlying cause (in the message, so not also a
        /// [`source`](std::error::Error::source)).
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The processor was already shut down.
    #[error("{0} is already shut down")]
    AlreadyShutdown(&'static str),
}

/// A duration as a person reads it in a message: `5 s`, `2.5 s`, `300 ms`
/// (shared with the export crate's errors; not part of the API).
#[doc(hidden)]
pub fn readable(d: &Duration) -> String {
    if d.as_millis() < 1000 && !d.is_zero() {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
