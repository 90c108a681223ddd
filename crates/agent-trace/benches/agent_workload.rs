//! What tracing costs an agent: a simulated agent workload at a fixed task
//! rate, with tracing set up the way an application sets it up (`init()`,
//! OTLP/HTTP export to a receiver, latency and GenAI metrics), against the
//! same workload with tracing off. Not a criterion bench: the figure is CPU
//! time over a whole run.
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
//! # Modes
//!
//! Each run is a child process (this binary with `--child`), so that the
//! globals `init()` sets are fresh and each run's CPU time is its own:
//!
//! - `off`: the work, no tracing at all (no tracer, no metrics recorder);
//! - `on`: the work with tracing as above;
//! - `trace_only`: the spans and metrics of `on` without the work;
//! - `plain_only`: the same ten spans and attributes made with
//!   `span_builder` alone (no GenAI helper, so no GenAI metrics), without
//!   the work: what the helpers and their metrics add;
//! - `idle`: neither, only the pacing loop.
//!
//! Each run paces `rate` tasks per second (default 1,000) on one
//! application thread for `secs` seconds, after 200 warm-up tasks (flushed
//! before the measurement starts), then flushes the export pipeline, so
//! the export of every measured span is inside the measurement. An
//! in-process OTLP/HTTP receiver (axum, on a runtime of its own whose
//! thread is named `otlp-receiver`) decodes every request and counts the
//! spans; it runs in every mode so that each process has the same threads,
//! and its CPU time is left out of every figure (it stands for the
//! collector, which runs elsewhere). CPU time is the process's
//! (`CLOCK_PROCESS_CPUTIME_ID`) minus the receiver's thread, and is also
//! split per thread from `/proc/self/task/*/schedstat`.
//!
//! The overhead is computed two ways: `on - off` (medians of interleaved
//! repetitions: the real cost, including what tracing does to the caches
//! of the work, but noisy, since it is a difference of two large figures),
//! and `trace_only - idle` (the cost of the tracing calls alone, precise).
//! Both are given per task and as a percentage of `off`.
//!
//! ```text
//! cargo bench -p agent-trace --bench agent_workload -- [--quick] [--secs S] [--rate R] [--reps N]
//! ```
//!
//! (`cargo xtask bench --e2e` runs it.) A markdown table goes to stdout,
//! progress to stderr. The process fails if, in a traced run, a span
//! created was neither delivered nor counted as dropped, or the receiver
//! did not get every delivered span.

#[path = "../../agent-trace-export/benches/support/cpu_time.rs"]
mod cpu_time;

use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_trace::export::{OtlpExporter, Resource};
use agent_trace::genai;
use agent_trace::semconv::{self, finish_reason, operation_name, provider_name};
use agent_trace::{AgentStepTracer, SpanKind, Value as AttrValue};
use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::{Value, json};

/// Spans per task.
const SPANS_PER_TASK: u64 = 10;

/// Tasks run before the measurement.
const WARM_UP_TASKS: u64 = 200;

/// The overhead target, as a fraction of the CPU time of a run without
/// tracing.
const TARGET: f64 = 0.01;

