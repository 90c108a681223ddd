//! The `agent_workflow` example, exported over OTLP to an OpenTelemetry
//! Collector (or Jaeger, Grafana Tempo, any OTLP receiver) configured by
//! the standard environment variables.
//!
//! ```text
//! cargo run --example otlp_export            # HTTP/protobuf to http://localhost:4318/v1/traces
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 cargo run --example otlp_export
//! OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 \
//!     cargo run --example otlp_export
//! OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer abc" cargo run --example otlp_export
//! ```
//!
//! It prints where it sends, and at the end how many spans were delivered.
//! With nothing listening it still ends within a few seconds: the pipeline
//! retries a failed batch for at most 2 s here (30 s by default), the
//! guard waits at most 5 s, and every span not delivered is counted.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agent_trace::FinishedSpan;
use agent_trace::export::{
    BatchConfig, ExportError, ExportOutcome, OtlpExporter, Resource, RetryPolicy, SpanExporter,
};

// The same workflow, from the same file; its `main` is not used here.
#[allow(dead_code, reason = "agent_workflow's `main` and its helpers")]
#[path = "agent_workflow.rs"]
mod agent_workflow;

const RUNS: u64 = 25;

fn main() -> anyhow::Result<()> {
    // `from_env` reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _PROTOCOL,
    // _HEADERS, _TIMEOUT and _COMPRESSION; settings given here win.
    let otlp = OtlpExporter::builder()
        .resource(Resource::new("agent-workflow").with_version(env!("CARGO_PKG_VERSION")))
        .from_env()?
        .build()?;
    for var in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        match std::env::var(var) {
            Ok(v) => println!("{var}={v}"),
            Err(_) => println!("{var} is not set"),
        }
    }
    // The `Debug` form shows the endpoint and the header names, never
    // header values.
    println!("sending with {otlp:?}\n");

    let tally = Tally::new(otlp);
    let counts = tally.counts.clone();
    let guard = agent_trace::init()
        .service_name("agent-workflow")
        .exporter(tally) // replaces the default file and OTEL_TRACES_EXPORTER
        .batch(
            BatchConfig::default()
                .with_scheduled_delay(Duration::from_secs(1))
                .with_retry(RetryPolicy::default().with_max_elapsed(Duration::from_secs(2))),
        )
        .shutdown_timeout(Duration::from_secs(5))
        .install_tracing_subscriber(true)
        .install()?;

    agent_workflow::run_workflows(RUNS)?;
    agent_workflow::latency_table::print_latencies(RUNS, "runs");
    let ended = agent_trace::tracer()
        .store()
        .map_or(0, |s| s.stats().spans as u64);

    // Delivers what is queued, waiting at most the shutdown timeout; a
    // failure is printed on stderr.
    drop(guard);

    let delivered = counts.delivered.load(Ordering::Relaxed);
    let rejected = counts.rejected.load(Ordering::Relaxed);
    println!(
        "{ended} spans ended: {delivered} delivered, {} not delivered{}",
        ended.saturating_sub(delivered),
        if rejected > 0 {
            format!(" ({rejected} rejected by the receiver)")
        } else {
            String::new()
        }
    );
    let failed = counts.failed_attempts.load(Ordering::Relaxed);
    if failed > 0 {
        let last = counts.last_error.lock().map_or(None, |e| e.clone());
        println!(
            "{failed} export attempts failed; the last: {}",
            last.unwrap_or_default()
        );
    }
    Ok(())
}

/// Forwards to an exporter and counts what it delivers, to report at the
/// end. (The pipelines `init()` builds keep exact `BatchStats`, but the
/// guard does not hand them out.)
#[derive(Debug)]
struct Tally<E> {
    inner: E,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    delivered: AtomicU64,
    rejected: AtomicU64,
    failed_attempts: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl<E> Tally<E> {
    fn new(inner: E) -> Self {
        Self {
            inner,
            counts: Arc::default(),
        }
    }
}

impl<E: SpanExporter> SpanExporter for Tally<E> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
        let result = self.inner.export(batch);
        let c = &self.counts;
        match &result {
            Ok(outcome) => {
                let rejected = outcome.rejected_spans.min(batch.len() as u64);
                c.delivered
                    .fetch_add(batch.len() as u64 - rejected, Ordering::Relaxed);
                c.rejected.fetch_add(rejected, Ordering::Relaxed);
            }
            Err(e) => {
                c.failed_attempts.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = c.last_error.lock() {
                    *last = Some(with_sources(e));
                }
            }
        }
        result
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.inner.force_flush()
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.inner.shutdown()
    }
}

/// An error and its causes, as one line.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
