//! The periodic reader: a thread of its own (`agent-trace-metrics-push`)
//! that pushes every interval, with a deadline per push, and once more at
//! shutdown. The application never waits on it, except in
//! [`force_flush`](PeriodicMetricsReader::force_flush) and
//! [`shutdown`](PeriodicMetricsReader::shutdown), each with its own
//! deadline.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use agent_trace_metrics::{LocalCounter, TracerMetrics};

use super::OtlpMetricsExporter;
use crate::ExportError;
use crate::batch::Jitter;
use crate::diagnostics::{Diagnostics, Dropped, ExportEvent, Outage};

/// The thread's name.
const THREAD: &str = "agent-trace-metrics-push";

/// The wait before a push's first retry, doubled at each (up to 5 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The exporter name in reports and in the tracer's export counters.
const NAME: &str = crate::diagnostics::METRICS_PUSH;

/// What the reader did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsPushStats {
    /// Pushes the receiver accepted (including those it accepted in part).
    pub pushes: u64,
    /// Pushes that failed for good (their values ride along with the next
    /// accepted push: nothing is dropped by a failed push).
    pub failed_pushes: u64,
    /// Attempts that failed, retried ones included.
    pub failed_attempts: u64,
    /// Data points the receiver accepted.
    pub data_points: u64,
    /// Data points the receiver rejected (OTLP partial success).
    pub rejected_data_points: u64,
    /// Values that left their series (expired, shed for memory) before an
    /// accepted push could send them.
    pub lost_values: u64,
}

#[derive(Debug, Default)]
struct State {
    /// Pushes asked for by flushes and the shutdown.
    requested: u64,
    /// Requests answered (the push that answered them ended).
    answered: u64,
    /// The last push's error, for flush callers.
    last_error: Option<String>,
    shutdown: bool,
    exited: bool,
    stats: MetricsPushStats,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Pushes an [`OtlpMetricsExporter`] every interval from a thread of its
/// own, and a last time at shutdown (or drop).
///
/// Failures are retried with backoff within the push's timeout (a
/// receiver's `Retry-After` is a floor), reported through [`Diagnostics`]
/// as the span pipelines report theirs (the first failure of each kind,
/// then the recovery), and counted ([`MetricsPushStats`], and with
/// [`metrics`](PeriodicMetricsReaderBuilder::metrics) the tracer's
/// `agent_trace_export_{success,failure}_total{exporter="otlp_metrics"}`).
pub struct PeriodicMetricsReader {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    timeout: Duration,
    /// Where a shutdown that ran out of time says so.
    diagnostics: Diagnostics,
}

impl std::fmt::Debug for PeriodicMetricsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicMetricsReader")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Builds a [`PeriodicMetricsReader`].
#[derive(Debug, Clone, Default)]
pub struct PeriodicMetricsReaderBuilder {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    diagnostics: Diagnostics,
    metrics: Option<TracerMetrics>,
}

fn env_millis(name: &'static str) -> Result<Option<Duration>, ExportError> {
    let Some(v) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let ms: u64 = v.trim().parse().map_err(|_| {
        ExportError::Config(format!(
            "{name}={v:?} is not a whole number of milliseconds"
        ))
    })?;
    if ms == 0 {
        return Err(ExportError::Config(format!("{name}=0: must be positive")));
    }
    Ok(Some(Duration::from_millis(ms)))
}

impl PeriodicMetricsReaderBuilder {
    /// Time between pushes (default 60 s, or `OTEL_METRIC_EXPORT_INTERVAL`
    /// with [`from_env`](Self::from_env)).
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = Some(d);
        self
    }

    /// The most a push may take, retries included (default 30 s, or
    /// `OTEL_METRIC_EXPORT_TIMEOUT`).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Where failures and recoveries are reported (default stderr).
    pub fn diagnostics(mut self, d: Diagnostics) -> Self {
        self.diagnostics = d;
        self
    }

    /// Counts each push's success or failure in the tracer's export
    /// counters, under the exporter name `otlp_metrics`.
    pub fn metrics(mut self, m: &TracerMetrics) -> Self {
        self.metrics = Some(m.clone());
        self
    }

