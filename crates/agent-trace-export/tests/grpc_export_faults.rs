//! The batch pipeline in front of an OTLP/gRPC exporter, under faults,
//! against a real tonic server (`opentelemetry-proto`'s generated
//! `TraceServiceServer`) whose answers each test scripts: nothing
//! listening, UNAVAILABLE then OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED
//! with and without `RetryInfo`, a server that never answers, and a
//! shutdown whose deadline passes with spans in flight. Each checks the
//! exact accounting, a bound on the time taken, and the lines the user
//! reads (captured with `Diagnostics::callback`).
#![cfg(feature = "otlp-grpc")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use agent_trace_core::{AgentStepTracer, SpanProcessor, TraceError};
use agent_trace_export::{
    BatchConfig, BatchSpanProcessor, BatchStats, Diagnostics, ExportEvent, OtlpExporter,
    OtlpProtocol, RetryPolicy,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tonic::Code;

// ---- the scripted gRPC receiver ---------------------------------------------

/// What the server answers, request by request; after the script, OK.
#[derive(Clone, Debug)]
enum Answer {
    /// A status with this code and message, and these details
    /// (`grpc-status-details-bin`, empty for none).
    Status(Code, &'static str, Vec<u8>),
    /// Never answers (holds the request until the server goes away).
    Hang,
}

fn status(code: Code, message: &'static str) -> Answer {
    Answer::Status(code, message, Vec::new())
}

#[derive(Clone, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<AtomicUsize>,
    /// Spans in the requests answered OK.
    accepted: Arc<AtomicUsize>,
    /// Told about every request as it arrives.
    seen: Arc<Mutex<Option<mpsc::Sender<()>>>>,
}

impl Scripted {
    fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        let s = Self::default();
        s.script.lock().unwrap().extend(answers);
        s
    }

    /// A receiver of a message per request, as it arrives.
    fn watch(&self) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel();
        *self.seen.lock().unwrap() = Some(tx);
        rx
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[tonic::async_trait]
impl TraceService for Scripted {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = self.seen.lock().unwrap().as_ref() {
            let _ = tx.send(());
        }
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let answer = self.script.lock().unwrap().pop_front();
        match answer {
            Some(Answer::Hang) => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            Some(Answer::Status(code, message, details)) => {
                Err(tonic::Status::with_details(code, message, details.into()))
            }
            None => {
                self.accepted.fetch_add(spans, Ordering::SeqCst);
                Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
            }
        }
    }
}

/// Serves `receiver` on a free loopback port from a runtime of its own;
/// dropping the runtime closes the server and its connections.
fn serve(receiver: Scripted) -> (tokio::runtime::Runtime, SocketAddr) {
    serve_on(receiver, "127.0.0.1:0".parse().unwrap())
}

/// Serves `receiver` on `addr`.
fn serve_on(receiver: Scripted, addr: SocketAddr) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let incoming = rt
        .block_on(async { tonic::transport::server::TcpIncoming::bind(addr) })
        .unwrap();
    let addr = incoming.local_addr().unwrap();
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver))
            .serve_with_incoming(incoming),
    );
    (rt, addr)
}

/// A loopback port nothing listens on.
fn refused_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

// ---- `google.rpc.Status` with a `RetryInfo`, as a server sends it ---------

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

