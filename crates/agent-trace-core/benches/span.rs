//! The cost of a span in this crate, next to `opentelemetry_sdk` and
//! `fastrace`, measured in the same run so that the figures share one machine
//! state.
//!
//! Each workload is one criterion group, and each implementation one bench in
//! it, so the lines of a workload print together:
//!
//! - `root_span_2_attrs`: start a root span, set `model = "gpt-4"` and
//!   `tokens = 150`, end it.
//! - `parent_10_children`: start a root span, then ten children of it one
//!   after the other (each ended before the next starts, no attributes), then
//!   end the root.
//! - `parent_0_children`: the same parent with no children, so that the cost
//!   of one child is `(parent_10_children - parent_0_children) / 10` for the
//!   same bench id.
//! - `sampled_out_span`: the span of `root_span_2_attrs` under a sampler that
//!   drops it, which is what most spans cost in a service that samples.
//!
//! The parent workloads come in two variants per implementation: an explicit
//! parent handed to each child, and an implicit one, the span current on the
//! thread (our entered span, an attached OpenTelemetry `Context`, fastrace's
//! local parent with `LocalSpan`).
//!
//! Every implementation hands its finished spans to something that drops
//! them, set up the way it is normally used: ours to a [`CountingProcessor`]
//! on the calling thread, `opentelemetry_sdk` to its batch processor in front
//! of an exporter that discards, `fastrace` to its global collector in front
//! of a reporter that discards. The last two move every span to a background
//! thread, which competes with the bench thread on a machine with few cores
//! and which a bench thread starting spans back to back can outrun: the SDK
//! then drops spans and fastrace queues them without bound. Neither is how
//! they run in a service that does other work between spans, so
//! `bench_otel` and `bench_fastrace` count what reached the exporter or
//! reporter and print a note when a bench outran the background thread;
//! fastrace's backlog is drained outside the timing every 2^18 spans, as
//! an unbounded one outgrew the machine's memory in a full run.
//!
//! Run it with
//!
//! ```text
//! cargo bench -p agent-trace-core --bench span -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! and add a filter after `--` (for example `sampled_out`) to run one
//! workload.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_trace_core::{AgentStepTracer, CountingProcessor, Sampler};
use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, Criterion};
use fastrace::collector::{Config, Reporter, SpanRecord};
use fastrace::local::LocalSpan;
use fastrace::prelude::{Span as FtSpan, SpanContext as FtSpanContext};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler as OtelSampler, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter,
};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// How many children the parent workload starts.
const CHILDREN: usize = 10;

/// Iterations run by the benches so far, counted outside the timed loop, so
/// that the spans an exporter received can be checked against those started.
static ITERATIONS: AtomicU64 = AtomicU64::new(0);

/// Times `routine` exactly as `Bencher::iter` does, and counts its iterations.
/// Every bench uses it, so that all implementations share one timing loop,
/// except fastrace's, whose loop is the same but stops the clock now and then
/// to drain the collector's backlog (see [`bench_fastrace`]).
fn timed(b: &mut Bencher<'_>, mut routine: impl FnMut()) {
    b.iter_custom(|iters| {
        ITERATIONS.fetch_add(iters, Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..iters {
            routine();
        }
        start.elapsed()
    });
}

/// An OpenTelemetry exporter that counts the spans it is given and drops
/// them, so that the bench measures the SDK and not an encoder or a network.
#[derive(Debug)]
struct DiscardExporter {
    exported: Arc<AtomicU64>,
}

impl SpanExporter for DiscardExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = u64::try_from(batch.len()).expect("a batch fits in u64");
        self.exported.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

/// Spans fastrace has reported so far.
static FASTRACE_REPORTED: AtomicU64 = AtomicU64::new(0);

/// A fastrace reporter that counts the spans it is given and drops them, for
/// the same reason.
struct DiscardReporter;

impl Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        let n = u64::try_from(spans.len()).expect("a batch fits in u64");
        FASTRACE_REPORTED.fetch_add(n, Ordering::Relaxed);
    }
}

/// Our tracer as a bench of the tracer itself should use it: a processor
/// that only counts, and no in-memory store (which would measure the store).
fn ours(sampler: Sampler) -> AgentStepTracer {
    AgentStepTracer::builder()
        .sampler(sampler)
        .processor(Arc::new(CountingProcessor::default()))
        .without_store()
        .build()
}

/// The default OpenTelemetry sampler, as our default is.
fn otel_default_sampler() -> OtelSampler {
    OtelSampler::ParentBased(Box::new(OtelSampler::AlwaysOn))
}

