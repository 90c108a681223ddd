//! Latency metrics for agent-trace: per-operation percentiles and statistics
//! over trailing windows, independent of the tracing crates.
//!
//! This crate is laid down by the foundation issue and filled by the latency
//! metrics issue; it has no public API yet, so that nothing here pretends to
//! work before it does.
