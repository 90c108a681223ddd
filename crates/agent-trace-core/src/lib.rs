//! The tracing core of agent-trace: the span model, [`AgentStepTracer`],
//! sampling, the [`SpanProcessor`] contract, and an in-memory trace store.
//!
//! It sits on `agent-trace-propagation` (trace identity) and under
//! `agent-trace-export` (which implements [`SpanProcessor`] to ship spans).
//! It does no I/O.
//!
//! # Quick start
//!
//! ```
//! use agent_trace_core::{AgentStepTracer, attributes};
//!
//! let tracer = AgentStepTracer::new();
//! let trace = tracer.trace_builder("agent_task").agent_id("agent-001").start().entered();
//! {
//!     let mut span = tracer.start_span("llm_call"); // child of the entered trace
//!     span.set_attribute("model", "gpt-4");
//!     span.set_attribute("tokens", 150);
//!     span.add_event("first_token", [("latency_ms", 180)]);
//!     span.add_event("decided", attributes!["tool" => "web_search", "confidence" => 0.93]);
//!     span.set_status("success")?;
//! }
//! let trace_id = trace.trace_id();
//! trace.end();
//! print!("{}", tracer.trace(trace_id).expect("kept in memory").render());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Key concepts
//!
//! - A [`Span`] is a guard: it records while held and ends when dropped or
//!   on [`Span::end`]. [`Span::entered`] also makes it the *current* span of
//!   the thread, so spans started without a parent nest under it.
//! - Parents are explicit ([`SpanBuilder::parent`]), by trace id
//!   ([`SpanBuilder::trace_id`]) or implicit (the current span).
//! - A [`Sampler`] decides at start. A dropped span allocates nothing, is
//!   never exported, and still propagates its context.
//! - [`SpanLimits`] bound what a span holds; what they refuse is counted on
//!   the span.
//! - Attributes are typed [`Value`]s, converted from strings (borrowed ones
//!   are copied), integers of any width, floats, booleans, arrays of those,
//!   an `Option` (`None` sets nothing) or any `Display` type
//!   ([`display_value`]); lists of them ([`IntoAttributes`]) are arrays of
//!   `(key, value)` pairs, [`KeyValue`]s, or [`attributes!`] for mixed
//!   types. A status is a [`Status`] or a name (`"success"`, `"error"`),
//!   and any error ([`Exception`]) can be recorded.
//! - Processors receive each finished span as an owned [`FinishedSpan`].
//!   [`TraceStore`] is one: recent traces in memory, bounded by count, size
//!   and age, rendered as a tree with [`Trace::render`].
//!
//! # Performance
//!
//! A span costs two reads of the CPU's time-stamp counter, one allocation
//! that is recycled rather than freed (see `pool.rs`), and no lock: attributes live inline for the first four, ids come from a
//! thread-local generator, and handing a finished span to a processor moves
//! one pointer. See `benches/span.rs`, which measures this crate against
//! `opentelemetry_sdk` and `fastrace` in the same run.

// Every unsafe block says why it is sound, one operation at a time (see
// "Unsafe code" in ARCHITECTURE.md).
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

mod attr;
mod clock;
mod current;
mod error;
mod exception;
mod future;
mod ids;
mod pool;
mod processor;
mod render;
mod sampler;
mod span;
mod span_data;
mod store;
mod suppress;
mod tracer;
mod tree;

pub use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
pub use attr::{
    Array, ArrayElement, IntoAttributeValue, IntoAttributes, Key, KeyValue, StringValue, Value,
    display_value,
};
// What `attributes!` expands to; not part of the API.
#[doc(hidden)]
pub use attr::{collect_attributes, optional_attribute};
pub use clock::{Clock, ManualClock, StartMark, SystemClock, Timestamp};
pub use current::{
    ContextGuard, enter_context, enter_span, enter_span_tagged, exit_context, exit_tagged,
    find_entered, innermost_tagged,
};
pub use error::TraceError;
#[doc(hidden)]
pub use error::readable as readable_duration;
pub use exception::Exception;
pub use future::{AgentFutureExt, InContext, InSpan};
pub use pool::span_pool_bytes_bound;
pub use processor::{CountingProcessor, SpanProcessor};
pub use sampler::{
    ParentBased, Sampler, SamplingDecision, SamplingParams, ShouldSample, TraceIdRatio,
};
pub use span::{AGENT_ID, EnteredSpan, Parent, Span, SpanBuilder};
pub use span_data::{
    Attributes, Event, FinishedSpan, InstrumentationScope, IntoStatus, Link, SpanData, SpanKind,
    SpanLimits, Status,
};
pub use store::{SpanNode, StoreStats, Trace, TraceStore, TraceStoreConfig};
pub use suppress::{
    SuppressGuard, is_tracing_suppressed, suppress_tracing, suppress_tracing_on_this_thread,
};
pub use tracer::{AgentStepTracer, DEFAULT_FLUSH_TIMEOUT, TracerBuilder, time_left};
pub use tree::{SpanTree, TreePosition};
