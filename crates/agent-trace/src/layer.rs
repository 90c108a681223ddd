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
//! the `tracing` span's extensions. The agent span starts
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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agent_trace_core::{
    AgentStepTracer, KeyValue, Parent, Span, SpanContext, SpanKind, StartMark, Status, StringValue,
    Value, enter_context, exit_context,
};
use agent_trace_metrics::LatencyMetrics;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// Where a layer records span durations.
#[derive(Clone)]
enum Latencies {
    None,
    Global,
    Own(Arc<LatencyMetrics>),
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
#[derive(Clone)]
pub struct AgentTraceLayer {
    tracer: AgentStepTracer,
    latencies: Latencies,
}

impl fmt::Debug for AgentTraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentTraceLayer")
            .field("tracer", &self.tracer)
            .field(
                "latencies",
                &match self.latencies {
                    Latencies::None => "off",
                    Latencies::Global => "global",
                    Latencies::Own(_) => "own",
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
            latencies: Latencies::Global,
        }
    }

    /// Records span durations into `metrics` instead of the global one.
    pub fn with_latency_metrics(mut self, metrics: Arc<LatencyMetrics>) -> Self {
        self.latencies = Latencies::Own(metrics);
        self
    }

    /// Records no span durations.
    pub fn without_latency_metrics(mut self) -> Self {
        self.latencies = Latencies::None;
        self
    }

    /// Records a span's duration with its trace id as the exemplar (0, no
    /// exemplar, for a span that is not sampled: its trace is not exported).
    fn record_latency(&self, name: &str, d: Duration, trace_id: u128) {
        // `record` only fails for NaN or negative values, which a
        // `Duration` cannot be.
        match &self.latencies {
            Latencies::None => {}
            Latencies::Global => {
                let _ = crate::latency_metrics().record_with_exemplar(name, d, trace_id);
            }
            Latencies::Own(m) => {
                let _ = m.record_with_exemplar(name, d, trace_id);
            }
        }
    }
}

/// What the parent of a pending span is.
enum PendingParent {
    Context(SpanContext),
    Root,
}

/// What an agent span will start with.
struct Pending {
    name: StringValue,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    status: Option<Status>,
    parent: PendingParent,
    start: StartMark,
}

/// A `tracing` span's agent span, before and after it starts. Inline: the
/// extensions box the whole `AgentSpan` once anyway, and a box of its own
/// would cost an allocation per span; the move out when it starts is a
/// copy of about a hundred bytes.
enum State {
    Pending(Pending),
    Started(Span),
    /// Started and ended (closed), or not recorded.
    Done,
}

/// Kept in the `tracing` span's extensions.
struct AgentSpan {
    state: State,
    /// How many times the span is entered on some thread right now.
    entered: u32,
    /// `otel.status_code` and `otel.status_message` as recorded so far
    /// (they may arrive in separate `record` calls).
    status_code: Option<bool>,
    status_message: Option<String>,
}

impl AgentSpan {
    /// Starts the agent span if it is pending; its context.
    fn start(&mut self, tracer: &AgentStepTracer) -> Option<SpanContext> {
        if let State::Pending(_) = self.state {
            let State::Pending(pending) = std::mem::replace(&mut self.state, State::Done) else {
                unreachable!("checked above")
            };
            let Pending {
                name,
                kind,
                attributes,
                status,
                parent,
                start,
            } = pending;
            let parent = match parent {
                PendingParent::Context(cx) => Parent::Context(cx),
                PendingParent::Root => Parent::Root,
            };
            let mut span = tracer
                .span_builder(name)
                .parent(parent)
                .kind(kind)
                .attributes(attributes)
                .started_at(start)
                .start();
            if let Some(status) = status {
                span.set_status(status);
            }
            self.state = State::Started(span);
        }
        match &self.state {
            State::Started(span) => Some(span.context()),
            _ => None,
        }
    }
}

