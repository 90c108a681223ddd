//! What tracing costs an agent: a simulated agent workload at a fixed task
//! rate, with tracing set up the way an application sets it up, in two
//! stacks side by side in the same run (ours: `init()`, OTLP/HTTP export to
//! a receiver, latency and GenAI metrics; and the OpenTelemetry stack a
//! Rust user would otherwise assemble: `tracing` with
//! `tracing-opentelemetry`, `opentelemetry_sdk`'s batch span processor and
//! `opentelemetry-otlp`, OTLP/HTTP protobuf to the same kind of receiver),
//! against the same workload with tracing off. Not a criterion bench: the figure is CPU time
//! over a whole run.
//!
//! # The workload
//!
//! One task is one agent invocation of ten spans, made with the
//! [`agent_trace::genai`] helpers where the GenAI conventions have one:
//!
//! - `invoke_agent researcher` (agent id, model, conversation id), parent of
//!   - `embeddings text-embedding-3-small` (client, input tokens): the query
//!     hashed into a 64-dimension vector;
//!   - three `memory_lookup` spans (collection, hits): a cosine search over
//!     1,024 stored 64-dimension vectors each;
//!   - `chat gpt-4o` (temperature, max tokens, response model, usage,
//!     finish reasons): the request (system prompt, memories, question;
//!     about 3 KB) serialized with `serde_json`, and a response with three
//!     tool calls (about 1 KB) parsed;
//!   - three `execute_tool {name}` spans (call id): the tool's JSON
//!     arguments parsed and a result of about 600 bytes rendered;
//!   - a second `chat gpt-4o`, with the tool results in its request.
//!
//! Every span's duration goes to the latency metrics (`init()`'s
//! `LatencyProcessor`) and the GenAI spans record the GenAI client metrics
//! into the Prometheus recorder of `agent-trace-metrics`, installed as the
//! `metrics` recorder. The simulated work stands for what an agent process
//! does itself per step (prompt assembly, JSON in and out, vector search);
//! the model and the tools are not called, so there is no network wait,
//! no TLS and no HTTP client in it: a real agent spends more CPU per task,
//! which would make the percentage below smaller.
//!
//! # The OpenTelemetry stack
//!
//! The same ten spans as a user of `tracing` 0.1 + `tracing-opentelemetry`
//! 0.34 + `opentelemetry_sdk` 0.33 + `opentelemetry-otlp` 0.33 writes them
//! ([`otel_task`]): one `#[instrument]`ed function per agent step (the
//! steps nest through `tracing`'s current span), the GenAI attributes as
//! span fields (those known late declared `Empty` and recorded), the finish
//! reasons (a string array, which `tracing` cannot record) through
//! `OpenTelemetrySpanExt::set_attribute`, span kinds and the tools' span
//! names through the `otel.kind` and `otel.name` fields. The provider has
//! the batch span processor with its defaults (a queue of 2,048 spans,
//! batches of 512, a 5 s delay, its own thread) and the OTLP/HTTP protobuf
//! exporter with reqwest's blocking client (`opentelemetry-otlp`'s default
//! client, which runs a tokio runtime on a thread of its own). The layer's
//! extra attributes (code location, thread, busy/idle time, target) are
//! turned off so that both stacks deliver the same attributes (a user who
//! keeps them pays for more attributes per span). No metrics: latencies and
//! GenAI metrics would need the OpenTelemetry metrics SDK on top, so this
//! stack does less than ours does; ours also adds, through its GenAI
//! helpers, the cost and call counts of each chat and agent span (eight
//! `agent_trace.*` attributes per task).
//!
//! The receiver checks that the stacks emit the same spans: during the
//! warm-up it records every span's shape (name, kind, root or child,
//! attribute keys and value types, `agent_trace.*` left out), and the
//! parent fails if any traced run's shapes differ from the first
//! `trace_only` run's.
//!
//! # Modes
//!
//! Each run is a child process (this binary with `--child`), so that the
//! globals each stack sets (`init()`'s, the `tracing` subscriber, the
//! `metrics` recorder) are fresh and each run's CPU time is its own:
//!
//! - `off`: the work, no tracing at all (no tracer, no metrics recorder);
//! - `on`: the work with tracing as above (ours);
//! - `trace_only`: the spans and metrics of `on` without the work (ours);
//! - `otel_only`: the same spans through the OpenTelemetry stack, without
//!   the work;
//! - `otel_defaults`: the same, with the layer's own attributes left on
//!   (its defaults: what a user who does not turn them off pays);
//! - `plain_only`: the same ten spans and attributes made with
//!   `span_builder` alone (no GenAI helper, so no GenAI metrics), without
//!   the work: what the helpers and their metrics add;
//! - `lean_only`: `plain_only` without the latency metrics, the in-memory
//!   trace store and the `metrics` recorder (`record_latencies(false)`,
//!   `keep_traces_in_memory(false)`): ours doing only what the
//!   OpenTelemetry stack does (spans and their export);
//! - `idle`: neither, only the pacing loop.
//!
//! Each repetition runs every mode once, in that order (`idle` first).
//! Each run paces `rate` tasks per second (default 1,000) on one
//! application thread for `secs` seconds, after 200 warm-up tasks (flushed
//! before the measurement starts), then flushes the export pipeline
//! (`Guard::flush`, `SdkTracerProvider::force_flush`), so the export of
//! every measured span is inside the measurement. An in-process OTLP/HTTP
//! receiver (axum, on a runtime of its own whose thread is named
//! `otlp-receiver`) decodes every request and counts the spans; it runs in
//! every mode so that each process has the same threads, and its CPU time
//! is left out of every figure (it stands for the collector, which runs
//! elsewhere). CPU time is the process's (`CLOCK_PROCESS_CPUTIME_ID`)
//! minus the receiver's thread, and is also split per thread from
//! `/proc/self/task/*/schedstat`. Peak memory is the growth of the
//! resident set from just before the stack is installed to its peak
//! (`VmHWM`, reset through `/proc/self/clear_refs`) over warm-up,
//! measurement and flush.
//!
//! A stack's cost per task, all-in, is the median of its `*_only` runs
//! minus the median of the `idle` runs: everything the stack adds to the
//! process, on the application thread and on every thread it starts. `on - off` (the real cost, including what tracing does
//! to the caches of the work, but noisy, since it is a difference of two
//! large figures) and the percentages of the tracing-off run are given as
//! information.
//!
//! ```text
//! cargo bench -p agent-trace --bench agent_workload -- [--quick] [--secs S] [--rate R] [--reps N]
//! ```
//!
//! (`cargo xtask bench --e2e` runs it.) A markdown table goes to stdout,
//! progress to stderr. The process fails if, in a traced run of either
//! stack, the receiver did not get every span created (after the flush),
//! if ours counted a span as dropped, or if the stacks' span shapes differ.
//!
//! # Looking at one part of ours
//!
//! One run of one mode, its figures as JSON on the last line of stdout:
//!
//! ```text
//! target/release/deps/agent_workload-<hash> --child trace_only --secs 6
//! ```
//!
//! Two variables change our stack in such a run, to measure a part by
//! difference (interleave the runs of each setting: single runs vary up to
//! 2x on a shared host):
//! `AGENT_WORKLOAD_MAX_TRACES=N` keeps `N` traces in the in-memory store
//! (`0`: no store; default: the store's default), and
//! `AGENT_WORKLOAD_LATENCIES=0` records no latency metrics.

