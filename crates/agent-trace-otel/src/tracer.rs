//! The API's `TracerProvider`, `Tracer` and `Span` over an
//! [`AgentStepTracer`] and its spans.

use std::borrow::Cow;
use std::error::Error;
use std::sync::Arc;
use std::time::SystemTime;

use agent_trace_core::{AgentStepTracer, Parent, StringValue, find_entered};
use opentelemetry::trace::{self as otel, TraceContextExt};
use opentelemetry::{Context, InstrumentationScope};

use crate::convert;

/// An [`opentelemetry::trace::TracerProvider`] whose tracers record into an
/// [`AgentStepTracer`]: install it with
/// [`opentelemetry::global::set_tracer_provider`] and every library
/// instrumented with the `opentelemetry` API records agent-trace spans.
///
/// ```
/// use opentelemetry::trace::{Tracer as _, TracerProvider as _};
///
/// let tracer = agent_trace_core::AgentStepTracer::new();
/// let provider = agent_trace_otel::provider(tracer.clone());
/// let span = provider.tracer("my-lib").start("fetch");
/// drop(span);
/// assert_eq!(tracer.store().unwrap().stats().spans, 1);
/// ```
#[derive(Clone, Debug)]
pub struct TracerProvider {
    tracer: AgentStepTracer,
}

/// A provider over `tracer` (a clone of an [`AgentStepTracer`] shares its
/// processors and store).
pub fn provider(tracer: AgentStepTracer) -> TracerProvider {
    TracerProvider { tracer }
}

impl TracerProvider {
    /// The tracer spans are recorded into.
    pub fn agent_tracer(&self) -> &AgentStepTracer {
        &self.tracer
    }
}

impl otel::TracerProvider for TracerProvider {
    type Tracer = Tracer;

    /// A tracer whose spans carry `scope` (name, version, schema URL and
    /// attributes), which OTLP exports as their `ScopeSpans`; a scope
    /// without a name gives spans agent-trace's own scope.
    fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        let ours = (!scope.name().is_empty()).then(|| {
            let mut ours = agent_trace_core::InstrumentationScope::new(scope.name());
            ours.version = scope.version().map(StringValue::from);
            ours.schema_url = scope.schema_url().map(StringValue::from);
            ours.attributes = scope
                .attributes()
                .cloned()
                .map(convert::key_value)
                .collect();
            Arc::new(ours)
        });
        Tracer {
            tracer: self.tracer.clone(),
            scope: ours,
        }
    }
}

/// An [`opentelemetry::trace::Tracer`] of a [`TracerProvider`]: starts
/// agent-trace spans that carry its instrumentation scope
/// ([`agent_trace_core::SpanData::scope`]).
#[derive(Clone, Debug)]
pub struct Tracer {
    tracer: AgentStepTracer,
    scope: Option<Arc<agent_trace_core::InstrumentationScope>>,
}

impl otel::Tracer for Tracer {
    type Span = OtelSpan;

    /// Starts a span. Its parent is the span of `parent_cx` when it has one
    /// (ours, another bridge span or a remote span context), else the span
    /// current on this thread in agent-trace (so a span of the API started
    /// inside one of ours is its child), else none. When the span of
    /// `parent_cx` is on agent-trace's stack of entered spans with one of
    /// ours entered above it, ours is the parent (the innermost wins). A context with telemetry
    /// suppressed starts a span that records nothing.
    fn build_with_context(&self, builder: otel::SpanBuilder, parent_cx: &Context) -> OtelSpan {
        let parent = if parent_cx.has_active_span() {
            convert::from_otel_context(parent_cx.span().span_context())
        } else {
            None
        };
        let parent = match parent {
            // The context's span is on this thread's stack of entered spans
            // (the context observer put it there, or it was entered) but is
            // not the innermost: one of ours was entered inside it since, and
            // that one is the parent. This is what makes API > ours > API nest.
            Some(p)
                if AgentStepTracer::current_context().is_some_and(|c| c.span_id != p.span_id)
                    && find_entered(p.trace_id, |id| (id == p.span_id).then_some(())).is_some() =>
            {
                Parent::Current
            }
            Some(p) => Parent::Context(p),
            None => Parent::Current,
        };
        let otel::SpanBuilder {
            span_kind,
            name,
            start_time,
            attributes,
            events,
            links,
        } = builder;
        let mut b = self.tracer.span_builder(convert::name(name)).parent(parent);
        if let Some(kind) = span_kind {
            b = b.kind(convert::kind(&kind));
        }
        if let Some(start) = start_time {
            b = b.start_time(start);
        }
        if let Some(attributes) = attributes {
            // Converted as the builder collects them, in the API's own
            // buffer (the two `KeyValue`s have one size).
            b = b.attributes(attributes.into_iter().map(convert::key_value));
        }
        if let Some(scope) = &self.scope {
            b = b.scope(Arc::clone(scope));
        }
        for link in links.into_iter().flatten() {
            if let Some(cx) = convert::from_otel_context(&link.span_context) {
                b = b.link(cx, link.attributes.into_iter().map(convert::key_value));
            }
        }
        let mut span = if parent_cx.is_telemetry_suppressed() {
            let _suppressed = agent_trace_core::suppress_tracing();
            b.start()
        } else {
            b.start()
        };
        for event in events.into_iter().flatten() {
            span.add_event_at(
                convert::name(event.name),
                event.timestamp,
                event.attributes.into_iter().map(convert::key_value),
            );
        }
        OtelSpan::from(span)
    }
}

