//! Keeping a fast counter on the wall clock: the anchoring protocol, generic
//! over where its readings come from ([`Source`]) so that the unit tests
//! below drive it with a drifting counter and a stepping wall clock.
//!
//! # Why anchor more than once
//!
//! A raw reading (TSC cycles) becomes *monotonic* nanoseconds since a fixed
//! base reading by the calibrated scaling (one multiplication and a shift),
//! and wall-clock time by adding an *offset*: wall time minus monotonic
//! time, measured at an *anchor*. Anchored once per process, that sum
//! wandered from the wall clock: 0.6 to 1.1 ms off within the first 10 s,
//! then drifting at 0.2 to 18 ppm depending on the run (the calibration's
//! rate error, against a wall clock that NTP keeps on time), 1.6 s a day at
//! worst, and never following a step of the wall clock (NTP, suspend).
//!
//! So the offset is measured again once a reading is [`INTERVAL_NANOS`]
//! past the last anchor. Between two anchors the error grows by the rate
//! error times the time elapsed: tens of ppm times 100 ms is a few
//! microseconds, and even a scaling 1,000 ppm off (far beyond anything
//! `quanta`'s calibration produces) stays at 100 µs, well inside the 250 µs
//! the clock promises. The anchor itself is within half a bracket
//! ([`MAX_BRACKET_NANOS`], 20 µs) of the wall clock. Re-anchoring costs
//! about 100 ns of one reading in 100 ms, so a shorter interval would buy
//! accuracy nobody needs at no real cost either; 100 ms keeps the bound
//! with a wide margin.
//!
//! # Who anchors
//!
//! No thread: the reading that notices it is past the deadline anchors, on
//! its own thread. A try-lock flag ([`AtomicBool`], never waited on) makes
//! that one thread at a time; the others go on with the offset in force,
//! which is at most a little over one interval old and so still within the
//! bound. Only after an idle gap (no reading for more than two intervals)
//! can that offset be stale beyond the bound: a reader that finds another
//! thread anchoring then measures an offset for its own reading instead of
//! waiting, and does not publish it.
//!
//! An anchor reads the counter, the wall clock and the counter again, and
//! takes the wall reading as the time of the middle of the two counter
//! readings; it is adopted only if they are under [`MAX_BRACKET_NANOS`]
//! apart (the thread was not preempted in between). Up to [`ATTEMPTS`]
//! tries; if none is narrow enough the next try comes [`RETRY_NANOS`]
//! later, and meanwhile the old offset stays if it is at most two intervals
//! old (its error is then microseconds) and is replaced by the narrowest
//! measurement otherwise (after an idle gap the old offset's error has no
//! bound, a wall-clock step or drift times the gap, where the measurement's
//! is at most half its bracket). The very first anchor likewise takes the
//! narrowest of its tries whatever its width: there is no older offset to
//! keep.
//!
//! # The hot path
//!
//! Converting a reading costs, beyond the scaling, two loads (the deadline
//! and the offset), a compare and an add. The deadline is loaded with
//! `Acquire` and published with `Release` after the offset, so a reader
//! that sees a new deadline also sees the offset that goes with it; on
//! x86-64 both are plain `mov`s, as `Relaxed` loads would be.
//! `cargo xtask perfgate` (`root_span_2_attrs`) notices when this grows.
//!
//! A span's times never step back because of a re-anchoring: only its
//! start is converted, and its end is the start plus monotonic elapsed time
//! (`Timestamp::plus_elapsed`). Two different spans may see a step between
//! them, which is the point: the clock follows the wall clock.

use std::sync::atomic::Ordering;

// Loom's atomics in this crate's own unit tests under `cfg(loom)` only (the
// model at the end of this file, `cargo xtask loom`). Not in a plain
// `cfg(loom)` build: there this crate is a dependency of the other crates'
// loom models, whose code reads the process's clock, a `static` that must
// outlive each of loom's executions and so must not hold loom's atomics.
#[cfg(not(all(loom, test)))]
use std::sync::atomic::{AtomicBool, AtomicU64};

#[cfg(all(loom, test))]
use loom::sync::atomic::{AtomicBool, AtomicU64};

/// How long an anchor is trusted, in monotonic nanoseconds: 100 ms. The
/// rate error of the calibrated scaling (tens of ppm) times this stays far
/// below the 250 µs bound (see the module docs).
pub(crate) const INTERVAL_NANOS: u64 = 100_000_000;

