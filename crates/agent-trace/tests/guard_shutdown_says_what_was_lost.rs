//! `guard.shutdown()?`, the natural last line of an async `main`: with a
//! collector down it is an error that counts the undelivered span and
//! keeps the summary (its `Debug`, what `main` prints, is the message
//! and its causes); it returns within the shutdown timeout, on a Tokio
//! worker thread, without panicking. (One test: `init()` installs the
//! process's global tracer once.)
#![cfg(feature = "otlp-http")]

use std::time::{Duration, Instant};

use agent_trace::export::OtlpExporter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_the_collector_down_is_an_error_counting_the_lost_span() {
    // A loopback port where nothing listens.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = OtlpExporter::builder()
        .endpoint(format!("http://{addr}/v1/traces"))
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let guard = agent_trace::init()
        .service_name("shutdown-test")
        .exporter(exporter)
        .exporters_from_env(false)
        .shutdown_timeout(Duration::from_secs(2))
        .install()
        .unwrap();
    agent_trace::tracer().start_trace("agent_task").end();

    let started = Instant::now();
    let err = guard.shutdown().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.summary.spans.traces, 1);
    assert_eq!(err.summary.delivered(), 0);
    assert_eq!(err.summary.dropped().total(), 1);
    assert_eq!(
        err.to_string(),
        "tracing shut down with 1 span (export failed 1) not delivered"
    );
    // What `main` prints when it returns the error: the message and its
    // causes, not a wall of counters.
    let debug = format!("{err:?}");
    assert!(
        debug.starts_with(
            "tracing shut down with 1 span (export failed 1) not delivered\n\nCaused by:\n    "
        ),
        "{debug}"
    );
    assert!(
        debug.contains(&addr.to_string()),
        "names the endpoint: {debug}"
    );
    assert!(!debug.contains("BatchStats"), "{debug}");
    assert!(format!("{err:#?}").contains("summary"));
}