/// An agent-trace span seen through [`opentelemetry::trace::Span`]. It ends
/// when [`end`](otel::Span::end) is called or when it drops.
///
/// One of our own spans becomes one with `OtelSpan::from`, so that it can be
/// put in an [`opentelemetry::Context`] (`Context::current_with_span`) for
/// code written against the API.
#[derive(Debug)]
pub struct OtelSpan {
    inner: Option<agent_trace_core::Span>,
    context: otel::SpanContext,
    /// Whether the status was set to `Ok`, which the API makes final.
    ok: bool,
}

impl From<agent_trace_core::Span> for OtelSpan {
    fn from(span: agent_trace_core::Span) -> Self {
        OtelSpan {
            context: convert::to_otel_context(span.span_context()),
            inner: Some(span),
            ok: false,
        }
    }
}

impl OtelSpan {
    /// The agent-trace span, until it ends.
    pub fn agent_span(&self) -> Option<&agent_trace_core::Span> {
        self.inner.as_ref()
    }

    /// The agent-trace span, to be used as one of ours (until it ends).
    pub fn agent_span_mut(&mut self) -> Option<&mut agent_trace_core::Span> {
        self.inner.as_mut()
    }
}

impl otel::Span for OtelSpan {
    /// Adds an event stamped now (the API's default reads the system clock
    /// first, only for the time to be dropped: about 100 instructions).
    fn add_event<T>(&mut self, name: T, attributes: Vec<opentelemetry::KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &mut self.inner {
            span.add_event(
                convert::name(name.into()),
                attributes.into_iter().map(convert::key_value),
            );
        }
    }

    /// Adds an event that happened at `timestamp`.
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<opentelemetry::KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &mut self.inner {
            span.add_event_at(
                convert::name(name.into()),
                timestamp,
                attributes.into_iter().map(convert::key_value),
            );
        }
    }

    /// Records the error as an `exception` event and sets an error status
    /// unless one is set ([`agent_trace_core::Span::record_exception`]).
    fn record_error(&mut self, err: &dyn Error) {
        if let Some(span) = &mut self.inner {
            span.record_exception(err);
        }
    }

    fn span_context(&self) -> &otel::SpanContext {
        &self.context
    }

    fn is_recording(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_recording())
    }

    fn set_attribute(&mut self, attribute: opentelemetry::KeyValue) {
        if let Some(span) = &mut self.inner {
            let kv = convert::key_value(attribute);
            span.set_attribute(kv.key, kv.value);
        }
    }

    /// Sets the status with the API's rules: `Unset` changes nothing, `Ok`
    /// is final, `Error` replaces anything but `Ok`.
    fn set_status(&mut self, status: otel::Status) {
        if self.ok || status == otel::Status::Unset {
            return;
        }
        if let Some(span) = &mut self.inner {
            self.ok = status == otel::Status::Ok;
            span.set_status(convert::status(status));
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &mut self.inner {
            span.update_name(new_name.into());
        }
    }

    fn add_link(
        &mut self,
        span_context: otel::SpanContext,
        attributes: Vec<opentelemetry::KeyValue>,
    ) {
        if let (Some(span), Some(cx)) = (&mut self.inner, convert::from_otel_context(&span_context))
        {
            span.add_link(cx, attributes.into_iter().map(convert::key_value));
        }
    }

    /// Ends the span now, its duration measured on the monotonic clock.
    fn end(&mut self) {
        if let Some(span) = self.inner.take() {
            span.end();
        }
    }

    /// Ends the span at `timestamp` (raised to its start time if earlier).
    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(span) = self.inner.take() {
            span.end_with_time(timestamp);
        }
    }
}
