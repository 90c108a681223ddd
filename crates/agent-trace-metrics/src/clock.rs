//! The clock that places records in time slots: the workspace's one clock
//! (`agent-trace-clock`, re-exported here), read as the last tick of a
//! ticker thread while a registry on the system clock needs it.
//!
//! # What a read returns, and why
//!
//! Time only places a value in a slot, and the finest slots are 5 s wide.
//! So while it runs, a [`LatencyMetrics`](crate::LatencyMetrics) on the
//! default clock reads the time of the last *tick*: a thread
//! (`agent-trace-clock`) stores [`Timestamp::now`] every 100 ms,
//! and a read is one atomic load. The precise time comes from the one
//! clock (the CPU's time-stamp counter kept within 250 µs of the wall
//! clock, calibrated once per process for spans and metrics alike).
//!
//! Measured on the 2-core development machine: the precise read cost about
//! 15 ns per record (the time-stamp counter is slow to read under its
//! hypervisor), half of a whole `record` through a handle, and
//! `SystemTime::now` about 35 to 45 ns; the load costs about one.
//!
//! The price, stated: a value is placed at most one tick (100 ms) before
//! the moment it was recorded, more only if the process is so starved of
//! CPU that the ticking thread does not run for longer; against 5 s slots
//! that moves a window's edge by 2% of a slot.
//!
//! Why 100 ms and not finer: each tick wakes a thread, and a wake-up is
//! not free where the agent runs (on the 2-core KVM machine, about 20 us
//! of CPU each: at 10 ms ticks the thread cost 1.3 to 2.5 us of CPU per
//! task of the agent workload bench at 1,000 tasks/s, ten times what the
//! ticks saved its ~16 records a task). At 100 ms it costs a tenth of
//! that, and the ticks still pay for themselves from about 13,000 records
//! a second. Until the thread has
//! ticked once, after it stopped, or if it could not be started, reads are
//! precise (so a read may be up to one tick behind an earlier precise one:
//! a step back that slot assignment absorbs, as it does clock steps).
//!
//! # Who starts the ticker, and when it stops
//!
//! Nothing starts it but a registry built on the default clock: it holds a
//! [`TickerLease`] (as do its [`SeriesHandle`](crate::SeriesHandle)s,
//! through the settings they share). The first lease starts the thread;
//! when the last is dropped the thread stores 0 as the tick (reads are
//! precise again) and exits, woken at once rather than at its next tick.
//! Reads never start it, so a [`SystemClock`] handed to a registry or a
//! cost ledger is read precisely and starts nothing. A registry on a custom
//! clock holds no lease.
//!
//! # The recorder it sees
//!
//! The ticker thread never sets a local `metrics` recorder, so at each tick
//! it also notes which recorder a thread without one uses: the global
//! recorder, or the no-op one before a global is set. Both live as long as
//! the process, so handles registered with them may be kept;
//! [`process_recorder`] tells whether the calling thread's current
//! recorder is that one (the `genai` helpers keep their metric handles
//! only then). Reading it starts nothing; [`watch_process_recorder`] keeps
//! the thread running for the rest of the process when no registry may
//! (the facade's `init()` with latencies off).

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use agent_trace_clock::Timestamp;
pub use agent_trace_clock::{Clock, ManualClock, SystemClock};

// std's, or loom's under `cfg(loom)` (the model at the end of this file).
use crate::sync::{AtomicU64, Builder, Mutex, Thread, park_timeout};

/// The last tick of the clock thread; 0 while it is not ticking.
#[cfg(not(loom))]
static TICKED: AtomicU64 = AtomicU64::new(0);

/// The address of the `metrics` recorder the ticker thread saw at its last
/// tick (see [`process_recorder`]); 0 while it is not ticking.
static RECORDER_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The generation of the ticker thread that should be running; 0 when none
/// should. A thread of an older generation stops at its next wake-up.
#[cfg(not(loom))]
static RUNNING: AtomicU64 = AtomicU64::new(0);

/// How often the clock thread ticks.
const TICK: Duration = Duration::from_millis(100);

/// The leases and the thread they keep, changed only under [`TICKER`]
/// (a lease is taken and dropped with a registry, never per record).
#[derive(Debug)]
struct Ticker {
    leases: usize,
    /// The generation of the last thread started.
    generation: u64,
    /// The running thread, to wake when the last lease goes.
    thread: Option<Thread>,
}

#[cfg(not(loom))]
static TICKER: Mutex<Ticker> = Mutex::new(Ticker::IDLE);

