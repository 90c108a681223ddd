//! `AgentTraceLayer`: `tracing` spans and events as agent spans, and their
//! durations as latency metrics.
//!
//! # How a `tracing` span becomes an agent span
//!
//! `on_new_span` decides the parent (the explicit `parent:`, else the
//! innermost span current on this thread, of either kind: entering a
//! `tracing` span makes its agent span current for the tracer too, so
//! `#[instrument]` functions and the tracer's own spans interleave into one
//! tree), reads the fields into attributes, and keeps a *pending* span in
//! the layer's span table. The agent span starts
//! when it is first needed: the first `enter`, a child that needs its ids,
//! a read of its context through [`SpanExt`], or its close. Until then
//! [`SpanExt::set_parent`] can still give it a remote parent, as in
//! `tracing-opentelemetry`. Entering a `tracing` span makes its agent span
//! current for the tracer too; closing it ends the agent span and records
//! its duration in [`LatencyMetrics`](crate::LatencyMetrics) under the span
//! name.
//!
//! Fields: `otel.name` renames the span, `otel.kind` sets its kind
//! (`client`, `server`, `producer`, `consumer`, `internal`; at creation
//! only), `otel.status_code` (`ok`/`error`) and `otel.status_message` its
//! status; every other field becomes a typed attribute (`u64` beyond
//! `i64::MAX` as a float, `Debug` values as text). Events inside a span
//! become span events named by their `message`, with their fields and
//! level; an `ERROR` event (which `#[instrument(err)]` emits) also sets the
//! span's error status and adds an `exception` event.
//!
//! # Performance
//!
//! An `#[instrument]` call is four callbacks (new span, enter, exit,
//! close), and what each costs beyond the agent span itself is bookkeeping;
//! `benches/layer.rs` measures it against `tracing-opentelemetry` and the
//! bare `Registry` in one run. Five choices keep it small (instructions
//! per call from callgrind on a loop of that bench's call; the layer went
//! from about 4,900 to about 4,000 and then to about 3,600, the bare
//! `Registry` being 766-805):
//!
//! - The agent spans live in the layer's own `SpanTable`, a sharded map
//!   keyed by span id, not in the registry's extensions: no look-up of the
//!   span in the registry's slab, no lock of its extensions and no boxed
//!   allocation per span (about 650 instructions).
//! - `on_exit` finds the context to leave in a thread-local stack of the
//!   spans entered through the layer (`ENTERED`), with no table look-up
//!   at all; the same stack stands in for the registry's current span
//!   where one is needed (about 180 per exit, and 80 per root span).
//! - A span that keeps its callsite's name records its duration through a
//!   series handle cached per callsite (`Handles`) rather than by name
//!   (about 110).
//! - A pending span starts through [`Span::start_with_attributes`], not a
//!   `SpanBuilder`: its attributes are read in place by the sampler and
//!   drained into the span, with no list collected again and no pass
//!   folding repeated keys (about 260).
//! - The drained attribute list keeps its buffer as the thread's spare for
//!   the next span (`SPARE`), so once warm a span's attributes cost no
//!   allocation (about 170). A `SmallVec` with room inline measured worse:
//!   it made each move of a table entry a copy of about 400 bytes. For the
//!   same reason a pending span keeps no status of its own; it gets the
//!   recorded `otel.status_*` one as it starts.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::time::Duration;

use agent_trace_core::{
    AgentStepTracer, KeyValue, Parent, Span, SpanContext, SpanId, SpanKind, StartMark, Status,
    StringValue, Value, enter_context, exit_context,
};
use agent_trace_metrics::LatencyMetrics;
use agent_trace_metrics::SeriesHandle;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Where a layer records span durations, with the series handles of the
/// callsites seen so far (see [`Handles`]).
#[derive(Clone)]
enum Latencies {
    None,
    Global(Arc<Handles>),
    Own(Arc<LatencyMetrics>, Arc<Handles>),
}

/// How many callsites [`Handles`] keeps a series handle for: a power of two.
/// The spans of callsites beyond it are recorded by name, which is right
/// and about 10 ns slower.
const HANDLE_SLOTS: usize = 256;

/// How many slots a callsite's handle may be looked for in, from the one
/// its address hashes to.
const HANDLE_PROBES: usize = 8;

/// The series handle of each callsite's span name, so that a span that
/// keeps its callsite's name records its duration with no look-up by name
/// (the layer bench: about 110 instructions fewer per span than
/// [`LatencyMetrics::record_with_exemplar`]).
///
/// An open-addressed table keyed by the address of the callsite's
/// `&'static Metadata`: a slot is filled once and never changes, so a hit
/// is an atomic load and a comparison, with no lock. A slot is filled by
/// `OnceLock::set` with a handle made beforehand, so making it (which may
/// call a `metrics` recorder) never runs while a slot is being
/// initialised.
struct Handles {
    slots: Box<[OnceLock<(usize, SeriesHandle)>]>,
}

