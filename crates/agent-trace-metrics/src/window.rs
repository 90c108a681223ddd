//! A trailing time window, parsed once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::MetricsError;

/// A trailing time window such as "the last hour", parsed once from text
/// (`"30s"`, `"5m"`, `"1h"`, `"24h"`, `"7d"`) or made from a [`Duration`].
///
/// The text form is a positive whole number followed by one unit letter:
/// `s` (seconds), `m` (minutes), `h` (hours) or `d` (days). A window longer
/// than the retention is answered from everything retained.
///
/// ```
/// use std::time::Duration;
/// use agent_trace_metrics::Window;
///
/// let w: Window = "1h".parse()?;
/// assert_eq!(w.as_duration(), Duration::from_secs(3600));
/// assert_eq!(w.to_string(), "1h");
/// assert_eq!(Window::try_from(Duration::from_secs(90))?.to_string(), "90s");
/// assert!("an hour".parse::<Window>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    nanos: u64,
}

impl Window {
    /// Thirty seconds.
    pub const SECONDS_30: Window = Window::secs(30);
    /// Five minutes.
    pub const MINUTES_5: Window = Window::secs(300);
    /// One hour.
    pub const HOUR_1: Window = Window::secs(3_600);
    /// Twenty-four hours.
    pub const HOURS_24: Window = Window::secs(86_400);
    /// Seven days.
    pub const DAYS_7: Window = Window::secs(7 * 86_400);

    const fn secs(s: u64) -> Window {
        Window {
            nanos: s * 1_000_000_000,
        }
    }

    /// A window of the given length.
    ///
    /// # Errors
    ///
    /// [`MetricsError::WindowOutOfRange`] for a zero duration or one longer
    /// than `u64::MAX` nanoseconds (about 584 years).
    pub fn new(length: Duration) -> Result<Self, MetricsError> {
        match u64::try_from(length.as_nanos()) {
            Ok(nanos) if nanos > 0 => Ok(Self { nanos }),
            _ => Err(MetricsError::WindowOutOfRange),
        }
    }

    /// Parses `"30s"`, `"5m"`, `"1h"`, `"24h"`, `"7d"` and the like.
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidWindow`] (naming the accepted forms) for any
    /// other text, [`MetricsError::WindowOutOfRange`] for `"0s"` or a window
    /// too long to represent.
    pub fn parse(text: &str) -> Result<Self, MetricsError> {
        let invalid = |source| MetricsError::InvalidWindow {
            input: text.chars().take(32).collect(),
            source,
        };
        let Some(unit) = text.chars().last() else {
            return Err(invalid(None));
        };
        let unit_secs: u64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(invalid(None)),
        };
        let digits = &text[..text.len() - 1];
        // `u64::from_str` accepts a leading `+`; the documented form does not.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(None));
        }
        let n: u64 = digits.parse().map_err(|e| invalid(Some(e)))?;
        let nanos = n
            .checked_mul(unit_secs)
            .and_then(|s| s.checked_mul(1_000_000_000))
            .ok_or(MetricsError::WindowOutOfRange)?;
        if nanos == 0 {
            return Err(MetricsError::WindowOutOfRange);
        }
        Ok(Self { nanos })
    }

    /// The window's length.
    pub fn as_duration(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// The window's length in nanoseconds.
    pub(crate) fn as_nanos(self) -> u64 {
        self.nanos
    }
}

impl FromStr for Window {
    type Err = MetricsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Window {
    type Error = MetricsError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<Duration> for Window {
    type Error = MetricsError;

    fn try_from(d: Duration) -> Result<Self, Self::Error> {
        Self::new(d)
    }
}

/// Shows the largest unit that divides the window exactly (`"1h"`, `"90s"`);
/// windows that are not whole seconds are shown as `Debug` of a [`Duration`].
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NS: u64 = 1_000_000_000;
        if !self.nanos.is_multiple_of(NS) {
            return write!(f, "{:?}", self.as_duration());
        }
        let s = self.nanos / NS;
        for (unit, len) in [('d', 86_400), ('h', 3_600), ('m', 60)] {
            if s.is_multiple_of(len) {
                return write!(f, "{}{unit}", s / len);
            }
        }
        write!(f, "{s}s")
    }
}
