//! OTLP over gRPC: tonic's client from `opentelemetry-proto`'s generated
//! service, on a single-threaded runtime of the exporter's own (see the
//! `http` module for why).

use std::fmt;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::error::redact_url;
use crate::{ExportError, TransportConfig};

pub(crate) struct GrpcTransport {
    exporter: &'static str,
    redacted: String,
    client: TraceServiceClient<Channel>,
    /// The client's channel, for other services on the same connection
    /// (the metrics exporter's `export_raw`).
    channel: Channel,
    gzip: bool,
    metadata: MetadataMap,
    runtime: crate::runtime::ExporterRuntime,
    timeout: Duration,
    /// Appended to delivery errors (see `TransportConfig::hint`).
    hint: Option<&'static str>,
}

impl fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("endpoint", &self.redacted)
            .field(
                "metadata",
                &self
                    .metadata
                    .keys()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl GrpcTransport {
    pub(crate) fn new(config: TransportConfig<'_>) -> Result<Self, ExportError> {
        let TransportConfig {
            exporter,
            endpoint,
            headers,
            timeout,
            gzip,
            ca_pem,
            hint,
        } = config;
        let redacted = redact_url(endpoint);
        #[cfg(feature = "tls")]
        crate::install_crypto_provider();
        let ep = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| {
                ExportError::Config(format!(
                    "{exporter} endpoint {redacted:?} is not a URI: {e}"
                ))
            })?
            .timeout(timeout)
            .connect_timeout(timeout);
        #[cfg(feature = "tls")]
        let ep = if endpoint.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
            if let Some(pem) = ca_pem {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            ep.tls_config(tls)
                .map_err(|e| ExportError::Config(format!("{exporter} TLS: {e}")))?
        } else {
            ep
        };
        #[cfg(not(feature = "tls"))]
        let _ = ca_pem;
        #[cfg(not(feature = "tls"))]
        if endpoint.starts_with("https://") {
            return Err(ExportError::Config(format!(
                "{exporter} endpoint {redacted:?} is https://, which needs the agent-trace-export feature \"tls\""
            )));
        }
        let mut metadata = MetadataMap::new();
        for (k, v) in headers.pairs() {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|_| ExportError::Config(format!("invalid gRPC metadata key {k:?}")))?;
            let mut value = MetadataValue::try_from(v.as_str()).map_err(|_| {
                ExportError::Config(format!(
                    "metadata {k:?} has a value that is not valid ASCII"
                ))
            })?;
            value.set_sensitive(true);
            metadata.append(key, value);
        }
        let runtime = crate::runtime::ExporterRuntime::new()?;
        // `connect_lazy` needs a runtime context to spawn its connection
        // task into; no connection is made until the first export.
        let channel = {
            let _guard = runtime.enter();
            ep.connect_lazy()
        };
        let mut client = TraceServiceClient::new(channel.clone())
            .max_decoding_message_size(4 * 1024 * 1024)
            .max_encoding_message_size(usize::MAX);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self {
            exporter,
            redacted,
            client,
            channel,
            gzip,
            metadata,
            runtime,
            timeout,
            hint,
        })
    }

    /// One unary call of `path` (`/package.Service/Method`) with an
    /// already encoded protobuf message; answers the response message's
    /// bytes. The same channel, metadata, timeout, compression and error
    /// classification as the span export.
    pub(crate) fn export_raw(
        &mut self,
        path: &'static str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, ExportError> {
        let mut req = tonic::Request::new(body);
        *req.metadata_mut() = self.metadata.clone();
        req.set_timeout(self.timeout);
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(4 * 1024 * 1024)
            .max_encoding_message_size(usize::MAX);
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        let call = async move {
            grpc.ready()
                .await
                .map_err(|e| Status::from_error(Box::new(e)))?;
            grpc.unary(
                req,
                tonic::codegen::http::uri::PathAndQuery::from_static(path),
                RawCodec,
            )
            .await
        };
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, call).await })?;
        match result {
            Err(_elapsed) => Err(self.timed_out()),
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(self.classify(&status)),
        }
    }

    pub(crate) fn export(
        &mut self,
        request: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, ExportError> {
        let mut req = tonic::Request::new(request);
        *req.metadata_mut() = self.metadata.clone();
        req.set_timeout(self.timeout);
        let client = &mut self.client;
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, client.export(req)).await })?;
        match result {
            Err(_elapsed) => Err(ExportError::Timeout {
                exporter: self.exporter,
                endpoint: self.redacted.clone(),
                timeout: self.timeout,
            }),
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(self.classify(&status)),
        }
    }

    /// The OTLP specification's retryable codes; `RESOURCE_EXHAUSTED` only
    /// when the server sent `RetryInfo`.
    fn classify(&self, status: &Status) -> ExportError {
        let retry_after = retry_info(status.details());
        let retryable = match status.code() {
            Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss => true,
            Code::ResourceExhausted => retry_after.is_some(),
            _ => false,
        };
        // A status with a source was made by our own client, not sent by
        // the receiver: a failure to connect ("tcp connect error", with
        // the operating system's reason down the chain), a connection
        // broken mid-request (code Unknown, "transport error"), or the
        // channel's own timeout (Cancelled, "Timeout expired"). Each is
        // retryable whatever its code.
        if let Some(source) = std::error::Error::source(status) {
            if caused_by_timeout(source) {
                return self.timed_out();
            }
            return ExportError::Unreachable {
                exporter: self.exporter,
                endpoint: self.redacted.clone(),
                message: crate::with_hint(self.hint, transport_cause(status)),
            };
        }
        if status.code() == Code::DeadlineExceeded {
            return self.timed_out();
        }
        ExportError::Rejected {
            exporter: self.exporter,
            endpoint: self.redacted.clone(),
            status: format!("grpc {}", code_name(status.code())),
            message: crate::with_hint(self.hint, status.message().chars().take(200).collect()),
            retryable,
            retry_after,
        }
    }

    fn timed_out(&self) -> ExportError {
        ExportError::Timeout {
            exporter: self.exporter,
            endpoint: self.redacted.clone(),
            timeout: self.timeout,
        }
    }
}

