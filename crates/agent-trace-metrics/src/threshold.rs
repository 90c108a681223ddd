//! Latency thresholds, their violations, and crossing/recovery events.
//!
//! # When thresholds are evaluated
//!
//! Only in [`LatencyMetrics::check_thresholds`] and
//! [`LatencyMetrics::check_all_thresholds`], never in `record`: a check
//! merges sketches over the threshold's window, which is far more work than
//! a record, and an alert that needs a fresh look every second is served by
//! calling a check every second (from a timer, or a metrics scrape). Each
//! check compares every limit with the observed statistic; the callback set
//! with [`LatencyMetricsBuilder::on_threshold`] fires when a limit goes from
//! not exceeded to exceeded ([`ThresholdEvent::Crossed`]) and back
//! ([`ThresholdEvent::Recovered`]), not on every check. A check on a window
//! with no data leaves the state as it was.
//!
//! [`LatencyMetrics::check_thresholds`]: crate::LatencyMetrics::check_thresholds
//! [`LatencyMetrics::check_all_thresholds`]: crate::LatencyMetrics::check_all_thresholds
//! [`LatencyMetricsBuilder::on_threshold`]: crate::LatencyMetricsBuilder::on_threshold

use std::fmt;

use crate::{IntoWindow, MetricsError, Quantile, Window};

/// A statistic that a threshold limits.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Statistic {
    /// The median.
    P50,
    /// The 95th percentile.
    P95,
    /// The 99th percentile.
    P99,
    /// Any other quantile.
    Quantile(Quantile),
    /// The arithmetic mean.
    Mean,
    /// The largest value.
    Max,
}

/// Shows `p50`, `p95`, `p99`, `q0.999`, `mean` or `max`.
impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statistic::P50 => f.write_str("p50"),
            Statistic::P95 => f.write_str("p95"),
            Statistic::P99 => f.write_str("p99"),
            Statistic::Quantile(q) => write!(f, "q{q}"),
            Statistic::Mean => f.write_str("mean"),
            Statistic::Max => f.write_str("max"),
        }
    }
}

/// Upper limits, in seconds, on an operation's latency statistics.
///
/// Built with chained setters; a statistic without a limit is not checked.
/// The statistics are computed over `window` (all retained history when
/// unset).
///
/// A limit must be a finite, non-negative number of seconds (zero
/// included). The setters take any `f64` so that a threshold reads as one
/// chain; the limits are checked by [`validate`](Self::validate), which
/// [`LatencyMetrics::set_threshold`] calls, so a NaN limit (which would
/// never fire) or a negative one (which would always fire) is refused
/// before it is ever evaluated.
///
/// ```
/// use agent_trace_metrics::{MetricsError, Quantile, Threshold};
///
/// let t = Threshold::new()
///     .p95(2.0)
///     .p99(5.0)
///     .quantile(Quantile::new(0.999)?, 10.0)
///     .window("1h")?;
/// assert_eq!(t.limits().len(), 3);
/// t.validate()?;
///
/// let bad = Threshold::new().p95(f64::NAN);
/// assert!(matches!(
///     bad.validate(),
///     Err(MetricsError::InvalidThresholdLimit { .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`LatencyMetrics::set_threshold`]: crate::LatencyMetrics::set_threshold
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Threshold {
    limits: Vec<(Statistic, f64)>,
    window: Option<Window>,
}

impl Threshold {
    /// A threshold with no limits, over all retained history.
    pub fn new() -> Self {
        Self::default()
    }

    fn limit(mut self, statistic: Statistic, seconds: f64) -> Self {
        self.limits.retain(|(s, _)| *s != statistic);
        self.limits.push((statistic, seconds));
        self
    }

    /// Limits the median.
    pub fn p50(self, seconds: f64) -> Self {
        self.limit(Statistic::P50, seconds)
    }

    /// Limits the 95th percentile.
    pub fn p95(self, seconds: f64) -> Self {
        self.limit(Statistic::P95, seconds)
    }

    /// Limits the 99th percentile.
    pub fn p99(self, seconds: f64) -> Self {
        self.limit(Statistic::P99, seconds)
    }

    /// Limits any quantile.
    pub fn quantile(self, q: Quantile, seconds: f64) -> Self {
        self.limit(Statistic::Quantile(q), seconds)
    }

    /// Limits the mean.
    pub fn mean(self, seconds: f64) -> Self {
        self.limit(Statistic::Mean, seconds)
    }

    /// Limits the largest value.
    pub fn max(self, seconds: f64) -> Self {
        self.limit(Statistic::Max, seconds)
    }

    /// Computes the statistics over this trailing window (`None`: all
    /// retained history, the default).
    ///
    /// The window is any [`IntoWindow`] form: a [`Window`] gives the
    /// threshold back, text (`"1h"`) or a [`Duration`](std::time::Duration)
    /// a `Result` of it, so a wrong window is refused where it is written,
    /// never checked over all history instead.
    ///
    /// ```
    /// use agent_trace_metrics::{Threshold, Window};
    ///
    /// let typed = Threshold::new().p95(2.0).window(Window::HOUR_1);
    /// let text = Threshold::new().p95(2.0).window("1h")?;
    /// assert_eq!(typed, text);
    /// assert_eq!(text.window_value(), Some(Window::HOUR_1));
    /// assert!(Threshold::new().window("hourly").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// For a window given as text or a `Duration` only:
    /// [`MetricsError::InvalidWindow`] or [`MetricsError::WindowOutOfRange`].
    pub fn window<W: IntoWindow>(self, window: W) -> W::Output<Self> {
        window.resolve(|window| Self { window, ..self })
    }

    /// The limits, in the order they were set.
    pub fn limits(&self) -> &[(Statistic, f64)] {
        &self.limits
    }

    /// The window the statistics are computed over; `None` for all history.
    pub fn window_value(&self) -> Option<Window> {
        self.window
    }

    /// Checks that every limit is a finite, non-negative number of seconds
    /// (zero is accepted).
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidThresholdLimit`] for the first limit, in the
    /// order they were set, that is NaN, infinite or negative.
    pub fn validate(&self) -> Result<(), MetricsError> {
        match self
            .limits
            .iter()
            .find(|(_, seconds)| !(seconds.is_finite() && *seconds >= 0.0))
        {
            Some((statistic, seconds)) => Err(MetricsError::InvalidThresholdLimit {
                statistic: statistic.to_string(),
                value: seconds.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// A statistic found above its limit by a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The operation checked.
    pub operation: String,
    /// The statistic that exceeded its limit.
    pub statistic: Statistic,
    /// The statistic's value, in seconds.
    pub observed: f64,
    /// The limit, in seconds.
    pub limit: f64,
    /// The window the statistic was computed over; `None` for all history.
    pub window: Option<Window>,
}

/// A change of a limit's state, passed to the threshold callback.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ThresholdEvent {
    /// The statistic went above its limit.
    Crossed(Violation),
    /// The statistic, above its limit at the previous check, is back at or
    /// below it; `observed` is the new value.
    Recovered(Violation),
}

/// A threshold and, per limit, whether the last check found it exceeded.
#[derive(Debug, Clone)]
pub(crate) struct ThresholdState {
    pub(crate) threshold: Threshold,
    pub(crate) exceeded: Vec<bool>,
}

impl ThresholdState {
    pub(crate) fn new(threshold: Threshold) -> Self {
        let exceeded = vec![false; threshold.limits.len()];
        Self {
            threshold,
            exceeded,
        }
    }
}
