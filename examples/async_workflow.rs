//! The reference's async workflow on tokio: one research task whose steps
//! run concurrently, on tasks of their own and on whichever worker thread
//! polls them, and still form one trace with the right parents.
//!
//! How each span finds its parent across `.await` and `tokio::spawn`:
//!
//! - `#[instrument]` async functions (`plan`, `web_search`): the span is
//!   made at the first poll, under the span current there, and entered
//!   around every poll, on whatever thread;
//! - `AgentFutureExt::in_current_context` on every future given to `tokio::spawn`
//!   (the searches, the memory look-up): it captures the span current at
//!   the spawn and makes it current around every poll of the task, so
//!   that what starts there (an `#[instrument]` span or a tracer span)
//!   has the right parent. A spawned task starts with nothing current:
//!   without it, each search would be a trace of its own;
//! - `AgentFutureExt::in_context` (the task, each LLM call): the span stays in
//!   hand to be annotated afterwards, its context is current around every
//!   poll of the future;
//! - `AgentFutureExt::in_span` (inside the memory look-up): the span moves into
//!   the future and ends when the future completes;
//! - `tracing::Instrument` (`synthesize`): a `tracing` span attached to a
//!   future by hand. Imported beside `AgentFutureExt`: no method name is
//!   on both.
//!
//! At the end it checks that each task is one trace, one tree.
//!
//! Runs with no collector and no configuration, like `agent_workflow`.
//!
//! ```text
//! cargo run --example async_workflow
//! ```

use std::fmt;
use std::time::Duration;

use agent_trace::{AgentFutureExt, SpanKind, Status, TraceId, tracer};
use tokio::time::sleep;
use tracing::field::Empty;
use tracing::{Instrument, instrument};

#[path = "support/latency_table.rs"]
mod latency_table;

/// How many research tasks run, one after the other (their steps run
/// concurrently).
const RUNS: u64 = 12;

const QUESTIONS: [&str; 4] = [
    "what limits battery life in cold weather?",
    "how do transformers handle long context?",
    "why is the sky blue at noon and red at dusk?",
    "what makes a good agent benchmark?",
];

// Four workers, so that the spawned steps really run on several threads.
#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> anyhow::Result<()> {
    let guard = agent_trace::init()
        .service_name("async-workflow")
        .install_tracing_subscriber(true)
        .install()?;

    // Ctrl-C (or SIGTERM, with `.shutdown_on_signals(true)` above) ends
    // the run early: the tokio idiom is to wait for the signal next to the
    // work, then drop the guard, which delivers what is queued within its
    // shutdown timeout. Without it, the spans not yet exported are lost.
    let all_runs = async {
        let mut runs = Vec::new();
        for run in 0..RUNS {
            let question = QUESTIONS[(run % QUESTIONS.len() as u64) as usize];
            runs.push(research_task(run, question).await?);
        }
        anyhow::Ok(runs)
    };
    let runs = tokio::select! {
        runs = all_runs => runs?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: delivering the spans ended so far");
            drop(guard);
            return Ok(());
        }
    };

    // A run in which a search timed out: its span has the error, the task
    // went on with the other results.
    let id = runs
        .iter()
        .find(|r| r.failed_searches > 0)
        .map_or(runs[0].id, |r| r.id);
    check_one_tree_per_task(&runs)?;
    let trace = tracer()
        .trace(id)
        .ok_or_else(|| anyhow::anyhow!("trace {id} is no longer in memory"))?;
    println!(
        "{} tasks, {} traces, each one tree; trace {id} has {} spans:\n",
        runs.len(),
        runs.len(),
        trace.spans().len()
    );
    print!("{}", trace.render());
    if let Some(root) = trace.root() {
        let steps: Duration = trace
            .spans()
            .iter()
            .filter(|s| s.parent_span_id == Some(root.context.span_id))
            .map(|s| s.duration())
            .sum();
        println!(
            "\nthe task took {:.0} ms; its steps, {:.0} ms in all: they overlapped\n",
            root.duration().as_secs_f64() * 1e3,
            steps.as_secs_f64() * 1e3
        );
    }
    latency_table::print_latencies(RUNS, "tasks");

    if let Err(e) = guard.flush(Duration::from_secs(5)) {
        eprintln!("export: {e}");
    }
    if std::env::var_os("OTEL_TRACES_EXPORTER").is_none() {
        println!("spans written as OTLP JSON lines under ./agent-trace/");
    }
    Ok(())
}

/// Checks that the spans of each task form one tree, and that no span
/// escaped into a trace of its own (a spawned future without
/// `.in_current_context()` would).
fn check_one_tree_per_task(runs: &[Run]) -> anyhow::Result<()> {
    for run in runs {
        let trace = tracer()
            .trace(run.id)
            .ok_or_else(|| anyhow::anyhow!("trace {} is no longer in memory", run.id))?;
        anyhow::ensure!(
            trace.tree().len() == 1,
            "every span should be under research_task:\n{}",
            trace.render()
        );
    }
    let kept = tracer().store().map_or(0, |s| s.stats().traces);
    anyhow::ensure!(
        kept == runs.len(),
        "{} traces for {} tasks: some spans lost their parent",
        kept,
        runs.len()
    );
    Ok(())
}

/// What a research task reports.
#[derive(Debug)]
struct Run {
    id: TraceId,
    failed_searches: usize,
}