/// The run modes, as `--child` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    TraceOnly,
    PlainOnly,
    Off,
    On,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Idle => "idle",
            Mode::TraceOnly => "trace_only",
            Mode::PlainOnly => "plain_only",
            Mode::Off => "off",
            Mode::On => "on",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Mode::Idle,
            Mode::TraceOnly,
            Mode::PlainOnly,
            Mode::Off,
            Mode::On,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }

    fn traced(self) -> bool {
        matches!(self, Mode::TraceOnly | Mode::PlainOnly | Mode::On)
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
        .unwrap_or(if quick { 1 } else { 3 });
    match parent(rate, secs, reps) {
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

/// CPU microseconds per task of a run, receiver left out.
fn per_task(v: &Value) -> f64 {
    num(v, "cpu_ns_without_receiver") / num(v, "tasks") / 1e3
}

fn per_task_of(v: &Value, thread: &str) -> f64 {
    v["threads_ns"][thread].as_f64().unwrap_or(0.0) / num(v, "tasks") / 1e3
}

/// Runs every mode; `Ok(false)` when a traced run lost spans.
fn parent(rate: f64, secs: f64, reps: usize) -> Result<bool, String> {
    let mut runs = vec![
        run_child(Mode::Idle, rate, secs)?,
        run_child(Mode::TraceOnly, rate, secs)?,
        run_child(Mode::PlainOnly, rate, secs)?,
    ];
    for _ in 0..reps {
        runs.push(run_child(Mode::Off, rate, secs)?);
        runs.push(run_child(Mode::On, rate, secs)?);
    }

    println!(
        "### Agent workload: {rate} tasks/s x {SPANS_PER_TASK} spans, {secs} s per run, OTLP/HTTP \
         to an in-process receiver\n"
    );
    println!(
        "| run | tasks | achieved rate | CPU/task (receiver excluded) | app thread | export worker \
         | metrics publisher | other threads | receiver (excluded) | spans created / delivered / dropped / received |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for r in &runs {
        let spans = if r["traced"].as_bool() == Some(true) {
            let created = r["spans_created"].as_u64().unwrap_or(0);
            let delivered = r["spans_delivered"].as_u64().unwrap_or(0);
            let dropped = r["spans_dropped"].as_u64().unwrap_or(0);
            let received = r["spans_received"].as_u64().unwrap_or(0);
            ok &= created == delivered + dropped && received == delivered;
            format!("{created} / {delivered} / {dropped} / {received}")
        } else {
            "-".to_owned()
        };
        println!(
            "| {} | {} | {:.0}/s | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {spans} |",
            r["mode"].as_str().unwrap_or("?"),
            num(r, "tasks"),
            num(r, "tasks") / num(r, "wall_secs"),
            per_task(r),
            per_task_of(r, "app"),
            per_task_of(r, "export"),
            per_task_of(r, "publisher"),
            per_task_of(r, "other"),
            per_task_of(r, "receiver"),
        );
    }
    let of = |mode: Mode| -> Vec<f64> {
        runs.iter()
            .filter(|r| r["mode"] == mode.name())
            .map(per_task)
            .collect()
    };
    let off = median(of(Mode::Off));
    let on = median(of(Mode::On));
    let trace_only = median(of(Mode::TraceOnly));
    let plain_only = median(of(Mode::PlainOnly));
    let idle = median(of(Mode::Idle));
    let spread = |mode: Mode| {
        let xs = of(mode);
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.1}-{hi:.1} µs")
    };
    let ab = on - off;
    let direct = trace_only - idle;
    let core = |us: f64| us * rate / 1e6 * 100.0;
    println!();
    println!(
        "- with tracing off: {off:.1} µs CPU per task (median of {reps}; range {})",
        spread(Mode::Off)
    );
    println!(
        "- with tracing on: {on:.1} µs CPU per task (median of {reps}; range {})",
        spread(Mode::On)
    );
    println!(
        "- overhead, on - off: {ab:.1} µs per task = {:.1}% of the run with tracing off \
         ({:.2}% of one core at {rate} tasks/s)",
        ab / off * 100.0,
        core(ab)
    );
    println!(
        "- overhead, trace_only - idle (the tracing calls and export alone): {direct:.1} µs per \
         task = {:.1}% of the run with tracing off ({:.2}% of one core)",
        direct / off * 100.0,
        core(direct)
    );
    println!(
        "- of which the spans alone (the same ten spans and attributes through `span_builder`, \
         no GenAI helper, no GenAI metrics; export and latency metrics as above): plain_only - \
         idle = {:.1} µs per task; the GenAI helpers and their metrics: trace_only - plain_only \
         = {:.1} µs per task",
        plain_only - idle,
        trace_only - plain_only
    );
    let worst = ab.max(direct) / off;
    println!(
        "- target < {:.0}% of the run with tracing off (the larger of the two overheads): {}",
        TARGET * 100.0,
        if worst < TARGET { "met" } else { "NOT MET" }
    );
    if !ok {
        println!("- FAILED: a traced run did not account for every span (see the last column)");
    }
    Ok(ok)
}

// ---- a child: one run ---------------------------------------------------------------

/// The OTLP/HTTP receiver: decodes each request and counts its spans.
struct Receiver {
    _runtime: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    spans: Arc<AtomicU64>,
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
        let counted = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let counted = counted.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body)
                        .expect("the exporter sends valid protobuf");
                    let n: usize = request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum();
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
        })
    }
}

