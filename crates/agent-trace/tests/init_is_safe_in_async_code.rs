//! `init()` and its guard in async programs, and the OpenTelemetry
//! variables `init()` reads, each in a process of its own (`init` sets a
//! process-wide tracer once): every test re-runs this binary with
//! `AGENT_TRACE_SCENARIO=<its name>`, the child runs the scenario (an
//! async `main`, as `#[tokio::main]` makes it), and the parent checks that
//! the child exited 0 and what it wrote to stderr (where the export
//! pipelines report) or sent to a receiver. The children get no `OTEL_*`
//! variable from the parent's environment, only the scenario's.
#![cfg(feature = "otlp-http")]

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_trace::InitError;
use agent_trace::export::{FnExporter, OtlpExporter};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// Names the scenario a child process runs.
const SCENARIO: &str = "AGENT_TRACE_SCENARIO";
/// The endpoint a child exports to, when the parent chooses it.
const ENDPOINT: &str = "AGENT_TRACE_TEST_ENDPOINT";
/// The service name a child uses, when the parent chooses it.
const SERVICE: &str = "AGENT_TRACE_TEST_SERVICE";
/// How long a child may take, at most.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// What this process is for the scenario `name`.
enum Role {
    /// A test run: start the child.
    Parent,
    /// The child for `name`: run the scenario.
    Child,
    /// The child of another scenario (never the case with `--exact`).
    Other,
}

fn role(name: &str) -> Role {
    match std::env::var(SCENARIO) {
        Ok(n) if n == name => Role::Child,
        Ok(_) => Role::Other,
        Err(_) => Role::Parent,
    }
}

/// A child's exit, output and duration.
#[derive(Debug)]
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
    /// Its working directory (removed), and whether it held an
    /// `agent-trace` directory (the default file exporter's) at exit.
    wrote_default_dir: bool,
}

impl Ran {
    /// Exited 0 after running exactly its scenario, in bounded time.
    fn assert_ok(&self) {
        assert!(self.status.success(), "child failed: {self:#?}");
        assert!(
            self.stdout.contains("1 passed"),
            "the child did not run its scenario: {self:#?}"
        );
        assert!(self.took < CHILD_DEADLINE, "{self:#?}");
    }

    /// What the child printed after `prefix`, to the end of that line
    /// (libtest's `test <name> ... ` may come before it on the line).
    fn printed(&self, prefix: &str) -> String {
        let (_, rest) = self
            .stdout
            .split_once(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} in {self:#?}"));
        format!("{prefix}{}", rest.lines().next().unwrap_or_default())
    }

    /// The lines the export pipelines wrote to stderr.
    fn reports(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("agent-trace: "))
            .collect()
    }
}

/// Runs this binary's test `name` in a child process with `AGENT_TRACE_SCENARIO=name`,
/// no inherited `OTEL_*` variable and `env` set, in an empty working
/// directory of its own; kills it after [`CHILD_DEADLINE`].
fn run_child(name: &str, env: &[(&str, &str)]) -> Ran {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "agent-trace-init-in-async-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove(ENDPOINT)
        .env_remove(SERVICE)
        .env(SCENARIO, name);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name}: the child ran over {CHILD_DEADLINE:?}; stderr: {}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let wrote_default_dir = dir.join("agent-trace").exists();
    let _ = std::fs::remove_dir_all(&dir);
    Ran {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took,
        wrote_default_dir,
    }
}

