//! Trace identity for agent-trace and the headers that carry it between
//! processes: W3C Trace Context, W3C Baggage and Zipkin B3, exactly as their
//! specifications write them.
//!
//! This crate is the bottom of the workspace: it depends on nothing heavier
//! than `thiserror`, so that anything which only needs to *carry* a trace
//! context (an HTTP middleware, a message envelope) can do so without pulling
//! in a tracer.
//!
//! # Quick start
//!
//! ```
//! use std::collections::HashMap;
//! use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
//!
//! // Outgoing: a context becomes headers.
//! let ctx = SpanContext::new(
//!     "4bf92f3577b34da6a3ce929d0e0e4736".parse::<TraceId>()?,
//!     "00f067aa0ba902b7".parse::<SpanId>()?,
//!     TraceFlags::SAMPLED,
//! )
//! .with_trace_state("tenant=acme".parse::<TraceState>()?);
//! let headers = ctx.to_headers();
//! assert_eq!(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! assert_eq!(headers["tracestate"], "tenant=acme");
//!
//! // Incoming: headers become the remote parent.
//! let parent = SpanContext::from_headers(&headers)?;
//! assert!(parent.is_remote);
//! assert_eq!(parent.trace_state.get("tenant"), Some("acme"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With several formats, compose propagators:
//!
//! ```
//! use agent_trace_propagation::{
//!     B3Propagator, BaggagePropagator, CompositePropagator, TextMapPropagator, TraceContextPropagator,
//! };
//!
//! let propagator = CompositePropagator::default()
//!     .with(TraceContextPropagator)
//!     .with(BaggagePropagator)
//!     .with_extract_only(B3Propagator::default());
//! let incoming = [
//!     ("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"),
//!     ("X-B3-SpanId", "e457b5a2e4d86bd1"),
//!     ("X-B3-Sampled", "1"),
//!     ("baggage", "userId=alice"),
//! ];
//! // A malformed or missing header means "start a new trace", hence unwrap_or_default.
//! let cx = propagator.extract(&incoming).unwrap_or_default();
//! assert!(cx.span_context.is_some());
//! assert_eq!(cx.baggage.get("userId"), Some("alice"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Key concepts
//!
//! - [`TraceId`] and [`SpanId`] cannot be zero: the type rules out the
//!   *invalid* ids of the W3C recommendation, so code that holds one never
//!   re-checks it. Where W3C speaks of an invalid context, this crate uses
//!   `Option<SpanContext>`.
//! - Text forms are strict: lowercase hex of the exact length. Uppercase is
//!   rejected rather than normalised, as the recommendation requires.
//! - [`TraceState`] and [`Baggage`] keep every member valid and within the
//!   specification's limits, so whatever exists can be sent whole.
//! - A [`TextMapPropagator`] moves one header format's part of a
//!   [`PropagationContext`] (span context and baggage) through an
//!   [`Injector`] or [`Extractor`]: any header map, implemented here for
//!   `HashMap<String, String>`, `(name, value)` lists and, with the `http`
//!   feature, `http::HeaderMap`. Names are matched in any case.
//! - Parsers never panic, bound what they read, and return
//!   [`PropagationError`] saying what was wrong; a propagator ignores what it
//!   cannot parse exactly where the specification says to (a bad
//!   `tracestate` next to a good `traceparent`).
//! - [`B3`] keeps what B3 says beyond a `SpanContext` (debug, deferred
//!   decision, parent span id, `b3: 0`).
//!
//! # Features
//!
//! - `http` (off by default): [`Injector`] and [`Extractor`] for
//!   `http::HeaderMap`, where repeated headers are all seen by
//!   [`Extractor::get_all`].
//!
//! # Performance
//!
//! Extraction is linear in the header length and bounded before anything is
//! copied: a `traceparent` is parsed in place, while `tracestate` and
//! `baggage` allocate one combined string (at most 8192 bytes) and the members
//! they keep. Injection allocates the header strings it writes.

#![forbid(unsafe_code)]

mod b3;
mod baggage;
mod carrier;
mod context;
mod error;
mod id;
mod propagator;
mod trace_context;
mod trace_state;

pub use b3::{B3, B3Encoding, B3Propagator, B3Sampling};
pub use baggage::{
    Baggage, BaggageEntry, BaggagePropagator, BaggageProperty, MAX_BAGGAGE_LEN, MAX_BAGGAGE_MEMBERS,
};
pub use carrier::{Extractor, Injector};
pub use context::SpanContext;
pub use error::PropagationError;
pub use id::{SpanId, TraceFlags, TraceId};
pub use propagator::{CompositePropagator, PropagationContext, TextMapPropagator};
pub use trace_context::TraceContextPropagator;
pub use trace_state::{MAX_TRACE_STATE_MEMBERS, TraceState};
