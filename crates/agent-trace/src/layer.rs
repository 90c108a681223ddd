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
//! bare `Registry` in one run, and `cargo xtask perfgate` guards its
//! instruction count (the measurements behind each choice below are in
//! BENCHMARKS.md, "Measurement history"):
//!
//! - The agent spans live in the layer's own `SpanTable`, not in the
//!   registry's extensions: no look-up of the span in the registry's slab,
//!   no lock of its extensions and no boxed allocation per span. The table
//!   is direct-mapped by the registry's slab index (a slot per span, a lock
//!   per slot, a hash map only for spans whose slot is taken): no hashing,
//!   no probing and no entry moved in or out.
//! - A new span's fields are read into a per-thread list that then trades
//!   places with its slot's, so both keep their buffers (no allocation per
//!   call once warm); starting it leaves the pending fields' places behind
//!   for the slot's next span, and closing moves only the started span out.
//! - `on_exit` finds the context to leave in a thread-local stack of the
//!   spans entered through the layer (`ENTERED`), with no table look-up at
//!   all; the same stack stands in for the registry's current span where
//!   one is needed. Its first 32 entries are cells with no destructor.
//! - A span that keeps its callsite's name records its duration through a
//!   series handle cached per callsite (`Handles`) rather than by name.
//! - Slot locks unlock with a plain store (`agent_trace_metrics`'
//!   `SpinLock`), and are held only for the layer's own bookkeeping: no
//!   sampler, processor or `Debug` impl runs while one is held (see
//!   `SpanTable`). Each agent span holds a reference count of the layer's
//!   tracer, as any span does.
//! - A pending span starts through [`Span::start_draining`], not a
//!   `SpanBuilder`: its attributes are read in place by the sampler and
//!   drained into the span, with no list collected again and no pass
//!   folding repeated keys, by a function compiled once in the core crate.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use agent_trace_core::{
    AgentStepTracer, KeyValue, Parent, Span, SpanContext, SpanId, SpanKind, StartMark, Status,
    StringValue, Value, enter_span, exit_context, is_tracing_suppressed,
};
use agent_trace_metrics::LatencyMetrics;
use agent_trace_metrics::SeriesHandle;
use agent_trace_metrics::spin::{SpinGuard, SpinLock};
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
    spans: SpanTable,
    tracer: AgentStepTracer,
    latencies: Latencies,
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

