//! `init().shutdown_on_signals(true)`: a SIGTERM one moment after the last
//! span still delivers every span to a real OTLP/HTTP receiver, and the
//! process then ends as SIGTERM ends it. Without the opt-in, the same
//! SIGTERM loses the queued spans (the behaviour the opt-in exists for).
//! Each case runs in a child process (this test binary, re-executed),
//! since `init` is once per process and the child is killed.
#![cfg(all(unix, feature = "otlp-http"))]

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

const CHILD: &str = "AGENT_TRACE_SIGNAL_CHILD";
const SPANS: usize = 25;

/// In the child: spans queued for a minute's scheduled delay, then a wait
/// to be killed.
fn child(endpoint: &str, on_signals: bool) {
    let _guard = agent_trace::init()
        .exporter(
            agent_trace::export::OtlpExporter::builder()
                .endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .batch(
            agent_trace::export::BatchConfig::default()
                .with_scheduled_delay(Duration::from_secs(60)),
        )
        .shutdown_on_signals(on_signals)
        .install()
        .unwrap();
    for _ in 0..SPANS {
        agent_trace::tracer().start_trace("agent_step").end();
    }
    println!("\nchild-ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the child, SIGTERMs it once it is ready, and returns the signal
/// that ended it and the spans the receiver got.
fn run(test: &str, on_signals: bool) -> (Option<i32>, usize) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = accepted.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let counted = counted.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                let n: usize = req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                counted.fetch_add(n, Ordering::SeqCst);
                ""
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("http://{addr}/v1/traces"))
        .env(
            "AGENT_TRACE_SIGNAL_OPT_IN",
            if on_signals { "1" } else { "0" },
        )
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("OTEL_TRACES_SAMPLER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // The test harness prints its own lines first.
    loop {
        let line = lines
            .next()
            .expect("the child ended before it was ready")
            .unwrap();
        if line == "child-ready" {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the child did not end");
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.signal(), accepted.load(Ordering::SeqCst))
}

#[test]
fn sigterm_delivers_every_queued_span_when_asked() {
    if let Ok(endpoint) = std::env::var(CHILD) {
        return child(
            &endpoint,
            std::env::var("AGENT_TRACE_SIGNAL_OPT_IN").as_deref() == Ok("1"),
        );
    }
    let (signal, delivered) = run("sigterm_delivers_every_queued_span_when_asked", true);
    assert_eq!(signal, Some(15), "ended by SIGTERM, as without the handler");
    assert_eq!(delivered, SPANS);
}

#[test]
fn without_the_opt_in_sigterm_loses_the_queued_spans() {
    if let Ok(endpoint) = std::env::var(CHILD) {
        return child(
            &endpoint,
            std::env::var("AGENT_TRACE_SIGNAL_OPT_IN").as_deref() == Ok("1"),
        );
    }
    let (signal, delivered) = run("without_the_opt_in_sigterm_loses_the_queued_spans", false);
    assert_eq!(signal, Some(15));
    assert_eq!(delivered, 0);
}
