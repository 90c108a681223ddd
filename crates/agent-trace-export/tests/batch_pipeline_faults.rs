//! The batch pipeline under faults, against a real OTLP/HTTP receiver on
//! loopback whose answers the test scripts: refused, down then up, 503
//! with and without `Retry-After`, 429, 400 with a body, a receiver that
//! hangs past the timeout, a slow one, two failures then recovery, a long
//! outage with a burst, and shutdown with a deadline reached with spans in
//! flight. Each checks the exact number of spans received, exported and
//! dropped by reason, that nothing goes uncounted, and the lines the user
//! is shown (`Diagnostics`).
#![cfg(feature = "otlp-http")]

mod support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor, TraceError};
use agent_trace_export::{
    BatchConfig, BatchSpanProcessor, BatchStats, Diagnostics, ExportEvent, FnExporter,
    OtlpExporter, RetryPolicy,
};
use agent_trace_metrics::TracerMetrics;
use axum::body::Bytes;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// What the receiver answers, request by request; after the script, 200.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16, Option<u64>),
    /// An error status with a body.
    Reject(u16, &'static str),
    /// Answers 200 after this many milliseconds.
    Slow(u64),
    /// Never answers (holds the request until the test ends).
    Hang,
}

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Answer>>>,
    /// Spans in the requests answered 2xx.
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    /// Told about every request as it arrives.
    seen: Arc<Mutex<Option<mpsc::Sender<()>>>>,
}

impl Receiver {
    fn scripted(answers: impl IntoIterator<Item = Answer>) -> Self {
        let r = Self::default();
        r.script.lock().unwrap().extend(answers);
        r
    }
}

/// Serves `receiver` on `addr` (port 0 for any) from a runtime of its own.
fn serve(receiver: Receiver, addr: SocketAddr) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let r = receiver.clone();
            async move {
                r.requests.fetch_add(1, Ordering::SeqCst);
                if let Some(tx) = r.seen.lock().unwrap().as_ref() {
                    let _ = tx.send(());
                }
                let answer = r.script.lock().unwrap().pop_front();
                match answer {
                    Some(Answer::Hang) => {
                        std::future::pending::<()>().await;
                        unreachable!()
                    }
                    Some(Answer::Reject(code, body)) => {
                        let mut res = axum::response::Response::new(axum::body::Body::from(body));
                        *res.status_mut() = StatusCode::from_u16(code).unwrap();
                        res
                    }
                    Some(Answer::Slow(ms)) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        let req = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                        let n: usize = req
                            .resource_spans
                            .iter()
                            .flat_map(|r| &r.scope_spans)
                            .map(|s| s.spans.len())
                            .sum();
                        r.accepted.fetch_add(n, Ordering::SeqCst);
                        axum::response::Response::new(axum::body::Body::empty())
                    }
                    Some(Answer::Status(code, retry_after)) if code >= 300 => {
                        let mut res = axum::response::Response::new(axum::body::Body::empty());
                        *res.status_mut() = StatusCode::from_u16(code).unwrap();
                        if let Some(s) = retry_after {
                            res.headers_mut()
                                .insert("retry-after", s.to_string().parse().unwrap());
                        }
                        res
                    }
                    _ => {
                        let req = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                        let n: usize = req
                            .resource_spans
                            .iter()
                            .flat_map(|r| &r.scope_spans)
                            .map(|s| s.spans.len())
                            .sum();
                        r.accepted.fetch_add(n, Ordering::SeqCst);
                        axum::response::Response::new(axum::body::Body::empty())
                    }
                }
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, addr)
}

fn pipeline(
    addr: SocketAddr,
    timeout: Duration,
    config: BatchConfig,
) -> (Arc<BatchSpanProcessor>, AgentStepTracer) {
    let (batch, tracer, _lines) = reported(addr, timeout, config);
    (batch, tracer)
}

/// The lines a user would see on stderr, kept for the test.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The lines that contain `needle`.
    fn with(&self, needle: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect()
    }
}

