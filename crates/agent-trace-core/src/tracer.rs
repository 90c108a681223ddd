//! `AgentStepTracer`: where spans start, and where finished spans are handed
//! to processors.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agent_trace_propagation::{Extractor, PropagationError, SpanContext};

use crate::attr::StringValue;
use crate::error::TraceError;
use crate::processor::SpanProcessor;
use crate::sampler::{Sampler, SamplingDecision};
use crate::span::{Parent, Span, SpanBuilder};
use crate::span_data::{FinishedSpan, SpanKind, SpanLimits};
use crate::store::{Trace, TraceStore, TraceStoreConfig};

/// How long [`AgentStepTracer::force_flush`] and
/// [`AgentStepTracer::shutdown`] wait by default.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The references a tracer hands to its live spans, and its settings.
///
/// Every recording span keeps its tracer alive until it ends: a reference
/// count taken at start and dropped at the end. With one count per tracer,
/// application threads starting spans on two cores bounced its cache line
/// between them at every start and end (the overload bench, two threads:
/// about a quarter of their time, at the locked increment and decrement).
/// So a span counts on one of [`REPLICAS`] *replicas* of the tracer's
/// settings, each a separate allocation whose count has a cache line of
/// its own, the one of its thread's stripe
/// ([`agent_trace_clock::thread_stripe`]): threads that start spans count
/// on different lines, and a thread's spans on a line no other thread
/// writes (unless a span ends on another thread than the one it started
/// on, which is still correct, only a shared line again). A replica is a
/// copy of the settings (the processors and the store are shared, by
/// reference), so that a span reads them one pointer away, as from a
/// single `Arc`.
pub(crate) struct TracerShared {
    inner: TracerInner,
    /// Made on first use by a thread of that stripe.
    replicas: [OnceLock<TracerHandle>; REPLICAS],
}

/// Replicas of a tracer's settings: more than the threads that usually
/// start spans at once on a machine this library runs on, few enough that
/// a tracer used by every stripe holds a few KiB of them.
const REPLICAS: usize = 8;

/// What a live span holds of its tracer: one replica of its settings (see
/// [`TracerShared`]).
pub(crate) type TracerHandle = Arc<Replica>;

/// One replica of a tracer's settings. Aligned to two cache lines, so that
/// the reference counts in front of it (in `Arc`'s allocation) share their
/// lines with no other replica's (adjacent-line prefetch pairs lines on
/// Intel processors, hence two).
#[repr(align(128))]
pub(crate) struct Replica(TracerInner);

impl Deref for Replica {
    type Target = TracerInner;

    #[inline]
    fn deref(&self) -> &TracerInner {
        &self.0
    }
}

impl Deref for TracerShared {
    type Target = TracerInner;

    #[inline]
    fn deref(&self) -> &TracerInner {
        &self.inner
    }
}

impl TracerShared {
    fn new(inner: TracerInner) -> Self {
        Self {
            inner,
            replicas: Default::default(),
        }
    }

    /// A reference for a span started on this thread: a count on this
    /// thread's replica.
    #[inline]
    pub(crate) fn handle(&self) -> TracerHandle {
        let replica = self.replicas[agent_trace_clock::thread_stripe() % REPLICAS]
            .get_or_init(|| Arc::new(Replica(self.inner.clone())));
        Arc::clone(replica)
    }
}

/// A tracer's settings. Cloned into each of its replicas
/// ([`TracerShared`]), so every field must be shared (an `Arc`) or plain
/// data: a field with state of its own would be one per replica, and so
/// per thread.
#[derive(Clone)]
pub(crate) struct TracerInner {
    pub(crate) sampler: Sampler,
    /// `sampler`'s decisions that depend on the parent alone
    /// ([`Sampler::fixed_decisions`]), read first on every span start.
    pub(crate) fixed_decisions: [Option<SamplingDecision>; 5],
    pub(crate) limits: SpanLimits,
    /// Every processor, in the order added.
    pub(crate) processors: Box<[Arc<dyn SpanProcessor>]>,
    /// Whether starting a span may run code of others: a custom sampler,
    /// or a processor not marked `on_start_is_internal`.
    pub(crate) start_runs_user_code: bool,
    /// Whether a processor records every span's duration
    /// ([`SpanProcessor::records_span_durations`]).
    records_span_durations: bool,
    /// The processors that only read finished spans, in the order added.
    readers: Box<[Arc<dyn SpanProcessor>]>,
    /// The others, in the order added.
    owners: Box<[Arc<dyn SpanProcessor>]>,
    store: Option<Arc<TraceStore>>,
}

