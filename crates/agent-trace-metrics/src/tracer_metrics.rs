//! The tracer's own metrics, summed locally and published in batches.
//!
//! # Why not the facade per span
//!
//! A span start and end would otherwise call the `metrics` recorder two or
//! three times (spans, traces, active spans, duration): each a virtual call
//! and, for the Prometheus exporter, an atomic or an `Instant::now()` plus
//! an append. [`TracerMetrics`] instead adds to plain counters in a
//! per-thread stripe under the same uncontended spin lock the latency
//! series use, and [`publish`](crate::publish) hands the sums over: counter
//! increments by the difference since the last publication, the active
//! spans gauge set to started minus ended, and the span durations as one
//! `record_many` per Prometheus bucket (exact counts and sum, as for
//! latencies). Counters that change per batch or per drop ([`LocalCounter`])
//! are one relaxed atomic add each.
//!
//! The names and help texts are those of
//! [`describe_tracer_metrics`](crate::describe_tracer_metrics); the export
//! crate's metrics processor feeds a [`TracerMetrics`] from the tracer's
//! span starts and ends.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Label};

use crate::exemplar::{Exemplar, ExemplarSet};
use crate::prometheus::{
    ACTIVE_SPANS, BucketExemplars, EXPORT_FAILURE_TOTAL, EXPORT_QUEUE_LENGTH, EXPORT_SUCCESS_TOTAL,
    EXPORTER_LABEL, PendingBuckets, Publish, REASON_LABEL, SPAN_DURATION_SECONDS,
    SPANS_DROPPED_TOTAL, SPANS_TOTAL, TRACES_TOTAL, checked_bucket_index, register_publisher,
    registered_with_exemplars,
};
use crate::series::{STRIPES, StripeLock, stripe_index};

