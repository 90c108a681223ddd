//! Exporters for agent-trace: the only crate of the workspace that does
//! network I/O.
//!
//! This crate is laid down by the foundation issue and filled by the export
//! issue (OTLP, Jaeger, Zipkin, custom and file exporters behind a batch
//! pipeline); it has no public API yet, so that nothing here pretends to work
//! before it does. Until then, spans reach code of your own through
//! `agent_trace_core::SpanProcessor`.
