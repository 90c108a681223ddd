//! `init()` and `tracing` without traps: the subscriber installed by
//! default when none exists, its level filter (`info` by default, then
//! `RUST_LOG`, `AGENT_TRACE_LOG` winning over it), each span's latency
//! recorded once however the layer is installed, a clear word when a
//! subscriber was there first, and a clear error when `tracer()` came
//! before `init()`.
//!
//! `init` and the global subscriber are once per process, and the filter
//! is read from the environment, so each case runs in a child process
//! (this test binary, re-executed with its own environment) that prints
//! what it saw; the parent asserts.
#![cfg(feature = "tracing")]

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use agent_trace::export::FnExporter;

const CHILD: &str = "AGENT_TRACE_TRAPS_CHILD";

/// Names of the spans exported in the child.
static EXPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[tracing::instrument]
fn outer_step(n: u32) -> u32 {
    // A tracer span inside: a child of `outer_step`, not a trace of its own.
    agent_trace::tracer().start_span("tool_call").end();
    inner_step(n) + 1
}

#[tracing::instrument(level = "debug")]
fn inner_step(n: u32) -> u32 {
    n * 2
}

/// What the spans of a dependency look like: `debug` per request, `info`
/// now and then.
fn dependency_spans() {
    tracing::debug_span!(target: "hyper::client", "dep_request").in_scope(|| {});
    tracing::info_span!(target: "hyper::client", "dep_connect").in_scope(|| {});
}

fn exporter() -> FnExporter<impl FnMut(&[agent_trace::FinishedSpan]) -> Result<(), std::io::Error>>
{
    FnExporter::new("names", |batch: &[agent_trace::FinishedSpan]| {
        let mut names = EXPORTED.lock().unwrap();
        names.extend(batch.iter().map(|s| s.name.to_string()));
        Ok(())
    })
}

/// Runs the workload and prints `exported=...`, `parent_ok=...` and
/// `latency_outer=...` lines for the parent.
fn workload(guard: &agent_trace::Guard) {
    outer_step(1);
    dependency_spans();
    guard.flush(Duration::from_secs(10)).unwrap();
    let mut names = EXPORTED.lock().unwrap().clone();
    names.sort();
    println!("\nexported={}", names.join(","));
    let spans: Vec<agent_trace::FinishedSpan> = guard
        .tracer()
        .store()
        .unwrap()
        .recent(usize::MAX)
        .iter()
        .flat_map(|t| t.spans().to_vec())
        .collect();
    let find = |n: &str| spans.iter().find(|s| s.name == n).cloned();
    if let (Some(outer), Some(tool)) = (find("outer_step"), find("tool_call")) {
        println!(
            "parent_ok={}",
            tool.parent_span_id == Some(outer.context.span_id)
                && tool.context.trace_id == outer.context.trace_id
        );
    }
    let count = agent_trace::latency_metrics()
        .percentiles("outer_step")
        .map_or(0, |p| p.count);
    println!("latency_outer={count}");
}

/// The child's side: runs one case.
fn child(case: &str) {
    match case {
        "default" => {
            let guard = agent_trace::init().exporter(exporter()).install().unwrap();
            workload(&guard);
        }
        "own_subscriber" => {
            use tracing_subscriber::layer::SubscriberExt;
            let guard = agent_trace::init()
                .exporter(exporter())
                .install_tracing_subscriber(false)
                .install()
                .unwrap();
            let subscriber = tracing_subscriber::registry()
                .with(agent_trace::AgentTraceLayer::new(guard.tracer().clone()));
            tracing::subscriber::set_global_default(subscriber).unwrap();
            workload(&guard);
        }
        "subscriber_first" => {
            tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
            let guard = agent_trace::init().exporter(exporter()).install().unwrap();
            workload(&guard);
        }
        "subscriber_demanded" => {
            tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
            let err = agent_trace::init()
                .exporter(exporter())
                .install_tracing_subscriber(true)
                .install()
                .unwrap_err();
            println!("\nerror={err}");
        }
        "bad_filter" => match agent_trace::init().exporter(exporter()).install() {
            Ok(_) => println!("\nerror=none"),
            Err(e) => println!("\nerror={e}"),
        },
        "tracer_first" => {
            let _ = agent_trace::tracer();
            let err = agent_trace::init().install().unwrap_err();
            println!("\nerror={err}");
        }
        other => panic!("unknown case {other}"),
    }
}

/// Runs `case` in a child with `env` set (and the filter variables unset
/// otherwise); its stdout lines as `key=value` pairs, and its stderr.
fn run(test: &str, case: &str, env: &[(&str, &str)]) -> (Vec<(String, String)>, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .env_remove("RUST_LOG")
        .env_remove("AGENT_TRACE_LOG")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("OTEL_TRACES_SAMPLER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child {case} failed:\n{stdout}\n{stderr}"
    );
    let pairs = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (pairs, stderr)
}

/// The value of `key` among the child's lines.
fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| panic!("no {key} in {pairs:?}"), |(_, v)| v.as_str())
}

