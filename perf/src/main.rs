//! The workloads of `cargo xtask perfgate`, the instruction-count gate.
//!
//! ```text
//! agent-trace-perf --list                 # name, operations per iteration, what it is
//! agent-trace-perf <workload> <iterations>
//! ```
//!
//! Each workload sets itself up, warms up (so that the span pool, the
//! latency series' bucket range, `tracing`'s callsite cache and the
//! encoder's size estimate are in their steady state), then runs
//! `iterations` iterations inside [`measured`], the only function
//! callgrind collects in (`--collect-atstart=no
//! --toggle-collect=*agent_trace_perf::measured*`). The xtask runs each
//! workload twice, with two iteration counts, and divides the difference of
//! the two instruction counts by the difference of the operations: what
//! the loop costs once (its first call, a lazily made thread-local) cancels
//! out. Only the calling thread is counted (callgrind collects per thread),
//! so background threads (the latency clock's ticker) do not add noise.
//!
//! Nothing here depends on time or on a random seed in a way that changes
//! the path taken: latencies come from a fixed SplitMix64 sequence, span
//! ids from the tracer's generator (their values do not change the
//! instructions run), the encoded spans have fixed-width ids and
//! timestamps, the latency metrics have hour-wide slots (no slot closes
//! mid-measurement) and the measurement waits for the latency clock's
//! first tick (see [`settle`]). Repeated runs agree to within a few
//! instructions in tens of millions.
//!
//! The figures include the measured loop's own few instructions per
//! operation (a counter and an indirect call), the same in every figure.

#![forbid(unsafe_code)]

#[path = "../../crates/agent-trace-export/benches/support/agent_spans.rs"]
mod agent_spans;
#[path = "../../crates/agent-trace-metrics/benches/support/latencies.rs"]
mod latencies;

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agent_spans::{BATCH, agent_spans};
use agent_trace::export::Resource;
use agent_trace::export::otlp::ProtobufEncoder;
use agent_trace::metrics::Tier;
use agent_trace::{AgentStepTracer, AgentTraceLayer, CountingProcessor, LatencyMetrics, Sampler};
use latencies::latencies;
use tracing_subscriber::layer::SubscriberExt as _;

/// Iterations run before the measured ones.
const WARM_UP: u64 = 4_096;

/// A workload: its name, the operations one iteration does (the figure is
/// instructions per operation), what it is, and its runner.
struct Workload {
    name: &'static str,
    ops_per_iteration: u64,
    what: &'static str,
    run: fn(u64) -> Result<(), String>,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "root_span_2_attrs",
        ops_per_iteration: 1,
        what: "root span, 2 attributes, ended into a counting processor",
        run: root_span_2_attrs,
    },
    Workload {
        name: "explicit_child_span",
        ops_per_iteration: 1,
        what: "child span of an explicit parent (span_builder().parent(&root)), no attributes",
        run: explicit_child_span,
    },
    Workload {
        name: "sampled_out_span",
        ops_per_iteration: 1,
        what: "the root span with 2 attributes under Sampler::AlwaysOff",
        run: sampled_out_span,
    },
    Workload {
        name: "instrument_call",
        ops_per_iteration: 1,
        what: "#[instrument] call (2 fields) under AgentTraceLayer, latency metrics on (1 h slots)",
        run: instrument_call,
    },
    Workload {
        name: "latency_record_by_handle",
        ops_per_iteration: 1,
        what: "SeriesHandle::record on the system clock (1 h slots), 1,024 cycled latencies",
        run: latency_record_by_handle,
    },
    Workload {
        name: "otlp_encode_per_span",
        ops_per_iteration: BATCH as u64,
        what: "ProtobufEncoder::encode of 512 agent spans into a fresh Vec, per span",
        run: otlp_encode_per_span,
    },
];

/// The measured loop: callgrind collects inside this function only. Not
/// inlined, so that it exists under its name, and not generic: `op` is
/// called through its vtable (hidden from the optimizer by `black_box`),
/// so the operation is compiled as a function of its own whatever this
/// loop looks like, and the loop adds the same few instructions (a
/// counter, an indirect call) to every figure.
#[inline(never)]
fn measured(iterations: u64, op: &mut dyn FnMut()) {
    for _ in 0..black_box(iterations) {
        op();
    }
}

/// Warms `op` up, then runs it `iterations` times in [`measured`].
fn warm_then_measure(iterations: u64, mut op: impl FnMut()) {
    let op: &mut dyn FnMut() = black_box(&mut op);
    for _ in 0..WARM_UP {
        op();
    }
    settle();
    measured(iterations, op);
}

/// Lets the threads the warm-up started run before the measurement: the
/// latency clock's ticker, started when the registry is built, must have
/// ticked once, or reads take the precise path (about 50 more
/// instructions each) until it has. Under valgrind, which runs one thread
/// at a time, a new thread may wait that long for its first turn.
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

/// Latency metrics whose finest slots are an hour wide instead of 5 s: the
/// record path is the same, but no slot closes during a measurement (a
/// close, some 30,000 instructions, lands in the measured loop when the
/// wall clock crosses a slot boundary, so the count would depend on when
/// the run started).
fn hourly_metrics() -> Result<LatencyMetrics, String> {
    LatencyMetrics::builder()
        .tiers(vec![Tier::new(Duration::from_secs(3_600), 24)])
        .build()
        .map_err(|e| e.to_string())
}

