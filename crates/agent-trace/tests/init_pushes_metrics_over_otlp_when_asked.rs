//! `OTEL_METRICS_EXPORTER` read by `init()`: `otlp` pushes the latencies,
//! the tracer's own metrics and the GenAI metrics to the endpoint of
//! `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, a last time when the guard drops
//! (a short-lived program whose interval never came); an unknown name is a
//! typed error that names it, as for `OTEL_TRACES_EXPORTER`. Each case runs
//! in a child process, since the variables and the globals are the
//! process's.
#![cfg(feature = "otlp-http")]

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message as _;

const CHILD: &str = "AGENT_TRACE_METRICS_ENV_CHILD";

/// Runs `case` in a child with `env`; its stdout and stderr.
fn run(case: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, case);
    for var in [
        "OTEL_METRICS_EXPORTER",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_SDK_DISABLED",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child {case}:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The child's side.
#[test]
fn child() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    match agent_trace::init().install() {
        Err(e) => println!("\nerror={e}"),
        Ok(guard) => {
            if !["push", "push_and_serve", "flush"].contains(&case.as_str()) {
                // Accepted (`prometheus` with the feature compiled in).
                println!("\nerror=none");
                return;
            }
            guard.tracer().start_trace("agent_task").end();
            let mut call = agent_trace::genai::chat(guard.tracer(), "openai", "gpt-4o").start();
            call.record_usage(120, 30);
            call.end();
            if case == "push_and_serve" {
                // The same GenAI metrics on this process's own /metrics.
                let port = std::env::var("OTEL_EXPORTER_PROMETHEUS_PORT").unwrap();
                let text = scrape(&format!("127.0.0.1:{port}"));
                for name in ["gen_ai_client_token_usage", "agent_trace_spans_total"] {
                    println!("\nserved {name}={}", text.contains(name));
                }
            }
            if case == "flush" {
                // A push now, of what was recorded so far.
                guard.flush(std::time::Duration::from_secs(5)).unwrap();
                println!("\nflushed");
            }
            // The guard's drop: the last push.
            drop(guard);
            println!("\nerror=none");
        }
    }
}

/// The text of `GET /metrics` at `addr`.
fn scrape(addr: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// `otlp,prometheus`: one process, one global `metrics` recorder, and the
/// GenAI metrics still reach both (a fan-out of the two recorders).
#[cfg(feature = "prometheus")]
#[test]
fn otlp_and_prometheus_together_each_get_the_genai_metrics() {
    let (_rt, addr, got) = receiver();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (out, err) = run(
        "push_and_serve",
        &[
            ("OTEL_METRICS_EXPORTER", "otlp,prometheus"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &format!("http://{addr}/v1/metrics"),
            ),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", &port),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
        ],
    );
    assert!(out.contains("error=none"), "{out}\n{err}");
    assert!(
        out.contains("served gen_ai_client_token_usage=true"),
        "{out}"
    );
    assert!(out.contains("served agent_trace_spans_total=true"), "{out}");
    check_push(&got.lock().unwrap());
}

/// A collector that accepts and never answers, for spans and metrics: the
/// guard's drop keeps to its shutdown timeout (5 s) in all, the span
/// pipelines and then the last metrics push sharing it (each had the whole
/// timeout, one after the other), and says what each did not deliver.
#[test]
fn shutdown_keeps_to_one_timeout_with_the_collector_silent() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = std::time::Instant::now();
    let (out, err) = run(
        "push",
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{addr}")),
            // Each request would wait far longer than the shutdown.
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
        ],
    );
    let took = started.elapsed();
    assert!(out.contains("error=none"), "{out}\n{err}");
    assert!(
        took < std::time::Duration::from_millis(7_500),
        "the child took {took:?}\n{err}"
    );
    assert!(err.contains("otlp: not delivered at shutdown: "), "{err}");
    assert!(
        err.contains(
            "otlp_metrics: the last push failed at shutdown; its values are not delivered"
        ),
        "{err}"
    );
    drop(silent);
}

/// `Guard::flush` pushes the metrics too, before the interval: then the
/// guard's drop pushes once more.
#[test]
fn the_guard_s_flush_pushes_the_metrics_recorded_so_far() {
    let (_rt, addr, got) = receiver();
    let (out, err) = run(
        "flush",
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &format!("http://{addr}/v1/metrics"),
            ),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
        ],
    );
    assert!(
        out.contains("flushed") && out.contains("error=none"),
        "{out}\n{err}"
    );
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 2, "the flush's push and the shutdown's");
    check_push(&got[..1]);
}

