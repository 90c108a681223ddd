//! Tail sampling: the decision to keep a trace, taken once the trace is
//! known, in front of an export pipeline, with a hard cap on the memory
//! the waiting spans take.
//!
//! # When a trace is decided
//!
//! Spans end children first, so a processor sees a trace's spans one by
//! one and learns how the trace went only at its end. A trace *completes*
//! here when its **local root** span ends: a span without a parent, or
//! whose parent came from another process (`parent_is_remote`). Its
//! buffered spans and the root are then decided together, keeping it when
//!
//! 1. any of its spans has an error status, or
//! 2. the root lasted longer than the fixed [latency
//!    threshold](TailSamplingConfig::with_latency_threshold), or longer
//!    than the current p99 of the root's operation in a
//!    [`LatencyMetrics`](TailSamplingConfig::with_p99), or
//! 3. its trace id falls within the [ratio](TailSamplingConfig::with_ratio),
//!    decided from the id alone with the arithmetic of the head sampler
//!    `Sampler::trace_id_ratio`, so every service that tail-samples at the
//!    same ratio keeps the same ordinary traces, and a trace kept by a head
//!    sampler at ratio `r` is kept here at `r` too.
//!
//! Otherwise its spans are *sampled out*: counted, not forwarded.
//!
//! A trace whose root never ends here (it ended in another process, or is
//! still running, or the application lost it) is decided when its first
//! span has waited the [decision deadline](TailSamplingConfig::with_decision_deadline),
//! with what is known: kept for an error, for a span longer than the fixed
//! threshold (the trace lasted at least that long), or for the ratio. The
//! deadline is checked on every `on_end` (for the oldest traces of the
//! span's shard), by an optional background thread, and by
//! [`TailSamplingProcessor::sweep`]. [`force_flush`](SpanProcessor::force_flush)
//! and [`shutdown`](SpanProcessor::shutdown) decide every waiting trace the
//! same way, forward what is kept, then flush (or shut down) downstream.
//!
//! Spans that arrive after their trace was decided (a child that outlives
//! its root, spans after a deadline or a flush) are *late*: forwarded when
//! the trace was kept, counted as sampled out (or evicted) otherwise;
//! except that a late span that would keep its trace by itself (an error
//! status, a duration over the fixed threshold, or a root slower than its
//! operation's p99) turns the trace into a kept one from then on: that span
//! and the trace's later spans are forwarded, the ones dropped before stay
//! dropped. So set the deadline above the duration of the longest traces
//! you expect: a slow trace is then decided whole, at its root. The
//! decisions are remembered for the last
//! [`decision_cache`](TailSamplingConfig::with_decision_cache) traces; a
//! late span of a forgotten trace starts a new wait.
//!
//! # The memory cap
//!
//! The waiting spans are held in 16 shards by trace id, each a map under
//! its own mutex, held for a few map operations per span (never while
//! calling downstream), so that threads ending spans of different traces
//! rarely meet. Each shard may hold a sixteenth of
//! [`max_buffered_bytes`](TailSamplingConfig::with_max_buffered_bytes),
//! measured with [`estimate_span_bytes`] plus the bookkeeping of each
//! waiting trace, so the whole buffer never exceeds the cap. (One trace
//! larger than a sixteenth of the cap cannot wait whole; it is decided as
//! soon as it outgrows its shard.)
//!
//! When a span does not fit, the **oldest waiting traces of its shard are
//! forced out first**, until it fits: the oldest trace has waited longest,
//! is the nearest to its deadline, and is the likeliest to have lost its
//! root, while dropping the incoming span instead would cut holes into the
//! newest traces and let stuck ones hold the buffer. A forced-out trace is
//! decided early with what is known, so that nothing certain is lost: kept
//! (and forwarded) when it already has an error, a span over the threshold,
//! or a trace id within the ratio; otherwise its spans, and its late spans,
//! are dropped and counted as evicted: in [`TailSamplingStats`] and, with
//! [`TracerMetrics`], as `agent_trace_spans_dropped_total{reason="tail_buffer_full"}`.
//!
//! # Nothing lost silently
//!
//! Every span handed to [`on_end`](SpanProcessor::on_end) is exactly one of:
//! forwarded downstream, sampled out, evicted, dropped after shutdown, or
//! still buffered. [`TailSamplingProcessor::stats`] reads those counters
//! (exactly: each span is counted under its shard's lock).
//!
//! # Cost on the application thread
//!
//! `on_end` reads the clock once, estimates the span's size (a walk over
//! its attributes, events and links), and takes its shard's lock for a
//! hash-map insert and a look at the shard's oldest trace; a root span
//! also has its trace decided, and a kept trace is handed downstream span
//! by span (for the batch pipeline, a lock-free queue push each) after the
//! lock is released. With the p99 policy, a root also looks up its
//! operation's p99, recomputed at most once a second per operation.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use agent_trace_core::{
    Clock, Event, FinishedSpan, KeyValue, Link, SpanData, SpanProcessor, StringValue, Timestamp,
    TraceError, TraceIdRatio, TraceState, Value,
};
use agent_trace_metrics::{LatencyMetrics, LocalCounter, Quantile, TracerMetrics, Window};

