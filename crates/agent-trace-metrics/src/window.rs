//! A trailing time window, parsed once, and the forms the windowed queries
//! take it in.
//!
//! # Why a trait for the window argument
//!
//! The reference writes `get_stats("llm_inference", time_window="1h")`, and
//! a Rust caller holds a [`Window`] constant, an `Option<Window>` from its
//! configuration, or a [`Duration`]. [`IntoWindow`] takes all of them, and
//! its `Output` type keeps each form's cost honest: a typed window cannot
//! be wrong, so its query answers directly (`stats(op, None)` is still an
//! `Option<Stats>`), while text and durations can be, so their queries
//! answer a `Result` that `?` handles. A wrong string is never an answer
//! over all history, and never a panic.

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
    /// other text, `"0s"` included (the number must be positive);
    /// [`MetricsError::WindowOutOfRange`] for a window too long to
    /// represent (more than 584 years).
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
        if n == 0 {
            return Err(invalid(None));
        }
        let nanos = n
            .checked_mul(unit_secs)
            .and_then(|s| s.checked_mul(1_000_000_000))
            .ok_or(MetricsError::WindowOutOfRange)?;
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

/// What the windowed queries of [`LatencyMetrics`] take for their window:
/// a typed window, or its text form, parsed on the spot.
///
/// | argument | means | the query returns |
/// |---|---|---|
/// | [`Window`], `&Window` | that trailing window | its answer, `A` |
/// | `None`, `Some(window)` (`Option<Window>`) | all retained history, or the window | `A` |
/// | `"1h"`, `"30m"`, `"24h"`, `"7d"` (`&str`, `String`, `&String`) | [`Window::parse`] of the text | `Result<A, MetricsError>` |
/// | [`Duration`] | [`Window::new`] of the length | `Result<A, MetricsError>` |
///
/// So the typed forms cost nothing and cannot fail (`stats(op, None)` is
/// an `Option<Stats>`), and the forms that can be wrong say so in the type
/// (`stats(op, "1h")` is a `Result<Option<Stats>, MetricsError>`, for `?`).
/// Text that does not parse (`"0s"` included) is
/// [`MetricsError::InvalidWindow`], whose message names the accepted forms;
/// a zero [`Duration`], or a window longer than 584 years, is
/// [`MetricsError::WindowOutOfRange`]. Neither is ever taken as "all
/// history".
///
/// ```
/// use std::time::Duration;
/// use agent_trace_metrics::{LatencyMetrics, MetricsError, Stats, Window};
///
/// let metrics = LatencyMetrics::new();
/// metrics.record("llm_inference", 1.25)?;
/// let all: Option<Stats> = metrics.stats("llm_inference", None);
/// let typed: Option<Stats> = metrics.stats("llm_inference", Window::HOUR_1);
/// let text: Option<Stats> = metrics.stats("llm_inference", "1h")?;
/// let length: Option<Stats> = metrics.stats("llm_inference", Duration::from_secs(3600))?;
/// assert_eq!(all.unwrap().count, 1);
/// assert_eq!((typed, text), (length, length));
///
/// let e = metrics.stats("llm_inference", "an hour").unwrap_err();
/// assert!(matches!(e, MetricsError::InvalidWindow { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Anything else is refused at compile time, with a message that lists
/// the forms above:
///
/// ```compile_fail,E0277
/// # use agent_trace_metrics::LatencyMetrics;
/// let metrics = LatencyMetrics::new();
/// // error[E0277]: `{integer}` is not a time window
/// let _ = metrics.stats("llm_inference", 3600);
/// ```
///
/// The trait is sealed: these are the forms, and a new one is this
/// crate's to add. Code of your own that is generic over the window
/// argument forwards it with [`resolve`](Self::resolve):
///
/// ```
/// use agent_trace_metrics::{IntoWindow, LatencyMetrics, Quantile};
///
/// fn p99<W: IntoWindow>(metrics: &LatencyMetrics, window: W) -> W::Output<Option<f64>> {
///     window.resolve(|w| metrics.quantile_in("llm_inference", None, w, Quantile::P99))
/// }
///
/// let metrics = LatencyMetrics::new();
/// metrics.record("llm_inference", 2.0)?;
/// assert!(p99(&metrics, None).is_some());
/// assert!(p99(&metrics, "5m")?.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`LatencyMetrics`]: crate::LatencyMetrics
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a time window",
    label = "expected a window here",
    note = "a window is a `Window` (`Window::HOUR_1`), `None` for all retained history, \
            `Some(window)`, a `Duration`, or text such as \"1h\", \"30m\", \"24h\" or \"7d\" \
            (`&str` or `String`; a number and one of s, m, h, d)"
)]
pub trait IntoWindow: sealed::WindowArgument + Sized {
    /// What a query whose answer is `A` returns when given this argument:
    /// `A` for the typed forms, `Result<A, MetricsError>` for the forms
    /// that can be wrong (text, [`Duration`]).
    type Output<A>;