impl Handles {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            slots: (0..HANDLE_SLOTS).map(|_| OnceLock::new()).collect(),
        })
    }

    /// The handle of `callsite`'s series in `metrics`, made on first use;
    /// `None` when the table is full around it.
    #[inline]
    fn get(
        &self,
        metrics: &LatencyMetrics,
        callsite: &'static Metadata<'static>,
    ) -> Option<&SeriesHandle> {
        let key = std::ptr::from_ref(callsite) as usize;
        // Fibonacci hashing: the top bits of the product spread addresses
        // that differ only in their low bits.
        let home = (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - HANDLE_SLOTS.ilog2());
        for probe in 0..HANDLE_PROBES {
            let slot = &self.slots[(home as usize + probe) % HANDLE_SLOTS];
            let (owner, handle) = match slot.get() {
                Some(entry) => entry,
                None => {
                    // A lost race leaves another callsite's (or the same
                    // callsite's) handle in the slot: both are fine.
                    let _ = slot.set((key, metrics.series(callsite.name(), &[])));
                    slot.get()?
                }
            };
            if *owner == key {
                return Some(handle);
            }
        }
        None
    }
}

/// The `tracing_subscriber::Layer` of agent-trace.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use agent_trace::{AgentStepTracer, AgentTraceLayer};
///
/// let tracer = AgentStepTracer::new();
/// let subscriber = tracing_subscriber::registry().with(AgentTraceLayer::new(tracer.clone()));
/// tracing::subscriber::with_default(subscriber, || {
///     let step = tracing::info_span!("llm_call", model = "gpt-4", tokens = 150_i64);
///     let _entered = step.enter();
///     tracing::info!(chunk = 1_i64, "first_token");
/// });
/// let trace = tracer.store().unwrap().recent(1).pop().unwrap();
/// assert_eq!(trace.spans()[0].name, "llm_call");
/// ```
///
/// A clone records into the same tracer and latency metrics, with a span
/// table of its own: it is meant for another subscriber, whose span ids
/// are its own.
pub struct AgentTraceLayer {
    tracer: AgentStepTracer,
    latencies: Latencies,
    spans: SpanTable,
}

impl Clone for AgentTraceLayer {
    fn clone(&self) -> Self {
        Self {
            tracer: self.tracer.clone(),
            latencies: self.latencies.clone(),
            spans: SpanTable::default(),
        }
    }
}

impl fmt::Debug for AgentTraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentTraceLayer")
            .field("tracer", &self.tracer)
            .field(
                "latencies",
                &match self.latencies {
                    Latencies::None => "off",
                    Latencies::Global(_) => "global",
                    Latencies::Own(..) => "own",
                },
            )
            .finish()
    }
}

impl AgentTraceLayer {
    /// A layer that records into `tracer` and the global
    /// [`latency_metrics`](crate::latency_metrics).
    pub fn new(tracer: AgentStepTracer) -> Self {
        Self {
            tracer,
            latencies: Latencies::Global(Handles::new()),
            spans: SpanTable::default(),
        }
    }

    /// Records span durations into `metrics` instead of the global one.
    pub fn with_latency_metrics(mut self, metrics: Arc<LatencyMetrics>) -> Self {
        self.latencies = Latencies::Own(metrics, Handles::new());
        self
    }

    /// Records no span durations.
    pub fn without_latency_metrics(mut self) -> Self {
        self.latencies = Latencies::None;
        self
    }

    /// Records a span's duration with its trace id as the exemplar (0, no
    /// exemplar, for a span that is not sampled: its trace is not exported):
    /// under `renamed` when the span was renamed, else under its callsite's
    /// name through the callsite's cached series handle.
    fn record_latency(
        &self,
        callsite: &'static Metadata<'static>,
        renamed: Option<StringValue>,
        d: Duration,
        trace_id: u128,
    ) {
        let (metrics, handles): (&LatencyMetrics, &Handles) = match &self.latencies {
            Latencies::None => return,
            Latencies::Global(h) => (crate::latency_metrics(), h),
            Latencies::Own(m, h) => (m, h),
        };
        // `record` only fails for NaN or negative values, which a
        // `Duration` cannot be.
        if renamed.is_none()
            && let Some(handle) = handles.get(metrics, callsite)
        {
            let _ = handle.record_with_exemplar(d, trace_id);
            return;
        }
        let name = renamed.as_deref().unwrap_or(callsite.name());
        let _ = metrics.record_with_exemplar(name, d, trace_id);
    }

