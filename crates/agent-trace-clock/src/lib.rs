//! The one clock of agent-trace: fast timestamps that stay on the wall
//! clock, and the injectable [`Clock`] that time-based behaviour reads.
//!
//! Span timestamps, trace retention, tail-sampling deadlines and latency
//! time slots all read time from here, so they agree with each other and
//! with the wall clock, and the counter is calibrated once per process.
//!
//! # Quick start
//!
//! ```
//! use std::time::SystemTime;
//! use agent_trace_clock::{Clock, ManualClock, SystemClock, Tick, Timestamp};
//!
//! // A span: one reading at start, converted to wall-clock time, and one
//! // at the end, added as monotonic elapsed time.
//! let start = Tick::now();
//! let start_time = start.timestamp();
//! let end_time = start_time.plus_elapsed(start, Tick::now());
//! assert!(end_time >= start_time);
//!
//! // Within 250 µs of the system's wall clock (a second, for a slow CI).
//! let wall = Timestamp::from(SystemTime::now());
//! assert!(Timestamp::now().as_unix_nanos().abs_diff(wall.as_unix_nanos()) < 1_000_000_000);
//!
//! // Time-based behaviour takes a `Clock`; tests move a `ManualClock`.
//! let clock = ManualClock::new(1_000);
//! clock.advance(std::time::Duration::from_nanos(500));
//! assert_eq!(clock.now(), Timestamp::from_unix_nanos(1_500));
//! assert!(SystemClock.now() > clock.now());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Key concepts
//!
//! - A [`Tick`] is a raw reading (TSC cycles where the counter is invariant,
//!   through `quanta`, which falls back to the monotonic clock elsewhere).
//!   Reading is one instruction; [`Tick::nanos_until`] is the monotonic
//!   time between two readings (one 64x64->128-bit multiplication and a
//!   shift, no float), and [`Tick::timestamp`] the wall-clock time of one.
//! - A [`Timestamp`] is nanoseconds since the Unix epoch in one `u64`,
//!   what OTLP and Zipkin carry. A span converts its start reading and
//!   stamps its end as start plus elapsed time ([`Timestamp::plus_elapsed`]),
//!   so it never ends before it starts.
//! - [`Clock`] is the injectable "now": [`SystemClock`] reads the one
//!   clock, [`ManualClock`] moves when a test says so. Core's trace store,
//!   the export crate's tail sampler and the metrics' time slots take an
//!   `Arc<dyn Clock>`.
//!
//! # Staying on the wall clock
//!
//! A counter anchored to the wall clock once per process drifts away from
//! it (the calibration's rate error: measured 0.2 to 18 ppm, up to 1.6 s a
//! day) and never follows the wall clock's steps, so the spans of a
//! long-running agent would sit far from other services' spans. So the
//! conversion re-anchors: a reading more than 100 ms past the last anchor
//! measures the offset between the counter and
//! [`SystemTime::now`](std::time::SystemTime::now) again
//! (on the thread that noticed, with no thread of ours and no waiting; a
//! measurement is adopted only when it was not preempted). The result:
//!
//! - Every timestamp is within **250 µs** of `SystemTime::now()` at the
//!   moment of its reading, from the first span on, for as long as the
//!   process runs; in practice within a few microseconds (the rate error
//!   over 100 ms plus half of a measurement's bracket).
//! - A step of the wall clock (an NTP step, a resume from suspend) is
//!   followed within 100 ms; until then timestamps are off by the step.
//! - The times within one span never step back, whatever the wall clock
//!   does: only its start is converted.
//!
//! The `anchor` module has the protocol and its reasons; its unit tests
//! drive it with a simulated counter that runs 100 ppm fast, a scaling
//! 1,000 ppm off and a wall clock stepping seconds forward and back.
//! `tests/timestamps_stay_on_the_wall_clock.rs` checks the real clock
//! against `SystemTime::now()` for 3 s; run it for longer (ten minutes
//! here, with the maximum offset seen printed) with
//!
//! ```text
//! AGENT_TRACE_CLOCK_SOAK_SECS=600 cargo test -p agent-trace-clock --release \
//!     --test timestamps_stay_on_the_wall_clock -- --nocapture
//! ```
//!
//! (a duration set from the environment rather than an `#[ignore]`d twin:
//! one test, which every `cargo test` runs for a short time).
//!
//! # Performance
//!
//! [`Tick::now`] is one counter read behind a `OnceLock` check.
//! [`Tick::timestamp`] adds the scaling, two atomic loads (the re-anchoring
//! deadline and the offset), a compare and an add; once in 100 ms one
//! conversion also re-anchors (two counter reads and one `SystemTime::now`,
//! about 100 ns). Nothing here locks, allocates or starts a thread.
//! `cargo xtask perfgate` counts the instructions of a whole span
//! (`root_span_2_attrs`), these included.

#![forbid(unsafe_code)]

mod anchor;
mod clock;
mod stripe;
mod tick;
mod timestamp;

pub use clock::{Clock, ManualClock, SystemClock};
pub use stripe::{thread_stripe, thread_stripe_if_set};
pub use tick::Tick;
pub use timestamp::Timestamp;
