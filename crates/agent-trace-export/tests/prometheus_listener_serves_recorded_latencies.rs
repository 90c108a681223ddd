//! The Prometheus listener serves, over real HTTP on loopback, the buckets
//! of latencies recorded through `LatencyMetrics`.
#![cfg(feature = "prometheus")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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
    let addr =
        install_prometheus_listener("127.0.0.1:0".parse().unwrap()).expect("listener installs");

    let metrics = LatencyMetrics::new();
    for x in [0.2, 0.3, 3.0] {
        metrics.record("llm_call", x).unwrap();
    }

    // The socket is bound before the call returns, so the connection is
    // accepted (queued) even before the serving thread runs.
    let response = get(addr, "/metrics").expect("the listener answers");
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

    // Not a GET: refused, and the listener keeps serving.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut refused = String::new();
    stream.read_to_string(&mut refused).unwrap();
    assert!(refused.starts_with("HTTP/1.1 405"), "{refused}");

    // An address in use is a typed bind error; a second global recorder is
    // refused with a typed error too.
    assert!(matches!(
        install_prometheus_listener(addr),
        Err(agent_trace_export::ExportError::Bind { .. })
    ));
    assert!(matches!(
        install_prometheus_listener("127.0.0.1:0".parse().unwrap()),
        Err(agent_trace_export::ExportError::Prometheus(
            agent_trace_metrics::MetricsError::RecorderAlreadyInstalled
        ))
    ));
}