/// A loopback HTTP endpoint where nothing listens.
fn refused_endpoint() -> String {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{addr}/v1/traces")
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

// ---- a, b, c: the guard dropped in async code -------------------------------

/// In the child: `init()` with an OTLP/HTTP exporter to where nothing
/// listens, one span, and the guard dropped here (or in a spawned task).
async fn export_to_nowhere_and_drop_the_guard(in_a_task: bool) {
    let exporter = OtlpExporter::builder()
        .endpoint(var(ENDPOINT))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let guard = agent_trace::init()
        .service_name("init-in-async")
        .exporter(exporter)
        .shutdown_timeout(Duration::from_secs(2))
        .install()
        .unwrap();
    agent_trace::tracer().start_trace("agent_task").end();
    let started = Instant::now();
    if in_a_task {
        tokio::spawn(async move { drop(guard) }).await.unwrap();
    } else {
        drop(guard);
    }
    let took = started.elapsed();
    // Within the shutdown timeout (2 s), with a margin.
    assert!(
        took < Duration::from_secs(3),
        "the guard's drop took {took:?}"
    );
}

/// In the parent: the child's shutdown report names the endpoint and the
/// cause, and counts the span.
fn assert_reported_undelivered(ran: &Ran, endpoint: &str) {
    ran.assert_ok();
    let reports = ran.reports();
    let cannot_reach = format!("otlp: cannot reach {endpoint}: ");
    assert!(
        reports
            .iter()
            .any(|l| l.starts_with(&format!("agent-trace: export failing: {cannot_reach}"))),
        "{reports:#?}"
    );
    let undelivered: Vec<_> = reports
        .iter()
        .filter(|l| l.contains("not delivered at shutdown"))
        .collect();
    assert_eq!(undelivered.len(), 1, "{reports:#?}");
    assert!(
        undelivered[0].starts_with(&format!(
            "agent-trace: otlp: not delivered at shutdown: 1 span (export failed 1); \
             last cause: {cannot_reach}"
        )),
        "{}",
        undelivered[0]
    );
    assert!(
        undelivered[0].contains("Connection refused"),
        "{}",
        undelivered[0]
    );
}

#[test]
fn a_guard_dropped_in_a_multi_thread_async_main_reports_and_exits_cleanly() {
    const NAME: &str = "a_guard_dropped_in_a_multi_thread_async_main_reports_and_exits_cleanly";
    #[tokio::main]
    async fn main() {
        export_to_nowhere_and_drop_the_guard(false).await;
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let endpoint = refused_endpoint();
            let ran = run_child(NAME, &[(ENDPOINT, &endpoint)]);
            assert_reported_undelivered(&ran, &endpoint);
        }
    }
}

#[test]
fn a_guard_dropped_in_a_current_thread_async_main_reports_and_exits_cleanly() {
    const NAME: &str = "a_guard_dropped_in_a_current_thread_async_main_reports_and_exits_cleanly";
    #[tokio::main(flavor = "current_thread")]
    async fn main() {
        export_to_nowhere_and_drop_the_guard(false).await;
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let endpoint = refused_endpoint();
            let ran = run_child(NAME, &[(ENDPOINT, &endpoint)]);
            assert_reported_undelivered(&ran, &endpoint);
        }
    }
}

#[test]
fn a_guard_dropped_in_a_spawned_task_reports_and_exits_cleanly() {
    const NAME: &str = "a_guard_dropped_in_a_spawned_task_reports_and_exits_cleanly";
    #[tokio::main]
    async fn main() {
        export_to_nowhere_and_drop_the_guard(true).await;
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let endpoint = refused_endpoint();
            let ran = run_child(NAME, &[(ENDPOINT, &endpoint)]);
            assert_reported_undelivered(&ran, &endpoint);
        }
    }
}

// ---- d, e: errors from init in async code ------------------------------------

#[test]
fn an_unknown_exporter_name_is_an_error_in_async_main() {
    const NAME: &str = "an_unknown_exporter_name_is_an_error_in_async_main";
    #[tokio::main]
    async fn main() {
        // `otlp` is built (its runtime with it), then `bogus` fails: the
        // OTLP exporter is dropped here, in async code.
        let err = agent_trace::init().install().unwrap_err();
        assert!(matches!(err, InitError::Export(_)), "{err:?}");
        println!("init error: {err}");
        // Nothing global changed: a later `init` succeeds.
        let guard = agent_trace::init()
            .exporters_from_env(false)
            .file_by_default(false)
            .install()
            .expect("nothing global was set by the failed init");
        drop(guard);
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let ran = run_child(NAME, &[("OTEL_TRACES_EXPORTER", "otlp,bogus")]);
            ran.assert_ok();
            let line = ran.printed("init error: ");
            assert_eq!(
                line,
                "init error: cannot set up export: invalid exporter configuration: \
                 OTEL_TRACES_EXPORTER names unknown exporter \"bogus\" \
                 (expected otlp, zipkin, jaeger, console, file or none)"
            );
            assert!(!ran.wrote_default_dir);
        }
    }
}