impl TracerInner {
    /// Hands a finished span to every processor: a borrow to those that
    /// only read it, then a shared handle to each owner (a reference count,
    /// no copy; the last owner gets the original handle).
    #[inline]
    pub(crate) fn deliver(&self, span: FinishedSpan) {
        for r in self.readers.iter() {
            r.on_end_borrowed(&span);
        }
        if let Some((last, rest)) = self.owners.split_last() {
            for p in rest {
                p.on_end(span.clone());
            }
            last.on_end(span);
        }
    }
}

/// Traces agent steps: starts traces and spans, tracks the current span per
/// thread, samples, and passes finished spans to its processors.
///
/// Cloning is cheap and shares everything. By default it keeps finished
/// traces in an in-memory [`TraceStore`] with bounded retention, so a trace
/// can be looked at without any exporter.
///
/// A tracer made here ([`new`](Self::new), [`builder`](Self::builder)) is a
/// private one: it exports, records latencies and counts only through the
/// processors given to it. The process-wide tracer that the facade's
/// `agent_trace::init()` configures (exporters, latency metrics, the
/// tracer's own metrics, the `tracing` subscriber) is
/// `agent_trace::tracer()`; spans of a private tracer never reach it.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
///
/// let tracer = AgentStepTracer::new();
/// let trace_id = {
///     let trace = tracer.trace_builder("agent_task").agent_id("agent-001").start();
///     let mut llm = tracer.span_builder("llm_call").parent(&trace).start();
///     llm.set_attribute("model", "gpt-4");
///     llm.set_attribute("tokens", 150);
///     trace.trace_id()
/// }; // both spans end here
/// let trace = tracer.trace(trace_id).expect("stored");
/// assert_eq!(trace.spans().len(), 2);
/// println!("{}", trace.render());
/// ```
#[derive(Clone)]
pub struct AgentStepTracer {
    pub(crate) inner: Arc<TracerShared>,
}

impl fmt::Debug for AgentStepTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentStepTracer")
            .field("sampler", &self.inner.sampler)
            .field("limits", &self.inner.limits)
            .field("processors", &self.inner.processors)
            .finish()
    }
}

impl Default for AgentStepTracer {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl AgentStepTracer {
    /// Whether starting a span may run code other than agent-trace's own
    /// (a custom sampler, or a processor's `on_start` not marked
    /// internal): `AgentTraceLayer` then starts its spans with no lock
    /// held. Not part of the API.
    #[doc(hidden)]
    pub fn start_runs_user_code(&self) -> bool {
        self.inner.start_runs_user_code
    }

    /// Whether one of this tracer's processors records every span's
    /// duration as a latency ([`SpanProcessor::records_span_durations`]:
    /// the tracer `init()` builds, unless `record_latencies(false)`), so
    /// that `AgentTraceLayer` does not record them again.
    pub fn records_span_durations(&self) -> bool {
        self.inner.records_span_durations
    }

    /// A private tracer with the default sampler (parent-based, always
    /// on), default span limits and an in-memory trace store with default
    /// retention, and no exporter (see the type's docs: the global tracer
    /// `init()` configures is `agent_trace::tracer()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Configures a tracer.
    pub fn builder() -> TracerBuilder {
        TracerBuilder::default()
    }

    /// Starts a new trace: a root span, whatever is current.
    #[inline]
    pub fn start_trace(&self, name: impl Into<StringValue>) -> Span {
        Span::start_root(self, name.into(), SpanKind::Internal)
    }

    /// Options for a new trace (agent id, attributes, kind, links).
    #[inline(always)]
    pub fn trace_builder(&self, name: impl Into<StringValue>) -> SpanBuilder<'_> {
        SpanBuilder::new(self, name.into(), Parent::Root)
    }

    /// Starts a span that is a child of the current span of this thread, or a
    /// new trace when no span is current.
    #[inline]
    pub fn start_span(&self, name: impl Into<StringValue>) -> Span {
        Span::start_current(self, name.into(), SpanKind::Internal)
    }