// Under loom, the same three, made afresh for each execution of the model
// (loom's atomics and lock have no `const` constructor).
#[cfg(loom)]
loom::lazy_static! {
    static ref TICKED: AtomicU64 = AtomicU64::new(0);
    static ref RUNNING: AtomicU64 = AtomicU64::new(0);
    static ref TICKER: Mutex<Ticker> = Mutex::new(Ticker::IDLE);
}

impl Ticker {
    /// No lease, and no thread started yet.
    const IDLE: Self = Self {
        leases: 0,
        generation: 0,
        thread: None,
    };
}

/// A claim on the ticker thread: it runs while any lease is alive.
#[derive(Debug)]
pub(crate) struct TickerLease(());

impl TickerLease {
    /// Takes a lease, starting the thread if this is the only one. If the
    /// thread cannot start, reads stay precise (see the module docs).
    pub(crate) fn new() -> Self {
        let mut ticker = TICKER.lock().unwrap_or_else(PoisonError::into_inner);
        ticker.leases += 1;
        if ticker.leases == 1 {
            ticker.generation += 1;
            let generation = ticker.generation;
            RUNNING.store(generation, Ordering::Relaxed);
            ticker.thread = Builder::new()
                .name("agent-trace-clock".into())
                .spawn(move || tick_while_leased(generation))
                .ok()
                .map(|handle| handle.thread().clone());
        }
        Self(())
    }
}

impl Drop for TickerLease {
    fn drop(&mut self) {
        let mut ticker = TICKER.lock().unwrap_or_else(PoisonError::into_inner);
        ticker.leases -= 1;
        if ticker.leases == 0 {
            RUNNING.store(0, Ordering::Relaxed);
            if let Some(thread) = ticker.thread.take() {
                thread.unpark();
            }
        }
    }
}

/// The ticker thread's body. Its last store is 0, unless a newer thread
/// runs by then: a thread that stops never leaves a tick behind that
/// nobody moves on, and never clears what a running one stored (a stale
/// tick it stored late is a valid time, replaced at the running thread's
/// next tick). The check is under [`TICKER`], where a new lease sets
/// `RUNNING` before its thread starts.
fn tick_while_leased(generation: u64) {
    // Relaxed throughout: the tick is a plain value that publishes no other
    // memory, and `RUNNING` is only compared.
    while RUNNING.load(Ordering::Relaxed) == generation {
        TICKED.store(Timestamp::now().as_unix_nanos(), Ordering::Relaxed);
        #[cfg(not(loom))]
        RECORDER_SEEN.store(current_recorder(), Ordering::Relaxed);
        // Woken early by the last lease's drop.
        park_timeout(TICK);
    }
    // Under the lock, where a new lease sets `RUNNING` before its thread
    // starts: 0 means no thread is to run.
    let _ticker = TICKER.lock().unwrap_or_else(PoisonError::into_inner);
    if RUNNING.load(Ordering::Relaxed) == 0 {
        TICKED.store(0, Ordering::Relaxed);
        #[cfg(not(loom))]
        RECORDER_SEEN.store(0, Ordering::Relaxed);
    }
}

/// The address of the recorder a `metrics!` macro on this thread would use
/// now.
fn current_recorder() -> usize {
    ::metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize)
}

/// The address of the `metrics` recorder this thread's macros use now, if
/// it is one that lives as long as the process: the recorder that threads
/// without a local recorder use (the global recorder, or the no-op one
/// before a global is set). `None` under a local recorder
/// (`metrics::with_local_recorder`), and whenever it cannot be known: while
/// no [`LatencyMetrics`](crate::LatencyMetrics) on the default clock lives
/// and nothing called [`watch_process_recorder`] (the clock thread is what
/// sees it; see the module docs), and for up to one tick (100 ms) after a
/// global recorder is set.
///
/// Handles registered with a recorder for which this answers `Some` may be
/// kept and reused for as long as it keeps answering the same address: a
/// global recorder is never dropped, so no other recorder can take its
/// address (two recorders of size zero can share one, but then they hold
/// no state to tell apart).
///
/// ```
/// // A registry on the default clock keeps the clock thread running.
/// let registry = agent_trace_metrics::LatencyMetrics::new();
/// let histogram = metrics::histogram!("gen_ai.client.operation.duration");
/// if let Some(recorder) = agent_trace_metrics::process_recorder() {
///     // `histogram` may be kept, for as long as `process_recorder()`
///     // answers `Some(recorder)`.
/// }
/// # drop((registry, histogram));
/// ```
pub fn process_recorder() -> Option<usize> {
    let seen = RECORDER_SEEN.load(Ordering::Relaxed);
    (seen != 0 && seen == current_recorder()).then_some(seen)
}

