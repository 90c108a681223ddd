//! The reference's complete example: a data-analysis workflow of three agent
//! steps (validate data, LLM analysis, generate report), run many times,
//! traced, and summed up as latency percentiles per step.
//!
//! It shows the two ways to make spans, side by side in one tree:
//!
//! - the global tracer, [`agent_trace::tracer()`]: the task is a trace of
//!   its own (`trace_builder(..).agent_id(..)`) and each LLM call a span
//!   (`in_span`);
//! - `#[tracing::instrument]` functions for the steps: the `tracing`
//!   subscriber that `init()` installs turns them into agent spans, nested
//!   under whatever span is current, and records their durations in
//!   [`agent_trace::latency_metrics()`].
//!
//! Runs with no collector and no configuration: it prints the tree of one
//! trace and a p50/p95/p99 table, and `init()`'s default exporter writes
//! every span as OTLP JSON lines under `./agent-trace/`. Set
//! `OTEL_TRACES_EXPORTER=otlp` (see the README, "Sending to a collector")
//! to send them to a collector instead.
//!
//! ```text
//! cargo run --example agent_workflow
//! ```

use std::fmt;
use std::thread::sleep;
use std::time::Duration;

use agent_trace::{KeyValue, Status, TraceId, tracer};
use tracing::field::Empty;
use tracing::instrument;

#[path = "support/latency_table.rs"]
pub(crate) mod latency_table;

/// How many times the workflow runs: enough for percentiles to mean
/// something, few enough to finish in about a second.
const RUNS: u64 = 25;

/// One run in this many meets a rate limit on its first LLM call.
const RATE_LIMITED_EVERY: u64 = 8;

fn main() -> anyhow::Result<()> {
    // First thing in `main`: the global tracer, its exporters (here the
    // default JSON-lines file), and the `tracing` subscriber.
    let guard = agent_trace::init()
        .service_name("agent-workflow")
        .service_version(env!("CARGO_PKG_VERSION"))
        .install_tracing_subscriber(true)
        .install()?;

    let runs = run_workflows(RUNS)?;

    // The tree of a run that met the rate limit: a failed call with its
    // recorded exception, then the retry.
    let (id, _) = runs
        .iter()
        .find(|(_, retried)| *retried)
        .expect("one run in RATE_LIMITED_EVERY meets a rate limit");
    print_trace(*id);
    latency_table::print_latencies(RUNS, "runs");

    match std::env::var("OTEL_TRACES_EXPORTER") {
        Ok(names) if !names.trim().is_empty() => {
            // Delivered when `guard` drops; a failure is printed on stderr.
            println!("spans go to the exporters OTEL_TRACES_EXPORTER={names} names");
        }
        _ => match guard.flush(Duration::from_secs(5)) {
            Ok(()) => println!(
                "spans written as OTLP JSON lines to {}",
                guard
                    .default_file()
                    .map_or_else(|| "./agent-trace/".to_owned(), |p| p.display().to_string())
            ),
            Err(e) => eprintln!("cannot write the spans under ./agent-trace/: {e}"),
        },
    }
    Ok(()) // `guard` drops here: what is queued is delivered, waiting at most 5 s.
}

/// A stand-in for an LLM-backed agent: the work is simulated, no network.
#[derive(Debug)]
struct Agent {
    name: &'static str,
    model: &'static str,
    /// Calls that fail with a rate limit before one succeeds.
    rate_limited_calls: u32,
    rng: SplitMix64,
}

#[derive(Debug)]
struct Analysis {
    insights: Vec<String>,
    input_tokens: i64,
    output_tokens: i64,
}

/// The simulated LLM's only failure.
#[derive(Debug)]
struct RateLimited {
    retry_after: Duration,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited, retry after {:?}", self.retry_after)
    }
}

impl std::error::Error for RateLimited {}

impl Agent {
    fn new(name: &'static str, model: &'static str) -> Self {
        Self {
            name,
            model,
            rate_limited_calls: 0,
            rng: SplitMix64(0x5eed),
        }
    }

    /// One chat completion: 20-45 ms, and now and then a slow one.
    fn complete(&mut self, records: &[f64]) -> Result<Analysis, RateLimited> {
        let tail = if self.rng.below(10) == 0 { 40 } else { 0 };
        sleep(Duration::from_millis(20 + self.rng.below(25) + tail));
        if self.rate_limited_calls > 0 {
            self.rate_limited_calls -= 1;
            return Err(RateLimited {
                retry_after: Duration::from_millis(5),
            });
        }
        let mean = records.iter().sum::<f64>() / records.len().max(1) as f64;
        Ok(Analysis {
            insights: vec![
                format!("mean value is {mean:.2}"),
                format!(
                    "{} records above the mean",
                    records.iter().filter(|&&r| r > mean).count()
                ),
            ],
            input_tokens: 120 + 8 * records.len() as i64,
            output_tokens: 64,
        })
    }

