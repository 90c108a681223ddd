//! OTLP: our spans as protobuf bytes ([`ProtobufEncoder`], what OTLP/HTTP
//! sends) or OTLP JSON text ([`JsonEncoder`], what OTLP/HTTP sends with
//! `http/json` and the file exporter writes), both written straight from
//! the spans; with the `otlp-proto` feature, as the official message types
//! of `opentelemetry-proto` too (`to_request`, what gRPC sends); and the
//! exporter that sends them over gRPC, HTTP/protobuf or HTTP/JSON.

#[cfg(any(feature = "otlp-proto", test))]
mod encode;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
mod exporter;
#[cfg(test)]
mod fixtures;
#[cfg(feature = "otlp-grpc")]
mod grpc;
mod json;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
pub mod metrics;
mod proto;
#[cfg(any(feature = "otlp-http", test))]
mod response;

#[cfg(any(feature = "otlp-proto", test))]
pub use encode::to_request;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
pub use exporter::{
    DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, OtlpExporter, OtlpExporterBuilder, OtlpProtocol,
};
pub use json::JsonEncoder;
pub use proto::ProtobufEncoder;

use agent_trace_core::{FinishedSpan, InstrumentationScope};

/// The instrumentation scopes of a batch's spans, in order of first
/// appearance (`None`: agent-trace's own, for spans without one), or
/// `None` when no span carries a scope of its own, the usual batch, which
/// the encoders write as one `ScopeSpans` without looking further.
pub(super) fn scopes_of(batch: &[FinishedSpan]) -> Option<Vec<Option<&InstrumentationScope>>> {
    let first = batch.iter().position(|s| s.scope.is_some())?;
    let mut scopes: Vec<Option<&InstrumentationScope>> = Vec::new();
    if first > 0 {
        scopes.push(None);
    }
    for s in &batch[first..] {
        let scope = s.scope.as_deref();
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Some(scopes)
}

/// The spans of `batch` in `scope` (as [`scopes_of`] lists it), in order.
pub(super) fn in_scope<'a>(
    batch: &'a [FinishedSpan],
    scope: Option<&'a InstrumentationScope>,
) -> impl Iterator<Item = &'a FinishedSpan> + 'a {
    batch.iter().filter(move |s| s.scope.as_deref() == scope)
}

/// `SpanFlags` bits of OTLP: bit 8 says whether the parent is known to be
/// remote or local, bit 9 that it is remote.
pub(super) const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
pub(super) const CONTEXT_IS_REMOTE: u32 = 0x200;
