//! Time: the workspace's one clock (`agent-trace-clock`), and the
//! [`StartMark`] that starts a span at an earlier reading of it.
//!
//! Span timestamps are readings of the CPU's time-stamp counter, kept within
//! 250 µs of the wall clock by re-anchoring (see `agent_trace_clock`). A
//! span converts only its start reading to wall-clock time; its end time is
//! its start time plus the elapsed monotonic time, so it is never earlier
//! than the start even when the wall clock steps backwards. Retention reads
//! the injectable [`Clock`].

pub(crate) use agent_trace_clock::Tick;
pub use agent_trace_clock::{Clock, ManualClock, SystemClock, Timestamp};

/// A moment read from the span clock, for starting a span later as if it
/// had started then ([`SpanBuilder::started_at`]): its start time is this
/// moment and its duration is measured from it, so the two agree.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, StartMark};
///
/// let tracer = AgentStepTracer::new();
/// let mark = StartMark::now();
/// // ... decide the span's parent, name or attributes ...
/// let span = tracer.span_builder("step").started_at(mark).start();
/// assert!(span.elapsed() > std::time::Duration::ZERO);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`SpanBuilder::started_at`]: crate::SpanBuilder::started_at
#[derive(Clone, Copy, Debug)]
pub struct StartMark(pub(crate) Tick);

impl StartMark {
    /// Now.
    #[inline]
    pub fn now() -> Self {
        Self(Tick::now())
    }

    /// The wall-clock time of this moment.
    pub fn timestamp(self) -> Timestamp {
        self.0.timestamp()
    }

    /// The time since this mark, on the span clock (monotonic; what a span
    /// started at this mark would report as its [`elapsed`] time).
    ///
    /// ```
    /// use agent_trace_core::StartMark;
    ///
    /// let mark = StartMark::now();
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// assert!(mark.elapsed() >= std::time::Duration::from_millis(2));
    /// ```
    ///
    /// [`elapsed`]: crate::Span::elapsed
    #[inline]
    pub fn elapsed(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.nanos_until(Tick::now()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn span_clock_agrees_with_the_wall_clock() {
        let wall = Timestamp::from(SystemTime::now());
        let ours = StartMark::now().timestamp();
        let skew = ours.as_unix_nanos().abs_diff(wall.as_unix_nanos());
        assert!(
            skew < 1_000_000_000,
            "span clock is {skew} ns away from the wall clock"
        );
    }
}
