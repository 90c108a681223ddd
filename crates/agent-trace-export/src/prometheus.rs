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
//!
//! # Which format
//!
//! A scrape whose `Accept` header asks for `application/openmetrics-text`
//! (as Prometheus does) gets OpenMetrics 1.0.0, with exemplars (trace ids)
//! on the latency histograms' bucket lines; any other gets the classic text
//! format 0.0.4, unchanged. The choice is
//! [`ExpositionFormat::from_accept`]'s.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use agent_trace_metrics::{ExpositionFormat, PrometheusHandle};

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
/// 0). The text is OpenMetrics, with exemplars, when the request's `Accept`
/// header asks for it, the classic text format otherwise (see the module
/// docs).
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
    listen(addr, agent_trace_metrics::install_prometheus_recorder)
}

/// [`install_prometheus_listener`] with a second `metrics` recorder beside
/// ours (both receive every metric recorded through the facade: see
/// [`agent_trace_metrics::install_prometheus_recorder_beside`]), as
/// `init()` does when metrics are both served and pushed over OTLP.
///
/// # Errors
///
/// As [`install_prometheus_listener`].
pub fn install_prometheus_listener_beside(
    addr: SocketAddr,
    other: impl metrics::Recorder + Send + Sync + 'static,
) -> Result<SocketAddr, ExportError> {
    listen(addr, || {
        agent_trace_metrics::install_prometheus_recorder_beside(other)
    })
}

/// Binds `addr`, installs the recorder, and serves its handle.
fn listen(
    addr: SocketAddr,
    install: impl FnOnce() -> Result<PrometheusHandle, agent_trace_metrics::MetricsError>,
) -> Result<SocketAddr, ExportError> {
    let listener = TcpListener::bind(addr).map_err(|cause| ExportError::Bind { addr, cause })?;
    let bound = listener
        .local_addr()
        .map_err(|cause| ExportError::Bind { addr, cause })?;
    let handle = install().map_err(ExportError::Prometheus)?;
    std::thread::Builder::new()
        .name(THREAD.into())
        .spawn(move || {
            // Serving is on the export path: nothing here is traced.
            agent_trace_core::suppress_tracing_on_this_thread();
            serve(&listener, &handle)
        })
        .map_err(|cause| ExportError::ThreadSpawn {
            thread: THREAD,
            cause,
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
                ExpositionFormat::Text,
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
    let format = ExpositionFormat::from_accept(&accept(&head));
    let body = |format| handle.render_as(format);
    match method {
        b"GET" => respond(&mut stream, "200 OK", format, &body(format), true),
        b"HEAD" => respond(&mut stream, "200 OK", format, &body(format), false),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            ExpositionFormat::Text,
            "",
            false,
        ),
    }
}

/// The values of every `Accept` header of a request head, joined with
/// commas (as repeated headers mean); empty when there is none. Bytes that
/// are not UTF-8 are replaced, which no media type we look for contains.
fn accept(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    let mut values: Vec<&str> = Vec::new();
    // The request line first, then one header per line until the blank one.
    for line in text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("accept")
        {
            values.push(value.trim());
        }
    }
    values.join(",")
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    format: ExpositionFormat,
    body: &str,
    with_body: bool,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        format.content_type(),
        body.len()
    );
    if with_body {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_are_found_whatever_their_case_and_joined() {
        let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nACCEPT: application/openmetrics-text;version=1.0.0\r\naccept: text/plain;q=0.5\r\n\r\n";
        assert_eq!(
            accept(head),
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        );
        assert_eq!(accept(b"GET / HTTP/1.0\r\n\r\n"), "");
        // A header after the blank line is body, and bad bytes are survived.
        assert_eq!(accept(b"GET / HTTP/1.1\r\n\r\nAccept: x\r\n"), "");
        assert_eq!(
            accept(b"GET / HTTP/1.1\r\nAccept: \xff\xfe\r\n\r\n"),
            "\u{fffd}\u{fffd}"
        );
    }
}
