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
//! - A new span's fields are read into its slot's own list, taken out of
//!   the slot for the reading and put back with the rest, so the list keeps
//!   its buffer (no allocation per call once warm); starting it leaves the
//!   pending fields' places behind for the slot's next span, and closing
//!   moves only the started span out.
//! - Entering a span puts its context on the thread's one stack of entered
//!   contexts (`agent_trace_core::enter_span_tagged`), tagged with the
//!   layer and the `tracing` span id: `on_exit` leaves it by that tag, with
//!   no table look-up at all, and the same stack stands in for the
//!   registry's current span where one is needed (`innermost_tagged`).
//! - A span that keeps its callsite's name records its duration through
//!   the series handle the latency registry keeps for that static name
//!   (`LatencyMetrics::record_static_with_exemplar`: no lock, no text
//!   compared), the workspace's one cache from a span name to its handle.
//! - Slot locks unlock with a plain store (`agent_trace_metrics`'
//!   `SpinLock`), and are held only for the layer's own bookkeeping: no
//!   sampler, processor or `Debug` impl runs while one is held (see
//!   `SpanTable`). Each agent span holds a reference count of the layer's
//!   tracer, as any span does.
//! - A pending span starts through [`Span::start_draining`], not a
//!   `SpanBuilder`: its attributes are read in place by the sampler and
//!   drained into the span, with no list collected again and no pass
//!   folding repeated keys, by a function compiled once in the core crate.
//!
//! The parts, one job each: `table.rs` the span table (slots, the overflow
//! map, pending and started agent spans), `fields.rs` the fields as
//! attributes; this file is the
//! adapter (the `Layer` callbacks and [`SpanExt`]).

mod fields;
mod table;

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use agent_trace_core::{
    AgentStepTracer, KeyValue, Span, SpanContext, StartMark, Status, StringValue,
    enter_span_tagged, exit_tagged, innermost_tagged, is_tracing_suppressed,
};
use agent_trace_metrics::{ExemplarIds, LatencyMetrics};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use fields::Fields;
use table::{FieldList, MAX_STARTING, STARTING, SpanTable};

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
                    Latencies::Global => "global",
                    Latencies::Own(_) => "own",
                },
            )
            .finish()
    }
}

impl AgentTraceLayer {
    /// A layer that records into `tracer`, and each span's duration into
    /// the global [`latency_metrics`](crate::latency_metrics), unless the
    /// tracer records every span's duration already
    /// ([`AgentStepTracer::records_span_durations`]: the tracer
    /// [`init`](crate::init()) builds, whose
    /// [`LatencyProcessor`](crate::LatencyProcessor) sees `tracing` spans too).
    /// Either way each span's latency is recorded once, whether `init()`
    /// installs the subscriber or this layer goes into your own.
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt;
    /// use agent_trace::{AgentTraceLayer, LatencyProcessor};
    ///
    /// let tracer = agent_trace::AgentStepTracer::builder()
    ///     .processor(std::sync::Arc::new(LatencyProcessor::global()))
    ///     .build();
    /// let subscriber = tracing_subscriber::registry().with(AgentTraceLayer::new(tracer));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     tracing::info_span!("layer_doc_step").in_scope(|| {});
    /// });
    /// let stats = agent_trace::latency_metrics().stats("layer_doc_step", None).unwrap();
    /// assert_eq!(stats.count, 1); // by the processor, not twice
    /// ```
    pub fn new(tracer: AgentStepTracer) -> Self {
        let latencies = if tracer.records_span_durations() {
            Latencies::None
        } else {
            Latencies::Global
        };
        Self {
            tracer,
            latencies,
            spans: SpanTable::default(),
        }
    }

    /// Records span durations into `metrics` instead of the global one
    /// (whatever the tracer's processors record: give the layer a registry
    /// no processor of the tracer records into, or spans count twice).
    pub fn with_latency_metrics(mut self, metrics: Arc<LatencyMetrics>) -> Self {
        self.latencies = Latencies::Own(metrics);
        self
    }