/// Ends the spans still in the table (opened through the raw `Dispatch`
/// API and never closed: a `tracing::Span` keeps its subscriber, and so
/// this layer, alive): pending ones start first, so that no span opened is
/// lost.
impl Drop for AgentTraceLayer {
    fn drop(&mut self) {
        for slot in self.spans.slots.iter_mut() {
            let slot = slot.get_mut();
            if slot.id != 0 {
                slot.id = 0;
                slot.agent.start_owned(&self.tracer).end();
            }
        }
        for shard in self.spans.overflow.iter_mut() {
            let shard = shard.0.get_mut().unwrap_or_else(PoisonError::into_inner);
            for (_, mut agent) in shard.drain() {
                agent.start_owned(&self.tracer).end();
            }
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

    /// Records the duration of a span that kept its callsite's name, with
    /// its trace id as the exemplar (0, no exemplar, for a span that is not
    /// sampled: its trace is not exported), through the callsite's cached
    /// series handle (by name when the handle table is full around it).
    #[inline]
    fn record_latency(&self, callsite: &'static Metadata<'static>, d: Duration, trace_id: u128) {
        let Some((metrics, handles)) = self.latencies() else {
            return;
        };
        // `record` only fails for NaN or negative values, which a
        // `Duration` cannot be.
        match handles.get(metrics, callsite) {
            Some(handle) => drop(handle.record_with_exemplar(d, trace_id)),
            None => drop(metrics.record_with_exemplar(callsite.name(), d, trace_id)),
        }
    }

    /// Ends a span that was renamed and records its duration under its
    /// new name (see [`record_latency`](Self::record_latency)).
    #[cold]
    #[inline(never)]
    fn close_renamed(&self, s: Span, trace_id: u128) {
        // A reference count, or a static string.
        let name = s.name().cloned();
        let took = s.end_measured();
        if let (Some((metrics, _)), Some(name)) = (self.latencies(), name) {
            let _ = metrics.record_with_exemplar(&name, took, trace_id);
        }
    }

    /// Where span durations go, if anywhere.
    #[inline]
    fn latencies(&self) -> Option<(&LatencyMetrics, &Handles)> {
        match &self.latencies {
            Latencies::None => None,
            Latencies::Global(h) => Some((crate::latency_metrics(), h)),
            Latencies::Own(m, h) => Some((m, h)),
        }
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
        ENTERED.with(|stack| stack.find(|e| e.layer == key).map(|e| e.id))
    }
}

/// A `tracing` span entered through the layer on this thread.
#[derive(Clone, Copy)]
struct Entered {
    layer: usize,
    id: u64,
    span_id: SpanId,
}

/// How many entered spans a thread keeps in [`ENTERED`] itself; deeper
/// ones go to [`ENTERED_DEEPER`].
const ENTERED_INLINE: usize = 32;

/// The `tracing` spans this thread entered through a layer, innermost
/// last, with their agent span ids: `on_exit` finds the context to leave
/// here, with no look-up and no lock (when exits looked the span up in the
/// registry and locked its extensions, each cost about 180 instructions
/// and four atomic read-modify-writes more in the layer bench). Enter and
/// exit of one span always happen on one thread (`tracing`'s guards are
/// not `Send`).
///
/// The first [`ENTERED_INLINE`] entries are cells in the thread-local
/// itself, which has no destructor: each use is a thread-relative address,
/// with no check that the thread-local is alive and no `RefCell` flag (a
/// `RefCell<Vec>` cost about 70 instructions more per `#[instrument]` call
/// in the layer bench). Deeper entries, rare, go to a `Vec`.
struct EnteredStack {
    len: Cell<usize>,
    inline: [EnteredCell; ENTERED_INLINE],
}

/// One inline entry of [`EnteredStack`], its fields in cells of their own
/// and so read and written a machine word at a time: a
/// `Cell<Option<Entered>>` was copied whole through the stack, its tag
/// byte and words read back right away with wider loads than they were
/// written with (a failed store-to-load forwarding on each exit).
struct EnteredCell {
    layer: Cell<usize>,
    id: Cell<u64>,
    /// `None` for an empty cell.
    span_id: Cell<Option<SpanId>>,
}

impl EnteredCell {
    const fn empty() -> Self {
        Self {
            layer: Cell::new(0),
            id: Cell::new(0),
            span_id: Cell::new(None),
        }
    }

    #[inline]
    fn get(&self) -> Option<Entered> {
        Some(Entered {
            layer: self.layer.get(),
            id: self.id.get(),
            span_id: self.span_id.get()?,
        })
    }

    #[inline]
    fn set(&self, e: Option<Entered>) {
        match e {
            Some(e) => {
                self.layer.set(e.layer);
                self.id.set(e.id);
                self.span_id.set(Some(e.span_id));
            }
            None => self.span_id.set(None),
        }
    }
}

thread_local! {
    static ENTERED: EnteredStack = const {
        EnteredStack {
            len: Cell::new(0),
            inline: [const { EnteredCell::empty() }; ENTERED_INLINE],
        }
    };
    /// The entries of [`ENTERED`] beyond its first [`ENTERED_INLINE`].
    static ENTERED_DEEPER: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

impl EnteredStack {
    /// Entry `i` (`i < len`).
    #[inline]
    fn get(&self, i: usize) -> Option<Entered> {
        match self.inline.get(i) {
            Some(cell) => cell.get(),
            None => ENTERED_DEEPER
                .try_with(|deeper| deeper.borrow().get(i - ENTERED_INLINE).copied())
                .ok()
                .flatten(),
        }
    }

    /// Pushes `e` on top. A thread being torn down may fail to keep a deep
    /// entry: its exit then finds no entry and leaves nothing.
    #[inline]
    fn push(&self, e: Entered) {
        let n = self.len.get();
        match self.inline.get(n) {
            Some(cell) => cell.set(Some(e)),
            None => {
                if !Self::push_deep(n, e) {
                    return;
                }
            }
        }
        self.len.set(n + 1);
    }

    /// Keeps entry `n` (beyond the inline ones) aside; whether it could.
    /// Out of line, so that the common push stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn push_deep(n: usize, e: Entered) -> bool {
        ENTERED_DEEPER
            .try_with(|deeper| {
                let mut deeper = deeper.borrow_mut();
                deeper.truncate(n - ENTERED_INLINE);
                deeper.push(e);
            })
            .is_ok()
    }

    /// Removes the innermost entry that `matches` and returns it: the top,
    /// unless guards were dropped out of order.
    #[inline]
    fn remove(&self, matches: impl Fn(&Entered) -> bool) -> Option<Entered> {
        let n = self.len.get();
        if n != 0
            && n <= ENTERED_INLINE
            && let Some(top) = self.inline[n - 1].get()
            && matches(&top)
        {
            self.len.set(n - 1);
            return Some(top);
        }
        self.remove_below(n, matches)
    }

    #[cold]
    #[inline(never)]
    fn remove_below(&self, n: usize, matches: impl Fn(&Entered) -> bool) -> Option<Entered> {
        let at = (0..n)
            .rev()
            .find(|&i| self.get(i).is_some_and(|e| matches(&e)))?;
        let found = self.get(at);
        for i in at..n - 1 {
            let next = self.get(i + 1);
            match self.inline.get(i) {
                Some(cell) => cell.set(next),
                None => {
                    let _ = ENTERED_DEEPER.try_with(|deeper| {
                        if let (Some(slot), Some(next)) =
                            (deeper.borrow_mut().get_mut(i - ENTERED_INLINE), next)
                        {
                            *slot = next;
                        }
                    });
                }
            }
        }
        if n > ENTERED_INLINE {
            let _ = ENTERED_DEEPER
                .try_with(|deeper| deeper.borrow_mut().truncate(n - 1 - ENTERED_INLINE));
        }
        self.len.set(n - 1);
        found
    }

    /// The innermost entry that `matches`.
    #[inline]
    fn find(&self, matches: impl Fn(&Entered) -> bool) -> Option<Entered> {
        let n = self.len.get();
        if n > ENTERED_INLINE {
            return self.find_deep(n, matches);
        }
        self.inline[..n]
            .iter()
            .rev()
            .filter_map(EnteredCell::get)
            .find(|e| matches(e))
    }

    #[cold]
    #[inline(never)]
    fn find_deep(&self, n: usize, matches: impl Fn(&Entered) -> bool) -> Option<Entered> {
        (0..n)
            .rev()
            .filter_map(|i| self.get(i))
            .find(|e| matches(e))
    }
}

/// How many slots the span table has: a power of two.
const SLOTS: usize = 512;

/// How far apart the slots of two registry threads' spans start (see
/// [`slot_of`]): room for this many spans open at once on each thread
/// before they reach the next thread's slots.
const THREAD_STRIDE: u64 = 32;

/// The slot of span `id`.
///
/// `tracing-subscriber`'s registry hands out a `sharded_slab` index plus
/// one: the slot's address within the creating thread's shard in the low
/// 37 bits, the thread's shard number in the 12 bits above (then the
/// generation). The spans open at once on one thread have the smallest
/// addresses, so the address plus a stride per thread spreads them over
/// consecutive slots with no collision until a thread has more than
/// [`THREAD_STRIDE`] open. Any other subscriber's ids are just as correct,
/// only more likely to meet in a slot (and go to the overflow map).
#[inline]
fn slot_of(id: u64) -> usize {
    let x = id.wrapping_sub(1);
    let thread = (x >> 37) & 0xfff;
    (x.wrapping_add(thread.wrapping_mul(THREAD_STRIDE)) as usize) & (SLOTS - 1)
}

/// How many shards the overflow map has: a power of two comfortably above
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

/// A slot of the span table: the agent span of the `tracing` span `id`,
/// or none (`id` 0: `tracing` span ids are never 0). An empty slot keeps
/// what its last span left (notably its attribute list's buffer, for the
/// next span in the slot).
#[derive(Default)]
struct Slot {
    id: u64,
    agent: AgentSpan,
}

/// The agent span of each `tracing` span, by span id.
///
/// # Why not the span's extensions, nor a hash map
///
/// The registry's extensions are the usual home of a layer's per-span
/// state, but each use costs a look-up of the span in the registry's slab
/// (two atomic read-modify-writes on the slot's reference count) and a
/// write lock of the span's extensions (two more), and the insert boxes
/// the value (an allocation per span) into a hash map that the registry
/// clears at close (about 650 instructions per `#[instrument]` call in
/// the layer bench). A sharded hash map keyed by span id was the next
/// design; its insert, look-ups and removal, the moves of the entry in and
/// out of it and the spare attribute list kept per thread cost about 380
/// more than this table.
///
/// So the table is direct-mapped: [`slot_of`] turns an id into one of
/// [`SLOTS`] slots, each with a lock of its own, and a span is written
/// into its slot in place by `on_new_span` (its fields are read into the
/// slot's attribute list, which keeps its buffer from span to span: no
/// allocation once warm) and stays there until `on_close` takes
/// the started span out. A span whose slot is taken by another live span
/// goes to the overflow map, a sharded hash map, and `overflowed` counts
/// those, so that a look-up that misses its slot only searches the map
/// when something is in it. A span's place never changes while it lives,
/// and ids are unique among the live spans of one subscriber, so an id is
/// found in its slot or else in the map. A span leaves at close, before
/// the registry can reuse its id; a clone of the layer (for another
/// subscriber) gets a table of its own. The slots take 224 bytes each,
/// 112 KiB a layer, plus the attribute buffers they keep (at most
/// [`KEPT_CAPACITY`] attributes each).
///
/// A slot's lock (or a shard's) is held only for the layer's own
/// bookkeeping, never while code of others runs: a new span claims its
/// slot and takes the slot's list in one short hold, its fields are read
/// into that list (user `Debug` code) with no lock held, and a second hold
/// puts the list and the rest in ([`SpanTable::claim`], [`Claim::fill`];
/// a thread-local buffer swapped with the slot's list cost about 45
/// instructions more per `#[instrument]` call). A pending span
/// starts (its sampler and the processors' `on_start`) between two short
/// holds: the first takes what it starts with out of the slot and marks
/// the slot as starting by this thread, the second puts the started span
/// in. Another thread that needs the span meanwhile waits for it, holding
/// no lock; this thread, re-entering the layer from that sampler or
/// processor, gets no agent data for it (it has no context yet). So code
/// of others may use `tracing` freely, and a lock is never waited for
/// longer than some bookkeeping. A span opened while more than
/// [`MAX_STARTING`] spans start on its thread is not kept (a processor
/// that opens a span as each span starts would otherwise recurse without
/// end). No lock is held while a span ends.
///
/// When every processor of the tracer is one of agent-trace's own and its
/// sampler is a built-in one (as with `init()`), starting a span runs no
/// code of others, and it starts in place in one hold
/// ([`AgentSpan::start_in_place`]; the two holds and the moves of the
/// pending parts cost about 590 instructions an `#[instrument]` call).
struct SpanTable {
    slots: Box<[SpinLock<Slot>]>,
    overflow: Box<[PaddedShard]>,
    overflowed: AtomicUsize,
}

impl Default for SpanTable {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| SpinLock::default()).collect(),
            overflow: (0..SPAN_SHARDS).map(|_| PaddedShard::default()).collect(),
            overflowed: AtomicUsize::new(0),
        }
    }
}

