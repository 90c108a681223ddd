//! The injectable wall clock that places records in time slots.

use std::fmt;
use std::sync::Once;
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
/// # What a read returns, and why
///
/// Time only places a value in a slot, and the finest slots are 5 s wide.
/// So a read returns the time of the last *tick*: a background thread
/// (`agent-trace-metrics-clock`, started on the first read) stores the
/// precise time every 10 ms, and a read is one atomic load. The precise
/// time itself comes from the CPU's time-stamp counter (`quanta`, falling
/// back to the monotonic clock where there is no invariant TSC), anchored
/// once per process to [`SystemTime::now`].
///
/// Measured on the 2-core development machine: the precise read cost about
/// 15 ns per record (the time-stamp counter is slow to read under its
/// hypervisor), half of a whole `record` through a handle, and
/// `SystemTime::now` about 35 to 45 ns; the load costs about one.
///
/// The price, stated: a value is placed at most one tick (10 ms) before
/// the moment it was recorded, more only if the process is so starved of
/// CPU that the ticking thread does not run for longer; against 5 s slots
/// that moves a window's edge by 0.2% of a slot. Until the thread has
/// ticked once, or if it could not be started, reads are precise (so the
/// first ticked read may be up to one tick behind the last precise one:
/// a step back that slot assignment absorbs, as it does clock steps). Wall-
/// clock steps after start (NTP corrections) are not followed; the drift
/// of a TSC against NTP time is parts per million, a few seconds a week at
/// most, below the resolution of the finest slots.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The last tick of the clock thread; 0 until it has ticked.
static TICKED: AtomicU64 = AtomicU64::new(0);

/// How often the clock thread ticks.
const TICK: Duration = Duration::from_millis(10);

/// Starts the ticking thread, once per process. If it cannot start,
/// [`TICKED`] stays 0 and every read is precise.
#[cold]
fn start_ticking() {
    static START: Once = Once::new();
    START.call_once(|| {
        // Surviving without the thread is the fallback described above.
        let _ = std::thread::Builder::new()
            .name("agent-trace-metrics-clock".into())
            .spawn(|| {
                loop {
                    TICKED.store(precise_now(), Ordering::Relaxed);
                    std::thread::sleep(TICK);
                }
            });
    });
}

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

/// The precise wall-clock time, from the anchored time-stamp counter.
fn precise_now() -> u64 {
    let a = anchored();
    a.unix_nanos
        .saturating_add(a.clock.delta_as_nanos(a.raw, a.clock.raw()))
}

/// The last tick, once the clock thread has ticked: the whole of a
/// [`SystemClock`] read on the fast path of `record` (one load, inlined).
#[inline]
pub(crate) fn ticked() -> Option<u64> {
    // Relaxed, as in `now_nanos`: the tick is a plain value that publishes
    // no other memory.
    match TICKED.load(Ordering::Relaxed) {
        0 => None,
        t => Some(t),
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        match TICKED.load(Ordering::Relaxed) {
            0 => {
                start_ticking();
                precise_now()
            }
            t => t,
        }
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
        // Not strictly monotonic: a first, precise read may lead the first
        // tick, by one tick or (on a starved machine) more; see the docs.
        let later = SystemClock.now_nanos();
        assert!(
            later + 1_000_000_000 > ours,
            "{later} went back from {ours}"
        );
    }

    #[test]
    fn system_clock_reads_move_with_the_ticks() {
        let first = SystemClock.now_nanos();
        // Wait (bounded) for the ticking thread to move the clock on.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut now = SystemClock.now_nanos();
        // (The first read may be precise and a little ahead of the first
        // tick, so wait for the clock to pass it, not merely to change.)
        while now <= first && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            now = SystemClock.now_nanos();
        }
        assert!(now > first, "the clock did not move in 10 s");
        // And it stays close to the precise time: within one tick plus
        // generous scheduling slack.
        assert!(precise_now().abs_diff(SystemClock.now_nanos()) < 1_000_000_000);
    }
}
