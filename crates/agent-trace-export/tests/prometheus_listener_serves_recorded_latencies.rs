//! The Prometheus listener serves, over real HTTP on loopback, the buckets
//! of latencies recorded through `LatencyMetrics`: as classic text, or as
//! OpenMetrics with exemplars when the request's `Accept` asks for it.
#![cfg(feature = "prometheus")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use agent_trace_export::install_prometheus_listener;
use agent_trace_metrics::LatencyMetrics;

fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    get_accept(addr, path, None)
}

fn get_accept(addr: SocketAddr, path: &str, accept: Option<&str>) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
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
    assert!(response.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));

    // Asked the way Prometheus asks: OpenMetrics, a traced value's trace id
    // on its bucket.
    metrics
        .record_with_exemplar("llm_call", 0.4, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
        .unwrap();
    let accept = "application/openmetrics-text;version=1.0.0,\
                  application/openmetrics-text;version=0.0.1;q=0.75,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om = get_accept(addr, "/metrics", Some(accept)).expect("the listener answers");
    assert!(om.starts_with("HTTP/1.1 200"), "{om}");
    assert!(
        om.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"),
        "{om}"
    );
    assert!(
        om.contains(
            r#"agent_trace_operation_duration_seconds_bucket{operation="llm_call",le="0.5"} 3 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.4 "#
        ),
        "{om}"
    );
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    // Without that header, the classic text, exemplars left out.
    let plain = get(addr, "/metrics").expect("the listener answers");
    assert!(
        !plain.contains("trace_id") && !plain.contains("# EOF"),
        "{plain}"
    );

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
