//! Our OTLP, received by real receivers built from the official protobuf
//! definitions: a tonic gRPC server from `opentelemetry-proto`'s generated
//! `TraceService`, and an HTTP server that decodes protobuf (gzipped or
//! not) with prost and JSON with the generated types' serde. Every mapped
//! field of a known trace is checked.
#![cfg(all(feature = "otlp-http", feature = "otlp-grpc"))]

mod support;

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use agent_trace_core::{SpanKind, Status};
use agent_trace_export::{
    BatchConfig, BatchSpanProcessor, OtlpExporter, OtlpProtocol, Resource, SpanExporter,
};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind as PKind, status::StatusCode as PCode};
use prost::Message as _;
use support::{KnownTrace, known_trace};

/// Checks every mapped field of `request` against `known`.
fn assert_matches(request: &ExportTraceServiceRequest, known: &KnownTrace) {
    assert_eq!(request.resource_spans.len(), 1);
    let rs = &request.resource_spans[0];
    let res = rs.resource.as_ref().expect("resource");
    let attr = |kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str| {
        kvs.iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    assert_eq!(
        attr(&res.attributes, "service.name"),
        Some(V::StringValue("research-agent".into()))
    );
    assert_eq!(
        attr(&res.attributes, "service.version"),
        Some(V::StringValue("1.2.3".into()))
    );
    assert_eq!(
        attr(&res.attributes, "telemetry.sdk.language"),
        Some(V::StringValue("rust".into()))
    );
    assert_eq!(
        attr(&res.attributes, "telemetry.sdk.name"),
        Some(V::StringValue("agent-trace".into()))
    );
    assert!(attr(&res.attributes, "telemetry.sdk.version").is_some());
    assert_eq!(rs.scope_spans.len(), 1);
    let scope = rs.scope_spans[0].scope.as_ref().expect("scope");
    assert_eq!(scope.name, "agent-trace");
    assert_eq!(scope.version, agent_trace_export::SCOPE_VERSION);

    let spans = &rs.scope_spans[0].spans;
    assert_eq!(spans.len(), known.spans.len());
    for ours in &known.spans {
        let theirs = spans
            .iter()
            .find(|s| s.span_id == ours.context.span_id.to_bytes())
            .unwrap_or_else(|| panic!("span {} missing", ours.name));
        assert_eq!(theirs.trace_id, ours.context.trace_id.to_bytes());
        assert_eq!(theirs.name, ours.name.as_str());
        assert_eq!(
            theirs.parent_span_id,
            ours.parent_span_id
                .map_or_else(Vec::new, |p| p.to_bytes().to_vec())
        );
        assert_eq!(theirs.start_time_unix_nano, ours.start_time.as_unix_nanos());
        assert_eq!(theirs.end_time_unix_nano, ours.end_time.as_unix_nanos());
        assert!(theirs.end_time_unix_nano >= theirs.start_time_unix_nano);
        assert_eq!(theirs.trace_state, ours.context.trace_state.header());
        let kind = match ours.kind {
            SpanKind::Internal => PKind::Internal,
            SpanKind::Client => PKind::Client,
            SpanKind::Server => PKind::Server,
            SpanKind::Producer => PKind::Producer,
            SpanKind::Consumer => PKind::Consumer,
        };
        assert_eq!(theirs.kind, kind as i32, "{}", ours.name);
        // Flags: sampled bit, and whether the parent is remote.
        assert_eq!(
            theirs.flags & 0xff,
            u32::from(ours.context.trace_flags.to_u8())
        );
        assert_eq!(theirs.flags & 0x100, 0x100);
        assert_eq!(
            theirs.flags & 0x200 != 0,
            ours.parent_is_remote,
            "{}",
            ours.name
        );
        assert_eq!(theirs.attributes.len(), ours.attributes.len());
        assert_eq!(
            theirs.dropped_attributes_count,
            ours.dropped_attributes_count
        );
        assert_eq!(theirs.events.len(), ours.events.len());
        assert_eq!(theirs.links.len(), ours.links.len());
        match &ours.status {
            Status::Unset => assert!(theirs.status.is_none()),
            Status::Ok => assert_eq!(theirs.status.as_ref().unwrap().code, PCode::Ok as i32),
            Status::Error { description } => {
                let st = theirs.status.as_ref().unwrap();
                assert_eq!(st.code, PCode::Error as i32);
                assert_eq!(st.message, description.as_str());
            }
        }
    }

    // The client span's typed attributes, event and link, value by value.
    let client = spans.iter().find(|s| s.name == "llm_call").unwrap();
    assert_eq!(
        attr(&client.attributes, "gen_ai.request.model"),
        Some(V::StringValue("gpt-4".into()))
    );
    assert_eq!(
        attr(&client.attributes, "gen_ai.usage.input_tokens"),
        Some(V::IntValue(150))
    );
    assert_eq!(
        attr(&client.attributes, "temperature"),
        Some(V::DoubleValue(0.7))
    );
    assert_eq!(
        attr(&client.attributes, "cache_hit"),
        Some(V::BoolValue(false))
    );
    let Some(V::ArrayValue(stops)) = attr(&client.attributes, "stop") else {
        panic!("stop is not an array")
    };
    let stops: Vec<_> = stops.values.iter().map(|v| v.value.clone()).collect();
    assert_eq!(
        stops,
        [
            Some(V::StringValue("\n\n".into())),
            Some(V::StringValue("END".into()))
        ]
    );
    assert_eq!(client.dropped_attributes_count, 1);
    let event = &client.events[0];
    let ours_event = &known.client().events[0];
    assert_eq!(event.name, "first_token");
    assert_eq!(event.time_unix_nano, ours_event.timestamp.as_unix_nanos());
    assert_eq!(attr(&event.attributes, "chunk"), Some(V::IntValue(1)));
    let link = &client.links[0];
    assert_eq!(link.trace_id, known.linked.trace_id.to_bytes());
    assert_eq!(link.span_id, known.linked.span_id.to_bytes());
    assert_eq!(
        attr(&link.attributes, "reason"),
        Some(V::StringValue("retry_of".into()))
    );
    // The server span continues a remote parent.
    let server = spans.iter().find(|s| s.name == "POST /chat").unwrap();
    assert_eq!(server.parent_span_id, known.remote.span_id.to_bytes());
    assert_eq!(server.trace_state, "vendor=abc");
}

// ---- gRPC ------------------------------------------------------------------

#[derive(Clone, Default)]
struct GrpcReceiver {
    got: Arc<Mutex<Vec<(ExportTraceServiceRequest, tonic::metadata::MetadataMap)>>>,
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let metadata = request.metadata().clone();
        self.got
            .lock()
            .unwrap()
            .push((request.into_inner(), metadata));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[test]
fn a_grpc_receiver_decodes_every_field() {
    let receiver = GrpcReceiver::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let incoming = rt
        .block_on(async {
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        })
        .unwrap();
    let addr = incoming.local_addr().unwrap();
    let service = TraceServiceServer::new(receiver.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );

    let known = known_trace();
    let mut exporter = OtlpExporter::builder()
        .protocol(OtlpProtocol::Grpc)
        .endpoint(format!("http://{addr}"))
        .header("Authorization", "Bearer s3cret")
        .gzip(true)
        .resource(Resource::new("research-agent").with_version("1.2.3"))
        .build()
        .unwrap();
    let outcome = exporter.export(&known.spans).unwrap();
    assert_eq!(outcome.rejected_spans, 0);

    let got = receiver.got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_matches(&got[0].0, &known);
    assert_eq!(
        got[0].1.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer s3cret")
    );
    assert!(!format!("{exporter:?}").contains("s3cret"));
}

// ---- HTTP ------------------------------------------------------------------

/// Each request's headers and (decompressed) body.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct HttpReceiver {
    got: Received,
    /// The protobuf response body to answer with.
    response: Arc<Mutex<ExportTraceServiceResponse>>,
}

fn start_http(receiver: HttpReceiver) -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let r = receiver.clone();
            async move {
                let gz = headers.get("content-encoding").is_some_and(|v| v == "gzip");
                let body = if gz {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                } else {
                    body.to_vec()
                };
                let json = headers
                    .get("content-type")
                    .is_some_and(|v| v == "application/json");
                r.got.lock().unwrap().push((headers, body));
                let response = r.response.lock().unwrap().clone();
                let bytes = if json {
                    serde_json::to_vec(&response).unwrap()
                } else {
                    response.encode_to_vec()
                };
                (StatusCode::OK, bytes)
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, addr)
}