/// A pipeline to `addr` whose reports are kept.
fn reported(
    addr: SocketAddr,
    timeout: Duration,
    config: BatchConfig,
) -> (Arc<BatchSpanProcessor>, AgentStepTracer, Lines) {
    let exporter = OtlpExporter::builder()
        .endpoint(format!("http://{addr}/v1/traces"))
        .timeout(timeout)
        .build()
        .unwrap();
    let lines = Lines::default();
    let kept = lines.clone();
    let batch = Arc::new(
        BatchSpanProcessor::builder(exporter)
            .config(config)
            .diagnostics(Diagnostics::callback(move |e: &ExportEvent<'_>| {
                kept.0.lock().unwrap().push(e.to_string());
            }))
            .build()
            .unwrap(),
    );
    let tracer = traced(&batch);
    (batch, tracer, lines)
}

/// A loopback port with nothing listening.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A tracer whose spans go to `batch` only (no store).
fn traced(batch: &Arc<BatchSpanProcessor>) -> AgentStepTracer {
    AgentStepTracer::builder()
        .processor(batch.clone())
        .without_store()
        .build()
}

fn spans(tracer: &AgentStepTracer, n: usize) {
    for _ in 0..n {
        tracer.start_trace("agent_step").end();
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(20), Duration::from_millis(100))
}

fn all_counted(s: &BatchStats) {
    assert_eq!(
        s.received,
        s.exported + s.dropped() + s.queued + s.in_flight,
        "every span is exported, dropped (counted), queued or in flight: {s:?}"
    );
}

#[test]
fn a_receiver_down_at_start_gets_the_spans_once_it_is_up() {
    // A free port with nothing listening yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (batch, tracer) = pipeline(
        addr,
        Duration::from_secs(2),
        BatchConfig::default()
            .with_scheduled_delay(Duration::from_millis(10))
            .with_retry(fast_retry()),
    );
    spans(&tracer, 10);
    // Wait (bounded) until the worker has failed at least once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while batch.stats().retries == 0 {
        assert!(
            Instant::now() < deadline,
            "no retry seen: {:?}",
            batch.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let receiver = Receiver::default();
    let (_rt, _) = serve(receiver.clone(), addr);
    batch.force_flush(Duration::from_secs(30)).unwrap();
    let s = batch.stats();
    assert_eq!(s.exported, 10, "{s:?}");
    assert_eq!(s.dropped(), 0);
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 10);
    all_counted(&s);
}

#[test]
fn a_503_is_retried_after_its_retry_after_and_then_delivered() {
    let receiver = Receiver::scripted([Answer::Status(503, Some(1))]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer) = pipeline(
        addr,
        Duration::from_secs(5),
        BatchConfig::default().with_retry(fast_retry()),
    );
    spans(&tracer, 7);
    let started = Instant::now();
    batch.force_flush(Duration::from_secs(30)).unwrap();
    let s = batch.stats();
    assert_eq!((s.exported, s.retries, s.dropped()), (7, 1, 0), "{s:?}");
    assert_eq!(receiver.requests.load(Ordering::SeqCst), 2);
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 7);
    // `Retry-After: 1` is a floor under the (20 ms) backoff.
    assert!(started.elapsed() >= Duration::from_secs(1));
    all_counted(&s);
}

#[test]
fn a_400_is_not_retried_and_its_spans_are_counted_as_failed() {
    let receiver = Receiver::scripted([Answer::Status(400, None)]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let metrics = TracerMetrics::new();
    let exporter = OtlpExporter::builder()
        .endpoint(format!("http://{addr}/v1/traces"))
        .build()
        .unwrap();
    let batch = Arc::new(
        BatchSpanProcessor::builder(exporter)
            .config(BatchConfig::default().with_retry(fast_retry()))
            .metrics(&metrics)
            .build()
            .unwrap(),
    );
    let tracer = traced(&batch);
    spans(&tracer, 5);
    let err = batch.force_flush(Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, TraceError::Processor { .. }), "{err}");
    let s = batch.stats();
    assert_eq!(
        (
            s.exported,
            s.dropped_export_failed,
            s.retries,
            s.batches_failed
        ),
        (0, 5, 0, 1),
        "{s:?}"
    );
    assert_eq!(receiver.requests.load(Ordering::SeqCst), 1);
    all_counted(&s);
    // The pipeline goes on: the next batch is delivered.
    spans(&tracer, 3);
    batch.force_flush(Duration::from_secs(30)).unwrap();
    assert_eq!(batch.stats().exported, 3);
    // The tracer's metrics say the same, by exporter and by reason.
    assert_eq!(metrics.spans_dropped("export_failed").get(), 5);
    assert_eq!(metrics.export_failure("otlp").get(), 1);
    assert_eq!(metrics.export_success("otlp").get(), 1);
    assert_eq!(metrics.spans_dropped("queue_full").get(), 0);
    assert_eq!(metrics.queue_length("otlp").get(), 0);
}