    /// Records no span durations.
    pub fn without_latency_metrics(mut self) -> Self {
        self.latencies = Latencies::None;
        self
    }

    /// Records the duration of a span that kept its callsite's name, with
    /// its trace and span ids as the exemplar (none for a span that is not
    /// sampled: its trace is not exported), through the handle the
    /// registry keeps for the callsite's static name.
    #[inline]
    fn record_latency(
        &self,
        callsite: &'static Metadata<'static>,
        d: Duration,
        exemplar: ExemplarIds,
    ) {
        if let Some(metrics) = self.latencies() {
            // `record` only fails for NaN or negative values, which a
            // `Duration` cannot be.
            let _ = metrics.record_static_with_exemplar(callsite.name(), d, exemplar);
        }
    }

    /// Ends a span that was renamed and records its duration under its
    /// new name (see [`record_latency`](Self::record_latency)).
    #[cold]
    #[inline(never)]
    fn close_renamed(&self, s: Span, exemplar: ExemplarIds) {
        // A reference count, or a static string.
        let name = s.name().cloned();
        let took = s.end_measured();
        if let (Some(metrics), Some(name)) = (self.latencies(), name) {
            let _ = metrics.record_with_exemplar(&name, took, exemplar);
        }
    }

    /// Where span durations go, if anywhere.
    #[inline]
    fn latencies(&self) -> Option<&LatencyMetrics> {
        match &self.latencies {
            Latencies::None => None,
            Latencies::Global => Some(crate::latency_metrics()),
            Latencies::Own(m) => Some(m),
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
        innermost_tagged(self.key())
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
            None => StringValue::from_static(callsite.name()),
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
        // Made current with the slot still locked (a thread-local push, no
        // code of others): the context is not moved out of the closure.
        self.spans.with_started(id, &self.tracer, |agent| {
            enter_span_tagged(agent.started(), self.key(), id);
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        exit_tagged(self.key(), id.into_u64());
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
        let exemplar = if cx.is_sampled() {
            ExemplarIds {
                trace_id: cx.trace_id.to_u128(),
                span_id: cx.span_id.to_u64(),
            }
        } else {
            ExemplarIds::default()
        };
        if renamed {
            return self.close_renamed(s, exemplar);
        }
        // Ending reports the duration it recorded.
        let took = s.end_measured();
        self.record_latency(callsite, took, exemplar);
    }
}

/// Adds `event` to `s`: as a span event named by its message, and for an
/// `ERROR` event also as the span's error status and an `exception` event.
fn add_event(s: &mut Span, event: &Event<'_>, message: Option<String>, mut attributes: FieldList) {
    let level = *event.metadata().level();
    attributes.push(KeyValue::new(
        StringValue::from_static("level"),
        StringValue::from_static(level.as_str()),
    ));
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
            StringValue::from_static("exception"),
            [
                KeyValue::new(StringValue::from_static("exception.message"), text),
                KeyValue::new(
                    StringValue::from_static("exception.type"),
                    StringValue::from_static("error"),
                ),
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

    use std::sync::atomic::Ordering;

    use super::table::SLOTS;
    use super::*;
    use crate::FinishedSpan;
    use crate::Value;

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
        // Deeper than the 32 contexts the thread's stack keeps inline.
        let depth = 40;
        tracing::dispatcher::with_default(&s.dispatch, || {
            // Each opened inside the one before.
            let mut guards: Vec<Option<tracing::span::EnteredSpan>> = (0..depth)
                .map(|i| Some(tracing::info_span!("level", i = i as i64).entered()))
                .collect();
            tracing::info_span!("deepest").in_scope(|| {});
            // Out of order: one guard below the inline stack's end, one
            // above it; the innermost span stays current.
            guards[30] = None;
            guards[34] = None;
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
