//! Trace identity for agent-trace: the ids, flags and state that say which
//! trace a span belongs to, in the exact text forms W3C Trace Context uses.
//!
//! This crate is the bottom of the workspace: it depends on nothing heavier
//! than `thiserror`, so that anything which only needs to *carry* a trace
//! context (an HTTP middleware, a message envelope) can do so without pulling
//! in a tracer.
//!
//! # Quick start
//!
//! ```
//! use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
//!
//! let ctx = SpanContext::new(
//!     "4bf92f3577b34da6a3ce929d0e0e4736".parse::<TraceId>()?,
//!     "00f067aa0ba902b7".parse::<SpanId>()?,
//!     TraceFlags::SAMPLED,
//! )
//! .with_trace_state("tenant=acme".parse::<TraceState>()?);
//! assert_eq!(ctx.trace_state.get("tenant"), Some("acme"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Key concepts
//!
//! - [`TraceId`] and [`SpanId`] cannot be zero: the type rules out the
//!   *invalid* ids of the W3C recommendation, so code that holds one never
//!   re-checks it.
//! - Text forms are strict: lowercase hex of the exact length. Uppercase is
//!   rejected rather than normalised, as the recommendation requires.
//! - [`TraceState`] keeps every member valid and is cheap to clone.
//! - Parsers never panic and return [`PropagationError`] saying what was wrong.

mod context;
mod error;
mod id;
mod trace_state;

pub use context::SpanContext;
pub use error::PropagationError;
pub use id::{SpanId, TraceFlags, TraceId};
pub use trace_state::{MAX_TRACE_STATE_MEMBERS, TraceState};