    /// What identifies this layer in the thread's stack of entered spans:
    /// its address, stable while its subscriber lives, and different for
    /// each subscriber (span ids are only unique within one).
    #[inline]
    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// The id of the innermost span entered through this layer on this
    /// thread.
    fn innermost_entered(&self) -> Option<u64> {
        let key = self.key();
        ENTERED
            .try_with(|stack| {
                let stack = stack.borrow();
                stack.iter().rev().find(|e| e.layer == key).map(|e| e.id)
            })
            .ok()
            .flatten()
    }
}

/// A `tracing` span entered through the layer on this thread.
#[derive(Clone, Copy)]
struct Entered {
    layer: usize,
    id: u64,
    span_id: SpanId,
}

thread_local! {
    /// The `tracing` spans this thread entered through a layer, innermost
    /// last, with their agent span ids: `on_exit` finds the context to
    /// leave here, with no look-up and no lock (when exits looked the span
    /// up in the registry and locked its extensions, each cost about 180
    /// instructions and four atomic read-modify-writes more in the layer
    /// bench). Enter and exit of one span always happen on one thread
    /// (`tracing`'s guards are not `Send`).
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// How many shards the span table has: a power of two comfortably above
/// the core counts this runs on, so that threads opening and closing spans
/// at the same moment rarely take the same lock.
const SPAN_SHARDS: usize = 32;

/// A span id's bits mixed (Fibonacci hashing): `tracing`'s registry hands
/// out slab indices, which differ mostly in their low bits.
#[inline]
fn mix(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The hasher of a shard's map: the mixed id rotated, so that the bits
/// that chose the shard (the top ones, the same for every key of the
/// shard) are neither the map's bucket bits nor its tag bits.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, id: u64) {
        self.0 = mix(id).rotate_left(32);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type Shard = HashMap<u64, AgentSpan, BuildHasherDefault<IdHasher>>;

/// One shard, on a cache line of its own so that two threads' shards do
/// not false-share.
#[derive(Default)]
#[repr(align(64))]
struct PaddedShard(Mutex<Shard>);

/// The agent span of each `tracing` span, by span id.
///
/// # Why not the span's extensions
///
/// The registry's extensions are the usual home of a layer's per-span
/// state, but each use costs a look-up of the span in the registry's slab
/// (two atomic read-modify-writes on the slot's reference count) and a
/// write lock of the span's extensions (two more), and the insert boxes
/// the value (an allocation per span) into a hash map that the registry
/// clears at close. This table is a sharded map keyed by the span id: a
/// callback takes one uncontended shard lock, values live inline in the
/// maps (which keep their capacity, so no allocation once warm), and a
/// span leaves at close. In the layer bench this took about 650
/// instructions off each `#[instrument]` call.
///
/// Ids are unique among the live spans of one subscriber, and a span is
/// removed in `on_close`, before the registry can reuse its id; a clone of
/// the layer (for another subscriber) gets a table of its own.
///
/// A shard's lock is held while a pending span starts (its sampler and
/// the processors' `on_start` run then). A sampler or an `on_start` that
/// emits `tracing` spans or events through the same subscriber re-enters
/// the layer on the same thread; while a span starts, the layer only
/// *tries* shard locks, and a span or event whose shard is taken is not
/// turned into agent data (it would have deadlocked on a lock this thread
/// holds). No lock is held while a span ends, so `on_end` and exporters
/// may use `tracing` freely.
struct SpanTable {
    shards: Box<[PaddedShard]>,
}

impl Default for SpanTable {
    fn default() -> Self {
        Self {
            shards: (0..SPAN_SHARDS).map(|_| PaddedShard::default()).collect(),
        }
    }
}

impl SpanTable {
    /// The shard of `id`, locked. A panic while a shard was held (in a
    /// sampler or processor) leaves its spans consistent, so poisoning is
    /// ignored.
    ///
    /// `None` only when this thread is starting a span (so it may hold a
    /// shard already) and the shard is taken: waiting could be waiting on
    /// itself.
    #[inline]
    fn shard(&self, id: u64) -> Option<MutexGuard<'_, Shard>> {
        let i = (mix(id) >> (64 - SPAN_SHARDS.ilog2())) as usize;
        let shard = &self.shards[i].0;
        if STARTING.get() {
            return match shard.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
        }
        Some(shard.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on the agent span of `id`, if the layer keeps one.
    #[inline]
    fn with<R>(&self, id: u64, f: impl FnOnce(&mut AgentSpan) -> R) -> Option<R> {
        self.shard(id)?.get_mut(&id).map(f)
    }
}

thread_local! {
    /// Whether this thread is inside [`Pending::start`] (see [`SpanTable`]).
    static STARTING: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as starting a span until dropped.
struct Starting(bool);

impl Starting {
    fn enter() -> Self {
        Self(STARTING.replace(true))
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        STARTING.set(self.0);
    }
}

/// What the parent of a pending span is.
enum PendingParent {
    Context(SpanContext),
    Root,
}

/// Attributes read from fields.
type FieldList = Vec<KeyValue>;

/// The most attributes a spare list may have room for: a larger one is
/// freed rather than kept for the next span.
const SPARE_CAPACITY: usize = 16;

thread_local! {
    /// An empty attribute list with room, kept from a span that started, for
    /// the next span opened on this thread: once warm, a span's pending
    /// attributes cost no allocation. One list, not a pool: a span is
    /// usually opened and started on one thread, so one spare is enough, and
    /// it keeps the span table's entries a pointer wide (a `SmallVec` with
    /// room inline made every move of an entry a 400-byte copy, more than
    /// the allocation it saved).
    static SPARE: Cell<FieldList> = const { Cell::new(Vec::new()) };
}

/// An empty attribute list, the thread's spare when it has one.
#[inline]
fn field_list() -> FieldList {
    SPARE.try_with(Cell::take).unwrap_or_default()
}

/// Keeps `list`, emptied, as the thread's spare if it has room worth
/// keeping; else frees it.
#[inline]
fn recycle(list: &mut FieldList) {
    if list.capacity() != 0 && list.capacity() <= SPARE_CAPACITY {
        list.clear();
        let list = std::mem::take(list);
        // A spare already there (two spans started with no span opened
        // between them) is freed: the newer list is as good.
        let _ = SPARE.try_with(|spare| drop(spare.replace(list)));
    }
}

/// A pending span's attributes handed to the span as it starts: the span
/// reads them as a slice (for its sampler) and then drains them, so the
/// list keeps its buffer for [`recycle`].
struct Draining<'a>(&'a mut FieldList);

impl AsRef<[KeyValue]> for Draining<'_> {
    #[inline]
    fn as_ref(&self) -> &[KeyValue] {
        self.0
    }
}

impl<'a> IntoIterator for Draining<'a> {
    type Item = KeyValue;
    type IntoIter = std::vec::Drain<'a, KeyValue>;

    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.0.drain(..)
    }
}

/// What an agent span will start with.
struct Pending {
    name: StringValue,
    kind: SpanKind,
    attributes: FieldList,
    parent: PendingParent,
    start: StartMark,
}

impl Pending {
    /// Starts the span. The parent is passed by reference, the name is
    /// taken out in place and the attributes are drained, so nothing is
    /// copied but the name and each attribute; the emptied attribute list
    /// becomes the thread's spare, and what is left is dropped with the
    /// pending state.
    fn start(&mut self, tracer: &AgentStepTracer) -> Span {
        let _starting = Starting::enter();
        let name = std::mem::replace(&mut self.name, StringValue::from_static(""));
        let parent = match &self.parent {
            PendingParent::Context(cx) => Parent::Span(cx),
            PendingParent::Root => Parent::Root,
        };
        let span = Span::start_with_attributes(
            tracer,
            name,
            parent,
            self.kind,
            self.start,
            Draining(&mut self.attributes),
        );
        recycle(&mut self.attributes);
        span
    }
}

/// The status that `otel.status_code` and `otel.status_message` set, if
/// any: none until a code is recorded.
#[inline]
fn status_of(code: Option<bool>, message: Option<&str>) -> Option<Status> {
    match code {
        Some(true) => Some(Status::Ok),
        Some(false) => Some(Status::error(message.unwrap_or_default().to_owned())),
        None => None,
    }
}

/// A `tracing` span's agent span, before and after it starts. Inline in
/// the span table: a box of its own would cost an allocation per span.
enum State {
    Pending(Pending),
    Started(Span),
}

/// What the layer keeps of a `tracing` span, in its [`SpanTable`].
struct AgentSpan {
    state: State,
    /// The span's callsite: its name is the latency series' unless the span
    /// was renamed, and its address keys the series handle.
    callsite: &'static Metadata<'static>,
    /// `otel.status_code` and `otel.status_message` as recorded so far
    /// (they may arrive in separate `record` calls). A pending span keeps
    /// no status of its own: it gets this one as it starts.
    status_code: Option<bool>,
    status_message: Option<String>,
}

impl AgentSpan {
    /// Starts the agent span if it is pending.
    #[inline]
    fn start(&mut self, tracer: &AgentStepTracer) -> &mut Span {
        if let State::Pending(pending) = &mut self.state {
            let mut span = pending.start(tracer);
            if let Some(status) = status_of(self.status_code, self.status_message.as_deref()) {
                span.set_status(status);
            }
            self.state = State::Started(span);
        }
        match &mut self.state {
            State::Started(span) => span,
            State::Pending(_) => unreachable!("started above"),
        }
    }

    /// The agent span, started if it was pending.
    #[inline]
    fn into_span(self, tracer: &AgentStepTracer) -> Span {
        match self.state {
            State::Started(span) => span,
            State::Pending(mut pending) => {
                let mut span = pending.start(tracer);
                if let Some(status) = status_of(self.status_code, self.status_message.as_deref()) {
                    span.set_status(status);
                }
                span
            }
        }
    }
}

/// Reads fields into attributes, with the `otel.*` conventions.
struct Fields<'a> {
    attributes: &'a mut FieldList,
    name: Option<String>,
    kind: Option<SpanKind>,
    status_code: Option<bool>,
    status_message: Option<String>,
    message: Option<String>,
    /// Whether `message` is an event name (events) rather than an
    /// attribute (spans keep a `message` field as an attribute).
    take_message: bool,
}