fn retry_info(code: Code, message: &str, delay: Duration) -> Vec<u8> {
    let info = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: delay.as_secs() as i64,
            nanos: delay.subsec_nanos() as i32,
        }),
    };
    RpcStatus {
        code: code as i32,
        message: message.to_owned(),
        details: vec![Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

// ---- the pipeline under test ------------------------------------------------

/// The lines the pipeline's diagnostics produced, in order.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The lines that start with `prefix`.
    fn starting(&self, prefix: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// Waits (bounded) for a line that starts with `prefix`.
    fn wait_for(&self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self.starting(prefix).pop() {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no line starting {prefix:?} within {within:?}: {:#?}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

struct Pipeline {
    batch: Arc<BatchSpanProcessor>,
    tracer: AgentStepTracer,
    lines: Lines,
    /// The endpoint as the user configured it (and reads it in errors).
    endpoint: String,
}

impl Pipeline {
    fn new(addr: SocketAddr, timeout: Duration, config: BatchConfig) -> Self {
        let endpoint = format!("http://{addr}");
        let exporter = OtlpExporter::builder()
            .protocol(OtlpProtocol::Grpc)
            .endpoint(endpoint.clone())
            .timeout(timeout)
            .build()
            .unwrap();
        let lines = Lines::default();
        let sink = lines.clone();
        let batch = Arc::new(
            BatchSpanProcessor::builder(exporter)
                .config(config)
                .diagnostics(Diagnostics::callback(move |e: &ExportEvent<'_>| {
                    sink.0.lock().unwrap().push(e.to_string());
                }))
                .build()
                .unwrap(),
        );
        let tracer = AgentStepTracer::builder()
            .processor(batch.clone())
            .without_store()
            .build();
        Self {
            batch,
            tracer,
            lines,
            endpoint,
        }
    }

    fn spans(&self, n: usize) {
        for _ in 0..n {
            self.tracer.start_trace("agent_step").end();
        }
    }

    fn stats(&self) -> BatchStats {
        self.batch.stats()
    }
}

/// Retries that wait little (the backoff is jittered within these).
fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// A batch config whose worker exports only when asked (flush or
/// shutdown) or when a batch is full.
fn on_request(retry: RetryPolicy) -> BatchConfig {
    BatchConfig::default()
        .with_scheduled_delay(Duration::from_secs(3_600))
        .with_retry(retry)
}

fn all_counted(s: &BatchStats) {
    assert_eq!(
        s.received,
        s.exported + s.dropped() + s.queued + s.in_flight,
        "every span is exported, dropped (counted), queued or in flight: {s:?}"
    );
}

/// After shutdown: nothing queued or in flight, everything accounted for.
fn settled(s: &BatchStats) {
    assert_eq!((s.queued, s.in_flight), (0, 0), "{s:?}");
    assert_eq!(s.received, s.exported + s.dropped(), "{s:?}");
}

// ---- the cases --------------------------------------------------------------

#[test]
fn nothing_listening_is_reported_as_refused_with_the_endpoint_and_counted_as_failed() {
    let addr = refused_port();
    let p = Pipeline::new(
        addr,
        Duration::from_secs(5),
        on_request(RetryPolicy::none()),
    );
    p.spans(5);
    let started = Instant::now();
    let err = p.batch.force_flush(Duration::from_secs(10)).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, TraceError::Processor { .. }), "{err}");
    // A refused connection fails at once, not at the 5 s timeout.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let s = p.stats();
    assert_eq!(
        (
            s.received,
            s.exported,
            s.dropped_export_failed,
            s.retries,
            s.batches_failed
        ),
        (5, 0, 5, 0, 1),
        "{s:?}"
    );
    all_counted(&s);

    // One line for the failure and one for the drop, each with where and
    // the operating system's reason.
    let cannot_reach = format!("otlp: cannot reach {}: ", p.endpoint);
    let lines = p.lines.all();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!("export failing: {cannot_reach}"))
            && lines[0].ends_with("the batch is dropped)"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!(
            "otlp: dropped 5 spans (export failed 5); last export error: {cannot_reach}"
        )),
        "{}",
        lines[1]
    );

    p.batch.shutdown(Duration::from_secs(5)).unwrap();
    let s = p.stats();
    settled(&s);
    assert_eq!((s.dropped_export_failed, s.dropped()), (5, 5), "{s:?}");
    let lines = p.lines.all();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[2].starts_with(&format!(
            "otlp: not delivered at shutdown: 5 spans (export failed 5); last cause: {cannot_reach}"
        )),
        "{}",
        lines[2]
    );
    for line in &lines {
        assert!(line.contains("Connection refused"), "{line}");
    }
}