#[test]
fn a_second_init_with_an_exporter_is_refused_in_async_main() {
    const NAME: &str = "a_second_init_with_an_exporter_is_refused_in_async_main";
    #[tokio::main]
    async fn main() {
        let delivered = Arc::new(AtomicUsize::new(0));
        let count = delivered.clone();
        let guard = agent_trace::init()
            .exporter(FnExporter::new("count", move |batch| {
                count.fetch_add(batch.len(), Ordering::SeqCst);
                Ok::<(), std::io::Error>(())
            }))
            .install()
            .unwrap();
        // The refused builder (and its exporter's runtime) is dropped here.
        let second = agent_trace::init()
            .exporter(
                OtlpExporter::builder()
                    .endpoint(var(ENDPOINT))
                    .build()
                    .unwrap(),
            )
            .install();
        assert!(
            matches!(second, Err(InitError::AlreadyInitialized)),
            "{second:?}"
        );
        // The first one still works.
        agent_trace::tracer().start_trace("agent_task").end();
        drop(guard);
        assert_eq!(delivered.load(Ordering::SeqCst), 1);
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let endpoint = refused_endpoint();
            let ran = run_child(NAME, &[(ENDPOINT, &endpoint)]);
            ran.assert_ok();
            // The second exporter never sent anything.
            assert_eq!(ran.reports(), Vec::<&str>::new());
        }
    }
}

// ---- f, g: OTEL_SDK_DISABLED and OTEL_TRACES_SAMPLER --------------------------

#[test]
fn otel_sdk_disabled_records_nothing() {
    const NAME: &str = "otel_sdk_disabled_records_nothing";
    #[tokio::main]
    async fn main() {
        let guard = agent_trace::init().install().unwrap();
        let span = agent_trace::tracer().start_trace("x");
        assert!(!span.is_recording());
        drop(span);
        assert!(guard.export_stats().is_empty());
        assert_eq!(guard.default_file(), None);
        drop(guard);
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let ran = run_child(NAME, &[("OTEL_SDK_DISABLED", "true")]);
            ran.assert_ok();
            assert_eq!(ran.reports(), Vec::<&str>::new());
            // Not even the default file.
            assert!(!ran.wrote_default_dir);
        }
    }
}

#[test]
fn otel_traces_sampler_always_off_records_nothing() {
    const NAME: &str = "otel_traces_sampler_always_off_records_nothing";
    #[tokio::main]
    async fn main() {
        let guard = agent_trace::init().install().unwrap();
        let span = agent_trace::tracer().start_trace("x");
        assert!(!span.is_recording());
        drop(span);
        guard.flush(Duration::from_secs(5)).unwrap();
        let summary = guard.summary();
        assert_eq!(summary.delivered(), 0, "{summary}");
        assert_eq!(summary.dropped().total(), 0, "{summary}");
        drop(guard);
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let ran = run_child(NAME, &[("OTEL_TRACES_SAMPLER", "always_off")]);
            ran.assert_ok();
            assert_eq!(ran.reports(), Vec::<&str>::new());
        }
    }
}

