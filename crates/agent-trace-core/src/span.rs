//! The live span: a guard that records while it is held and ends when it is
//! dropped or ended explicitly.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agent_trace_propagation::{
    Injector, PropagationContext, SpanContext, SpanId, TextMapPropagator, TraceContextPropagator,
    TraceFlags, TraceId, TraceState,
};

use crate::attr::{IntoAttributeValue, IntoAttributes, Key, KeyValue, StringValue, Value};
use crate::clock::{StartMark, Tick, Timestamp};
use crate::current::{self, ContextGuard};
use crate::exception::Exception;
use crate::ids;
use crate::sampler::{self, SamplingDecision, SamplingParams};
use crate::span_data::{
    Attributes, Event, FinishedSpan, InstrumentationScope, IntoStatus, Link, SpanData, SpanKind,
    Status, UniqueSpan, fold_repeated_keys,
};
use crate::tracer::{AgentStepTracer, TracerHandle, TracerInner};

/// The attribute under which the reference's `agent_id` is recorded, as the
/// OpenTelemetry GenAI semantic conventions name it.
pub const AGENT_ID: &str = "gen_ai.agent.id";

/// A span in progress.
///
/// Created by [`AgentStepTracer::start_trace`], [`AgentStepTracer::start_span`]
/// or a [`SpanBuilder`]; ends when dropped or on [`Span::end`]. A span that the
/// sampler dropped accepts every call and records nothing, at no cost beyond
/// its context.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
///
/// let tracer = AgentStepTracer::new();
/// let trace = tracer.start_trace("agent_task");
/// let mut span = tracer.span_builder("llm_call").parent(&trace).start();
/// span.set_attribute("model", "gpt-4");
/// span.set_attribute("tokens", 150);
/// span.set_status("success")?;
/// span.end();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Span {
    /// A span that records, until it ends: then `None`. Whether a span
    /// records is this one pointer's test, made inline at every call
    /// (`set_attribute`, the drop).
    ///
    /// Both fields are dropped by hand in `Drop for Span`, so that the
    /// compiler has no drop glue to add after it and inlines the whole of a
    /// span's drop: for a span that does not record, a comparison or two.
    live: std::mem::ManuallyDrop<Option<Live>>,
    /// The context of a span that does not record (sampled out); `None`
    /// for a span that records or has ended.
    non_recording: std::mem::ManuallyDrop<Option<SpanContext>>,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&*self.live, &*self.non_recording) {
            (Some(data), _) => f
                .debug_struct("Span")
                .field("name", &data.name)
                .field("context", &data.context)
                .field("recording", &true)
                .finish(),
            (None, Some(cx)) => f
                .debug_struct("Span")
                .field("context", cx)
                .field("recording", &false)
                .finish(),
            (None, None) => f.write_str("Span(ended)"),
        }
    }
}

impl Span {
    /// This span's context, to propagate or to use as a parent.
    ///
    /// # Panics
    /// Never: a span that has ended cannot be reached any more, since
    /// [`Span::end`] consumes it.
    #[inline]
    pub fn span_context(&self) -> &SpanContext {
        match (&*self.live, &*self.non_recording) {
            (Some(data), _) => &data.context,
            (None, Some(cx)) => cx,
            (None, None) => unreachable!("an ended span is consumed"),
        }
    }

    /// A copy of this span's context (the reference's `get_context()`).
    pub fn context(&self) -> SpanContext {
        self.span_context().clone()
    }

    /// The trace id.
    #[inline]
    pub fn trace_id(&self) -> TraceId {
        self.span_context().trace_id
    }

    /// This span's id.
    #[inline]
    pub fn span_id(&self) -> SpanId {
        self.span_context().span_id
    }

    /// Writes this span's W3C Trace Context (`traceparent`, and `tracestate`
    /// when there is one) into outgoing request headers, so the service
    /// called continues this trace. Works for sampled-out spans too: the
    /// callee learns the trace and that it is not sampled.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// let call = tracer.start_span("POST /process");
    /// let mut headers = HashMap::new();
    /// call.inject_headers(&mut headers);
    /// assert!(headers["traceparent"].contains(&call.span_id().to_string()));
    /// ```
    pub fn inject_headers(&self, headers: &mut dyn Injector) {
        TraceContextPropagator.inject(&PropagationContext::from(self.context()), headers);
    }

    /// The span's name; `None` for a span that does not record.
    pub fn name(&self) -> Option<&StringValue> {
        self.live.as_ref().map(|data| &data.name)
    }

    /// Whether this span records what is set on it (false when sampled out).
    pub fn is_recording(&self) -> bool {
        self.live.is_some()
    }

    /// The tracer's limit on string attribute values, in bytes
    /// ([`SpanLimits::max_attribute_value_length`](crate::SpanLimits)), when
    /// this span records and a limit is set: a longer value set on it is cut
    /// on a character boundary. Code that must keep a value well formed
    /// (a JSON document, say) cuts it to this length itself first.
    pub fn attribute_value_limit(&self) -> Option<usize> {
        self.live
            .as_ref()
            .and_then(|live| live.tracer.limits.max_attribute_value_length)
    }

    /// Time since the span started; zero for a span that does not record.
    pub fn elapsed(&self) -> Duration {
        match &*self.live {
            Some(live) => Duration::from_nanos(live.start.nanos_until(Tick::now())),
            None => Duration::ZERO,
        }
    }

    #[inline]
    fn recording(&mut self) -> Option<&mut Live> {
        self.live.as_mut()
    }

    /// The data of a span that records, to change other than by attributes.
    #[inline]
    fn recording_data(&mut self) -> Option<(&mut SpanData, &TracerInner)> {
        self.live
            .as_mut()
            .map(|live| (&mut **live.data, &**live.tracer))
    }

