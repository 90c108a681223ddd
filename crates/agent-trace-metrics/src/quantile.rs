//! A quantile checked once to lie in `0..=1`.

use std::fmt;

use crate::MetricsError;

/// A quantile in `0..=1`, checked when it is made.
///
/// Functions that take a `Quantile` never re-check it. Quantiles are answered
/// with the *nearest-rank* definition: the `q` quantile of `n` values is the
/// `max(1, ceil(q * n))`-th smallest of them, so `q = 0` is the minimum and
/// `q = 1` the maximum.
///
/// ```
/// use agent_trace_metrics::Quantile;
///
/// let q = Quantile::new(0.999)?;
/// assert_eq!(q.value(), 0.999);
/// assert!(Quantile::new(1.5).is_err());
/// assert_eq!(Quantile::P95.to_string(), "0.95");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Quantile(f64);

impl Quantile {
    /// The median.
    pub const P50: Quantile = Quantile(0.5);
    /// The 95th percentile.
    pub const P95: Quantile = Quantile(0.95);
    /// The 99th percentile.
    pub const P99: Quantile = Quantile(0.99);

    /// Checks that `value` lies in `0..=1`.
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidQuantile`] when `value` is NaN or outside `0..=1`.
    pub fn new(value: f64) -> Result<Self, MetricsError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(MetricsError::InvalidQuantile {
                value: value.to_string(),
            })
        }
    }

    /// The quantile as a number in `0..=1`.
    pub fn value(self) -> f64 {
        self.0
    }

    /// The 1-based nearest rank of this quantile among `n > 0` values.
    pub(crate) fn rank(self, n: u64) -> u64 {
        // `ceil(q * n)` in floating point can exceed `n` by rounding only for
        // `q = 1`; clamp both ends.
        ((self.0 * n as f64).ceil() as u64).clamp(1, n)
    }
}

impl TryFrom<f64> for Quantile {
    type Error = MetricsError;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl fmt::Display for Quantile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
