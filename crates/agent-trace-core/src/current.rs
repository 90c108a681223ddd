//! The current span of each thread.
//!
//! A thread keeps a stack of the contexts of the spans it has entered; a span
//! started without an explicit parent becomes a child of the top of that
//! stack. Only contexts are kept (no span data), so entering and leaving
//! allocate nothing once the stack has grown to its working depth.
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

thread_local! {
    static STACK: RefCell<Vec<SpanContext>> = const { RefCell::new(Vec::new()) };
    static ROOTS: [Cell<Option<Root>>; ROOT_RING] = const { [const { Cell::new(None) }; ROOT_RING] };
    static NEXT_ROOT: Cell<usize> = const { Cell::new(0) };
}

/// The context of the innermost span entered on this thread.
#[inline]
pub(crate) fn current() -> Option<SpanContext> {
    STACK.with(|s| s.borrow().last().cloned())
}

/// The innermost entered span of `trace_id` on this thread, else the most
/// recent root of that trace started on this thread.
pub(crate) fn find_in_trace(trace_id: TraceId) -> Option<SpanContext> {
    if let Some(cx) = STACK.with(|s| {
        s.borrow()
            .iter()
            .rev()
            .find(|c| c.trace_id == trace_id)
            .cloned()
    }) {
        return Some(cx);
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

#[inline]
pub(crate) fn push(cx: SpanContext) {
    STACK.with(|s| s.borrow_mut().push(cx));
}

/// Removes the entry of `span_id`: normally the top, but guards may be
/// dropped out of order (for example when moved into a collection), and the
/// stack must stay right whatever the order.
#[inline]
pub(crate) fn pop(span_id: SpanId) {
    STACK.with(|s| {
        let stack = &mut *s.borrow_mut();
        if stack.last().is_some_and(|c| c.span_id == span_id) {
            stack.pop();
        } else if let Some(i) = stack.iter().rposition(|c| c.span_id == span_id) {
            stack.remove(i);
        }
    });
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
        let span_id = cx.span_id;
        push(cx);
        Self {
            span_id,
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
    push(cx);
}

/// Leaves the context of `span_id` entered with [`enter_context`] on this
/// thread. Out-of-order exits are fine: the context is removed wherever it
/// sits in the thread's stack; an id that is not there is ignored.
#[inline]
pub fn exit_context(span_id: SpanId) {
    pop(span_id);
}