    /// Sets an attribute, replacing any earlier value of the same key.
    ///
    /// A new key beyond the span's attribute limit is dropped and counted in
    /// [`SpanData::dropped_attributes_count`]; a string longer than the value
    /// length limit is cut on a character boundary.
    ///
    /// # Keys
    ///
    /// A `&str` (a literal or borrowed from a `String` about to be dropped),
    /// a `String`, a [`StringValue`] or a `Cow<str>`. A `&str` is copied:
    /// inline, with no allocation, up to 22 bytes (most keys), into a shared
    /// allocation beyond. A longer literal key set on a hot path is
    /// [`Key::from_static`](StringValue::from_static), or a `const` [`Key`],
    /// which costs nothing:
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// # let mut span = tracer.start_span("llm_call");
    /// use agent_trace_core::Key;
    ///
    /// const INPUT_TOKENS: Key = Key::from_static("gen_ai.usage.input_tokens");
    /// span.set_attribute(INPUT_TOKENS, 500);
    /// let request_id = String::from("req-123");
    /// span.set_attribute("request.id", request_id.as_str()); // copied
    /// drop(request_id);
    /// ```
    ///
    /// # Values
    ///
    /// Anything that converts into a [`Value`] ([`IntoAttributeValue`]):
    ///
    /// - strings: `&str`, `&String`, `String`, `Cow<str>`, [`StringValue`],
    ///   `Arc<str>`, copied or taken as for keys:
    ///   `span.set_attribute("model", model.as_str())`;
    /// - integers of every width, `i8` to `i128`, `u8` to `u128`, `isize`,
    ///   `usize`, recorded as `i64`, a value beyond its range saturating:
    ///   `span.set_attribute("output.length", result.len())`;
    /// - `f32` and `f64`: `span.set_attribute("temperature", 0.7)`;
    /// - `bool`: `span.set_attribute("stream", true)`;
    /// - arrays, slices and `Vec`s of one of those
    ///   ([`ArrayElement`](crate::ArrayElement)):
    ///   `span.set_attribute("stop", ["\n", "END"])`,
    ///   `span.set_attribute("scores", &scores[..])`;
    /// - `Option` of any of them, where `None` sets nothing (and leaves an
    ///   earlier value of the key in place):
    ///   `span.set_attribute("user.id", user_id)`;
    /// - any `Display` type through [`display_value`](crate::display_value):
    ///   `span.set_attribute("file.path", display_value(&path.display()))`.
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// # let mut span = tracer.start_span("llm_call");
    /// use agent_trace_core::display_value;
    ///
    /// let result = String::from("AI is ...");
    /// let user_id: Option<&str> = None;
    /// span.set_attribute("model", "gpt-4");
    /// span.set_attribute("tokens", 150);
    /// span.set_attribute("output.length", result.len());
    /// span.set_attribute("temperature", 0.7);
    /// span.set_attribute("stream", false);
    /// span.set_attribute("stop", ["\n", "END"]);
    /// span.set_attribute("scores", vec![0.9, 0.4]);
    /// span.set_attribute("user.id", user_id); // sets nothing
    /// span.set_attribute("server.address", display_value(&std::net::Ipv4Addr::LOCALHOST));
    /// ```
    #[inline(always)]
    pub fn set_attribute<K: Into<Key>, V: IntoAttributeValue>(&mut self, key: K, value: V) {
        // Only the check is forced inline: on a span that does not record
        // (sampled out) the call costs a comparison, where the whole
        // function, too large to inline, cost a call and the argument drops.
        if self.live.is_some() {
            self.set_attribute_recording(key, value);
        }
    }

    #[inline]
    fn set_attribute_recording<K: Into<Key>, V: IntoAttributeValue>(&mut self, key: K, value: V) {
        if let Some(live) = self.recording()
            && let Some(value) = value.into_attribute_value()
        {
            live.push_attribute(key.into(), value);
        }
    }

    /// Sets several attributes: any list [`add_event`](Self::add_event)
    /// takes ([`IntoAttributes`]).
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// # let mut span = tracer.start_span("llm_call");
    /// use agent_trace_core::attributes;
    ///
    /// span.set_attributes([("input.tokens", 500), ("output.tokens", 150)]);
    /// span.set_attributes(attributes!["model.name" => "gpt-4", "temperature" => 0.7]);
    /// ```
    pub fn set_attributes(&mut self, attributes: impl IntoAttributes) {
        if let Some(live) = self.recording() {
            for kv in attributes.into_attributes() {
                live.push_attribute(kv.key, kv.value);
            }
        }
    }

    /// Adds a timestamped event with attributes.
    ///
    /// The attributes are a list ([`IntoAttributes`]):
    ///
    /// - `[]` for none: `span.add_event("analysis_complete", [])`;
    /// - `(key, value)` pairs, in an array when the values have one type:
    ///   `span.add_event("thinking_started", [("context_size", 4096)])`;
    /// - [`KeyValue`]s:
    ///   `[KeyValue::new("decision", kind), KeyValue::new("confidence", 0.93)]`;
    /// - values of different types through [`attributes!`](crate::attributes):
    ///   `attributes!["decision" => kind, "confidence" => 0.93]`;
    /// - a `Vec`, a slice, an `Option`, a `HashMap` or `BTreeMap`, or a
    ///   standard iterator over pairs or `KeyValue`s.
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// # let mut span = tracer.start_span("agent_decision");
    /// use agent_trace_core::{KeyValue, attributes};
    ///
    /// let kind = String::from("search");
    /// span.add_event("thinking_started", [("context_size", 4096)]);
    /// span.add_event(
    ///     "thinking_completed",
    ///     attributes!["decision" => kind.as_str(), "confidence" => 0.93],
    /// );
    /// span.add_event("first_token", [KeyValue::new("latency_ms", 180)]);
    /// span.add_event("analysis_complete", []);
    /// ```
    pub fn add_event(&mut self, name: impl Into<StringValue>, attributes: impl IntoAttributes) {
        if let Some(live) = self.live.as_mut() {
            let start = live.start;
            let (data, tracer) = (&mut **live.data, &*live.tracer);
            let timestamp = data.start_time.plus_elapsed(start, Tick::now());
            push_event(data, tracer, name.into(), timestamp, attributes);
        }
    }

    /// Adds an event that happened at `timestamp` (a [`SystemTime`] or a
    /// [`Timestamp`]) rather than now: one learnt afterwards, or replayed
    /// from a log. Events keep the order they were added in, whatever
    /// their times.
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// # let mut span = tracer.start_span("llm_call");
    /// use std::time::{Duration, SystemTime};
    ///
    /// let first_token = SystemTime::now() - Duration::from_millis(40);
    /// span.add_event_at("first_token", first_token, [("gen_ai.response.chunk", 1)]);
    /// ```
    ///
    /// [`SystemTime`]: std::time::SystemTime
    pub fn add_event_at(
        &mut self,
        name: impl Into<StringValue>,
        timestamp: impl Into<Timestamp>,
        attributes: impl IntoAttributes,
    ) {
        if let Some((data, tracer)) = self.recording_data() {
            push_event(data, tracer, name.into(), timestamp.into(), attributes);
        }
    }

