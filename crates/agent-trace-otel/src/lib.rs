//! The OpenTelemetry tracing API (the `opentelemetry` crate, no SDK) bridged
//! onto agent-trace: every library instrumented with that API records
//! agent-trace spans.
//!
//! # Quick start
//!
//! ```
//! use opentelemetry::trace::{Span as _, Tracer as _};
//! use opentelemetry::KeyValue;
//!
//! let tracer = agent_trace_core::AgentStepTracer::new();
//! opentelemetry::global::set_tracer_provider(agent_trace_otel::provider(tracer.clone()));
//! agent_trace_otel::install_context_observer();
//!
//! // A library that knows only the API:
//! let lib = opentelemetry::global::tracer("vector-db");
//! let mut span = lib.start("query");
//! span.set_attribute(KeyValue::new("db.rows", 12));
//! span.end();
//!
//! assert_eq!(tracer.store().unwrap().stats().spans, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Key concepts
//!
//! - [`TracerProvider`] (made by [`provider`]), [`Tracer`] and [`OtelSpan`]
//!   implement the API's traits over an [`AgentStepTracer`] and its spans:
//!   attributes of every type (arrays included), events, links, status,
//!   kind, errors (as `exception` events), renames, explicit start, event
//!   and end times. A tracer's instrumentation scope (name, version, schema
//!   URL, attributes) goes with its spans
//!   ([`SpanData::scope`](agent_trace_core::SpanData::scope)): OTLP
//!   exports them in a `ScopeSpans` of that scope, Zipkin and Jaeger with
//!   the `otel.scope.name` and `otel.scope.version` tags.
//! - Parentage: a span of the API takes the span of the context it is
//!   started in (ours through `OtelSpan::from`, the bridge's, or a remote one),
//!   else agent-trace's current span. The other way, our spans follow the
//!   API's current span once [`install_context_observer`] is called (the
//!   API's only hook for attached contexts, its experimental global context
//!   observer; without it, an API span made current through
//!   `Context::attach` is not seen by our spans started under it).
//! - [`W3cPropagator`]: our W3C Trace Context codec as the API's
//!   `TextMapPropagator`.
//!
//! Limits: the API's baggage is its own (`opentelemetry::baggage`), not
//! bridged to agent-trace's.
//!
//! [`AgentStepTracer`]: agent_trace_core::AgentStepTracer

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod convert;
mod observer;
mod propagator;
mod tracer;

pub use observer::install_context_observer;
pub use propagator::W3cPropagator;
pub use tracer::{OtelSpan, Tracer, TracerProvider, provider};