#[test]
fn a_hanging_receiver_times_out_without_blocking_the_application() {
    let receiver = Receiver::scripted([Answer::Hang]);
    let (tx, rx) = mpsc::channel();
    *receiver.seen.lock().unwrap() = Some(tx);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer) = pipeline(
        addr,
        Duration::from_millis(500),
        BatchConfig::default()
            .with_max_queue_size(100)
            .with_max_export_batch_size(10)
            .with_retry(RetryPolicy::none()),
    );
    spans(&tracer, 10);
    // The worker is now inside the hanging request.
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // Span creation goes on while the exporter is stuck: the queue takes
    // 100, the rest are dropped and counted, nothing waits.
    let started = Instant::now();
    spans(&tracer, 1_000);
    let took = started.elapsed();
    // A generous bound: blocking on the export would take the 500 ms
    // timeout per batch, a hundred times over.
    assert!(took < Duration::from_secs(2), "span creation took {took:?}");
    let s = batch.stats();
    assert_eq!(s.received, 1_010);
    assert_eq!(s.dropped_queue_full, 1_000 - 100, "{s:?}");
    // A flush with a short deadline reports the timeout instead of hanging.
    let err = batch.force_flush(Duration::from_millis(50)).unwrap_err();
    assert!(matches!(err, TraceError::Timeout { .. }), "{err}");
    // The stuck request times out and is counted; the queued 100 follow.
    let _ = batch.force_flush(Duration::from_secs(30));
    let s = batch.stats();
    assert_eq!(s.dropped_export_failed, 10, "{s:?}");
    assert_eq!(s.exported, 100, "{s:?}");
    all_counted(&s);
}

/// A pipeline with a queue and batches of 64 whose first export waits
/// until the returned sender sends (later ones pass), and the count of
/// spans its exporter received.
fn gated_pipeline() -> (mpsc::Sender<()>, Arc<AtomicUsize>, Arc<BatchSpanProcessor>) {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let delivered = Arc::new(AtomicUsize::new(0));
    let d = delivered.clone();
    let exporter = FnExporter::new("gated", move |batch: &[FinishedSpan]| {
        let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(30));
        d.fetch_add(batch.len(), Ordering::SeqCst);
        Ok::<(), std::io::Error>(())
    });
    let batch = Arc::new(
        BatchSpanProcessor::builder(exporter)
            .config(
                BatchConfig::default()
                    .with_max_queue_size(64)
                    .with_max_export_batch_size(64),
            )
            .build()
            .unwrap(),
    );
    (release, delivered, batch)
}

#[test]
fn a_burst_overflows_the_queue_and_every_drop_is_counted() {
    let (release, delivered, batch) = gated_pipeline();
    let tracer = traced(&batch);
    spans(&tracer, 5_000);
    released_all_counted(&release, &delivered, &batch, 5_000);
}

/// Opens a [`gated_pipeline`]'s gate once `total` spans were ended into it,
/// flushes, and checks that every span was exported or dropped for a full
/// queue, and that at most one batch in the exporter and a full queue
/// behind it were kept.
fn released_all_counted(
    release: &mpsc::Sender<()>,
    delivered: &AtomicUsize,
    batch: &BatchSpanProcessor,
    total: u64,
) {
    for _ in 0..200 {
        let _ = release.send(());
    }
    batch.force_flush(Duration::from_secs(30)).unwrap();
    let s = batch.stats();
    assert_eq!(s.received, total);
    assert!(s.dropped_queue_full >= total - 128, "{s:?}");
    assert_eq!(s.exported as usize, delivered.load(Ordering::SeqCst));
    assert_eq!(s.exported + s.dropped_queue_full, total, "{s:?}");
    all_counted(&s);
}

#[test]
fn drops_by_several_threads_at_once_add_up_exactly() {
    // Each thread counts its drops on a copy of its own (striped): the
    // total must still be every drop, none counted twice.
    let (release, delivered, batch) = gated_pipeline();
    let tracer = traced(&batch);
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let tracer = tracer.clone();
            std::thread::spawn(move || spans(&tracer, 20_000))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    released_all_counted(&release, &delivered, &batch, 120_000);
}