#[test]
fn an_http_receiver_decodes_protobuf_gzipped_and_plain() {
    let receiver = HttpReceiver::default();
    let (_rt, addr) = start_http(receiver.clone());
    let known = known_trace();
    for gzip in [true, false] {
        let mut exporter = OtlpExporter::builder()
            .protocol(OtlpProtocol::HttpProtobuf)
            .endpoint(format!("http://{addr}/v1/traces"))
            .header("x-api-key", "k3y")
            .gzip(gzip)
            .resource(Resource::new("research-agent").with_version("1.2.3"))
            .build()
            .unwrap();
        exporter.export(&known.spans).unwrap();
    }
    let got = receiver.got.lock().unwrap();
    assert_eq!(got.len(), 2);
    for (headers, body) in got.iter() {
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["x-api-key"], "k3y");
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        assert_matches(&request, &known);
    }
    assert_eq!(got[0].0["content-encoding"], "gzip");
    assert!(got[1].0.get("content-encoding").is_none());
}

#[test]
fn an_http_receiver_decodes_json() {
    let receiver = HttpReceiver::default();
    let (_rt, addr) = start_http(receiver.clone());
    let known = known_trace();
    let mut exporter = OtlpExporter::builder()
        .protocol(OtlpProtocol::HttpJson)
        .endpoint(format!("http://{addr}/v1/traces"))
        .resource(Resource::new("research-agent").with_version("1.2.3"))
        .build()
        .unwrap();
    exporter.export(&known.spans).unwrap();
    let got = receiver.got.lock().unwrap();
    let (headers, body) = &got[0];
    assert_eq!(headers["content-type"], "application/json");
    let request: ExportTraceServiceRequest = serde_json::from_slice(body).unwrap();
    assert_matches(&request, &known);
    // The OTLP JSON encoding: hex ids, 64-bit integers as strings.
    let raw: serde_json::Value = serde_json::from_slice(body).unwrap();
    let span = &raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], known.spans[0].context.trace_id.to_string());
    assert!(span["startTimeUnixNano"].is_string(), "{span}");
}

#[test]
fn partial_success_is_counted_as_rejected_spans() {
    let receiver = HttpReceiver::default();
    *receiver.response.lock().unwrap() = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "two spans too large".into(),
        }),
    };
    let (_rt, addr) = start_http(receiver.clone());
    let exporter = OtlpExporter::builder()
        .endpoint(format!("http://{addr}/v1/traces"))
        .build()
        .unwrap();
    let batch = BatchSpanProcessor::builder(exporter)
        .config(BatchConfig::default())
        .build()
        .unwrap();
    let known = known_trace();
    for span in &known.spans {
        agent_trace_core::SpanProcessor::on_end(&batch, span.clone());
    }
    agent_trace_core::SpanProcessor::force_flush(&batch, std::time::Duration::from_secs(10))
        .unwrap();
    let stats = batch.stats();
    let n = known.spans.len() as u64;
    assert_eq!(stats.received, n);
    assert_eq!(stats.rejected, 2);
    assert_eq!(stats.exported, n - 2);
    assert_eq!(stats.received, stats.exported + stats.dropped());
}