    /// Adds a free-text annotation: an event whose name is the text (which is
    /// how Zipkin shows annotations).
    pub fn annotate(&mut self, text: impl Into<StringValue>) {
        self.add_event(text, []);
    }

    /// Sets the outcome. Setting [`Status::Unset`] is ignored, as in
    /// OpenTelemetry; `Ok` and `Error` replace what was there.
    ///
    /// It takes a [`Status`], and returns `()`, or the reference's words
    /// ([`IntoStatus`]): `"success"` (or `"ok"`), `"error"`, `"unset"`, or
    /// `("error", description)`. A name may be misspelt, so for a name it
    /// returns a `Result`: an unknown name is [`TraceError::UnknownStatus`]
    /// (listing the accepted names), and the status stays as it was.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// # let mut span = tracer.start_span("llm_inference");
    /// use agent_trace_core::Status;
    ///
    /// span.set_status("success")?;
    /// let e = std::io::Error::other("rate limited");
    /// span.set_status(("error", e.to_string()))?;
    /// span.set_status(Status::error("rate limited"));
    /// assert!(span.set_status("succes").is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// For a status given by name, [`TraceError::UnknownStatus`] when the
    /// name is not one of `success`, `ok`, `error` and `unset`.
    ///
    /// [`TraceError::UnknownStatus`]: crate::TraceError::UnknownStatus
    #[inline]
    pub fn set_status<S: IntoStatus>(&mut self, status: S) -> S::Output {
        status.apply(|status| self.set_typed_status(status))
    }

    fn set_typed_status(&mut self, status: Status) {
        if status == Status::Unset {
            return;
        }
        if let Some((data, _)) = self.recording_data() {
            data.status = status;
        }
    }

    /// Records an error as an `exception` event with `exception.type` and
    /// `exception.message` (OpenTelemetry semantic conventions) and sets an
    /// error status, unless one is already set (an earlier, more specific
    /// description is kept).
    ///
    /// `exception.message` is the error's `Display` followed by its sources,
    /// separated by `": "`, so the cause chain is not lost.
    ///
    /// It takes any error by reference ([`Exception`]): a value of an
    /// [`Error`](std::error::Error) type, a `&dyn Error` (with or without
    /// `Send` and `Sync`), a `Box<dyn Error>` or `Box<dyn Error + Send +
    /// Sync>` (as `?` makes them), and, with the feature `anyhow`, an
    /// `anyhow::Error`. `exception.type` is the error's type name where the
    /// type is known (`std::io::error::Error`); a boxed or `anyhow` error's
    /// concrete type is erased, so it is the static type (see
    /// [`Exception`]).
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// # let mut span = tracer.start_span("tool_call");
    /// let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "search timed out");
    /// span.record_exception(&err);
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
    /// span.record_exception(&boxed);
    /// ```
    pub fn record_exception<E, const FORM: u8>(&mut self, error: &E)
    where
        E: Exception<FORM> + ?Sized,
    {
        if !self.is_recording() {
            return;
        }
        let exception_type = error.exception_type();
        let error = error.as_error();
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        let message: StringValue = message.into();
        self.add_event(
            StringValue::from_static("exception"),
            [
                KeyValue::new(
                    Key::from_static("exception.type"),
                    StringValue::from_static(exception_type),
                ),
                KeyValue::new(Key::from_static("exception.message"), message.clone()),
            ],
        );
        if let Some((data, _)) = self.recording_data()
            && !data.status.is_error()
        {
            data.status = Status::Error {
                description: message,
            };
        }
    }

    /// Adds a link to another span, with a list of attributes as
    /// [`add_event`](Self::add_event) takes it (`[]` for none).
    pub fn add_link(&mut self, context: SpanContext, attributes: impl IntoAttributes) {
        if let Some((data, tracer)) = self.recording_data() {
            push_link(data, tracer, context, attributes.into_attributes());
        }
    }

    /// Renames the span.
    pub fn update_name(&mut self, name: impl Into<StringValue>) {
        if let Some((data, _)) = self.recording_data() {
            data.name = name.into();
        }
    }

    /// Ends the span now.
    #[inline]
    pub fn end(self) {
        drop(self);
    }

    /// Ends the span at a given time (raised to the start time if earlier).
    pub fn end_with_time(mut self, end_time: impl Into<Timestamp>) {
        self.finish(Some(end_time.into()));
    }

    /// Makes this span current on this thread until the guard drops, so that
    /// spans started without a parent become its children.
    pub fn enter(&self) -> ContextGuard {
        ContextGuard::enter_ref(self.span_context())
    }

    /// Makes this span current and hands back a guard that owns it: when the
    /// guard drops the span stops being current and ends. This is the shape
    /// of the reference's `with tracer.start_span(...) as span:`.
    ///
    /// ```
    /// use agent_trace_core::AgentStepTracer;
    ///
    /// let tracer = AgentStepTracer::new();
    /// let trace = tracer.start_trace("workflow").entered();
    /// let child = tracer.start_span("step"); // a child of `trace`
    /// assert_eq!(child.trace_id(), trace.trace_id());
    /// ```
    pub fn entered(self) -> EnteredSpan {
        let guard = self.enter();
        EnteredSpan {
            span: self,
            guard: Some(guard),
        }
    }