impl<'a> Fields<'a> {
    fn new(attributes: &'a mut FieldList, take_message: bool) -> Self {
        Self {
            attributes,
            name: None,
            kind: None,
            status_code: None,
            status_message: None,
            message: None,
            take_message,
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        self.attributes
            .push(KeyValue::new(StringValue::from(field.name()), value));
    }

    fn text(&mut self, field: &Field, s: &str) {
        let name = field.name();
        if let Some(convention) = name.strip_prefix("otel.") {
            match convention {
                "name" => return self.name = Some(s.to_owned()),
                "kind" => return self.kind = s.parse().ok(),
                "status_code" => {
                    self.status_code = if s.eq_ignore_ascii_case("ok") {
                        Some(true)
                    } else if s.eq_ignore_ascii_case("error") {
                        Some(false)
                    } else {
                        None
                    };
                    return;
                }
                "status_message" => return self.status_message = Some(s.to_owned()),
                _ => {}
            }
        } else if self.take_message && name == "message" {
            self.message = Some(s.to_owned());
            return;
        }
        // One allocation, straight into the shared string.
        self.push(field, Value::String(StringValue::copy_from(s)));
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.push(field, Value::I64(v)),
            Err(_) => self.push(field, Value::F64(value as f64)),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, &format!("{value:?}"));
    }
}