thread_local! {
    /// How many pending spans this thread is starting (running samplers
    /// and processors' `on_start`): a bound on recursion (see
    /// [`MAX_STARTING`]). A plain cell: no destructor, so a use is one
    /// thread-relative load.
    static STARTING: Cell<u32> = const { Cell::new(0) };
}

/// What identifies this thread to a slot being started (the address of a
/// thread-local: unique among live threads, no atomic needed).
#[inline]
fn this_thread() -> usize {
    STARTING.with(|c| std::ptr::from_ref(c) as usize)
}

/// How many agent spans may be starting on one thread at once for a new
/// `tracing` span to be kept: a span that a processor (or sampler) opens
/// while an application span starts is kept, but not one that it opens
/// while its own span starts. Without a bound, a processor that opens a
/// span in `on_start` would recurse until the stack overflows.
const MAX_STARTING: u32 = 1;

/// Counts one more span starting on this thread ([`STARTING`]) until
/// dropped.
struct Starting;

impl Starting {
    #[inline]
    fn enter() -> Self {
        STARTING.with(|c| c.set(c.get() + 1));
        Self
    }
}

impl Drop for Starting {
    #[inline]
    fn drop(&mut self) {
        STARTING.with(|c| c.set(c.get() - 1));
    }
}

/// Locks an overflow shard. A panic while one was held (none can happen
/// in the bookkeeping done under it) leaves the spans consistent, so
/// poisoning is ignored.
#[inline]
fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks a slot of the span table.
///
/// A slot's lock is `agent_trace_metrics`' spin lock, which unlocks with a
/// plain store: `std::sync::Mutex` spends two locked instructions per lock
/// (a compare-exchange, then a swap to learn whether a thread sleeps on
/// it) where this spends one. A slot is contended only when two threads
/// use one span at the same moment or two threads' spans meet in a slot,
/// and it is held only for the layer's bookkeeping (see [`SpanTable`]): a
/// waiter spins briefly, then yields its time slice to the holder.
#[inline]
fn lock_slot(slot: &SpinLock<Slot>) -> SpinGuard<'_, Slot> {
    slot.lock()
}

