//! HTTP middleware that traces and propagates by itself: a server span per
//! request received, continuing the caller's trace, and a client span per
//! request sent, carrying the trace on.
//!
//! Two lines by hand do the propagation (`continue_trace_from_headers` on
//! the server, `inject_headers` on the client); this crate does them, names
//! and fills the spans after the OpenTelemetry HTTP semantic conventions,
//! and keeps the server span current for the handler across its `.await`s,
//! so that every span the handler starts (with the builders, `#[instrument]`
//! through the `tracing` layer, or a client call) joins the trace.
//!
//! # Quick start
//!
//! A server (feature `tower`): `Router::layer(HttpServerLayer::new(&tracer))`
//! with axum, `ServiceBuilder::layer` with hyper or tonic (see
//! `HttpServerLayer`). A client (feature `reqwest`):
//! `ClientBuilder::with(HttpClientMiddleware::new(&tracer))` (see
//! `HttpClientMiddleware`). With the facade, `agent_trace::tracer()` is the
//! global tracer to pass.
//!
//! Any other client: [`start_client_span`], [`inject`] into its headers,
//! then [`record_response`] (or [`record_error`]) before the span drops.
//!
//! ```
//! use agent_trace_core::AgentStepTracer;
//! use agent_trace_http::{inject, record_response, start_client_span};
//!
//! let tracer = AgentStepTracer::new();
//! let uri: http::Uri = "http://127.0.0.1:8080/answer".parse()?;
//! let mut span = start_client_span(&tracer, &http::Method::GET, &uri);
//! let mut headers = http::HeaderMap::new();
//! inject(&span, &mut headers);
//! assert!(headers.contains_key("traceparent"));
//! // ... send the request with `headers`, then:
//! record_response(&mut span, http::StatusCode::OK);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `tower`: `HttpServerLayer` and `HttpServerService`, generic over
//!   `http::Request<B>` and `http::Response<B>` (axum, hyper, tonic).
//! - `axum`: the route of axum's `MatchedPath` names server spans
//!   (`GET /users/{id}`); without it, pass your own with
//!   `HttpServerLayer::with_route`.
//! - `reqwest`: `HttpClientMiddleware`, a `reqwest_middleware::Middleware`.
//!
//! # Performance
//!
//! Per request: one span, its name formatted once, about eight attributes,
//! a `traceparent` parsed or written. The span's latency is recorded by the
//! tracer's processors as for any span.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod client;
#[cfg(feature = "reqwest")]
mod reqwest_client;
#[cfg(feature = "tower")]
mod server;

pub use client::{inject, inject_current, record_error, record_response, start_client_span};
#[cfg(feature = "reqwest")]
pub use reqwest_client::HttpClientMiddleware;
/// The `reqwest-middleware` crate this middleware implements, for its
/// `ClientBuilder` at the same version (and `reqwest_middleware::reqwest`).
#[cfg(feature = "reqwest")]
pub use reqwest_middleware;
#[cfg(feature = "tower")]
pub use server::{HttpServerLayer, HttpServerService, RouteFn, ServerFuture};
