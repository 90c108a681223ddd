//! The one error type of this crate.

use std::num::ParseIntError;

/// Why a value, a configuration or a window could not be accepted.
///
/// Every fallible function of this crate returns this type. A rejected
/// latency is also counted (see [`LatencyMetrics::rejected`]), so that a
/// caller that ignores the `Result` still leaves a trace of the problem.
///
/// [`LatencyMetrics::rejected`]: crate::LatencyMetrics::rejected
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A latency that is NaN, infinite or negative; it was not recorded.
    #[error("latency {value} is not a finite, non-negative number of seconds")]
    InvalidLatency {
        /// The rejected value, as text (`NaN`, `inf`, `-0.5`).
        value: String,
    },
    /// A quantile outside `0..=1` (or NaN).
    #[error("quantile {value} is outside 0..=1")]
    InvalidQuantile {
        /// The rejected value, as text.
        value: String,
    },
    /// A threshold limit that is NaN, infinite or negative; the threshold
    /// was not set.
    #[error(
        "threshold limit on {statistic} is {value}: expected a finite, non-negative number of seconds"
    )]
    InvalidThresholdLimit {
        /// The limited statistic, as text (`p95`, `q0.999`, `mean`).
        statistic: String,
        /// The rejected limit, as text (`NaN`, `inf`, `-1`).
        value: String,
    },
    /// A window string that is not one of the accepted forms.
    #[error(
        "invalid window {input:?}: expected a positive whole number followed by s, m, h or d \
         (for example 30s, 5m, 1h, 24h, 7d)"
    )]
    InvalidWindow {
        /// The rejected text (cut to 32 characters).
        input: String,
        /// The integer parse failure, when the number part was the problem.
        #[source]
        source: Option<ParseIntError>,
    },
    /// A window of zero length, or one too long to represent in nanoseconds.
    #[error("window length must be between 1 nanosecond and 584 years")]
    WindowOutOfRange,
    /// A relative accuracy outside the open interval `(0, 1)`.
    #[error("relative accuracy {value} is outside the open interval (0, 1)")]
    InvalidAccuracy {
        /// The rejected value, as text.
        value: String,
    },
    /// A retention configuration that cannot be used; the message says why.
    #[error("invalid retention tiers: {reason}")]
    InvalidTiers {
        /// What is wrong with the tiers.
        reason: &'static str,
    },
    /// A limit (series per operation, buckets per sketch) of zero or too small.
    #[error("{what} must be at least {min}, found {found}")]
    LimitTooSmall {
        /// Which limit (`"max_series_per_operation"`, `"max_buckets"`).
        what: &'static str,
        /// The smallest accepted value.
        min: usize,
        /// The value that was given.
        found: usize,
    },
    /// Another recorder is already installed as the global `metrics`
    /// recorder (there can be one per process).
    #[error("a global metrics recorder is already installed")]
    RecorderAlreadyInstalled,
    /// A background thread this crate needs could not be started.
    #[error("cannot start thread {thread}: {reason}")]
    ThreadSpawn {
        /// The thread's name.
        thread: &'static str,
        /// The operating system's reason.
        reason: String,
    },
}
