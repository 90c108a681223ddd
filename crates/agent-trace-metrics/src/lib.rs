//! Per-operation latency percentiles and statistics over trailing windows,
//! with thresholds, for AI agents; independent of the tracing crates.
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use agent_trace_metrics::{LatencyMetrics, Threshold, Window};
//!
//! let metrics = LatencyMetrics::new();
//! metrics.record("llm_inference", 1.25)?;
//! metrics.record("llm_inference", Duration::from_millis(900))?;
//! metrics.record_labelled("tool_call", &[("tool", "web_search"), ("agent", "researcher")], 0.4)?;
//!
//! let p = metrics.percentiles("llm_inference").unwrap();
//! assert_eq!(p.count, 2);
//! let last_hour = metrics.stats("llm_inference", "1h")?.unwrap();
//! assert!((last_hour.mean - 1.075).abs() < 1e-9);
//! let all_time = metrics.stats("llm_inference", None).unwrap();
//! assert_eq!(metrics.stats("llm_inference", Window::HOURS_24), Some(all_time));
//!
//! metrics.set_threshold("llm_inference", Threshold::new().p95(2.0).p99(5.0))?;
//! assert!(metrics.check_thresholds("llm_inference").is_empty());
//! assert!(metrics.record("llm_inference", f64::NAN).is_err());
//! assert_eq!(metrics.rejected("llm_inference"), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Key concepts
//!
//! - An **operation** (`"llm_inference"`) has an unlabelled **series** and up
//!   to [`LatencyMetricsBuilder::max_series_per_operation`] labelled ones
//!   (`[("tool", "web_search")]`); further label sets share the
//!   [`OVERFLOW_LABELS`] series and are counted ([`LatencyMetrics::overflowed`]).
//!   Operation queries sum all series; `*_labelled` queries read one.
//! - Each series keeps a **sketch** per time **slot**, in [`Tier`]s of slots
//!   that roll up into coarser ones: by default 5 s x 12, 1 min x 60,
//!   15 min x 96 and 3 h x 56, seven days in all. Sketches are mergeable, so
//!   any [`Window`] is answered by merging the slots it covers.
//! - [`Quantile`] and [`Window`] are checked once when made; the rest of the
//!   API takes them, not raw numbers. Windowed queries (`stats`,
//!   `compare_periods`, `quantile_in`, `exemplars`, [`Threshold::window`])
//!   also take a window's text (`"1h"`, `"24h"`, as the reference does) or
//!   a [`Duration`](std::time::Duration), and then answer a `Result`: see
//!   [`IntoWindow`] for the forms and what each returns.
//! - [`Threshold`]s are evaluated by [`LatencyMetrics::check_thresholds`],
//!   not on record; an optional callback hears crossings and recoveries.
//! - Time comes from a [`Clock`], the same trait, [`SystemClock`] and
//!   [`ManualClock`] as the tracing core's (all from `agent-trace-clock`);
//!   tests use a [`ManualClock`]. On the default clock a registry keeps a
//!   ticker thread running while it lives ([`LatencyMetricsBuilder::clock`]).
//! - An **exemplar** links a value to the trace it was measured in:
//!   [`LatencyMetrics::record_with_exemplar`] takes the trace id, each slot
//!   keeps a bounded set (the newest value of each Prometheus bucket range
//!   and the largest, so the slow tail always has its own), and
//!   [`LatencyMetrics::percentiles_with_exemplars`] answers "p99 = 4.2 s,
//!   e.g. trace 4bf9..." with a recorded value at or above the percentile.
//!   Plain `record` keeps none and pays nothing for them.
//!
//! # Prometheus and the `metrics` facade
//!
//! Every recorded latency also goes to the [`metrics`](::metrics) facade, so whatever
//! recorder the application installed sees it: a histogram named
//! [`OPERATION_DURATION_SECONDS`] (`agent_trace_operation_duration_seconds`)
//! labelled `operation` plus the series' labels. Each series registers its
//! `metrics::Histogram` handle once, when it is created; `record` counts
//! the value in its Prometheus bucket (with an exact per-bucket sum) under
//! the lock it already holds, and [`publish`] hands each bucket over as one
//! `record_many(mean of the bucket's values, count)`, which keeps every
//! bucket count and the sum exact. A background thread publishes every
//! second, and our Prometheus handle publishes before every render. So
//! install the recorder *before* the first value of a series.
//! [`LatencyMetricsBuilder::metrics_facade`] turns the bridge off.
//!
//! [`describe_tracer_metrics`] gives the tracer's own metrics
//! ([`TRACES_TOTAL`], [`SPANS_TOTAL`], [`SPAN_DURATION_SECONDS`],
//! [`ACTIVE_SPANS`], [`EXPORT_SUCCESS_TOTAL`], [`EXPORT_FAILURE_TOTAL`],
//! [`SPANS_DROPPED_TOTAL`], [`EXPORT_QUEUE_LENGTH`]) their help text, and [`TracerMetrics`] counts
//! them locally and publishes them with the latencies; the export crate's
//! metrics processor feeds it from the tracer.
//!
//! With the `prometheus` feature, `install_prometheus_recorder` installs a
//! `PrometheusRecorder`: `metrics-exporter-prometheus` for counters, gauges
//! and the application's histograms, and our own bucket histograms with
//! [`DURATION_BUCKETS`] (5 ms to 2 min) for [`HISTOGRAM_NAMES`] (a batch is
//! one add per bucket there, where the exporter would append every value).
//! It returns the handle whose `render()` is the `/metrics` body; this
//! crate opens no socket (`examples/prometheus.rs` serves it with axum,
//! `agent-trace-export` has a listener). `render_as(ExpositionFormat::OpenMetrics)`
//! renders OpenMetrics 1.0.0 instead, with each bucket's newest traced
//! value as its exemplar (for the span-duration histograms too, see
//! [`TracerMetrics::span_ended_with_exemplar`]); `ExpositionFormat::from_accept`
//! picks the format a scrape's `Accept` header asks for.
//!
//! # Features
//!
//! - `prometheus` (off by default): `install_prometheus_recorder`,
//!   `PrometheusRecorder`, `PrometheusHandle` (classic text and OpenMetrics
//!   with exemplars, `ExpositionFormat`), `prometheus_builder`, through
//!   `metrics-exporter-prometheus` without its HTTP listener or push
//!   gateway (so no hyper, no tokio).
//!
//! # Accuracy
//!
//! Quantiles use the nearest-rank definition (the `max(1, ceil(q n))`-th
//! smallest value) and are within the relative accuracy (default 1%) of the
//! exact nearest-rank value, whatever the distribution, by construction of
//! the sketch, a DDSketch whose logarithm is interpolated from the float's
//! bits: a value `x = 2^e (1 + s)` goes to bucket `floor(m (e + P(s)))`
//! with `P(s) = 6/35 s^3 - 3/5 s^2 + 10/7 s` and `m = 1 / (10/7 ln gamma)`,
//! `gamma = (1 + a) / (1 - a)`. `e + P(s)` is increasing and its slope
//! against `log2 x` is never below `10/7 ln 2`, so dividing by `10/7` keeps
//! every bucket within a ratio `gamma` of values, and answering with the
//! bucket's harmonic mean is off by at most `a` (the `sketch` module has
//! the derivation). The bound is lost only for values
//! in collapsed lowest buckets, which with the default bucket cap
//! requires values more than a factor 2^60 below the largest. Count, sum,
//! min and max are exact; mean and the *population* standard deviation are
//! computed with numerically stable updates and merges.
//!
//! A window includes every slot that ends inside it, whole: it reaches up
//! to one slot width further into the past than asked, never less (less
//! than 5 s off for windows up to 1 min, 1 min up to 1 h, 15 min up to
//! 24 h, 3 h up to 7 days).
//!
//! # Memory
//!
//! A series holds at most 264 closed slots with the default tiers (the 224
//! of the tiers plus those waiting to roll up together), whatever the
//! traffic, and empty slots take nothing. A closed slot is a 24-byte entry
//! plus a byte string: about 34 bytes of exact moments and the bucket
//! counts as nibble varints, half a byte per empty bucket of its range and
//! one to two bytes for typical counts. A slot's range is at most
//! `max_buckets` buckets (about 1,020 for 1 µs to 10 minutes at 1%). The
//! live slot is a plain `u64` per bucket of its range, per active stripe.
//! [`LatencyMetrics::memory_bytes`] and [`SeriesHandle::memory_bytes`]
//! compute the footprint from these structures. Measured by
//! `tests/memory_per_series_stays_bounded.rs`:
//!
//! | series | footprint |
//! |---|---|
//! | one call per second for 7 days, 0.1 to 30 s | 49,490 bytes at peak (< 64 KiB) |
//! | 10 million values, 1 µs to 10 min, spread over 7 days | 240,179 bytes (< 1 MiB) |
//! | 1 million values, 1 µs to 10 min, in one 5 s slot | 16,096 bytes |
//!
//! Exemplars add at most 14 of 32 bytes to a closed slot (plus a 24-byte
//! entry), and 896 bytes per live stripe that has seen one; a series that
//! records none holds none. The typical week above with a trace id on every
//! value: 116,886 bytes at peak (`tests/memory_per_series_stays_bounded.rs`),
//! within the same hard budget.
//!
//! A series queried over its whole history also keeps running bucket totals
//! of its closed slots (about 2.9 KiB for the typical series above), so that
//! such a query does not decode every slot.
//!
//! A hard bound holds on top of these:
//! [`LatencyMetricsBuilder::max_series_bytes`] (1 MiB by default at 1%
//! accuracy). The live stripes are bounded by construction (at most
//! `max_buckets` counts each); the closed slots get the rest of the budget,
//! and when a slot closes into a history that would exceed it, the oldest
//! slots are dropped and their values counted
//! ([`LatencyMetrics::evicted`]). The slot arithmetic above (a slot's
//! buckets cost about `r / 2 * (1 + log8(n / r))` bytes for `n` values over
//! `r` buckets) says when that happens: a series that takes 100,000 values
//! a second spread evenly over 1 µs to 10 minutes, all week, is estimated
//! at about 0.9 MiB; the test that sets a 256 KiB budget for ten million
//! such values keeps the newest 1.2 million and counts the rest.
//!
//! # Performance
//!
//! `record` validates the value, reads the clock (one atomic load of a
//! 100 ms tick: see [`LatencyMetricsBuilder::clock`]), finds the series (in a per-thread cache of recent
//! operations, else under a shard's read lock, cloning nothing; a
//! [`SeriesHandle`] skips this) and adds to a per-thread stripe of the
//! series' live slot under an uncontended spin lock: computing the bucket
//! needs no logarithm, only the float's bits and a cubic polynomial, and
//! the Prometheus bucket is one table load (by the float's exponent) and
//! one compare. Through a handle on the system clock, the common case is
//! inlined into the caller and calls nothing. The history lock is taken
//! once per 5 s slot per active stripe, when the slot closes and is
//! compacted. Whole-history queries read the running bucket totals plus
//! each slot's moments; windowed queries merge the covered slots, so their
//! cost grows with the window, not with the traffic.
//!
//! `benches/latency.rs` measures `record` (by name, by handle, with our
//! Prometheus recorder installed so the bridge is on), two threads against
//! one, `percentiles` over seven days, and the Prometheus rendering of 100
//! series, next to `hdrhistogram`, `sketches-ddsketch` and
//! `metrics-exporter-prometheus` in the same run (`cargo bench -p
//! agent-trace-metrics --features prometheus --bench latency`). Criterion
//! medians on the 2-core development machine (noisy; 2026-12-01):
//!
//! | workload | ours | peers in the same run |
//! |---|---|---|
//! | record by name | 23.5 ns | `sketches-ddsketch` add 15.4 ns, `hdrhistogram` record 4.3 ns |
//! | record by handle | 17.7 ns | (same); a held `metrics` histogram handle into `metrics-exporter-prometheus`: 17.2 ns |
//! | record by handle, 2 threads, per value | 6.4 ns (1 thread: 12.2) | |
//! | p50/p95/p99 over 7 days (604,800 values) | 5.6 µs | one `hdrhistogram`: 2.2 µs |
//! | render 100 series | 135 µs | `metrics-exporter-prometheus`: 550 µs |

