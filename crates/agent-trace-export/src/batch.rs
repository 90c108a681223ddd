//! The batch pipeline: a bounded queue in front of a worker thread that
//! exports in batches, retries transient failures, and counts every span it
//! does not deliver.
//!
//! # Shape, and why
//!
//! The application thread's part is [`SpanProcessor::on_end`]: one push
//! into a lock-free bounded queue (`crossbeam` `ArrayQueue`) and, once per
//! full batch, an unpark of the worker. It never blocks and never waits for
//! the network: when the queue is full the new span is dropped and counted
//! (`queue_full`). Everything else happens on the worker, a thread of its
//! own that owns the [`SpanExporter`]: it wakes when a batch is full, when
//! the scheduled delay has passed with spans waiting, or when asked to
//! flush or shut down; exports batches of at most `max_export_batch_size`;
//! and retries retryable failures with exponential backoff, full jitter,
//! the receiver's `Retry-After` as a floor, and a cap on the total time one
//! batch may spend retrying. Flush and shutdown requests travel through a
//! lock-free queue too, and the caller waits for the worker's answer with
//! its own deadline, so a stuck exporter makes `force_flush` return a
//! timeout error instead of hanging the caller.
//!
//! # Nothing lost silently
//!
//! Every span that reaches [`on_end`](SpanProcessor::on_end) ends up in
//! exactly one of: exported, dropped because the queue was full, dropped
//! because the pipeline was shut down, dropped because its batch failed for
//! good, rejected by the receiver (OTLP partial success), or still queued.
//! [`BatchSpanProcessor::stats`] reads those counters, and with
//! [`TracerMetrics`] they are also `agent_trace_spans_dropped_total{reason}`
//! and the per-exporter success and failure counters.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use agent_trace_core::{FinishedSpan, SpanProcessor, TraceError};
use agent_trace_metrics::{LocalCounter, LocalGauge, TracerMetrics};
use crossbeam_queue::{ArrayQueue, SegQueue};

use crate::diagnostics::{Diagnostics, Dropped, ExportEvent};
use crate::wake::WakeFlag;
use crate::{ExportError, SpanExporter};

/// The name of the worker thread.
const THREAD: &str = "agent-trace-export";

/// Retry settings for transient export failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The first backoff (default 100 ms); each retry doubles it.
    pub initial_backoff: Duration,
    /// The longest single backoff (default 5 s).
    pub max_backoff: Duration,
    /// The most time one batch may spend being retried before it is
    /// dropped and counted (default 30 s).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_elapsed: Duration::ZERO,
            ..Self::default()
        }
    }

    /// The settings with other backoff bounds.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The settings with another cap on the total retry time of a batch.
    pub fn with_max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = max_elapsed;
        self
    }
}

/// Settings of a [`BatchSpanProcessor`]; the defaults are OpenTelemetry's.
///
/// ```
/// use std::time::Duration;
/// use agent_trace_export::BatchConfig;
///
/// let config = BatchConfig::default()
///     .with_max_queue_size(4096)
///     .with_scheduled_delay(Duration::from_millis(500));
/// assert_eq!(config.max_export_batch_size(), 512);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    max_queue_size: usize,
    max_export_batch_size: usize,
    scheduled_delay: Duration,
    retry: RetryPolicy,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }
}