fn child(mode: Mode, rate: f64, secs: f64) -> Result<Value, String> {
    let receiver = Receiver::start()?;
    let guard = if mode.traced() {
        metrics::set_global_recorder(agent_trace_metrics::PrometheusRecorder::new())
            .map_err(|e| format!("metrics recorder: {e}"))?;
        let otlp = OtlpExporter::builder()
            .endpoint(format!("http://{}/v1/traces", receiver.addr))
            .resource(Resource::new("research-agent").with_version("1.0.0"))
            .build()
            .map_err(|e| format!("exporter: {e}"))?;
        let guard = agent_trace::init()
            .service_name("research-agent")
            .exporter(otlp)
            .exporters_from_env(false)
            .file_by_default(false)
            .install()
            .map_err(|e| format!("init: {e}"))?;
        Some(guard)
    } else {
        None
    };
    let tracer = guard.as_ref().map(|g| g.tracer());
    let work = mode.works().then(Work::new);
    let flush = || {
        if let Some(g) = &guard {
            g.flush(Duration::from_secs(30))
                .map_err(|e| format!("flush: {e}"))
        } else {
            Ok(())
        }
    };

    let run = |i| match (mode, tracer) {
        (Mode::PlainOnly, Some(t)) => task_plain(t, i),
        _ => task(tracer, work.as_ref(), i),
    };
    for i in 0..WARM_UP_TASKS {
        run(i);
    }
    flush()?;
    let received_before = receiver.spans.load(Ordering::Relaxed);
    let stats_before = guard.as_ref().map(|g| g.export_stats()[0].1);

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
    flush()?;
    let (cpu1, threads1) = (process_cpu_ns(), thread_cpu_ns());

    let mut by_kind = json!({ "app": 0, "export": 0, "publisher": 0, "receiver": 0, "other": 0 });
    for (tid, (kind, ns)) in &threads1 {
        let before = threads0.get(tid).map_or(0, |(_, ns)| *ns);
        let sum = by_kind[kind].as_u64().unwrap_or(0) + (ns - before);
        by_kind[kind] = json!(sum);
    }
    let receiver_ns = by_kind["receiver"].as_u64().unwrap_or(0);
    let mut v = json!({
        "mode": mode.name(),
        "traced": mode.traced(),
        "tasks": tasks,
        "wall_secs": wall.as_secs_f64(),
        "cpu_ns": cpu1 - cpu0,
        "cpu_ns_without_receiver": (cpu1 - cpu0).saturating_sub(receiver_ns),
        "threads_ns": by_kind,
    });
    if let (Some(g), Some(before)) = (&guard, stats_before) {
        let after = g.export_stats()[0].1;
        v["spans_created"] = json!(tasks * SPANS_PER_TASK);
        v["spans_delivered"] = json!(after.exported - before.exported);
        v["spans_dropped"] = json!(after.dropped() - before.dropped());
        v["spans_received"] = json!(receiver.spans.load(Ordering::Relaxed) - received_before);
    }
    drop(guard);
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
    let agent = t
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
    agent.end();
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
        } else if comm.starts_with("agent-trace-exp") {
            "export"
        } else if comm.starts_with("agent-trace-met") {
            "publisher"
        } else {
            "other"
        };
        out.insert(tid, (kind, ns));
    }
    out
}
