//! `cargo xtask e2e`: the Prometheus bridge checked against the real tools.
//!
//! 1. `examples/prometheus.rs --once` renders its exposition text, which
//!    `promtool check metrics` must accept without a word.
//! 2. The example serves `/metrics` on a free loopback port, a Prometheus
//!    server of our own (loopback only, temporary data directory, 1 s
//!    scrape interval) scrapes it, and for each operation
//!    `histogram_quantile(0.95, sum by (le) (..._bucket{operation=...}))`,
//!    asked through the HTTP API, must land in the bucket that holds the
//!    example's own p95 from `LatencyMetrics`.
//!
//! Why no `rate()`: the example records once at start, so its counters do
//! not move and a rate over them is zero (and needs two scrapes). The
//! cumulative bucket counts of one scrape are the whole distribution, which
//! is what the example's p95 describes.
//!
//! 3. The Jaeger agent exporter's UDP packets, decoded by `thriftpy2` with
//!    the official Jaeger IDL (`crates/agent-trace-export/tests/jaeger/`):
//!    the tests of `jaeger_agent_packets_decode.rs` behind the test-only
//!    feature `e2e-tests`.
//! 4. The HTML report of `agent-trace report` in a real headless Chromium,
//!    driven through `chromedriver`: the test (feature `e2e-tests`) in
//!    `crates/agent-trace-cli/tests/report_renders_in_chromium.rs` (it
//!    saves a screenshot as `target/tmp/report-e2e/report.png`).
//!
//! 5. Exemplars: `examples/prometheus_exemplars.rs` records span durations
//!    with their trace ids (through `agent_trace::init`'s latency
//!    processor) and serves them through the export crate's listener. Asked
//!    without `Accept`, it answers the classic text, which `promtool check
//!    metrics` must accept without a word; asked with Prometheus's own
//!    `Accept` header, it answers OpenMetrics, which the strict parser of
//!    the Python `prometheus_client` must read, finding the example's
//!    slowest trace as the exemplar of its bucket. (promtool 2.42 reads the
//!    classic format only.) Then a Prometheus server started with
//!    `--enable-feature=exemplar-storage` scrapes it, and
//!    `/api/v1/query_exemplars` must return that trace id.
//!
//! Needs `promtool` and `prometheus` on the `PATH`, `.venv-e2e` with
//! `thriftpy2` and `prometheus-client`, and `chromium` and `chromedriver`
//! (`scripts/install-e2e-deps.sh` installs them all). Every process it
//! starts is killed when it returns, also on failure.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::tidy::workspace_root;

/// The example's histogram bucket bounds (`DURATION_BUCKETS`), with the
/// implicit lower bound 0.
const BOUNDS: &[f64] = &[
    0.0, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0, 120.0,
];

/// The relative accuracy of `LatencyMetrics` quantiles in the example (the
/// default): the exact p95 may sit this much either side of the reported one.
const RELATIVE_ACCURACY: f64 = 0.01;

/// How long to wait for a server to come up or for the first scrape.
const DEADLINE: Duration = Duration::from_secs(60);

/// A child process that is killed (and reaped) when dropped.
struct Killed {
    name: &'static str,
    child: Child,
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("e2e: stopped {} (pid {})", self.name, self.child.id());
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn run() -> Result<(), String> {
    for tool in ["promtool", "prometheus"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Err(format!(
                "`{tool}` not found; run scripts/install-e2e-deps.sh (Debian package `prometheus`)"
            ));
        }
    }
    let example = build_example()?;

    // 1. promtool on the rendered text.
    let once = Command::new(&example)
        .arg("--once")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", example.display()))?;
    if !once.status.success() {
        return Err(format!(
            "example --once failed: {}",
            String::from_utf8_lossy(&once.stderr)
        ));
    }
    let ours = parse_p95(&String::from_utf8_lossy(&once.stderr))?;
    promtool_check(&once.stdout)?;

    // 2. A real Prometheus scraping the served example.
    let example_addr = free_loopback_port()?;
    let _example = spawn(
        "example",
        Command::new(&example).arg(example_addr.to_string()),
    )?;
    wait_until(&format!("example on {example_addr}"), || {
        http_get(example_addr, "/metrics").is_ok()
    })?;

    let (dir, prom_addr, prometheus) = start_prometheus(
        "prometheus",
        "agent-trace-e2e",
        "  evaluation_interval: 1s\n",
        "agent-trace-example",
        example_addr,
        &[],
    )?;

    let result = compare(prom_addr, &ours);
    stop_prometheus(dir, prometheus, result)?;
    exemplars()?;
    jaeger_packets()?;
    report_in_chromium()
}