/// One thread's share of the span counts.
#[derive(Debug, Default)]
struct Local {
    /// Cumulative: never reset, so that the gauge is started minus ended.
    started: u64,
    traces: u64,
    ended: u64,
    /// Durations not yet handed over.
    durations: PendingBuckets,
    /// The newest exemplar per bucket of those durations; allocated on the
    /// first, then cleared in place.
    exemplars: Option<Box<ExemplarSet>>,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe(StripeLock<Local>);

/// What was last handed to the facade, to publish differences.
#[derive(Debug, Default)]
struct Published {
    started: u64,
    traces: u64,
}

/// A labelled counter and what of it was last handed over.
#[derive(Debug)]
struct Labelled {
    handle: Counter,
    value: Arc<AtomicU64>,
    published: u64,
}

/// A labelled gauge: the last value set, handed over as is.
#[derive(Debug)]
struct LabelledGauge {
    handle: Gauge,
    value: Arc<AtomicU64>,
}

struct Inner {
    stripes: [Stripe; STRIPES],
    spans: Counter,
    traces: Counter,
    active: Gauge,
    duration: Histogram,
    /// The exemplar cell of `duration` when the recorder is ours.
    duration_exemplars: Option<Arc<BucketExemplars>>,
    published: Mutex<Published>,
    labelled: Mutex<HashMap<(&'static str, String), Labelled>>,
    gauges: Mutex<HashMap<(&'static str, String), LabelledGauge>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracerMetrics").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The counts of a [`TracerMetrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TracerCounts {
    /// Spans started.
    pub spans: u64,
    /// Traces started (spans that began a new trace).
    pub traces: u64,
    /// Spans started and not yet ended.
    pub active: u64,
    /// Spans ended.
    pub ended: u64,
}

/// A counter of the tracer's metrics that carries a label (which exporter,
/// why spans were dropped). Cheap to clone; one relaxed atomic add per
/// [`add`](Self::add).
#[derive(Debug, Clone)]
pub struct LocalCounter(Arc<AtomicU64>);

impl LocalCounter {
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The total added so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A gauge of the tracer's metrics that carries a label (the queue length
/// of an exporter). Cheap to clone; one relaxed atomic store per
/// [`set`](Self::set).
#[derive(Debug, Clone)]
pub struct LocalGauge(Arc<AtomicU64>);

impl LocalGauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The value last set.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The tracer's own metrics: [`SPANS_TOTAL`], [`TRACES_TOTAL`],
/// [`ACTIVE_SPANS`], [`SPAN_DURATION_SECONDS`], and the labelled
/// [`EXPORT_SUCCESS_TOTAL`], [`EXPORT_FAILURE_TOTAL`],
/// [`SPANS_DROPPED_TOTAL`] and [`EXPORT_QUEUE_LENGTH`], summed locally and handed to the `metrics`
/// facade by [`publish`](crate::publish) (see the module docs).
///
/// Like a latency series, it registers its handles with the recorder
/// installed when it is created: create it after installing the recorder.
/// Cheap to clone (shared).
///
/// ```
/// use std::time::Duration;
/// use agent_trace_metrics::TracerMetrics;
///
/// let m = TracerMetrics::new();
/// m.span_started(true);
/// m.span_ended(Duration::from_millis(120));
/// m.spans_dropped("queue_full").add(3);
/// let counts = m.counts();
/// assert_eq!((counts.spans, counts.traces, counts.active), (1, 1, 0));
/// ```
#[derive(Debug, Clone)]
pub struct TracerMetrics {
    inner: Arc<Inner>,
}

impl Default for TracerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl TracerMetrics {
    /// Registers the tracer's metrics with the recorder installed now.
    pub fn new() -> Self {
        let (duration, duration_exemplars) =
            registered_with_exemplars(|| metrics::histogram!(SPAN_DURATION_SECONDS));
        let inner = Arc::new(Inner {
            stripes: Default::default(),
            spans: metrics::counter!(SPANS_TOTAL),
            traces: metrics::counter!(TRACES_TOTAL),
            active: metrics::gauge!(ACTIVE_SPANS),
            duration,
            duration_exemplars,
            published: Mutex::default(),
            labelled: Mutex::default(),
            gauges: Mutex::default(),
        });
        let weak: Weak<dyn Publish> = Arc::downgrade(&inner) as Weak<dyn Publish>;
        register_publisher(weak);
        Self { inner }
    }

    /// Counts a span that started; `new_trace` when it began a trace (it
    /// has no parent, local or remote).
    #[inline]
    pub fn span_started(&self, new_trace: bool) {
        let mut local = self.inner.stripes[stripe_index()].0.lock();
        local.started += 1;
        local.traces += u64::from(new_trace);
    }

    /// Counts a span that ended after `duration`.
    #[inline]
    pub fn span_ended(&self, duration: Duration) {
        // The bucket before the lock, as `Series::record` does.
        let x = duration.as_secs_f64();
        let i = checked_bucket_index(x);
        let mut local = self.inner.stripes[stripe_index()].0.lock();
        local.ended += 1;
        local.durations.add_at(i, x);
    }

    /// Counts a span that ended after `duration`, at `end_unix_nanos`, in
    /// the trace `ids` names (a W3C trace id as a big-endian number, or
    /// `(trace_id, span_id)` with the span's own id; see [`ExemplarIds`]):
    /// the span duration histogram of the OpenMetrics exposition shows the
    /// newest such span of each bucket as its exemplar. A zero trace id
    /// counts the span without an exemplar, as
    /// [`span_ended`](Self::span_ended).
    ///
    /// [`ExemplarIds`]: crate::ExemplarIds
    #[inline]
    pub fn span_ended_with_exemplar(
        &self,
        duration: Duration,
        ids: impl Into<crate::ExemplarIds>,
        end_unix_nanos: u64,
    ) {
        let x = duration.as_secs_f64();
        let i = checked_bucket_index(x);
        let mut local = self.inner.stripes[stripe_index()].0.lock();
        local.ended += 1;
        local.durations.add_at(i, x);
        if let Some(e) = Exemplar::new(x, ids.into(), end_unix_nanos) {
            local.exemplars.get_or_insert_default().add(e);
        }
    }

    /// The counter of span batches `exporter` delivered
    /// ([`EXPORT_SUCCESS_TOTAL`]). Hold it: looking it up takes a lock. A
    /// labelled counter registers with the recorder in force when it is
    /// first asked for.
    pub fn export_success(&self, exporter: &str) -> LocalCounter {
        self.labelled(EXPORT_SUCCESS_TOTAL, EXPORTER_LABEL, exporter)
    }

    /// The counter of span batches `exporter` failed to deliver
    /// ([`EXPORT_FAILURE_TOTAL`]).
    pub fn export_failure(&self, exporter: &str) -> LocalCounter {
        self.labelled(EXPORT_FAILURE_TOTAL, EXPORTER_LABEL, exporter)
    }

    /// The counter of spans dropped for `reason` ([`SPANS_DROPPED_TOTAL`]),
    /// for example `queue_full`, `export_failed`, `shutdown`.
    pub fn spans_dropped(&self, reason: &str) -> LocalCounter {
        self.labelled(SPANS_DROPPED_TOTAL, REASON_LABEL, reason)
    }

    /// The gauge of spans waiting in `exporter`'s queue
    /// ([`EXPORT_QUEUE_LENGTH`]).
    pub fn queue_length(&self, exporter: &str) -> LocalGauge {
        let mut all = lock(&self.inner.gauges);
        let entry = all
            .entry((EXPORT_QUEUE_LENGTH, exporter.to_owned()))
            .or_insert_with(|| LabelledGauge {
                handle: metrics::gauge!(
                    EXPORT_QUEUE_LENGTH,
                    vec![Label::new(EXPORTER_LABEL, exporter.to_owned())]
                ),
                value: Arc::default(),
            });
        LocalGauge(entry.value.clone())
    }

    fn labelled(&self, name: &'static str, label: &'static str, value: &str) -> LocalCounter {
        let mut all = lock(&self.inner.labelled);
        let entry = all
            .entry((name, value.to_owned()))
            .or_insert_with(|| Labelled {
                handle: metrics::counter!(name, vec![Label::new(label, value.to_owned())]),
                value: Arc::default(),
                published: 0,
            });
        LocalCounter(entry.value.clone())
    }

    /// Hands `f` every labelled counter and gauge counted so far: its
    /// Prometheus name ([`EXPORT_SUCCESS_TOTAL`], [`EXPORT_FAILURE_TOTAL`],
    /// [`SPANS_DROPPED_TOTAL`], [`EXPORT_QUEUE_LENGTH`]), its label's key
    /// and value, its value, and whether it is a gauge. Read-only: for
    /// exporters that push these (the OTLP metrics exporter).
    ///
    /// ```
    /// use agent_trace_metrics::{EXPORT_FAILURE_TOTAL, TracerMetrics};
    ///
    /// let m = TracerMetrics::new();
    /// m.export_failure("otlp").add(2);
    /// let mut seen = Vec::new();
    /// m.for_each_labelled(|name, key, value, n, gauge| {
    ///     seen.push((name, key, value.to_owned(), n, gauge));
    /// });
    /// assert_eq!(seen, [(EXPORT_FAILURE_TOTAL, "exporter", "otlp".to_owned(), 2, false)]);
    /// ```
    pub fn for_each_labelled(
        &self,
        mut f: impl FnMut(&'static str, &'static str, &str, u64, bool),
    ) {
        let label = |name: &str| {
            if name == SPANS_DROPPED_TOTAL {
                REASON_LABEL
            } else {
                EXPORTER_LABEL
            }
        };
        let counters: Vec<(&'static str, String, u64)> = lock(&self.inner.labelled)
            .iter()
            .map(|((name, value), l)| (*name, value.clone(), l.value.load(Ordering::Relaxed)))
            .collect();
        for (name, value, n) in counters {
            f(name, label(name), &value, n, false);
        }
        let gauges: Vec<(&'static str, String, u64)> = lock(&self.inner.gauges)
            .iter()
            .map(|((name, value), g)| (*name, value.clone(), g.value.load(Ordering::Relaxed)))
            .collect();
        for (name, value, n) in gauges {
            f(name, label(name), &value, n, true);
        }
    }

    /// The span counts now (summed over threads; not a publication).
    pub fn counts(&self) -> TracerCounts {
        let mut c = TracerCounts::default();
        for s in &self.inner.stripes {
            let local = s.0.lock();
            c.spans += local.started;
            c.traces += local.traces;
            c.ended += local.ended;
        }
        c.active = c.spans.saturating_sub(c.ended);
        c
    }
}

impl Publish for Inner {
    fn publish(&self) {
        let mut durations = PendingBuckets::default();
        let mut exemplars: Option<ExemplarSet> = None;
        let (mut started, mut traces, mut ended) = (0, 0, 0);
        for s in &self.stripes {
            let mut local = s.0.lock();
            started += local.started;
            traces += local.traces;
            ended += local.ended;
            if !local.durations.is_empty() {
                durations.merge(&local.durations);
                local.durations.clear();
            }
            if let Some(e) = &mut local.exemplars
                && !e.is_empty()
            {
                exemplars.get_or_insert_default().merge(e);
                e.clear();
            }
        }
        {
            let mut last = lock(&self.published);
            self.spans.increment(started.saturating_sub(last.started));
            self.traces.increment(traces.saturating_sub(last.traces));
            last.started = started;
            last.traces = traces;
        }
        self.active.set(started.saturating_sub(ended) as f64);
        for (mean, count) in durations.means() {
            self.duration
                .record_many(mean, usize::try_from(count).unwrap_or(usize::MAX));
        }
        if let (Some(cell), Some(e)) = (&self.duration_exemplars, &exemplars) {
            cell.offer(e);
        }
        for l in lock(&self.labelled).values_mut() {
            let now = l.value.load(Ordering::Relaxed);
            l.handle.increment(now.saturating_sub(l.published));
            l.published = now;
        }
        for g in lock(&self.gauges).values() {
            g.handle.set(g.value.load(Ordering::Relaxed) as f64);
        }
    }
}

impl Drop for Inner {
    /// What was counted since the last publication still reaches the facade.
    fn drop(&mut self) {
        self.publish();
    }
}