/// One look at a span that is to be used started (see
/// [`SpanTable::with_started`]).
enum Step<R> {
    /// It was started: what the caller's function returned.
    Done(R),
    /// Another thread is starting it.
    Wait,
    /// This thread is starting it (re-entered from its sampler or a
    /// processor): it has no context yet.
    Starting,
    /// This thread is to start it, with what was taken out of its slot.
    Start(Pending),
}

impl SpanTable {
    /// The overflow shard of `id`, locked (see [`lock`]).
    #[inline]
    fn shard(&self, id: u64) -> MutexGuard<'_, Shard> {
        let i = (mix(id) >> (64 - SPAN_SHARDS.ilog2())) as usize;
        lock(&self.overflow[i].0)
    }

    /// The first of the two holds that keep a new span `id`: claims its
    /// slot if it is free and takes the slot's empty attribute list (and
    /// the buffer it kept) for the span's fields, which are read with no
    /// lock held; [`Claim::fill`] then puts everything in. Until then no
    /// other code can ask for `id`: the subscriber hands it out only once
    /// `on_new_span` returns.
    #[inline]
    fn claim(&self, id: u64) -> (Claim<'_>, FieldList) {
        let mut slot = lock_slot(&self.slots[slot_of(id)]);
        if slot.id == 0 {
            slot.id = id;
            let mut list = std::mem::take(&mut slot.agent.attributes);
            drop(slot);
            // Drained as its last span started.
            clear(&mut list);
            return (
                Claim {
                    table: self,
                    id,
                    in_slot: true,
                },
                list,
            );
        }
        drop(slot);
        let claim = Claim {
            table: self,
            id,
            in_slot: false,
        };
        (claim, FieldList::new())
    }

    /// Keeps a new span `id` whose slot was taken (see [`Claim::fill`]) in
    /// the overflow map.
    #[cold]
    #[inline(never)]
    fn fill_overflow(&self, id: u64, attributes: FieldList, fill: impl FnOnce(&mut AgentSpan)) {
        let mut agent = AgentSpan {
            attributes,
            ..AgentSpan::default()
        };
        fill(&mut agent);
        let mut shard = self.shard(id);
        self.overflowed.fetch_add(1, Ordering::Release);
        shard.insert(id, agent);
    }

    /// Runs `f` on the agent span of `id` with its lock held, if the layer
    /// keeps one (`f` runs no code of others).
    #[inline]
    fn with<R>(&self, id: u64, f: impl FnOnce(&mut AgentSpan) -> R) -> Option<R> {
        {
            let mut slot = lock_slot(&self.slots[slot_of(id)]);
            if slot.id == id {
                return Some(f(&mut slot.agent));
            }
        }
        if self.overflowed.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.with_overflow(id, f)
    }

    #[cold]
    #[inline(never)]
    fn with_overflow<R>(&self, id: u64, f: impl FnOnce(&mut AgentSpan) -> R) -> Option<R> {
        self.shard(id).get_mut(&id).map(f)
    }

    /// Runs `f` (with the span's lock held: no code of others) on the
    /// agent span of `id` once it is started, starting it first if it was
    /// pending, with no lock held while it starts (see [`SpanTable`]).
    /// `None` if the layer keeps no span of `id`, or this thread is
    /// starting it already (re-entered from its sampler or a processor).
    #[inline]
    fn with_started<R>(
        &self,
        id: u64,
        tracer: &AgentStepTracer,
        f: impl FnOnce(&mut AgentSpan) -> R,
    ) -> Option<R> {
        if !tracer.start_runs_user_code() {
            // Only agent-trace's own code runs as the span starts (built-in
            // sampler, our processors): started in place, in one hold.
            return self.with(id, |agent| {
                if agent.span.is_none() {
                    agent.start_in_place(tracer);
                }
                f(agent)
            });
        }
        self.with_started_between_holds(id, tracer, f)
    }

    /// [`with_started`](Self::with_started) for a tracer whose start may
    /// run code of others: a pending span starts between two holds.
    #[inline(never)]
    fn with_started_between_holds<R>(
        &self,
        id: u64,
        tracer: &AgentStepTracer,
        f: impl FnOnce(&mut AgentSpan) -> R,
    ) -> Option<R> {
        let mut f = Some(f);
        loop {
            let step = self.with(id, |agent| {
                if agent.span.is_some() {
                    return Step::Done(f.take().map(|f| f(agent)));
                }
                match agent.starter {
                    0 => {
                        agent.starter = this_thread();
                        Step::Start(agent.take_pending())
                    }
                    by if by == this_thread() => Step::Starting,
                    _ => Step::Wait,
                }
            })?;
            match step {
                Step::Done(r) => return r,
                Step::Starting => return None,
                // Another thread runs the sampler or processors: no lock
                // is held meanwhile, so this waits on their code only.
                Step::Wait => std::thread::yield_now(),
                Step::Start(pending) => return self.put_started(id, pending.start(tracer), f),
            }
        }
    }

    /// Puts a span that this thread started into its slot and runs `f` on
    /// it there (see [`with_started`](Self::with_started)); fields recorded
    /// while it started are applied to it. A span whose slot is gone ends.
    #[cold]
    #[inline(never)]
    fn put_started<R>(
        &self,
        id: u64,
        started: (Span, FieldList),
        f: Option<impl FnOnce(&mut AgentSpan) -> R>,
    ) -> Option<R> {
        let (span, attributes) = started;
        let mut parts = Some((span, attributes));
        let out = self.with(id, |agent| {
            let (span, attributes) = parts.take()?;
            agent.starter = 0;
            // Recorded (by `on_record`) while it started, into the emptied
            // pending fields.
            let recorded = std::mem::replace(&mut agent.attributes, attributes);
            let renamed = std::mem::replace(&mut agent.name, StringValue::from_static(""));
            let status = agent.status.as_ref().and_then(|r| r.status());
            let span = agent.span.insert(span);
            if !recorded.is_empty() {
                span.set_attributes(recorded);
            }
            if !renamed.as_str().is_empty() {
                span.update_name(renamed);
            }
            if let Some(status) = status {
                span.set_status(status);
            }
            f.map(|f| f(agent))
        });
        // Still here when the slot is gone: dropped, the span ends.
        drop(parts);
        out.flatten()
    }

    /// Takes the agent span of `id` out of the table, started (with its
    /// slot's lock held, as on enter) if it was pending, and hands it with
    /// its callsite to `close` once the lock is released; `None` if the
    /// layer keeps no span of `id`.
    #[inline(always)]
    fn remove_then(
        &self,
        id: u64,
        tracer: &AgentStepTracer,
        close: impl FnOnce(Span, &'static Metadata<'static>),
    ) -> Option<()> {
        let mut slot = lock_slot(&self.slots[slot_of(id)]);
        if slot.id == id {
            if slot.agent.span.is_none() {
                // Never entered: started first, with no lock held.
                drop(slot);
                return self.remove_pending_then(id, tracer, close);
            }
            slot.id = 0;
            // Only the span moves out; the rest stays for the slot's next
            // span. The lock is released before the span ends.
            let agent = &mut slot.agent;
            let callsite = agent.callsite;
            let span = agent.span.take()?;
            drop(slot);
            // Every kept span has its callsite; without one it would only
            // end, recording no latency.
            match callsite {
                Some(callsite) => close(span, callsite),
                None => span.end(),
            }
            return Some(());
        }
        drop(slot);
        if self.overflowed.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.remove_pending_then(id, tracer, close)
    }

    /// [`remove_then`](Self::remove_then) for a span that may still be
    /// pending or in the overflow map: started first (see
    /// [`with_started`](Self::with_started)), then taken out.
    #[cold]
    #[inline(never)]
    fn remove_pending_then(
        &self,
        id: u64,
        tracer: &AgentStepTracer,
        close: impl FnOnce(Span, &'static Metadata<'static>),
    ) -> Option<()> {
        self.with_started(id, tracer, |_| ())?;
        let taken = {
            let mut slot = lock_slot(&self.slots[slot_of(id)]);
            if slot.id == id {
                slot.id = 0;
                let callsite = slot.agent.callsite;
                slot.agent.span.take().map(|s| (s, callsite))
            } else {
                drop(slot);
                let agent = self.shard(id).remove(&id);
                if agent.is_some() {
                    self.overflowed.fetch_sub(1, Ordering::Release);
                }
                agent.and_then(|mut a| a.span.take().map(|s| (s, a.callsite)))
            }
        };
        let (span, callsite) = taken?;
        // Every kept span has its callsite; without one it would only end,
        // recording no latency.
        match callsite {
            Some(callsite) => close(span, callsite),
            None => span.end(),
        }
        Some(())
    }
}