#[test]
fn an_unknown_metrics_exporter_is_a_typed_error_that_names_it() {
    let (out, _) = run("bad", &[("OTEL_METRICS_EXPORTER", "otlp,statsd")]);
    assert!(
        out.contains("error=cannot set up export")
            && out.contains("OTEL_METRICS_EXPORTER")
            && out.contains("\"statsd\"")
            && out.contains("otlp, prometheus or none"),
        "{out}"
    );
    let (out, _) = run(
        "bad",
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
            ),
        ],
    );
    assert!(
        out.contains("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            && out.contains("cumulative, delta or lowmemory"),
        "{out}"
    );
    let (out, _) = run(
        "bad",
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
        ],
    );
    assert!(out.contains("OTEL_METRIC_EXPORT_INTERVAL"), "{out}");
    let (out, _) = run("bad", &[("OTEL_METRICS_EXPORTER", "prometheus")]);
    if cfg!(feature = "prometheus") {
        assert!(!out.contains("needs the agent-trace feature"), "{out}");
    } else {
        assert!(
            out.contains("needs the agent-trace feature \"prometheus\""),
            "{out}"
        );
    }
}

/// A receiver of metrics pushes on `/v1/metrics`: the decoded requests.
fn receiver() -> (
    tokio::runtime::Runtime,
    std::net::SocketAddr,
    Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
) {
    let got: Arc<Mutex<Vec<ExportMetricsServiceRequest>>> = Arc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |body: Bytes| {
            let store = store.clone();
            async move {
                let request = ExportMetricsServiceRequest::decode(&body[..]).unwrap();
                store.lock().unwrap().push(request);
                (StatusCode::OK, Vec::new())
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, addr, got)
}

/// The general endpoint alone selects OTLP for metrics as for traces (the
/// specification's default exporter), and `OTEL_METRICS_EXPORTER=none`
/// turns the push off.
#[test]
fn the_general_endpoint_alone_pushes_metrics_unless_told_none() {
    let (_rt, addr, got) = receiver();
    let base = format!("http://{addr}");
    let (out, err) = run(
        "push",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
        ],
    );
    assert!(out.contains("error=none"), "{out}\n{err}");
    check_push(&got.lock().unwrap());
    got.lock().unwrap().clear();
    let (out, err) = run(
        "push",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    );
    assert!(out.contains("error=none"), "{out}\n{err}");
    assert!(got.lock().unwrap().is_empty());
}

#[test]
fn otlp_pushes_latencies_tracer_and_genai_metrics_at_shutdown() {
    let (_rt, addr, got) = receiver();
    let full = format!("http://{addr}/v1/metrics");
    let base = format!("http://{addr}");
    // The metrics endpoint as is, or the general one with `/v1/metrics`.
    for endpoint in [
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", full.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
    ] {
        got.lock().unwrap().clear();
        let (out, err) = run(
            "push",
            &[
                ("OTEL_METRICS_EXPORTER", "otlp"),
                endpoint,
                ("OTEL_TRACES_EXPORTER", "none"),
                // An hour: only the shutdown's push can deliver.
                ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
            ],
        );
        assert!(out.contains("error=none"), "{out}\n{err}");
        check_push(&got.lock().unwrap());
    }
}

fn check_push(got: &[ExportMetricsServiceRequest]) {
    assert_eq!(got.len(), 1, "one push, at shutdown");
    let metrics: Vec<_> = got[0]
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect();
    let find = |name: &str| {
        metrics.iter().find(|m| m.name == name).unwrap_or_else(|| {
            panic!(
                "{name} missing from {:?}",
                metrics.iter().map(|m| &m.name).collect::<Vec<_>>()
            )
        })
    };
    let Some(Data::ExponentialHistogram(h)) = &find("agent_trace_operation_duration").data else {
        panic!("not an exponential histogram")
    };
    let operations: Vec<String> = h
        .data_points
        .iter()
        .flat_map(|p| &p.attributes)
        .filter(|kv| kv.key == "operation")
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            V::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(
        operations.contains(&"agent_task".to_owned()),
        "{operations:?}"
    );
    let Some(Data::Sum(spans)) = &find("agent_trace_spans").data else {
        panic!("not a sum")
    };
    assert!(spans.is_monotonic);
    let Some(Data::Histogram(tokens)) = &find("gen_ai.client.token.usage").data else {
        panic!("not a histogram")
    };
    let total: u64 = tokens.data_points.iter().map(|p| p.count).sum();
    assert_eq!(total, 2, "input and output");
    let types: Vec<_> = tokens
        .data_points
        .iter()
        .flat_map(|p| &p.attributes)
        .filter(|kv| kv.key == "gen_ai.token.type")
        .collect();
    assert_eq!(types.len(), 2);
    assert_eq!(find("gen_ai.client.operation.duration").unit, "s");
    // The span durations, published to the facade just before the push.
    let Some(Data::Histogram(durations)) = &find("agent_trace_span_duration").data else {
        panic!("not a histogram")
    };
    assert_eq!(durations.data_points[0].count, 2, "the task and the call");
}
