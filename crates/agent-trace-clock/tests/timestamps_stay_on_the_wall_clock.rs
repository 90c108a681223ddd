//! The real clock against the real wall clock: every timestamp within
//! 250 µs of `SystemTime::now()`, from the first reading on, for as long
//! as the test runs (3 s by default; `AGENT_TRACE_CLOCK_SOAK_SECS=600` for
//! ten minutes, see the crate docs), on two threads that race to
//! re-anchor.

use std::time::{Duration, Instant, SystemTime};

use agent_trace_clock::{Tick, Timestamp};

/// The bound the clock promises.
const BOUND_NANOS: u64 = 250_000;

/// Samples whose two wall-clock reads are further apart than this are
/// skipped: the thread was preempted, and where in the bracket our
/// reading fell says nothing.
const MAX_BRACKET_NANOS: u64 = 20_000;

/// What one thread saw.
#[derive(Debug, Default)]
struct Seen {
    samples: u64,
    skipped: u64,
    /// Largest distance from our reading to the bracket of wall readings.
    worst: u64,
    /// Largest distance from our reading to the bracket's middle.
    worst_to_middle: u64,
}

impl Seen {
    /// Reads the wall clock, our clock and the wall clock again.
    fn sample(&mut self) -> Option<u64> {
        let before = Timestamp::from(SystemTime::now()).as_unix_nanos();
        let ours = Timestamp::now().as_unix_nanos();
        let after = Timestamp::from(SystemTime::now()).as_unix_nanos();
        if after.saturating_sub(before) > MAX_BRACKET_NANOS {
            self.skipped += 1;
            return None;
        }
        self.samples += 1;
        let off = before.saturating_sub(ours).max(ours.saturating_sub(after));
        self.worst = self.worst.max(off);
        let middle = before + (after - before) / 2;
        self.worst_to_middle = self.worst_to_middle.max(ours.abs_diff(middle));
        Some(off)
    }

    /// Samples until `deadline`, one every 100 µs or so.
    fn run_until(mut self, deadline: Instant) -> Self {
        while Instant::now() < deadline {
            if let Some(off) = self.sample() {
                assert!(
                    off < BOUND_NANOS,
                    "{off} ns from the wall clock after {} samples",
                    self.samples
                );
            }
            // Pacing, so a long run does not spin a core; readings wake up
            // at every phase of the re-anchoring interval.
            std::thread::sleep(Duration::from_micros(100));
        }
        self
    }
}

#[test]
fn timestamps_stay_within_250_us_of_system_time() {
    let secs = std::env::var("AGENT_TRACE_CLOCK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(3);

    // The first reading of the process calibrates and anchors the clock
    // (a millisecond or so, too long to bracket); the next one is the
    // first a span would convert.
    let _ = Tick::now();
    let mut first = Seen::default();
    let mut tries = 0;
    while first.sample().is_none() {
        tries += 1;
        assert!(tries < 1_000, "no clean bracket in 1,000 tries");
    }
    assert!(first.worst < BOUND_NANOS, "first reading: {first:?}");

    let deadline = Instant::now() + Duration::from_secs(secs);
    let other = std::thread::spawn(move || Seen::default().run_until(deadline));
    let main = Seen::default().run_until(deadline);
    let other = other.join().expect("the sampling thread failed");

    eprintln!(
        "{secs} s: first reading {} ns off; \
         main thread {main:?}; other thread {other:?}",
        first.worst
    );
    for seen in [&main, &other] {
        assert!(seen.samples > 100 * secs, "too few clean samples: {seen:?}");
    }
}
