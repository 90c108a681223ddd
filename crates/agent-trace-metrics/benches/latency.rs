//! The cost of recording a latency and of asking for percentiles, next to
//! `hdrhistogram` and `sketches-ddsketch`, measured in the same run so that
//! the figures share one machine state.
//!
//! Each workload is one criterion group, and each implementation one bench in
//! it, so the lines of a workload print together:
//!
//! - `record`: one value into one operation, cycling through 1,024
//!   precomputed log-uniform latencies between 1 ms and 10 s (so that the
//!   bucket is not the same every time), with our Prometheus recorder
//!   installed as the global `metrics` recorder, so the bridge to the
//!   facade is on (values are counted per Prometheus bucket on record and
//!   handed over by the publisher thread). Ours by operation name
//!   (`LatencyMetrics::record`) and through a held [`SeriesHandle`], both on
//!   the default system clock, which they read once per record; the handle
//!   once more on a `ManualClock`, to show what the clock read costs. The
//!   peers have no clock and no time slots: `hdrhistogram` 7 `record` of
//!   whole microseconds (2 significant digits, about 1%), and
//!   `sketches-ddsketch` `add` (1% relative accuracy); and what an
//!   application would write without this crate, a `metrics::histogram!`
//!   into `metrics-exporter-prometheus` (same metric, same buckets), by
//!   name (the macro, which looks the series up on every call) and through
//!   a held `metrics::Histogram` handle. That recorder appends each value
//!   to a lock-free list that its upkeep drains into the buckets; upkeep
//!   runs outside the timing every 65,536 values (so the list stays small),
//!   as our bucket hand-over runs on its publisher thread outside ours.
//! - `record_2_threads`: the same values into the *same* operation, from one
//!   thread and from two threads at once, each thread doing half of the
//!   iterations: the time per iteration is the wall-clock time per value of
//!   the whole run, so two threads should be at most as slow as one.
//!   Timed with `iter_custom` from a barrier after the scoped threads have
//!   started to their join.
//! - `percentiles_7d`: p50, p95 and p99 of a series that received one value
//!   per second (uniform between 0.1 and 30 s) for seven days on a
//!   `ManualClock` (604,800 values, filled once in setup), which then spans
//!   the whole default retention. For reference, the peers answer the same
//!   three quantiles from one histogram or sketch of the same values, which
//!   has no time slots to merge. `ours_p99_24h` asks one quantile over a
//!   trailing 24-hour window of the same series.
//! - `prometheus_render_100_series`: the `/metrics` text of 100 series of
//!   `agent_trace_operation_duration_seconds` (10 operations x 10 tools,
//!   100 values each, 12 buckets): ours (`PrometheusHandle::render`, which
//!   also publishes pending values) next to `metrics-exporter-prometheus`
//!   rendering the same histograms, with the same buckets, on its own.
//!
//! Run it with
//!
//! ```text
//! cargo bench -p agent-trace-metrics --features prometheus --bench latency
//! ```
//!
//! and add a filter after `--` (for example `percentiles`) to run one
//! workload, or `--warm-up-time 1 --measurement-time 3` for a shorter run.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use agent_trace_metrics::{
    LatencyMetrics, ManualClock, PrometheusRecorder, Quantile, SeriesHandle, Window,
    prometheus_builder,
};
use criterion::{Criterion, criterion_group, criterion_main};
use hdrhistogram::Histogram;
use sketches_ddsketch::{Config as DdConfig, DDSketch};

/// 2023-11-14T22:13:20Z, in nanoseconds: a realistic wall-clock start.
const START: u64 = 1_700_000_000 * 1_000_000_000;
const WEEK_SECS: u64 = 7 * 86_400;

#[path = "support/latencies.rs"]
mod support;

use support::{Rng, latencies};

fn hdr() -> Histogram<u64> {
    // Microseconds from 1 µs to one hour, 2 significant digits (~1%).
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
}

fn dd() -> DDSketch {
    DDSketch::new(DdConfig::new(0.01, 2048, 1e-9))
}