#[test]
fn an_unknown_otel_traces_sampler_is_an_error_naming_the_variable() {
    const NAME: &str = "an_unknown_otel_traces_sampler_is_an_error_naming_the_variable";
    #[tokio::main]
    async fn main() {
        let err = agent_trace::init().install().unwrap_err();
        assert!(matches!(err, InitError::Sampler(_)), "{err:?}");
        println!("init error: {err}");
        // Nothing global changed: with a sampler given in code (which wins
        // over the variable), `init` succeeds.
        let guard = agent_trace::init()
            .sampler(agent_trace::Sampler::AlwaysOn)
            .exporters_from_env(false)
            .file_by_default(false)
            .install()
            .expect("nothing global was set by the failed init");
        assert!(agent_trace::tracer().start_trace("x").is_recording());
        drop(guard);
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let ran = run_child(NAME, &[("OTEL_TRACES_SAMPLER", "abc")]);
            ran.assert_ok();
            let line = ran.printed("init error: ");
            assert!(
                line.starts_with(
                    "init error: invalid sampler configuration: \
                     unknown OTEL_TRACES_SAMPLER value \"abc\" (expected always_on, "
                ),
                "{line}"
            );
        }
    }
}

// ---- h: the OTLP endpoint alone selects OTLP -----------------------------------

/// Every request an OTLP/HTTP receiver got: path, content type, body.
type Requests = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A receiver that answers 200 to any POST and keeps it.
fn otlp_receiver() -> (tokio::runtime::Runtime, SocketAddr, Requests) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Requests::default();
    let keep = requests.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let keep = keep.clone();
        async move {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            keep.lock()
                .unwrap()
                .push((uri.path().to_owned(), content_type, body.to_vec()));
            StatusCode::OK
        }
    });
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, addr, requests)
}

#[test]
fn the_otlp_endpoint_alone_selects_otlp_to_its_v1_traces() {
    const NAME: &str = "the_otlp_endpoint_alone_selects_otlp_to_its_v1_traces";
    #[tokio::main]
    async fn main() {
        let guard = agent_trace::init()
            .service_name(var(SERVICE))
            .install()
            .unwrap();
        // OTLP, not the default file.
        assert_eq!(guard.default_file(), None);
        let names: Vec<_> = guard.export_stats().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["otlp"]);
        let tracer = agent_trace::tracer();
        let task = tracer.start_trace("agent_task");
        tracer.span_builder("llm_call").parent(&task).start().end();
        tracer.span_builder("tool_call").parent(&task).start().end();
        task.end();
        drop(guard);
    }
    match role(NAME) {
        Role::Child => main(),
        Role::Other => {}
        Role::Parent => {
            let (_rt, addr, requests) = otlp_receiver();
            // A base URL, with and without a trailing slash.
            for (base, service) in [
                (format!("http://{addr}"), "endpoint-alone"),
                (format!("http://{addr}/"), "endpoint-alone-slash"),
            ] {
                let ran = run_child(
                    NAME,
                    &[("OTEL_EXPORTER_OTLP_ENDPOINT", &base), (SERVICE, service)],
                );
                ran.assert_ok();
                assert_eq!(ran.reports(), Vec::<&str>::new());
                assert!(!ran.wrote_default_dir);
                // Every request of this child reached /v1/traces as
                // protobuf, and carried its three spans.
                let got = std::mem::take(&mut *requests.lock().unwrap());
                assert!(!got.is_empty(), "{base}: nothing received");
                // The endpoint is every signal's: the metrics are pushed to
                // its /v1/metrics at shutdown (the specification's default
                // exporter is OTLP for metrics too).
                assert!(
                    got.iter().any(|(path, _, _)| path == "/v1/metrics"),
                    "{base}: no metrics push"
                );
                let mut spans = Vec::new();
                for (path, content_type, body) in &got {
                    if path == "/v1/metrics" {
                        continue;
                    }
                    assert_eq!(path, "/v1/traces", "{base}");
                    assert_eq!(content_type, "application/x-protobuf", "{base}");
                    let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
                    for rs in &request.resource_spans {
                        let name = rs
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|kv| kv.key == "service.name")
                            .and_then(|kv| kv.value.as_ref())
                            .and_then(|v| v.value.clone());
                        assert_eq!(
                            name,
                            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                                service.to_owned()
                            ))
                        );
                        for ss in &rs.scope_spans {
                            spans.extend(ss.spans.iter().map(|s| s.name.clone()));
                        }
                    }
                }
                spans.sort();
                assert_eq!(spans, ["agent_task", "llm_call", "tool_call"], "{base}");
            }
        }
    }
}
