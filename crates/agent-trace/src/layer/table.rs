//! The layer's span table: the agent span of each `tracing` span, by id.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use foldhash::fast::FixedState;

use agent_trace_core::{
    AgentStepTracer, KeyValue, Parent, Span, SpanContext, SpanKind, StartMark, Status, StringValue,
};
use agent_trace_metrics::spin::{SpinGuard, SpinLock};
use tracing::Metadata;

/// How many slots the span table has: a power of two.
pub(super) const SLOTS: usize = 512;

/// How far apart the slots of two registry threads' spans start (see
/// [`slot_of`]): room for this many spans open at once on each thread
/// before they reach the next thread's slots.
pub(super) const THREAD_STRIDE: u64 = 32;

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
pub(super) fn slot_of(id: u64) -> usize {
    let x = id.wrapping_sub(1);
    let thread = (x >> 37) & 0xfff;
    (x.wrapping_add(thread.wrapping_mul(THREAD_STRIDE)) as usize) & (SLOTS - 1)
}

/// How many shards the overflow map has: a power of two comfortably above
/// the core counts this runs on, so that threads opening and closing spans
/// at the same moment rarely take the same lock.
pub(super) const SPAN_SHARDS: usize = 32;

/// A span id's bits mixed (Fibonacci hashing): `tracing`'s registry hands
/// out slab indices, which differ mostly in their low bits.
#[inline]
pub(super) fn mix(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// `tracing`'s span ids are this process's own, not chosen from outside:
/// `foldhash` needs no random seed.
pub(super) type Shard = HashMap<u64, KeptSpan, FixedState>;

/// One shard, on a cache line of its own so that two threads' shards do
/// not false-share.
#[derive(Default)]
#[repr(align(64))]
pub(super) struct PaddedShard(pub(super) Mutex<Shard>);

/// A slot of the span table: the agent span of the `tracing` span `id`,
/// or none (`id` 0: `tracing` span ids are never 0). An empty slot keeps
/// what its last span left (notably its attribute list's buffer, for the
/// next span in the slot).
#[derive(Default)]
pub(super) struct TableSlot {
    pub(super) id: u64,
    pub(super) agent: KeptSpan,
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
/// ([`KeptSpan::start_in_place`]; the two holds and the moves of the
/// pending parts cost about 590 instructions an `#[instrument]` call).
pub(super) struct SpanTable {
    pub(super) slots: Box<[SpinLock<TableSlot>]>,
    pub(super) overflow: Box<[PaddedShard]>,
    pub(super) overflowed: AtomicUsize,
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
    pub(super) static STARTING: Cell<u32> = const { Cell::new(0) };
}

/// What identifies this thread to a slot being started (the address of a
/// thread-local: unique among live threads, no atomic needed).
#[inline]
pub(super) fn this_thread() -> usize {
    STARTING.with(|c| std::ptr::from_ref(c) as usize)
}

/// How many agent spans may be starting on one thread at once for a new
/// `tracing` span to be kept: a span that a processor (or sampler) opens
/// while an application span starts is kept, but not one that it opens
/// while its own span starts. Without a bound, a processor that opens a
/// span in `on_start` would recurse until the stack overflows.
pub(super) const MAX_STARTING: u32 = 1;

/// Counts one more span starting on this thread ([`STARTING`]) until
/// dropped.
pub(super) struct Starting;

impl Starting {
    #[inline]
    pub(super) fn enter() -> Self {
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
pub(super) fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
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
pub(super) fn lock_slot(slot: &SpinLock<TableSlot>) -> SpinGuard<'_, TableSlot> {
    slot.lock()
}

/// One look at a span that is to be used started (see
/// [`SpanTable::with_started`]).
pub(super) enum Step<R> {
    /// It was started: what the caller's function returned.
    Done(R),
    /// Another thread is starting it.
    Wait,
    /// This thread is starting it (re-entered from its sampler or a
    /// processor): it has no context yet.
    Starting,
    /// This thread is to start it, with what was taken out of its slot.
    Start(PendingStart),
}

impl SpanTable {
    /// The overflow shard of `id`, locked (see [`lock`]).
    #[inline]
    pub(super) fn shard(&self, id: u64) -> MutexGuard<'_, Shard> {
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
    pub(super) fn claim(&self, id: u64) -> (Claim<'_>, FieldList) {
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
    pub(super) fn fill_overflow(
        &self,
        id: u64,
        attributes: FieldList,
        fill: impl FnOnce(&mut KeptSpan),
    ) {
        let mut agent = KeptSpan {
            attributes,
            ..KeptSpan::default()
        };
        fill(&mut agent);
        let mut shard = self.shard(id);
        self.overflowed.fetch_add(1, Ordering::Release);
        shard.insert(id, agent);
    }

    /// Runs `f` on the agent span of `id` with its lock held, if the layer
    /// keeps one (`f` runs no code of others).
    #[inline]
    pub(super) fn with<R>(&self, id: u64, f: impl FnOnce(&mut KeptSpan) -> R) -> Option<R> {
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
    pub(super) fn with_overflow<R>(
        &self,
        id: u64,
        f: impl FnOnce(&mut KeptSpan) -> R,
    ) -> Option<R> {
        self.shard(id).get_mut(&id).map(f)
    }

    /// Runs `f` (with the span's lock held: no code of others) on the
    /// agent span of `id` once it is started, starting it first if it was
    /// pending, with no lock held while it starts (see [`SpanTable`]).
    /// `None` if the layer keeps no span of `id`, or this thread is
    /// starting it already (re-entered from its sampler or a processor).
    #[inline]
    pub(super) fn with_started<R>(
        &self,
        id: u64,
        tracer: &AgentStepTracer,
        f: impl FnOnce(&mut KeptSpan) -> R,
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
    pub(super) fn with_started_between_holds<R>(
        &self,
        id: u64,
        tracer: &AgentStepTracer,
        f: impl FnOnce(&mut KeptSpan) -> R,
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
    pub(super) fn put_started<R>(
        &self,
        id: u64,
        started: (Span, FieldList),
        f: Option<impl FnOnce(&mut KeptSpan) -> R>,
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
    pub(super) fn remove_then(
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
    pub(super) fn remove_pending_then(
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
pub(super) struct Claim<'t> {
    pub(super) table: &'t SpanTable,
    pub(super) id: u64,
    /// Whether the span has its slot (else it goes to the overflow map).
    pub(super) in_slot: bool,
}

impl Claim<'_> {
    /// The second hold: `fill` writes the span into its slot (with the
    /// lock held: `fill` runs no code of others), or into a new entry of
    /// the overflow map. The span's fields go into the slot's list as
    /// `attributes`.
    #[inline]
    pub(super) fn fill(self, attributes: FieldList, fill: impl FnOnce(&mut KeptSpan)) {
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
pub(super) type FieldList = Vec<KeyValue>;

/// Empties `list`, keeping its buffer: the lists the layer clears are
/// almost always empty already, and `Vec::clear` calls the elements'
/// out-of-line drop even for none.
#[inline(always)]
pub(super) fn clear(list: &mut FieldList) {
    if !list.is_empty() {
        list.clear();
    }
}

/// The most attributes a slot's list may keep room for once its span has
/// started: a larger one is freed rather than kept for the slot's next
/// span.
pub(super) const KEPT_CAPACITY: usize = 16;

/// The status that `otel.status_code` and `otel.status_message` set, if
/// any: none until a code is recorded.
#[inline]
pub(super) fn status_of(code: Option<bool>, message: Option<&str>) -> Option<Status> {
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
pub(super) struct KeptSpan {
    /// The agent span, once started. (A flag beside a `MaybeUninit<Span>`
    /// saved two failed store-to-load forwardings per close over this
    /// `Option`, whose tag sits in a niche in the middle of the span, at the
    /// price of unsafe code no machine checked.)
    pub(super) span: Option<Span>,
    /// The name to start with (`otel.name`, else the callsite's).
    pub(super) name: StringValue,
    pub(super) kind: SpanKind,
    /// The attributes to start with: empty once started.
    pub(super) attributes: FieldList,
    /// The parent to start with; `None` for a root.
    pub(super) parent: Option<SpanContext>,
    pub(super) start: Option<StartMark>,
    /// The span's callsite: its name is the latency series' unless the span
    /// was renamed, and its address keys the series handle.
    pub(super) callsite: Option<&'static Metadata<'static>>,
    /// `otel.status_code` and `otel.status_message` as recorded so far
    /// (they may arrive in separate `record` calls), boxed because they are
    /// rare. A pending span keeps no status of its own: it gets this one
    /// as it starts.
    pub(super) status: Option<Box<Recorded>>,
    /// The thread starting the span ([`this_thread`]) while it starts with
    /// no lock held (see [`SpanTable::with_started`]); 0 otherwise.
    pub(super) starter: usize,
}

impl Default for KeptSpan {
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
pub(super) struct Recorded {
    pub(super) code: Option<bool>,
    pub(super) message: Option<String>,
}

impl Recorded {
    /// The status they set, if any: none until a code is recorded.
    pub(super) fn status(&self) -> Option<Status> {
        status_of(self.code, self.message.as_deref())
    }
}

/// What a pending span starts with, taken out of its slot so that it
/// starts with no lock held (see [`SpanTable::with_started`]).
pub(super) struct PendingStart {
    pub(super) name: StringValue,
    pub(super) kind: SpanKind,
    pub(super) attributes: FieldList,
    pub(super) parent: Option<SpanContext>,
    pub(super) start: Option<StartMark>,
    pub(super) status: Option<Status>,
}

impl PendingStart {
    /// Starts the span: the sampler and the processors' `on_start` run
    /// here, so no lock may be held. Returns it with the drained attribute
    /// list, whose buffer the slot keeps for its next span.
    #[inline(never)]
    pub(super) fn start(mut self, tracer: &AgentStepTracer) -> (Span, FieldList) {
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

impl KeptSpan {
    /// What the pending span starts with, taken out (the name and the
    /// attributes leave empty places behind, which keep their buffers).
    pub(super) fn take_pending(&mut self) -> PendingStart {
        PendingStart {
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
    pub(super) fn start_in_place(&mut self, tracer: &AgentStepTracer) {
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
    pub(super) fn started(&mut self) -> &mut Span {
        match self.span.as_mut() {
            Some(span) => span,
            None => unreachable!("used through `with_started`"),
        }
    }

    /// The agent span, started if it was pending, taken out: for an agent
    /// span this thread owns (no lock is held).
    pub(super) fn start_owned(&mut self, tracer: &AgentStepTracer) -> Span {
        match self.span.take() {
            Some(span) => span,
            None => self.take_pending().start(tracer).0,
        }
    }
}
