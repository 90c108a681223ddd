//! [`Clock`]: the injectable source of "now" for time-based behaviour
//! (trace retention, tail-sampling deadlines, metric time slots), so that
//! tests move time instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Timestamp;

/// A source of wall-clock time, injectable so that time-based behaviour is
/// tested without sleeping: [`SystemClock`] in a program, [`ManualClock`]
/// in tests.
///
/// ```
/// use std::sync::Arc;
/// use agent_trace_clock::{Clock, ManualClock, SystemClock, Timestamp};
///
/// fn age(clock: &dyn Clock, since: Timestamp) -> std::time::Duration {
///     clock.now().saturating_duration_since(since)
/// }
///
/// let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(5_000));
/// assert_eq!(age(&*clock, Timestamp::from(1_000)).as_nanos(), 4_000);
/// assert!(SystemClock.now_nanos() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// The current time in nanoseconds since the Unix epoch; the same
    /// moment as [`now`](Self::now).
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.now().as_unix_nanos()
    }
}

/// The system's wall clock, read through the process's one clock: the
/// CPU's time-stamp counter, kept within 250 µs of
/// [`SystemTime::now`](std::time::SystemTime::now) (see the crate docs), so
/// that "now" and the timestamps of spans come from the same place.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to: for tests. Clones share the one
/// time, so a test keeps a clone to move the clock it handed over.
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, UNIX_EPOCH};
/// use agent_trace_clock::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(100));
/// let handed_over: Arc<dyn Clock> = Arc::new(clock.clone());
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(handed_over.now(), Timestamp::from(UNIX_EPOCH + Duration::from_secs(105)));
///
/// let clock = ManualClock::new(1_000); // nanoseconds since the epoch
/// clock.advance(Duration::from_nanos(500));
/// assert_eq!(clock.now_nanos(), 1_500);
/// clock.set_nanos(700);
/// assert_eq!(clock.now_nanos(), 700);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `start`: a [`Timestamp`], a
    /// [`SystemTime`](std::time::SystemTime) (times before 1970 are read as
    /// 1970) or a `u64` of nanoseconds since the Unix epoch.
    pub fn new(start: impl Into<Timestamp>) -> Self {
        Self(Arc::new(AtomicU64::new(start.into().as_unix_nanos())))
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the clock orders nothing but itself.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `nanos` since the Unix epoch (it may go backwards).
    pub fn set_nanos(&self, nanos: u64) {
        self.0.store(nanos, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_nanos(self.0.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}