/// A new span's place in the [`SpanTable`], claimed by
/// [`SpanTable::claim`] while its fields are read.
struct Claim<'t> {
    table: &'t SpanTable,
    id: u64,
    /// Whether the span has its slot (else it goes to the overflow map).
    in_slot: bool,
}

impl Claim<'_> {
    /// The second hold: `fill` writes the span into its slot (with the
    /// lock held: `fill` runs no code of others), or into a new entry of
    /// the overflow map. The span's fields go into the slot's list as
    /// `attributes`.
    #[inline]
    fn fill(self, attributes: FieldList, fill: impl FnOnce(&mut AgentSpan)) {
        // Filled: nothing to release (`Drop` is for an unwind only).
        let this = std::mem::ManuallyDrop::new(self);
        if !this.in_slot {
            return this.table.fill_overflow(this.id, attributes, fill);
        }
        let mut slot = lock_slot(&this.table.slots[slot_of(this.id)]);
        debug_assert_eq!(slot.id, this.id, "a claimed slot stays claimed");
        let agent = &mut slot.agent;
        // The empty list `claim` left, with no buffer: nothing to free.
        std::mem::forget(std::mem::replace(&mut agent.attributes, attributes));
        fill(agent);
    }
}

/// A claim dropped unfilled (the fields' `Debug` code panicked): the slot
/// is free again.
impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.in_slot {
            let mut slot = lock_slot(&self.table.slots[slot_of(self.id)]);
            if slot.id == self.id {
                slot.id = 0;
            }
        }
    }
}