    /// Runs `f` with this span current.
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.enter();
        f()
    }

    /// Ends the span and returns its duration (zero for a span that does
    /// not record): one clock read for both, where [`elapsed`](Self::elapsed)
    /// followed by [`end`](Self::end) takes two and reports a little less
    /// than the span's recorded duration.
    ///
    /// ```
    /// # let tracer = agent_trace_core::AgentStepTracer::new();
    /// let span = tracer.start_span("tool_call");
    /// let took = span.end_measured();
    /// assert!(took < std::time::Duration::from_secs(1));
    /// ```
    pub fn end_measured(mut self) -> Duration {
        self.finish(None)
    }

    fn finish(&mut self, end_time: Option<Timestamp>) -> Duration {
        self.finish_inline(end_time)
    }

    /// [`finish`](Self::finish), inlined into `release` (every span's end),
    /// which spares a call and a second prologue on each span.
    #[inline(always)]
    fn finish_inline(&mut self, end_time: Option<Timestamp>) -> Duration {
        let Some(live) = self.live.take() else {
            return Duration::ZERO;
        };
        let (mut data, start, tracer) = live.into_parts();
        data.end_time = match end_time {
            Some(t) => t.max(data.start_time),
            None => data.start_time.plus_elapsed(start, Tick::now()),
        };
        let d = Duration::from_nanos(
            data.end_time
                .as_unix_nanos()
                .saturating_sub(data.start_time.as_unix_nanos()),
        );
        tracer.deliver(FinishedSpan::from_unique(data));
        d
    }

    /// Starts a span from a builder's parts, those the specialised starts
    /// do not take (attributes, links, a given start).
    #[inline(never)]
    fn start_general(
        tracer: &AgentStepTracer,
        name: StringValue,
        parent: Parent<'_>,
        kind: SpanKind,
        attributes: Option<Vec<KeyValue>>,
        extra: Option<Box<Extra>>,
    ) -> Span {
        let Extra {
            links,
            start_time,
            start_mark,
            scope,
        } = extra.map(|e| *e).unwrap_or_default();
        let mut span = Self::start_parts(
            tracer, name, parent, kind, attributes, links, start_time, start_mark,
        );
        if let Some(scope) = scope
            && let Some((data, _)) = span.recording_data()
        {
            data.scope = Some(scope);
        }
        span
    }

    /// Starts a span from parts kept before it starts, as a `tracing` layer
    /// keeps them: a name, a parent, a kind, the moment it started and the
    /// attributes known then, with no [`SpanBuilder`] in between.
    ///
    /// The attributes are read as a slice and then iterated once, never
    /// collected: an array or a `SmallVec` costs no allocation, and a
    /// wrapper whose iterator drains a list in place lets the caller keep
    /// the list's buffer for its next span. Samplers see them as given;
    /// on the span a repeated key keeps its last value, as with
    /// [`SpanBuilder::attributes`].
    ///
    /// ```
    /// use agent_trace_core::{AgentStepTracer, KeyValue, Parent, Span, SpanKind, StartMark};
    ///
    /// let tracer = AgentStepTracer::new();
    /// let started = StartMark::now();
    /// let span = Span::start_with_attributes(
    ///     &tracer,
    ///     "llm_call".into(),
    ///     Parent::Root,
    ///     SpanKind::Client,
    ///     started,
    ///     [KeyValue::new("model", "gpt-4"), KeyValue::new("tokens", 150)],
    /// );
    /// assert!(span.is_recording());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Performance
    ///
    /// `AgentTraceLayer` starts its pending spans here: going through the
    /// builder cost a heap list per span and a pass folding repeated keys
    /// (see `benches/layer.rs` in `agent-trace`).
    #[inline(never)]
    pub fn start_with_attributes<A>(
        tracer: &AgentStepTracer,
        name: StringValue,
        parent: Parent<'_>,
        kind: SpanKind,
        start_mark: StartMark,
        attributes: A,
    ) -> Span
    where
        A: AsRef<[KeyValue]> + IntoIterator<Item = KeyValue>,
    {
        Self::start_parts(
            tracer,
            name,
            parent,
            kind,
            Some(attributes),
            None,
            None,
            Some(start_mark),
        )
    }

    /// [`start_with_attributes`](Self::start_with_attributes) from a list
    /// the caller keeps: the sampler reads it in place, then it is drained
    /// into the span, and the list keeps its buffer for the caller's next
    /// span. Compiled once, here, rather than in each caller's crate.
    ///
    /// ```
    /// use agent_trace_core::{AgentStepTracer, KeyValue, Parent, SpanKind, StartMark, Span};
    ///
    /// let tracer = AgentStepTracer::new();
    /// let mut fields = vec![KeyValue::new("model", "gpt-4"), KeyValue::new("tokens", 150)];
    /// let span = Span::start_draining(
    ///     &tracer,
    ///     "llm_call".into(),
    ///     Parent::Root,
    ///     SpanKind::Client,
    ///     StartMark::now(),
    ///     &mut fields,
    /// );
    /// assert!(fields.is_empty() && fields.capacity() >= 2);
    /// assert!(span.is_recording());
    /// ```
    #[inline(never)]
    pub fn start_draining(
        tracer: &AgentStepTracer,
        name: StringValue,
        parent: Parent<'_>,
        kind: SpanKind,
        start_mark: StartMark,
        attributes: &mut Vec<KeyValue>,
    ) -> Span {
        Self::start_parts(
            tracer,
            name,
            parent,
            kind,
            Some(Draining(attributes)),
            None,
            None,
            Some(start_mark),
        )
    }

    /// Starts a new trace with nothing but a name and a kind given.
    #[inline(never)]
    pub(crate) fn start_root(tracer: &AgentStepTracer, name: StringValue, kind: SpanKind) -> Span {
        Self::start_parts(
            tracer,
            name,
            Parent::Root,
            kind,
            NO_ATTRIBUTES,
            None,
            None,
            None,
        )
    }

    /// Starts a child of the current span with nothing but a name and a kind
    /// given.
    #[inline(never)]
    pub(crate) fn start_current(
        tracer: &AgentStepTracer,
        name: StringValue,
        kind: SpanKind,
    ) -> Span {
        Self::start_parts(
            tracer,
            name,
            Parent::Current,
            kind,
            NO_ATTRIBUTES,
            None,
            None,
            None,
        )
    }

    /// Starts a child of an explicit parent with nothing but a name and a
    /// kind given.
    #[inline(never)]
    pub(crate) fn start_child(
        tracer: &AgentStepTracer,
        name: StringValue,
        parent: &SpanContext,
        kind: SpanKind,
    ) -> Span {
        Self::start_parts(
            tracer,
            name,
            Parent::Span(parent),
            kind,
            NO_ATTRIBUTES,
            None,
            None,
            None,
        )
    }

    /// Starts a span. The hot path of the crate.
    ///
    /// Always inlined into the entry points above, one per common shape, so
    /// that in each the parent's kind and the absent options are constants: a span with nothing given at start skips the attribute and
    /// link loops, a sampled-out root skips all but its ids (the figures are
    /// in BENCHMARKS.md, "Measurement history"). Inlining it into every
    /// call site instead measured the same but costs about 2 KiB of code
    /// per call site, which an application with many span sites pays in
    /// instruction cache.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn start_parts<A>(
        tracer: &AgentStepTracer,
        name: StringValue,
        parent: Parent<'_>,
        kind: SpanKind,
        attributes: Option<A>,
        links: Option<Vec<Link>>,
        start_time: Option<Timestamp>,
        start_mark: Option<StartMark>,
    ) -> Span
    where
        A: AsRef<[KeyValue]> + IntoIterator<Item = KeyValue>,
    {
        let inner: &TracerInner = &tracer.inner;

        // Resolve the parent; a trace id alone may name no parent span. A
        // parent given by reference is read in place, not copied.
        let resolved = match &parent {
            Parent::Current => current::current(),
            Parent::Trace(id) => current::find_in_trace(*id),
            _ => None,
        };
        let (parent, joined_trace) = match &parent {
            Parent::Current => (resolved.as_ref(), None),
            Parent::Trace(id) => (resolved.as_ref(), Some(*id)),
            Parent::Root => (None, None),
            Parent::Context(cx) => (Some(cx), None),
            Parent::Span(cx) => (Some(*cx), None),
        };
        let (trace_id, span_id) = match (parent, joined_trace) {
            (Some(p), _) => (p.trace_id, ids::new_span_id()),
            (None, Some(id)) => (id, ids::new_span_id()),
            (None, None) => ids::new_trace_and_span_id(),
        };
        // Code on the export path (see `suppress.rs`) records nothing.
        let decision = match inner.fixed_decisions[sampler::situation(parent)] {
            _ if crate::suppress::is_tracing_suppressed() => SamplingDecision::Drop,
            Some(fixed) => fixed,
            None => inner.sampler.should_sample(&SamplingParams {
                parent,
                trace_id,
                name: &name,
                kind,
                attributes: attributes.as_ref().map_or(&[], AsRef::as_ref),
            }),
        };
        let sampled = decision == SamplingDecision::RecordAndSample;
        // The context's parts, not a `SpanContext`: a recording span's is
        // written field by field into its data (a context built on the
        // stack and copied in was read back across its narrower stores
        // right away: failed store-to-load forwardings); only a span that
        // does not record builds one.
        let (trace_flags, parent_state, parent_span_id, parent_is_remote) = match parent {
            Some(p) => (
                p.trace_flags.with_sampled(sampled),
                Some(&p.trace_state),
                Some(p.span_id),
                p.is_remote,
            ),
            None => {
                let flags = TraceFlags::NONE.with_sampled(sampled);
                // A dropped root is not remembered: a span that later joins
                // its trace by id gets no parent id, and the samplers decide
                // for it as they did for the root (by trace id or the root
                // sampler), so it is dropped too.
                if decision != SamplingDecision::Drop {
                    current::remember_root(trace_id, span_id, flags);
                }
                (flags, None, None, false)
            }
        };
        if decision == SamplingDecision::Drop {
            return Span {
                live: std::mem::ManuallyDrop::new(None),
                non_recording: std::mem::ManuallyDrop::new(Some(SpanContext {
                    trace_id,
                    span_id,
                    trace_flags,
                    trace_state: parent_state.cloned().unwrap_or_default(),
                    is_remote: false,
                })),
            };
        }

        let start = start_mark.map_or_else(Tick::now, |m| m.0);
        let start_time = start_time.unwrap_or_else(|| start.timestamp());
        let mut data = Live::new(
            new_span_data(
                name,
                ContextParts {
                    trace_id,
                    span_id,
                    trace_flags,
                    trace_state: parent_state,
                },
                parent_span_id,
                parent_is_remote,
                kind,
                start_time,
            ),
            start,
            tracer.inner.handle(),
        );
        if let Some(attributes) = attributes {
            for kv in attributes {
                data.push_attribute(kv.key, kv.value);
            }
        }
        if let Some(links) = links {
            for link in links {
                push_link(&mut data, inner, link.context, link.attributes);
            }
        }
        for p in inner.processors.iter() {
            p.on_start(&data);
        }
        Span {
            live: std::mem::ManuallyDrop::new(Some(data)),
            non_recording: std::mem::ManuallyDrop::new(None),
        }
    }
}