    /// Fills the interval and timeout not given from
    /// `OTEL_METRIC_EXPORT_INTERVAL` and `OTEL_METRIC_EXPORT_TIMEOUT`
    /// (milliseconds).
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] naming a malformed variable.
    pub fn from_env(mut self) -> Result<Self, ExportError> {
        if self.interval.is_none() {
            self.interval = env_millis("OTEL_METRIC_EXPORT_INTERVAL")?;
        }
        if self.timeout.is_none() {
            self.timeout = env_millis("OTEL_METRIC_EXPORT_TIMEOUT")?;
        }
        Ok(self)
    }

    /// Starts the reader's thread, pushing `exporter`.
    ///
    /// # Errors
    ///
    /// [`ExportError::ThreadSpawn`] when the thread cannot start, or
    /// [`ExportError::Config`] for a zero interval.
    pub fn build(
        self,
        exporter: OtlpMetricsExporter,
    ) -> Result<PeriodicMetricsReader, ExportError> {
        let interval = self.interval.unwrap_or(Duration::from_secs(60));
        let timeout = self.timeout.unwrap_or(Duration::from_secs(30));
        if interval.is_zero() {
            return Err(ExportError::Config(
                "the metrics export interval must be positive".into(),
            ));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let mut worker = Worker {
            shared: shared.clone(),
            exporter,
            interval,
            timeout,
            diagnostics: self.diagnostics.clone(),
            counters: self
                .metrics
                .map(|m| (m.export_success(NAME), m.export_failure(NAME))),
            outage: None,
            jitter: Jitter::new(),
        };
        let thread = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || {
                agent_trace_core::suppress_tracing_on_this_thread();
                worker.run();
            })
            .map_err(|cause| ExportError::ThreadSpawn {
                thread: THREAD,
                cause,
            })?;
        Ok(PeriodicMetricsReader {
            shared,
            thread: Mutex::new(Some(thread)),
            timeout,
            diagnostics: self.diagnostics,
        })
    }
}

impl PeriodicMetricsReader {
    /// A builder with every setting at its default.
    pub fn builder() -> PeriodicMetricsReaderBuilder {
        PeriodicMetricsReaderBuilder::default()
    }

    /// What the reader did so far.
    pub fn stats(&self) -> MetricsPushStats {
        self.shared.lock().stats
    }

    /// Asks for a push now and waits for it, at most `timeout`.
    ///
    /// # Errors
    ///
    /// The push's failure, or [`ExportError::Timeout`] when it did not end
    /// within `timeout` (it goes on in the background).
    pub fn force_flush(&self, timeout: Duration) -> Result<(), ExportError> {
        self.request(timeout, false)
    }

    /// Pushes a last time (retried once at most, as the span pipeline does
    /// at shutdown) and stops the thread, waiting at most `timeout` (the
    /// thread finishes its push in the background past that). A last push
    /// that fails, or does not end in time, is reported on the
    /// diagnostics: its values are not delivered. Further calls, and the
    /// drop, return at once.
    ///
    /// # Errors
    ///
    /// The last push's failure, or [`ExportError::Timeout`].
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ExportError> {
        {
            let state = self.shared.lock();
            if state.exited || state.shutdown {
                return Ok(());
            }
        }
        let result = self.request(timeout, true);
        if let Err(e @ ExportError::Timeout { .. }) = &result {
            // The thread reports a push that ends in failure; one still
            // going is said here, or the process may exit in silence.
            self.diagnostics.emit(&ExportEvent::Undelivered {
                exporter: NAME,
                dropped: Dropped::default(),
                last_error: Some(&e.to_string()),
            });
        }
        let exited = self.shared.lock().exited;
        if exited
            && let Some(t) = self
                .thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        {
            let _ = t.join();
        }
        result
    }

    fn request(&self, timeout: Duration, shutdown: bool) -> Result<(), ExportError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        if state.exited {
            return Ok(());
        }
        state.requested += 1;
        let mine = state.requested;
        state.shutdown |= shutdown;
        self.shared.wake.notify_all();
        while state.answered < mine && !state.exited {
            let now = Instant::now();
            if now >= deadline {
                return Err(ExportError::Timeout {
                    exporter: NAME,
                    endpoint: "the metrics reader".into(),
                    timeout,
                });
            }
            state = self
                .shared
                .done
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        match &state.last_error {
            Some(message) => Err(ExportError::custom(
                "the periodic metrics reader",
                true,
                std::io::Error::other(message.clone()),
            )),
            None => Ok(()),
        }
    }
}

impl Drop for PeriodicMetricsReader {
    /// Shuts down with the export timeout: the last values still go out.
    fn drop(&mut self) {
        let _ = self.shutdown(self.timeout);
    }
}