#[path = "../../agent-trace-export/benches/support/cpu_time.rs"]
mod cpu_time;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_trace::export::{OtlpExporter, Resource};
use agent_trace::genai;
use agent_trace::semconv::{self, finish_reason, operation_name, provider_name};
use agent_trace::{AgentStepTracer, SpanKind, Value as AttrValue};
use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use prost::Message as _;
use serde_json::{Value, json};

/// Spans per task.
const SPANS_PER_TASK: u64 = 10;

/// Tasks run before the measurement.
const WARM_UP_TASKS: u64 = 200;

/// Our target: CPU per task, all-in, in microseconds (1% of one core at
/// 1,000 tasks/s).
const TARGET_US_PER_TASK: f64 = 10.0;

/// Our target: how many times less CPU per task than the OpenTelemetry
/// stack in the same run.
const TARGET_RATIO: f64 = 5.0;

/// The OpenTelemetry stack, as the report names it.
const OTEL_STACK: &str = "tracing 0.1 + tracing-opentelemetry 0.34 + opentelemetry_sdk 0.33 \
                          (batch) + opentelemetry-otlp 0.33 (HTTP/protobuf, reqwest blocking)";

/// The run modes, as `--child` names them, in the order of a repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    TraceOnly,
    OtelOnly,
    OtelDefaults,
    PlainOnly,
    LeanOnly,
    Off,
    On,
}

/// Which tracing a run has installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    None,
    Ours,
    Otel,
}