/// Step 3: the Jaeger agent packets against `thriftpy2` (the tests behind the
/// test-only feature `e2e-tests`).
fn jaeger_packets() -> Result<(), String> {
    crate::cargo(&[
        "test",
        "-p",
        "agent-trace-export",
        "--features",
        "jaeger,e2e-tests",
        "--test",
        "jaeger_agent_packets_decode",
    ])
}

/// Step 4: the HTML report in headless Chromium (the test behind the test-only
/// feature `e2e-tests`).
fn report_in_chromium() -> Result<(), String> {
    for tool in ["chromium", "chromedriver"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Err(format!(
                "`{tool}` not found; run scripts/install-e2e-deps.sh chromium \
                 (Debian packages `chromium` and `chromium-driver`)"
            ));
        }
    }
    crate::cargo(&[
        "test",
        "-p",
        "agent-trace-cli",
        "--features",
        "e2e-tests",
        "--test",
        "report_renders_in_chromium",
    ])
}

/// Builds the example and returns its executable.
fn build_example() -> Result<PathBuf, String> {
    build_named_example("prometheus")
}

/// Builds `examples/NAME.rs` and returns its executable.
fn build_named_example(name: &str) -> Result<PathBuf, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--package",
            "agent-trace-examples",
            "--example",
            name,
            "--message-format=json",
        ])
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building examples/{name}.rs failed"));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo reported no executable for the {name} example"))
}

/// The `p95 operation=NAME seconds=VALUE count=N` lines of the example.
fn parse_p95(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("p95 ")) {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        };
        let (Some(op), Some(secs)) = (field("operation"), field("seconds")) else {
            return Err(format!("cannot parse {line:?}"));
        };
        let secs: f64 = secs.parse().map_err(|e| format!("{line:?}: {e}"))?;
        out.push((op.to_owned(), secs));
    }
    if out.is_empty() {
        return Err(format!("the example printed no p95 line:\n{text}"));
    }
    Ok(out)
}

fn promtool_check(exposition: &[u8]) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run promtool: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("promtool stdin")?
        .write_all(exposition)
        .map_err(|e| format!("writing to promtool: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "e2e: promtool check metrics: {} ({} bytes checked){}",
        out.status,
        exposition.len(),
        if said.trim().is_empty() {
            ", no warnings".to_owned()
        } else {
            format!(":\n{said}")
        }
    );
    if !out.status.success() || !said.trim().is_empty() {
        return Err("promtool check metrics reported problems".into());
    }
    Ok(())
}

/// For each operation, Prometheus's p95 from the scraped buckets against
/// ours.
fn compare(prom: SocketAddr, ours: &[(String, f64)]) -> Result<(), String> {
    let mut failures = Vec::new();
    for (operation, p95) in ours {
        let query = format!(
            "histogram_quantile(0.95, sum by (le) \
             (agent_trace_operation_duration_seconds_bucket{{operation=\"{operation}\"}}))"
        );
        let mut theirs = None;
        wait_until(
            &format!("prometheus on {prom} to have scraped {operation}"),
            || {
                theirs = query_scalar(prom, &query).ok().flatten();
                theirs.is_some()
            },
        )?;
        let theirs = theirs.unwrap_or(f64::NAN);
        // The bucket(s) our p95 may fall in, given the sketch's accuracy.
        let lo = BOUNDS
            .iter()
            .copied()
            .filter(|b| *b <= p95 * (1.0 - RELATIVE_ACCURACY))
            .fold(0.0, f64::max);
        let hi = BOUNDS
            .iter()
            .copied()
            .find(|b| *b >= p95 * (1.0 + RELATIVE_ACCURACY))
            .unwrap_or(f64::INFINITY);
        let ok = (lo..=hi).contains(&theirs);
        eprintln!(
            "e2e: {operation:<14} ours p95 = {p95:>10.6} s  prometheus = {theirs:>10.6} s  \
             bucket ({lo}, {hi}]  {}",
            if ok { "ok" } else { "MISMATCH" }
        );
        eprintln!("e2e:   query: {query}");
        if !ok {
            failures.push(operation.clone());
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "prometheus's p95 is outside our p95's bucket for {}",
            failures.join(", ")
        ))
    }
}

