//! OTLP: our spans as the official protobuf types (`opentelemetry-proto`),
//! or as protobuf bytes written straight from the spans
//! ([`ProtobufEncoder`], what OTLP/HTTP sends), and the exporter that sends
//! them over gRPC, HTTP/protobuf or HTTP/JSON.

mod encode;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
mod exporter;
#[cfg(feature = "otlp-grpc")]
mod grpc;
mod proto;

pub use encode::to_request;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
pub use exporter::{
    DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, OtlpExporter, OtlpExporterBuilder, OtlpProtocol,
};
pub use proto::ProtobufEncoder;