use crate::ExportError;

/// How many shards the buffer has: a power of two above the core counts
/// this runs on, so that two threads ending spans rarely share a lock.
const SHARDS: usize = 16;

/// The name of the background sweeping thread.
const THREAD: &str = "agent-trace-tail-sampling";

/// How long a cached p99 is used before it is read again.
const P99_REFRESH: Duration = Duration::from_secs(1);

/// What a processor says about itself in errors.
const NAME: &str = "tail sampling processor";

/// The `agent_trace_spans_dropped_total` reason of evicted spans.
pub const TAIL_BUFFER_FULL: &str = "tail_buffer_full";

/// Where the p99 policy reads latencies from.
#[derive(Clone)]
enum P99Source {
    Shared(Arc<LatencyMetrics>),
    Static(&'static LatencyMetrics),
}

impl P99Source {
    fn metrics(&self) -> &LatencyMetrics {
        match self {
            Self::Shared(m) => m,
            Self::Static(m) => m,
        }
    }
}

impl fmt::Debug for P99Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.metrics().fmt(f)
    }
}

/// Settings of a [`TailSamplingProcessor`].
///
/// ```
/// use std::time::Duration;
/// use agent_trace_core::TraceIdRatio;
/// use agent_trace_export::TailSamplingConfig;
///
/// let config = TailSamplingConfig::default()
///     .with_ratio(TraceIdRatio::new(0.01)?)
///     .with_latency_threshold(Duration::from_secs(20))
///     .with_max_buffered_bytes(16 << 20)
///     .with_decision_deadline(Duration::from_secs(60));
/// assert_eq!(config.max_buffered_bytes(), 16 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TailSamplingConfig {
    max_buffered_bytes: usize,
    decision_deadline: Duration,
    latency_threshold: Option<Duration>,
    ratio: TraceIdRatio,
    p99: Option<(P99Source, Window)>,
    decision_cache: usize,
    sweep_interval: Option<Duration>,
    clock: Option<Arc<dyn Clock>>,
}

impl Default for TailSamplingConfig {
    /// A 64 MiB buffer, a 30 s deadline, errors and 10% of the other
    /// traces kept, no latency policy, 16,384 decisions remembered, a
    /// sweep every second, the span clock.
    fn default() -> Self {
        let ratio = match TraceIdRatio::new(0.1) {
            Ok(r) => r,
            Err(e) => unreachable!("0.1 is a ratio: {e}"),
        };
        Self {
            max_buffered_bytes: 64 << 20,
            decision_deadline: Duration::from_secs(30),
            latency_threshold: None,
            ratio,
            p99: None,
            decision_cache: 16_384,
            sweep_interval: Some(Duration::from_secs(1)),
            clock: None,
        }
    }
}

impl TailSamplingConfig {
    /// The hard cap on the estimated bytes of the spans waiting for their
    /// trace's decision (default 64 MiB); see the module docs.
    pub fn with_max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }

    /// How long a trace whose root does not end may wait, from its first
    /// span, before it is decided with what is known (default 30 s).
    pub fn with_decision_deadline(mut self, deadline: Duration) -> Self {
        self.decision_deadline = deadline;
        self
    }

    /// Keeps every trace whose root lasted longer than `threshold` (and,
    /// for a trace decided at its deadline, any trace with a span that
    /// long). Off by default.
    pub fn with_latency_threshold(mut self, threshold: Duration) -> Self {
        self.latency_threshold = Some(threshold);
        self
    }

    /// The fraction of the remaining traces kept, chosen from the trace id
    /// (default 10%).
    pub fn with_ratio(mut self, ratio: TraceIdRatio) -> Self {
        self.ratio = ratio;
        self
    }

    /// Keeps every trace whose root lasted longer than the p99 of the
    /// root's operation over the trailing `window` of `metrics` (the
    /// facade's latency processor records every span's duration there
    /// under its name). The p99 is read at most once a second per
    /// operation. Off by default.
    pub fn with_p99(mut self, metrics: Arc<LatencyMetrics>, window: Window) -> Self {
        self.p99 = Some((P99Source::Shared(metrics), window));
        self
    }

    /// As [`with_p99`](Self::with_p99), with a registry that lives for the
    /// whole program, such as the facade's global `latency_metrics()`.
    pub fn with_static_p99(mut self, metrics: &'static LatencyMetrics, window: Window) -> Self {
        self.p99 = Some((P99Source::Static(metrics), window));
        self
    }

    /// How many decided traces are remembered for their late spans
    /// (default 16,384; about 50 bytes each).
    pub fn with_decision_cache(mut self, traces: usize) -> Self {
        self.decision_cache = traces;
        self
    }

    /// How often a background thread decides the traces past their
    /// deadline (default every second); `None` starts no thread, and
    /// deadlines are then checked only on `on_end`, by
    /// [`TailSamplingProcessor::sweep`], and on flush and shutdown.
    pub fn with_sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// The clock that deadlines are measured with (default: the span
    /// clock); tests inject a [`ManualClock`](agent_trace_core::ManualClock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The buffer cap in bytes.
    pub fn max_buffered_bytes(&self) -> usize {
        self.max_buffered_bytes
    }

    /// The decision deadline.
    pub fn decision_deadline(&self) -> Duration {
        self.decision_deadline
    }

    /// The fixed latency threshold, if any.
    pub fn latency_threshold(&self) -> Option<Duration> {
        self.latency_threshold
    }

    /// The ratio of ordinary traces kept.
    pub fn ratio(&self) -> TraceIdRatio {
        self.ratio
    }
}