/// An instant query's single value; `None` while the result is empty or
/// NaN (nothing scraped yet).
fn query_scalar(prom: SocketAddr, query: &str) -> Result<Option<f64>, String> {
    let body = http_get(prom, &format!("/api/v1/query?query={}", encode(query)))?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if json["status"] != "success" {
        return Err(format!("query failed: {body}"));
    }
    let value = json["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok());
    Ok(value.filter(|v| v.is_finite()))
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A plain HTTP/1.0 GET; the body of a 200 response.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    http_get_accept(addr, path, None).map(|(_, body)| body)
}

/// A plain HTTP/1.0 GET with an optional `Accept` header; the head and
/// the body of a 200 response.
fn http_get_accept(
    addr: SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> Result<(String, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{accept}\r\n"
    )
    .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed response from {addr}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "GET {path}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    Ok((head.to_owned(), body.to_owned()))
}

/// What Prometheus 2.x sends as `Accept` when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Reads an OpenMetrics exposition on stdin with `prometheus_client`'s
/// strict parser (which raises on anything malformed) and prints every
/// exemplar it found as JSON.
const OPENMETRICS_CHECK: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
found = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        if s.exemplar is not None:
            found.append({"type": family.type, "sample": s.name, "labels": s.labels,
                          "exemplar": s.exemplar.labels, "value": s.exemplar.value})
print(json.dumps(found))
"#;

/// Step 5: exemplars, from the example to a real Prometheus (see the
/// module docs).
fn exemplars() -> Result<(), String> {
    let python = workspace_root().join(".venv-e2e/bin/python");
    if !python.exists() {
        return Err(format!(
            "{} not found; run scripts/install-e2e-deps.sh python",
            python.display()
        ));
    }
    let example = build_named_example("prometheus_exemplars")?;
    let addr = free_loopback_port()?;
    let mut child = Command::new(&example)
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", example.display()))?;
    eprintln!("e2e: started exemplars example (pid {})", child.id());
    let stderr = child.stderr.take().ok_or("example stderr")?;
    let _example = Killed {
        name: "exemplars example",
        child,
    };
    let trace_id = exemplar_line(stderr)?;
    wait_until(&format!("exemplars example on {addr}"), || {
        http_get(addr, "/metrics").is_ok()
    })?;

    let (_, classic) = http_get_accept(addr, "/metrics", None)?;
    promtool_check(classic.as_bytes())?;
    let (head, openmetrics) = http_get_accept(addr, "/metrics", Some(PROMETHEUS_ACCEPT))?;
    if !head
        .to_ascii_lowercase()
        .contains("content-type: application/openmetrics-text; version=1.0.0")
    {
        return Err(format!("asked for OpenMetrics, got:\n{head}"));
    }
    check_openmetrics(&python, &openmetrics, &trace_id)?;

    let (dir, prom_addr, prometheus) = start_prometheus(
        "prometheus (exemplar storage)",
        "agent-trace-e2e-exemplars",
        "",
        "agent-trace-exemplars",
        addr,
        &["--enable-feature=exemplar-storage"],
    )?;
    let query = "agent_trace_operation_duration_seconds_bucket{operation=\"llm_call\",le=\"120\"}";
    let mut stored = Vec::new();
    let result = wait_until(
        &format!("prometheus on {prom_addr} to store the exemplar of trace {trace_id}"),
        || {
            stored = query_exemplars(prom_addr, query).unwrap_or_default();
            stored.contains(&trace_id)
        },
    );
    eprintln!("e2e: query_exemplars {query}: {stored:?} (expected {trace_id})");
    stop_prometheus(dir, prometheus, result)
}

/// Reads the example's stderr (echoing it) until its
/// `exemplar operation=llm_call le=120 trace_id=HEX seconds=V` line, and
/// returns the trace id; the rest is echoed on a thread of its own, so that
/// the pipe never fills.
fn exemplar_line(stderr: std::process::ChildStderr) -> Result<String, String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("e2e: example: {line}");
            if let Some(id) = parse_exemplar_line(&line) {
                let _ = tx.send(id);
            }
        }
    });
    rx.recv_timeout(DEADLINE)
        .map_err(|_| "the exemplars example printed no exemplar line".to_owned())
}

