//! The current span of each thread.
//!
//! A thread keeps a stack of the contexts of the spans it has entered; a span
//! started without an explicit parent becomes a child of the top of that
//! stack. Only contexts are kept (no span data), so entering and leaving
//! allocate nothing once the stack has grown to its working depth.
//!
//! An entry may carry an owner's tag (an integration's key for the span it
//! entered, as the `tracing` layer's span id): integrations whose enter and
//! exit arrive as separate callbacks find and leave their entries by tag
//! ([`enter_span_tagged`], [`exit_tagged`], [`innermost_tagged`]), and
//! code that needs the spans entered on this thread walks this one stack
//! ([`find_entered`]); no integration keeps a stack of its own.
//!
//! A thread also remembers the last few root spans it started, so that a span
//! started with only a trace id (the reference's `trace_id=trace.trace_id`)
//! becomes a child of that trace's root even when the root was never entered.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// How many recent root spans each thread remembers for trace-id parents.
/// A power of two, so the ring index is a mask.
const ROOT_RING: usize = 16;

/// A root span remembered for trace-id parents. Roots have no parent, so
/// their trace state is always empty and these three fields are the whole
/// context: the entry is `Copy`, and remembering one is a few stores.
#[derive(Clone, Copy)]
struct Root {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
}

/// How many entered contexts each thread keeps inline, in destructor-free
/// thread-locals (deeper ones go to a `Vec`).
const INLINE: usize = 32;

/// An entered context, less its trace state: `Copy`, so the inline stack
/// is plain cells. The trace state, when not empty, is kept in `STATES`.
#[derive(Clone, Copy)]
struct Entry {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    is_remote: bool,
    /// Whether `STATES` holds this entry's (non-empty) trace state.
    has_state: bool,
    tag: Tag,
}

/// Who entered a context, and their key for it: `owner` 0 for a plain
/// entry ([`ContextGuard`], [`enter_context`]).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Tag {
    owner: usize,
    key: u64,
}

impl Tag {
    const NONE: Self = Self { owner: 0, key: 0 };
}

thread_local! {
    /// How many contexts are entered on this thread: `ENTRIES[..min(depth,
    /// INLINE)]`, then `DEEP`.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The innermost `INLINE` levels. Cells of `Copy` values with a const
    /// initialiser: no lazy registration, no borrow flag, no destructor.
    static ENTRIES: [Cell<Option<Entry>>; INLINE] = const { [const { Cell::new(None) }; INLINE] };
    /// The non-empty trace states of inline entries, with their depth, in
    /// depth order (read only for entries that have one: a remote parent's
    /// `tracestate`).
    static STATES: RefCell<Vec<(usize, TraceState)>> = const { RefCell::new(Vec::new()) };
    /// Levels `INLINE` and deeper, whole.
    static DEEP: RefCell<Vec<(SpanContext, Tag)>> = const { RefCell::new(Vec::new()) };
    static ROOTS: [Cell<Option<Root>>; ROOT_RING] = const { [const { Cell::new(None) }; ROOT_RING] };
    static NEXT_ROOT: Cell<usize> = const { Cell::new(0) };
}

/// The context at depth `i` (below the current depth).
fn context_at(i: usize) -> Option<SpanContext> {
    if i >= INLINE {
        return DEEP.with(|d| d.borrow().get(i - INLINE).map(|(cx, _)| cx.clone()));
    }
    let e = ENTRIES.with(|e| e[i].get())?;
    let trace_state = if e.has_state {
        STATES.with(|s| {
            s.borrow()
                .iter()
                .rev()
                .find(|(at, _)| *at == i)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        })
    } else {
        TraceState::NONE
    };
    Some(SpanContext {
        trace_id: e.trace_id,
        span_id: e.span_id,
        trace_flags: e.flags,
        trace_state,
        is_remote: e.is_remote,
    })
}