/// One research task: a trace of the global tracer, whose steps run
/// concurrently.
async fn research_task(run: u64, question: &str) -> anyhow::Result<Run> {
    let mut task = tracer()
        .trace_builder("research_task")
        .agent_id("Researcher")
        .attribute("question", question.to_owned())
        .start();
    // The task span stays here, to be annotated below; its context is
    // current around every poll of `answer`, on whichever thread.
    let answer = answer(run, question).in_context(task.context()).await;
    task.set_attribute("answer.sources", answer.sources);
    task.set_attribute("answer.chars", answer.text.len());
    task.set_status("success")?;
    Ok(Run {
        id: task.trace_id(),
        failed_searches: answer.failed_searches,
    })
}

#[derive(Debug)]
struct Answer {
    text: String,
    sources: usize,
    failed_searches: usize,
}

/// The steps of a task.
async fn answer(run: u64, question: &str) -> Answer {
    // Step 1: plan the searches (an LLM call).
    let queries = plan(run, question).await;

    // Step 2, concurrently: one search per query, each on a task of its
    // own, and a memory look-up on another; `.in_current_context()` carries
    // the task span into each.
    let searches: Vec<_> = queries
        .into_iter()
        .map(|query| tokio::spawn(web_search(run, query).in_current_context()))
        .collect();
    let memory = tokio::spawn(memory_lookup(question.to_owned()).in_current_context());
    let mut documents = Vec::new();
    let mut failed_searches = 0;
    for search in searches {
        match search.await {
            Ok(Ok(found)) => documents.extend(found),
            // The error is on the search's span already (`err`).
            Ok(Err(_)) | Err(_) => failed_searches += 1,
        }
    }
    let notes = memory.await.unwrap_or_default();

    // Step 3, concurrently on this task: two LLM calls.
    let (summary, critique) = tokio::join!(
        chat("summarize", run, documents.len()),
        chat("critique", run, notes.len()),
    );

    // Step 4: a `tracing` span attached to a future by hand.
    let sources = documents.len() + notes.len();
    let text = synthesize(&summary, &critique)
        .instrument(tracing::info_span!("synthesize", sources))
        .await;
    Answer {
        text,
        sources,
        failed_searches,
    }
}

/// Splits the question into search queries, with an LLM call.
#[instrument(skip_all, fields(queries = Empty))]
async fn plan(run: u64, question: &str) -> Vec<String> {
    // A child of `plan`: entering the `#[instrument]` span made it current.
    let _ = chat("plan", run, question.len()).await;
    let words: Vec<&str> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 4)
        .collect();
    let queries: Vec<String> = words.chunks(2).map(|c| c.join(" ")).take(3).collect();
    tracing::Span::current().record("queries", queries.len());
    queries
}

/// A search tool that sometimes times out.
#[derive(Debug)]
struct SearchTimeout(Duration);

impl fmt::Display for SearchTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "search timed out after {:?}", self.0)
    }
}

impl std::error::Error for SearchTimeout {}

/// A tool call, run on a task of its own. `err` records a returned error as
/// an `exception` event and an error status.
#[instrument(skip_all, fields(%query, worker = Empty, results = Empty), err)]
async fn web_search(run: u64, query: String) -> Result<Vec<String>, SearchTimeout> {
    // Which worker thread polls this first: not the spawning one, often.
    tracing::Span::current().record("worker", tracing::field::debug(std::thread::current().id()));
    let r = pseudo_random(run, &query);
    if r.is_multiple_of(6) {
        sleep(Duration::from_millis(40)).await;
        return Err(SearchTimeout(Duration::from_millis(40)));
    }
    let ms = 15 + r % 30;
    sleep(Duration::from_millis(ms)).await;
    let results: Vec<String> = (0..1 + ms % 3)
        .map(|i| format!("https://example.org/{i}"))
        .collect();
    tracing::Span::current().record("results", results.len());
    Ok(results)
}

/// A look-up in the agent's memory, spawned with `.in_current_context()`.
async fn memory_lookup(question: String) -> Vec<String> {
    // Started inside the spawned task: the context captured at the spawn
    // (the task) is its parent.
    let span = tracer()
        .span_builder("memory_lookup")
        .attribute("memory.store", "vector")
        .start();
    async {
        sleep(Duration::from_millis(5 + pseudo_random(0, &question) % 10)).await;
        vec![format!("earlier note on {:?}", question.split(' ').nth(2))]
    }
    .in_span(span) // current while the future runs; ended when it completes
    .await
}

/// One LLM call: a client span of the global tracer, annotated after the
/// call.
async fn chat(purpose: &'static str, run: u64, input: usize) -> String {
    let mut call = tracer()
        .span_builder("chat")
        .kind(SpanKind::Client)
        .attribute("gen_ai.operation.name", "chat")
        .attribute("gen_ai.request.model", "gpt-4")
        .attribute("purpose", purpose)
        .start();
    let ms = 20 + pseudo_random(run, purpose) % 40;
    sleep(Duration::from_millis(ms))
        .in_context(call.context())
        .await;
    call.set_attribute("gen_ai.usage.input_tokens", 50 + 4 * input as i64);
    call.set_attribute("gen_ai.usage.output_tokens", ms as i64 * 3);
    call.set_status(Status::Ok);
    format!("{purpose}: {ms} ms of thought")
}

async fn synthesize(summary: &str, critique: &str) -> String {
    sleep(Duration::from_millis(3)).await;
    tracing::info!(parts = 2_i64, "answer_ready");
    format!("{summary}; {critique}")
}

/// A deterministic stand-in for varying latencies (FNV-1a, then SplitMix64).
fn pseudo_random(run: u64, key: &str) -> u64 {
    let mut h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h = h.wrapping_add(run.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