/// A span that still records: its data, start reading and tracer.
///
/// The data is a [`UniqueSpan`] whose drop glue is one out-of-line call: a
/// bare allocation would put the whole of `SpanData`'s glue (attributes, events,
/// links, strings) into `Span`'s, which then grew too large to inline, and
/// every span's drop, sampled out or not, paid a call that saved and
/// restored six registers. Spans hand their data on when they end
/// ([`Live::into_parts`]), so this drop only runs for a span dropped during
/// a panic in a processor.
///
/// It also keeps a filter of the span's attribute keys (one bit per key,
/// [`StringValue::filter_bit`]): a key whose bit is not set is new, and is
/// appended without comparing it with every key already set, which with the
/// ten or so attributes of an agent span was most of the cost of setting
/// them. Invariant: every key in `data.attributes` has its bit in `keys`
/// (the attributes only grow, through [`Live::push_attribute`], from the
/// empty list of a new or blanked span).
struct Live {
    data: std::mem::ManuallyDrop<UniqueSpan>,
    keys: u64,
    /// The span clock's reading at start. A span's times are `start_time`
    /// plus span-clock time elapsed since this reading, so the end is never
    /// before the start, and an explicit start time still gets a measured
    /// duration.
    start: Tick,
    /// The tracer it delivers to when it ends: a count on this thread's
    /// replica of the tracer's settings (`TracerShared`; two locked
    /// instructions per span, on a cache line of this thread's; a borrow
    /// without a count saved about 4 ns of an `#[instrument]` call, at the
    /// price of a public `unsafe fn`).
    tracer: TracerHandle,
}

impl Live {
    #[inline]
    fn new(data: UniqueSpan, start: Tick, tracer: TracerHandle) -> Self {
        debug_assert!(data.attributes.is_empty(), "a span starts blank");
        Self {
            data: std::mem::ManuallyDrop::new(data),
            keys: 0,
            start,
            tracer,
        }
    }

    /// The data, start and tracer, without running this wrapper's drop.
    #[inline]
    fn into_parts(self) -> (UniqueSpan, Tick, TracerHandle) {
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `data` is taken out once.
        let data = unsafe { std::mem::ManuallyDrop::take(&mut this.data) };
        // SAFETY: likewise `tracer`, read out once and never dropped in
        // place.
        let tracer = unsafe { std::ptr::read(&this.tracer) };
        (data, this.start, tracer)
    }

