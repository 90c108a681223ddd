//! The in-memory trace store: recent traces kept for looking at, with
//! retention bounded by count, by spans per trace and by age.
//!
//! Spans reach the store through a lock-free bounded staging queue: ending a
//! span pushes one pointer and returns. The index behind it is locked only
//! when the staging queue is full (once per `STAGING` spans) or when someone
//! asks a question, so the span path does not take a lock in the common case.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use agent_trace_propagation::{SpanId, TraceId};
use crossbeam_queue::ArrayQueue;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::processor::SpanProcessor;
use crate::render;
use crate::span_data::FinishedSpan;

/// Spans staged between two drains into the index. Large enough that the
/// index lock is taken at most once per this many spans on the span path.
const STAGING: usize = 1024;

/// Retention of a [`TraceStore`].
#[derive(Clone, Debug)]
pub struct TraceStoreConfig {
    /// Most traces kept; the one that arrived first is evicted first
    /// (default 1,000).
    pub max_traces: usize,
    /// Most spans kept per trace; later ones are dropped and counted
    /// (default 10,000).
    pub max_spans_per_trace: usize,
    /// A trace is evicted once its newest span ended longer ago than this
    /// (default one hour).
    pub max_age: Duration,
    /// The clock that says what "now" is for `max_age`.
    pub clock: Arc<dyn Clock>,
}

impl Default for TraceStoreConfig {
    fn default() -> Self {
        Self {
            max_traces: 1_000,
            max_spans_per_trace: 10_000,
            max_age: Duration::from_secs(3600),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What the store has kept and let go, since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Traces held now.
    pub traces: usize,
    /// Spans held now.
    pub spans: usize,
    /// Traces evicted because `max_traces` was reached.
    pub evicted_by_count: u64,
    /// Traces evicted because they were older than `max_age`.
    pub evicted_by_age: u64,
    /// Spans refused because their trace already held `max_spans_per_trace`.
    pub dropped_spans: u64,
}

struct Entry {
    spans: Vec<FinishedSpan>,
    newest_end: Timestamp,
    dropped_spans: u64,
}

#[derive(Default)]
struct Index {
    traces: HashMap<TraceId, Entry>,
    /// Trace ids in order of arrival of their first span.
    order: VecDeque<TraceId>,
    stats: StoreStats,
}

/// Keeps recent finished traces in memory, with bounded retention.
///
/// It is a [`SpanProcessor`]; [`AgentStepTracer`](crate::AgentStepTracer)
/// adds one by default.
pub struct TraceStore {
    staged: ArrayQueue<FinishedSpan>,
    index: Mutex<Index>,
    config: TraceStoreConfig,
}

impl fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceStore")
            .field("config", &self.config)
            .field("staged", &self.staged.len())
            .finish()
    }
}

impl TraceStore {
    /// An empty store.
    pub fn new(config: TraceStoreConfig) -> Self {
        Self {
            staged: ArrayQueue::new(STAGING),
            index: Mutex::new(Index::default()),
            config,
        }
    }

    /// Adds a finished span directly (a processor receives spans through
    /// [`SpanProcessor::on_end`]; this is for spans read from elsewhere).
    pub fn insert(&self, span: FinishedSpan) {
        let mut index = self.lock();
        self.ingest(&mut index, span);
    }

    /// The index with all staged spans applied and expired traces evicted.
    fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves a consistent index (every
        // mutation is completed before anything that can panic), so a
        // poisoned lock is still usable.
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(span) = self.staged.pop() {
            self.ingest(&mut index, span);
        }
        self.evict_expired(&mut index);
        index
    }

    fn ingest(&self, index: &mut Index, span: FinishedSpan) {
        let trace_id = span.context.trace_id;
        let end = span.end_time;
        let Index {
            traces,
            order,
            stats,
        } = index;
        if let Some(entry) = traces.get_mut(&trace_id) {
            if entry.spans.len() >= self.config.max_spans_per_trace {
                entry.dropped_spans += 1;
                stats.dropped_spans += 1;
                return;
            }
            entry.newest_end = entry.newest_end.max(end);
            entry.spans.push(span);
            stats.spans += 1;
            return;
        }
        if self.config.max_traces == 0 || self.config.max_spans_per_trace == 0 {
            stats.dropped_spans += 1;
            return;
        }
        while traces.len() >= self.config.max_traces {
            let Some(oldest) = order.pop_front() else {
                break;
            };
            if let Some(e) = traces.remove(&oldest) {
                stats.spans -= e.spans.len();
                stats.evicted_by_count += 1;
            }
        }
        traces.insert(
            trace_id,
            Entry {
                spans: vec![span],
                newest_end: end,
                dropped_spans: 0,
            },
        );
        order.push_back(trace_id);
        stats.spans += 1;
        stats.traces = traces.len();
    }