impl Mode {
    const ALL: [Mode; 8] = [
        Mode::Idle,
        Mode::TraceOnly,
        Mode::OtelOnly,
        Mode::OtelDefaults,
        Mode::PlainOnly,
        Mode::LeanOnly,
        Mode::Off,
        Mode::On,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Idle => "idle",
            Mode::TraceOnly => "trace_only",
            Mode::OtelOnly => "otel_only",
            Mode::OtelDefaults => "otel_defaults",
            Mode::PlainOnly => "plain_only",
            Mode::LeanOnly => "lean_only",
            Mode::Off => "off",
            Mode::On => "on",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    fn stack(self) -> Stack {
        match self {
            Mode::Idle | Mode::Off => Stack::None,
            Mode::TraceOnly | Mode::PlainOnly | Mode::LeanOnly | Mode::On => Stack::Ours,
            Mode::OtelOnly | Mode::OtelDefaults => Stack::Otel,
        }
    }

    fn works(self) -> bool {
        matches!(self, Mode::Off | Mode::On)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|at| args.get(at + 1))
    };
    if let Some(mode) = arg("--child") {
        let Some(mode) = Mode::parse(mode) else {
            eprintln!("agent_workload: unknown mode {mode:?}");
            return ExitCode::FAILURE;
        };
        let rate: f64 = arg("--rate").and_then(|s| s.parse().ok()).unwrap_or(1000.0);
        let secs: f64 = arg("--secs").and_then(|s| s.parse().ok()).unwrap_or(1.0);
        return match child(mode, rate, secs) {
            Ok(v) => {
                println!("{v}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("agent_workload: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let quick = args.iter().any(|a| a == "--quick");
    let secs: f64 = arg("--secs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1.0 } else { 5.0 });
    let rate: f64 = arg("--rate").and_then(|s| s.parse().ok()).unwrap_or(1000.0);
    let reps: usize = arg("--reps")
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 })
        .max(1);
    match parent(rate, secs, reps, quick) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("agent_workload: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---- the parent ----------------------------------------------------------------

fn run_child(mode: Mode, rate: f64, secs: f64) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    eprintln!(
        "agent_workload: {} at {rate} tasks/s for {secs} s",
        mode.name()
    );
    let out = Command::new(exe)
        .args(["--child", mode.name()])
        .args(["--rate", &rate.to_string(), "--secs", &secs.to_string()])
        // The OpenTelemetry stack reads its configuration from the
        // environment too: none of the caller's may change the run.
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env_remove("OTEL_EXPORTER_OTLP_COMPRESSION")
        .env_remove("OTEL_BSP_MAX_QUEUE_SIZE")
        .env_remove("OTEL_BSP_SCHEDULE_DELAY")
        .env_remove("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
        .env_remove("OTEL_TRACES_SAMPLER")
        .env_remove("OTEL_SDK_DISABLED")
        // Ours as `init()` sets it up: the knobs are for single runs.
        .env_remove("AGENT_WORKLOAD_MAX_TRACES")
        .env_remove("AGENT_WORKLOAD_LATENCIES")
        .output()
        .map_err(|e| format!("cannot run child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "child {} failed ({}): {}",
            mode.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("child {} printed {line:?}: {e}", mode.name()))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// `lo-hi` of some figures, with one decimal.
fn range(xs: &[f64]) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.1}-{hi:.1}")
}

/// CPU microseconds per task of a run, receiver left out.
fn per_task(v: &Value) -> f64 {
    num(v, "cpu_ns_without_receiver") / num(v, "tasks") / 1e3
}

fn per_task_of(v: &Value, thread: &str) -> f64 {
    v["threads_ns"][thread].as_f64().unwrap_or(0.0) / num(v, "tasks") / 1e3
}

/// The checks of one traced run: failures, and shortfalls that fail the
/// run only when it is not `quick`. Ours must always account for every
/// span (created = delivered + dropped, and the receiver got what was
/// delivered); a span dropped by a full queue (ours counted, the SDK's
/// seen as received < created) fails a measured run, but in a `quick` run
/// (CI, one second on a possibly starved machine) it is only reported.
fn span_checks(r: &Value, quick: bool) -> (Vec<String>, Vec<String>) {
    let mode = r["mode"].as_str().unwrap_or("?");
    let created = r["spans_created"].as_u64().unwrap_or(0);
    let received = r["spans_received"].as_u64().unwrap_or(0);
    let (mut failures, mut shortfalls) = (Vec::new(), Vec::new());
    if created == 0 || received > created {
        failures.push(format!(
            "{mode}: {created} spans created, {received} received after the flush"
        ));
    } else if received < created {
        shortfalls.push(format!(
            "{mode}: {created} spans created, {received} received after the flush"
        ));
    }
    if r["stack"] == "ours" {
        let delivered = r["spans_delivered"].as_u64().unwrap_or(0);
        let dropped = r["spans_dropped"].as_u64().unwrap_or(0);
        if delivered + dropped != created || received != delivered {
            failures.push(format!(
                "{mode}: {created} spans created, {delivered} delivered, {dropped} dropped, \
                 {received} received: not every span accounted for"
            ));
        } else if dropped != 0 {
            shortfalls.push(format!(
                "{mode}: {dropped} of {created} spans dropped (counted)"
            ));
        }
    }
    if r["stack"] == "otel" {
        let after = r["spans_received_after_shutdown"].as_u64().unwrap_or(0);
        if after != received {
            shortfalls.push(format!(
                "{mode}: {received} spans received after the flush, {after} after the \
                 provider's shutdown"
            ));
        }
    }
    if !quick {
        failures.append(&mut shortfalls);
    }
    (failures, shortfalls)
}

/// The figures of one stack against the `idle` run of each repetition.
struct Net {
    all_in: Vec<f64>,
    app: Vec<f64>,
    rss_kib: Vec<f64>,
    created: u64,
    received: u64,
}

/// Runs every mode `reps` times; `Ok(false)` when a check failed.
fn parent(rate: f64, secs: f64, reps: usize, quick: bool) -> Result<bool, String> {
    let mut runs = Vec::new();
    for _ in 0..reps {
        for mode in Mode::ALL {
            runs.push(run_child(mode, rate, secs)?);
        }
    }

    println!(
        "### Agent workload: {rate} tasks/s x {SPANS_PER_TASK} spans, {secs} s per run, {reps} \
         repetition(s), OTLP/HTTP to an in-process receiver, on {}\n",
        machine()
    );
    println!(
        "| run | tasks | achieved rate | CPU/task (receiver excluded) | app thread | export worker \
         | HTTP client runtime | metrics publisher | clock | other threads | receiver (excluded) \
         | peak RSS growth | spans created / delivered / dropped / received |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for r in &runs {
        let spans = match r["stack"].as_str() {
            Some("ours") => format!(
                "{} / {} / {} / {}",
                r["spans_created"], r["spans_delivered"], r["spans_dropped"], r["spans_received"]
            ),
            Some("otel") => format!("{} / - / - / {}", r["spans_created"], r["spans_received"]),
            _ => "-".to_owned(),
        };
        if r["stack"] != "none" {
            let (failed, short) = span_checks(r, quick);
            failures.extend(failed);
            for s in short {
                println!("- quick run, not a failure: {s}");
            }
        }
        println!(
            "| {} | {} | {:.0}/s | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs \
             | {:.1} µs | {:.1} µs | {:.1} MiB | {spans} |",
            r["mode"].as_str().unwrap_or("?"),
            num(r, "tasks"),
            num(r, "tasks") / num(r, "wall_secs"),
            per_task(r),
            per_task_of(r, "app"),
            per_task_of(r, "export"),
            per_task_of(r, "http"),
            per_task_of(r, "publisher"),
            per_task_of(r, "clock"),
            per_task_of(r, "other"),
            per_task_of(r, "receiver"),
            num(r, "peak_rss_growth_kib") / 1024.0,
        );
    }

    // The span shapes: every traced run's must be the first trace_only's.
    let reference = runs
        .iter()
        .find(|r| r["mode"] == Mode::TraceOnly.name())
        .map(|r| r["shapes"].clone())
        .unwrap_or_default();
    let mut shapes_ok = true;
    for r in runs
        .iter()
        .filter(|r| r["stack"] != "none" && r["mode"] != Mode::OtelDefaults.name())
    {
        if r["shapes"] != reference || reference.as_object().is_none_or(|o| o.is_empty()) {
            shapes_ok = false;
            failures.push(format!(
                "{}: its spans differ from trace_only's (shape: count)\n  {}: {}\n  trace_only: {}",
                r["mode"].as_str().unwrap_or("?"),
                r["mode"].as_str().unwrap_or("?"),
                r["shapes"],
                reference
            ));
        }
    }

    // Each stack's runs against the median `idle` run: interference from
    // the rest of the machine only adds CPU time, in bursts, so a median
    // of each is steadier than differences run by run.
    let of = |mode: Mode| -> Vec<f64> {
        runs.iter()
            .filter(|r| r["mode"] == mode.name())
            .map(per_task)
            .collect()
    };
    let off = median(of(Mode::Off));
    let on = median(of(Mode::On));
    let idle = median(of(Mode::Idle));
    let idle_app = median(
        runs.iter()
            .filter(|r| r["mode"] == Mode::Idle.name())
            .map(|r| per_task_of(r, "app"))
            .collect(),
    );
    let net = |mode: Mode| -> Net {
        let mut n = Net {
            all_in: Vec::new(),
            app: Vec::new(),
            rss_kib: Vec::new(),
            created: 0,
            received: 0,
        };
        for r in runs.iter().filter(|r| r["mode"] == mode.name()) {
            n.all_in.push(per_task(r) - idle);
            n.app.push(per_task_of(r, "app") - idle_app);
            n.rss_kib.push(num(r, "peak_rss_growth_kib"));
            n.created += r["spans_created"].as_u64().unwrap_or(0);
            n.received += r["spans_received"].as_u64().unwrap_or(0);
        }
        n
    };
    let core = |us: f64| us * rate / 1e6 * 100.0;

    println!();
    println!(
        "Each stack's CPU per task is the median of its {reps} run(s) minus the median `idle` \
         run (the paced loop alone); in brackets, the lowest and highest run minus the same. \
         All-in: the application thread \
         and every thread the stack starts (export worker, HTTP client runtime, metrics, clock), \
         not the receiver's. Peak RSS growth: from before the stack is installed to the run's \
         peak (median).\n"
    );
    println!(
        "| stack | CPU per task, all-in | application thread alone | other threads of the stack \
         | % of one core at {rate} tasks/s (all-in) | % of the tracing-off run (information) \
         | peak RSS growth | spans created / received |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let stacks = [
        (
            Mode::TraceOnly,
            "ours: `init()` defaults + OTLP/HTTP, GenAI helpers and their metrics",
        ),
        (
            Mode::PlainOnly,
            "ours, plain spans (`span_builder`, no GenAI metrics)",
        ),
        (
            Mode::LeanOnly,
            "ours, plain spans, no latency metrics, no in-memory store (the OpenTelemetry \
             stack's share of the work; information)",
        ),
        (Mode::OtelOnly, OTEL_STACK),
        (
            Mode::OtelDefaults,
            "the same, the layer's own attributes kept (its defaults; information)",
        ),
    ];
    let mut all_in = BTreeMap::new();
    for (mode, label) in stacks {
        let n = net(mode);
        let (a, app) = (median(n.all_in.clone()), median(n.app.clone()));
        all_in.insert(mode.name(), a);
        let others: Vec<f64> = n.all_in.iter().zip(&n.app).map(|(a, b)| a - b).collect();
        println!(
            "| {label} | {a:.1} µs ({}) | {app:.1} µs ({}) | {:.1} µs | {:.2}% | {:.1}% | {:.1} MiB \
             | {} / {} |",
            range(&n.all_in),
            range(&n.app),
            median(others),
            core(a),
            a / off * 100.0,
            median(n.rss_kib.clone()) / 1024.0,
            n.created,
            n.received,
        );
    }
    let ours = all_in[Mode::TraceOnly.name()];
    let otel = all_in[Mode::OtelOnly.name()];
    let ratio = otel / ours;
    println!();
    println!(
        "- the paced loop alone (`idle`): {idle:.1} µs CPU per task (range {} µs)",
        range(&of(Mode::Idle))
    );
    println!(
        "- with the work and tracing off: {off:.1} µs CPU per task (range {} µs); with ours on: \
         {on:.1} µs (range {} µs); on - off: {:.1} µs per task = {:.1}% of the tracing-off run \
         (information)",
        range(&of(Mode::Off)),
        range(&of(Mode::On)),
        on - off,
        (on - off) / off * 100.0,
    );
    println!(
        "- the OpenTelemetry stack / ours, CPU per task all-in: {ratio:.2}x (ours with plain \
         spans: {:.2}x; with plain spans, no latency metrics and no in-memory store: {:.2}x)",
        otel / all_in[Mode::PlainOnly.name()],
        otel / all_in[Mode::LeanOnly.name()]
    );
    let attributes = |mode: Mode| {
        runs.iter()
            .find(|r| r["mode"] == mode.name())
            .map_or((f64::NAN, f64::NAN), |r| {
                (
                    num(r, "warm_up_attributes") / WARM_UP_TASKS as f64,
                    num(r, "warm_up_ours_only_attributes") / WARM_UP_TASKS as f64,
                )
            })
    };
    let (ours_attrs, ours_only) = attributes(Mode::TraceOnly);
    println!(
        "- attributes delivered per task: ours {ours_attrs:.0} (of which {ours_only:.0} \
         `agent_trace.*`, the GenAI helpers' cost and call counts, which the other stacks do \
         not compute), ours with plain spans {:.0}, the OpenTelemetry stack {:.0} ({:.0} with \
         the layer's defaults)",
        attributes(Mode::PlainOnly).0,
        attributes(Mode::OtelOnly).0,
        attributes(Mode::OtelDefaults).0,
    );
    println!(
        "- spans: {}",
        if shapes_ok {
            "every traced run delivered the same spans (names, kinds, parents, attribute keys \
             and types but `agent_trace.*`, checked on the warm-up's; `otel_defaults` has the \
             layer's attributes on top and is not compared) and the receiver got every span \
             created"
        } else {
            "the stacks' spans differ (see FAILED)"
        }
    );
    println!(
        "- target: ours at most {TARGET_US_PER_TASK:.0} µs of CPU per task all-in: \
         {ours:.1} µs: {}",
        if ours <= TARGET_US_PER_TASK {
            "met"
        } else {
            "NOT MET"
        }
    );
    println!(
        "- target: ours at least {TARGET_RATIO:.0}x less CPU per task than the OpenTelemetry \
         stack in the same run: {ratio:.2}x: {}",
        if ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT MET"
        }
    );
    for f in &failures {
        println!("- FAILED: {f}");
    }
    Ok(failures.is_empty())
}

/// The CPU model and the number of cores, from `/proc/cpuinfo`.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map_or("an unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{model}, {cores} core(s) available to the run")
}

// ---- a child: one run ---------------------------------------------------------------

/// The OTLP/HTTP receiver: decodes each request and counts its spans, and
/// records the warm-up's spans while `capture` holds a [`Capture`].
struct Receiver {
    _runtime: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    spans: Arc<AtomicU64>,
    capture: Arc<Mutex<Option<Capture>>>,
}

/// What the receiver records of the warm-up's spans.
#[derive(Debug, Default)]
struct Capture {
    /// Spans by [`shape`].
    shapes: BTreeMap<String, u64>,
    /// Attributes, all of them.
    attributes: u64,
    /// Attributes named `agent_trace.*` (ours only: the GenAI helpers'
    /// cost and call counts), which [`shape`] leaves out.
    ours_only: u64,
}

/// The prefix of the attributes only ours delivers.
const OURS_ONLY: &str = "agent_trace.";

/// A span's name, kind, place (root or child) and attribute keys with
/// their value types, sorted, `agent_trace.*` left out: what both stacks
/// must deliver alike.
fn shape(span: &ProtoSpan) -> String {
    let mut keys: Vec<String> = span
        .attributes
        .iter()
        .filter(|kv| !kv.key.starts_with(OURS_ONLY))
        .map(|kv| {
            let ty = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(_)) => "string",
                Some(any_value::Value::IntValue(_)) => "int",
                Some(any_value::Value::DoubleValue(_)) => "double",
                Some(any_value::Value::BoolValue(_)) => "bool",
                Some(any_value::Value::ArrayValue(_)) => "array",
                Some(_) => "other",
                None => "none",
            };
            format!("{}:{ty}", kv.key)
        })
        .collect();
    keys.sort();
    format!(
        "{} [kind {}, {}] {}",
        span.name,
        span.kind,
        if span.parent_span_id.is_empty() {
            "root"
        } else {
            "child"
        },
        keys.join(" ")
    )
}

impl Receiver {
    fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-receiver")
            .enable_all()
            .build()
            .map_err(|e| format!("receiver runtime: {e}"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("receiver bind: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("receiver address: {e}"))?;
        let spans = Arc::new(AtomicU64::new(0));
        let capture = Arc::new(Mutex::new(Some(Capture::default())));
        let (counted, shaped) = (spans.clone(), capture.clone());
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let (counted, shaped) = (counted.clone(), shaped.clone());
                async move {
                    let request = ExportTraceServiceRequest::decode(body)
                        .expect("the exporter sends valid protobuf");
                    let all = request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .flat_map(|s| &s.spans);
                    let n = {
                        let mut capture = shaped.lock().unwrap_or_else(|e| e.into_inner());
                        match capture.as_mut() {
                            Some(c) => {
                                let mut n = 0;
                                for span in all {
                                    *c.shapes.entry(shape(span)).or_default() += 1;
                                    c.attributes += span.attributes.len() as u64;
                                    c.ours_only +=
                                        span.attributes
                                            .iter()
                                            .filter(|kv| kv.key.starts_with(OURS_ONLY))
                                            .count() as u64;
                                    n += 1;
                                }
                                n
                            }
                            None => all.count(),
                        }
                    };
                    counted.fetch_add(n as u64, Ordering::Relaxed);
                    // An empty ExportTraceServiceResponse: full success.
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            _runtime: runtime,
            addr,
            spans,
            capture,
        })
    }

    /// Stops recording shapes and returns what was recorded.
    fn take_capture(&self) -> Capture {
        self.capture
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default()
    }
}

/// The stack a run has installed.
enum Installed {
    None,
    Ours(agent_trace::Guard),
    Otel(opentelemetry_sdk::trace::SdkTracerProvider),
}

impl Installed {
    fn install(mode: Mode, receiver: &Receiver) -> Result<Self, String> {
        let endpoint = format!("http://{}/v1/traces", receiver.addr);
        Ok(match mode.stack() {
            Stack::None => Installed::None,
            Stack::Ours => {
                // `lean_only`: only what the OpenTelemetry stack does.
                let lean = mode == Mode::LeanOnly;
                if !lean {
                    metrics::set_global_recorder(agent_trace_metrics::PrometheusRecorder::new())
                        .map_err(|e| format!("metrics recorder: {e}"))?;
                }
                let otlp = OtlpExporter::builder()
                    .endpoint(endpoint)
                    .resource(Resource::new("research-agent").with_version("1.0.0"))
                    .build()
                    .map_err(|e| format!("exporter: {e}"))?;
                let mut init = agent_trace::init()
                    .service_name("research-agent")
                    .exporter(otlp)
                    .exporters_from_env(false)
                    .file_by_default(false)
                    .record_latencies(
                        !lean && std::env::var("AGENT_WORKLOAD_LATENCIES").as_deref() != Ok("0"),
                    )
                    .keep_traces_in_memory(!lean);
                // See the module docs, "Looking at one part of ours".
                if let Some(n) = std::env::var("AGENT_WORKLOAD_MAX_TRACES")
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|_| !lean)
                {
                    init = match n {
                        0 => init.keep_traces_in_memory(false),
                        n => init.trace_store(agent_trace::TraceStoreConfig {
                            max_traces: n,
                            ..agent_trace::TraceStoreConfig::default()
                        }),
                    };
                }
                let guard = init.install().map_err(|e| format!("init: {e}"))?;
                Installed::Ours(guard)
            }
            Stack::Otel => Installed::Otel(install_otel(endpoint, mode == Mode::OtelDefaults)?),
        })
    }