#[test]
fn nothing_listening_is_retried_until_the_policy_gives_up() {
    let addr = refused_port();
    let p = Pipeline::new(
        addr,
        Duration::from_secs(5),
        on_request(fast_retry().with_max_elapsed(Duration::from_millis(400))),
    );
    p.spans(4);
    let started = Instant::now();
    let err = p.batch.force_flush(Duration::from_secs(10)).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, TraceError::Processor { .. }), "{err}");
    // Retried for at most 400 ms (plus the attempts themselves).
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let s = p.stats();
    assert_eq!(
        (
            s.received,
            s.exported,
            s.dropped_export_failed,
            s.batches_failed
        ),
        (4, 0, 4, 1),
        "{s:?}"
    );
    assert!(s.retries >= 1, "{s:?}");
    all_counted(&s);
    // The same cause is reported once, however many attempts failed.
    let failing = p.lines.starting("export failing");
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert!(
        failing[0].ends_with("(retrying; spans wait in the queue)"),
        "{}",
        failing[0]
    );
    assert!(
        failing[0].starts_with(&format!(
            "export failing: otlp: cannot reach {}: ",
            p.endpoint
        )) && failing[0].contains("Connection refused"),
        "{}",
        failing[0]
    );
    let dropping = p.lines.wait_for("otlp: dropped", Duration::from_secs(5));
    assert!(
        dropping.starts_with(&format!(
            "otlp: dropped 4 spans (export failed 4); last export error: otlp: cannot reach {}: ",
            p.endpoint
        )),
        "{dropping}"
    );
}