    /// A dataset of 4-19 readings, some of them invalid.
    fn dataset(&mut self) -> Vec<f64> {
        let n = 4 + self.rng.below(16);
        (0..n)
            .map(|_| match self.rng.below(12) {
                0 => f64::NAN,
                1 => -1.0,
                v => v as f64 * 1.5,
            })
            .collect()
    }
}

/// Step 1: keep the finite, non-negative readings.
#[instrument(skip_all, fields(records = data.len(), valid_records = Empty))]
fn validate_data(data: &[f64]) -> Vec<f64> {
    sleep(Duration::from_millis(2));
    let validated: Vec<f64> = data
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .collect();
    tracing::Span::current().record("valid_records", validated.len());
    if validated.len() < data.len() {
        // An event of the `validate_data` span.
        tracing::info!(dropped = data.len() - validated.len(), "invalid_records");
    }
    validated
}

/// Step 2: LLM analysis; each call is a span of the global tracer, and a
/// rate-limited call is recorded as an exception and retried.
#[instrument(
    skip_all,
    fields(model = analyst.model, insights_count = Empty, otel.status_code = Empty)
)]
fn llm_analysis(analyst: &mut Agent, records: &[f64]) -> Analysis {
    let mut attempt = 1_i64;
    let analysis = loop {
        // Nested under `llm_analysis`: entering an `#[instrument]` span
        // makes its agent span current for the tracer too.
        let result = tracer().in_span("chat", |call| {
            call.set_attribute("gen_ai.operation.name", "chat");
            call.set_attribute("gen_ai.request.model", analyst.model);
            call.set_attribute("attempt", attempt);
            let result = analyst.complete(records);
            match &result {
                Ok(a) => {
                    call.set_attribute("gen_ai.usage.input_tokens", a.input_tokens);
                    call.set_attribute("gen_ai.usage.output_tokens", a.output_tokens);
                    call.add_event(
                        "response_received",
                        [KeyValue::new("finish_reason", "stop")],
                    );
                    call.set_status(Status::Ok);
                }
                Err(e) => call.record_exception(e), // an `exception` event and an error status
            }
            result
        });
        match result {
            Ok(analysis) => break analysis,
            Err(e) => {
                tracing::warn!(attempt, retry_after_ms = 5_i64, "retrying");
                sleep(e.retry_after);
                attempt += 1;
            }
        }
    };
    let span = tracing::Span::current();
    span.record("insights_count", analysis.insights.len());
    span.record("otel.status_code", "ok");
    tracing::info!(insight = %analysis.insights[0], "analysis_complete");
    analysis
}

/// Step 3: one page per two insights, at least one.
#[instrument(skip_all, fields(report.pages = Empty))]
fn generate_report(analysis: &Analysis) -> usize {
    sleep(Duration::from_millis(8));
    let pages = analysis.insights.len().div_ceil(2).max(1);
    tracing::Span::current().record("report.pages", pages);
    pages
}

/// The workflow, shaped as in the reference: the task is a trace of the
/// global tracer, the steps `#[instrument]` functions under it.
fn analyze_data_workflow(analyst: &mut Agent, data: &[f64]) -> anyhow::Result<TraceId> {
    let mut task = tracer()
        .trace_builder("data_analysis_workflow")
        .agent_id(analyst.name)
        .attribute("data.size", data.len())
        .start()
        .entered(); // current: the steps below become its children
    let validated = validate_data(data);
    let analysis = llm_analysis(analyst, &validated);
    let pages = generate_report(&analysis);
    task.set_attribute("report.pages", pages);
    task.set_status("success")?; // the reference's spelling of `Status::Ok`
    Ok(task.trace_id())
}

/// Runs the workflow `runs` times; each trace's id, and whether that run
/// met a rate limit.
pub(crate) fn run_workflows(runs: u64) -> anyhow::Result<Vec<(TraceId, bool)>> {
    let mut analyst = Agent::new("DataAnalyst", "gpt-4");
    (0..runs)
        .map(|run| {
            let retried = run % RATE_LIMITED_EVERY == 2;
            analyst.rate_limited_calls = u32::from(retried);
            let data = analyst.dataset();
            Ok((analyze_data_workflow(&mut analyst, &data)?, retried))
        })
        .collect()
}

/// Prints one trace as a tree, and the events of its spans.
pub(crate) fn print_trace(id: TraceId) {
    let Some(trace) = tracer().trace(id) else {
        println!("trace {id} is no longer in memory");
        return;
    };
    println!("trace {id}\n");
    print!("{}", trace.render());
    println!("\nevents, in order:");
    let mut events: Vec<_> = trace
        .spans()
        .iter()
        .flat_map(|span| span.events.iter().map(move |e| (span.name.as_str(), e)))
        .collect();
    events.sort_by_key(|(_, e)| e.timestamp);
    for (span, event) in events {
        let attributes: Vec<String> = event
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        println!(
            "  {span:<14} {:<18} {}",
            event.name.as_str(),
            attributes.join("  ")
        );
    }
    println!();
}

/// SplitMix64: a deterministic PRNG, so that every run simulates the same
/// latencies.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    /// A value in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}