    fn flush(&self) -> Result<(), String> {
        match self {
            Installed::None => Ok(()),
            Installed::Ours(g) => g
                .flush(Duration::from_secs(30))
                .map_err(|e| format!("flush: {e}")),
            Installed::Otel(p) => p.force_flush().map_err(|e| format!("force_flush: {e}")),
        }
    }
}

fn child(mode: Mode, rate: f64, secs: f64) -> Result<Value, String> {
    let receiver = Receiver::start()?;
    let work = mode.works().then(Work::new);
    let rss_before = reset_peak_rss();
    let installed = Installed::install(mode, &receiver)?;
    let tracer = match &installed {
        Installed::Ours(g) => Some(g.tracer()),
        _ => None,
    };

    let run = |i| match (mode, tracer) {
        (Mode::PlainOnly | Mode::LeanOnly, Some(t)) => task_plain(t, i),
        (Mode::OtelOnly | Mode::OtelDefaults, _) => otel_task(work.as_ref(), i),
        _ => task(tracer, work.as_ref(), i),
    };
    for i in 0..WARM_UP_TASKS {
        run(i);
    }
    installed.flush()?;
    let capture = receiver.take_capture();
    let received_before = receiver.spans.load(Ordering::Relaxed);
    let stats_before = match &installed {
        Installed::Ours(g) => Some(g.export_stats()[0].1),
        _ => None,
    };

    let tasks = (rate * secs).round() as u64;
    let (cpu0, threads0) = (process_cpu_ns(), thread_cpu_ns());
    let start = Instant::now();
    for i in 0..tasks {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        run(WARM_UP_TASKS + i);
    }
    let wall = start.elapsed();
    installed.flush()?;
    let (cpu1, threads1) = (process_cpu_ns(), thread_cpu_ns());
    let rss_peak = peak_rss_kib();

    let mut by_kind = json!({ "app": 0, "export": 0, "http": 0, "publisher": 0, "clock": 0, "receiver": 0, "other": 0 });
    for (tid, (kind, ns)) in &threads1 {
        let before = threads0.get(tid).map_or(0, |(_, ns)| *ns);
        let sum = by_kind[kind].as_u64().unwrap_or(0) + (ns - before);
        by_kind[kind] = json!(sum);
    }
    let receiver_ns = by_kind["receiver"].as_u64().unwrap_or(0);
    let received = receiver.spans.load(Ordering::Relaxed) - received_before;
    let mut v = json!({
        "mode": mode.name(),
        "stack": match mode.stack() {
            Stack::None => "none",
            Stack::Ours => "ours",
            Stack::Otel => "otel",
        },
        "tasks": tasks,
        "wall_secs": wall.as_secs_f64(),
        "cpu_ns": cpu1 - cpu0,
        "cpu_ns_without_receiver": (cpu1 - cpu0).saturating_sub(receiver_ns),
        "threads_ns": by_kind,
        "peak_rss_growth_kib": rss_peak.saturating_sub(rss_before),
        "shapes": capture.shapes,
        "warm_up_attributes": capture.attributes,
        "warm_up_ours_only_attributes": capture.ours_only,
    });
    if mode.stack() != Stack::None {
        v["spans_created"] = json!(tasks * SPANS_PER_TASK);
        v["spans_received"] = json!(received);
    }
    match installed {
        Installed::None => {}
        Installed::Ours(g) => {
            if let Some(before) = stats_before {
                let after = g.export_stats()[0].1;
                v["spans_delivered"] = json!(after.exported - before.exported);
                v["spans_dropped"] = json!(after.dropped() - before.dropped());
            }
            drop(g);
        }
        Installed::Otel(p) => {
            p.shutdown().map_err(|e| format!("shutdown: {e}"))?;
            v["spans_received_after_shutdown"] =
                json!(receiver.spans.load(Ordering::Relaxed) - received_before);
        }
    }
    Ok(v)
}

// ---- the simulated agent --------------------------------------------------------------

/// Dimensions of an embedding.
const DIM: usize = 64;

/// The agent's own data: its memory (vectors and texts) and the texts it
/// sends and receives.
struct Work {
    vectors: Vec<[f32; DIM]>,
    memories: Vec<String>,
    system_prompt: String,
    response: String,
}

impl Work {
    fn new() -> Self {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let vectors = (0..1024).map(|_| std::array::from_fn(|_| next())).collect();
        let memories = (0..1024)
            .map(|i| {
                format!(
                    "memory {i}: the user asked about quarterly revenue of region {} and \
                     preferred answers with sources and a short summary",
                    i % 17
                )
            })
            .collect();
        let system_prompt = "You are a research agent. Answer with sources. ".repeat(40);
        let calls: Vec<Value> = ["web_search", "calculator", "read_file"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({
                    "id": format!("call_{i}"),
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": json!({"query": "revenue of region 7 in Q3", "limit": 5, "precision": 2}).to_string(),
                    }
                })
            })
            .collect();
        let response = json!({
            "id": "chatcmpl-9zX",
            "object": "chat.completion",
            "model": "gpt-4o-2024-08-06",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Let me look that up.", "tool_calls": calls},
                "finish_reason": "tool_calls"
            }],
            "usage": {"prompt_tokens": 1234, "completion_tokens": 321, "total_tokens": 1555}
        })
        .to_string();
        Self {
            vectors,
            memories,
            system_prompt,
            response,
        }
    }

    /// The query's embedding: its words hashed into the dimensions.
    fn embed(&self, text: &str) -> [f32; DIM] {
        let mut v = [0.0f32; DIM];
        for word in text.split_whitespace() {
            let h = word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            v[(h % DIM as u64) as usize] += 1.0;
        }
        v
    }

    /// The index of the stored vector nearest to `q` (cosine), from `from`
    /// on (each look-up searches a different shard of the memory).
    fn lookup(&self, q: &[f32; DIM], from: usize) -> usize {
        let mut best = (f32::MIN, 0);
        for (i, v) in self.vectors.iter().enumerate().skip(from % 256) {
            let (mut dot, mut norm) = (0.0f32, 0.0f32);
            for d in 0..DIM {
                dot += q[d] * v[d];
                norm += v[d] * v[d];
            }
            let score = dot / norm.sqrt().max(1e-6);
            if score > best.0 {
                best = (score, i);
            }
        }
        best.1
    }

    /// The request body of a chat call.
    fn request(&self, question: &str, context: &[&str]) -> usize {
        let mut messages = vec![json!({"role": "system", "content": self.system_prompt})];
        for c in context {
            messages.push(json!({"role": "user", "content": c}));
        }
        messages.push(json!({"role": "user", "content": question}));
        let body = json!({
            "model": "gpt-4o",
            "temperature": 0.2,
            "max_tokens": 1024,
            "messages": messages,
            "tools": [{"type": "function", "function": {"name": "web_search", "parameters": {"type": "object"}}}],
        });
        serde_json::to_vec(&body).map_or(0, |b| b.len())
    }

    /// The response of a chat call, parsed: (input tokens, output tokens,
    /// tool calls as (name, arguments)).
    fn response(&self) -> (u64, u64, Vec<(String, String)>) {
        let v: Value = serde_json::from_str(&self.response).unwrap_or_default();
        let usage = &v["usage"];
        let calls = v["choices"][0]["message"]["tool_calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .map(|c| {
                        (
                            c["function"]["name"].as_str().unwrap_or("").to_owned(),
                            c["function"]["arguments"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (
            usage["prompt_tokens"].as_u64().unwrap_or(0),
            usage["completion_tokens"].as_u64().unwrap_or(0),
            calls,
        )
    }

    /// A tool: parses its arguments, renders its result.
    fn tool(&self, name: &str, arguments: &str) -> String {
        let args: Value = serde_json::from_str(arguments).unwrap_or_default();
        let limit = args["limit"].as_u64().unwrap_or(1);
        let mut out = String::with_capacity(640);
        for i in 0..limit {
            out.push_str(&format!(
                "[{name} result {i}] {} (score {:.2})\n",
                args["query"].as_str().unwrap_or(""),
                1.0 / (i + 1) as f64
            ));
        }
        json!({"tool": name, "output": out}).to_string()
    }
}

/// The tool calls of the first chat when there is no work to produce them.
const TOOLS: [&str; 3] = ["web_search", "calculator", "read_file"];

/// One agent task: ten spans when `tracer` is set, the work when `work`
/// is.
fn task(tracer: Option<&AgentStepTracer>, work: Option<&Work>, i: u64) {
    let question = "What was the revenue of region 7 in Q3, and how did it change?";
    let agent = tracer.map(|t| {
        genai::invoke_agent(t, provider_name::OPENAI, "researcher")
            .agent_id("asst_research_01")
            .request_model("gpt-4o")
            .conversation_id(format!("conv_{}", i % 64))
            .start()
    });
    let parent = agent.as_ref().map(|a| a.span());

    // The query's embedding.
    let embedding = {
        let _span = tracer.zip(parent).map(|(t, p)| {
            t.span_builder("embeddings text-embedding-3-small")
                .parent(p)
                .kind(SpanKind::Client)
                .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::EMBEDDINGS)
                .attribute(semconv::GEN_AI_PROVIDER_NAME, provider_name::OPENAI)
                .attribute(semconv::GEN_AI_REQUEST_MODEL, "text-embedding-3-small")
                .attribute(semconv::GEN_AI_USAGE_INPUT_TOKENS, 14_i64)
                .start()
        });
        work.map(|w| w.embed(question))
    };

    // Three memory look-ups.
    let mut memories = Vec::with_capacity(3);
    for (n, collection) in ["long_term", "episodic", "tool_cache"]
        .into_iter()
        .enumerate()
    {
        let mut span = tracer.zip(parent).map(|(t, p)| {
            t.span_builder("memory_lookup")
                .parent(p)
                .attribute("db.operation.name", "search")
                .attribute("db.collection.name", collection)
                .start()
        });
        if let (Some(w), Some(q)) = (work, &embedding) {
            let hit = w.lookup(q, (i as usize + n * 97) % 1024);
            memories.push(w.memories[hit].as_str());
        }
        if let Some(s) = &mut span {
            s.set_attribute("agent.memory.hits", 1_i64);
        }
    }

    // The first chat: the model asks for three tools.
    let calls = {
        let mut chat = tracer.zip(parent).map(|(t, p)| {
            genai::chat(t, provider_name::OPENAI, "gpt-4o")
                .parent(p)
                .temperature(0.2)
                .max_tokens(1024)
                .start()
        });
        let (input, output, calls) = match work {
            Some(w) => {
                black_box(w.request(question, &memories));
                w.response()
            }
            None => (1234, 321, Vec::new()),
        };
        if let Some(c) = &mut chat {
            c.set_response_model("gpt-4o-2024-08-06");
            c.record_usage(input, output);
            c.set_finish_reasons([finish_reason::TOOL_CALL]);
        }
        calls
    };

    // The tools.
    let mut results = Vec::with_capacity(3);
    for (n, name) in TOOLS.into_iter().enumerate() {
        let _tool = tracer.zip(parent).map(|(t, p)| {
            genai::execute_tool(t, name)
                .parent(p)
                .call_id(format!("call_{n}"))
                .start()
        });
        if let (Some(w), Some((name, arguments))) = (work, calls.get(n)) {
            results.push(w.tool(name, arguments));
        }
    }

    // The answer.
    {
        let mut chat = tracer.zip(parent).map(|(t, p)| {
            genai::chat(t, provider_name::OPENAI, "gpt-4o")
                .parent(p)
                .temperature(0.2)
                .max_tokens(1024)
                .start()
        });
        let context: Vec<&str> = results.iter().map(String::as_str).collect();
        let (input, output) = match work {
            Some(w) => {
                black_box(w.request(question, &context));
                let (input, output, _) = w.response();
                (input, output)
            }
            None => (1234, 321),
        };
        if let Some(c) = &mut chat {
            c.set_response_model("gpt-4o-2024-08-06");
            c.record_usage(input, output);
            c.set_finish_reasons([finish_reason::STOP]);
        }
    }
    if let Some(mut a) = agent {
        a.record_usage(2468, 642);
        a.end();
    }
}

/// The spans of [`task`] with the same names, kinds and attributes, made
/// with `span_builder` alone: no GenAI helper, so no GenAI metrics.
fn task_plain(t: &AgentStepTracer, i: u64) {
    let mut agent = t
        .span_builder("invoke_agent researcher")
        .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::INVOKE_AGENT)
        .attribute(semconv::GEN_AI_PROVIDER_NAME, provider_name::OPENAI)
        .attribute(semconv::GEN_AI_AGENT_NAME, "researcher")
        .attribute(semconv::GEN_AI_AGENT_ID, "asst_research_01")
        .attribute(semconv::GEN_AI_REQUEST_MODEL, "gpt-4o")
        .attribute(semconv::GEN_AI_CONVERSATION_ID, format!("conv_{}", i % 64))
        .start();
    t.span_builder("embeddings text-embedding-3-small")
        .parent(&agent)
        .kind(SpanKind::Client)
        .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::EMBEDDINGS)
        .attribute(semconv::GEN_AI_PROVIDER_NAME, provider_name::OPENAI)
        .attribute(semconv::GEN_AI_REQUEST_MODEL, "text-embedding-3-small")
        .attribute(semconv::GEN_AI_USAGE_INPUT_TOKENS, 14_i64)
        .start()
        .end();
    for collection in ["long_term", "episodic", "tool_cache"] {
        let mut span = t
            .span_builder("memory_lookup")
            .parent(&agent)
            .attribute("db.operation.name", "search")
            .attribute("db.collection.name", collection)
            .start();
        span.set_attribute("agent.memory.hits", 1_i64);
    }
    let chat = |reason: &str| {
        let mut chat = t
            .span_builder("chat gpt-4o")
            .parent(&agent)
            .kind(SpanKind::Client)
            .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::CHAT)
            .attribute(semconv::GEN_AI_PROVIDER_NAME, provider_name::OPENAI)
            .attribute(semconv::GEN_AI_REQUEST_MODEL, "gpt-4o")
            .attribute(semconv::GEN_AI_REQUEST_TEMPERATURE, 0.2)
            .attribute(semconv::GEN_AI_REQUEST_MAX_TOKENS, 1024_i64)
            .start();
        chat.set_attribute(semconv::GEN_AI_RESPONSE_MODEL, "gpt-4o-2024-08-06");
        chat.set_attribute(semconv::GEN_AI_USAGE_INPUT_TOKENS, 1234_i64);
        chat.set_attribute(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, 321_i64);
        chat.set_attribute(
            semconv::GEN_AI_RESPONSE_FINISH_REASONS,
            AttrValue::from(vec![reason.to_owned()]),
        );
    };
    chat(finish_reason::TOOL_CALL);
    for (n, name) in TOOLS.into_iter().enumerate() {
        t.span_builder(format!("execute_tool {name}"))
            .parent(&agent)
            .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::EXECUTE_TOOL)
            .attribute(semconv::GEN_AI_TOOL_NAME, name)
            .attribute(semconv::GEN_AI_TOOL_CALL_ID, format!("call_{n}"))
            .start()
            .end();
    }
    chat(finish_reason::STOP);
    agent.set_attribute(semconv::GEN_AI_USAGE_INPUT_TOKENS, 2468_i64);
    agent.set_attribute(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, 642_i64);
    agent.end();
}

