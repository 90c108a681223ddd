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

use std::cell::RefCell;
use std::marker::PhantomData;

use agent_trace_propagation::{SpanContext, SpanId, TraceId};

/// How many recent root spans each thread remembers for trace-id parents.
const ROOT_RING: usize = 16;

struct ThreadState {
    stack: Vec<SpanContext>,
    roots: [Option<SpanContext>; ROOT_RING],
    next_root: usize,
}

thread_local! {
    static STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState {
            stack: Vec::new(),
            roots: [const { None }; ROOT_RING],
            next_root: 0,
        })
    };
}

/// The context of the innermost span entered on this thread.
#[inline]
pub(crate) fn current() -> Option<SpanContext> {
    STATE.with(|s| s.borrow().stack.last().cloned())
}

/// The innermost entered span of `trace_id` on this thread, else the most
/// recent root of that trace started on this thread.
pub(crate) fn find_in_trace(trace_id: TraceId) -> Option<SpanContext> {
    STATE.with(|s| {
        let s = s.borrow();
        if let Some(cx) = s.stack.iter().rev().find(|c| c.trace_id == trace_id) {
            return Some(cx.clone());
        }
        (0..ROOT_RING)
            .map(|i| (s.next_root + ROOT_RING - 1 - i) % ROOT_RING)
            .filter_map(|i| s.roots[i].as_ref())
            .find(|c| c.trace_id == trace_id)
            .cloned()
    })
}

/// Remembers a root span started on this thread. Older roots are forgotten
/// round-robin; a forgotten root only means a later trace-id-only span has no
/// parent id.
#[inline]
pub(crate) fn remember_root(cx: &SpanContext) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let i = s.next_root;
        s.roots[i] = Some(cx.clone());
        s.next_root = (i + 1) % ROOT_RING;
    });
}

#[inline]
pub(crate) fn push(cx: SpanContext) {
    STATE.with(|s| s.borrow_mut().stack.push(cx));
}

/// Removes the entry of `span_id`: normally the top, but guards may be
/// dropped out of order (for example when moved into a collection), and the
/// stack must stay right whatever the order.
#[inline]
pub(crate) fn pop(span_id: SpanId) {
    STATE.with(|s| {
        let stack = &mut s.borrow_mut().stack;
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
