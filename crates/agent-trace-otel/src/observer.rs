//! The API's attached contexts mirrored onto agent-trace's stack of entered
//! spans, so that one of our spans started while a span of the API is
//! current (`Context::attach`, `mark_span_as_active`, `Tracer::in_span`,
//! `FutureExt::with_context` around each poll) is its child.
//!
//! The only hook the `opentelemetry` API has for this is its global context
//! observer (`opentelemetry::context::GlobalContextObserver`, experimental
//! in 0.33): one per process, set once, called on every attach and on every
//! in-order detach. A guard dropped out of order is not reported when it
//! drops, only when the guard above it drops (the API then pops both), so
//! the spans this module entered are kept in a per-thread list and every
//! one above the context restored is left then.

use std::cell::RefCell;
use std::sync::Arc;

use agent_trace_core::{SpanContext, SpanId, enter_context, exit_context};
use opentelemetry::Context;
use opentelemetry::context::{ContextObserver, GlobalContextObserver};
use opentelemetry::trace::TraceContextExt;

use crate::convert;

thread_local! {
    /// The spans this observer entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<SpanId>> = const { RefCell::new(Vec::new()) };
}

/// Makes every span the `opentelemetry` API makes current also current in
/// agent-trace, so that our spans started under it are its children.
///
/// It installs the API's global context observer, which a process has at
/// most one of: a second call, or any other observer installed first, is
/// ignored by the API (with a warning through its internal log). Call it
/// once at start-up, next to `opentelemetry::global::set_tracer_provider`.
///
/// ```
/// use opentelemetry::trace::{Tracer as _, TracerProvider as _};
///
/// let tracer = agent_trace_core::AgentStepTracer::new();
/// agent_trace_otel::install_context_observer();
/// let lib = agent_trace_otel::provider(tracer.clone()).tracer("lib");
/// lib.in_span("request", |_cx| {
///     let ours = tracer.start_span("agent_step");
///     assert!(agent_trace_core::AgentStepTracer::current_context().is_some());
///     drop(ours);
/// });
/// ```
pub fn install_context_observer() {
    GlobalContextObserver::set(Arc::new(Observer));
}

/// The API's global context observer: see [`install_context_observer`].
#[derive(Debug)]
struct Observer;

/// The span of `cx`, when it has a valid one. Reads only `cx` (never the
/// current context, whose cell the API holds while it calls the observer).
fn span_of(cx: &Context) -> Option<SpanContext> {
    if cx.has_active_span() {
        convert::from_otel_context(cx.span().span_context())
    } else {
        None
    }
}

impl ContextObserver for Observer {
    fn on_context_enter(&self, from: &Context, to: &Context) {
        let Some(entering) = span_of(to) else { return };
        if span_of(from).is_some_and(|f| f.span_id == entering.span_id) {
            return;
        }
        let span_id = entering.span_id;
        enter_context(entering);
        ENTERED.with(|e| e.borrow_mut().push(span_id));
    }

    fn on_context_exit(&self, _from: &Context, to: &Context) {
        let restored = span_of(to).map(|cx| cx.span_id);
        ENTERED.with(|e| {
            let mut entered = e.borrow_mut();
            while let Some(&top) = entered.last() {
                if Some(top) == restored {
                    break;
                }
                entered.pop();
                exit_context(top);
            }
        });
    }
}