// ---- the OpenTelemetry stack ---------------------------------------------------------

/// `tracing` + `tracing-opentelemetry` + `opentelemetry_sdk` (batch span
/// processor, its defaults) + `opentelemetry-otlp` (HTTP/protobuf) as the
/// process's `tracing` subscriber; the provider, to flush and shut down.
/// With `layer_defaults`, the layer keeps its own attributes (code
/// location, thread, busy/idle time, target) on every span.
fn install_otel(
    endpoint: String,
    layer_defaults: bool,
) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, String> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("opentelemetry-otlp exporter: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("research-agent")
        .with_attribute(opentelemetry::KeyValue::new("service.version", "1.0.0"))
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("research-agent"));
    let layer = if layer_defaults {
        layer
    } else {
        // The attributes ours does not deliver: code location, thread,
        // busy/idle time and target.
        layer
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
    };
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|e| format!("tracing subscriber: {e}"))?;
    Ok(provider)
}

/// [`task`] as a user of the OpenTelemetry stack writes it: the same spans
/// (names, kinds, parents, attributes), one `#[instrument]`ed function per
/// step.
#[tracing::instrument(
    name = "invoke_agent researcher",
    skip_all,
    fields(
        gen_ai.operation.name = operation_name::INVOKE_AGENT,
        gen_ai.provider.name = provider_name::OPENAI,
        gen_ai.agent.name = "researcher",
        gen_ai.agent.id = "asst_research_01",
        gen_ai.request.model = "gpt-4o",
        gen_ai.conversation.id = %format_args!("conv_{}", i % 64),
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
    )
)]
fn otel_task(work: Option<&Work>, i: u64) {
    let question = "What was the revenue of region 7 in Q3, and how did it change?";
    let embedding = otel_embed(work, question);
    let mut memories = Vec::with_capacity(3);
    for (n, collection) in ["long_term", "episodic", "tool_cache"]
        .into_iter()
        .enumerate()
    {
        if let Some(m) = otel_lookup(work, embedding.as_ref(), collection, i, n) {
            memories.push(m);
        }
    }
    let calls = otel_chat(work, question, &memories, finish_reason::TOOL_CALL);
    let mut results = Vec::with_capacity(3);
    for (n, name) in TOOLS.into_iter().enumerate() {
        if let Some(r) = otel_tool(work, name, n, calls.get(n)) {
            results.push(r);
        }
    }
    let context: Vec<&str> = results.iter().map(String::as_str).collect();
    otel_chat(work, question, &context, finish_reason::STOP);
    let span = tracing::Span::current();
    span.record("gen_ai.usage.input_tokens", 2468_i64);
    span.record("gen_ai.usage.output_tokens", 642_i64);
}