#[test]
fn nothing_listening_and_a_shutdown_ends_the_retries_at_once() {
    let addr = refused_port();
    // The default policy would retry one batch for 30 s; the worker
    // exports on its own after 10 ms.
    let p = Pipeline::new(
        addr,
        Duration::from_secs(5),
        BatchConfig::default()
            .with_scheduled_delay(Duration::from_millis(10))
            .with_retry(RetryPolicy::default()),
    );
    p.spans(3);
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.stats().retries == 0 {
        assert!(Instant::now() < deadline, "no retry: {:?}", p.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let s = p.stats();
    assert_eq!((s.received, s.in_flight, s.dropped()), (3, 3, 0), "{s:?}");
    let started = Instant::now();
    // One attempt more once shutdown begins, refused at once: the batch
    // fails then (it is not cut off by the deadline), well before the
    // deadline. The shutdown itself finds nothing left to do.
    p.batch.shutdown(Duration::from_secs(5)).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let s = p.stats();
    settled(&s);
    assert_eq!(
        (
            s.received,
            s.exported,
            s.dropped_export_failed,
            s.dropped_shutdown_deadline,
            s.batches_failed
        ),
        (3, 0, 3, 0, 1),
        "{s:?}"
    );
    let failing = p.lines.starting("export failing");
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert!(
        failing[0].ends_with("(retrying; spans wait in the queue)"),
        "{}",
        failing[0]
    );
    let undelivered = p
        .lines
        .wait_for("otlp: not delivered at shutdown", Duration::from_secs(1));
    assert!(
        undelivered.starts_with(&format!(
            "otlp: not delivered at shutdown: 3 spans (export failed 3); last cause: otlp: \
             cannot reach {}: ",
            p.endpoint
        )) && undelivered.contains("Connection refused"),
        "{undelivered}"
    );
}

#[test]
fn unavailable_twice_then_ok_loses_nothing_and_reports_the_recovery() {
    let receiver = Scripted::new([
        status(Code::Unavailable, "collector warming up"),
        status(Code::Unavailable, "collector warming up"),
    ]);
    let (_rt, addr) = serve(receiver.clone());
    let p = Pipeline::new(addr, Duration::from_secs(5), on_request(fast_retry()));
    p.spans(6);
    let started = Instant::now();
    p.batch.force_flush(Duration::from_secs(10)).unwrap();
    let took = started.elapsed();
    // Two backoffs of at most 10 and 20 ms, and three requests.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let s = p.stats();
    assert_eq!(
        (
            s.received,
            s.exported,
            s.retries,
            s.dropped(),
            s.batches_exported,
            s.batches_failed
        ),
        (6, 6, 2, 0, 1, 0),
        "{s:?}"
    );
    all_counted(&s);
    assert_eq!((receiver.requests(), receiver.accepted()), (3, 6));

    let lines = p.lines.all();
    assert_eq!(lines.len(), 2, "one failing line, one recovery: {lines:#?}");
    assert_eq!(
        lines[0],
        format!(
            "export failing: otlp: {} answered grpc UNAVAILABLE: collector warming up \
         (retrying; spans wait in the queue)",
            p.endpoint
        )
    );
    assert!(
        lines[1].starts_with("otlp: export recovered after ")
            && lines[1].ends_with(" s (2 failed attempts; nothing dropped)"),
        "{}",
        lines[1]
    );
    p.batch.shutdown(Duration::from_secs(5)).unwrap();
    settled(&p.stats());
    // Nothing undelivered: no shutdown line.
    assert_eq!(p.lines.all().len(), 2, "{:#?}", p.lines.all());
}

#[test]
fn invalid_argument_is_not_retried_and_carries_the_code_and_the_message() {
    let receiver = Scripted::new([status(
        Code::InvalidArgument,
        "span 3: name exceeds 1024 bytes",
    )]);
    let (_rt, addr) = serve(receiver.clone());
    let p = Pipeline::new(addr, Duration::from_secs(5), on_request(fast_retry()));
    p.spans(5);
    let started = Instant::now();
    let err = p.batch.force_flush(Duration::from_secs(10)).unwrap_err();
    assert!(matches!(err, TraceError::Processor { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let s = p.stats();
    assert_eq!(
        (
            s.received,
            s.exported,
            s.dropped_export_failed,
            s.retries,
            s.batches_failed
        ),
        (5, 0, 5, 0, 1),
        "{s:?}"
    );
    all_counted(&s);
    assert_eq!(receiver.requests(), 1);
    let failing = p.lines.wait_for("export failing", Duration::from_secs(1));
    assert_eq!(
        failing,
        format!(
            "export failing: otlp: {} answered grpc INVALID_ARGUMENT: \
         span 3: name exceeds 1024 bytes (not retryable: the batch is dropped)",
            p.endpoint
        )
    );
    let dropping = p.lines.wait_for("otlp: dropped", Duration::from_secs(1));
    assert_eq!(
        dropping,
        format!(
            "otlp: dropped 5 spans (export failed 5); last export error: \
         otlp: {} answered grpc INVALID_ARGUMENT: span 3: name exceeds 1024 bytes",
            p.endpoint
        )
    );
    // The pipeline goes on: the next batch is delivered, and that is a
    // recovery.
    p.spans(2);
    p.batch.force_flush(Duration::from_secs(10)).unwrap();
    let s = p.stats();
    assert_eq!((s.exported, s.dropped_export_failed), (2, 5), "{s:?}");
    assert_eq!(receiver.accepted(), 2);
    let recovered = p
        .lines
        .wait_for("otlp: export recovered", Duration::from_secs(1));
    assert!(
        recovered.ends_with("(1 failed attempt; dropped meanwhile: 5 spans (export failed 5))"),
        "{recovered}"
    );
}

#[test]
fn resource_exhausted_without_retry_info_is_not_retried() {
    let receiver = Scripted::new([status(Code::ResourceExhausted, "ingest quota exceeded")]);
    let (_rt, addr) = serve(receiver.clone());
    let p = Pipeline::new(addr, Duration::from_secs(5), on_request(fast_retry()));
    p.spans(4);
    let err = p.batch.force_flush(Duration::from_secs(10)).unwrap_err();
    assert!(matches!(err, TraceError::Processor { .. }), "{err}");
    let s = p.stats();
    assert_eq!(
        (s.received, s.exported, s.dropped_export_failed, s.retries),
        (4, 0, 4, 0),
        "{s:?}"
    );
    all_counted(&s);
    assert_eq!(receiver.requests(), 1);
    let failing = p.lines.wait_for("export failing", Duration::from_secs(1));
    assert_eq!(
        failing,
        format!(
            "export failing: otlp: {} answered grpc RESOURCE_EXHAUSTED: \
         ingest quota exceeded (not retryable: the batch is dropped)",
            p.endpoint
        )
    );
}

#[test]
fn resource_exhausted_with_retry_info_is_retried_after_its_delay() {
    let details = retry_info(
        Code::ResourceExhausted,
        "slow down",
        Duration::from_millis(700),
    );
    let receiver = Scripted::new([Answer::Status(
        Code::ResourceExhausted,
        "slow down",
        details,
    )]);
    let (_rt, addr) = serve(receiver.clone());
    let p = Pipeline::new(addr, Duration::from_secs(5), on_request(fast_retry()));
    p.spans(4);
    let started = Instant::now();
    p.batch.force_flush(Duration::from_secs(10)).unwrap();
    let took = started.elapsed();
    // The server's 700 ms is a floor under the (10 ms) backoff.
    assert!(took >= Duration::from_millis(700), "took {took:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let s = p.stats();
    assert_eq!(
        (s.received, s.exported, s.retries, s.dropped()),
        (4, 4, 1, 0),
        "{s:?}"
    );
    assert_eq!((receiver.requests(), receiver.accepted()), (2, 4));
    let lines = p.lines.all();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        lines[0],
        format!(
            "export failing: otlp: {} answered grpc RESOURCE_EXHAUSTED: slow down \
         (retrying; spans wait in the queue)",
            p.endpoint
        )
    );
    assert!(
        lines[1].ends_with("(1 failed attempt; nothing dropped)"),
        "{}",
        lines[1]
    );
}

#[test]
fn a_server_that_never_answers_times_out_at_the_exporter_timeout() {
    let receiver = Scripted::new([Answer::Hang]);
    let seen = receiver.watch();
    let (_rt, addr) = serve(receiver.clone());
    let p = Pipeline::new(
        addr,
        Duration::from_millis(300),
        on_request(RetryPolicy::none()),
    );
    p.spans(2);
    let started = Instant::now();
    let err = p.batch.force_flush(Duration::from_secs(10)).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, TraceError::Processor { .. }), "{err}");
    seen.recv_timeout(Duration::from_secs(1))
        .expect("the request reached the server");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    let s = p.stats();
    assert_eq!(
        (s.received, s.exported, s.dropped_export_failed, s.retries),
        (2, 0, 2, 0),
        "{s:?}"
    );
    all_counted(&s);
    // One failure, dropped (its text is checked by
    // `a_timeout_names_the_endpoint_and_the_timeout`).
    let failing = p.lines.starting("export failing");
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert!(
        failing[0].ends_with("the batch is dropped)"),
        "{}",
        failing[0]
    );
}

/// Every timed-out attempt reads as a timeout, with where and how long.
#[test]
fn a_timeout_names_the_endpoint_and_the_timeout() {
    let receiver = Scripted::new([Answer::Hang, Answer::Hang, Answer::Hang, Answer::Hang]);
    let (_rt, addr) = serve(receiver.clone());
    // Four attempts time out (a timeout is retryable), the fifth is
    // answered.
    let p = Pipeline::new(
        addr,
        Duration::from_millis(300),
        on_request(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(1), Duration::from_millis(1))
                .with_max_elapsed(Duration::from_secs(30)),
        ),
    );
    p.spans(1);
    p.batch.force_flush(Duration::from_secs(10)).unwrap();
    let s = p.stats();
    assert_eq!((s.exported, s.retries), (1, 4), "{s:?}");
    assert_eq!(receiver.requests(), 5);
    // Each kind of failure is reported once: one line if every attempt
    // was read as a timeout.
    let failing = p.lines.starting("export failing");
    assert_eq!(
        failing,
        [format!(
            "export failing: otlp: no answer from {} within 300 ms \
             (retrying; spans wait in the queue)",
            p.endpoint
        )]
    );
}

/// A collector that goes away with a request in flight and comes back:
/// the broken connection is a transport failure (where, and why), the
/// batch is retried and delivered.
#[test]
fn a_connection_broken_mid_export_is_retried_and_names_the_endpoint() {
    let first = Scripted::new([Answer::Hang]);
    let seen = first.watch();
    let (rt, addr) = serve(first);
    let p = Arc::new(Pipeline::new(
        addr,
        Duration::from_secs(10),
        on_request(fast_retry()),
    ));
    p.spans(3);
    let flushing = p.clone();
    let flush = std::thread::spawn(move || flushing.batch.force_flush(Duration::from_secs(20)));
    seen.recv_timeout(Duration::from_secs(10))
        .expect("the batch reached the server");
    // The collector restarts: its connections break, and it listens again
    // on the same port.
    drop(rt);
    let second = Scripted::default();
    let (_rt, _) = serve_on(second.clone(), addr);
    flush
        .join()
        .unwrap()
        .expect("the batch is retried and delivered");
    let s = p.stats();
    assert_eq!((s.received, s.exported, s.dropped()), (3, 3, 0), "{s:?}");
    assert!(s.retries >= 1, "{s:?}");
    assert_eq!(second.accepted(), 3);
    let failing = p.lines.starting("export failing");
    assert!(
        failing[0].starts_with(&format!(
            "export failing: otlp: cannot reach {}: ",
            p.endpoint
        )) && failing[0].ends_with("(retrying; spans wait in the queue)"),
        "{failing:#?}"
    );
    p.lines
        .wait_for("otlp: export recovered", Duration::from_secs(1));
}

#[test]
fn the_shutdown_deadline_cuts_off_spans_in_flight_and_queued() {
    let receiver = Scripted::new([Answer::Hang]);
    let seen = receiver.watch();
    let (rt, addr) = serve(receiver.clone());
    let p = Pipeline::new(
        addr,
        Duration::from_secs(60),
        BatchConfig::default()
            .with_max_export_batch_size(4)
            .with_scheduled_delay(Duration::from_secs(3_600))
            .with_retry(fast_retry()),
    );
    // A full batch of 4 goes out at once, and hangs.
    p.spans(4);
    seen.recv_timeout(Duration::from_secs(10))
        .expect("the batch reached the server");
    // Three more wait behind it.
    p.spans(3);
    let s = p.stats();
    assert_eq!((s.received, s.in_flight, s.queued), (7, 4, 3), "{s:?}");

    let deadline = Duration::from_millis(500);
    let started = Instant::now();
    let err = p.batch.shutdown(deadline).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, TraceError::Timeout { .. }), "{err}");
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(1),
        "took {took:?}"
    );
    let s = p.stats();
    settled(&s);
    assert_eq!(
        (
            s.received,
            s.exported,
            s.dropped_shutdown_deadline,
            s.dropped_export_failed
        ),
        (7, 0, 7, 0),
        "{s:?}"
    );
    let undelivered = p
        .lines
        .wait_for("otlp: not delivered at shutdown", Duration::from_secs(1));
    assert_eq!(
        undelivered,
        "otlp: not delivered at shutdown: 7 spans (shutdown deadline 7); \
         last cause: batch span processor shutdown did not finish within 500 ms"
    );

    // The server goes away: the request in flight fails late, on the
    // worker, which reports it and counts nothing more.
    drop(rt);
    let late = p.lines.wait_for("export failing", Duration::from_secs(10));
    assert!(late.ends_with("the batch is dropped)"), "{late}");
    let after = p.stats();
    assert_eq!(after, s, "a late failure changes no count");
    // Spans after shutdown are refused and counted.
    p.spans(2);
    let s = p.stats();
    assert_eq!((s.received, s.dropped_shutdown), (9, 2), "{s:?}");
    settled(&s);
}