/// The widest bracket (two counter readings around one wall-clock reading)
/// whose wall reading is adopted: 20 µs. A wall-clock read takes well under
/// a microsecond through the vDSO; a wider bracket means the thread was
/// preempted or interrupted in between, and the wall reading could be
/// anywhere inside it.
pub(crate) const MAX_BRACKET_NANOS: u64 = 20_000;

/// Tries per anchoring before giving up until [`RETRY_NANOS`] later.
pub(crate) const ATTEMPTS: usize = 4;

/// After an anchoring that found no narrow bracket, how long (monotonic
/// nanoseconds) before the next try: 1 ms, so that a machine too busy to
/// give a clean reading does not pay for the tries on every reading.
pub(crate) const RETRY_NANOS: u64 = 1_000_000;

/// Where readings come from: the process's `quanta` clock and
/// [`SystemTime`](std::time::SystemTime) in a build, a simulation in tests.
pub(crate) trait Source {
    /// A raw counter reading; only differences mean anything.
    fn raw(&self) -> u64;

    /// Nanoseconds from the raw reading `from` to the raw reading `to`,
    /// by the calibrated scaling; zero if `to` is not later.
    fn nanos_between(&self, from: u64, to: u64) -> u64;

    /// The wall clock, in nanoseconds since the Unix epoch.
    fn wall_nanos(&self) -> u64;
}

/// A [`Source`] kept on its wall clock (see the module docs).
#[derive(Debug)]
pub(crate) struct Anchored<S> {
    source: S,
    /// The raw reading monotonic time counts from.
    base: u64,
    /// Wall-clock nanoseconds minus monotonic nanoseconds at the last
    /// anchor. Unsigned: it is negative only for a wall clock set to before
    /// 1970 plus the process's run time, and is then taken as zero.
    offset: AtomicU64,
    /// The monotonic time of the last adopted anchor.
    anchored_at: AtomicU64,
    /// The monotonic time from which a reading anchors again.
    deadline: AtomicU64,
    /// Set while a thread anchors: a try-lock, never waited for.
    anchoring: AtomicBool,
}

/// One measurement of the offset: a wall reading between two counter
/// readings.
#[derive(Clone, Copy, Debug)]
struct Measured {
    /// Nanoseconds between the two counter readings.
    bracket: u64,
    /// Wall minus monotonic time at the middle of the bracket.
    offset: u64,
    /// Monotonic time of the second counter reading.
    at: u64,
}

impl<S: Source> Anchored<S> {
    /// Anchors `source` for the first time.
    pub(crate) fn new(source: S) -> Self {
        let base = source.raw();
        let clock = Self {
            source,
            base,
            offset: AtomicU64::new(0),
            anchored_at: AtomicU64::new(0),
            deadline: AtomicU64::new(0),
            anchoring: AtomicBool::new(false),
        };
        let first = clock.measure();
        // The narrowest of the tries, however wide: there is no older
        // offset to keep; a wide one is retried soon.
        let trusted_for = if first.bracket < MAX_BRACKET_NANOS {
            INTERVAL_NANOS
        } else {
            RETRY_NANOS
        };
        clock.adopt(first, trusted_for);
        clock
    }

    /// A raw reading.
    #[inline]
    pub(crate) fn raw(&self) -> u64 {
        self.source.raw()
    }

    /// Nanoseconds from `from` to `to`; zero if `to` is not later.
    #[inline]
    pub(crate) fn nanos_between(&self, from: u64, to: u64) -> u64 {
        self.source.nanos_between(from, to)
    }

    /// Monotonic nanoseconds of a raw reading since the base reading.
    #[inline]
    fn mono(&self, raw: u64) -> u64 {
        self.source.nanos_between(self.base, raw)
    }

    /// The wall-clock time of a raw reading, in nanoseconds since the Unix
    /// epoch: the hot path (see the module docs).
    #[inline]
    pub(crate) fn unix_nanos(&self, raw: u64) -> u64 {
        let mono = self.mono(raw);
        // Acquire: pairs with the Release in `adopt`, so a reader that sees
        // a new deadline also sees the offset measured with it.
        let offset = if mono < self.deadline.load(Ordering::Acquire) {
            self.offset.load(Ordering::Relaxed)
        } else {
            self.offset_past_deadline(mono)
        };
        mono.saturating_add(offset)
    }

