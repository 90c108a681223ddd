//! [`Tick`]: a raw reading of the process's one clock, and that clock.

use std::sync::OnceLock;
use std::time::SystemTime;

use crate::Timestamp;
use crate::anchor::{Anchored, Source};

/// A raw reading of the process's one clock: TSC cycles, or monotonic
/// nanoseconds on machines without an invariant TSC. Only differences of
/// two readings, or a reading turned into a [`Timestamp`], mean anything.
///
/// Reading is the cheapest thing the clock does (one `rdtsc` on x86-64);
/// a span reads once at start and once at end, and converts only its start
/// to wall-clock time.
///
/// ```
/// use agent_trace_clock::Tick;
///
/// let start = Tick::now();
/// let started_at = start.timestamp();
/// let nanos = start.nanos_until(Tick::now());
/// assert!(started_at.as_unix_nanos() > 0);
/// assert!(nanos < 60_000_000_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Tick(u64);

impl Tick {
    /// Now. The first reading in the process calibrates the counter
    /// (about a millisecond) and anchors it to the wall clock.
    #[inline]
    pub fn now() -> Self {
        Self(clock().raw())
    }

    /// Monotonic nanoseconds from `self` to `later`; zero if `later` is
    /// earlier.
    #[inline]
    pub fn nanos_until(self, later: Tick) -> u64 {
        clock().nanos_between(self.0, later.0)
    }

    /// The wall-clock time of this reading, within 250 µs of
    /// [`SystemTime::now`] at the moment it was read (see the crate docs).
    #[inline]
    pub fn timestamp(self) -> Timestamp {
        Timestamp::from_unix_nanos(clock().unix_nanos(self.0))
    }
}

/// The process's `quanta` clock, calibrated once, and the system's wall
/// clock.
#[derive(Debug)]
struct Quanta(quanta::Clock);

impl Source for Quanta {
    #[inline]
    fn raw(&self) -> u64 {
        self.0.raw()
    }

    #[inline]
    fn nanos_between(&self, from: u64, to: u64) -> u64 {
        self.0.delta_as_nanos(from, to)
    }

    fn wall_nanos(&self) -> u64 {
        Timestamp::from(SystemTime::now()).as_unix_nanos()
    }
}

/// The one clock: `quanta` calibrated here, once per process, against the
/// monotonic clock, and kept on the wall clock by [`Anchored`].
#[inline]
fn clock() -> &'static Anchored<Quanta> {
    static CLOCK: OnceLock<Anchored<Quanta>> = OnceLock::new();
    CLOCK.get_or_init(|| Anchored::new(Quanta(quanta::Clock::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_converts_to_now() {
        let plausible = |t: Timestamp| {
            let wall = Timestamp::from(SystemTime::now()).as_unix_nanos();
            t.as_unix_nanos().abs_diff(wall) < 1_000_000_000
        };
        let t = Tick::now();
        assert!(plausible(t.timestamp()));
        assert!(plausible(Timestamp::now()));
        let later = Tick::now();
        assert_eq!(later.nanos_until(t), 0);
    }
}
