//! Every network exporter (OTLP over HTTP/protobuf, HTTP/JSON and gRPC,
//! Zipkin, the Jaeger agent) owns a runtime of its own, yet may be built,
//! used and dropped anywhere an application has one: plain sync code, a
//! multi-thread or a current-thread `#[tokio::test]`, a spawned task, and
//! after the runtime it was built in has been dropped. Each is exported to
//! (`SpanExporter::export`, called directly) against real receivers on
//! loopback, which must get the spans, and against a port where nothing
//! listens, which must be an error; never a panic. A `BatchSpanProcessor`
//! built and dropped inside async code delivers what it holds.
#![cfg(feature = "otlp-http")]

mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor};
use agent_trace_export::{
    BatchSpanProcessor, Diagnostics, ExportError, ExportOutcome, OtlpExporter, OtlpProtocol,
    Resource, SpanExporter,
};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

// ---- the receivers, one set for the whole binary ---------------------------

/// Spans received, by `service.name`: each test uses services of its own
/// (`<place/kind/target>`, none a part of another, as the Jaeger check
/// looks for the name in the datagrams), so that tests running in
/// parallel do not see each other's spans.
type ByService = Arc<Mutex<HashMap<String, usize>>>;

struct Receivers {
    /// OTLP/HTTP (`/v1/traces`, protobuf or JSON) and Zipkin
    /// (`/api/v2/spans`).
    http: SocketAddr,
    #[cfg(feature = "otlp-grpc")]
    grpc: SocketAddr,
    /// A UDP socket standing in for the Jaeger agent.
    #[cfg(feature = "jaeger")]
    udp: SocketAddr,
    /// A TCP and UDP port where nothing listens.
    refused: SocketAddr,
    spans: ByService,
    #[cfg(feature = "jaeger")]
    packets: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Kept here (a static is never dropped) so that the servers run for
    /// the life of the binary.
    _runtime: tokio::runtime::Runtime,
}

fn receivers() -> &'static Receivers {
    static RECEIVERS: OnceLock<Receivers> = OnceLock::new();
    // Started on a thread of its own: the first caller may be inside a
    // runtime, where `block_on` is not allowed.
    RECEIVERS.get_or_init(|| std::thread::spawn(start_receivers).join().unwrap())
}

fn count(spans: &ByService, service: String, n: usize) {
    *spans.lock().unwrap().entry(service).or_default() += n;
}

/// The `service.name` of each resource, with its span count.
fn otlp_services(request: &ExportTraceServiceRequest) -> Vec<(String, usize)> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    request
        .resource_spans
        .iter()
        .map(|rs| {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let n = rs.scope_spans.iter().map(|s| s.spans.len()).sum();
            (service, n)
        })
        .collect()
}

fn start_receivers() -> Receivers {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let spans = ByService::default();

    let otlp = {
        let spans = spans.clone();
        move |headers: HeaderMap, body: Bytes| {
            let spans = spans.clone();
            async move {
                let json = headers
                    .get("content-type")
                    .is_some_and(|v| v == "application/json");
                let request: ExportTraceServiceRequest = if json {
                    serde_json::from_slice(&body).unwrap()
                } else {
                    ExportTraceServiceRequest::decode(&body[..]).unwrap()
                };
                for (service, n) in otlp_services(&request) {
                    count(&spans, service, n);
                }
                StatusCode::OK
            }
        }
    };
    let zipkin = {
        let spans = spans.clone();
        move |body: Bytes| {
            let spans = spans.clone();
            async move {
                let batch: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
                for span in batch {
                    let service = span["localEndpoint"]["serviceName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    count(&spans, service, 1);
                }
                StatusCode::ACCEPTED
            }
        }
    };
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(otlp))
        .route("/api/v2/spans", axum::routing::post(zipkin));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let http = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });

    #[cfg(feature = "otlp-grpc")]
    let grpc = {
        let incoming = runtime
            .block_on(async {
                tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
            })
            .unwrap();
        let addr = incoming.local_addr().unwrap();
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(grpc::TraceServiceServer::new(grpc::Receiver(spans.clone())))
                .serve_with_incoming(incoming),
        );
        addr
    };

    #[cfg(feature = "jaeger")]
    let (udp, packets) = {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let packets: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let keep = packets.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0; 65_536];
            while let Ok(n) = socket.recv(&mut buf) {
                keep.lock().unwrap().push(buf[..n].to_vec());
            }
        });
        (addr, packets)
    };

    // A port free for TCP and UDP alike, then closed.
    let refused = loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        if UdpSocket::bind(addr).is_ok() {
            break addr;
        }
    };

    Receivers {
        http,
        #[cfg(feature = "otlp-grpc")]
        grpc,
        #[cfg(feature = "jaeger")]
        udp,
        refused,
        spans,
        #[cfg(feature = "jaeger")]
        packets,
        _runtime: runtime,
    }
}

#[cfg(feature = "otlp-grpc")]
mod grpc {
    pub(crate) use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };

    pub(crate) struct Receiver(pub(crate) super::ByService);

    #[tonic::async_trait]
    impl TraceService for Receiver {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            for (service, n) in super::otlp_services(request.get_ref()) {
                super::count(&self.0, service, n);
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }
}