/// Attributes read from fields.
type FieldList = Vec<KeyValue>;

/// Empties `list`, keeping its buffer: the lists the layer clears are
/// almost always empty already, and `Vec::clear` calls the elements'
/// out-of-line drop even for none.
#[inline(always)]
fn clear(list: &mut FieldList) {
    if !list.is_empty() {
        list.clear();
    }
}

/// The most attributes a slot's list may keep room for once its span has
/// started: a larger one is freed rather than kept for the slot's next
/// span.
const KEPT_CAPACITY: usize = 16;

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

/// What the layer keeps of a `tracing` span, in its [`SpanTable`]: what its
/// agent span will start with, then (once started) the agent span.
///
/// Flat rather than an enum of the two states: starting fills `span` and
/// leaves the pending fields where they are (the name taken, the
/// attributes drained), so nothing is moved or dropped as the span
/// starts, and the next span of the slot overwrites them.
struct AgentSpan {
    /// The agent span, once started. (A flag beside a `MaybeUninit<Span>`
    /// saved two failed store-to-load forwardings per close over this
    /// `Option`, whose tag sits in a niche in the middle of the span, at the
    /// price of unsafe code no machine checked.)
    span: Option<Span>,
    /// The name to start with (`otel.name`, else the callsite's).
    name: StringValue,
    kind: SpanKind,
    /// The attributes to start with: empty once started.
    attributes: FieldList,
    /// The parent to start with; `None` for a root.
    parent: Option<SpanContext>,
    start: Option<StartMark>,
    /// The span's callsite: its name is the latency series' unless the span
    /// was renamed, and its address keys the series handle.
    callsite: Option<&'static Metadata<'static>>,
    /// `otel.status_code` and `otel.status_message` as recorded so far
    /// (they may arrive in separate `record` calls), boxed because they are
    /// rare. A pending span keeps no status of its own: it gets this one
    /// as it starts.
    status: Option<Box<Recorded>>,
    /// The thread starting the span ([`this_thread`]) while it starts with
    /// no lock held (see [`SpanTable::with_started`]); 0 otherwise.
    starter: usize,
}

impl Default for AgentSpan {
    fn default() -> Self {
        Self {
            span: None,
            name: StringValue::from_static(""),
            kind: SpanKind::default(),
            attributes: FieldList::new(),
            parent: None,
            start: None,
            callsite: None,
            status: None,
            starter: 0,
        }
    }
}

/// `otel.status_code` (`Some(true)` for ok) and `otel.status_message` as
/// recorded so far.
#[derive(Default)]
struct Recorded {
    code: Option<bool>,
    message: Option<String>,
}

impl Recorded {
    /// The status they set, if any: none until a code is recorded.
    fn status(&self) -> Option<Status> {
        status_of(self.code, self.message.as_deref())
    }
}

/// What a pending span starts with, taken out of its slot so that it
/// starts with no lock held (see [`SpanTable::with_started`]).
struct Pending {
    name: StringValue,
    kind: SpanKind,
    attributes: FieldList,
    parent: Option<SpanContext>,
    start: Option<StartMark>,
    status: Option<Status>,
}

impl Pending {
    /// Starts the span: the sampler and the processors' `on_start` run
    /// here, so no lock may be held. Returns it with the drained attribute
    /// list, whose buffer the slot keeps for its next span.
    #[inline(never)]
    fn start(mut self, tracer: &AgentStepTracer) -> (Span, FieldList) {
        let _starting = Starting::enter();
        let parent = match &self.parent {
            Some(cx) => Parent::Span(cx),
            None => Parent::Root,
        };
        let mut span = Span::start_draining(
            tracer,
            self.name,
            parent,
            self.kind,
            self.start.unwrap_or_else(StartMark::now),
            &mut self.attributes,
        );
        if let Some(status) = self.status {
            span.set_status(status);
        }
        if self.attributes.capacity() > KEPT_CAPACITY {
            self.attributes = FieldList::new();
        }
        (span, self.attributes)
    }
}

impl AgentSpan {
    /// What the pending span starts with, taken out (the name and the
    /// attributes leave empty places behind, which keep their buffers).
    fn take_pending(&mut self) -> Pending {
        Pending {
            name: std::mem::replace(&mut self.name, StringValue::from_static("")),
            kind: self.kind,
            attributes: std::mem::take(&mut self.attributes),
            parent: self.parent.take(),
            start: self.start,
            status: self.status.as_ref().and_then(|r| r.status()),
        }
    }

    /// Starts the pending span where it is, for a tracer whose start runs
    /// no code of others (see [`SpanTable::with_started`]): the name is
    /// taken out in place, the parent read where it is, the attributes
    /// drained, so nothing is moved but the started span into its place.
    #[inline(never)]
    fn start_in_place(&mut self, tracer: &AgentStepTracer) {
        let _starting = Starting::enter();
        let name = std::mem::replace(&mut self.name, StringValue::from_static(""));
        let parent = match &self.parent {
            Some(cx) => Parent::Span(cx),
            None => Parent::Root,
        };
        let span = self.span.insert(Span::start_draining(
            tracer,
            name,
            parent,
            self.kind,
            self.start.unwrap_or_else(StartMark::now),
            &mut self.attributes,
        ));
        if let Some(status) = self.status.as_ref().and_then(|r| r.status()) {
            span.set_status(status);
        }
        if self.attributes.capacity() > KEPT_CAPACITY {
            self.attributes = FieldList::new();
        }
    }

