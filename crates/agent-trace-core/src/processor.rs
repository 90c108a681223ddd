//! The span processor contract: how finished spans leave the tracer.
//!
//! The tracer calls every processor on the application's thread, so a
//! processor must be quick: the export crate's batch processor only pushes
//! the span into a bounded queue and returns. When a span ends, the
//! processors that only read it ([`SpanProcessor::reads_only`]) are called
//! first, with a borrow, then the others in the order they were added, each
//! but the last with a copy.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::TraceError;
use crate::span_data::{FinishedSpan, SpanData};

/// Receives spans as they start and end.
///
/// Implemented by the export crate's batch processor and by
/// [`TraceStore`](crate::TraceStore); implement it to route spans anywhere
/// else.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor};
///
/// #[derive(Debug, Default)]
/// struct Errors(AtomicUsize);
///
/// impl SpanProcessor for Errors {
///     fn on_end(&self, span: FinishedSpan) {
///         if span.status.is_error() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let errors = std::sync::Arc::new(Errors::default());
/// let tracer = AgentStepTracer::builder().processor(errors.clone()).build();
/// tracer.start_trace("fails").set_status("error")?;
/// assert_eq!(errors.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SpanProcessor: Send + Sync + fmt::Debug {
    /// Called when a recording span starts, with its initial data (its
    /// parent is `span.parent_span_id`). The default does nothing.
    fn on_start(&self, span: &SpanData) {
        let _ = span;
    }

    /// Called once when a recording span ends; the processor now owns it.
    fn on_end(&self, span: FinishedSpan);

    /// Whether `on_start` runs only agent-trace's own code (or nothing):
    /// for the processors of agent-trace's crates, so that
    /// `AgentTraceLayer` may start a span under its slot lock when every
    /// processor and the sampler are its own. Leave the default (`false`)
    /// for yours: your `on_start` then never runs under a lock of the
    /// layer's.
    #[doc(hidden)]
    fn on_start_is_internal(&self) -> bool {
        false
    }

    /// Whether this processor records every span's duration as a latency
    /// (as the facade's `LatencyProcessor` does), so that a `tracing` layer
    /// feeding the same tracer does not record them a second time. Asked
    /// once, when the tracer is built. Default: `false`.
    fn records_span_durations(&self) -> bool {
        false
    }

    /// Whether this processor only reads finished spans (counts them,
    /// records their durations). The tracer then calls
    /// [`on_end_borrowed`](Self::on_end_borrowed) instead of
    /// [`on_end`](Self::on_end), before the processors that take ownership,
    /// and never makes a copy of the span for it: with one owning
    /// processor, a span ends with no copy at all, however many readers
    /// there are. Asked once, when the tracer is built. Default: `false`.
    fn reads_only(&self) -> bool {
        false
    }

    /// Called once when a recording span ends, for a processor whose
    /// [`reads_only`](Self::reads_only) is `true`. Default: nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanData, SpanProcessor};
    ///
    /// /// Counts failed spans; needs no copy of them.
    /// #[derive(Debug, Default)]
    /// struct Failures(AtomicU64);
    ///
    /// impl SpanProcessor for Failures {
    ///     fn reads_only(&self) -> bool {
    ///         true
    ///     }
    ///     fn on_end_borrowed(&self, span: &SpanData) {
    ///         if span.status.is_error() {
    ///             self.0.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     }
    ///     fn on_end(&self, span: FinishedSpan) {
    ///         self.on_end_borrowed(&span);
    ///     }
    /// }
    ///
    /// let failures = Arc::new(Failures::default());
    /// let tracer = AgentStepTracer::builder().processor(failures.clone()).build();
    /// tracer.start_trace("step").set_status("error")?;
    /// drop(tracer.start_trace("fine"));
    /// assert_eq!(failures.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_end_borrowed(&self, span: &SpanData) {
        let _ = span;
    }

    /// Delivers everything received so far, waiting at most `timeout`.
    ///
    /// # Errors
    /// When delivery failed or did not finish in time.
    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        let _ = timeout;
        Ok(())
    }

    /// Flushes, then releases resources; later spans are refused and counted.
    ///
    /// # Errors
    /// When the final flush failed or did not finish in time.
    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        self.force_flush(timeout)
    }
}

/// A processor that counts the spans it receives and drops them.
///
/// For benchmarks and tests that measure the tracer itself.
///
/// ```
/// use std::sync::Arc;
/// use agent_trace_core::{AgentStepTracer, CountingProcessor};
///
/// let counter = Arc::new(CountingProcessor::default());
/// let tracer = AgentStepTracer::builder().processor(counter.clone()).build();
/// drop(tracer.start_trace("task"));
/// assert_eq!(counter.ended(), 1);
/// ```
#[derive(Debug, Default)]
pub struct CountingProcessor {
    ended: AtomicU64,
}

impl CountingProcessor {
    /// Spans ended so far.
    pub fn ended(&self) -> u64 {
        self.ended.load(Ordering::Relaxed)
    }
}

impl SpanProcessor for CountingProcessor {
    fn on_start_is_internal(&self) -> bool {
        true
    }

    fn on_end(&self, _span: FinishedSpan) {
        self.ended.fetch_add(1, Ordering::Relaxed);
    }
}