#[tracing::instrument(
    name = "embeddings text-embedding-3-small",
    skip_all,
    fields(
        otel.kind = "client",
        gen_ai.operation.name = operation_name::EMBEDDINGS,
        gen_ai.provider.name = provider_name::OPENAI,
        gen_ai.request.model = "text-embedding-3-small",
        gen_ai.usage.input_tokens = 14_i64,
    )
)]
fn otel_embed(work: Option<&Work>, question: &str) -> Option<[f32; DIM]> {
    work.map(|w| w.embed(question))
}

#[tracing::instrument(
    name = "memory_lookup",
    skip_all,
    fields(
        db.operation.name = "search",
        db.collection.name = collection,
        agent.memory.hits = tracing::field::Empty,
    )
)]
fn otel_lookup<'w>(
    work: Option<&'w Work>,
    embedding: Option<&[f32; DIM]>,
    collection: &str,
    i: u64,
    n: usize,
) -> Option<&'w str> {
    let hit = work
        .zip(embedding)
        .map(|(w, q)| w.memories[w.lookup(q, (i as usize + n * 97) % 1024)].as_str());
    tracing::Span::current().record("agent.memory.hits", 1_i64);
    hit
}

#[tracing::instrument(
    name = "chat gpt-4o",
    skip_all,
    fields(
        otel.kind = "client",
        gen_ai.operation.name = operation_name::CHAT,
        gen_ai.provider.name = provider_name::OPENAI,
        gen_ai.request.model = "gpt-4o",
        gen_ai.request.temperature = 0.2,
        gen_ai.request.max_tokens = 1024_i64,
        gen_ai.response.model = tracing::field::Empty,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
    )
)]
fn otel_chat(
    work: Option<&Work>,
    question: &str,
    context: &[&str],
    reason: &'static str,
) -> Vec<(String, String)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let (input, output, calls) = match work {
        Some(w) => {
            black_box(w.request(question, context));
            w.response()
        }
        None => (1234, 321, Vec::new()),
    };
    let span = tracing::Span::current();
    span.record("gen_ai.response.model", "gpt-4o-2024-08-06");
    // `tracing-opentelemetry` records a `u64` as a string: an int, as
    // the conventions have it, takes an `i64`.
    span.record(
        "gen_ai.usage.input_tokens",
        i64::try_from(input).unwrap_or(i64::MAX),
    );
    span.record(
        "gen_ai.usage.output_tokens",
        i64::try_from(output).unwrap_or(i64::MAX),
    );
    // A string array is not a `tracing` value: the OpenTelemetry API.
    span.set_attribute(
        semconv::GEN_AI_RESPONSE_FINISH_REASONS,
        opentelemetry::Value::Array(vec![opentelemetry::StringValue::from(reason)].into()),
    );
    calls
}