    /// Sets one attribute under the span limits. Inlined into its callers:
    /// the span bench showed an out-of-line call paying store-forwarding
    /// stalls to pass the 56-byte key-value through memory.
    #[inline(always)]
    fn push_attribute(&mut self, key: Key, mut value: Value) {
        let tracer = &*self.tracer;
        if let Some(max) = tracer.limits.max_attribute_value_length {
            value.truncate(max);
        }
        let bit = key.filter_bit();
        if self.keys & bit != 0
            && let Some(existing) = self.data.attributes.iter_mut().find(|e| e.key == key)
        {
            existing.value = value;
            return;
        }
        let data = &mut **self.data;
        if data.attributes.len() < tracer.limits.max_attributes_per_span as usize {
            push_parts(&mut data.attributes, key, value);
            self.keys |= bit;
        } else {
            data.dropped_attributes_count = data.dropped_attributes_count.saturating_add(1);
        }
    }
}

/// Appends `key` and `value` as one attribute, each written straight into
/// the list's new entry.
///
/// `list.push(KeyValue { key, value })` built the pair in a stack
/// temporary first, its 24-byte key and 32-byte value stored with moves
/// that the copy into the list then read back across their seams (16-byte
/// loads over an 8-byte and a 16-byte store): two failed store-to-load
/// forwardings per attribute, about 20 ns of an `#[instrument]` call with
/// two fields in a timing loop of `benches/layer.rs` in `agent-trace`.
#[inline(always)]
fn push_parts(list: &mut Attributes, key: Key, value: Value) {
    if list.len() == list.capacity() {
        grow_by_one(list);
    }
    let len = list.len();
    // SAFETY: `len < capacity` (grown above): the offset stays inside the
    // allocation, at entry `len`, allocated and unused.
    let entry = unsafe { list.as_mut_ptr().add(len) };
    // SAFETY: `entry` points to an allocated entry (above); a raw place,
    // so no reference to the uninitialised entry is made.
    let key_place = unsafe { &raw mut (*entry).key };
    // SAFETY: as for the key.
    let value_place = unsafe { &raw mut (*entry).value };
    // SAFETY: the entry is unused (above), so nothing is overwritten.
    unsafe { key_place.write(key) };
    // SAFETY: as for the key.
    unsafe { value_place.write(value) };
    // SAFETY: both fields of entry `len` are written just above, and
    // nothing could unwind in between; `len + 1 <= capacity`.
    unsafe { list.set_len(len + 1) };
}

#[cold]
#[inline(never)]
fn grow_by_one(list: &mut Attributes) {
    list.reserve(1);
}

impl Drop for Live {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the box is taken out once, here, and the field is never
        // used again.
        drop_live(unsafe { std::mem::ManuallyDrop::take(&mut self.data) });
    }
}

/// Frees the data of a span dropped without ending (during a panic).
#[cold]
#[inline(never)]
fn drop_live(data: UniqueSpan) {
    drop(data);
}

impl std::ops::Deref for Live {
    type Target = SpanData;
    #[inline]
    fn deref(&self) -> &SpanData {
        &self.data
    }
}

impl std::ops::DerefMut for Live {
    #[inline]
    fn deref_mut(&mut self) -> &mut SpanData {
        &mut self.data
    }
}

/// A caller's list, read as a slice by the sampler and then drained.
struct Draining<'a>(&'a mut Vec<KeyValue>);

impl AsRef<[KeyValue]> for Draining<'_> {
    #[inline]
    fn as_ref(&self) -> &[KeyValue] {
        self.0
    }
}

impl<'a> IntoIterator for Draining<'a> {
    type Item = KeyValue;
    type IntoIter = std::vec::Drain<'a, KeyValue>;

    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.0.drain(..)
    }
}

/// Attributes a builder's list makes room for at its first: what an agent
/// span usually starts with (operation, provider, model and a few request
/// options).
const BUILDER_ATTRIBUTES: usize = 8;

/// No attributes at start, for the entry points that take none.
const NO_ATTRIBUTES: Option<Vec<KeyValue>> = None;

/// A span's data: a blank recycled span with its fields set (see
/// `pool.rs`), else a new allocation with its fields written in place.
///
/// `Box::new(SpanData { .. })` builds the value on the stack and copies its
/// ~430 bytes into the heap; writing each field into the allocation skips
/// that copy, which the span bench showed as the largest single cost.
#[inline(always)]
fn new_span_data(
    name: StringValue,
    context: ContextParts<'_>,
    parent_span_id: Option<SpanId>,
    parent_is_remote: bool,
    kind: SpanKind,
    start_time: Timestamp,
) -> UniqueSpan {
    if let Some(mut data) = crate::pool::take() {
        // Every field named, no `..`: a field added to `SpanData` does not
        // compile until it is written here or blanked by `pool::blank`
        // (which names every field too), so no span inherits a previous
        // span's data through a recycled allocation.
        let SpanData {
            name: data_name,
            context: data_context,
            parent_span_id: data_parent,
            parent_is_remote: data_parent_is_remote,
            kind: data_kind,
            start_time: data_start,
            end_time: data_end,
            // Blanked by `pool::blank`: empty, unset, zero.
            attributes: _,
            events: _,
            links: _,
            status: _,
            dropped_attributes_count: _,
            dropped_events_count: _,
            dropped_links_count: _,
            scope: _,
        } = &mut *data;
        // What these replace owns nothing (blanked).
        *data_name = name;
        data_context.trace_id = context.trace_id;
        data_context.span_id = context.span_id;
        data_context.trace_flags = context.trace_flags;
        data_context.is_remote = false;
        if let Some(state) = context.trace_state
            && !state.is_empty()
        {
            data_context.trace_state = state.clone();
        }
        *data_parent = parent_span_id;
        *data_parent_is_remote = parent_is_remote;
        *data_kind = kind;
        *data_start = start_time;
        *data_end = start_time;
        return data;
    }
    // A struct literal names every field, so a field added to `SpanData`
    // does not compile until it is written here. (Written field by field
    // into an uninitialised allocation it saved a copy of the struct, but
    // only on this path, taken when the pool has no allocation to reuse.)
    UniqueSpan::from_fresh(Arc::new(SpanData {
        name,
        context: SpanContext {
            trace_id: context.trace_id,
            span_id: context.span_id,
            trace_flags: context.trace_flags,
            trace_state: context.trace_state.cloned().unwrap_or_default(),
            is_remote: false,
        },
        parent_span_id,
        parent_is_remote,
        kind,
        start_time,
        end_time: start_time,
        attributes: Attributes::new(),
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        dropped_attributes_count: 0,
        dropped_events_count: 0,
        dropped_links_count: 0,
        scope: None,
    }))
}