/// The span id, trace id and tag at depth `i` (below the current depth).
#[inline]
fn ids_at(i: usize) -> Option<(SpanId, TraceId, Tag)> {
    if i < INLINE {
        ENTRIES
            .with(|e| e[i].get())
            .map(|e| (e.span_id, e.trace_id, e.tag))
    } else {
        DEEP.with(|d| {
            d.borrow()
                .get(i - INLINE)
                .map(|(c, tag)| (c.span_id, c.trace_id, *tag))
        })
    }
}

/// The span id at depth `i` (below the current depth).
#[inline]
fn span_id_at(i: usize) -> Option<SpanId> {
    ids_at(i).map(|(span_id, _, _)| span_id)
}

/// The context of the innermost span entered on this thread.
#[inline]
pub(crate) fn current() -> Option<SpanContext> {
    let depth = DEPTH.with(Cell::get);
    let top = depth.checked_sub(1)?;
    if top < INLINE
        && let Some(e) = ENTRIES.with(|e| e[top].get())
        && !e.has_state
    {
        return Some(SpanContext {
            trace_id: e.trace_id,
            span_id: e.span_id,
            trace_flags: e.flags,
            trace_state: TraceState::NONE,
            is_remote: e.is_remote,
        });
    }
    context_at(top)
}

/// The innermost entered span of `trace_id` on this thread, else the most
/// recent root of that trace started on this thread.
pub(crate) fn find_in_trace(trace_id: TraceId) -> Option<SpanContext> {
    let depth = DEPTH.with(Cell::get);
    let entered = (0..depth).rev().find(|&i| {
        if i < INLINE {
            ENTRIES
                .with(|e| e[i].get())
                .is_some_and(|e| e.trace_id == trace_id)
        } else {
            DEEP.with(|d| {
                d.borrow()
                    .get(i - INLINE)
                    .is_some_and(|(c, _)| c.trace_id == trace_id)
            })
        }
    });
    if let Some(i) = entered {
        return context_at(i);
    }
    let next = NEXT_ROOT.with(Cell::get);
    ROOTS.with(|roots| {
        (1..=ROOT_RING)
            .filter_map(|back| roots[next.wrapping_sub(back) % ROOT_RING].get())
            .find(|r| r.trace_id == trace_id)
            .map(|r| SpanContext {
                trace_id: r.trace_id,
                span_id: r.span_id,
                trace_flags: r.flags,
                trace_state: TraceState::NONE,
                is_remote: false,
            })
    })
}

/// Remembers a root span started on this thread. Older roots are forgotten
/// round-robin; a forgotten root only means a later trace-id-only span has no
/// parent id.
#[inline]
pub(crate) fn remember_root(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) {
    let i = NEXT_ROOT.with(|n| {
        let i = n.get();
        n.set(i.wrapping_add(1));
        i
    });
    ROOTS.with(|roots| {
        roots[i % ROOT_RING].set(Some(Root {
            trace_id,
            span_id,
            flags,
        }));
    });
}

/// Enters `cx` on this thread, read in place: an empty trace state (the
/// usual case) is not touched.
#[inline]
pub(crate) fn push(cx: &SpanContext) {
    push_tagged(cx, Tag::NONE);
}

/// [`push`] with an owner's tag.
#[inline]
fn push_tagged(cx: &SpanContext, tag: Tag) {
    let depth = DEPTH.with(Cell::get);
    if depth < INLINE {
        let has_state = !cx.trace_state.is_empty();
        if has_state {
            STATES.with(|s| s.borrow_mut().push((depth, cx.trace_state.clone())));
        }
        ENTRIES.with(|e| {
            e[depth].set(Some(Entry {
                trace_id: cx.trace_id,
                span_id: cx.span_id,
                flags: cx.trace_flags,
                is_remote: cx.is_remote,
                has_state,
                tag,
            }));
        });
    } else {
        DEEP.with(|d| d.borrow_mut().push((cx.clone(), tag)));
    }
    DEPTH.with(|d| d.set(depth + 1));
}