/// Keeps the clock thread running for the rest of the process, so that
/// [`process_recorder`] answers (from the thread's first tick, within
/// 100 ms) whether or not a [`LatencyMetrics`](crate::LatencyMetrics)
/// lives: for a setup that keeps metric handles (the `genai` helpers') and
/// may have no latency registry, as the facade's `init()` with latencies
/// off. The first call takes a lease that is never dropped (starting the
/// thread unless a registry has); later calls change nothing. The thread
/// wakes every 100 ms.
///
/// ```
/// agent_trace_metrics::watch_process_recorder();
/// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
/// // No registry here: the watch alone gets the recorder noted.
/// while agent_trace_metrics::process_recorder().is_none() {
///     assert!(std::time::Instant::now() < deadline, "never noted");
///     std::thread::sleep(std::time::Duration::from_millis(10));
/// }
/// ```
pub fn watch_process_recorder() {
    static WATCH: std::sync::OnceLock<TickerLease> = std::sync::OnceLock::new();
    WATCH.get_or_init(TickerLease::new);
}

/// The last tick, while the clock thread ticks: the whole of a clock read
/// on the fast path of `record` (one load, inlined).
#[inline]
pub(crate) fn ticked() -> Option<u64> {
    match TICKED.load(Ordering::Relaxed) {
        0 => None,
        t => Some(t),
    }
}

/// The time for a registry on the default clock: the last tick, or the
/// precise time when there is none.
#[inline]
pub(crate) fn system_now() -> u64 {
    match ticked() {
        Some(t) => t,
        None => Timestamp::now().as_unix_nanos(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_leased_clock_ticks_near_the_precise_time() {
        let _lease = TickerLease::new();
        // Wait (bounded) for the thread's first tick.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ticked().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let tick = ticked().expect("no tick within 10 s");
        let precise = Timestamp::now().as_unix_nanos();
        assert!(
            precise.abs_diff(tick) < 1_000_000_000,
            "{tick} vs {precise}"
        );
        // And it moves on.
        while ticked() == Some(tick) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(ticked().is_some_and(|t| t > tick), "the tick did not move");
        assert!(system_now().abs_diff(precise) < 1_000_000_000);
    }
}

/// The loom model of the ticker's start and stop (`cargo xtask loom`):
/// [`TickerLease`] and [`tick_while_leased`] themselves, with loom's lock,
/// atomics, threads and park (`crate::sync`; a park without a timeout, so
/// a ticker that nobody wakes hangs the model as a deadlock).
///
/// Two threads each take a lease, look, and drop it, so that the leases
/// overlap or not, and the ticker is started once, or started, stopped
/// and started again (with the first ticker woken but perhaps not yet
/// run: two ticker threads alive at once, the older one told to stop). The
/// model checks:
///
/// - while a lease is held, the newest ticker (the generation in force) has
///   not exited: a lease means a ticker that runs, or is about to;
/// - every ticker ends once the last lease is dropped, woken rather than
///   at a timeout (a ticker still parked fails as a deadlock): so no
///   older ticker outlives its generation, and no more than one ticker
///   keeps running;
/// - once all have ended, the tick is 0, nothing is marked running and the
///   lease count is 0 with no thread kept.
#[cfg(all(test, loom))]
mod loom_model {
    use loom::thread;

    use super::*;
    use crate::sync::threads;

    /// Preemptions per execution explored (`LOOM_MAX_PREEMPTIONS`
    /// overrides it).
    const BOUND: Option<usize> = Some(3);

    fn model(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = preemption_bound;
        }
        builder.check(f);
    }

    #[test]
    fn a_lease_keeps_one_ticker_and_the_last_lease_stops_it() {
        model(BOUND, || {
            let leasers: Vec<_> = (0..2)
                .map(|_| {
                    thread::spawn(|| {
                        let lease = TickerLease::new();
                        // A point where loom may run the others (the
                        // check below is not a loom operation).
                        thread::yield_now();
                        let newest = threads::started() - 1;
                        assert!(
                            !threads::ended(newest),
                            "a lease is held, and its ticker has exited"
                        );
                        drop(lease);
                    })
                })
                .collect();
            for leaser in leasers {
                leaser.join().unwrap();
            }
            // Hangs (a deadlock to loom) while a ticker is parked unwoken.
            threads::join_all();
            assert_eq!(TICKED.load(Ordering::Relaxed), 0, "a tick left behind");
            assert_eq!(RUNNING.load(Ordering::Relaxed), 0);
            let ticker = TICKER.lock().unwrap();
            assert_eq!(ticker.leases, 0);
            assert!(ticker.thread.is_none());
            assert_eq!(ticker.generation as usize, threads::started());
        });
    }
}