/// A new span's own context, in parts (see `start_parts`): never remote,
/// and with its parent's trace state, if any.
struct ContextParts<'a> {
    trace_id: TraceId,
    span_id: SpanId,
    trace_flags: TraceFlags,
    trace_state: Option<&'a TraceState>,
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        // Checked here, inline: a span that does not record drops with this
        // comparison and its context's (an empty trace state owns nothing).
        if self.live.is_some() {
            self.release();
        } else if self
            .non_recording
            .as_ref()
            .is_some_and(|cx| !cx.trace_state.is_empty())
        {
            // SAFETY: dropped once, here, in the span's drop; never used
            // again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.non_recording) }
        }
    }
}

impl Span {
    /// Ends a recording span. Only called from `drop`; leaves nothing to
    /// drop (`live` is taken, `non_recording` is `None`).
    #[inline(never)]
    fn release(&mut self) {
        self.finish_inline(None);
        debug_assert!(self.live.is_none() && self.non_recording.is_none());
    }
}

fn push_event(
    data: &mut SpanData,
    tracer: &TracerInner,
    name: StringValue,
    timestamp: Timestamp,
    attributes: impl IntoAttributes,
) {
    let limits = &tracer.limits;
    push_bounded(
        &mut data.events,
        limits.max_events_per_span,
        &mut data.dropped_events_count,
        || {
            let (attributes, dropped) = limits.bound_list(
                attributes.into_attributes(),
                limits.max_attributes_per_event,
            );
            Event {
                name,
                timestamp,
                attributes,
                dropped_attributes_count: dropped,
            }
        },
    );
}

fn push_link(
    data: &mut SpanData,
    tracer: &TracerInner,
    context: SpanContext,
    attributes: impl IntoIterator<Item = KeyValue>,
) {
    let limits = &tracer.limits;
    push_bounded(
        &mut data.links,
        limits.max_links_per_span,
        &mut data.dropped_links_count,
        || {
            let (attributes, dropped) =
                limits.bound_list(attributes, limits.max_attributes_per_link);
            Link {
                context,
                attributes,
                dropped_attributes_count: dropped,
            }
        },
    );
}

/// Appends the item `make` builds, unless `list` already holds `max`; then
/// counts the refusal instead (and never builds the item).
fn push_bounded<T>(list: &mut Vec<T>, max: u32, dropped: &mut u32, make: impl FnOnce() -> T) {
    if list.len() < max as usize {
        list.push(make());
    } else {
        *dropped = dropped.saturating_add(1);
    }
}

/// A span that is current on this thread and ends when this guard drops.
///
/// Made by [`Span::entered`]; dereferences to the [`Span`]. Not `Send`: it
/// leaves the thread's current-span stack when dropped, so it must be dropped
/// where it was made. To carry a span across `.await` points that may resume
/// on another thread, keep the `Span` itself and enter it where needed.
#[derive(Debug)]
pub struct EnteredSpan {
    span: Span,
    guard: Option<ContextGuard>,
}

impl EnteredSpan {
    /// Leaves the span's scope without ending it.
    pub fn exit(mut self) -> Span {
        self.guard.take();
        std::mem::replace(
            &mut self.span,
            Span {
                live: std::mem::ManuallyDrop::new(None),
                non_recording: std::mem::ManuallyDrop::new(None),
            },
        )
    }

    /// Leaves the span's scope and ends the span.
    pub fn end(self) {
        drop(self);
    }
}

impl std::ops::Deref for EnteredSpan {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl std::ops::DerefMut for EnteredSpan {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl Drop for EnteredSpan {
    fn drop(&mut self) {
        // Leave the scope first, then the span ends as the field drops.
        self.guard.take();
    }
}

/// Which span a new span is a child of.
#[derive(Clone, Debug, Default)]
pub enum Parent<'a> {
    /// The span current on this thread, or none (a new trace) when there is
    /// none. The default.
    #[default]
    Current,
    /// No parent: the span starts a new trace.
    Root,
    /// An explicit parent, local or remote.
    Context(SpanContext),
    /// An explicit parent, borrowed (from a [`Span`] or a [`SpanContext`]):
    /// read in place when the child starts, not copied before.
    Span(&'a SpanContext),
    /// A span of this trace: the innermost span of that trace entered on this
    /// thread, else the trace's root if it was started on this thread
    /// recently, else no parent span (the span joins the trace at the top).
    Trace(TraceId),
}

impl<'a> From<&'a Span> for Parent<'a> {
    #[inline]
    fn from(span: &'a Span) -> Self {
        Parent::Span(span.span_context())
    }
}

impl<'a> From<&'a EnteredSpan> for Parent<'a> {
    #[inline]
    fn from(span: &'a EnteredSpan) -> Self {
        Parent::Span(span.span_context())
    }
}

impl From<SpanContext> for Parent<'_> {
    fn from(cx: SpanContext) -> Self {
        Parent::Context(cx)
    }
}

impl<'a> From<&'a SpanContext> for Parent<'a> {
    #[inline]
    fn from(cx: &'a SpanContext) -> Self {
        Parent::Span(cx)
    }
}

impl From<TraceId> for Parent<'_> {
    fn from(id: TraceId) -> Self {
        Parent::Trace(id)
    }
}

/// Options for a span before it starts: parent, kind, attributes, links,
/// start time.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, SpanKind};
///
/// let tracer = AgentStepTracer::new();
/// let trace = tracer
///     .trace_builder("agent_task")
///     .agent_id("agent-001")
///     .kind(SpanKind::Server)
///     .start();
/// let span = tracer.span_builder("llm_call").trace_id(trace.trace_id()).start();
/// assert_eq!(span.trace_id(), trace.trace_id());
/// ```
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct SpanBuilder<'a> {
    tracer: &'a AgentStepTracer,
    name: StringValue,
    parent: Parent<'a>,
    kind: SpanKind,
    /// `None` until an attribute is given: dropping `None` is one
    /// comparison, where dropping even an empty `Vec` calls its drop glue, a
    /// cost the sampled-out span bench showed.
    attributes: Option<Vec<KeyValue>>,
    /// The options few spans use, boxed: they would make the builder 176
    /// bytes, beyond what the compiler moves in registers, and every
    /// builder method (which takes and returns the builder) then copied it
    /// with a `memcpy` call. 120 bytes are moved inline or not at all.
    extra: Option<Box<Extra>>,
}