/// Runs the child's case if this process is a child; `true` then.
fn as_child() -> bool {
    match std::env::var(CHILD) {
        Ok(case) => {
            child(&case);
            true
        }
        Err(_) => false,
    }
}

#[test]
fn by_default_init_installs_a_subscriber_that_records_info_spans_once() {
    if as_child() {
        return;
    }
    let test = "by_default_init_installs_a_subscriber_that_records_info_spans_once";
    let (pairs, stderr) = run(test, "default", &[]);
    // `info` and above, of every target; the debug spans of this crate and
    // of the dependency are not recorded.
    assert_eq!(
        value(&pairs, "exported"),
        "dep_connect,outer_step,tool_call"
    );
    assert_eq!(
        value(&pairs, "parent_ok"),
        "true",
        "one trace, not fragments"
    );
    assert_eq!(value(&pairs, "latency_outer"), "1", "recorded once");
    assert!(!stderr.contains("agent-trace:"), "nothing to say: {stderr}");
}

#[test]
fn rust_log_chooses_the_spans_and_agent_trace_log_wins_over_it() {
    if as_child() {
        return;
    }
    let test = "rust_log_chooses_the_spans_and_agent_trace_log_wins_over_it";
    let (pairs, _) = run(test, "default", &[("RUST_LOG", "debug")]);
    assert_eq!(
        value(&pairs, "exported"),
        "dep_connect,dep_request,inner_step,outer_step,tool_call"
    );
    let (pairs, _) = run(
        test,
        "default",
        &[("RUST_LOG", "debug"), ("AGENT_TRACE_LOG", "info,hyper=off")],
    );
    assert_eq!(value(&pairs, "exported"), "outer_step,tool_call");
}

#[test]
fn a_rust_log_for_another_logger_falls_back_to_info_and_says_so() {
    if as_child() {
        return;
    }
    let test = "a_rust_log_for_another_logger_falls_back_to_info_and_says_so";
    // `EnvFilter`'s span field syntax, which `Targets` does not read.
    let rust_log = "info,my_agent[plan{user=alice}]=debug";
    let (pairs, stderr) = run(test, "default", &[("RUST_LOG", rust_log)]);
    assert_eq!(
        value(&pairs, "exported"),
        "dep_connect,outer_step,tool_call"
    );
    assert_eq!(
        stderr
            .matches(&format!(
                "agent-trace: RUST_LOG={rust_log:?} is not a filter"
            ))
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_bad_agent_trace_log_is_an_error_naming_the_variable() {
    if as_child() {
        return;
    }
    let test = "a_bad_agent_trace_log_is_an_error_naming_the_variable";
    let (pairs, _) = run(
        test,
        "bad_filter",
        &[("AGENT_TRACE_LOG", "info,my_agent=loud")],
    );
    let error = value(&pairs, "error");
    assert!(
        error.starts_with("invalid tracing filter \"info,my_agent=loud\" from AGENT_TRACE_LOG:"),
        "{error}"
    );
}

#[test]
fn the_layer_in_ones_own_subscriber_records_each_latency_once() {
    if as_child() {
        return;
    }
    let test = "the_layer_in_ones_own_subscriber_records_each_latency_once";
    let (pairs, _) = run(test, "own_subscriber", &[]);
    // No filter of init's here: the debug span is recorded too.
    assert_eq!(
        value(&pairs, "exported"),
        "dep_connect,dep_request,inner_step,outer_step,tool_call"
    );
    assert_eq!(value(&pairs, "parent_ok"), "true");
    assert_eq!(value(&pairs, "latency_outer"), "1", "not twice");
}

#[test]
fn a_subscriber_installed_before_init_is_left_alone_and_said_so() {
    if as_child() {
        return;
    }
    let test = "a_subscriber_installed_before_init_is_left_alone_and_said_so";
    let (pairs, stderr) = run(test, "subscriber_first", &[]);
    // Only the tracer's own span reaches agent-trace.
    assert_eq!(value(&pairs, "exported"), "tool_call");
    assert_eq!(
        stderr
            .matches("agent-trace: a global `tracing` subscriber was installed before init()")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("install_tracing_subscriber(false)"),
        "{stderr}"
    );
    let (pairs, _) = run(test, "subscriber_demanded", &[]);
    assert!(
        value(&pairs, "error").starts_with("a global tracing subscriber is already installed"),
        "{pairs:?}"
    );
}

#[test]
fn init_after_tracer_names_the_line_that_used_the_tracer_first() {
    if as_child() {
        return;
    }
    let test = "init_after_tracer_names_the_line_that_used_the_tracer_first";
    let (pairs, _) = run(test, "tracer_first", &[]);
    let error = value(&pairs, "error");
    assert!(
        error.starts_with(
            "the global tracer is already set: agent_trace::tracer() was first used at "
        ),
        "{error}"
    );
    assert!(error.contains("tests/tracing_without_traps.rs:"), "{error}");
    assert!(
        error.ends_with("call agent_trace::init() first thing in main"),
        "{error}"
    );
}