/// Reads fields into attributes, with the `otel.*` conventions.
struct Fields<'a> {
    attributes: &'a mut Vec<KeyValue>,
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
    fn new(attributes: &'a mut Vec<KeyValue>, take_message: bool) -> Self {
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

    fn status(&self) -> Option<Status> {
        match self.status_code {
            Some(true) => Some(Status::Ok),
            Some(false) => Some(Status::error(
                self.status_message.clone().unwrap_or_default(),
            )),
            None => None,
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
        self.push(field, Value::String(StringValue::from(Arc::<str>::from(s))));
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
    /// The context of `span`'s agent span, starting it if needed.
    fn context_of<S>(&self, span: &SpanRef<'_, S>) -> Option<SpanContext>
    where
        S: for<'l> LookupSpan<'l>,
    {
        span.extensions_mut()
            .get_mut::<AgentSpan>()
            .and_then(|a| a.start(&self.tracer))
    }
}

impl<S> Layer<S> for AgentTraceLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let start = StartMark::now();
        let parent = if let Some(p) = attrs.parent() {
            ctx.span(p).and_then(|p| self.context_of(&p))
        } else if attrs.is_contextual() {
            // Entering a `tracing` span makes its agent span current on this
            // thread's stack too, so the top of that stack is the innermost
            // of both kinds (a tracer span opened inside an `#[instrument]`
            // function included). A `tracing` span current here but never
            // entered through this layer is the fallback.
            match AgentStepTracer::current_context() {
                Some(cx) => Some(cx),
                None => ctx.lookup_current().and_then(|p| self.context_of(&p)),
            }
        } else {
            None
        };
        let mut attributes = Vec::with_capacity(attrs.fields().len());
        let mut fields = Fields::new(&mut attributes, false);
        attrs.record(&mut fields);
        let name = match fields.name.take() {
            Some(n) => StringValue::from(n),
            None => StringValue::from(attrs.metadata().name()),
        };
        let kind = fields.kind.unwrap_or_default();
        let status = fields.status();
        let (status_code, status_message) = (fields.status_code, fields.status_message.take());
        span.extensions_mut().insert(AgentSpan {
            state: State::Pending(Pending {
                name,
                kind,
                attributes,
                status,
                parent: parent.map_or(PendingParent::Root, PendingParent::Context),
                start,
            }),
            entered: 0,
            status_code,
            status_message,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(agent) = ext.get_mut::<AgentSpan>() else {
            return;
        };
        let mut attributes = Vec::new();
        let mut fields = Fields::new(&mut attributes, false);
        values.record(&mut fields);
        let rename = fields.name.take();
        let status = if fields.status_code.is_some() || fields.status_message.is_some() {
            agent.status_code = fields.status_code.or(agent.status_code);
            agent.status_message = fields.status_message.take().or(agent.status_message.take());
            match agent.status_code {
                Some(true) => Some(Status::Ok),
                Some(false) => Some(Status::error(
                    agent.status_message.clone().unwrap_or_default(),
                )),
                None => None,
            }
        } else {
            None
        };
        match &mut agent.state {
            State::Pending(p) => {
                if let Some(n) = rename {
                    p.name = n.into();
                }
                if status.is_some() {
                    p.status = status;
                }
                p.attributes.extend(attributes);
            }
            State::Started(s) => {
                if let Some(n) = rename {
                    s.update_name(n);
                }
                if let Some(st) = status {
                    s.set_status(st);
                }
                s.set_attributes(attributes);
            }
            State::Done => {}
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(agent) = ext.get_mut::<AgentSpan>() else {
            return;
        };
        agent.start(&self.tracer);
        let State::Started(s) = &mut agent.state else {
            return;
        };
        let mut attributes = Vec::new();
        let mut fields = Fields::new(&mut attributes, true);
        event.record(&mut fields);
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

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(agent) = ext.get_mut::<AgentSpan>() else {
            return;
        };
        if let Some(cx) = agent.start(&self.tracer) {
            agent.entered += 1;
            enter_context(cx);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(agent) = ext.get_mut::<AgentSpan>() else {
            return;
        };
        if let State::Started(s) = &agent.state
            && agent.entered > 0
        {
            agent.entered -= 1;
            exit_context(s.span_id());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut ext = span.extensions_mut();
        let Some(agent) = ext.get_mut::<AgentSpan>() else {
            return;
        };
        agent.start(&self.tracer);
        if let State::Started(s) = std::mem::replace(&mut agent.state, State::Done) {
            // The name outlives the span (a reference count or a static
            // string), and ending reports the duration it recorded.
            let name = s.name().cloned();
            let cx = s.span_context();
            let trace_id = if cx.is_sampled() {
                cx.trace_id.to_u128()
            } else {
                0
            };
            let took = s.end_measured();
            if let Some(name) = name {
                self.record_latency(name.as_str(), took, trace_id);
            }
        }
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

/// Runs `f` on the span's extensions through whichever subscriber is
/// current (the layer registers nothing global of its own).
fn with_agent_span<R>(
    span: &tracing::Span,
    f: impl FnOnce(&mut AgentSpan, &AgentTraceLayer) -> R,
) -> Option<R> {
    let mut f = Some(f);
    let mut out = None;
    span.with_subscriber(|(id, dispatch)| {
        let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() else {
            return;
        };
        let Some(layer) = dispatch.downcast_ref::<AgentTraceLayer>() else {
            return;
        };
        if let Some(data) = registry.span(id)
            && let Some(agent) = data.extensions_mut().get_mut::<AgentSpan>()
            && let Some(f) = f.take()
        {
            out = Some(f(agent, layer));
        }
    });
    out
}

impl SpanExt for tracing::Span {
    fn agent_context(&self) -> Option<SpanContext> {
        with_agent_span(self, |agent, layer| agent.start(&layer.tracer)).flatten()
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