#[test]
fn shutdown_delivers_everything_queued_before_its_deadline_then_refuses() {
    let receiver = Receiver::default();
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer) = pipeline(
        addr,
        Duration::from_secs(5),
        BatchConfig::default()
            .with_max_export_batch_size(100)
            .with_scheduled_delay(Duration::from_secs(3_600)),
    );
    spans(&tracer, 1_000);
    batch.shutdown(Duration::from_secs(30)).unwrap();
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 1_000);
    // After shutdown: refused and counted.
    spans(&tracer, 5);
    let s = batch.stats();
    assert_eq!((s.exported, s.dropped_shutdown), (1_000, 5), "{s:?}");
    all_counted(&s);
    assert!(matches!(
        batch.shutdown(Duration::from_secs(1)),
        Err(TraceError::AlreadyShutdown(_))
    ));
}

#[test]
fn shutdown_with_a_stuck_exporter_returns_at_its_deadline() {
    let receiver = Receiver::scripted([Answer::Hang]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer) = pipeline(
        addr,
        Duration::from_secs(60),
        BatchConfig::default().with_retry(RetryPolicy::none()),
    );
    spans(&tracer, 3);
    let started = Instant::now();
    let err = batch.shutdown(Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, TraceError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A pipeline to a port nobody listens on, retrying for 300 ms, whose
/// reports are kept; and the port.
fn refused_within_300_ms() -> (
    SocketAddr,
    (Arc<BatchSpanProcessor>, AgentStepTracer, Lines),
) {
    let addr = closed_port();
    let pipeline = reported(
        addr,
        Duration::from_secs(2),
        BatchConfig::default()
            .with_retry(fast_retry().with_max_elapsed(Duration::from_millis(300))),
    );
    (addr, pipeline)
}

#[test]
fn a_refused_connection_is_reported_once_with_its_cause_and_every_span_counted() {
    let (addr, (batch, tracer, lines)) = refused_within_300_ms();
    spans(&tracer, 10);
    let err = batch.force_flush(Duration::from_secs(30)).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    let s = batch.stats();
    assert_eq!(
        (s.exported, s.dropped_export_failed, s.batches_failed),
        (0, 10, 1),
        "{s:?}"
    );
    assert!(s.retries >= 1, "{s:?}");
    all_counted(&s);
    // One line for the failure, however many attempts: the endpoint and
    // the operating system's reason.
    let endpoint = format!("http://{addr}/v1/traces");
    let failing = lines.with("export failing");
    assert_eq!(failing.len(), 1, "{:?}", lines.all());
    assert!(failing[0].contains(&endpoint), "{failing:?}");
    assert!(failing[0].contains("Connection refused"), "{failing:?}");
    assert_eq!(
        lines
            .with("otlp: dropped 10 spans (export failed 10)")
            .len(),
        1,
        "{:?}",
        lines.all()
    );
    // At shutdown, the summary: how many, why, and the last cause.
    let started = Instant::now();
    batch.shutdown(Duration::from_secs(5)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(6));
    let summary = lines.with("at shutdown");
    assert_eq!(summary.len(), 1, "{:?}", lines.all());
    assert!(
        summary[0].starts_with(
            "otlp: not delivered at shutdown: 10 spans (export failed 10); last cause: otlp: cannot reach"
        ),
        "{summary:?}"
    );
    assert!(summary[0].contains("Connection refused"), "{summary:?}");
}

/// Spans lost while the pipeline shuts down are reported once, in the
/// shutdown's summary, not also as drops the moment before.
#[test]
fn spans_lost_at_shutdown_are_reported_once() {
    let (_, (batch, tracer, lines)) = refused_within_300_ms();
    spans(&tracer, 4);
    let err = batch.shutdown(Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    let all = lines.all();
    assert_eq!(lines.with("dropped").len(), 0, "{all:?}");
    let summary = lines.with("at shutdown");
    assert_eq!(summary.len(), 1, "{all:?}");
    assert!(
        summary[0].starts_with("otlp: not delivered at shutdown: 4 spans (export failed 4)"),
        "{summary:?}"
    );
    all_counted(&batch.stats());
}

#[test]
fn a_503_without_retry_after_and_a_429_are_retried_and_reported_with_the_recovery() {
    let receiver = Receiver::scripted([Answer::Status(503, None), Answer::Status(429, None)]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer, lines) = reported(
        addr,
        Duration::from_secs(5),
        BatchConfig::default().with_retry(fast_retry()),
    );
    spans(&tracer, 4);
    batch.force_flush(Duration::from_secs(30)).unwrap();
    let s = batch.stats();
    assert_eq!((s.exported, s.retries, s.dropped()), (4, 2, 0), "{s:?}");
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 4);
    // Each kind of failure once, then the recovery.
    let all = lines.all();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all[0].contains(&format!("http://{addr}/v1/traces answered 503")),
        "{all:?}"
    );
    assert!(
        all[0].ends_with("(retrying; spans wait in the queue)"),
        "{all:?}"
    );
    assert!(
        all[1].contains(&format!("http://{addr}/v1/traces answered 429")),
        "{all:?}"
    );
    assert!(
        all[2].starts_with("otlp: export recovered after ")
            && all[2].ends_with("(2 failed attempts; nothing dropped)"),
        "{all:?}"
    );
    batch.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        lines.all().len(),
        3,
        "nothing undelivered, no shutdown line"
    );
}