    /// The started span (every caller of this has it started).
    #[inline]
    fn started(&mut self) -> &mut Span {
        match self.span.as_mut() {
            Some(span) => span,
            None => unreachable!("used through `with_started`"),
        }
    }

    /// The agent span, started if it was pending, taken out: for an agent
    /// span this thread owns (no lock is held).
    fn start_owned(&mut self, tracer: &AgentStepTracer) -> Span {
        match self.span.take() {
            Some(span) => span,
            None => self.take_pending().start(tracer).0,
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

    /// The `otel.status_*` fields read, if any, taken out.
    #[inline]
    fn recorded(&mut self) -> Option<Box<Recorded>> {
        if self.status_code.is_none() && self.status_message.is_none() {
            return None;
        }
        Some(Box::new(Recorded {
            code: self.status_code,
            message: self.status_message.take(),
        }))
    }

    /// Appends `value()` for `field`, made once there is room for it.
    ///
    /// (Written in place through a raw pointer into the list's new entry,
    /// it saved a stack temporary read back with wider loads than it was
    /// written with, several ns a field in the layer bench, at the price
    /// of unsafe code no machine checked; this is the safe form.)
    #[inline(always)]
    fn push(&mut self, field: &Field, value: impl FnOnce() -> Value) {
        self.attributes.push(KeyValue {
            key: StringValue::from_static(field.name()),
            value: value(),
        });
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
        // Inline when short: at most one allocation, for a long text.
        self.push(field, || Value::String(StringValue::copy_from(s)));
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, || Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, || Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.push(field, || Value::I64(v)),
            Err(_) => self.push(field, || Value::F64(value as f64)),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, || Value::Bool(value));
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
        self.spans
            .with_started(id, &self.tracer, |a| a.started().context())
    }
}

impl<S> Layer<S> for AgentTraceLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        // Spans of the export path (tonic's, hyper's, on our workers) are
        // never recorded: exporting them would make more.
        if STARTING.with(Cell::get) > MAX_STARTING || is_tracing_suppressed() {
            return;
        }
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
        let callsite = attrs.metadata();
        // The fields (user `Debug` code) are read with no lock held, into
        // the list the slot kept for its next span (see `SpanTable`).
        let (claim, mut attributes) = self.spans.claim(id.into_u64());
        let mut fields = Fields::new(&mut attributes, false);
        attrs.record(&mut fields);
        let name = fields.name.take();
        let kind = fields.kind.unwrap_or_default();
        let status = fields.recorded();
        let name = match name {
            Some(n) => StringValue::from(n),
            None => StringValue::from(callsite.name()),
        };
        claim.fill(attributes, |agent| {
            debug_assert!(agent.span.is_none(), "a slot is filled once emptied");
            agent.name = name;
            agent.kind = kind;
            agent.status = status;
            agent.parent = parent;
            agent.start = Some(start);
            agent.callsite = Some(callsite);
            agent.starter = 0;
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        // The values are read before the span's slot is locked.
        let mut attributes = FieldList::new();
        let mut fields = Fields::new(&mut attributes, false);
        values.record(&mut fields);
        let rename = fields.name.take();
        let recorded = fields.recorded();
        self.spans.with(id.into_u64(), |agent| {
            let status_recorded = recorded.is_some();
            if let Some(new) = recorded {
                let old = agent.status.get_or_insert_default();
                old.code = new.code.or(old.code);
                old.message = new.message.or(old.message.take());
            }
            match agent.span.as_mut() {
                None => {
                    if let Some(n) = rename {
                        agent.name = n.into();
                    }
                    // The status is set as the span starts.
                    agent.attributes.extend(attributes);
                }
                Some(s) => {
                    if let Some(n) = rename {
                        s.update_name(n);
                    }
                    if status_recorded
                        && let Some(st) = agent.status.as_ref().and_then(|r| r.status())
                    {
                        s.set_status(st);
                    }
                    s.set_attributes(attributes);
                }
            }
        });
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // The event's span, as `Context::event_span` finds it, without a
        // look-up in the registry.
        let id = if event.is_root() || is_tracing_suppressed() {
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
        // span's slot is locked.
        let mut attributes = FieldList::new();
        let mut fields = Fields::new(&mut attributes, true);
        event.record(&mut fields);
        let message = fields.message.take();
        self.spans.with_started(id, &self.tracer, |agent| {
            add_event(agent.started(), event, message, attributes);
        });
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let id = id.into_u64();
        // Made current with the slot still locked (two thread-local pushes,
        // no code of others): the context is not moved out of the closure.
        self.spans.with_started(id, &self.tracer, |agent| {
            let span = agent.started();
            let entered = Entered {
                layer: self.key(),
                id,
                span_id: span.span_id(),
            };
            enter_span(span);
            ENTERED.with(|stack| stack.push(entered));
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let (layer, id) = (self.key(), id.into_u64());
        let entered = ENTERED.with(|stack| stack.remove(|e| e.id == id && e.layer == layer));
        if let Some(e) = entered {
            exit_context(e.span_id);
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        // Out of the table first: the span ends with no lock held.
        self.spans
            .remove_then(id.into_u64(), &self.tracer, |s, callsite| {
                self.close(s, callsite);
            });
    }
}

impl AgentTraceLayer {
    /// Ends a span taken out of the table (no lock held) and records its
    /// duration.
    #[inline(always)]
    fn close(&self, s: Span, callsite: &'static Metadata<'static>) {
        // A span that does not record has no name and records no latency.
        // One that kept its callsite's name (the same static string) records
        // through the callsite's series handle; a renamed one by name.
        let renamed = match s.name() {
            None => {
                s.end();
                return;
            }
            Some(name) => !std::ptr::eq(name.as_str(), callsite.name()),
        };
        let cx = s.span_context();
        let trace_id = if cx.is_sampled() {
            cx.trace_id.to_u128()
        } else {
            0
        };
        if renamed {
            return self.close_renamed(s, trace_id);
        }
        // Ending reports the duration it recorded.
        let took = s.end_measured();
        self.record_latency(callsite, took, trace_id);
    }
}

/// Adds `event` to `s`: as a span event named by its message, and for an
/// `ERROR` event also as the span's error status and an `exception` event.
fn add_event(s: &mut Span, event: &Event<'_>, message: Option<String>, mut attributes: FieldList) {
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
    f: impl FnOnce(u64, &AgentTraceLayer) -> Option<R>,
) -> Option<R> {
    let mut f = Some(f);
    let mut out = None;
    span.with_subscriber(|(id, dispatch)| {
        let Some(layer) = dispatch.downcast_ref::<AgentTraceLayer>() else {
            return;
        };
        if let Some(f) = f.take() {
            out = f(id.into_u64(), layer);
        }
    });
    out
}

impl SpanExt for tracing::Span {
    fn agent_context(&self) -> Option<SpanContext> {
        with_agent_span(self, |id, layer| {
            layer
                .spans
                .with_started(id, &layer.tracer, |agent| agent.started().context())
        })
    }

    fn set_parent(&self, remote: &SpanContext) -> bool {
        with_agent_span(self, |id, layer| {
            layer.spans.with(id, |agent| {
                // Started, or starting on some thread: too late.
                if agent.span.is_some() || agent.starter != 0 {
                    return false;
                }
                let mut cx = remote.clone();
                cx.is_remote = true;
                agent.parent = Some(cx);
                true
            })
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
    fn spans_beyond_the_slots_and_in_taken_slots_keep_their_fields_and_parents() {
        let s = setup();
        let layer = s
            .dispatch
            .downcast_ref::<AgentTraceLayer>()
            .expect("the layer is in the subscriber");
        let n = SLOTS + 100;
        tracing::dispatcher::with_default(&s.dispatch, || {
            let parent = tracing::info_span!("parent");
            let _entered = parent.enter();
            let spans: Vec<tracing::Span> = (0..n)
                .map(|i| tracing::info_span!("many", i = i as i64, late = tracing::field::Empty))
                .collect();
            assert!(
                layer.spans.overflowed.load(Ordering::Relaxed) > 0,
                "the case under test: some spans found their slot taken"
            );
            for (i, span) in spans.iter().enumerate() {
                span.record("late", i as i64 * 2);
                span.in_scope(|| tracing::info!("inside"));
            }
            // Closed in an order unlike the one they were opened in.
            let (odd, even): (Vec<_>, Vec<_>) =
                spans.into_iter().enumerate().partition(|(i, _)| i % 2 == 1);
            drop(even);
            drop(odd.into_iter().rev().collect::<Vec<_>>());
        });
        assert_eq!(layer.spans.overflowed.load(Ordering::Relaxed), 0);
        let parent = s.span("parent");
        let many: Vec<FinishedSpan> = s.spans().into_iter().filter(|x| x.name == "many").collect();
        assert_eq!(many.len(), n);
        let mut seen = vec![false; n];
        for span in &many {
            let Some(&Value::I64(i)) = span.attribute("i") else {
                panic!("no `i` on {span:?}")
            };
            assert_eq!(span.attribute("late"), Some(&Value::I64(i * 2)));
            assert_eq!(span.parent_span_id, Some(parent.context.span_id));
            assert_eq!(span.events.len(), 1);
            seen[i as usize] = true;
        }
        assert!(seen.iter().all(|&x| x), "every span once");
        assert_eq!(s.count("many"), n as u64);
    }

    #[test]
    fn spans_entered_deeper_than_the_inline_stack_exit_in_any_order() {
        let s = setup();
        let depth = ENTERED_INLINE + 8;
        tracing::dispatcher::with_default(&s.dispatch, || {
            // Each opened inside the one before.
            let mut guards: Vec<Option<tracing::span::EnteredSpan>> = (0..depth)
                .map(|i| Some(tracing::info_span!("level", i = i as i64).entered()))
                .collect();
            tracing::info_span!("deepest").in_scope(|| {});
            // Out of order: one guard below the inline stack's end, one
            // above it; the innermost span stays current.
            guards[ENTERED_INLINE - 2] = None;
            guards[ENTERED_INLINE + 2] = None;
            tracing::info_span!("still_deepest").in_scope(|| {});
            tracing::info!("event_deepest");
            while let Some(guard) = guards.pop() {
                drop(guard);
            }
            tracing::info_span!("root").in_scope(|| {});
        });
        let levels: Vec<FinishedSpan> = s
            .spans()
            .into_iter()
            .filter(|x| x.name == "level")
            .collect();
        let level = |i: i64| {
            levels
                .iter()
                .find(|x| x.attribute("i") == Some(&Value::I64(i)))
                .unwrap()
                .clone()
        };
        let innermost = level(depth as i64 - 1);
        assert_eq!(
            s.span("deepest").parent_span_id,
            Some(innermost.context.span_id)
        );
        assert_eq!(
            s.span("still_deepest").parent_span_id,
            Some(innermost.context.span_id)
        );
        assert_eq!(innermost.events.len(), 1);
        for i in 1..depth as i64 {
            assert_eq!(level(i).parent_span_id, Some(level(i - 1).context.span_id));
        }
        assert_eq!(s.span("root").parent_span_id, None);
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