/// Where the spans and traces handed to a [`TailSamplingProcessor`] went.
///
/// `received == forwarded + sampled_out_spans + evicted_spans +
/// dropped_shutdown + buffered_spans` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TailSamplingStats {
    /// Spans handed to the processor.
    pub received: u64,
    /// Spans forwarded downstream (of kept traces, late ones included).
    pub forwarded: u64,
    /// Spans of traces the policies did not keep (late ones included).
    pub sampled_out_spans: u64,
    /// Spans forced out by the memory cap (`tail_buffer_full`), late
    /// spans of forced-out traces included.
    pub evicted_spans: u64,
    /// Spans that arrived after shutdown.
    pub dropped_shutdown: u64,
    /// Late spans (of already decided traces) forwarded.
    pub late_forwarded: u64,
    /// Late spans counted as sampled out or evicted.
    pub late_dropped: u64,
    /// Spans waiting for their trace's decision now.
    pub buffered_spans: u64,
    /// Traces waiting now.
    pub buffered_traces: u64,
    /// Estimated bytes waiting now (see [`estimate_span_bytes`]).
    pub buffered_bytes: u64,
    /// The most bytes that have waited, summed over the shards' own peaks:
    /// an upper bound of the buffer's peak, never above the cap.
    pub peak_buffered_bytes: u64,
    /// Traces kept because a span had an error status.
    pub traces_kept_error: u64,
    /// Traces kept for their latency (threshold or p99).
    pub traces_kept_slow: u64,
    /// Traces kept by the ratio.
    pub traces_kept_ratio: u64,
    /// Traces not kept by any policy.
    pub traces_sampled_out: u64,
    /// Traces forced out by the memory cap.
    pub traces_evicted: u64,
    /// Traces decided without their root: at the deadline, forced by the
    /// cap, or by a flush (also counted under their outcome above).
    pub traces_decided_early: u64,
}

impl TailSamplingStats {
    /// Traces kept, for whatever reason.
    pub fn traces_kept(&self) -> u64 {
        self.traces_kept_error + self.traces_kept_slow + self.traces_kept_ratio
    }

    fn add(&mut self, o: &Self) {
        self.received += o.received;
        self.forwarded += o.forwarded;
        self.sampled_out_spans += o.sampled_out_spans;
        self.evicted_spans += o.evicted_spans;
        self.dropped_shutdown += o.dropped_shutdown;
        self.late_forwarded += o.late_forwarded;
        self.late_dropped += o.late_dropped;
        self.buffered_spans += o.buffered_spans;
        self.buffered_traces += o.buffered_traces;
        self.buffered_bytes += o.buffered_bytes;
        self.peak_buffered_bytes += o.peak_buffered_bytes;
        self.traces_kept_error += o.traces_kept_error;
        self.traces_kept_slow += o.traces_kept_slow;
        self.traces_kept_ratio += o.traces_kept_ratio;
        self.traces_sampled_out += o.traces_sampled_out;
        self.traces_evicted += o.traces_evicted;
        self.traces_decided_early += o.traces_decided_early;
    }
}

/// Bytes a span would take in the buffer: an upper-bound estimate of the
/// heap behind one [`FinishedSpan`].
///
/// It counts the boxed [`SpanData`] itself; every string (name, attribute
/// keys and values, event names, trace state members) at its length plus
/// the 16-byte header of a shared string, even when the string is static
/// or shared with other spans; every vector at its capacity; and 16 bytes
/// of allocator overhead per allocation. Shared strings and trace states
/// counted once per span make it an overestimate for spans that share
/// them, which is the safe side for a cap.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, SpanData};
/// use agent_trace_export::estimate_span_bytes;
///
/// let tracer = AgentStepTracer::new();
/// let mut span = tracer.start_trace("llm_call");
/// span.set_attribute("prompt", "x".repeat(10_000));
/// let id = span.trace_id();
/// span.end();
/// let trace = tracer.trace(id).expect("kept in memory");
/// assert!(estimate_span_bytes(&trace.spans()[0]) > 10_000 + size_of::<SpanData>());
/// ```
pub fn estimate_span_bytes(span: &SpanData) -> usize {
    let mut bytes = size_of::<SpanData>() + ALLOC + string_bytes(&span.name);
    bytes += trace_state_bytes(&span.context.trace_state);
    if span.attributes.spilled() {
        bytes += span.attributes.capacity() * size_of::<KeyValue>() + ALLOC;
    }
    bytes += span.attributes.iter().map(kv_bytes).sum::<usize>();
    bytes += vec_bytes::<Event>(span.events.capacity());
    for e in &span.events {
        bytes += string_bytes(&e.name) + vec_bytes::<KeyValue>(e.attributes.capacity());
        bytes += e.attributes.iter().map(kv_bytes).sum::<usize>();
    }
    bytes += vec_bytes::<Link>(span.links.capacity());
    for l in &span.links {
        bytes += trace_state_bytes(&l.context.trace_state);
        bytes += vec_bytes::<KeyValue>(l.attributes.capacity());
        bytes += l.attributes.iter().map(kv_bytes).sum::<usize>();
    }
    bytes
}