#[test]
fn two_failures_of_one_kind_then_recovery_lose_nothing_and_say_it_once() {
    let receiver = Receiver::scripted([Answer::Status(503, None), Answer::Status(503, None)]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer, lines) = reported(
        addr,
        Duration::from_secs(5),
        BatchConfig::default().with_retry(fast_retry()),
    );
    spans(&tracer, 6);
    batch.force_flush(Duration::from_secs(30)).unwrap();
    let s = batch.stats();
    assert_eq!((s.exported, s.retries, s.dropped()), (6, 2, 0), "{s:?}");
    assert_eq!(receiver.requests.load(Ordering::SeqCst), 3);
    let all = lines.all();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].contains("503"), "{all:?}");
    assert!(
        all[1].ends_with("(2 failed attempts; nothing dropped)"),
        "{all:?}"
    );
}

#[test]
fn a_400_shows_the_start_of_the_collectors_answer() {
    let receiver = Receiver::scripted([Answer::Reject(400, "span 3 has no name; rejected")]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer, lines) = reported(
        addr,
        Duration::from_secs(5),
        BatchConfig::default().with_retry(fast_retry()),
    );
    spans(&tracer, 5);
    batch.force_flush(Duration::from_secs(30)).unwrap_err();
    let s = batch.stats();
    assert_eq!((s.dropped_export_failed, s.retries), (5, 0), "{s:?}");
    let failing = lines.with("export failing");
    assert_eq!(
        failing,
        [format!(
            "export failing: otlp: http://{addr}/v1/traces answered 400: span 3 has no name; \
             rejected (not retryable: the batch is dropped)"
        )]
    );
}

#[test]
fn a_hang_past_the_timeout_names_the_endpoint_and_the_timeout() {
    let receiver = Receiver::scripted([Answer::Hang]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer, lines) = reported(
        addr,
        Duration::from_millis(300),
        BatchConfig::default().with_retry(fast_retry()),
    );
    spans(&tracer, 3);
    let started = Instant::now();
    batch.force_flush(Duration::from_secs(30)).unwrap();
    // One timed-out attempt, then delivered on the retry.
    assert!(started.elapsed() >= Duration::from_millis(300));
    let s = batch.stats();
    assert_eq!((s.exported, s.retries, s.dropped()), (3, 1, 0), "{s:?}");
    let all = lines.all();
    assert_eq!(
        all[0],
        format!(
            "export failing: otlp: no answer from http://{addr}/v1/traces within 300 ms \
             (retrying; spans wait in the queue)"
        )
    );
    assert!(
        all[1].ends_with("(1 failed attempt; nothing dropped)"),
        "{all:?}"
    );
}

#[test]
fn a_slow_collector_within_the_timeout_is_no_failure() {
    let receiver = Receiver::scripted([Answer::Slow(400), Answer::Slow(400)]);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer, lines) = reported(
        addr,
        Duration::from_secs(5),
        BatchConfig::default()
            .with_max_export_batch_size(5)
            .with_retry(fast_retry()),
    );
    spans(&tracer, 10);
    let started = Instant::now();
    batch.shutdown(Duration::from_secs(10)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(800));
    let s = batch.stats();
    assert_eq!((s.exported, s.retries, s.dropped()), (10, 0, 0), "{s:?}");
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 10);
    assert!(lines.all().is_empty(), "{:?}", lines.all());
}