/// Removes the entry of `span_id`: normally the top, but guards may be
/// dropped out of order (for example when moved into a collection), and the
/// stack must stay right whatever the order. An id not entered is ignored.
#[inline]
pub(crate) fn pop(span_id: SpanId) {
    let depth = DEPTH.with(Cell::get);
    let Some(top) = depth.checked_sub(1) else {
        return;
    };
    if span_id_at(top) == Some(span_id) {
        pop_top(top);
    } else {
        remove_below_top(depth, |id, _| id == span_id);
    }
}

/// Removes the innermost entry tagged `tag`; whether there was one.
#[inline]
fn pop_tagged(tag: Tag) -> bool {
    let depth = DEPTH.with(Cell::get);
    let Some(top) = depth.checked_sub(1) else {
        return false;
    };
    if ids_at(top).is_some_and(|(_, _, t)| t == tag) {
        pop_top(top);
        return true;
    }
    remove_below_top(depth, |_, t| t == tag)
}

/// Drops the top entry, at depth `top`.
#[inline]
fn pop_top(top: usize) {
    if top < INLINE {
        let e = ENTRIES.with(|e| e[top].take());
        if e.is_some_and(|e| e.has_state) {
            // States are in depth order: the top's is the last.
            STATES.with(|s| s.borrow_mut().pop());
        }
    } else {
        DEEP.with(|d| d.borrow_mut().pop());
    }
    DEPTH.with(|d| d.set(top));
}

/// Removes the innermost entry below the top that `matches` (its span id
/// and tag), if any: rare (guards dropped out of order), so the stack is
/// rebuilt without it. Whether one was removed.
#[cold]
#[inline(never)]
fn remove_below_top(depth: usize, matches: impl Fn(SpanId, Tag) -> bool) -> bool {
    let Some(at) = (0..depth)
        .rev()
        .find(|&i| ids_at(i).is_some_and(|(id, _, tag)| matches(id, tag)))
    else {
        return false;
    };
    let kept: Vec<(SpanContext, Tag)> = (0..depth)
        .filter(|&i| i != at)
        .filter_map(|i| Some((context_at(i)?, ids_at(i)?.2)))
        .collect();
    for top in (0..depth).rev() {
        pop_top(top);
    }
    for (cx, tag) in &kept {
        push_tagged(cx, *tag);
    }
    true
}

/// Makes a span context current until dropped. Not `Send`: it must be dropped
/// on the thread that entered it.
#[derive(Debug)]
pub struct ContextGuard {
    span_id: SpanId,
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    /// Enters a context, so that spans started without a parent on this
    /// thread become its children until the guard drops.
    ///
    /// Use it to adopt a context received from elsewhere (another thread, a
    /// queued message) without starting a span.
    pub fn enter(cx: SpanContext) -> Self {
        Self::enter_ref(&cx)
    }

