//! Carrying the current span into futures.
//!
//! A thread's current span is thread-local, and an `async` task may resume on
//! any worker thread after an `.await`. So a future carries its span (or just
//! a context) with it and makes it current around every poll, the way
//! `tracing::Instrument` does: spans started inside, after any number of
//! `.await`s and on whatever thread, get the right parent.
//!
//! The trait and its methods have names of their own (`AgentFutureExt`,
//! `in_span`, `in_context`, `in_current_context`), found on none of the
//! future extension traits an agent is likely to import beside it:
//! `tracing::Instrument` (`instrument`, `in_current_span`),
//! `tracing::instrument::WithSubscriber`, `futures::FutureExt` and
//! `opentelemetry::context::FutureExt` (`with_context`,
//! `with_current_context`). With any of them in scope, even through a glob
//! import, each call still names one method.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use agent_trace_propagation::SpanContext;
use pin_project_lite::pin_project;

use crate::current::{self, ContextGuard};
use crate::span::Span;

/// Attaches spans and contexts to futures.
///
/// ```
/// use agent_trace_core::{AgentFutureExt, AgentStepTracer};
///
/// # async fn call_llm() -> u32 { 42 }
/// # fn run<F: std::future::Future>(f: F) -> F::Output {
/// #     // A minimal executor, so that the example needs no runtime.
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// let tracer = AgentStepTracer::new();
/// let step = tracer.start_span("llm_call");
/// let answer = run(
///     async {
///         // Started inside: a child of `llm_call`, whichever thread polls.
///         let _parse = AgentStepTracer::current_context();
///         call_llm().await
///     }
///     .in_span(step), // `llm_call` ends when the future completes
/// );
/// assert_eq!(answer, 42);
/// ```
pub trait AgentFutureExt: Future + Sized {
    /// Makes `span` current around every poll of this future, and ends the
    /// span when the future completes (or is dropped unfinished).
    fn in_span(self, span: Span) -> InSpan<Self> {
        InSpan {
            inner: self,
            span: Some(span),
        }
    }

    /// Makes `context` current around every poll: spans started inside
    /// become its children. It does not end anything.
    fn in_context(self, context: SpanContext) -> InContext<Self> {
        InContext {
            inner: self,
            context: Some(context),
        }
    }

    /// Captures the span current *now* (when the future is made) and makes it
    /// current around every poll. Use it on a future before
    /// `tokio::spawn`, so the task's spans join the spawning span's trace.
    fn in_current_context(self) -> InContext<Self> {
        InContext {
            inner: self,
            context: current::current(),
        }
    }
}

impl<F: Future> AgentFutureExt for F {}

pin_project! {
    /// A future with a span made current around each poll; see
    /// [`AgentFutureExt::in_span`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct InSpan<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let guard = this.span.as_ref().map(Span::enter);
        let poll = this.inner.poll(cx);
        drop(guard);
        if poll.is_ready() {
            // End the span as soon as the work is done, not when the
            // completed future is eventually dropped.
            this.span.take();
        }
        poll
    }
}

pin_project! {
    /// A future with a context made current around each poll; see
    /// [`AgentFutureExt::in_context`] and
    /// [`AgentFutureExt::in_current_context`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct InContext<F> {
        #[pin]
        inner: F,
        context: Option<SpanContext>,
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.context.clone().map(ContextGuard::enter);
        this.inner.poll(cx)
    }
}