    /// Resolves the argument to a window (`None`: all retained history)
    /// and answers `query` with it; for an argument that is not a valid
    /// window, the error, without calling `query`.
    fn resolve<A>(self, query: impl FnOnce(Option<Window>) -> A) -> Self::Output<A>;

    /// As [`resolve`](Self::resolve), for two windows given in the same
    /// form (the first error, if both are wrong).
    fn resolve_pair<A>(
        self,
        other: Self,
        query: impl FnOnce(Option<Window>, Option<Window>) -> A,
    ) -> Self::Output<A>;
}

mod sealed {
    /// Only this crate implements [`IntoWindow`](super::IntoWindow).
    pub trait WindowArgument {}
}

impl sealed::WindowArgument for Window {}

impl IntoWindow for Window {
    type Output<A> = A;

    fn resolve<A>(self, query: impl FnOnce(Option<Window>) -> A) -> A {
        query(Some(self))
    }

    fn resolve_pair<A>(
        self,
        other: Self,
        query: impl FnOnce(Option<Window>, Option<Window>) -> A,
    ) -> A {
        query(Some(self), Some(other))
    }
}

impl sealed::WindowArgument for &Window {}

impl IntoWindow for &Window {
    type Output<A> = A;

    fn resolve<A>(self, query: impl FnOnce(Option<Window>) -> A) -> A {
        query(Some(*self))
    }

    fn resolve_pair<A>(
        self,
        other: Self,
        query: impl FnOnce(Option<Window>, Option<Window>) -> A,
    ) -> A {
        query(Some(*self), Some(*other))
    }
}

impl sealed::WindowArgument for Option<Window> {}

impl IntoWindow for Option<Window> {
    type Output<A> = A;

    fn resolve<A>(self, query: impl FnOnce(Option<Window>) -> A) -> A {
        query(self)
    }

    fn resolve_pair<A>(
        self,
        other: Self,
        query: impl FnOnce(Option<Window>, Option<Window>) -> A,
    ) -> A {
        query(self, other)
    }
}

/// The forms that are checked when given: each converts itself with
/// `$to_window`, and a query answers `Result<A, MetricsError>`.
macro_rules! checked_window_forms {
    ($($form:ty => $to_window:expr;)*) => {$(
        impl sealed::WindowArgument for $form {}

        impl IntoWindow for $form {
            type Output<A> = Result<A, MetricsError>;

            fn resolve<A>(
                self,
                query: impl FnOnce(Option<Window>) -> A,
            ) -> Result<A, MetricsError> {
                let to_window: fn($form) -> Result<Window, MetricsError> = $to_window;
                Ok(query(Some(to_window(self)?)))
            }

            fn resolve_pair<A>(
                self,
                other: Self,
                query: impl FnOnce(Option<Window>, Option<Window>) -> A,
            ) -> Result<A, MetricsError> {
                let to_window: fn($form) -> Result<Window, MetricsError> = $to_window;
                Ok(query(Some(to_window(self)?), Some(to_window(other)?)))
            }
        }
    )*};
}

checked_window_forms! {
    &str => |text| Window::parse(text);
    String => |text| Window::parse(&text);
    &String => |text| Window::parse(text);
    Duration => Window::new;
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