/// Allocator overhead counted per allocation.
const ALLOC: usize = 16;
/// The reference counts in front of a shared string or slice.
const ARC_HEADER: usize = 16;

fn vec_bytes<T>(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else {
        capacity * size_of::<T>() + ALLOC
    }
}

fn string_bytes(s: &StringValue) -> usize {
    s.as_str().len() + ARC_HEADER + ALLOC
}

fn kv_bytes(kv: &KeyValue) -> usize {
    use agent_trace_core::Array;
    string_bytes(&kv.key)
        + match &kv.value {
            Value::String(s) => string_bytes(s),
            Value::Array(a) => {
                ARC_HEADER
                    + ALLOC
                    + match a {
                        Array::Bool(v) => v.len(),
                        Array::I64(v) => v.len() * 8,
                        Array::F64(v) => v.len() * 8,
                        Array::String(v) => {
                            v.len() * size_of::<StringValue>()
                                + v.iter().map(string_bytes).sum::<usize>()
                        }
                    }
            }
            _ => 0,
        }
}

fn trace_state_bytes(ts: &TraceState) -> usize {
    if ts.is_empty() {
        return 0;
    }
    // `Arc<[(Box<str>, Box<str>)]>`: the slice, then each string.
    ARC_HEADER
        + ALLOC
        + ts.iter()
            .map(|(k, v)| 2 * size_of::<Box<str>>() + k.len() + v.len() + 2 * ALLOC)
            .sum::<usize>()
}

/// Bytes a waiting trace takes besides its spans: its map entry and its
/// entry in the age order, each counted twice for the tables' slack.
const TRACE_OVERHEAD: usize =
    2 * (size_of::<u128>() + size_of::<Pending>()) + 2 * size_of::<(u64, u128)>();

/// Bytes a waiting span takes besides its own heap: its pointer in the
/// trace's vector, counted twice for the vector's slack.
const SPAN_OVERHEAD: usize = 2 * size_of::<FinishedSpan>();

/// A trace waiting for its decision.
#[derive(Debug)]
struct Pending {
    spans: Vec<FinishedSpan>,
    /// Estimated bytes, bookkeeping included.
    bytes: usize,
    /// When its first span arrived (clock nanoseconds).
    arrival: u64,
    error: bool,
    /// The longest span so far.
    longest: Duration,
}

/// What was decided for a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    KeepError,
    KeepSlow,
    KeepRatio,
    SampledOut,
    Evicted,
}

impl Decision {
    fn keeps(self) -> bool {
        matches!(self, Self::KeepError | Self::KeepSlow | Self::KeepRatio)
    }
}

/// Why a trace is being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Its root ended; the root's duration and, when known, the p99 of its
    /// operation.
    Root {
        duration: Duration,
        p99: Option<Duration>,
    },
    /// Its deadline passed, or a flush came.
    Early,
    /// The memory cap forces it out.
    Forced,
}

#[derive(Debug, Default)]
struct Shard {
    traces: HashMap<u128, Pending>,
    /// `(arrival, trace id)` of every waiting trace: the oldest first.
    order: BTreeSet<(u64, u128)>,
    /// Recent decisions, for late spans; `decided_order` evicts the oldest.
    decided: HashMap<u128, Decision>,
    decided_order: VecDeque<u128>,
    bytes: usize,
    counts: TailSamplingStats,
}

/// The tracer-metrics counters of a processor.
#[derive(Debug)]
struct Published {
    buffer_full: LocalCounter,
    shutdown: LocalCounter,
}

/// Per operation: its p99 (if it has values) and when that was read
/// (clock nanoseconds).
type P99Cache = HashMap<Box<str>, (Option<Duration>, u64)>;

