//! The injectable wall clock that places records in time slots.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, in nanoseconds since the Unix epoch.
///
/// [`LatencyMetrics`](crate::LatencyMetrics) reads it once per record and once
/// per query; windows are measured against it. Tests inject a
/// [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since the Unix epoch.
    fn now_nanos(&self) -> u64;
}

/// The wall clock; the default.
///
/// Read through the CPU's time-stamp counter (`quanta`, falling back to the
/// monotonic clock where there is no invariant TSC), anchored once per
/// process to [`SystemTime::now`]: a read costs a few nanoseconds where
/// `SystemTime::now` cost about 45 ns per record on the machines we bench
/// on. The price is that wall-clock steps after start (NTP corrections) are
/// not followed; the drift of a TSC against NTP time is parts per million,
/// a few seconds a week at most, below the 5 s resolution of the finest
/// slots.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

struct Anchored {
    clock: quanta::Clock,
    raw: u64,
    unix_nanos: u64,
}

fn anchored() -> &'static Anchored {
    static ANCHORED: std::sync::OnceLock<Anchored> = std::sync::OnceLock::new();
    ANCHORED.get_or_init(|| {
        let clock = quanta::Clock::new();
        let raw = clock.raw();
        // A clock set before 1970 reads as the epoch; it only shifts slots.
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Anchored {
            clock,
            raw,
            unix_nanos,
        }
    })
}

impl Clock for SystemClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        let a = anchored();
        a.unix_nanos
            .saturating_add(a.clock.delta_as_nanos(a.raw, a.clock.raw()))
    }
}

/// A clock that moves only when told to, for tests.
///
/// ```
/// use std::time::Duration;
/// use agent_trace_metrics::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_000);
/// clock.advance(Duration::from_nanos(500));
/// assert_eq!(clock.now_nanos(), 1_500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `start_nanos` (since the Unix epoch) until moved.
    pub fn new(start_nanos: u64) -> Self {
        Self {
            nanos: AtomicU64::new(start_nanos),
        }
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the clock orders nothing but itself.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `nanos` since the Unix epoch (it may go backwards).
    pub fn set_nanos(&self, nanos: u64) {
        self.nanos.store(nanos, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_tracks_the_wall_clock() {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let ours = SystemClock.now_nanos();
        assert!(ours.abs_diff(wall) < 1_000_000_000, "{ours} vs {wall}");
        let later = SystemClock.now_nanos();
        assert!(later >= ours, "monotonic");
    }
}