fn record(c: &mut Criterion) {
    // The bridge on, into the recorder an application would install.
    metrics::set_global_recorder(PrometheusRecorder::new()).expect("first recorder");
    let values = latencies();
    let mut g = c.benchmark_group("record");

    let metrics = LatencyMetrics::new();
    metrics.record("llm_inference", 1.0).expect("valid");
    let mut i = 0;
    g.bench_function("ours_by_name", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            metrics.record(black_box("llm_inference"), values[i])
        })
    });

    let handle = metrics.series("tool_call", &[]);
    g.bench_function("ours_by_handle", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            handle.record(values[i])
        })
    });

    let manual = LatencyMetrics::builder()
        .clock(Arc::new(ManualClock::new(START)))
        .build()
        .expect("valid settings");
    let manual_handle = manual.series("tool_call", &[]);
    g.bench_function("ours_by_handle_manual_clock", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            manual_handle.record(values[i])
        })
    });

    let micros: Vec<u64> = values.iter().map(|v| (v * 1e6) as u64).collect();
    let mut h = hdr();
    g.bench_function("hdrhistogram_record", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            h.record(micros[i])
        })
    });

    let mut s = dd();
    g.bench_function("ddsketch_add", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            s.add(values[i]);
        })
    });

    let exporter = prometheus_builder().build_recorder();
    let upkeep = exporter.handle();
    let by_name = |v: f64| {
        metrics::histogram!(
            agent_trace_metrics::OPERATION_DURATION_SECONDS,
            "operation" => "llm_inference"
        )
        .record(v);
    };
    g.bench_function("metrics_exporter_prometheus_by_name", |b| {
        b.iter_custom(|iters| {
            metrics::with_local_recorder(&exporter, || {
                timed_with_upkeep(iters, &values, &upkeep, by_name)
            })
        })
    });
    let held = metrics::with_local_recorder(&exporter, || {
        metrics::histogram!(
            agent_trace_metrics::OPERATION_DURATION_SECONDS,
            "operation" => "tool_call"
        )
    });
    g.bench_function("metrics_exporter_prometheus_by_handle", |b| {
        b.iter_custom(|iters| timed_with_upkeep(iters, &values, &upkeep, |v| held.record(v)))
    });
    g.finish();
}

/// Records `iters` of `values` (cycling) with `one`, and returns the time
/// spent recording: the recorder's upkeep runs every 65,536 values, outside
/// the timing, so that its list of pending values stays bounded.
fn timed_with_upkeep(
    iters: u64,
    values: &[f64],
    upkeep: &metrics_exporter_prometheus::PrometheusHandle,
    one: impl Fn(f64),
) -> Duration {
    const CHUNK: u64 = 1 << 16;
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut i = 0;
    while left > 0 {
        let n = left.min(CHUNK);
        let start = Instant::now();
        for _ in 0..n {
            i = (i + 1) & 1023;
            one(black_box(values[i]));
        }
        total += start.elapsed();
        upkeep.run_upkeep();
        left -= n;
    }
    total
}

/// Records `iters` values into one operation from `threads` threads (each
/// doing its share), returning the wall-clock time from the start barrier
/// to the last join.
fn run_threads(threads: u64, iters: u64, values: &[f64], one: impl Fn(f64) + Sync) -> Duration {
    let barrier = Barrier::new(threads as usize + 1);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (barrier, one) = (&barrier, &one);
            let n = iters / threads + u64::from(t < iters % threads);
            scope.spawn(move || {
                barrier.wait();
                let mut i = t as usize * 512;
                for _ in 0..n {
                    i = (i + 1) & 1023;
                    one(values[i]);
                }
            });
        }
        barrier.wait();
        let started = Instant::now();
        // The scope joins the threads as it ends; time that too.
        started
    })
    .elapsed()
}

