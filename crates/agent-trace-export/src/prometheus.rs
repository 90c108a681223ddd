//! The Prometheus `/metrics` listener: a small HTTP/1.1 responder on a
//! thread of its own.
//!
//! # Why not a web framework
//!
//! Prometheus asks one question, `GET /metrics`, a few times a minute. A
//! blocking accept loop over `std::net` answers it with no runtime and no
//! dependency, and reports a bind failure to the caller synchronously.
//! Connections are served one at a time with 5 s read and write timeouts,
//! so a stalled client delays a scrape by at most that long and never
//! touches the application's threads.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use agent_trace_metrics::PrometheusHandle;

use crate::ExportError;

/// The thread that serves `/metrics`.
const THREAD: &str = "agent-trace-prometheus-listener";
/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read; longer requests are refused.
const MAX_REQUEST: usize = 8 * 1024;

/// Installs the Prometheus recorder of `agent-trace-metrics` (bucket
/// histograms with our boundaries) as the global `metrics` recorder, serves
/// the exposition text over HTTP on `addr` (`GET` or `HEAD` on any path,
/// `/metrics` included), and returns the address bound (useful with port
/// 0).
///
/// Every scrape first publishes the values held by every `LatencyMetrics`,
/// so it sees everything recorded before it. Call this at start-up, before
/// the [`LatencyMetrics`](agent_trace_metrics::LatencyMetrics) series it
/// should see are created.
///
/// To serve the text from your own HTTP server instead, use
/// `agent_trace_metrics::install_prometheus_recorder` and render its handle.
///
/// # Errors
///
/// [`ExportError::Bind`] when the address cannot be bound,
/// [`ExportError::Prometheus`] when a global recorder is already installed,
/// [`ExportError::ThreadSpawn`] when the serving thread cannot start.
pub fn install_prometheus_listener(addr: SocketAddr) -> Result<SocketAddr, ExportError> {
    let listener = TcpListener::bind(addr).map_err(|source| ExportError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ExportError::Bind { addr, source })?;
    let handle =
        agent_trace_metrics::install_prometheus_recorder().map_err(ExportError::Prometheus)?;
    std::thread::Builder::new()
        .name(THREAD.into())
        .spawn(move || serve(&listener, &handle))
        .map_err(|source| ExportError::ThreadSpawn {
            thread: THREAD,
            source,
        })?;
    Ok(bound)
}

fn serve(listener: &TcpListener, handle: &PrometheusHandle) {
    for stream in listener.incoming() {
        match stream {
            // A client that misbehaves or goes away concerns its own
            // connection only.
            Ok(stream) => {
                let _ = answer(stream, handle);
            }
            // A failed accept (a client that gave up, a file-descriptor
            // limit): pause briefly so that a persistent error does not
            // spin a core, then keep serving.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads one request head and answers it, then closes the connection.
fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "",
                false,
            );
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let method = line.split(|&b| b == b' ').next().unwrap_or_default();
    match method {
        b"GET" => respond(&mut stream, "200 OK", &handle.render(), true),
        b"HEAD" => respond(&mut stream, "200 OK", &handle.render(), false),
        _ => respond(&mut stream, "405 Method Not Allowed", "", false),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str, with_body: bool) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if with_body {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}