/// Runs one OpenTelemetry bench on a provider of its own, with the batch span
/// processor at its default configuration, which is how the SDK is normally
/// deployed.
///
/// In 0.33 that processor runs its own thread: `on_end` pushes the span into
/// a bounded channel (2048 spans) and wakes the thread every 512 spans, and a
/// span that finds the channel full is dropped, which is cheaper than sending
/// it. Even with an exporter that returns at once, that thread cannot keep up
/// with a loop that does nothing but start spans, so the SDK's figures here
/// are a lower bound: the spans exported are counted after shutdown, and a
/// note says how many of the `spans_per_iter` spans of each iteration the
/// queue dropped.
fn bench_otel(
    group: &mut Group<'_>,
    id: &str,
    sampler: OtelSampler,
    spans_per_iter: u64,
    mut routine: impl FnMut(&SdkTracer),
) {
    let exported = Arc::new(AtomicU64::new(0));
    let exporter = DiscardExporter {
        exported: Arc::clone(&exported),
    };
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        .build();
    let tracer = provider.tracer("bench");

    ITERATIONS.store(0, Ordering::Relaxed);
    group.bench_function(id, |b| timed(b, || routine(&tracer)));
    // Shutting down exports what is still queued, and stops the worker thread
    // before the next bench starts.
    provider
        .shutdown()
        .expect("the discarding exporter never fails");

    let started = ITERATIONS.load(Ordering::Relaxed) * spans_per_iter;
    let exported = exported.load(Ordering::Relaxed);
    if exported != started {
        eprintln!(
            "note: {id}: {exported} of {started} spans reached the exporter; \
             the batch queue dropped the rest"
        );
    }
}

/// The most spans a fastrace bench lets its collector fall behind before it
/// stops the clock and drains the backlog: 2^18 spans, tens of megabytes.
const FASTRACE_MAX_BACKLOG: u64 = 1 << 18;

/// Runs one fastrace bench, draining the collector's backlog outside the
/// timing every [`FASTRACE_MAX_BACKLOG`] spans, and at the end.
///
/// fastrace never drops a span. Each thread sends its spans to the global
/// collector through a ring of 10240 commands; when the collector falls
/// behind, the overflow waits in an unbounded queue on the sending thread,
/// and moves on only when that thread sends again. A bench that outruns the
/// collector thus pays, within its timing, for growing that queue; left
/// alone for a whole measurement (tens of millions of spans) the queue took
/// more memory than the machine has and the bench was killed. So the timing
/// stops every [`FASTRACE_MAX_BACKLOG`] spans while the backlog is drained:
/// the figure still includes growing the queue that far, not without bound.
/// A note says how far behind the collector was.
fn bench_fastrace(group: &mut Group<'_>, id: &str, spans_per_iter: u64, mut routine: impl FnMut()) {
    let chunk = FASTRACE_MAX_BACKLOG
        .checked_div(spans_per_iter)
        .map_or(u64::MAX, |n| n.max(1));
    let mut worst_backlog = 0;
    let mut short = None;
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(chunk);
                let start = Instant::now();
                for _ in 0..n {
                    routine();
                }
                total += start.elapsed();
                left -= n;
                if spans_per_iter > 0 {
                    FASTRACE_SENT.fetch_add(n * spans_per_iter, Ordering::Relaxed);
                    let (backlog, missing) = drain_fastrace();
                    worst_backlog = worst_backlog.max(backlog);
                    if missing > 0 {
                        short = Some(missing);
                    }
                }
            }
            total
        });
    });
    if worst_backlog > 0 {
        eprintln!(
            "note: {id}: the fastrace collector fell up to {worst_backlog} spans behind; \
             drained outside the timing every {} spans",
            chunk.saturating_mul(spans_per_iter)
        );
    }
    if let Some(missing) = short {
        eprintln!("note: {id}: {missing} spans were still not reported after a minute of draining");
    }
}

/// Spans sent to fastrace's collector by the benches and the drain.
static FASTRACE_SENT: AtomicU64 = AtomicU64::new(0);

/// Waits until fastrace has reported every span sent so far; returns the
/// backlog found (spans sent but not reported after a first flush), and how
/// many were still missing after a minute.
fn drain_fastrace() -> (u64, u64) {
    let reported = || FASTRACE_REPORTED.load(Ordering::Relaxed);
    let sent = || FASTRACE_SENT.load(Ordering::Relaxed);
    // A flush empties the ring, so what is still missing after it is the
    // backlog held on this thread.
    fastrace::flush();
    let backlog = sent().saturating_sub(reported());
    let deadline = Instant::now() + Duration::from_secs(60);
    while reported() < sent() && Instant::now() < deadline {
        // Sending anything pushes the backlog into the ring as far as it
        // fits; the flush then empties the ring again.
        drop(FtSpan::root("drain", FtSpanContext::random()));
        FASTRACE_SENT.fetch_add(1, Ordering::Relaxed);
        fastrace::flush();
    }
    (backlog, sent().saturating_sub(reported()))
}

/// Our root span with two attributes: workload (a), and (d) when the sampler
/// drops it.
fn root_with_two_attributes(tracer: &AgentStepTracer) {
    let mut span = tracer.start_trace("root");
    span.set_attribute("model", "gpt-4");
    span.set_attribute("tokens", 150_i64);
    span.end();
}