struct Inner {
    downstream: Vec<Arc<dyn SpanProcessor>>,
    shards: Box<[Mutex<Shard>]>,
    shard_budget: usize,
    deadline_nanos: u64,
    threshold: Option<Duration>,
    /// Trace ids whose low 63 bits fall under this bound are kept by the
    /// ratio.
    ratio_bound: u64,
    p99: Option<(P99Source, Window)>,
    p99_cache: RwLock<P99Cache>,
    decision_cache: usize,
    clock: Option<Arc<dyn Clock>>,
    published: Option<Published>,
    dropped_shutdown: AtomicU64,
    shut_down: AtomicBool,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under a shard lock would come from a bug here; the maps stay
    // usable, so keep going rather than poison every later span.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn now(&self) -> u64 {
        match &self.clock {
            Some(c) => c.now_nanos(),
            None => Timestamp::now().as_unix_nanos(),
        }
    }

    fn shard(&self, id: u128) -> &Mutex<Shard> {
        // Trace ids are random in their low bits, but a remote caller may
        // choose them: fold both halves in.
        let h = (id as u64) ^ ((id >> 64) as u64).rotate_left(17);
        &self.shards[(h % SHARDS as u64) as usize]
    }

    fn in_ratio(&self, id: u128) -> bool {
        // The head sampler's arithmetic (`TraceIdRatio`): the low 64 bits,
        // less their lowest, against `ratio * 2^63`.
        ((id as u64) >> 1) < self.ratio_bound
    }

    fn over_threshold(&self, d: Duration) -> bool {
        self.threshold.is_some_and(|t| d > t)
    }

    /// The p99 of `operation`, cached for [`P99_REFRESH`].
    fn p99_of(&self, operation: &str, now: u64) -> Option<Duration> {
        let (source, window) = self.p99.as_ref()?;
        let refresh = u64::try_from(P99_REFRESH.as_nanos()).unwrap_or(u64::MAX);
        if let Some(&(p99, at)) = self
            .p99_cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(operation)
            && now.saturating_sub(at) < refresh
        {
            return p99;
        }
        let p99 = source
            .metrics()
            .quantile_in(operation, None, *window, Quantile::P99)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let mut cache = self
            .p99_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Operation names are the application's span names: few. Bound the
        // cache anyway, against names made from data.
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(operation.into(), (p99, now));
        p99
    }

    fn decide(&self, id: u128, error: bool, longest: Duration, why: Why) -> Decision {
        if error {
            return Decision::KeepError;
        }
        let slow = match why {
            Why::Root { duration, p99 } => {
                self.over_threshold(duration) || p99.is_some_and(|p| duration > p)
            }
            Why::Early | Why::Forced => self.over_threshold(longest),
        };
        if slow {
            Decision::KeepSlow
        } else if self.in_ratio(id) {
            Decision::KeepRatio
        } else if why == Why::Forced {
            Decision::Evicted
        } else {
            Decision::SampledOut
        }
    }

    /// Takes trace `id` out of the buffer (if waiting), decides it with
    /// `last` (a span not buffered) added, counts the outcome and queues
    /// kept spans in `out`.
    fn settle(
        &self,
        shard: &mut Shard,
        id: u128,
        last: Option<FinishedSpan>,
        why: Why,
        out: &mut Vec<FinishedSpan>,
    ) {
        let mut spans = Vec::new();
        let (mut error, mut longest) = (false, Duration::ZERO);
        if let Some(p) = shard.traces.remove(&id) {
            shard.order.remove(&(p.arrival, id));
            shard.bytes -= p.bytes;
            shard.counts.buffered_spans -= p.spans.len() as u64;
            shard.counts.buffered_traces -= 1;
            (error, longest, spans) = (p.error, p.longest, p.spans);
        }
        if let Some(s) = last {
            error |= s.status.is_error();
            longest = longest.max(s.duration());
            spans.push(s);
        }
        let decision = self.decide(id, error, longest, why);
        let c = &mut shard.counts;
        let n = spans.len() as u64;
        match decision {
            Decision::KeepError => c.traces_kept_error += 1,
            Decision::KeepSlow => c.traces_kept_slow += 1,
            Decision::KeepRatio => c.traces_kept_ratio += 1,
            Decision::SampledOut => c.traces_sampled_out += 1,
            Decision::Evicted => c.traces_evicted += 1,
        }
        if !matches!(why, Why::Root { .. }) {
            c.traces_decided_early += 1;
        }
        if decision.keeps() {
            c.forwarded += n;
            out.append(&mut spans);
        } else if decision == Decision::Evicted {
            c.evicted_spans += n;
            if let Some(p) = &self.published {
                p.buffer_full.add(n);
            }
        } else {
            c.sampled_out_spans += n;
        }
        self.remember(shard, id, decision);
    }

    fn remember(&self, shard: &mut Shard, id: u128, decision: Decision) {
        if self.decision_cache == 0 {
            return;
        }
        let per_shard = self.decision_cache.div_ceil(SHARDS);
        if shard.decided.insert(id, decision).is_none() {
            shard.decided_order.push_back(id);
        }
        while shard.decided_order.len() > per_shard {
            if let Some(old) = shard.decided_order.pop_front() {
                shard.decided.remove(&old);
            }
        }
    }

    /// A span of trace `id`, decided before as `decision`; `p99` is that
    /// of its operation when the span is a root and the policy is on.
    fn late(
        &self,
        shard: &mut Shard,
        id: u128,
        decision: Decision,
        span: FinishedSpan,
        p99: Option<Duration>,
        out: &mut Vec<FinishedSpan>,
    ) {
        let c = &mut shard.counts;
        // A span that would keep its trace by itself keeps it from now on.
        let d = span.duration();
        let upgrade = if decision.keeps() {
            None
        } else if span.status.is_error() {
            Some(Decision::KeepError)
        } else if self.over_threshold(d) || p99.is_some_and(|p| d > p) {
            Some(Decision::KeepSlow)
        } else {
            None
        };
        if let Some(kept) = upgrade {
            match decision {
                Decision::Evicted => c.traces_evicted -= 1,
                _ => c.traces_sampled_out -= 1,
            }
            match kept {
                Decision::KeepError => c.traces_kept_error += 1,
                _ => c.traces_kept_slow += 1,
            }
            c.forwarded += 1;
            c.late_forwarded += 1;
            out.push(span);
            return self.remember(shard, id, kept);
        }
        if decision.keeps() {
            c.forwarded += 1;
            c.late_forwarded += 1;
            out.push(span);
        } else {
            c.late_dropped += 1;
            if decision == Decision::Evicted {
                c.evicted_spans += 1;
                if let Some(p) = &self.published {
                    p.buffer_full.add(1);
                }
            } else {
                c.sampled_out_spans += 1;
            }
        }
    }

    /// Decides the traces of `shard` whose first span arrived at least the
    /// deadline before `now`; returns how many.
    fn expire(&self, shard: &mut Shard, now: u64, out: &mut Vec<FinishedSpan>) -> usize {
        let mut n = 0;
        while let Some(&(arrival, id)) = shard.order.first() {
            if now.saturating_sub(arrival) < self.deadline_nanos {
                break;
            }
            self.settle(shard, id, None, Why::Early, out);
            n += 1;
        }
        n
    }

    /// Decides every waiting trace of every shard, as at its deadline.
    fn settle_all(&self) {
        for shard in self.shards.iter() {
            let mut out = Vec::new();
            {
                let mut s = lock(shard);
                while let Some(&(_, id)) = s.order.first() {
                    self.settle(&mut s, id, None, Why::Early, &mut out);
                }
            }
            self.forward(out);
        }
    }

    fn sweep(&self, now: u64) -> usize {
        let mut decided = 0;
        for shard in self.shards.iter() {
            let mut out = Vec::new();
            decided += self.expire(&mut lock(shard), now, &mut out);
            self.forward(out);
        }
        decided
    }

    /// Hands kept spans downstream (no lock held).
    fn forward(&self, spans: Vec<FinishedSpan>) {
        let Some((last, rest)) = self.downstream.split_last() else {
            return;
        };
        for span in spans {
            for p in rest {
                p.on_end(span.clone());
            }
            last.on_end(span);
        }
    }

    fn on_end(&self, span: FinishedSpan) {
        if self.shut_down.load(Ordering::Relaxed) {
            self.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
            if let Some(p) = &self.published {
                p.shutdown.add(1);
            }
            return;
        }
        let now = self.now();
        let id = span.context.trace_id.to_u128();
        let is_root = span.parent_span_id.is_none() || span.parent_is_remote;
        // Outside the shard lock: the metrics query takes locks of its own.
        let p99 = if is_root {
            self.p99_of(span.name.as_str(), now)
        } else {
            None
        };
        let mut out = Vec::new();
        {
            let mut shard = lock(self.shard(id));
            let shard = &mut *shard;
            shard.counts.received += 1;
            if let Some(&d) = shard.decided.get(&id) {
                self.late(shard, id, d, span, p99, &mut out);
            } else if is_root {
                let why = Why::Root {
                    duration: span.duration(),
                    p99,
                };
                self.settle(shard, id, Some(span), why, &mut out);
            } else {
                self.buffer(shard, id, span, now, &mut out);
            }
            self.expire(shard, now, &mut out);
        }
        self.forward(out);
    }

    /// Adds a non-root span to its waiting trace, forcing the oldest traces
    /// out first if it does not fit.
    fn buffer(
        &self,
        shard: &mut Shard,
        id: u128,
        span: FinishedSpan,
        now: u64,
        out: &mut Vec<FinishedSpan>,
    ) {
        let waiting = shard.traces.contains_key(&id);
        let mut size =
            estimate_span_bytes(&span) + SPAN_OVERHEAD + if waiting { 0 } else { TRACE_OVERHEAD };
        while shard.bytes + size > self.shard_budget {
            let Some(&(_, oldest)) = shard.order.first() else {
                break;
            };
            self.settle(shard, oldest, None, Why::Forced, out);
        }
        if waiting && !shard.traces.contains_key(&id) {
            // Its own trace was among the oldest, and is decided now.
            if let Some(&d) = shard.decided.get(&id) {
                return self.late(shard, id, d, span, None, out);
            }
            // (And forgotten at once, without a decision cache: the span
            // starts a new wait.)
            size += TRACE_OVERHEAD;
        }
        if shard.bytes + size > self.shard_budget {
            // Larger than what the shard can hold: decided now, on its own.
            return self.settle(shard, id, Some(span), Why::Forced, out);
        }
        shard.bytes += size;
        let c = &mut shard.counts;
        c.buffered_spans += 1;
        c.peak_buffered_bytes = c.peak_buffered_bytes.max(shard.bytes as u64);
        let error = span.status.is_error();
        let d = span.duration();
        match shard.traces.get_mut(&id) {
            Some(p) => {
                p.bytes += size;
                p.error |= error;
                p.longest = p.longest.max(d);
                p.spans.push(span);
            }
            None => {
                c.buffered_traces += 1;
                shard.order.insert((now, id));
                shard.traces.insert(
                    id,
                    Pending {
                        spans: vec![span],
                        bytes: size,
                        arrival: now,
                        error,
                        longest: d,
                    },
                );
            }
        }
    }
}