// ---- the exporters ----------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "without zipkin and jaeger, every kind left is OTLP"
)]
enum Kind {
    OtlpProtobuf,
    OtlpJson,
    #[cfg(feature = "otlp-grpc")]
    OtlpGrpc,
    #[cfg(feature = "zipkin")]
    Zipkin,
    #[cfg(feature = "jaeger")]
    JaegerAgent,
}

const KINDS: &[Kind] = &[
    Kind::OtlpProtobuf,
    Kind::OtlpJson,
    #[cfg(feature = "otlp-grpc")]
    Kind::OtlpGrpc,
    #[cfg(feature = "zipkin")]
    Kind::Zipkin,
    #[cfg(feature = "jaeger")]
    Kind::JaegerAgent,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The receivers above.
    Live,
    /// A port where nothing listens.
    Refused,
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn build(kind: Kind, target: Target, service: &str) -> Box<dyn SpanExporter> {
    let r = receivers();
    let resource = Resource::new(service);
    let http = match target {
        Target::Live => r.http,
        Target::Refused => r.refused,
    };
    let otlp = |protocol| {
        Box::new(
            OtlpExporter::builder()
                .protocol(protocol)
                .endpoint(format!("http://{http}/v1/traces"))
                .timeout(TIMEOUT)
                .resource(resource.clone())
                .build()
                .unwrap(),
        )
    };
    match kind {
        Kind::OtlpProtobuf => otlp(OtlpProtocol::HttpProtobuf),
        Kind::OtlpJson => otlp(OtlpProtocol::HttpJson),
        #[cfg(feature = "otlp-grpc")]
        Kind::OtlpGrpc => {
            let addr = match target {
                Target::Live => r.grpc,
                Target::Refused => r.refused,
            };
            Box::new(
                OtlpExporter::builder()
                    .protocol(OtlpProtocol::Grpc)
                    .endpoint(format!("http://{addr}"))
                    .timeout(TIMEOUT)
                    .resource(resource)
                    .build()
                    .unwrap(),
            )
        }
        #[cfg(feature = "zipkin")]
        Kind::Zipkin => Box::new(
            agent_trace_export::ZipkinExporter::builder()
                .endpoint(format!("http://{http}/api/v2/spans"))
                .timeout(TIMEOUT)
                .resource(resource)
                .build()
                .unwrap(),
        ),
        #[cfg(feature = "jaeger")]
        Kind::JaegerAgent => {
            let addr = match target {
                Target::Live => r.udp,
                Target::Refused => r.refused,
            };
            Box::new(
                agent_trace_export::JaegerAgentExporter::builder()
                    .agent_endpoint("127.0.0.1", addr.port())
                    .resource(resource)
                    .build()
                    .unwrap(),
            )
        }
    }
}

/// The spans `service`'s receiver got so far (for the Jaeger agent, the
/// datagrams that carry its name: the Thrift `Process`).
fn received(kind: Kind, service: &str) -> usize {
    let r = receivers();
    #[cfg(feature = "jaeger")]
    if kind == Kind::JaegerAgent {
        return r
            .packets
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.windows(service.len()).any(|w| w == service.as_bytes()))
            .count();
    }
    let _ = kind;
    r.spans.lock().unwrap().get(service).copied().unwrap_or(0)
}

