//! Time: one fast monotonic clock for span timestamps, and an injectable
//! wall clock for retention.
//!
//! Span timestamps come from the CPU's time-stamp counter where it is
//! invariant (through `quanta`, which falls back to the monotonic clock
//! elsewhere), anchored once per process to the wall clock. A raw reading is
//! turned into nanoseconds by one 64x64->128-bit multiplication and a shift;
//! the span bench showed the float arithmetic of the previous clock crate
//! (two `u64`/`f64` conversions per reading) as a fifth of a span's cost. A
//! span's end time is its start time plus the elapsed monotonic time, so it
//! is never earlier than the start even when the wall clock steps backwards.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment read from the span clock, for starting a span later as if it
/// had started then ([`SpanBuilder::started_at`]): its start time is this
/// moment and its duration is measured from it, so the two agree.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, StartMark};
///
/// let tracer = AgentStepTracer::new();
/// let mark = StartMark::now();
/// // ... decide the span's parent, name or attributes ...
/// let span = tracer.span_builder("step").started_at(mark).start();
/// assert!(span.elapsed() > std::time::Duration::ZERO);
/// ```
///
/// [`SpanBuilder::started_at`]: crate::SpanBuilder::started_at
#[derive(Clone, Copy, Debug)]
pub struct StartMark(pub(crate) Tick);

impl StartMark {
    /// Now.
    #[inline]
    pub fn now() -> Self {
        Self(Tick::now())
    }

    /// The wall-clock time of this moment.
    pub fn timestamp(self) -> Timestamp {
        Timestamp::from_tick(self.0)
    }
}

/// A raw reading of the span clock (TSC cycles, or monotonic nanoseconds on
/// machines without an invariant TSC). Only differences of two readings, or
/// a reading against the anchor, mean anything.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tick(u64);

impl Tick {
    #[inline]
    pub(crate) fn now() -> Self {
        Self(span_clock().clock.raw())
    }

    /// Nanoseconds from `self` to `later`; zero if `later` is earlier.
    #[inline]
    pub(crate) fn nanos_until(self, later: Tick) -> u64 {
        span_clock().clock.delta_as_nanos(self.0, later.0)
    }
}

/// The process's span clock and its one anchoring to the wall clock.
struct SpanClock {
    clock: quanta::Clock,
    anchor_raw: u64,
    anchor_unix_nanos: u64,
}

fn span_clock() -> &'static SpanClock {
    static CLOCK: OnceLock<SpanClock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        // Calibration against the monotonic clock happens here, once per
        // process (about a millisecond).
        let clock = quanta::Clock::new();
        let anchor_raw = clock.raw();
        let anchor_unix_nanos = Timestamp::from(SystemTime::now()).0;
        SpanClock {
            clock,
            anchor_raw,
            anchor_unix_nanos,
        }
    })
}

/// A point in time, as nanoseconds since the Unix epoch (UTC).
///
/// Spans keep their times in this form rather than as [`SystemTime`]: it is
/// what OTLP and Zipkin carry, it is one `u64` to compare and subtract, and
/// turning a clock tick into it is one multiplication, where building a
/// `SystemTime` costs a division and a checked add on every span. Convert
/// with `From` in either direction.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agent_trace_core::Timestamp;
///
/// let t = Timestamp::from(UNIX_EPOCH + Duration::from_millis(1_500));
/// assert_eq!(t.as_unix_nanos(), 1_500_000_000);
/// assert_eq!(t.to_string(), "1970-01-01T00:00:01.500000000Z");
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

    /// Now, read from the span clock (the CPU's time-stamp counter where it
    /// is stable, anchored to the wall clock once per process).
    #[inline]
    pub fn now() -> Self {
        Self::from_tick(Tick::now())
    }

    /// The wall-clock time of a span-clock reading.
    #[inline]
    pub(crate) fn from_tick(tick: Tick) -> Self {
        let c = span_clock();
        Self(
            c.anchor_unix_nanos
                .saturating_add(c.clock.delta_as_nanos(c.anchor_raw, tick.0)),
        )
    }

    /// `self` moved forward by the span-clock time from `start` to `end`;
    /// never earlier than `self`.
    #[inline]
    pub(crate) fn plus_elapsed(self, start: Tick, end: Tick) -> Self {
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

/// A source of wall-clock time, injectable so that time-based behaviour
/// (retention by age) is tested without sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to: for tests.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agent_trace_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(100));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(105));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `start` (times before 1970 are read as 1970).
    pub fn new(start: SystemTime) -> Self {
        let nanos = start
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Self(Arc::new(AtomicU64::new(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        )))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
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

    #[test]
    fn span_clock_agrees_with_the_wall_clock() {
        let wall = Timestamp::from(SystemTime::now());
        let ours = Timestamp::now();
        let skew = ours.as_unix_nanos().abs_diff(wall.as_unix_nanos());
        assert!(
            skew < 1_000_000_000,
            "span clock is {skew} ns away from the wall clock"
        );
    }
}