    /// Options for a span (parent, kind, attributes, links, start time).
    #[inline(always)]
    pub fn span_builder(&self, name: impl Into<StringValue>) -> SpanBuilder<'_> {
        SpanBuilder::new(self, name.into(), Parent::Current)
    }

    /// Continues a trace received from another service: a server span whose
    /// parent is the remote context. With the default parent-based sampler
    /// the remote *sampled* flag decides whether it is recorded.
    pub fn continue_trace(&self, remote: &SpanContext, name: impl Into<StringValue>) -> Span {
        let mut parent = remote.clone();
        parent.is_remote = true;
        self.span_builder(name)
            .parent(parent)
            .kind(SpanKind::Server)
            .start()
    }

    /// Continues the trace whose W3C Trace Context (`traceparent`, and
    /// `tracestate`) the incoming headers carry: a server span whose parent is
    /// the remote span. When the headers carry no context, or an invalid one,
    /// it starts a new trace instead, as W3C Trace Context requires; an
    /// invalid context is recorded on the new span as an
    /// `invalid_trace_context` event with the reason, not silently dropped.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use agent_trace_core::AgentStepTracer;
    ///
    /// let tracer = AgentStepTracer::new();
    /// let incoming = HashMap::from([(
    ///     "traceparent".to_owned(),
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    /// )]);
    /// let span = tracer.continue_trace_from_headers(&incoming, "handle_request");
    /// assert_eq!(span.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    ///
    /// let garbage = HashMap::from([("traceparent".to_owned(), "00-xyz".to_owned())]);
    /// let fresh = tracer.continue_trace_from_headers(&garbage, "handle_request");
    /// assert_ne!(fresh.trace_id(), span.trace_id());
    /// ```
    pub fn continue_trace_from_headers<E: Extractor + ?Sized>(
        &self,
        headers: &E,
        name: impl Into<StringValue>,
    ) -> Span {
        match SpanContext::from_headers(headers) {
            Ok(remote) => self.continue_trace(&remote, name),
            Err(err) => {
                let mut span = self.trace_builder(name).kind(SpanKind::Server).start();
                if !matches!(err, PropagationError::MissingHeader { .. }) {
                    span.add_event(
                        StringValue::from_static("invalid_trace_context"),
                        [crate::KeyValue::new(
                            crate::Key::from_static("error.message"),
                            err.to_string(),
                        )],
                    );
                }
                span
            }
        }
    }

    /// Runs `f` inside a new span (child of the current one) that is current
    /// for the duration of `f` and ends when `f` returns.
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// let answer = tracer.in_span("llm_inference", |span| {
    ///     span.set_attribute("model.name", "gpt-4");
    ///     42
    /// });
    /// assert_eq!(answer, 42);
    /// ```
    pub fn in_span<T>(&self, name: impl Into<StringValue>, f: impl FnOnce(&mut Span) -> T) -> T {
        let mut span = self.start_span(name);
        let _guard = span.enter();
        f(&mut span)
    }

    /// The context of the span current on this thread.
    pub fn current_context() -> Option<SpanContext> {
        crate::current::current()
    }

    /// The in-memory store, unless the tracer was built without one.
    pub fn store(&self) -> Option<&TraceStore> {
        self.inner.store.as_deref()
    }

    /// A stored trace by id (see [`TraceStore::trace`]).
    pub fn trace(&self, trace_id: agent_trace_propagation::TraceId) -> Option<Trace> {
        self.store()?.trace(trace_id)
    }

    /// Asks every processor to deliver what it holds, waiting at most
    /// `timeout` in all (each processor gets what the ones before it left).
    ///
    /// # Errors
    /// The first processor error; every processor is asked regardless.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        let left = time_left(timeout);
        self.each_processor(|p| p.force_flush(left()))
    }

    /// Flushes and shuts down every processor, waiting at most `timeout`
    /// in all (each processor gets what the ones before it left).
    ///
    /// # Errors
    /// The first processor error; every processor is shut down regardless.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        let left = time_left(timeout);
        self.each_processor(|p| p.shutdown(left()))
    }

    /// Calls `f` on every processor, even after one fails; the first error.
    fn each_processor(
        &self,
        f: impl Fn(&dyn SpanProcessor) -> Result<(), TraceError>,
    ) -> Result<(), TraceError> {
        // Not `try_fold`: a failing processor must not stop the others.
        let mut first = Ok(());
        for p in self.inner.processors.iter() {
            let r = f(p.as_ref());
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// The time left of `timeout` from now, each time it is asked: one
/// deadline for calls made one after another (all of `timeout` when it is
/// too long to be a deadline). What [`AgentStepTracer::shutdown`] gives
/// each processor, and what a processor that shuts down several others in
/// turn can give them.
///
/// ```
/// use std::time::Duration;
///
/// let left = agent_trace_core::time_left(Duration::from_secs(5));
/// let first = left();
/// assert!(first <= Duration::from_secs(5));
/// assert!(left() <= first);
/// assert_eq!(agent_trace_core::time_left(Duration::MAX)(), Duration::MAX);
/// ```
pub fn time_left(timeout: Duration) -> impl Fn() -> Duration {
    let deadline = std::time::Instant::now().checked_add(timeout);
    move || {
        deadline.map_or(timeout, |d| {
            d.saturating_duration_since(std::time::Instant::now())
        })
    }
}

/// Configuration of an [`AgentStepTracer`].
///
/// ```
/// use std::sync::Arc;
/// use agent_trace_core::{AgentStepTracer, CountingProcessor, Sampler, SpanLimits};
///
/// let tracer = AgentStepTracer::builder()
///     .sampler(Sampler::parent_based(Sampler::trace_id_ratio(0.25)?))
///     .span_limits(SpanLimits { max_attribute_value_length: Some(4096), ..Default::default() })
///     .processor(Arc::new(CountingProcessor::default()))
///     .without_store()
///     .build();
/// assert!(tracer.store().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct TracerBuilder {
    sampler: Sampler,
    limits: SpanLimits,
    processors: Vec<Arc<dyn SpanProcessor>>,
    store: StoreChoice,
}

#[derive(Debug, Default)]
enum StoreChoice {
    #[default]
    Default,
    Config(TraceStoreConfig),
    None,
}

impl TracerBuilder {
    /// The head sampler (default: parent-based, always on).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// The span limits (default: OpenTelemetry's).
    pub fn span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds a processor; processors are called in the order added.
    pub fn processor(mut self, processor: Arc<dyn SpanProcessor>) -> Self {
        self.processors.push(processor);
        self
    }

    /// Keeps finished traces in memory with this retention.
    pub fn store(mut self, config: TraceStoreConfig) -> Self {
        self.store = StoreChoice::Config(config);
        self
    }

    /// Keeps no traces in memory.
    pub fn without_store(mut self) -> Self {
        self.store = StoreChoice::None;
        self
    }

    /// Builds the tracer.
    pub fn build(self) -> AgentStepTracer {
        let mut processors = self.processors;
        let store = match self.store {
            StoreChoice::Default => Some(Arc::new(TraceStore::new(TraceStoreConfig::default()))),
            StoreChoice::Config(c) => Some(Arc::new(TraceStore::new(c))),
            StoreChoice::None => None,
        };
        if let Some(store) = &store {
            processors.push(store.clone());
        }
        let (readers, owners): (Vec<_>, Vec<_>) =
            processors.iter().cloned().partition(|p| p.reads_only());
        AgentStepTracer {
            inner: Arc::new(TracerShared::new(TracerInner {
                start_runs_user_code: !self.sampler.is_builtin()
                    || processors.iter().any(|p| !p.on_start_is_internal()),
                records_span_durations: processors.iter().any(|p| p.records_span_durations()),
                fixed_decisions: self.sampler.fixed_decisions(),
                sampler: self.sampler,
                limits: self.limits,
                processors: processors.into(),
                readers: readers.into(),
                owners: owners.into(),
                store,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::*;

    /// The counts on each replica that exists, in stripe order.
    fn replica_counts(tracer: &AgentStepTracer) -> Vec<usize> {
        tracer
            .inner
            .replicas
            .iter()
            .filter_map(|r| r.get().map(Arc::strong_count))
            .collect()
    }

    #[test]
    fn spans_of_two_threads_count_on_two_replicas_and_keep_the_tracer_alive() {
        let tracer = AgentStepTracer::builder().without_store().build();
        let both_started = Arc::new(Barrier::new(3));
        let done = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (tracer, both_started, done) =
                    (tracer.clone(), both_started.clone(), done.clone());
                thread::spawn(move || {
                    let a = tracer.start_trace("a");
                    let b = tracer.start_trace("b");
                    both_started.wait();
                    done.wait();
                    drop((a, b));
                    agent_trace_clock::thread_stripe() % REPLICAS
                })
            })
            .collect();
        both_started.wait();
        // Each thread's two spans on its stripe's replica: the tracer's own
        // reference to it plus two. (Tests running beside this one take stripes
        // too, so the two threads share a replica one time in eight.)
        let counts = replica_counts(&tracer);
        assert!(
            counts == [3, 3] || counts == [5],
            "two threads' spans on their replicas: {counts:?}"
        );
        done.wait();
        let stripes: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let expected: &[usize] = if stripes[0] == stripes[1] {
            &[1]
        } else {
            &[1, 1]
        };
        assert_eq!(replica_counts(&tracer), expected);
        assert_eq!(counts.len(), expected.len(), "one replica per stripe");

        // A span outlives every handle of its tracer, and still ends into
        // its processors.
        let counting = Arc::new(crate::CountingProcessor::default());
        let tracer = AgentStepTracer::builder()
            .without_store()
            .processor(counting.clone())
            .build();
        let span = tracer.start_trace("outlives");
        drop(tracer);
        drop(span);
        assert_eq!(counting.ended(), 1);
    }
}