/// Waits (bounded) until `service`'s receiver got `n` (spans, or Jaeger
/// datagrams); UDP arrives after `export` returns.
fn wait_received(kind: Kind, service: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while received(kind, service) < n {
        assert!(
            Instant::now() < deadline,
            "{kind:?}: {service} got {} of {n}",
            received(kind, service)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(received(kind, service), n, "{kind:?}: {service}");
}

/// Checks the `round`th export of `n` spans: delivered to a live
/// receiver; an error (retryable, as nobody answered) where nothing
/// listens.
fn check(
    kind: Kind,
    target: Target,
    service: &str,
    (n, round): (usize, usize),
    result: Result<ExportOutcome, ExportError>,
) {
    match target {
        Target::Live => {
            let outcome = result.unwrap_or_else(|e| panic!("{kind:?} to {service}: {e}"));
            assert_eq!(outcome, ExportOutcome::ACCEPTED, "{kind:?}");
            #[cfg(feature = "jaeger")]
            if kind == Kind::JaegerAgent {
                // All of a small batch in one datagram.
                wait_received(kind, service, round);
                return;
            }
            wait_received(kind, service, n * round);
        }
        Target::Refused => {
            #[cfg(feature = "jaeger")]
            if kind == Kind::JaegerAgent {
                // UDP: a datagram to a closed port may be sent without an
                // error (the ICMP answer comes later); either is fine, a
                // panic is not.
                return;
            }
            let e = result.expect_err("nothing listens there");
            assert!(e.is_retryable(), "{kind:?}: {e}");
        }
    }
}

fn known_spans() -> Vec<FinishedSpan> {
    support::known_trace().spans
}

/// Builds, uses and drops every exporter, live and refused, here.
fn build_use_and_drop_each(place: &str) {
    let spans = known_spans();
    for &kind in KINDS {
        for target in [Target::Live, Target::Refused] {
            let service = format!("<{place}/{kind:?}/{target:?}>");
            let mut exporter = build(kind, target, &service);
            let started = Instant::now();
            let result = exporter.export(&spans);
            assert!(
                started.elapsed() < TIMEOUT,
                "{service}: took {:?}",
                started.elapsed()
            );
            check(kind, target, &service, (spans.len(), 1), result);
            // A second export through the same client (a pooled
            // connection, or a failed one that reconnects).
            if target == Target::Live {
                check(
                    kind,
                    target,
                    &service,
                    (spans.len(), 2),
                    exporter.export(&spans),
                );
            }
            drop(exporter);
        }
    }
}

type Built = Vec<(Kind, Target, String, Box<dyn SpanExporter>)>;

fn build_each(place: &str) -> Built {
    let mut built = Vec::new();
    for &kind in KINDS {
        for target in [Target::Live, Target::Refused] {
            let service = format!("<{place}/{kind:?}/{target:?}>");
            let exporter = build(kind, target, &service);
            built.push((kind, target, service, exporter));
        }
    }
    built
}

fn use_and_drop(built: Built) {
    let spans = known_spans();
    for (kind, target, service, mut exporter) in built {
        check(
            kind,
            target,
            &service,
            (spans.len(), 1),
            exporter.export(&spans),
        );
        drop(exporter);
    }
}

// ---- the places -------------------------------------------------------------

#[test]
fn in_plain_sync_code() {
    build_use_and_drop_each("sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() {
    build_use_and_drop_each("multi-thread");
}

#[tokio::test]
async fn inside_a_current_thread_runtime() {
    build_use_and_drop_each("current-thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_spawned_task_of_a_multi_thread_runtime() {
    tokio::spawn(async { build_use_and_drop_each("spawned-multi-thread") })
        .await
        .unwrap();
}

#[tokio::test]
async fn inside_a_spawned_task_of_a_current_thread_runtime() {
    tokio::spawn(async { build_use_and_drop_each("spawned-current-thread") })
        .await
        .unwrap();
}

#[test]
fn after_the_runtime_that_built_them_is_dropped() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let built = rt.block_on(async { build_each("built-in-a-dropped-runtime") });
    drop(rt);
    use_and_drop(built);
}

#[test]
fn built_in_a_dropped_runtime_then_used_and_dropped_in_another() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let built = rt.block_on(async { build_each("moved-between-runtimes") });
    drop(rt);
    let other = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    other.block_on(async { use_and_drop(built) });
}

// ---- the batch pipeline in async code ---------------------------------------

/// A pipeline per exporter, built inside async code, fed `n` spans and
/// dropped there: its drop delivers them.
fn pipelines_delivered_on_drop(place: &str) {
    let n = 5;
    for &kind in KINDS {
        let service = format!("<{place}/{kind:?}/pipeline>");
        let batch = Arc::new(
            BatchSpanProcessor::builder(build(kind, Target::Live, &service))
                .diagnostics(Diagnostics::off())
                .build()
                .unwrap(),
        );
        let tracer = AgentStepTracer::builder()
            .processor(batch.clone())
            .without_store()
            .build();
        for _ in 0..n {
            tracer.start_trace("agent_step").end();
        }
        assert_eq!(batch.stats().received, n as u64);
        drop(tracer);
        let started = Instant::now();
        // The last owner: its drop shuts down, delivering the queue.
        drop(batch);
        assert!(started.elapsed() < Duration::from_secs(5));
        #[cfg(feature = "jaeger")]
        if kind == Kind::JaegerAgent {
            wait_received(kind, &service, 1);
            continue;
        }
        wait_received(kind, &service, n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_built_and_dropped_in_a_multi_thread_runtime_delivers() {
    pipelines_delivered_on_drop("multi-thread");
}

#[tokio::test]
async fn a_pipeline_built_and_dropped_in_a_current_thread_runtime_delivers() {
    pipelines_delivered_on_drop("current-thread");
}

#[tokio::test]
async fn a_pipeline_shut_down_in_a_spawned_task_delivers() {
    let service = "<spawned/pipeline>";
    let batch = Arc::new(
        BatchSpanProcessor::builder(build(Kind::OtlpProtobuf, Target::Live, service))
            .diagnostics(Diagnostics::off())
            .build()
            .unwrap(),
    );
    let tracer = AgentStepTracer::builder()
        .processor(batch.clone())
        .without_store()
        .build();
    tracer.start_trace("agent_step").end();
    tracer.start_trace("agent_step").end();
    tokio::spawn(async move {
        batch.shutdown(Duration::from_secs(5)).unwrap();
        let s = batch.stats();
        assert_eq!((s.received, s.exported, s.dropped()), (2, 2, 0), "{s:?}");
        drop(batch);
    })
    .await
    .unwrap();
    assert_eq!(received(Kind::OtlpProtobuf, service), 2);
}