    fn evict_expired(&self, index: &mut Index) {
        let now = Timestamp::from(self.config.clock.now());
        let max_age = self.config.max_age;
        let Index {
            traces,
            order,
            stats,
        } = index;
        order.retain(|id| {
            let expired = traces
                .get(id)
                .is_some_and(|e| now.saturating_duration_since(e.newest_end) > max_age);
            if expired && let Some(e) = traces.remove(id) {
                stats.spans -= e.spans.len();
                stats.evicted_by_age += 1;
            }
            !expired
        });
        stats.traces = traces.len();
    }

    /// The trace with this id, its spans in the order they ended.
    pub fn trace(&self, trace_id: TraceId) -> Option<Trace> {
        let index = self.lock();
        index
            .traces
            .get(&trace_id)
            .map(|e| Trace::from_entry(trace_id, e))
    }

    /// Up to `n` traces, the most recently arrived first.
    pub fn recent(&self, n: usize) -> Vec<Trace> {
        let index = self.lock();
        index
            .order
            .iter()
            .rev()
            .take(n)
            .filter_map(|id| index.traces.get(id).map(|e| Trace::from_entry(*id, e)))
            .collect()
    }

    /// Counts of what is held and what was let go.
    pub fn stats(&self) -> StoreStats {
        self.lock().stats
    }

    /// Forgets every trace (the counters are kept).
    pub fn clear(&self) {
        let mut index = self.lock();
        index.traces.clear();
        index.order.clear();
        index.stats.traces = 0;
        index.stats.spans = 0;
    }
}

impl SpanProcessor for TraceStore {
    #[inline]
    fn on_end(&self, span: FinishedSpan) {
        if let Err(span) = self.staged.push(span) {
            // Full: drain into the index (taking the lock once per STAGING
            // spans), then store this one.
            let mut index = self.lock();
            self.ingest(&mut index, span);
        }
    }
}

/// One stored trace: its spans, and the means to see them as a tree.
#[derive(Clone, Debug)]
pub struct Trace {
    trace_id: TraceId,
    spans: Vec<FinishedSpan>,
    dropped_spans: u64,
}

impl Trace {
    fn from_entry(trace_id: TraceId, entry: &Entry) -> Self {
        Self {
            trace_id,
            spans: entry.spans.clone(),
            dropped_spans: entry.dropped_spans,
        }
    }

    /// A trace made of these spans (all of one trace id, which the first span
    /// gives); `None` when `spans` is empty.
    pub fn from_spans(spans: Vec<FinishedSpan>) -> Option<Self> {
        let trace_id = spans.first()?.context.trace_id;
        Some(Self {
            trace_id,
            spans,
            dropped_spans: 0,
        })
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The spans, in the order they ended.
    pub fn spans(&self) -> &[FinishedSpan] {
        &self.spans
    }

    /// Spans of this trace the store refused for the per-trace limit.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_spans
    }

    /// The span without a parent (the earliest, if there are several).
    pub fn root(&self) -> Option<&FinishedSpan> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .min_by_key(|s| s.start_time)
    }

    /// The span with this id.
    pub fn span(&self, span_id: SpanId) -> Option<&FinishedSpan> {
        self.spans.iter().find(|s| s.context.span_id == span_id)
    }

    /// The spans as a tree: children under their parents, siblings by start
    /// time. Spans whose parent is not in the trace (a remote parent, or one
    /// not yet ended) are shown at the top level.
    pub fn tree(&self) -> Vec<SpanNode<'_>> {
        render::build_tree(&self.spans)
    }

    /// The tree as indented text: name, duration, status and key attributes
    /// of each span.
    pub fn render(&self) -> String {
        render::render(&self.tree())
    }
}

/// A span and its children, from [`Trace::tree`].
#[derive(Clone, Debug)]
pub struct SpanNode<'a> {
    /// The span.
    pub span: &'a FinishedSpan,
    /// Its children, by start time.
    pub children: Vec<SpanNode<'a>>,
}
