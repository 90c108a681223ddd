//! The Prometheus listener serves, over real HTTP on loopback, the buckets
//! of latencies recorded through `LatencyMetrics`.
#![cfg(feature = "prometheus")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use agent_trace_export::install_prometheus_listener;
use agent_trace_metrics::LatencyMetrics;

fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn scraping_the_listener_returns_our_histogram() {
    // A free loopback port: bind, read it, release it for the listener.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    install_prometheus_listener(addr).expect("listener installs");

    let metrics = LatencyMetrics::new();
    for x in [0.2, 0.3, 3.0] {
        metrics.record("llm_call", x).unwrap();
    }

    // The listener starts on its own thread: retry the connection briefly
    // (bounded), rather than sleeping a fixed time and hoping.
    let mut response = Err(std::io::Error::other("not tried"));
    for _ in 0..100 {
        response = get(addr, "/metrics");
        if response.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let response = response.expect("the listener answers");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(
            r#"agent_trace_operation_duration_seconds_bucket{operation="llm_call",le="0.25"} 1"#
        ),
        "{response}"
    );
    assert!(
        response
            .contains(r#"agent_trace_operation_duration_seconds_count{operation="llm_call"} 3"#),
        "{response}"
    );
    assert!(response.contains("# HELP agent_trace_operation_duration_seconds "));

    // A second global recorder is refused with a typed error.
    let again = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(install_prometheus_listener(again).is_err());
}