/// A tail-sampling [`SpanProcessor`]: holds each trace's spans until the
/// trace completes (or its deadline passes), keeps errors, slow traces and
/// a ratio of the rest, and forwards the kept traces to the processors
/// behind it (typically a [`BatchSpanProcessor`](crate::BatchSpanProcessor)).
/// See the module docs for the policies, the deadline and the memory cap.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use agent_trace_core::{AgentStepTracer, SpanProcessor, TraceIdRatio};
/// use agent_trace_export::{
///     BatchSpanProcessor, FnExporter, TailSamplingConfig, TailSamplingProcessor,
/// };
///
/// let exporter = FnExporter::new("stderr", |batch| {
///     eprintln!("{} spans", batch.len());
///     Ok::<(), std::io::Error>(())
/// });
/// let batch = Arc::new(BatchSpanProcessor::builder(exporter).build()?);
/// let config = TailSamplingConfig::default()
///     .with_ratio(TraceIdRatio::new(0.0)?)
///     .with_latency_threshold(Duration::from_secs(10));
/// let tail = Arc::new(TailSamplingProcessor::builder(batch.clone()).config(config).build()?);
/// let tracer = AgentStepTracer::builder().processor(tail.clone()).build();
///
/// let task = tracer.start_trace("agent_task");
/// tracer.span_builder("tool_call").parent(&task).start().set_status("error")?;
/// task.end(); // the root: the trace is decided, kept for its error
/// tracer.start_trace("agent_task").end(); // ordinary, and the ratio is 0
///
/// tail.force_flush(Duration::from_secs(5))?;
/// let stats = tail.stats();
/// assert_eq!((stats.traces_kept_error, stats.traces_sampled_out), (1, 1));
/// assert_eq!(batch.stats().exported, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TailSamplingProcessor {
    inner: Arc<Inner>,
    sweeper: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for TailSamplingProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailSamplingProcessor")
            .field("downstream", &self.inner.downstream)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Builds a [`TailSamplingProcessor`].