struct Worker {
    shared: Arc<Shared>,
    exporter: OtlpMetricsExporter,
    interval: Duration,
    timeout: Duration,
    diagnostics: Diagnostics,
    counters: Option<(LocalCounter, LocalCounter)>,
    outage: Option<Outage>,
    jitter: Jitter,
}

impl Worker {
    fn run(&mut self) {
        let mut next = Instant::now() + self.interval;
        loop {
            let (target, shutdown) = {
                let mut state = self.shared.lock();
                loop {
                    if state.shutdown || state.requested > state.answered {
                        break;
                    }
                    let now = Instant::now();
                    if now >= next {
                        break;
                    }
                    state = self
                        .shared
                        .wake
                        .wait_timeout(state, next - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                (state.requested, state.shutdown)
            };
            let result = self.push_with_retries(shutdown);
            next = Instant::now() + self.interval;
            let last_error = result.err().map(|e| e.to_string());
            // Said before the shutdown's caller is answered: a process that
            // exits right after would not say it at all.
            if shutdown && let Some(e) = &last_error {
                self.diagnostics.emit(&ExportEvent::Undelivered {
                    exporter: NAME,
                    dropped: Dropped::default(),
                    last_error: Some(e),
                });
            }
            let mut state = self.shared.lock();
            state.answered = state.answered.max(target);
            state.last_error = last_error;
            state.stats.lost_values = self.exporter.lost_values();
            if shutdown {
                state.exited = true;
            }
            self.shared.done.notify_all();
            if shutdown {
                return;
            }
        }
    }

    /// One push, retried within the export timeout.
    fn push_with_retries(&mut self, shutdown: bool) -> Result<(), ExportError> {
        let deadline = Instant::now() + self.timeout;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.exporter.push() {
                Ok(outcome) => {
                    {
                        let mut state = self.shared.lock();
                        state.stats.pushes += 1;
                        state.stats.data_points += outcome.data_points
                            - outcome.rejected_data_points.min(outcome.data_points);
                        state.stats.rejected_data_points += outcome.rejected_data_points;
                    }
                    if let Some((success, _)) = &self.counters {
                        success.add(1);
                    }
                    self.recovered();
                    return Ok(());
                }
                Err(e) => {
                    let wait = e
                        .retry_after()
                        .unwrap_or_default()
                        .max(half_jitter(&mut self.jitter, backoff));
                    // At shutdown, one retry at most, as the span
                    // pipeline does: the application is waiting to exit.
                    let retrying = e.is_retryable()
                        && Instant::now() + wait < deadline
                        && !(shutdown && backoff > FIRST_BACKOFF);
                    self.shared.lock().stats.failed_attempts += 1;
                    // Nothing is dropped by a failed push mid-run: its
                    // values go with the next one. The shutdown's last
                    // failure is not reported here but as undelivered, in
                    // `run`, since no push follows it.
                    if retrying || !shutdown {
                        self.failed(&e, retrying);
                    }
                    if !retrying {
                        self.shared.lock().stats.failed_pushes += 1;
                        if let Some((_, failure)) = &self.counters {
                            failure.add(1);
                        }
                        return Err(e);
                    }
                    // A wait the shutdown does not cut: the last push still
                    // gets its one retry.
                    let until = Instant::now() + wait;
                    let mut state = self.shared.lock();
                    loop {
                        let now = Instant::now();
                        if now >= until {
                            break;
                        }
                        state = self
                            .shared
                            .wake
                            .wait_timeout(state, until - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    drop(state);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn failed(&mut self, e: &ExportError, retrying: bool) {
        let outage = self.outage.get_or_insert_with(Outage::new);
        if outage.failed(e) {
            self.diagnostics.emit(&ExportEvent::Failing {
                exporter: NAME,
                error: e,
                retrying,
            });
        }
    }

    fn recovered(&mut self) {
        if let Some(outage) = self.outage.take() {
            self.diagnostics.emit(&ExportEvent::Recovered {
                exporter: NAME,
                after: outage.since.elapsed(),
                failed_attempts: outage.failed_attempts,
                dropped: Dropped::default(),
            });
        }
    }
}

/// A uniformly random duration in `[d / 2, d]`: a push is one request a
/// minute, so its retries keep at least half their backoff.
fn half_jitter(jitter: &mut Jitter, d: Duration) -> Duration {
    let half = d / 2;
    half + jitter.upto(d - half)
}