/// A codec that passes encoded protobuf messages through as bytes.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use prost::bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        use prost::bytes::Buf as _;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Whether `error`, or an error in its chain, is tonic's own timeout.
fn caused_by_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A gRPC status code as the gRPC specification spells it
/// (`INVALID_ARGUMENT`), from tonic's `InvalidArgument`.
fn code_name(code: Code) -> String {
    let camel = format!("{code:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A transport failure's whole cause: tonic says only "transport error"
/// in the status message and keeps the reason (connection refused, ...)
/// in the error chain of its source.
fn transport_cause(status: &Status) -> String {
    let mut message = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        let text = s.to_string();
        // tonic's wrapper says only "transport error": no news.
        if text != "transport error" && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// `google.rpc.Status`, as carried in the `grpc-status-details-bin`
/// trailer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// The retry delay of a `RetryInfo` in the status details, if any.
fn retry_info(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let status = RpcStatus::decode(details).ok()?;
    status
        .details
        .iter()
        .find(|a| a.type_url.ends_with("google.rpc.RetryInfo"))
        .and_then(|a| RetryInfo::decode(a.value.as_slice()).ok())
        .map(|r| {
            r.retry_delay.map_or(Duration::ZERO, |d| {
                Duration::new(
                    u64::try_from(d.seconds).unwrap_or(0),
                    u32::try_from(d.nanos).unwrap_or(0),
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_the_grpc_specification_spells_them() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::Unavailable), "UNAVAILABLE");
        assert_eq!(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
    }

    #[test]
    fn retry_info_is_read_from_status_details() {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let status = RpcStatus {
            code: Code::ResourceExhausted as i32,
            message: "slow down".into(),
            details: vec![Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        assert_eq!(
            retry_info(&status.encode_to_vec()),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(retry_info(&[]), None);
    }
}