#[tracing::instrument(
    name = "execute_tool",
    skip_all,
    fields(
        otel.name = %format_args!("execute_tool {name}"),
        gen_ai.operation.name = operation_name::EXECUTE_TOOL,
        gen_ai.tool.name = name,
        gen_ai.tool.call.id = %format_args!("call_{n}"),
    )
)]
fn otel_tool(
    work: Option<&Work>,
    name: &str,
    n: usize,
    call: Option<&(String, String)>,
) -> Option<String> {
    work.zip(call)
        .map(|(w, (name, arguments))| w.tool(name, arguments))
}

// ---- measuring ------------------------------------------------------------------------

/// The process's CPU time in nanoseconds (`CLOCK_PROCESS_CPUTIME_ID`),
/// threads that have exited included.
fn process_cpu_ns() -> u64 {
    cpu_time::cpu_ns(cpu_time::CLOCK_PROCESS_CPUTIME_ID)
}

/// Each live thread's kind and CPU time in nanoseconds, by thread id, from
/// `/proc/self/task/*/{comm,schedstat}`.
fn thread_cpu_ns() -> std::collections::HashMap<u32, (&'static str, u64)> {
    let pid = std::process::id();
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let comm = comm.trim();
        // Thread names are cut to 15 bytes.
        let kind = if tid == pid {
            "app"
        } else if comm.starts_with("otlp-receiver") {
            "receiver"
        } else if comm.starts_with("agent-trace-exp") || comm.starts_with("OpenTelemetry.T") {
            // Ours, or the batch span processor's thread
            // (`OpenTelemetry.Traces.BatchProcessor`).
            "export"
        } else if comm.starts_with("reqwest-interna") {
            // reqwest's blocking client: its tokio runtime
            // (`reqwest-internal-sync-runtime`).
            "http"
        } else if comm.starts_with("agent-trace-pub") || comm.starts_with("agent-trace-met") {
            "publisher"
        } else if comm.starts_with("agent-trace-clo") {
            "clock"
        } else {
            "other"
        };
        out.insert(tid, (kind, ns));
    }
    out
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`); 0 if absent.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak resident set (`VmHWM`) to the current one and returns
/// that, in KiB. Where the kernel refuses the reset, the peak stays the
/// process's, which differs little: before the stack is installed the
/// process has only started the receiver (and built the work's data).
fn reset_peak_rss() -> u64 {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("agent_workload: cannot reset the peak RSS ({e}): peak since the process start");
    }
    status_kib("VmRSS")
}

/// The peak resident set since [`reset_peak_rss`], in KiB.
fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}