fn tracer(sampler: Sampler, counted: &Arc<CountingProcessor>) -> AgentStepTracer {
    AgentStepTracer::builder()
        .sampler(sampler)
        .processor(counted.clone())
        .without_store()
        .build()
}

fn root_with_two_attributes(tracer: &AgentStepTracer) {
    let mut span = tracer.start_trace("root");
    span.set_attribute("model", "gpt-4");
    span.set_attribute("tokens", 150_i64);
    span.end();
}

/// Checks that the processor saw `expected` spans: a workload that stopped
/// doing its work fails rather than looking cheap.
fn expect_ended(counted: &CountingProcessor, expected: u64) -> Result<(), String> {
    match counted.ended() {
        n if n == expected => Ok(()),
        n => Err(format!("{n} spans ended, expected {expected}")),
    }
}

fn root_span_2_attrs(iterations: u64) -> Result<(), String> {
    let counted = Arc::new(CountingProcessor::default());
    let tracer = tracer(Sampler::default(), &counted);
    warm_then_measure(iterations, || root_with_two_attributes(&tracer));
    expect_ended(&counted, WARM_UP + iterations)
}

fn explicit_child_span(iterations: u64) -> Result<(), String> {
    let counted = Arc::new(CountingProcessor::default());
    let tracer = tracer(Sampler::default(), &counted);
    let root = tracer.start_trace("root");
    warm_then_measure(iterations, || {
        tracer.span_builder("child").parent(&root).start().end();
    });
    root.end();
    expect_ended(&counted, WARM_UP + iterations + 1)
}

fn sampled_out_span(iterations: u64) -> Result<(), String> {
    let counted = Arc::new(CountingProcessor::default());
    let tracer = tracer(Sampler::AlwaysOff, &counted);
    warm_then_measure(iterations, || root_with_two_attributes(&tracer));
    expect_ended(&counted, 0)
}

#[tracing::instrument]
fn llm_call(model: &str, tokens: i64) -> i64 {
    black_box(tokens)
}

fn instrument_call(iterations: u64) -> Result<(), String> {
    // As `crates/agent-trace/benches/layer.rs` sets it up.
    let counted = Arc::new(CountingProcessor::default());
    let tracer = tracer(Sampler::default(), &counted);
    let layer = AgentTraceLayer::new(tracer).with_latency_metrics(Arc::new(hourly_metrics()?));
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let _default = tracing::dispatcher::set_default(&dispatch);
    warm_then_measure(iterations, || {
        black_box(llm_call(black_box("gpt-4"), 150));
    });
    expect_ended(&counted, WARM_UP + iterations)
}

fn latency_record_by_handle(iterations: u64) -> Result<(), String> {
    // The 1,024 latencies the criterion bench cycles through.
    let values = latencies();
    let metrics = hourly_metrics()?;
    let handle = metrics.series("tool_call", &[]);
    let mut i = 0;
    let mut failed = 0_u64;
    warm_then_measure(iterations, || {
        i = (i + 1) & 1023;
        failed += u64::from(handle.record(values[i]).is_err());
    });
    if failed > 0 {
        return Err(format!("{failed} records failed"));
    }
    Ok(())
}

fn otlp_encode_per_span(iterations: u64) -> Result<(), String> {
    let batch = agent_spans();
    let resource = Resource::new("research-agent").with_version("1.0.0");
    let mut encoder = ProtobufEncoder::new(&resource);
    let mut bytes = 0;
    // A fresh body per batch, as the OTLP/HTTP exporter does. Fewer
    // warm-up batches than the other workloads' warm-up iterations: one
    // sets the encoder's size estimate.
    let mut op = || {
        let mut body = Vec::new();
        encoder.encode(black_box(&batch), &mut body);
        bytes = black_box(body).len();
    };
    let op: &mut dyn FnMut() = black_box(&mut op);
    for _ in 0..4 {
        op();
    }
    settle();
    measured(iterations, op);
    if bytes < BATCH * 100 {
        return Err(format!("{bytes} bytes for {BATCH} spans"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: agent-trace-perf --list | agent-trace-perf <workload> <iterations>";
    match args.as_slice() {
        [list] if list == "--list" => {
            for w in WORKLOADS {
                println!("{} {} {}", w.name, w.ops_per_iteration, w.what);
            }
            ExitCode::SUCCESS
        }
        [name, iterations] => {
            let Some(w) = WORKLOADS.iter().find(|w| w.name == name) else {
                eprintln!("agent-trace-perf: unknown workload `{name}` (--list lists them)");
                return ExitCode::FAILURE;
            };
            let Ok(iterations) = iterations.parse::<u64>() else {
                eprintln!("agent-trace-perf: `{iterations}` is not a count\n{usage}");
                return ExitCode::FAILURE;
            };
            match (w.run)(iterations) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("agent-trace-perf: {name}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{usage}");
            ExitCode::FAILURE
        }
    }
}
