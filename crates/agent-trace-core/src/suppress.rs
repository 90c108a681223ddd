//! Suppressed tracing: threads and scopes whose spans are not recorded.
//!
//! The export path (batch workers, exporters' runtimes, retries, the
//! Prometheus listener) runs code of other crates, and some of it emits
//! `tracing` spans and events: tonic, h2 and hyper do, at every poll. Were
//! those recorded they would be exported, and exporting them would make
//! more. OpenTelemetry SDKs mark such code with a *suppression* flag in
//! their context; this is the same for agent-trace: while tracing is
//! suppressed on a thread, every span started there (through the tracer or
//! through `AgentTraceLayer`) is a non-recording span that still carries
//! its parent's trace, and the layer ignores `tracing` spans and events.
//!
//! ```
//! use agent_trace_core::{AgentStepTracer, is_tracing_suppressed, suppress_tracing};
//!
//! let tracer = AgentStepTracer::new();
//! {
//!     let _quiet = suppress_tracing();
//!     assert!(is_tracing_suppressed());
//!     assert!(!tracer.start_trace("internal_retry").is_recording());
//! }
//! assert!(!is_tracing_suppressed());
//! assert!(tracer.start_trace("agent_task").is_recording());
//! ```

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    /// How many suppression scopes are open on this thread; `u32::MAX`
    /// for a thread suppressed for good.
    static SUPPRESSED: Cell<u32> = const { Cell::new(0) };
}

/// Whether tracing is suppressed on this thread: spans started here do not
/// record.
#[inline]
pub fn is_tracing_suppressed() -> bool {
    SUPPRESSED.try_with(Cell::get).map_or(true, |n| n > 0)
}

/// Suppresses tracing on this thread until the guard drops (scopes nest).
///
/// For code that runs on behalf of the tracer itself, as an exporter does;
/// the built-in exporters and the batch pipeline suppress their own
/// threads already.
#[must_use = "tracing is suppressed only while the guard lives"]
pub fn suppress_tracing() -> SuppressGuard {
    let _ = SUPPRESSED.try_with(|n| n.set(n.get().saturating_add(1)));
    SuppressGuard {
        _not_send: PhantomData,
    }
}

/// Suppresses tracing on this thread for the rest of its life: for threads
/// that only ever run the export path (batch workers, the threads of an
/// exporter's runtime, a metrics listener).
pub fn suppress_tracing_on_this_thread() {
    let _ = SUPPRESSED.try_with(|n| n.set(u32::MAX));
}

/// Returned by [`suppress_tracing`]: ends the suppression scope when
/// dropped, on the thread that opened it (so it is neither `Send` nor
/// `Sync`).
#[derive(Debug)]
pub struct SuppressGuard {
    _not_send: PhantomData<*const ()>,
}

impl Drop for SuppressGuard {
    fn drop(&mut self) {
        let _ = SUPPRESSED.try_with(|n| {
            let v = n.get();
            // A thread suppressed for good stays so.
            if v != u32::MAX {
                n.set(v.saturating_sub(1));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_a_thread_suppressed_for_good_stays_suppressed() {
        assert!(!is_tracing_suppressed());
        let outer = suppress_tracing();
        let inner = suppress_tracing();
        drop(inner);
        assert!(is_tracing_suppressed(), "the outer scope is still open");
        drop(outer);
        assert!(!is_tracing_suppressed());
        std::thread::spawn(|| {
            suppress_tracing_on_this_thread();
            drop(suppress_tracing());
            assert!(is_tracing_suppressed());
        })
        .join()
        .unwrap();
        assert!(!is_tracing_suppressed(), "other threads are not affected");
    }
}