/// The rarely given options of a [`SpanBuilder`].
#[derive(Debug, Default)]
struct Extra {
    links: Option<Vec<Link>>,
    start_time: Option<Timestamp>,
    start_mark: Option<StartMark>,
    scope: Option<Arc<InstrumentationScope>>,
}

impl<'a> SpanBuilder<'a> {
    #[inline(always)]
    pub(crate) fn new(tracer: &'a AgentStepTracer, name: StringValue, parent: Parent<'a>) -> Self {
        Self {
            tracer,
            name,
            parent,
            kind: SpanKind::Internal,
            attributes: None,
            extra: None,
        }
    }

    /// The parent: a [`Span`], a [`SpanContext`], a [`TraceId`], or a
    /// [`Parent`].
    #[inline(always)]
    pub fn parent(mut self, parent: impl Into<Parent<'a>>) -> Self {
        self.parent = parent.into();
        self
    }

    /// Joins the trace with this id (see [`Parent::Trace`]).
    #[inline]
    pub fn trace_id(self, trace_id: TraceId) -> Self {
        self.parent(Parent::Trace(trace_id))
    }

    /// Starts a new trace whatever is current.
    #[inline]
    pub fn root(self) -> Self {
        self.parent(Parent::Root)
    }

    /// The span's kind (default internal).
    #[inline]
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// An attribute known at start; samplers see it. A repeated key replaces
    /// the earlier value. Keys and values are those of
    /// [`Span::set_attribute`]; a `None` sets nothing.
    #[inline]
    pub fn attribute(mut self, key: impl Into<Key>, value: impl IntoAttributeValue) -> Self {
        let Some(value) = value.into_attribute_value() else {
            return self;
        };
        let kv = KeyValue::new(key, value);
        // Room for the attributes a span usually starts with: a list grown
        // from empty reallocates at the fifth (callgrind, the agent
        // workload bench's plain spans).
        let attributes = self
            .attributes
            .get_or_insert_with(|| Vec::with_capacity(BUILDER_ATTRIBUTES));
        if let Some(existing) = attributes.iter_mut().find(|e| e.key == kv.key) {
            existing.value = kv.value;
        } else {
            attributes.push(kv);
        }
        self
    }

    /// Several attributes known at start: a list as
    /// [`Span::add_event`] takes it ([`IntoAttributes`]).
    pub fn attributes(mut self, attributes: impl IntoAttributes) -> Self {
        let attributes = attributes.into_attributes();
        // In place: moving the builder per attribute copies it each time.
        match &mut self.attributes {
            None => {
                // A `Vec` of `KeyValue`s given whole is kept as is
                // (collecting a `vec::IntoIter`, mapped by the identity
                // conversion, reuses its buffer); repeated keys, rare, are
                // folded afterwards, the last value winning.
                let mut list: Vec<KeyValue> = attributes.into_iter().collect();
                fold_repeated_keys(&mut list);
                self.attributes = Some(list);
            }
            Some(list) => {
                for kv in attributes {
                    if let Some(existing) = list.iter_mut().find(|e| e.key == kv.key) {
                        existing.value = kv.value;
                    } else {
                        list.push(kv);
                    }
                }
            }
        }
        self
    }

    /// The agent this trace or span belongs to, recorded as
    /// `gen_ai.agent.id` (the reference's `agent_id=`).
    #[inline]
    pub fn agent_id(self, agent_id: impl Into<Value>) -> Self {
        self.attribute(Key::from_static(AGENT_ID), agent_id)
    }

    /// A link to another span, with a list of attributes as
    /// [`Span::add_event`] takes it (`[]` for none).
    pub fn link(mut self, context: SpanContext, attributes: impl IntoAttributes) -> Self {
        let extra = self.extra.get_or_insert_default();
        extra.links.get_or_insert_with(Vec::new).push(Link {
            context,
            attributes: attributes.into_attributes().collect(),
            dropped_attributes_count: 0,
        });
        self
    }

    /// The library recording the span, when it is not the application
    /// itself (see [`InstrumentationScope`]); default none, which exporters
    /// write as agent-trace's own scope.
    pub fn scope(mut self, scope: Arc<InstrumentationScope>) -> Self {
        self.extra.get_or_insert_default().scope = Some(scope);
        self
    }

    /// An explicit start time (default: now).
    #[inline]
    pub fn start_time(mut self, start_time: impl Into<Timestamp>) -> Self {
        self.extra.get_or_insert_default().start_time = Some(start_time.into());
        self
    }

    /// Starts the span as if at `mark`: its start time is that moment and
    /// its duration is measured from it (an explicit
    /// [`start_time`](Self::start_time) still wins for the start time).
    #[inline]
    pub fn started_at(mut self, mark: StartMark) -> Self {
        self.extra.get_or_insert_default().start_mark = Some(mark);
        self
    }

    /// Starts the span.
    #[inline(always)]
    pub fn start(self) -> Span {
        // Inlined so that the builder is taken apart at the call site and
        // the common shapes go straight to their specialised starts. Taken
        // apart first, into locals: reading the fields of `self` kept the
        // whole builder in memory, copied at each builder method with
        // 16-byte loads of fields just stored narrower (store-forwarding
        // stalls; see BENCHMARKS.md, "Measurement history").
        let SpanBuilder {
            tracer,
            name,
            parent,
            kind,
            attributes,
            extra,
        } = self;
        if attributes.is_none() && extra.is_none() {
            match parent {
                Parent::Span(cx) => return Span::start_child(tracer, name, cx, kind),
                Parent::Current => return Span::start_current(tracer, name, kind),
                Parent::Root => return Span::start_root(tracer, name, kind),
                Parent::Context(_) | Parent::Trace(_) => {}
            }
        }
        Span::start_general(tracer, name, parent, kind, attributes, extra)
    }
}