fn record_2_threads(c: &mut Criterion) {
    let values = latencies();
    let mut g = c.benchmark_group("record_2_threads");
    let metrics = LatencyMetrics::new();
    metrics.record("llm_inference", 1.0).expect("valid");
    let handle = metrics.series("tool_call", &[]);
    for threads in [1, 2] {
        g.bench_function(format!("ours_by_name_{threads}_thread"), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, &values, |v| {
                    let _ = black_box(metrics.record("llm_inference", v));
                })
            })
        });
        g.bench_function(format!("ours_by_handle_{threads}_thread"), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, &values, |v| {
                    let _ = black_box(handle.record(v));
                })
            })
        });
    }
    g.finish();
}

/// A registry on a manual clock filled with one value per second for seven
/// days, and the same values in the peers' structures.
fn week() -> (LatencyMetrics, Histogram<u64>, DDSketch) {
    let clock = Arc::new(ManualClock::new(START));
    let metrics = LatencyMetrics::builder()
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    let handle: SeriesHandle = metrics.series("llm_inference", &[]);
    let (mut h, mut s) = (hdr(), dd());
    let mut rng = Rng(7);
    for _ in 0..WEEK_SECS {
        let v = 0.1 + 29.9 * rng.uniform();
        handle.record(v).expect("valid");
        h.record((v * 1e6) as u64).expect("in bounds");
        s.add(v);
        clock.advance(Duration::from_secs(1));
    }
    (metrics, h, s)
}

fn percentiles_7d(c: &mut Criterion) {
    let (metrics, h, s) = week();
    assert_eq!(
        metrics.stats("llm_inference", None).map(|s| s.count),
        Some(WEEK_SECS)
    );
    let mut g = c.benchmark_group("percentiles_7d");
    g.bench_function("ours", |b| {
        b.iter(|| metrics.percentiles(black_box("llm_inference")))
    });
    let day: Window = "24h".parse().expect("valid window");
    g.bench_function("ours_p99_24h", |b| {
        b.iter(|| metrics.quantile_in(black_box("llm_inference"), None, day, Quantile::P99))
    });
    g.bench_function("hdrhistogram", |b| {
        b.iter(|| [0.5, 0.95, 0.99].map(|q| black_box(&h).value_at_quantile(q)))
    });
    g.bench_function("ddsketch", |b| {
        b.iter(|| [0.5, 0.95, 0.99].map(|q| black_box(&s).quantile(q)))
    });
    g.finish();
}

fn prometheus_render_100_series(c: &mut Criterion) {
    let series =
        || (0..10).flat_map(|op| (0..10).map(move |tool| (format!("op{op}"), format!("t{tool}"))));
    let ours = PrometheusRecorder::new();
    let ours_handle = ours.handle();
    let metrics = metrics::with_local_recorder(&ours, || {
        let m = LatencyMetrics::new();
        for (op, tool) in series() {
            let s = m.series(&op, &[("tool", &tool)]);
            for i in 0..100 {
                s.record(0.001 * f64::from(i * i)).expect("valid");
            }
        }
        m
    });
    let exporter = prometheus_builder().build_recorder();
    let exporter_handle = exporter.handle();
    metrics::with_local_recorder(&exporter, || {
        for (op, tool) in series() {
            let h = metrics::histogram!(
                agent_trace_metrics::OPERATION_DURATION_SECONDS,
                "operation" => op,
                "tool" => tool
            );
            for i in 0..100 {
                h.record(0.001 * f64::from(i * i));
            }
        }
    });
    let (a, b) = (ours_handle.render(), exporter_handle.render());
    let buckets = |t: &str| t.lines().filter(|l| l.contains("_bucket{")).count();
    assert_eq!((buckets(&a), buckets(&b)), (1_300, 1_300));

    let mut g = c.benchmark_group("prometheus_render_100_series");
    g.bench_function("ours", |b| b.iter(|| ours_handle.render()));
    g.bench_function("metrics_exporter_prometheus", |b| {
        b.iter(|| exporter_handle.render())
    });
    g.finish();
    drop(metrics);
}

criterion_group!(
    benches,
    record,
    record_2_threads,
    percentiles_7d,
    prometheus_render_100_series
);
criterion_main!(benches);