#[test]
fn a_long_outage_with_a_burst_counts_every_drop_by_reason_and_says_so() {
    let addr = closed_port();
    let (batch, tracer, lines) = reported(
        addr,
        Duration::from_secs(2),
        BatchConfig::default()
            .with_max_queue_size(100)
            .with_max_export_batch_size(50)
            .with_scheduled_delay(Duration::from_millis(10))
            // Retries longer than the outage: nothing fails for good.
            .with_retry(
                RetryPolicy::default()
                    .with_backoff(Duration::from_millis(20), Duration::from_millis(50))
                    .with_max_elapsed(Duration::from_secs(60)),
            ),
    );
    spans(&tracer, 10);
    // Bounded wait for the first failed attempt.
    let deadline = Instant::now() + Duration::from_secs(20);
    while batch.stats().retries == 0 {
        assert!(Instant::now() < deadline, "{:?}", batch.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    // The burst: the queue holds 100, the rest are dropped and counted.
    spans(&tracer, 5_000);
    let s = batch.stats();
    assert_eq!(s.received, 5_010, "{s:?}");
    assert_eq!(s.queued + s.in_flight, 110, "{s:?}");
    assert_eq!(s.dropped_queue_full, 4_900, "{s:?}");
    // The receiver comes up; the 110 held are delivered.
    let receiver = Receiver::default();
    let (_rt, _) = serve(receiver.clone(), addr);
    batch.force_flush(Duration::from_secs(30)).unwrap();
    let s = batch.stats();
    assert_eq!(
        (s.exported, s.dropped_queue_full, s.dropped_export_failed),
        (110, 4_900, 0),
        "{s:?}"
    );
    assert_eq!(receiver.accepted.load(Ordering::SeqCst), 110);
    all_counted(&s);
    let all = lines.all();
    assert_eq!(lines.with("export failing").len(), 1, "{all:?}");
    // The first drops are said at once (how many depends on how far the
    // burst had got then), later ones at most once a minute.
    let dropping = lines.with("otlp: dropped ");
    assert_eq!(dropping.len(), 1, "{all:?}");
    assert!(dropping[0].contains(" (queue full "), "{all:?}");
    assert!(
        dropping[0].contains("; last export error: otlp: cannot reach")
            && dropping[0].contains("Connection refused"),
        "{all:?}"
    );
    let recovered = lines.with("export recovered");
    assert_eq!(recovered.len(), 1, "{all:?}");
    assert!(
        recovered[0].ends_with("dropped meanwhile: 4900 spans (queue full 4900))"),
        "{all:?}"
    );
    // The shutdown line sums it up.
    batch.shutdown(Duration::from_secs(5)).unwrap();
    assert!(
        lines.with("at shutdown")[0]
            .starts_with("otlp: not delivered at shutdown: 4900 spans (queue full 4900)"),
        "{:?}",
        lines.all()
    );
}

#[test]
fn spans_in_flight_at_the_shutdown_deadline_are_counted_as_dropped() {
    let receiver = Receiver::scripted([Answer::Hang]);
    let (tx, rx) = mpsc::channel();
    *receiver.seen.lock().unwrap() = Some(tx);
    let (_rt, addr) = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap());
    let (batch, tracer, lines) = reported(
        addr,
        Duration::from_secs(60),
        BatchConfig::default()
            .with_max_export_batch_size(16)
            .with_scheduled_delay(Duration::from_millis(10))
            .with_retry(RetryPolicy::none()),
    );
    spans(&tracer, 16);
    // The worker is inside the hanging request with 16 spans.
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    spans(&tracer, 5); // queued behind it
    let s = batch.stats();
    assert_eq!((s.in_flight, s.queued), (16, 5), "{s:?}");
    let started = Instant::now();
    let err = batch.shutdown(Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, TraceError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1_300));
    let s = batch.stats();
    assert_eq!(
        (
            s.received,
            s.exported,
            s.in_flight,
            s.queued,
            s.dropped_shutdown_deadline
        ),
        (21, 0, 0, 0, 21),
        "{s:?}"
    );
    all_counted(&s);
    assert_eq!(
        lines.with("at shutdown"),
        [
            "otlp: not delivered at shutdown: 21 spans (shutdown deadline 21); \
          last cause: batch span processor shutdown did not finish within 300 ms"
        ]
    );
}
