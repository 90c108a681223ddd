//! The export path never records itself: with `init()` installing
//! `AgentTraceLayer` as the global subscriber, every `tracing` callsite
//! enabled (as `RUST_LOG=trace` does),
//! and spans exported over OTLP/gRPC (tonic and h2 emit `tracing` spans
//! at every poll), OTLP HTTP/protobuf, OTLP HTTP/JSON, Zipkin and Jaeger
//! (OTLP to its collector), each real receiver gets exactly the
//! application's spans: none of the clients' own spans, which the layer
//! would otherwise record on the pipelines' threads and export, making
//! more with each export. One test: it installs the global tracer and subscriber.
#![cfg(all(
    feature = "tracing",
    feature = "otlp-grpc",
    feature = "zipkin",
    feature = "jaeger"
))]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_trace::export::{
    BatchConfig, Diagnostics, OtlpExporter, OtlpExporterBuilder, OtlpProtocol, Resource,
    ZipkinExporter,
};
use axum::body::Bytes;
use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

/// Span names received, per receiver.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<BTreeMap<&'static str, Vec<String>>>>);

impl Received {
    fn add(&self, receiver: &'static str, names: impl IntoIterator<Item = String>) {
        self.0
            .lock()
            .unwrap()
            .entry(receiver)
            .or_default()
            .extend(names);
    }

    fn names(&self, receiver: &'static str) -> Vec<String> {
        let mut names = self
            .0
            .lock()
            .unwrap()
            .get(receiver)
            .cloned()
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn otlp_names(request: &ExportTraceServiceRequest) -> Vec<String> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

fn json_otlp_names(body: &serde_json::Value) -> Vec<String> {
    let mut names = Vec::new();
    for r in body["resourceSpans"].as_array().into_iter().flatten() {
        for s in r["scopeSpans"].as_array().into_iter().flatten() {
            for span in s["spans"].as_array().into_iter().flatten() {
                names.push(span["name"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    names
}

#[derive(Clone)]
struct Grpc(Received);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.add("grpc", otlp_names(request.get_ref()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The receivers, on a runtime whose threads are not traced (in real life
/// the collector is another process; here its own tonic and hyper spans
/// would otherwise reach the global layer too).
fn receivers(received: &Received) -> (tokio::runtime::Runtime, SocketAddr, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(agent_trace::suppress_tracing_on_this_thread)
        .build()
        .unwrap();
    let grpc_incoming = rt
        .block_on(async {
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        })
        .unwrap();
    let grpc = grpc_incoming.local_addr().unwrap();
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Grpc(received.clone())))
            .serve_with_incoming(grpc_incoming),
    );
    let http_listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let http = http_listener.local_addr().unwrap();
    let (traces, zipkin) = (received.clone(), received.clone());
    let app = axum::Router::new()
        .route(
            "/{receiver}/v1/traces",
            axum::routing::post(
                move |axum::extract::Path(receiver): axum::extract::Path<String>,
                      headers: HeaderMap,
                      body: Bytes| {
                    let received = traces.clone();
                    async move {
                        let json = headers
                            .get("content-type")
                            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
                        let names = if json {
                            json_otlp_names(&serde_json::from_slice(&body).unwrap())
                        } else {
                            otlp_names(&ExportTraceServiceRequest::decode(&body[..]).unwrap())
                        };
                        let receiver = match receiver.as_str() {
                            "protobuf" => "http/protobuf",
                            "json" => "http/json",
                            _ => "jaeger",
                        };
                        received.add(receiver, names);
                        ""
                    }
                },
            ),
        )
        .route(
            "/api/v2/spans",
            axum::routing::post(move |body: Bytes| {
                let received = zipkin.clone();
                async move {
                    let spans: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
                    received.add(
                        "zipkin",
                        spans
                            .iter()
                            .map(|s| s["name"].as_str().unwrap_or_default().to_owned()),
                    );
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        );
    rt.spawn(async move { axum::serve(http_listener, app).await });
    (rt, grpc, http)
}

#[tracing::instrument]
fn tool_call(tool: &str) {
    tracing::info!(tool, "tool ran");
}

#[tracing::instrument]
fn llm_call(model: &str) {
    tracing::debug!("prompt sent");
    tool_call("search");
}

#[test]
fn receivers_get_exactly_the_applications_spans() {
    let received = Received::default();
    let (_rt, grpc, http) = receivers(&received);
    let resource = || Resource::new("export-path-test");
    let exporters: Vec<Box<dyn agent_trace::export::SpanExporter>> = vec![
        Box::new(
            OtlpExporter::builder()
                .protocol(OtlpProtocol::Grpc)
                .endpoint(format!("http://{grpc}"))
                .resource(resource())
                .build()
                .unwrap(),
        ),
        Box::new(
            OtlpExporter::builder()
                .endpoint(format!("http://{http}/protobuf/v1/traces"))
                .resource(resource())
                .build()
                .unwrap(),
        ),
        Box::new(
            OtlpExporter::builder()
                .protocol(OtlpProtocol::HttpJson)
                .endpoint(format!("http://{http}/json/v1/traces"))
                .resource(resource())
                .build()
                .unwrap(),
        ),
        Box::new(
            ZipkinExporter::builder()
                .endpoint(format!("http://{http}/api/v2/spans"))
                .resource(resource())
                .build()
                .unwrap(),
        ),
        Box::new(
            OtlpExporterBuilder::jaeger(resource())
                .endpoint(format!("http://{http}/jaeger/v1/traces"))
                .build()
                .unwrap(),
        ),
    ];
    // `init()` as an application calls it: five pipelines, the layer as
    // the global subscriber with no filter, so every callsite of every
    // crate is enabled (as with `RUST_LOG=trace`).
    let mut init = agent_trace::init()
        .service_name("export-path-test")
        .install_tracing_subscriber(true)
        // Small batches, exported often: many exports, each a chance for
        // the clients' spans to leak in.
        .batch(
            BatchConfig::default()
                .with_max_export_batch_size(4)
                .with_scheduled_delay(Duration::from_millis(5)),
        )
        .diagnostics(Diagnostics::off());
    for exporter in exporters {
        init = init.exporter(exporter);
    }
    let guard = init.install().unwrap();

    const TASKS: usize = 12;
    for task in 0..TASKS {
        let span = tracing::info_span!("agent_task", task);
        let _entered = span.enter();
        llm_call("gpt-4");
        // Spread over several export rounds.
        if task % 3 == 0 {
            guard.flush(Duration::from_secs(10)).unwrap();
        }
    }
    guard.flush(Duration::from_secs(10)).unwrap();

    let mut expected = Vec::new();
    for _ in 0..TASKS {
        expected.extend(["agent_task", "llm_call", "tool_call"].map(String::from));
    }
    expected.sort();
    for receiver in ["grpc", "http/protobuf", "http/json", "zipkin", "jaeger"] {
        assert_eq!(
            received.names(receiver),
            expected,
            "{receiver} received spans other than the application's"
        );
    }
    for (name, s) in guard.export_stats() {
        assert_eq!(
            (s.exported, s.dropped()),
            (3 * TASKS as u64, 0),
            "{name}: {s:?}"
        );
    }
}