// Every unsafe block says why it is sound, one operation at a time (see
// "Unsafe code" in ARCHITECTURE.md).
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

mod clock;
mod error;
mod exemplar;
mod fanout;
mod history;
mod metrics;
mod prometheus;
mod quantile;
mod series;
mod sketch;
mod slots;
#[doc(hidden)]
pub mod spin;
mod sync;
mod threshold;
mod tracer_metrics;
mod window;

pub use clock::{Clock, ManualClock, SystemClock, process_recorder, watch_process_recorder};
pub use error::MetricsError;
pub use exemplar::{Exemplar, ExemplarIds};
pub use fanout::FanoutRecorder;
pub use history::Tier;
pub use metrics::{
    Comparison, Latency, LatencyMetrics, LatencyMetricsBuilder, OVERFLOW_LABELS, Percentiles,
    PercentilesWithExemplars, SeriesHandle, Stats,
};
pub use prometheus::{
    ACTIVE_SPANS, COST_TOTAL, CURRENCY_LABEL, DURATION_BUCKETS, EXPORT_FAILURE_TOTAL,
    EXPORT_QUEUE_LENGTH, EXPORT_SUCCESS_TOTAL, EXPORTER_LABEL, FLOAT_COUNTER_NAMES,
    GEN_AI_AGENT_CALL_COUNT_BUCKETS, GEN_AI_DURATION_BUCKETS, GEN_AI_EXECUTE_TOOL_DURATION_SECONDS,
    GEN_AI_HISTOGRAM_BUCKETS, GEN_AI_INVOKE_AGENT_DURATION_BUCKETS,
    GEN_AI_INVOKE_AGENT_DURATION_SECONDS, GEN_AI_INVOKE_AGENT_INFERENCE_CALLS,
    GEN_AI_INVOKE_AGENT_TOOL_CALLS, GEN_AI_INVOKE_WORKFLOW_DURATION_BUCKETS,
    GEN_AI_INVOKE_WORKFLOW_DURATION_SECONDS, GEN_AI_INVOKE_WORKFLOW_INFERENCE_CALLS,
    GEN_AI_INVOKE_WORKFLOW_TOOL_CALLS, GEN_AI_OPERATION_DURATION_SECONDS,
    GEN_AI_TIME_TO_FIRST_CHUNK_SECONDS, GEN_AI_TOKEN_BUCKETS, GEN_AI_TOKEN_USAGE,
    GEN_AI_WORKFLOW_CALL_COUNT_BUCKETS, HISTOGRAM_NAMES, MODEL_LABEL, OPERATION_DURATION_SECONDS,
    OPERATION_LABEL, PROVIDER_LABEL, REASON_LABEL, SPAN_DURATION_SECONDS, SPANS_DROPPED_TOTAL,
    SPANS_TOTAL, TRACES_TOTAL, UNPRICED_CALLS_TOTAL, describe_tracer_metrics,
    histogram_bucket_bounds, publish,
};
#[cfg(feature = "prometheus")]
pub use prometheus::{
    ExpositionFormat, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
    install_prometheus_recorder, install_prometheus_recorder_beside, prometheus_builder,
};
pub use quantile::Quantile;
pub use slots::{BucketMapping, SeriesSlots, SlotView};
pub use threshold::{Statistic, Threshold, ThresholdEvent, Violation};
pub use tracer_metrics::{LocalCounter, LocalGauge, TracerCounts, TracerMetrics};
pub use window::{IntoWindow, Window};
