//! Time: one fast monotonic clock for span timestamps, and an injectable
//! wall clock for retention.
//!
//! Span timestamps come from the CPU's time-stamp counter where it is stable
//! (through `fastant`, about 7 ns a read against about 23 ns for
//! `std::time::Instant` on the machines we bench on), anchored once per
//! process to the wall clock. A span's end time is its start time plus the
//! monotonic elapsed time, so it is never earlier than the start even when
//! the wall clock steps backwards.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use fastant::Instant as Tick;

fn anchor() -> &'static fastant::Anchor {
    static ANCHOR: OnceLock<fastant::Anchor> = OnceLock::new();
    ANCHOR.get_or_init(fastant::Anchor::new)
}

/// The wall-clock time of a tick.
#[inline]
pub(crate) fn to_system_time(tick: Tick) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(tick.as_unix_nanos(anchor()))
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