    /// [`enter`](Self::enter), reading the context in place.
    #[inline]
    pub(crate) fn enter_ref(cx: &SpanContext) -> Self {
        push(cx);
        Self {
            span_id: cx.span_id,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        pop(self.span_id);
    }
}

/// Makes `cx` the current context of this thread, without a guard: for
/// integrations whose enter and exit arrive as separate callbacks (the
/// facade's `tracing` layer, an executor's poll hooks). Pair each call with
/// [`exit_context`] for the same span id on the same thread; prefer
/// [`ContextGuard`] everywhere else.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, enter_context, exit_context};
///
/// let tracer = AgentStepTracer::new();
/// let parent = tracer.start_trace("poll");
/// enter_context(parent.context());
/// let child = tracer.start_span("step");
/// assert_eq!(child.trace_id(), parent.trace_id());
/// exit_context(parent.span_id());
/// ```
#[inline]
pub fn enter_context(cx: SpanContext) {
    push(&cx);
}

/// [`enter_context`] for a span's own context, read in place rather than
/// copied out first.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, enter_span, exit_context};
///
/// let tracer = AgentStepTracer::new();
/// let parent = tracer.start_trace("poll");
/// enter_span(&parent);
/// let child = tracer.start_span("step");
/// assert_eq!(child.trace_id(), parent.trace_id());
/// exit_context(parent.span_id());
/// ```
#[inline]
pub fn enter_span(span: &crate::Span) {
    push(span.span_context());
}

/// Leaves the context of `span_id` entered with [`enter_context`] on this
/// thread. Out-of-order exits are fine: the context is removed wherever it
/// sits in the thread's stack; an id that is not there is ignored.
#[inline]
pub fn exit_context(span_id: SpanId) {
    pop(span_id);
}

/// [`enter_span`] for an integration that leaves the span by its own key
/// rather than by span id: the entry is tagged `(owner, key)`, where
/// `owner` identifies the integration's instance (a non-zero address of
/// something it owns, as the `tracing` layer uses its own) and `key` the
/// span in it (the layer's `tracing` span id). Pair it with
/// [`exit_tagged`] on the same thread.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, enter_span_tagged, exit_tagged, innermost_tagged};
///
/// let tracer = AgentStepTracer::new();
/// let parent = tracer.start_trace("poll");
/// let owner = 0x1000;
/// enter_span_tagged(&parent, owner, 7);
/// assert_eq!(innermost_tagged(owner), Some(7));
/// assert_eq!(tracer.start_span("step").trace_id(), parent.trace_id());
/// assert!(exit_tagged(owner, 7));
/// assert_eq!(innermost_tagged(owner), None);
/// ```
#[inline]
pub fn enter_span_tagged(span: &crate::Span, owner: usize, key: u64) {
    push_tagged(span.span_context(), Tag { owner, key });
}

/// Leaves the innermost context entered on this thread with
/// [`enter_span_tagged`] as `(owner, key)`, wherever it sits in the stack;
/// whether there was one.
#[inline]
pub fn exit_tagged(owner: usize, key: u64) -> bool {
    pop_tagged(Tag { owner, key })
}

/// The key of the innermost context entered on this thread by `owner`
/// with [`enter_span_tagged`].
pub fn innermost_tagged(owner: usize) -> Option<u64> {
    let depth = DEPTH.with(Cell::get);
    (0..depth).rev().find_map(|i| match ids_at(i) {
        Some((_, _, tag)) if tag.owner == owner && owner != 0 => Some(tag.key),
        _ => None,
    })
}

/// Walks the spans entered on this thread that belong to `trace_id`,
/// innermost first, until `f` returns a value. `f` may enter and leave
/// contexts itself: no borrow of the stack is held while it runs.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, find_entered};
///
/// let tracer = AgentStepTracer::new();
/// let outer = tracer.start_trace("agent").entered();
/// let inner = tracer.start_span("step").entered();
/// let mut seen = Vec::new();
/// let found: Option<()> = find_entered(outer.trace_id(), |id| {
///     seen.push(id);
///     None
/// });
/// assert!(found.is_none());
/// assert_eq!(seen, [inner.span_id(), outer.span_id()]);
/// ```
pub fn find_entered<R>(trace_id: TraceId, mut f: impl FnMut(SpanId) -> Option<R>) -> Option<R> {
    let depth = DEPTH.with(Cell::get);
    for i in (0..depth).rev() {
        // The depth may shrink under `f`: an entry gone is skipped.
        if let Some((span_id, trace, _)) = ids_at(i)
            && trace == trace_id
            && let Some(found) = f(span_id)
        {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread's whole stack, innermost last.
    fn stack() -> Vec<SpanContext> {
        (0..DEPTH.with(Cell::get)).filter_map(context_at).collect()
    }

    /// Random pushes and pops (mostly of the top, some from the middle,
    /// some of ids never entered) across the inline/deep boundary, some
    /// contexts with a trace state, checked after each step against a plain
    /// `Vec` of contexts: the stack, `current` and `find_in_trace` agree with
    /// it, and every trace state is released at the end.
    #[test]
    fn the_stack_behaves_as_a_vec_of_contexts() {
        let state = TraceState::NONE.insert("vendor", "v1").unwrap();
        // Each entry with its tag: owner 0 (plain), 1 or 2.
        let mut model: Vec<(SpanContext, Tag)> = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 1..=20_000_u64 {
            let r = next();
            let grow = model.len() < 8 || (model.len() < 70 && r % 100 < 55);
            if grow {
                let trace = TraceId::from_u128(u128::from(r % 5 + 1)).unwrap();
                let mut cx =
                    SpanContext::new(trace, SpanId::from_u64(step).unwrap(), TraceFlags::SAMPLED);
                if r % 7 == 0 {
                    cx.trace_state = state.clone();
                }
                cx.is_remote = r % 11 == 0;
                let owner = usize::try_from((r >> 8) % 3).unwrap();
                let tag = if owner == 0 {
                    Tag::NONE
                } else {
                    // Keys repeat, as a span entered twice does.
                    Tag {
                        owner,
                        key: (r >> 16) % 8,
                    }
                };
                push_tagged(&cx, tag);
                model.push((cx, tag));
            } else if r % 10 == 0 && !model.is_empty() {
                let i = usize::try_from(r >> 32).unwrap() % model.len();
                pop(model.remove(i).0.span_id);
            } else if r % 10 == 1 {
                // By tag: the innermost entry with it, wherever it is.
                let tag = Tag {
                    owner: 1 + usize::try_from(r >> 8).unwrap() % 2,
                    key: (r >> 16) % 8,
                };
                let at = model.iter().rposition(|(_, t)| *t == tag);
                assert_eq!(pop_tagged(tag), at.is_some(), "step {step}");
                if let Some(at) = at {
                    model.remove(at);
                }
            } else if r % 53 == 0 {
                pop(SpanId::from_u64(u64::MAX - step).unwrap());
            } else if let Some((cx, _)) = model.pop() {
                pop(cx.span_id);
            }
            let contexts: Vec<SpanContext> = model.iter().map(|(cx, _)| cx.clone()).collect();
            assert_eq!(stack(), contexts, "step {step}");
            assert_eq!(current(), contexts.last().cloned(), "step {step}");
            for owner in [1, 2] {
                let innermost = model.iter().rev().find(|(_, t)| t.owner == owner);
                assert_eq!(
                    innermost_tagged(owner),
                    innermost.map(|(_, t)| t.key),
                    "step {step}"
                );
            }
            let trace = TraceId::from_u128(u128::from(r % 5 + 1)).unwrap();
            if let Some(found) = contexts.iter().rev().find(|c| c.trace_id == trace) {
                assert_eq!(find_in_trace(trace).as_ref(), Some(found), "step {step}");
            }
            let walked: Vec<SpanId> = {
                let mut ids = Vec::new();
                let none: Option<()> = find_entered(trace, |id| {
                    ids.push(id);
                    None
                });
                assert!(none.is_none());
                ids
            };
            let expected: Vec<SpanId> = contexts
                .iter()
                .rev()
                .filter(|c| c.trace_id == trace)
                .map(|c| c.span_id)
                .collect();
            assert_eq!(walked, expected, "step {step}");
        }
        while let Some((cx, _)) = model.pop() {
            pop(cx.span_id);
        }
        assert_eq!(DEPTH.with(Cell::get), 0);
        assert!(STATES.with(|s| s.borrow().is_empty()));
        assert!(DEEP.with(|d| d.borrow().is_empty()));
        assert_eq!(state.to_string(), "vendor=v1");
    }
}
