//! [`Timestamp`]: a point in wall-clock time, as one `u64`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Tick;

/// A point in time, as nanoseconds since the Unix epoch (UTC).
///
/// Spans keep their times in this form rather than as [`SystemTime`]: it is
/// what OTLP and Zipkin carry, it is one `u64` to compare and subtract, and
/// turning a clock tick into it is one multiplication and an add, where
/// building a `SystemTime` costs a division and a checked add on every
/// span. Convert with `From` in either direction; a `u64` converts as
/// nanoseconds since the epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agent_trace_clock::Timestamp;
///
/// let t = Timestamp::from(UNIX_EPOCH + Duration::from_millis(1_500));
/// assert_eq!(t.as_unix_nanos(), 1_500_000_000);
/// assert_eq!(t, Timestamp::from(1_500_000_000));
/// assert_eq!(t.to_string(), "1970-01-01T00:00:01.500000000Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Self = Self(0);

    /// The time `nanos` nanoseconds after the Unix epoch.
    #[inline]
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    #[inline]
    pub const fn as_unix_nanos(self) -> u64 {
        self.0
    }

    /// Now, read from the process's one clock: the CPU's time-stamp counter
    /// where it is invariant, kept within 250 µs of the wall clock (see the
    /// crate docs).
    #[inline]
    pub fn now() -> Self {
        Tick::now().timestamp()
    }

    /// `self` moved forward by the clock time from `start` to `end`; never
    /// earlier than `self`.
    ///
    /// This is how a span's end (and its events' times) are stamped: its
    /// start time plus monotonic elapsed time, not a second conversion of
    /// a reading to wall-clock time, so a span never ends before it starts
    /// and its times never step back, even when the clock re-anchors to a
    /// wall clock that stepped back in between.
    ///
    /// ```
    /// use agent_trace_clock::{Tick, Timestamp};
    ///
    /// let start = Tick::now();
    /// let start_time = start.timestamp();
    /// let end_time = start_time.plus_elapsed(start, Tick::now());
    /// assert!(end_time >= start_time);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn plus_elapsed(self, start: Tick, end: Tick) -> Self {
        Self(self.0.saturating_add(start.nanos_until(end)))
    }

    /// The same time as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }

    /// Time from `earlier` to `self`; zero when `earlier` is later.
    #[inline]
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// This time plus `d`, saturating at the largest representable time
    /// (in the year 2554).
    #[inline]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

/// Times before 1970 become the epoch; times after 2554 saturate.
impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        let nanos = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        Self(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Nanoseconds since the Unix epoch, as [`Timestamp::from_unix_nanos`].
impl From<u64> for Timestamp {
    #[inline]
    fn from(nanos: u64) -> Self {
        Self(nanos)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        t.to_system_time()
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with nanoseconds: `2026-11-25T12:00:00.123456789Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let nanos = self.0 % 1_000_000_000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let t = |secs: u64| Timestamp::from_unix_nanos(secs * 1_000_000_000 + 7).to_string();
        assert_eq!(t(0), "1970-01-01T00:00:00.000000007Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00.000000007Z"); // leap day
        assert_eq!(t(1_795_608_000), "2026-11-25T12:00:00.000000007Z");
        assert_eq!(t(4_102_444_799), "2099-12-31T23:59:59.000000007Z");
    }

    #[test]
    fn system_time_round_trip() {
        let now = SystemTime::now();
        let t = Timestamp::from(now);
        let back = SystemTime::from(t);
        assert_eq!(Timestamp::from(back), t);
        assert_eq!(
            Timestamp::from(UNIX_EPOCH - Duration::from_secs(1)),
            Timestamp::UNIX_EPOCH
        );
    }
}