impl BatchConfig {
    /// The defaults, overridden by the OpenTelemetry environment variables
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` and
    /// `OTEL_BSP_SCHEDULE_DELAY` (milliseconds) where set.
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] naming a variable that is set but not a
    /// positive whole number.
    pub fn from_env() -> Result<Self, ExportError> {
        let read = |name: &str| -> Result<Option<u64>, ExportError> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .map(Some)
                    .ok_or_else(|| {
                        ExportError::Config(format!("{name}={v:?} is not a positive whole number"))
                    }),
                _ => Ok(None),
            }
        };
        let mut c = Self::default();
        if let Some(n) = read("OTEL_BSP_MAX_QUEUE_SIZE")? {
            c = c.with_max_queue_size(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(n) = read("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")? {
            c = c.with_max_export_batch_size(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(ms) = read("OTEL_BSP_SCHEDULE_DELAY")? {
            c = c.with_scheduled_delay(Duration::from_millis(ms));
        }
        Ok(c)
    }

    /// The most spans waiting for export (default 2048); more are dropped
    /// and counted. At least 1.
    pub fn with_max_queue_size(mut self, n: usize) -> Self {
        self.max_queue_size = n.max(1);
        self.max_export_batch_size = self.max_export_batch_size.min(self.max_queue_size);
        self
    }

    /// The most spans per export call (default 512; at most the queue
    /// size). At least 1.
    pub fn with_max_export_batch_size(mut self, n: usize) -> Self {
        self.max_export_batch_size = n.clamp(1, self.max_queue_size);
        self
    }

    /// How long a span may wait for its batch to fill (default 5 s).
    pub fn with_scheduled_delay(mut self, d: Duration) -> Self {
        self.scheduled_delay = d;
        self
    }

    /// The retry settings (default [`RetryPolicy::default`]).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The queue size.
    pub fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }

    /// The batch size.
    pub fn max_export_batch_size(&self) -> usize {
        self.max_export_batch_size
    }

    /// The scheduled delay.
    pub fn scheduled_delay(&self) -> Duration {
        self.scheduled_delay
    }

    /// The retry settings.
    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }
}

/// Where every span handed to a [`BatchSpanProcessor`] went.
///
/// `received == exported + dropped() + queued + in_flight` always holds:
/// `received` is derived from the others rather than counted on the
/// application thread (a shared counter there would be one contended
/// atomic per span). The worker moves spans between the queue, the batch
/// in flight and the outcome counters under the same lock a snapshot
/// takes, so a snapshot never counts a span twice or misses one. After
/// [`shutdown`](SpanProcessor::shutdown) returns, in time or not, nothing
/// is queued or in flight: `received == exported + dropped()`, with what
/// the deadline cut off counted in `dropped_shutdown_deadline`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchStats {
    /// Spans handed to the processor.
    pub received: u64,
    /// Spans the exporter delivered.
    pub exported: u64,
    /// Dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Dropped because their batch failed for good (permanent error, or
    /// retries exhausted).
    pub dropped_export_failed: u64,
    /// Rejected by the receiver in an accepted request (OTLP partial
    /// success).
    pub rejected: u64,
    /// Dropped because they arrived after shutdown.
    pub dropped_shutdown: u64,
    /// Dropped because they were still queued or being exported when the
    /// shutdown deadline passed (they may have reached the receiver all
    /// the same, if an export in flight finished later).
    pub dropped_shutdown_deadline: u64,
    /// Spans waiting in the queue now.
    pub queued: u64,
    /// Spans in the batch the worker is exporting (or retrying) now.
    pub in_flight: u64,
    /// Export calls that succeeded.
    pub batches_exported: u64,
    /// Batches given up on.
    pub batches_failed: u64,
    /// Export calls repeated after a retryable failure.
    pub retries: u64,
}

impl BatchStats {
    /// Every span not delivered, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_by_reason().total()
    }

    /// The spans not delivered, by reason.
    pub fn dropped_by_reason(&self) -> Dropped {
        Dropped {
            queue_full: self.dropped_queue_full,
            export_failed: self.dropped_export_failed,
            rejected: self.rejected,
            after_shutdown: self.dropped_shutdown,
            shutdown_deadline: self.dropped_shutdown_deadline,
        }
    }
}

/// The counters the application threads add to (one relaxed atomic add
/// for a dropped span, nothing for a queued one).
#[derive(Debug, Default)]
struct Counters {
    /// Striped: under overload every thread drops spans at its full rate.
    dropped_queue_full: StripedCount,
    dropped_shutdown: AtomicU64,
}

/// A count that many threads add to at once, one copy per thread stripe
/// ([`agent_trace_clock::thread_stripe`]), each on cache lines of its own:
/// with one copy, two application threads dropping spans under overload
/// moved its line between their cores at every drop (the overload bench:
/// the largest cost of `on_end` after the queue itself).
#[derive(Debug, Default)]
struct StripedCount([PaddedCount; COUNT_STRIPES]);

/// Copies of a striped count: as many as the tracer's references have.
const COUNT_STRIPES: usize = 8;

/// Two cache lines (adjacent-line prefetch pairs them on Intel processors).
#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedCount(AtomicU64);

impl StripedCount {
    #[inline]
    fn add_one(&self) {
        self.0[agent_trace_clock::thread_stripe() % COUNT_STRIPES]
            .0
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The sum of the copies: exact once the adding threads are done (as
    /// after a flush), a snapshot within one pass otherwise.
    fn get(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

/// What the worker (and a shutdown that reaches its deadline) account
/// for, under one lock: a span leaves the queue, joins the batch in flight
/// and reaches its outcome in steps that a snapshot sees whole.
#[derive(Debug, Default)]
struct Ledger {
    /// Spans taken from the queue and not yet counted as exported or
    /// failed.
    in_flight: u64,
    exported: u64,
    dropped_export_failed: u64,
    rejected: u64,
    dropped_shutdown_deadline: u64,
    batches_exported: u64,
    batches_failed: u64,
    retries: u64,
    /// Set when a shutdown's deadline passed: the caller counted what was
    /// queued or in flight as dropped, and the worker counts nothing more.
    abandoned: bool,
    /// The last export failure's message, for reports.
    last_error: Option<String>,
}

/// The tracer-metrics counters of one pipeline.
#[derive(Debug)]
struct Published {
    success: LocalCounter,
    failure: LocalCounter,
    queue_full: LocalCounter,
    export_failed: LocalCounter,
    rejected: LocalCounter,
    shutdown: LocalCounter,
    shutdown_deadline: LocalCounter,
    queue_length: LocalGauge,
}

enum Control {
    Flush(mpsc::Sender<Result<(), ExportError>>),
    Shutdown(mpsc::Sender<Result<(), ExportError>>),
}

struct Shared {
    name: &'static str,
    queue: ArrayQueue<FinishedSpan>,
    control: SegQueue<Control>,
    worker: OnceLock<Thread>,
    /// When the worker needs an unpark (`wake.rs`, where the loom model
    /// checks it).
    woken: WakeFlag,
    shut_down: AtomicBool,
    /// `ledger.abandoned`, readable without the lock (the worker's retry
    /// waits look at it).
    abandoned: AtomicBool,
    counters: Counters,
    ledger: Mutex<Ledger>,
    published: Option<Published>,
    batch_size: usize,
    diagnostics: Diagnostics,
}

impl Shared {
    fn wake(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // Nothing panics under this lock; a poisoned one is still whole.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot, with the ledger locked by the caller.
    fn stats(&self, ledger: &Ledger) -> BatchStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = BatchStats {
            received: 0,
            exported: ledger.exported,
            dropped_queue_full: self.counters.dropped_queue_full.get(),
            dropped_export_failed: ledger.dropped_export_failed,
            rejected: ledger.rejected,
            dropped_shutdown: get(&self.counters.dropped_shutdown),
            dropped_shutdown_deadline: ledger.dropped_shutdown_deadline,
            queued: self.queue.len() as u64,
            in_flight: ledger.in_flight,
            batches_exported: ledger.batches_exported,
            batches_failed: ledger.batches_failed,
            retries: ledger.retries,
        };
        s.received = s.exported + s.dropped() + s.queued + s.in_flight;
        s
    }

    /// Counts everything still queued or in flight as cut off by the
    /// shutdown deadline, and tells the worker to count nothing more.
    fn abandon(&self) {
        let mut ledger = self.ledger();
        if ledger.abandoned {
            return;
        }
        ledger.abandoned = true;
        self.abandoned.store(true, Ordering::Relaxed);
        let mut n = std::mem::take(&mut ledger.in_flight);
        // Popped under the lock: the worker takes spans only under it too.
        while let Some(span) = self.queue.pop() {
            drop(span);
            n += 1;
        }
        ledger.dropped_shutdown_deadline += n;
        if let Some(p) = &self.published {
            p.shutdown_deadline.add(n);
        }
        drop(ledger);
        // A worker waiting to retry stops waiting.
        self.wake();
    }

    /// Counts spans that reached the queue after the worker's last look
    /// (a span that ended while the pipeline shut down).
    fn count_leftovers(&self) {
        let _ledger = self.ledger();
        let mut n = 0;
        while let Some(span) = self.queue.pop() {
            drop(span);
            n += 1;
        }
        if n > 0 {
            self.counters
                .dropped_shutdown
                .fetch_add(n, Ordering::Relaxed);
            if let Some(p) = &self.published {
                p.shutdown.add(n);
            }
        }
    }
}

/// The batch pipeline in front of one [`SpanExporter`]: add it to the
/// tracer as a processor.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use agent_trace_core::{AgentStepTracer, SpanProcessor};
/// use agent_trace_export::{BatchConfig, BatchSpanProcessor, FnExporter};
///
/// let exporter = FnExporter::new("stderr", |batch| {
///     eprintln!("{} spans", batch.len());
///     Ok::<(), std::io::Error>(())
/// });
/// let batch = Arc::new(BatchSpanProcessor::builder(exporter).build()?);
/// let tracer = AgentStepTracer::builder().processor(batch.clone()).build();
/// tracer.start_trace("agent_task").end();
/// batch.force_flush(Duration::from_secs(5))?;
/// assert_eq!(batch.stats().exported, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BatchSpanProcessor {
    shared: Arc<Shared>,
    /// Used for the shutdown on drop.
    drop_timeout: Duration,
}

impl fmt::Debug for BatchSpanProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSpanProcessor")
            .field("exporter", &self.shared.name)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Builds a [`BatchSpanProcessor`].
#[derive(Debug)]
pub struct BatchSpanProcessorBuilder<E> {
    exporter: E,
    config: BatchConfig,
    metrics: Option<TracerMetrics>,
    diagnostics: Diagnostics,
}

impl<E: SpanExporter + 'static> BatchSpanProcessorBuilder<E> {
    /// Other batch settings (default [`BatchConfig::default`]).
    pub fn config(mut self, config: BatchConfig) -> Self {
        self.config = config;
        self
    }

    /// Also counts into the tracer's metrics: export success and failure
    /// for this exporter, dropped spans by reason, and the queue length.
    pub fn metrics(mut self, metrics: &TracerMetrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Where failures, recoveries, drops and undelivered spans are
    /// reported (default [`Diagnostics::stderr`]; see the `diagnostics`
    /// module of this crate).
    pub fn diagnostics(mut self, diagnostics: Diagnostics) -> Self {
        self.diagnostics = diagnostics;
        self
    }

    /// Starts the worker thread.
    ///
    /// # Errors
    ///
    /// [`ExportError::ThreadSpawn`] when the thread cannot start.
    pub fn build(self) -> Result<BatchSpanProcessor, ExportError> {
        let name = self.exporter.name();
        let published = self.metrics.as_ref().map(|m| Published {
            success: m.export_success(name),
            failure: m.export_failure(name),
            queue_full: m.spans_dropped("queue_full"),
            export_failed: m.spans_dropped("export_failed"),
            rejected: m.spans_dropped("rejected"),
            shutdown: m.spans_dropped("shutdown"),
            shutdown_deadline: m.spans_dropped("shutdown_deadline"),
            queue_length: m.queue_length(name),
        });
        let shared = Arc::new(Shared {
            name,
            queue: ArrayQueue::new(self.config.max_queue_size),
            control: SegQueue::new(),
            worker: OnceLock::new(),
            woken: WakeFlag::new(),
            shut_down: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            counters: Counters::default(),
            ledger: Mutex::new(Ledger::default()),
            published,
            batch_size: self.config.max_export_batch_size,
            diagnostics: self.diagnostics,
        });
        let worker = Worker {
            shared: shared.clone(),
            exporter: Box::new(self.exporter),
            config: self.config,
            jitter: Jitter::new(),
            reports: Reports::default(),
        };
        let handle = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || {
                // Whatever the exporter runs (its client's own `tracing`
                // spans included) is never traced.
                agent_trace_core::suppress_tracing_on_this_thread();
                worker.run();
            })
            .map_err(|cause| ExportError::ThreadSpawn {
                thread: THREAD,
                cause,
            })?;
        let _ = shared.worker.set(handle.thread().clone());
        // The worker may have parked before its handle was known: wake it
        // once so that it sees any early span.
        handle.thread().unpark();
        Ok(BatchSpanProcessor {
            shared,
            drop_timeout: Duration::from_secs(5),
        })
    }
}

impl BatchSpanProcessor {
    /// A builder for a pipeline in front of `exporter`.
    pub fn builder<E: SpanExporter + 'static>(exporter: E) -> BatchSpanProcessorBuilder<E> {
        BatchSpanProcessorBuilder {
            exporter,
            config: BatchConfig::default(),
            metrics: None,
            diagnostics: Diagnostics::default(),
        }
    }

    /// The exporter's name.
    pub fn exporter_name(&self) -> &'static str {
        self.shared.name
    }

    /// Where the spans went so far.
    pub fn stats(&self) -> BatchStats {
        let ledger = self.shared.ledger();
        self.shared.stats(&ledger)
    }

    fn request(
        &self,
        make: fn(mpsc::Sender<Result<(), ExportError>>) -> Control,
        timeout: Duration,
        what: &'static str,
    ) -> Result<(), TraceError> {
        let (tx, rx) = mpsc::channel();
        self.shared.control.push(make(tx));
        self.shared.wake();
        match rx.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(TraceError::Processor {
                processor: what,
                cause: Box::new(e),
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TraceError::Timeout {
                processor: what,
                timeout,
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(TraceError::AlreadyShutdown("batch span processor"))
            }
        }
    }
}

impl SpanProcessor for BatchSpanProcessor {
    fn on_start_is_internal(&self) -> bool {
        true
    }

    #[inline]
    fn on_end(&self, span: FinishedSpan) {
        let s = &*self.shared;
        if s.shut_down.load(Ordering::Relaxed) {
            s.counters.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
            if let Some(p) = &s.published {
                p.shutdown.add(1);
            }
            return;
        }
        if s.queue.push(span).is_err() {
            s.counters.dropped_queue_full.add_one();
            if let Some(p) = &s.published {
                p.queue_full.add(1);
            }
            return;
        }
        // Once per full batch (see `WakeFlag`).
        if s.woken.wake_needed(|| s.queue.len() >= s.batch_size) {
            s.wake();
        }
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        if self.shared.shut_down.load(Ordering::Relaxed) {
            return Err(TraceError::AlreadyShutdown("batch span processor"));
        }
        self.request(Control::Flush, timeout, "batch span processor flush")
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        if self.shared.shut_down.swap(true, Ordering::AcqRel) {
            return Err(TraceError::AlreadyShutdown("batch span processor"));
        }
        let result = self.request(Control::Shutdown, timeout, "batch span processor shutdown");
        if matches!(result, Err(TraceError::Timeout { .. })) {
            // The worker is still busy (a collector that does not answer):
            // what it holds is counted now, so that the figures add up
            // when this returns.
            self.shared.abandon();
        }
        self.shared.count_leftovers();
        let shared = &*self.shared;
        let ledger = shared.ledger();
        let dropped = shared.stats(&ledger).dropped_by_reason();
        let last_error = match (&result, &ledger.last_error) {
            (_, Some(e)) => Some(e.clone()),
            (Err(e), None) => Some(e.to_string()),
            (Ok(()), None) => None,
        };
        drop(ledger);
        if dropped.total() > 0 || result.is_err() {
            shared.diagnostics.emit(&ExportEvent::Undelivered {
                exporter: shared.name,
                dropped,
                last_error: last_error.as_deref(),
            });
        }
        result
    }
}

impl Drop for BatchSpanProcessor {
    /// Shuts down (delivering what is queued) unless that was done already,
    /// waiting at most 5 s.
    fn drop(&mut self) {
        if !self.shared.shut_down.load(Ordering::Relaxed) {
            let _ = self.shutdown(self.drop_timeout);
        }
    }
}

/// SplitMix64 state for backoff jitter, seeded from the clock and the
/// address of a local.
/// The random part of retry backoffs (SplitMix64), seeded from the clock
/// and a stack address, so that exporters of many processes failing
/// together do not retry in step. The span pipeline and the OTLP metrics
/// push each keep one.
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let local = 0u8;
        Self(t ^ (std::ptr::from_ref(&local) as u64).rotate_left(32))
    }

    /// A uniformly random duration in `[0, d]`.
    pub(crate) fn upto(&mut self, d: Duration) -> Duration {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(if nanos == 0 { 0 } else { z % (nanos + 1) })
    }
}

struct Worker {
    shared: Arc<Shared>,
    exporter: Box<dyn SpanExporter>,
    config: BatchConfig,
    jitter: Jitter,
    reports: Reports,
}

/// What the worker has reported, so that each thing is said once (see the
/// `diagnostics` module).
#[derive(Debug, Default)]
struct Reports {
    /// Since when exports fail, when they do.
    outage: Option<Outage>,
    /// The drops counted at the last report of drops (or recovery).
    reported_drops: Dropped,
    /// When drops were last reported; `None` until the first, and again
    /// after a recovery, so that the first drops are reported at once.
    last_drop_report: Option<Instant>,
}

/// Exports failing, and the drops counted when they began.
#[derive(Debug)]
struct Outage {
    failing: crate::diagnostics::Outage,
    dropped_before: Dropped,
}

/// How often, at most, continuing drops are reported.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(60);

impl Worker {
    fn run(mut self) {
        let mut next_export = Instant::now() + self.config.scheduled_delay;
        let mut batch: Vec<FinishedSpan> = Vec::with_capacity(self.config.max_export_batch_size);
        loop {
            // Wait for a full batch, the scheduled delay, or a request.
            let s = &*self.shared;
            s.woken.wait(
                || s.queue.len() >= s.batch_size || !s.control.is_empty(),
                || {
                    let now = Instant::now();
                    (now < next_export).then(|| next_export - now)
                },
                std::thread::park_timeout,
            );
            self.publish_queue_length();
            self.report_drops();

            let mut flushes = Vec::new();
            let mut shutdown = None;
            while let Some(c) = self.shared.control.pop() {
                match c {
                    Control::Flush(tx) => flushes.push(tx),
                    Control::Shutdown(tx) => shutdown = Some(tx),
                }
            }
            let drain_all =
                !flushes.is_empty() || shutdown.is_some() || Instant::now() >= next_export;
            // Export full batches, then (when due) the rest.
            let mut result = Ok(());
            loop {
                let full = self.shared.queue.len() >= self.shared.batch_size;
                if !full && (!drain_all || self.shared.queue.is_empty()) {
                    break;
                }
                if !self.take_batch(&mut batch) {
                    break;
                }
                if let Err(e) = self.export(&batch, shutdown.is_some()) {
                    result = Err(e);
                }
                // The spans go back to their pool here, on this thread.
                batch.clear();
            }
            if drain_all {
                next_export = Instant::now() + self.config.scheduled_delay;
            }
            self.publish_queue_length();
            if !flushes.is_empty() {
                let flushed = self.exporter.force_flush();
                for tx in flushes {
                    let r = match (&result, &flushed) {
                        (Err(e), _) | (Ok(()), Err(e)) => Err(clone_error(e)),
                        _ => Ok(()),
                    };
                    let _ = tx.send(r);
                }
            }
            if let Some(tx) = shutdown {
                let closed = self.exporter.shutdown();
                let r = result.and(closed);
                let _ = tx.send(r);
                return;
            }
            if self.shared.abandoned.load(Ordering::Relaxed) {
                // A shutdown gave up on this worker while it was busy; the
                // request it left was answered by the deadline.
                let _ = self.exporter.shutdown();
                return;
            }
        }
    }

    /// Moves up to a batch of spans from the queue into `batch`, counted in
    /// flight in the same step; `false` when there is nothing to take or a
    /// shutdown gave up on the pipeline.
    fn take_batch(&self, batch: &mut Vec<FinishedSpan>) -> bool {
        let mut ledger = self.shared.ledger();
        if ledger.abandoned {
            return false;
        }
        while batch.len() < self.shared.batch_size {
            match self.shared.queue.pop() {
                Some(span) => batch.push(span),
                None => break,
            }
        }
        ledger.in_flight = batch.len() as u64;
        !batch.is_empty()
    }

    fn publish_queue_length(&self) {
        if let Some(p) = &self.shared.published {
            p.queue_length.set(self.shared.queue.len() as u64);
        }
    }

    /// Exports one batch, retrying retryable failures; counts the outcome
    /// and reports failures and recoveries.
    fn export(&mut self, batch: &[FinishedSpan], shutting_down: bool) -> Result<(), ExportError> {
        let n = batch.len() as u64;
        let shared = self.shared.clone();
        let started = Instant::now();
        let retry = self.config.retry;
        let mut backoff = retry.initial_backoff;
        loop {
            match self.exporter.export(batch) {
                Ok(outcome) => {
                    let rejected = outcome.rejected_spans.min(n);
                    let mut ledger = shared.ledger();
                    if !ledger.abandoned {
                        ledger.in_flight = 0;
                        ledger.exported += n - rejected;
                        ledger.rejected += rejected;
                        ledger.batches_exported += 1;
                        if let Some(p) = &shared.published {
                            p.success.add(1);
                            p.rejected.add(rejected);
                        }
                    }
                    drop(ledger);
                    self.recovered();
                    return Ok(());
                }
                Err(e) => {
                    // Full jitter, with the receiver's wish as a floor.
                    let wait = self
                        .jitter
                        .upto(backoff)
                        .max(e.retry_after().unwrap_or(Duration::ZERO));
                    let in_time = started.elapsed() + wait <= retry.max_elapsed;
                    // During shutdown, one attempt more at most: the caller
                    // waits with a deadline of its own.
                    let shutting_down = shutting_down || shared.shut_down.load(Ordering::Relaxed);
                    let again = e.is_retryable()
                        && in_time
                        && !(shutting_down && backoff > retry.initial_backoff)
                        && !shared.abandoned.load(Ordering::Relaxed);
                    self.failed(&e, again);
                    if again {
                        shared.ledger().retries += 1;
                        self.wait_to_retry(Instant::now() + wait);
                        self.report_drops();
                        backoff = (backoff * 2).min(retry.max_backoff);
                        continue;
                    }
                    let mut ledger = shared.ledger();
                    if !ledger.abandoned {
                        ledger.dropped_export_failed += n;
                        ledger.in_flight = 0;
                        ledger.batches_failed += 1;
                        if let Some(p) = &shared.published {
                            p.failure.add(1);
                            p.export_failed.add(n);
                        }
                    }
                    drop(ledger);
                    self.report_drops();
                    return Err(e);
                }
            }
        }
    }

    /// The drops counted so far, by reason.
    fn dropped(&self) -> Dropped {
        let ledger = self.shared.ledger();
        self.shared.stats(&ledger).dropped_by_reason()
    }

    /// Notes a failed attempt; reports it when its kind is new since
    /// exports last succeeded.
    fn failed(&mut self, e: &ExportError, retrying: bool) {
        let message = e.to_string();
        self.shared.ledger().last_error = Some(message);
        let dropped_before = self.dropped();
        let outage = self.reports.outage.get_or_insert_with(|| Outage {
            failing: crate::diagnostics::Outage::new(),
            dropped_before,
        });
        if outage.failing.failed(e) {
            self.shared.diagnostics.emit(&ExportEvent::Failing {
                exporter: self.shared.name,
                error: e,
                retrying,
            });
        }
    }

    /// Reports a recovery, if exports were failing.
    fn recovered(&mut self) {
        let Some(outage) = self.reports.outage.take() else {
            return;
        };
        let now = self.dropped();
        self.shared.diagnostics.emit(&ExportEvent::Recovered {
            exporter: self.shared.name,
            after: outage.failing.since.elapsed(),
            failed_attempts: outage.failing.failed_attempts,
            dropped: now.since(&outage.dropped_before),
        });
        self.reports.reported_drops = now;
        self.reports.last_drop_report = None;
    }

    /// Reports the spans dropped since the last report: the first at once,
    /// then at most once per [`DROP_REPORT_INTERVAL`]. Not once the pipeline
    /// shuts down: the shutdown reports every span not delivered over the
    /// pipeline's life ([`ExportEvent::Undelivered`]), and a report of the
    /// same drops just before it would say them twice.
    fn report_drops(&mut self) {
        if self.shared.shut_down.load(Ordering::Relaxed) {
            return;
        }
        let now = self.dropped();
        let new = now.since(&self.reports.reported_drops);
        if new.total() == 0 {
            return;
        }
        if self
            .reports
            .last_drop_report
            .is_some_and(|at| at.elapsed() < DROP_REPORT_INTERVAL)
        {
            return;
        }
        let last_error = match self.reports.outage {
            Some(_) => self.shared.ledger().last_error.clone(),
            None => None,
        };
        self.shared.diagnostics.emit(&ExportEvent::Dropping {
            exporter: self.shared.name,
            dropped: new,
            last_error: last_error.as_deref(),
        });
        self.reports.reported_drops = now;
        self.reports.last_drop_report = Some(Instant::now());
    }

    /// Sleeps until `t`, through the unparks that full batches send
    /// meanwhile; returns early when the pipeline shuts down (one attempt
    /// more follows) or a shutdown gave up on it.
    fn wait_to_retry(&self, t: Instant) {
        loop {
            let now = Instant::now();
            if now >= t
                || self.shared.abandoned.load(Ordering::Relaxed)
                || self.shared.shut_down.load(Ordering::Relaxed)
            {
                return;
            }
            std::thread::park_timeout(t - now);
        }
    }
}

/// `ExportError` holds sources that are not `Clone`; a flush answer to
/// several callers gets the message.
fn clone_error(e: &ExportError) -> ExportError {
    ExportError::custom(
        "batch span processor",
        e.is_retryable(),
        std::io::Error::other(e.to_string()),
    )
}