    /// The offset for a reading at `mono`, past the deadline: anchors if no
    /// other thread does (see "Who anchors" in the module docs).
    #[cold]
    #[inline(never)]
    fn offset_past_deadline(&self, mono: u64) -> u64 {
        if self
            .anchoring
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.anchor();
            self.anchoring.store(false, Ordering::Release);
        } else if mono.saturating_sub(self.anchored_at.load(Ordering::Acquire)) > 2 * INTERVAL_NANOS
        {
            // The offset in force predates an idle gap and another thread is
            // replacing it: measure for this reading rather than wait (the
            // narrowest measurement, however wide: see `anchor`).
            return self.measure().offset;
        }
        self.offset.load(Ordering::Relaxed)
    }

    /// Measures the offset up to [`ATTEMPTS`] times and adopts the first
    /// narrow measurement. If there is none, the offset in force stays when
    /// it is at most two intervals old (its error is then the rate error
    /// over that time, microseconds), and otherwise the narrowest
    /// measurement replaces it (after an idle gap the old offset's error
    /// has no bound: drift times the gap, or a step of the wall clock;
    /// the measurement's is at most half its bracket); either way the next
    /// try comes [`RETRY_NANOS`] later.
    fn anchor(&self) {
        let m = self.measure();
        if m.bracket < MAX_BRACKET_NANOS {
            self.adopt(m, INTERVAL_NANOS);
        } else if m
            .at
            .saturating_sub(self.anchored_at.load(Ordering::Relaxed))
            > 2 * INTERVAL_NANOS
        {
            self.adopt(m, RETRY_NANOS);
        } else {
            self.deadline
                .store(m.at.saturating_add(RETRY_NANOS), Ordering::Release);
        }
    }

    /// The narrowest of up to [`ATTEMPTS`] measurements (the first under
    /// [`MAX_BRACKET_NANOS`] ends the search).
    fn measure(&self) -> Measured {
        let mut best: Option<Measured> = None;
        for _ in 0..ATTEMPTS {
            let before = self.mono(self.source.raw());
            let wall = self.source.wall_nanos();
            let after = self.mono(self.source.raw());
            let bracket = after.saturating_sub(before);
            let m = Measured {
                bracket,
                offset: wall.saturating_sub(before + bracket / 2),
                at: after,
            };
            if best.is_none_or(|b| m.bracket < b.bracket) {
                best = Some(m);
            }
            if bracket < MAX_BRACKET_NANOS {
                break;
            }
        }
        match best {
            Some(m) => m,
            // `ATTEMPTS` is at least one.
            None => unreachable!("no measurement taken"),
        }
    }

    /// Makes `m` the offset in force until `trusted_for` nanoseconds later.
    fn adopt(&self, m: Measured, trusted_for: u64) {
        self.offset.store(m.offset, Ordering::Relaxed);
        // Release, after the offset: see `unix_nanos` and
        // `offset_past_deadline`.
        self.anchored_at.store(m.at, Ordering::Release);
        self.deadline
            .store(m.at.saturating_add(trusted_for), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// The bound the clock promises against its wall clock.
    const BOUND: u64 = 250_000;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    /// A simulated machine: true time moves only when the test says so; the
    /// counter runs `raw_ppm` fast, the scaling is `scale_ppm` off, and the
    /// wall clock is true time plus steps the test makes.
    #[derive(Debug)]
    struct Sim {
        /// True nanoseconds since the simulation began.
        now: Cell<u64>,
        raw_ppm: i64,
        scale_ppm: i64,
        /// Added to the wall clock (NTP steps, suspend and resume).
        step: Cell<i64>,
        /// True time that passes during a wall-clock read (a preemption).
        wall_read_nanos: Cell<u64>,
        wall_reads: Cell<u64>,
    }

    /// The wall clock when the simulation begins: late 2026.
    const EPOCH: u64 = 1_795_608_000 * SEC;

    impl Sim {
        fn new(raw_ppm: i64, scale_ppm: i64) -> Self {
            Self {
                now: Cell::new(0),
                raw_ppm,
                scale_ppm,
                step: Cell::new(0),
                wall_read_nanos: Cell::new(0),
                wall_reads: Cell::new(0),
            }
        }

        fn advance(&self, nanos: u64) {
            self.now.set(self.now.get() + nanos);
        }

        /// The wall clock now, without the cost of a read.
        fn wall(&self) -> u64 {
            (EPOCH + self.now.get()).saturating_add_signed(self.step.get())
        }
    }

    fn ppm(x: u64, ppm: i64) -> u64 {
        (i128::from(x) * (1_000_000 + i128::from(ppm)) / 1_000_000) as u64
    }

    impl Source for &Sim {
        fn raw(&self) -> u64 {
            // A counter that did not start at zero.
            12_345 + ppm(self.now.get(), self.raw_ppm)
        }

        fn nanos_between(&self, from: u64, to: u64) -> u64 {
            ppm(to.saturating_sub(from), self.scale_ppm)
        }

        fn wall_nanos(&self) -> u64 {
            // The read happens in the middle of the time it takes.
            let cost = self.wall_read_nanos.get();
            self.advance(cost / 2);
            let wall = self.wall();
            self.advance(cost - cost / 2);
            self.wall_reads.set(self.wall_reads.get() + 1);
            wall
        }
    }

    /// How far a reading converted now is from the wall clock now.
    fn error(clock: &Anchored<&Sim>, sim: &Sim) -> u64 {
        clock.unix_nanos(clock.raw()).abs_diff(sim.wall())
    }

    /// Readings at irregular steps of 1 to 2 ms for a simulated hour, with
    /// two idle gaps of ten minutes: every one within the bound, under every
    /// rate error a TSC and its calibration could have and worse.
    #[test]
    fn a_drifting_counter_stays_within_250_us_of_the_wall_clock() {
        for (raw_ppm, scale_ppm) in [(100, 0), (-100, 0), (0, 1_000), (0, -1_000), (100, 1_000)] {
            let sim = Sim::new(raw_ppm, scale_ppm);
            let clock = Anchored::new(&sim);
            let first = clock.offset.load(Ordering::Relaxed);
            let (mut worst, mut worst_once_anchored, mut readings) = (0, 0, 0_u64);
            let mut i = 0_u64;
            while sim.now.get() < 3_600 * SEC {
                i += 1;
                sim.advance(if i.is_multiple_of(1_000_000) {
                    600 * SEC
                } else {
                    MS + i * 7_919 % MS
                });
                let e = error(&clock, &sim);
                assert!(
                    e < BOUND,
                    "{raw_ppm} ppm counter, {scale_ppm} ppm scaling: {e} ns off at {} s",
                    sim.now.get() / SEC
                );
                worst = worst.max(e);
                // What the clock anchored once per process would have read.
                let once = clock.mono(clock.raw()).saturating_add(first);
                worst_once_anchored = worst_once_anchored.max(once.abs_diff(sim.wall()));
                readings += 1;
            }
            // The error between anchors is the rate error over one interval.
            let rate = (raw_ppm + scale_ppm).unsigned_abs();
            assert!(
                worst <= rate * INTERVAL_NANOS / 1_000_000 * 11 / 10 + 1_000,
                "{raw_ppm}/{scale_ppm} ppm: worst {worst} ns"
            );
            // The test would catch the clock anchored once.
            assert!(worst_once_anchored > 100 * BOUND, "{worst_once_anchored}");
            // At most one anchoring (one wall read: no preemption here) per
            // interval, not one per reading.
            let anchorings = sim.wall_reads.get();
            assert!(
                anchorings <= 3_600 * SEC / INTERVAL_NANOS + 2 && anchorings < readings / 40,
                "{anchorings} anchorings for {readings} readings"
            );
        }
    }

    /// The wall clock steps forward and back by seconds (and twice within
    /// one interval): one interval after each step, readings are within the
    /// bound again; a span's elapsed time never goes back across a step,
    /// though a second conversion of its end reading would.
    #[test]
    fn a_stepping_wall_clock_is_followed_within_one_interval() {
        let sim = Sim::new(50, -30);
        let clock = Anchored::new(&sim);
        let steps: [(u64, i64); 5] = [
            (10 * SEC, 3 * SEC as i64),
            (20 * SEC, -5 * SEC as i64),
            (20 * SEC + 50 * MS, 2 * SEC as i64),
            (30 * SEC, -(SEC as i64)),
            (35 * SEC + 120 * MS, -7 * SEC as i64),
        ];
        let mut next_step = 0;
        let mut last_step_at = 0;
        let (mut checked, mut span_start) = (0, None);
        let mut ends_before_start_if_converted = 0;
        while sim.now.get() < 40 * SEC {
            sim.advance(MS / 2 + sim.now.get() % 337_000);
            if let Some(&(at, by)) = steps.get(next_step)
                && sim.now.get() >= at
            {
                sim.step.set(sim.step.get() + by);
                last_step_at = sim.now.get();
                next_step += 1;
            }
            let raw = clock.raw();
            let ts = clock.unix_nanos(raw);
            // The deadline after a step is at most one interval of
            // monotonic time away; a reading after it has re-anchored.
            if sim.now.get() >= last_step_at + INTERVAL_NANOS + MS {
                let e = ts.abs_diff(sim.wall());
                assert!(e < BOUND, "{e} ns off at {} ms", sim.now.get() / MS);
                checked += 1;
            }
            // A span of 400 ms: its end is its start plus elapsed time.
            let (start_raw, start_ts, last_elapsed) = span_start.unwrap_or((raw, ts, 0));
            let elapsed = clock.nanos_between(start_raw, raw);
            assert!(elapsed >= last_elapsed, "elapsed time went back");
            assert!(start_ts + elapsed >= start_ts);
            if ts < start_ts {
                ends_before_start_if_converted += 1;
            }
            span_start = (elapsed < 400 * MS).then_some((start_raw, start_ts, elapsed));
        }
        assert_eq!(next_step, steps.len());
        assert!(checked > 50_000, "{checked}");
        assert!(ends_before_start_if_converted > 0);
    }

    /// An anchoring whose every bracket is too wide (a preempted thread)
    /// keeps the offset in force and tries again 1 ms later, not on every
    /// reading; the first clean bracket is adopted.
    #[test]
    fn a_preempted_anchor_is_not_adopted() {
        let sim = Sim::new(0, 0);
        let clock = Anchored::new(&sim);
        assert_eq!(sim.wall_reads.get(), 1);
        assert!(error(&clock, &sim) < 1_000);

        sim.step.set(SEC as i64);
        sim.wall_read_nanos.set(50_000);
        sim.advance(INTERVAL_NANOS);
        let unstepped = sim.wall() - SEC;
        let kept = clock.unix_nanos(clock.raw());
        assert_eq!(sim.wall_reads.get(), 1 + ATTEMPTS as u64);
        assert!(kept.abs_diff(unstepped) < 1_000, "offset changed");
        // No new try before the retry delay...
        sim.advance(RETRY_NANOS / 2);
        let _ = clock.unix_nanos(clock.raw());
        assert_eq!(sim.wall_reads.get(), 1 + ATTEMPTS as u64);
        // ...and a clean one after it is adopted.
        sim.wall_read_nanos.set(1_000);
        sim.advance(RETRY_NANOS);
        // (The read itself takes 1 µs of the simulated time.)
        assert!(error(&clock, &sim) < 2_000);
        assert_eq!(sim.wall_reads.get(), 2 + ATTEMPTS as u64);
    }

    /// The first anchor is taken whatever its bracket (there is no other),
    /// and its wall reading is placed in the middle of the bracket.
    #[test]
    fn the_first_anchor_is_taken_from_the_narrowest_bracket() {
        let sim = Sim::new(0, 0);
        sim.wall_read_nanos.set(300_000);
        let clock = Anchored::new(&sim);
        assert_eq!(sim.wall_reads.get(), ATTEMPTS as u64);
        assert!(error(&clock, &sim) < 1_000);
    }

    /// While another thread anchors, a reader goes on with the offset in
    /// force, unless that offset predates an idle gap: then it measures
    /// for itself and leaves the published offset to the other thread.
    #[test]
    fn a_reader_racing_an_anchoring_after_an_idle_gap_measures_for_itself() {
        let sim = Sim::new(1_000, 0);
        let clock = Anchored::new(&sim);
        clock.anchoring.store(true, Ordering::Relaxed);

        // Just past the deadline: the offset in force is still good.
        sim.advance(INTERVAL_NANOS + MS);
        assert!(error(&clock, &sim) < BOUND);
        assert_eq!(sim.wall_reads.get(), 1);

        // After an hour idle it is 3.6 s off; the reader measures.
        let published = clock.offset.load(Ordering::Relaxed);
        sim.advance(3_600 * SEC);
        assert!(error(&clock, &sim) < 1_000);
        assert_eq!(sim.wall_reads.get(), 2);
        assert_eq!(clock.offset.load(Ordering::Relaxed), published);

        // The anchoring thread done, the next reading anchors for all.
        clock.anchoring.store(false, Ordering::Relaxed);
        assert!(error(&clock, &sim) < 1_000);
        assert_ne!(clock.offset.load(Ordering::Relaxed), published);
    }
}

/// The loom model of the protocol (`cargo xtask loom`): [`Anchored`]'s own
/// code, with loom's atomics, converting readings on two or three threads
/// at once across a deadline, under every interleaving and every value
/// each load may return that loom explores.
///
/// The source is a script: each thread reads the counter at the time the
/// model gives it, and the wall clock runs at twice the counter's rate,
/// so that an offset measured at monotonic time `t` is `EPOCH + t`. A
/// converted reading therefore names the measurement it was converted
/// with (`ts - mono - EPOCH`), and the model checks, for every reading:
///
/// - its offset was measured at most two intervals before the reading
///   (the bound after which a reader that loses the try-lock measures for
///   itself), so never with the offset of before an idle gap;
/// - its offset comes from a narrow bracket (an adopted anchor, or the
///   reader's own measurement), never from one too wide to adopt;
///
/// and once the threads are done: the flag is released, and the published
/// offset, anchor time and deadline are those of one anchoring (two
/// threads anchoring at once leave a mix of their stores).
///
/// The first check is what the `Release` stores and `Acquire` loads buy: a
/// reader that sees the deadline of a new anchor converts with its offset
/// (a deadline stored `Relaxed`, or before the offset, fails it).
#[cfg(all(test, loom))]
mod loom_model {
    use std::cell::Cell;

    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// The wall clock at the first reading.
    const EPOCH: u64 = 1_795_608_000_000_000_000;

    /// The readings after an idle gap: ten intervals with none.
    const GAP: u64 = 10 * INTERVAL_NANOS;

    /// A wall-clock read on a preempted thread: every bracket too wide.
    const PREEMPTED: u64 = 2 * MAX_BRACKET_NANOS;

    loom::thread_local! {
        /// This thread's time: what its next counter reading returns.
        static NOW: Cell<u64> = Cell::new(0);
        /// How long a wall-clock read takes on this thread.
        static WALL_READ: Cell<u64> = Cell::new(0);
    }

    /// The scripted source (see the module docs).
    #[derive(Debug)]
    struct Script;

    impl Source for Script {
        fn raw(&self) -> u64 {
            NOW.with(Cell::get)
        }

        fn nanos_between(&self, from: u64, to: u64) -> u64 {
            to.saturating_sub(from)
        }

        fn wall_nanos(&self) -> u64 {
            let cost = WALL_READ.with(Cell::get);
            NOW.with(|now| {
                // Read in the middle of the time it takes.
                now.set(now.get() + cost / 2);
                let wall = EPOCH + 2 * now.get();
                now.set(now.get() + cost - cost / 2);
                wall
            })
        }
    }

    /// Preemptions per execution that the models explore: every
    /// interleaving with at most this many (`LOOM_MAX_PREEMPTIONS`
    /// overrides it).
    const BOUND: Option<usize> = Some(3);

    fn model(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = preemption_bound;
        }
        builder.check(f);
    }

    /// Converts a reading taken at `now` on this thread, whose wall-clock
    /// reads take `wall_read`; returns the reading's monotonic time and the
    /// monotonic time at which the offset it was converted with was
    /// measured.
    fn convert(clock: &Anchored<Script>, now: u64, wall_read: u64) -> (u64, u64) {
        NOW.with(|n| n.set(now));
        WALL_READ.with(|w| w.set(wall_read));
        let raw = clock.raw();
        let mono = clock.mono(raw);
        let ts = clock.unix_nanos(raw);
        (mono, ts - mono - EPOCH)
    }

    /// The per-reading checks (see the module docs): `narrow` are the
    /// times of the model's narrow measurements.
    fn check_reading(mono: u64, measured_at: u64, narrow: &[u64]) {
        assert!(
            mono.saturating_sub(measured_at) <= 2 * INTERVAL_NANOS,
            "a reading at {mono} ns converted with the offset of {measured_at} ns"
        );
        assert!(
            narrow.contains(&measured_at),
            "a reading at {mono} ns converted with an offset measured at {measured_at} ns, \
             not a narrow measurement"
        );
    }

    /// The state once every thread is done: the flag released, and one
    /// anchoring's offset, time and deadline (or the deadline of a failed
    /// anchoring at `failed_at`).
    fn check_published(clock: &Anchored<Script>, failed_at: Option<u64>) {
        assert!(!clock.anchoring.load(Ordering::Relaxed), "flag left set");
        let anchored_at = clock.anchored_at.load(Ordering::Relaxed);
        assert_eq!(
            clock.offset.load(Ordering::Relaxed),
            EPOCH + anchored_at,
            "the offset of one anchoring published with the time of another"
        );
        let deadline = clock.deadline.load(Ordering::Relaxed);
        assert!(
            deadline == anchored_at + INTERVAL_NANOS
                || failed_at.is_some_and(|at| deadline == at + RETRY_NANOS),
            "deadline {deadline} for an anchor at {anchored_at}"
        );
    }

    /// Three threads read just after an idle gap, so that the offset in
    /// force is ten intervals old: one anchors, the others either convert
    /// with its offset (having seen its deadline or its anchor time) or,
    /// finding it anchoring with the old offset still in force, measure
    /// for themselves.
    #[test]
    fn after_an_idle_gap_no_reading_uses_the_old_offset() {
        model(BOUND, || {
            let clock = Arc::new(Anchored::new(Script));
            let readers: Vec<_> = (0..3)
                .map(|i| {
                    let clock = clock.clone();
                    thread::spawn(move || convert(&clock, GAP + i, 0))
                })
                .collect();
            let narrow = [0, GAP, GAP + 1, GAP + 2];
            for reader in readers {
                let (mono, measured_at) = reader.join().unwrap();
                check_reading(mono, measured_at, &narrow);
            }
            check_published(&clock, None);
            assert_ne!(
                clock.anchored_at.load(Ordering::Relaxed),
                0,
                "nobody anchored"
            );
        });
    }

    /// Three threads read just past the deadline, one of them preempted
    /// during every wall-clock read: an anchoring by it is not adopted
    /// (the deadline moves 1 ms on, the offset stays), and releases the
    /// flag like a successful one; the others convert with the offset in
    /// force, a little over one interval old, or with a new one.
    #[test]
    fn past_the_deadline_a_preempted_anchoring_is_not_adopted() {
        model(BOUND, || {
            let clock = Arc::new(Anchored::new(Script));
            let at = INTERVAL_NANOS + 1;
            let readers: Vec<_> = [(at, PREEMPTED), (at + 1, 0), (at + 2, 0)]
                .into_iter()
                .map(|(now, wall_read)| {
                    let clock = clock.clone();
                    thread::spawn(move || convert(&clock, now, wall_read))
                })
                .collect();
            let narrow = [0, at + 1, at + 2];
            for reader in readers {
                let (mono, measured_at) = reader.join().unwrap();
                check_reading(mono, measured_at, &narrow);
            }
            // The preempted thread's anchoring kept the first of its
            // (equally wide) brackets, which ended at `at + PREEMPTED`.
            check_published(&clock, Some(at + PREEMPTED));
        });
    }

    /// Three threads read after an idle gap, the first preempted during
    /// every wall-clock read: whichever anchors, no reading is converted
    /// with the offset from before the gap (a preempted measurement, at
    /// most half its bracket off, replaces an offset whose error has no
    /// bound), and the flag is released.
    #[test]
    fn after_an_idle_gap_a_preempted_anchoring_still_replaces_the_old_offset() {
        model(BOUND, || {
            let clock = Arc::new(Anchored::new(Script));
            let readers: Vec<_> = [(GAP, PREEMPTED), (GAP + 1, 0), (GAP + 2, 0)]
                .into_iter()
                .map(|(now, wall_read)| {
                    let clock = clock.clone();
                    thread::spawn(move || convert(&clock, now, wall_read))
                })
                .collect();
            for reader in readers {
                let (mono, measured_at) = reader.join().unwrap();
                assert!(
                    measured_at >= GAP,
                    "a reading at {mono} ns converted with the offset of {measured_at} ns, \
                     from before the gap"
                );
            }
            assert!(!clock.anchoring.load(Ordering::Relaxed), "flag left set");
            assert!(
                clock.anchored_at.load(Ordering::Relaxed) >= GAP,
                "nobody anchored"
            );
        });
    }
}
