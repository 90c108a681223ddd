//! `SpanContext`: the part of a span that crosses process boundaries.

use crate::{SpanId, TraceFlags, TraceId, TraceState};

/// The identity of a span as seen by other spans and other services.
///
/// Ids cannot be zero by type, so a `SpanContext` is always a valid one; where
/// W3C Trace Context speaks of an *invalid* context, this crate uses
/// `Option<SpanContext>`.
///
/// ```
/// use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId};
///
/// let ctx = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?,
///     SpanId::from_hex("00f067aa0ba902b7")?,
///     TraceFlags::SAMPLED,
/// );
/// assert!(ctx.is_sampled());
/// assert!(!ctx.is_remote);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's own id.
    pub span_id: SpanId,
    /// Sampling (and Level 2 random) flags.
    pub trace_flags: TraceFlags,
    /// Vendor-specific trace state, passed along unchanged unless a vendor
    /// updates its own entry.
    pub trace_state: TraceState,
    /// Whether this context was received from another process.
    pub is_remote: bool,
}

impl SpanContext {
    /// A local context with an empty trace state.
    pub const fn new(trace_id: TraceId, span_id: SpanId, trace_flags: TraceFlags) -> Self {
        Self {
            trace_id,
            span_id,
            trace_flags,
            trace_state: TraceState::NONE,
            is_remote: false,
        }
    }

    /// This context with the given trace state.
    #[must_use]
    pub fn with_trace_state(mut self, trace_state: TraceState) -> Self {
        self.trace_state = trace_state;
        self
    }

    /// This context marked as received from another process.
    #[must_use]
    pub fn into_remote(mut self) -> Self {
        self.is_remote = true;
        self
    }

    /// Whether the *sampled* flag is set.
    #[inline]
    pub const fn is_sampled(&self) -> bool {
        self.trace_flags.is_sampled()
    }
}