#[derive(Debug)]
pub struct TailSamplingProcessorBuilder {
    downstream: Vec<Arc<dyn SpanProcessor>>,
    config: TailSamplingConfig,
    metrics: Option<TracerMetrics>,
}

impl TailSamplingProcessorBuilder {
    /// The settings (default [`TailSamplingConfig::default`]).
    pub fn config(mut self, config: TailSamplingConfig) -> Self {
        self.config = config;
        self
    }

    /// Also forwards kept spans to `processor` (each kept span goes to
    /// every downstream processor, in the order they were added).
    pub fn downstream(mut self, processor: Arc<dyn SpanProcessor>) -> Self {
        self.downstream.push(processor);
        self
    }

    /// Also counts evicted spans into the tracer's metrics, as
    /// `agent_trace_spans_dropped_total{reason="tail_buffer_full"}` (and
    /// spans after shutdown under `reason="shutdown"`).
    pub fn metrics(mut self, metrics: &TracerMetrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Builds the processor and starts its sweeping thread, if configured.
    ///
    /// # Errors
    ///
    /// [`ExportError::ThreadSpawn`] when the thread cannot start.
    pub fn build(self) -> Result<TailSamplingProcessor, ExportError> {
        let c = self.config;
        let inner = Arc::new(Inner {
            downstream: self.downstream,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_budget: c.max_buffered_bytes / SHARDS,
            deadline_nanos: u64::try_from(c.decision_deadline.as_nanos()).unwrap_or(u64::MAX),
            threshold: c.latency_threshold,
            ratio_bound: (c.ratio.ratio() * (1u64 << 63) as f64) as u64,
            p99: c.p99,
            p99_cache: RwLock::default(),
            decision_cache: c.decision_cache,
            clock: c.clock,
            published: self.metrics.map(|m| Published {
                buffer_full: m.spans_dropped(TAIL_BUFFER_FULL),
                shutdown: m.spans_dropped("shutdown"),
            }),
            dropped_shutdown: AtomicU64::new(0),
            shut_down: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let sweeper = match c.sweep_interval {
            Some(interval) => {
                let inner = inner.clone();
                let handle = std::thread::Builder::new()
                    .name(THREAD.into())
                    .spawn(move || {
                        while !inner.stop.load(Ordering::Acquire) {
                            park_for(interval, &inner.stop);
                            if inner.stop.load(Ordering::Acquire) {
                                break;
                            }
                            inner.sweep(inner.now());
                        }
                    })
                    .map_err(|cause| ExportError::ThreadSpawn {
                        thread: THREAD,
                        cause,
                    })?;
                Some(handle)
            }
            None => None,
        };
        Ok(TailSamplingProcessor {
            inner,
            sweeper: Mutex::new(sweeper),
        })
    }
}

/// Parks the thread for `d`, through spurious wake-ups, unless `stop` is
/// set (whoever sets it unparks the thread).
fn park_for(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= end || stop.load(Ordering::Acquire) {
            return;
        }
        std::thread::park_timeout(end - now);
    }
}

impl TailSamplingProcessor {
    /// A builder for a processor that forwards kept traces to `downstream`.
    pub fn builder(downstream: Arc<dyn SpanProcessor>) -> TailSamplingProcessorBuilder {
        TailSamplingProcessorBuilder {
            downstream: vec![downstream],
            config: TailSamplingConfig::default(),
            metrics: None,
        }
    }

    /// Where the spans and traces went so far.
    pub fn stats(&self) -> TailSamplingStats {
        let mut all = TailSamplingStats::default();
        for shard in self.inner.shards.iter() {
            let s = lock(shard);
            let mut counts = s.counts;
            counts.buffered_bytes = s.bytes as u64;
            all.add(&counts);
        }
        let shutdown = self.inner.dropped_shutdown.load(Ordering::Relaxed);
        all.dropped_shutdown += shutdown;
        all.received += shutdown;
        all
    }

    /// Decides the traces whose deadline has passed by the configured
    /// clock, and forwards those kept; returns how many were decided. The
    /// background thread (if configured) and `on_end` do this too; call it
    /// to drive deadlines yourself (with a manual clock and no thread).
    pub fn sweep(&self) -> usize {
        self.inner.sweep(self.inner.now())
    }

    /// Stops the sweeping thread, if any, and waits for it.
    fn stop_sweeper(&self) {
        self.inner.stop.store(true, Ordering::Release);
        let handle = lock(&self.sweeper).take();
        if let Some(h) = handle {
            h.thread().unpark();
            // The thread only sweeps; a panic there left nothing to undo.
            let _ = h.join();
        }
    }
}

/// The downstream processors see the ends of kept spans only: not
/// `on_start` (whether a span will be kept is not known when it starts).
impl SpanProcessor for TailSamplingProcessor {
    fn on_start_is_internal(&self) -> bool {
        true
    }

    fn on_end(&self, span: FinishedSpan) {
        self.inner.on_end(span);
    }

    /// Decides every waiting trace now (with what is known, as at its
    /// deadline), forwards those kept, then flushes every downstream
    /// processor with what is left of `timeout`.
    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        if self.inner.shut_down.load(Ordering::Relaxed) {
            return Err(TraceError::AlreadyShutdown(NAME));
        }
        let end = Instant::now() + timeout;
        self.inner.settle_all();
        let mut result = Ok(());
        for p in &self.inner.downstream {
            let left = end.saturating_duration_since(Instant::now());
            let r = p.force_flush(left);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// Refuses later spans (counted), stops the sweeping thread, decides
    /// and forwards every waiting trace, then shuts every downstream
    /// processor down with what is left of `timeout`.
    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return Err(TraceError::AlreadyShutdown(NAME));
        }
        let end = Instant::now() + timeout;
        self.stop_sweeper();
        self.inner.settle_all();
        let mut result = Ok(());
        for p in &self.inner.downstream {
            let left = end.saturating_duration_since(Instant::now());
            let r = p.shutdown(left);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl Drop for TailSamplingProcessor {
    /// Stops the sweeping thread and, unless shut down already, decides and
    /// forwards every waiting trace (the downstream processors shut
    /// themselves down when dropped).
    fn drop(&mut self) {
        self.stop_sweeper();
        if !self.inner.shut_down.load(Ordering::Relaxed) {
            self.inner.settle_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_trace_core::{AgentStepTracer, CountingProcessor, Sampler};

    /// The ratio keeps exactly the traces the head sampler keeps at the
    /// same ratio.
    #[test]
    fn the_ratio_agrees_with_the_head_sampler() {
        for ratio in [0.0, 0.01, 0.25, 0.5, 1.0] {
            let tail = TailSamplingProcessor::builder(Arc::new(CountingProcessor::default()))
                .config(
                    TailSamplingConfig::default()
                        .with_ratio(TraceIdRatio::new(ratio).unwrap())
                        .with_sweep_interval(None),
                )
                .build()
                .unwrap();
            let head = AgentStepTracer::builder()
                .sampler(Sampler::trace_id_ratio(ratio).unwrap())
                .build();
            for _ in 0..5_000 {
                let span = head.start_trace("t");
                let id = span.trace_id().to_u128();
                assert_eq!(
                    tail.inner.in_ratio(id),
                    span.is_recording(),
                    "ratio {ratio}, id {id:032x}"
                );
            }
        }
    }
}