impl AgentTraceLayer {
    /// The context of the agent span of the span `id`, starting it if
    /// needed.
    fn context_of(&self, id: u64) -> Option<SpanContext> {
        self.spans.with(id, |a| a.start(&self.tracer).context())
    }
}

impl<S> Layer<S> for AgentTraceLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let start = StartMark::now();
        let parent = if let Some(p) = attrs.parent() {
            self.context_of(p.into_u64())
        } else if attrs.is_contextual() {
            // Entering a `tracing` span makes its agent span current on this
            // thread's stack too, so the top of that stack is the innermost
            // of both kinds (a tracer span opened inside an `#[instrument]`
            // function included). The innermost span entered through this
            // layer on this thread (the registry's current span, without a
            // look-up in the registry) is the fallback, for a context taken
            // off that stack by other code.
            match AgentStepTracer::current_context() {
                Some(cx) => Some(cx),
                None => self.innermost_entered().and_then(|id| self.context_of(id)),
            }
        } else {
            None
        };
        let mut attributes = field_list();
        let mut fields = Fields::new(&mut attributes, false);
        attrs.record(&mut fields);
        let name = match fields.name.take() {
            Some(n) => StringValue::from(n),
            None => StringValue::from(attrs.metadata().name()),
        };
        let kind = fields.kind.unwrap_or_default();
        let (status_code, status_message) = (fields.status_code, fields.status_message.take());
        let agent = AgentSpan {
            state: State::Pending(Pending {
                name,
                kind,
                attributes,
                parent: parent.map_or(PendingParent::Root, PendingParent::Context),
                start,
            }),
            callsite: attrs.metadata(),
            status_code,
            status_message,
        };
        if let Some(mut shard) = self.spans.shard(id.into_u64()) {
            shard.insert(id.into_u64(), agent);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        // The values are read before the shard is locked.
        let mut attributes = FieldList::new();
        let mut fields = Fields::new(&mut attributes, false);
        values.record(&mut fields);
        let Some(mut shard) = self.spans.shard(id.into_u64()) else {
            return;
        };
        let Some(agent) = shard.get_mut(&id.into_u64()) else {
            return;
        };
        let rename = fields.name.take();
        let status_recorded = fields.status_code.is_some() || fields.status_message.is_some();
        if status_recorded {
            agent.status_code = fields.status_code.or(agent.status_code);
            agent.status_message = fields.status_message.take().or(agent.status_message.take());
        }
        match &mut agent.state {
            State::Pending(p) => {
                if let Some(n) = rename {
                    p.name = n.into();
                }
                // The status is set as the span starts.
                p.attributes.extend(attributes);
            }
            State::Started(s) => {
                if let Some(n) = rename {
                    s.update_name(n);
                }
                if status_recorded
                    && let Some(st) = status_of(agent.status_code, agent.status_message.as_deref())
                {
                    s.set_status(st);
                }
                s.set_attributes(attributes);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // The event's span, as `Context::event_span` finds it, without a
        // look-up in the registry.
        let id = if event.is_root() {
            return;
        } else if event.is_contextual() {
            match self.innermost_entered() {
                Some(id) => id,
                None => return,
            }
        } else {
            match event.parent() {
                Some(id) => id.into_u64(),
                None => return,
            }
        };
        // The fields are read (user `Debug` code included) before the
        // shard is locked.
        let mut attributes = FieldList::new();
        let mut fields = Fields::new(&mut attributes, true);
        event.record(&mut fields);
        let Some(mut shard) = self.spans.shard(id) else {
            return;
        };
        let Some(agent) = shard.get_mut(&id) else {
            return;
        };
        let s = agent.start(&self.tracer);
        let message = fields.message.take();
        let level = *event.metadata().level();
        attributes.push(KeyValue::new("level", level.as_str()));
        let name = message
            .clone()
            .unwrap_or_else(|| event.metadata().name().to_owned());
        if level == Level::ERROR {
            // `#[instrument(err)]` puts the error in an `error` field.
            let text = attributes
                .iter()
                .find(|kv| kv.key.as_str() == "error")
                .and_then(|kv| kv.value.as_str().map(str::to_owned))
                .or(message)
                .unwrap_or_else(|| name.clone());
            s.set_status(Status::error(text.clone()));
            s.add_event(
                "exception",
                [
                    KeyValue::new("exception.message", text),
                    KeyValue::new("exception.type", "error"),
                ],
            );
            if name != "exception" {
                s.add_event(name, attributes);
            }
        } else {
            s.add_event(name, attributes);
        }
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let id = id.into_u64();
        let cx = self
            .spans
            .with(id, |agent| agent.start(&self.tracer).context());
        if let Some(cx) = cx {
            let entered = Entered {
                layer: self.key(),
                id,
                span_id: cx.span_id,
            };
            enter_context(cx);
            // A thread being torn down cannot enter spans any more: the
            // exit finds no entry and leaves nothing.
            let _ = ENTERED.try_with(|stack| stack.borrow_mut().push(entered));
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let (layer, id) = (self.key(), id.into_u64());
        let span_id = ENTERED.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            // The innermost entry: the top, unless guards were dropped out
            // of order.
            let at = stack.iter().rposition(|e| e.id == id && e.layer == layer)?;
            Some(stack.remove(at).span_id)
        });
        if let Ok(Some(span_id)) = span_id {
            exit_context(span_id);
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        // Out of the table first: the span starts (if it never did) and
        // ends with no lock held.
        let Some(agent) = self
            .spans
            .shard(id.into_u64())
            .and_then(|mut shard| shard.remove(&id.into_u64()))
        else {
            return;
        };
        let callsite = agent.callsite;
        let s = agent.into_span(&self.tracer);
        // A span that does not record has no name and records no latency.
        // One that kept its callsite's name (the same static string) records
        // through the callsite's series handle; a renamed one by name (a
        // reference count, or a static string).
        let renamed = match s.name() {
            None => {
                s.end();
                return;
            }
            Some(name) if std::ptr::eq(name.as_str(), callsite.name()) => None,
            Some(name) => Some(name.clone()),
        };
        let cx = s.span_context();
        let trace_id = if cx.is_sampled() {
            cx.trace_id.to_u128()
        } else {
            0
        };
        // Ending reports the duration it recorded.
        let took = s.end_measured();
        self.record_latency(callsite, renamed, took, trace_id);
    }
}

/// Reads and sets the agent-trace context of a `tracing` span, so that a
/// `tracing` user propagates over HTTP in two lines.
///
/// ```
/// use std::collections::HashMap;
/// use tracing_subscriber::layer::SubscriberExt;
/// use agent_trace::{AgentStepTracer, AgentTraceLayer, SpanExt};
/// use agent_trace::propagation::SpanContext;
///
/// let tracer = AgentStepTracer::new();
/// let subscriber = tracing_subscriber::registry().with(AgentTraceLayer::new(tracer));
/// tracing::subscriber::with_default(subscriber, || {
///     // Incoming: continue the caller's trace.
///     let incoming = HashMap::from([(
///         "traceparent".to_owned(),
///         "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
///     )]);
///     let server = tracing::info_span!("POST /chat");
///     server.set_parent(&SpanContext::from_headers(&incoming).unwrap());
///     // Outgoing: the context to inject.
///     let cx = server.agent_context().unwrap();
///     assert_eq!(cx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
///     let outgoing = cx.to_headers();
///     assert!(outgoing["traceparent"].contains(&cx.span_id.to_string()));
/// });
/// ```
pub trait SpanExt {
    /// The agent span's context (starting it if it was pending); `None`
    /// when the span is disabled or no [`AgentTraceLayer`] is installed.
    fn agent_context(&self) -> Option<SpanContext>;

    /// Makes `remote` (from incoming headers) the parent of this span's
    /// agent span. Takes effect only before the span is first entered or
    /// its context read, as with `tracing-opentelemetry`; returns whether
    /// it did.
    fn set_parent(&self, remote: &SpanContext) -> bool;
}

/// Runs `f` on the span's agent span through whichever subscriber is
/// current (the layer registers nothing global of its own).
fn with_agent_span<R>(
    span: &tracing::Span,
    f: impl FnOnce(&mut AgentSpan, &AgentTraceLayer) -> R,
) -> Option<R> {
    let mut f = Some(f);
    let mut out = None;
    span.with_subscriber(|(id, dispatch)| {
        let Some(layer) = dispatch.downcast_ref::<AgentTraceLayer>() else {
            return;
        };
        if let Some(f) = f.take() {
            out = layer.spans.with(id.into_u64(), |agent| f(agent, layer));
        }
    });
    out
}

impl SpanExt for tracing::Span {
    fn agent_context(&self) -> Option<SpanContext> {
        with_agent_span(self, |agent, layer| agent.start(&layer.tracer).context())
    }

    fn set_parent(&self, remote: &SpanContext) -> bool {
        with_agent_span(self, |agent, _| match &mut agent.state {
            State::Pending(p) => {
                let mut cx = remote.clone();
                cx.is_remote = true;
                p.parent = PendingParent::Context(cx);
                true
            }
            _ => false,
        })
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::FinishedSpan;

    struct Setup {
        tracer: AgentStepTracer,
        metrics: Arc<LatencyMetrics>,
        dispatch: tracing::Dispatch,
    }

    fn setup_with(layer: impl FnOnce(AgentTraceLayer) -> AgentTraceLayer) -> Setup {
        let tracer = AgentStepTracer::new();
        let metrics = Arc::new(LatencyMetrics::new());
        let layer =
            layer(AgentTraceLayer::new(tracer.clone()).with_latency_metrics(metrics.clone()));
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        Setup {
            tracer,
            metrics,
            dispatch,
        }
    }

    fn setup() -> Setup {
        setup_with(|layer| layer)
    }

    impl Setup {
        fn spans(&self) -> Vec<FinishedSpan> {
            let store = self
                .tracer
                .store()
                .expect("the default tracer keeps traces");
            store
                .recent(usize::MAX)
                .iter()
                .flat_map(|t| t.spans().to_vec())
                .collect()
        }

        fn span(&self, name: &str) -> FinishedSpan {
            let mut found: Vec<FinishedSpan> = self
                .spans()
                .into_iter()
                .filter(|s| s.name == name)
                .collect();
            assert_eq!(found.len(), 1, "one span named {name}");
            found.pop().unwrap()
        }

        fn count(&self, operation: &str) -> u64 {
            self.metrics.stats(operation, None).map_or(0, |s| s.count)
        }
    }

    #[tracing::instrument]
    fn plan(step: i64) {}

    #[tracing::instrument]
    fn act(step: i64) {}

    /// A second callsite with the name of `plan`.
    fn plan_again() {
        tracing::info_span!("plan").in_scope(|| {});
    }

    #[test]
    fn each_callsite_records_under_its_span_name_and_renamed_spans_under_their_new_name() {
        let s = setup();
        tracing::dispatcher::with_default(&s.dispatch, || {
            for step in 0..3 {
                plan(step);
                act(step);
            }
            plan_again();
            tracing::info_span!("request", otel.name = "chat gpt-4").in_scope(|| {});
            let late = tracing::info_span!("tool", otel.name = tracing::field::Empty);
            late.in_scope(|| {});
            late.record("otel.name", "tool web_search");
            drop(late);
        });
        // Two callsites named `plan` share one series.
        assert_eq!(s.count("plan"), 4);
        assert_eq!(s.count("act"), 3);
        assert_eq!(s.count("chat gpt-4"), 1);
        assert_eq!(s.count("request"), 0);
        // Renamed after it started (and after its handle would be cached).
        assert_eq!(s.count("tool web_search"), 1);
        assert_eq!(s.count("tool"), 0);
    }

    #[test]
    fn a_callsite_without_a_free_handle_slot_records_by_name_into_the_same_series() {
        let s = setup_with(|layer| {
            let Latencies::Own(metrics, handles) = &layer.latencies else {
                unreachable!("set up with its own metrics")
            };
            // Every slot taken by another (made-up) callsite.
            let other = metrics.series("other", &[]);
            for (i, slot) in handles.slots.iter().enumerate() {
                assert!(slot.set((usize::MAX - i, other.clone())).is_ok());
            }
            layer
        });
        tracing::dispatcher::with_default(&s.dispatch, || {
            plan(1);
            plan(2);
        });
        assert_eq!(s.count("plan"), 2);
        assert_eq!(s.count("other"), 0);
    }

    #[test]
    fn clones_of_a_layer_in_two_subscribers_keep_their_spans_apart() {
        let tracer = AgentStepTracer::new();
        let layer = AgentTraceLayer::new(tracer.clone()).without_latency_metrics();
        let first = tracing::Dispatch::new(tracing_subscriber::registry().with(layer.clone()));
        let second = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        // Both registries number their first span 1.
        tracing::dispatcher::with_default(&first, || {
            let outer = tracing::info_span!("outer");
            let _entered = outer.enter();
            tracing::dispatcher::with_default(&second, || {
                let other = tracing::info_span!("other");
                assert_eq!(other.id(), outer.id(), "the case under test");
                other.in_scope(|| {});
            });
            tracing::info_span!("inner").in_scope(|| {});
        });
        let store = tracer.store().unwrap();
        let spans: Vec<FinishedSpan> = store
            .recent(usize::MAX)
            .iter()
            .flat_map(|t| t.spans().to_vec())
            .collect();
        let named = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
        let (outer, inner, other) = (named("outer"), named("inner"), named("other"));
        assert_eq!(spans.len(), 3);
        assert_eq!(inner.parent_span_id, Some(outer.context.span_id));
        // The current span of the thread is the parent, whichever
        // subscriber made it.
        assert_eq!(other.parent_span_id, Some(outer.context.span_id));
        assert_ne!(other.context.span_id, outer.context.span_id);
    }

    #[test]
    fn guards_dropped_out_of_order_and_spans_entered_twice_leave_the_right_parent() {
        let s = setup();
        tracing::dispatcher::with_default(&s.dispatch, || {
            let a = tracing::info_span!("a");
            let b = tracing::info_span!("b");
            let a_guard = a.enter();
            let b_guard = b.enter();
            drop(a_guard);
            tracing::info_span!("under_b").in_scope(|| {});
            drop(b_guard);
            tracing::info_span!("root").in_scope(|| {});
            // Entered twice: the first exit leaves it current.
            let outer = a.enter();
            let again = a.enter();
            drop(again);
            tracing::info_span!("under_a").in_scope(|| {});
            drop(outer);
        });
        let (a, b) = (s.span("a"), s.span("b"));
        assert_eq!(s.span("under_b").parent_span_id, Some(b.context.span_id));
        assert_eq!(s.span("root").parent_span_id, None);
        assert_eq!(s.span("under_a").parent_span_id, Some(a.context.span_id));
    }

    #[test]
    fn events_find_their_span_by_explicit_parent_or_as_the_current_one() {
        let s = setup();
        tracing::dispatcher::with_default(&s.dispatch, || {
            let job = tracing::info_span!("job");
            let step = tracing::info_span!("step");
            let _entered = step.enter();
            tracing::info!("in_step");
            tracing::info!(parent: &job, "in_job");
            tracing::info!(parent: None, "in_no_span");
        });
        let names = |span: FinishedSpan| -> Vec<String> {
            span.events.iter().map(|e| e.name.to_string()).collect()
        };
        assert_eq!(names(s.span("step")), ["in_step"]);
        assert_eq!(names(s.span("job")), ["in_job"]);
    }

    #[test]
    fn a_status_given_or_recorded_before_the_span_starts_is_set_as_it_starts() {
        let s = setup();
        tracing::dispatcher::with_default(&s.dispatch, || {
            tracing::info_span!("given", otel.status_code = "ok").in_scope(|| {});
            let recorded = tracing::info_span!(
                "recorded",
                otel.status_code = tracing::field::Empty,
                otel.status_message = tracing::field::Empty,
            );
            recorded.record("otel.status_message", "timeout");
            recorded.record("otel.status_code", "error");
            recorded.in_scope(|| {});
            let closed = tracing::info_span!("closed", otel.status_code = tracing::field::Empty);
            closed.record("otel.status_code", "error");
            drop(closed);
        });
        assert_eq!(s.span("given").status, Status::Ok);
        assert_eq!(s.span("recorded").status, Status::error("timeout"));
        assert_eq!(s.span("closed").status, Status::error(""));
    }

    #[test]
    fn a_span_closed_without_being_entered_still_starts_ends_and_records() {
        let s = setup();
        tracing::dispatcher::with_default(&s.dispatch, || {
            drop(tracing::info_span!("never_entered", tokens = 3_i64));
        });
        let span = s.span("never_entered");
        assert_eq!(span.attribute("tokens"), Some(&Value::I64(3)));
        assert_eq!(s.count("never_entered"), 1);
    }
}