/// The trace id of an `exemplar operation=llm_call le=120 trace_id=...` line.
fn parse_exemplar_line(line: &str) -> Option<String> {
    let rest = line.strip_prefix("exemplar operation=llm_call le=120 ")?;
    let id = rest
        .split_whitespace()
        .find_map(|w| w.strip_prefix("trace_id="))?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// Parses `exposition` with `prometheus_client`'s OpenMetrics parser and
/// finds the example's trace as the exemplar of its (60 s, 120 s] bucket.
fn check_openmetrics(
    python: &std::path::Path,
    exposition: &str,
    trace_id: &str,
) -> Result<(), String> {
    let mut child = Command::new(python)
        .args(["-c", OPENMETRICS_CHECK])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    child
        .stdin
        .take()
        .ok_or("python stdin")?
        .write_all(exposition.as_bytes())
        .map_err(|e| format!("writing to python: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("python: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "prometheus_client refused the OpenMetrics exposition: {}\n{exposition}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let found: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("python output: {e}"))?;
    let all = found.as_array().cloned().unwrap_or_default();
    let ours = all.iter().any(|e| {
        e["type"] == "histogram"
            && e["sample"] == "agent_trace_operation_duration_seconds_bucket"
            && e["labels"]["operation"] == "llm_call"
            && e["labels"]["le"]
                .as_str()
                .and_then(|le| le.parse::<f64>().ok())
                == Some(120.0)
            && e["exemplar"]["trace_id"] == trace_id
            // The span the latency was measured on, beside its trace.
            && e["exemplar"]["span_id"]
                .as_str()
                .is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            && e["value"].as_f64() == Some(75.0)
    });
    eprintln!(
        "e2e: prometheus_client parsed the OpenMetrics exposition ({} bytes, {} exemplars); \
         trace {trace_id} on llm_call le=120: {}",
        exposition.len(),
        all.len(),
        if ours { "found" } else { "MISSING" }
    );
    if ours {
        Ok(())
    } else {
        Err(format!(
            "no exemplar of trace {trace_id} (with a span id) on llm_call's le=120 bucket"
        ))
    }
}

/// The trace ids of the exemplars Prometheus stored for `query` over the
/// last and next hour.
fn query_exemplars(prom: SocketAddr, query: &str) -> Result<Vec<String>, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        encode(query),
        now.saturating_sub(3600),
        now + 3600
    );
    let body = http_get(prom, &path)?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if json["status"] != "success" {
        return Err(format!("query_exemplars failed: {body}"));
    }
    Ok(json["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
        .collect())
}

/// Starts a Prometheus server on a free loopback port, with its data and
/// log in a fresh temporary directory, scraping `target` every second as
/// `job` (`global_extra`, whole indented lines, goes into the `global:`
/// block; `args` onto the command line). Returns the directory (removed on
/// drop), the server's address and the server (killed on drop).
fn start_prometheus(
    name: &'static str,
    dir_prefix: &str,
    global_extra: &str,
    job: &str,
    target: SocketAddr,
    args: &[&str],
) -> Result<(TempDir, SocketAddr, Killed), String> {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "{dir_prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )));
    std::fs::create_dir_all(dir.0.join("data")).map_err(|e| format!("temp dir: {e}"))?;
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n{global_extra}\
             scrape_configs:\n  - job_name: {job}\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    )
    .map_err(|e| format!("writing {}: {e}", config.display()))?;
    let prom_addr = free_loopback_port()?;
    let log = std::fs::File::create(dir.0.join("prometheus.log"))
        .map_err(|e| format!("prometheus log: {e}"))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("prometheus log: {e}"))?;
    let prometheus = spawn(
        name,
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .args(args)
            .stdout(log)
            .stderr(log_err),
    )?;
    Ok((dir, prom_addr, prometheus))
}

/// Stops a server of [`start_prometheus`] before its directory goes, and
/// passes `result` on, printing the end of the server's log first when it
/// is an error.
fn stop_prometheus<T>(
    dir: TempDir,
    prometheus: Killed,
    result: Result<T, String>,
) -> Result<T, String> {
    if result.is_err() {
        let log = std::fs::read_to_string(dir.0.join("prometheus.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!("e2e: last prometheus log lines:");
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    drop(prometheus);
    drop(dir);
    result
}

fn free_loopback_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("no free loopback port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

fn spawn(name: &'static str, command: &mut Command) -> Result<Killed, String> {
    let child = command
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    eprintln!("e2e: started {name} (pid {})", child.id());
    Ok(Killed { name, child })
}

/// Polls `ready` every 200 ms until it holds or [`DEADLINE`] passes.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > DEADLINE {
            return Err(format!("timed out after {DEADLINE:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn p95_lines_parse() {
        let ours = super::parse_p95(
            "serving\np95 operation=llm_call seconds=8.080441 count=300\n\
             p95 operation=tool_call seconds=5.1 count=2\n",
        )
        .unwrap();
        assert_eq!(
            ours,
            [
                ("llm_call".to_owned(), 8.080441),
                ("tool_call".to_owned(), 5.1)
            ]
        );
        assert!(super::parse_p95("nothing").is_err());
    }

    #[test]
    fn exemplar_lines_parse() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            super::parse_exemplar_line(&format!(
                "exemplar operation=llm_call le=120 trace_id={id} seconds=75"
            )),
            Some(id.to_owned())
        );
        assert_eq!(
            super::parse_exemplar_line("exemplar operation=llm_call le=120 trace_id=xyz"),
            None
        );
        assert_eq!(super::parse_exemplar_line("serving"), None);
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            super::encode("a{b=\"c\"} (0.95)"),
            "a%7Bb%3D%22c%22%7D%20%280.95%29"
        );
    }
}