/// Workload (a): a root span with two attributes.
fn root_span_2_attrs(c: &mut Criterion) {
    let mut group = c.benchmark_group("root_span_2_attrs");

    let tracer = ours(Sampler::default());
    group.bench_function("ours", |b| {
        timed(b, || root_with_two_attributes(&tracer));
    });

    bench_otel(
        &mut group,
        "opentelemetry_sdk",
        otel_default_sampler(),
        1,
        |tracer| {
            let mut span = tracer.start("root");
            span.set_attribute(KeyValue::new("model", "gpt-4"));
            span.set_attribute(KeyValue::new("tokens", 150_i64));
            span.end();
        },
    );

    // fastrace properties are strings, so `tokens` is the string "150": that
    // spares fastrace the integer value but not the property.
    bench_fastrace(&mut group, "fastrace", 1, || {
        let span = FtSpan::root("root", FtSpanContext::random())
            .with_properties(|| [("model", "gpt-4"), ("tokens", "150")]);
        drop(span);
    });

    group.finish();
}

/// Workloads (b) and (c): a parent with `children` children. Both go through
/// this one function, so that the parent is set up identically and the
/// difference between them is the children alone.
fn parent_children(c: &mut Criterion, workload: &str, children: usize) {
    let mut group = c.benchmark_group(workload);
    let spans_per_iter = 1 + u64::try_from(children).expect("a count fits in u64");

    let tracer = ours(Sampler::default());
    group.bench_function("ours/explicit_parent", |b| {
        timed(b, || {
            let root = tracer.start_trace("root");
            for _ in 0..black_box(children) {
                tracer.span_builder("child").parent(&root).start().end();
            }
            root.end();
        });
    });
    group.bench_function("ours/current_parent", |b| {
        timed(b, || {
            let root = tracer.start_trace("root").entered();
            for _ in 0..black_box(children) {
                tracer.start_span("child").end();
            }
            root.end();
        });
    });

    bench_otel(
        &mut group,
        "opentelemetry_sdk/explicit_parent",
        otel_default_sampler(),
        spans_per_iter,
        |tracer| {
            // A fresh context rather than `Context::current_with_span`, so
            // that the SDK does not read a thread-local that our explicit
            // variant does not read either.
            let cx = Context::new().with_span(tracer.start("root"));
            for _ in 0..black_box(children) {
                tracer.start_with_context("child", &cx).end();
            }
            cx.span().end();
        },
    );
    bench_otel(
        &mut group,
        "opentelemetry_sdk/current_parent",
        otel_default_sampler(),
        spans_per_iter,
        |tracer| {
            let cx = Context::current_with_span(tracer.start("root"));
            let guard = cx.clone().attach();
            for _ in 0..black_box(children) {
                tracer.start("child").end();
            }
            drop(guard);
            cx.span().end();
        },
    );

    bench_fastrace(
        &mut group,
        "fastrace/explicit_parent",
        spans_per_iter,
        || {
            let root = FtSpan::root("root", FtSpanContext::random());
            for _ in 0..black_box(children) {
                drop(FtSpan::enter_with_parent("child", &root));
            }
            drop(root);
        },
    );
    // `LocalSpan` is fastrace's fast path: children are gathered on the
    // thread and handed to the collector in one piece when the guard drops.
    bench_fastrace(&mut group, "fastrace/local_parent", spans_per_iter, || {
        let root = FtSpan::root("root", FtSpanContext::random());
        let guard = root.set_local_parent();
        for _ in 0..black_box(children) {
            drop(LocalSpan::enter_with_local_parent("child"));
        }
        drop(guard);
        drop(root);
    });

    group.finish();
}

/// Workload (d): the span of workload (a), dropped by the sampler.
fn sampled_out_span(c: &mut Criterion) {
    let mut group = c.benchmark_group("sampled_out_span");

    let tracer = ours(Sampler::AlwaysOff);
    group.bench_function("ours", |b| {
        timed(b, || root_with_two_attributes(&tracer));
    });

    bench_otel(
        &mut group,
        "opentelemetry_sdk",
        OtelSampler::AlwaysOff,
        0,
        |tracer| {
            let mut span = tracer.start("root");
            span.set_attribute(KeyValue::new("model", "gpt-4"));
            span.set_attribute(KeyValue::new("tokens", 150_i64));
            span.end();
        },
    );

    // fastrace has no sampler; the nearest thing is a root whose context is
    // not sampled. Such a span is still built, properties included, and only
    // skipped when it is submitted.
    bench_fastrace(&mut group, "fastrace", 0, || {
        let span = FtSpan::root("root", FtSpanContext::random().sampled(false))
            .with_properties(|| [("model", "gpt-4"), ("tokens", "150")]);
        drop(span);
    });

    group.finish();
}

fn main() {
    // Without a reporter fastrace discards spans before they reach its
    // collector, which would leave out most of its cost.
    fastrace::set_reporter(DiscardReporter, Config::default());

    let mut c = Criterion::default().configure_from_args();
    root_span_2_attrs(&mut c);
    parent_children(&mut c, "parent_10_children", CHILDREN);
    parent_children(&mut c, "parent_0_children", 0);
    sampled_out_span(&mut c);
    c.final_summary();
}
