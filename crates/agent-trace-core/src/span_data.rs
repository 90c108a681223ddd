//! The span model: what a finished span carries to processors and exporters.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use agent_trace_propagation::{SpanContext, SpanId};

use crate::attr::{KeyValue, StringValue, Value};
use crate::clock::Timestamp;
use crate::error::TraceError;

/// The attributes of a span. Up to four are stored inline, without allocation.
pub type Attributes = smallvec::SmallVec<[KeyValue; 4]>;

/// The role of a span in a trace, as in OpenTelemetry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// Work inside one process (the default).
    #[default]
    Internal,
    /// An outgoing request (an LLM API call, a tool's HTTP call).
    Client,
    /// The handling of an incoming request.
    Server,
    /// The sending side of an asynchronous message.
    Producer,
    /// The receiving side of an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// The lowercase name (`"internal"`, `"client"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Client => "client",
            SpanKind::Server => "server",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpanKind {
    type Err = TraceError;

    /// Parses a kind name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, TraceError> {
        const KINDS: [SpanKind; 5] = [
            SpanKind::Internal,
            SpanKind::Client,
            SpanKind::Server,
            SpanKind::Producer,
            SpanKind::Consumer,
        ];
        KINDS
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| TraceError::UnknownSpanKind(s.to_owned()))
    }
}

/// The outcome of a span.
///
/// The reference's words are accepted when parsing: `"success"` (or `"ok"`)
/// and `"error"`.
///
/// ```
/// use agent_trace_core::Status;
///
/// assert_eq!("success".parse::<Status>()?, Status::Ok);
/// assert_eq!(Status::error("rate limited").to_string(), "error: rate limited");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not set by the application (the default).
    #[default]
    Unset,
    /// Completed successfully.
    Ok,
    /// Failed, with a description.
    Error {
        /// What went wrong; may be empty.
        description: StringValue,
    },
}

impl Status {
    /// An error status with this description.
    pub fn error(description: impl Into<StringValue>) -> Self {
        Status::Error {
            description: description.into(),
        }
    }

    /// A status from the reference's vocabulary, with a message used when the
    /// name is `error`.
    ///
    /// # Errors
    /// [`TraceError::UnknownStatus`] for any name but `unset`, `ok`,
    /// `success` and `error` (ASCII case ignored).
    pub fn from_name(name: &str, message: impl Into<StringValue>) -> Result<Self, TraceError> {
        let status = name.parse::<Status>()?;
        Ok(match status {
            Status::Error { .. } => Status::error(message),
            other => other,
        })
    }

    /// Whether this is an error status.
    pub fn is_error(&self) -> bool {
        matches!(self, Status::Error { .. })
    }
}

impl FromStr for Status {
    type Err = TraceError;

    fn from_str(s: &str) -> Result<Self, TraceError> {
        if s.eq_ignore_ascii_case("ok") || s.eq_ignore_ascii_case("success") {
            Ok(Status::Ok)
        } else if s.eq_ignore_ascii_case("error") {
            Ok(Status::error(StringValue::from_static("")))
        } else if s.eq_ignore_ascii_case("unset") {
            Ok(Status::Unset)
        } else {
            Err(TraceError::UnknownStatus(s.to_owned()))
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Unset => f.write_str("unset"),
            Status::Ok => f.write_str("ok"),
            Status::Error { description } if description.is_empty() => f.write_str("error"),
            Status::Error { description } => write!(f, "error: {description}"),
        }
    }
}

/// What [`Span::set_status`](crate::Span::set_status) takes: a [`Status`],
/// or the reference's words for one.
///
/// - A [`Status`] cannot be wrong: `set_status` returns `()`.
/// - A name, `&str` or `String` (`"success"` or `"ok"`, `"error"`,
///   `"unset"`, ASCII case ignored), or a name and a description,
///   `("error", message)` (the description is kept for an error only, as
///   in OpenTelemetry): a name may be misspelt, so `set_status` returns a
///   `Result`, [`TraceError::UnknownStatus`] naming the accepted words, and
///   leaves the status as it was. The `Result` must be used: `?` it, or
///   `.expect()` a name written in the code.
///
/// The output type says which: a typed status stays a plain statement, a
/// name cannot be ignored by accident, and a misspelt name is never
/// silently a default.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, Status};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tracer = AgentStepTracer::new();
/// let mut span = tracer.start_span("tool_execution");
/// span.set_status("success")?;
/// span.set_status(("error", "rate limited"))?;
/// span.set_status(Status::Ok);
/// let err = span.set_status("succes").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"unknown span status "succes" (expected unset, ok, success or error)"#
/// );
/// # Ok(())
/// # }
/// ```
///
/// A number or any other type is not a status:
///
/// ```compile_fail
/// # let tracer = agent_trace_core::AgentStepTracer::new();
/// # let mut span = tracer.start_span("tool_execution");
/// // An HTTP code is not a span status: OpenTelemetry maps 5xx to an
/// // error and leaves the rest unset, which the caller decides.
/// span.set_status(500);
/// ```
///
/// ```compile_fail
/// use agent_trace_core::Status;
/// // A boolean does not say which of three statuses it means.
/// let status: Status = true.into();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a span status",
    label = "expected a `Status`, a status name or a `(name, description)` pair",
    note = "a status is `Status::Ok`, `Status::error(description)`, `Status::Unset`, or one of \
            the names \"success\"/\"ok\", \"error\" and \"unset\", alone or as \
            `(\"error\", description)`; a name needs no `.parse()` first (or, parsed, \
            `.parse::<Status>()?`)"
)]
pub trait IntoStatus {
    /// What `set_status` returns: `()` for a [`Status`], `Result<(),
    /// TraceError>` for a name.
    type Output;

    /// Resolves the status and, when there is one, hands it to `set`.
    fn apply(self, set: impl FnOnce(Status)) -> Self::Output;
}

impl IntoStatus for Status {
    type Output = ();

    #[inline]
    fn apply(self, set: impl FnOnce(Status)) {
        set(self);
    }
}

impl IntoStatus for &str {
    type Output = Result<(), TraceError>;

    fn apply(self, set: impl FnOnce(Status)) -> Result<(), TraceError> {
        set(self.parse()?);
        Ok(())
    }
}

impl IntoStatus for String {
    type Output = Result<(), TraceError>;

    fn apply(self, set: impl FnOnce(Status)) -> Result<(), TraceError> {
        self.as_str().apply(set)
    }
}

impl IntoStatus for &String {
    type Output = Result<(), TraceError>;

    fn apply(self, set: impl FnOnce(Status)) -> Result<(), TraceError> {
        self.as_str().apply(set)
    }
}

/// A name and a description, as [`Status::from_name`] reads them.
impl<N: AsRef<str>, M: Into<StringValue>> IntoStatus for (N, M) {
    type Output = Result<(), TraceError>;

    fn apply(self, set: impl FnOnce(Status)) -> Result<(), TraceError> {
        set(Status::from_name(self.0.as_ref(), self.1)?);
        Ok(())
    }
}

/// Something that happened at one moment during a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened (`"thinking_started"`, `"exception"`, or an annotation's text).
    pub name: StringValue,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Details.
    pub attributes: Vec<KeyValue>,
    /// Attributes refused by the per-event limit.
    pub dropped_attributes_count: u32,
}

impl Event {
    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        find(&self.attributes, key)
    }
}

/// A reference from a span to a span of another (or the same) trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The linked span.
    pub context: SpanContext,
    /// Details of the link.
    pub attributes: Vec<KeyValue>,
    /// Attributes refused by the per-link limit.
    pub dropped_attributes_count: u32,
}

/// The library that recorded a span: OpenTelemetry's instrumentation scope
/// (a name, such as a crate's, with an optional version, schema URL and
/// attributes).
///
/// A span without one ([`SpanData::scope`] `None`) was recorded through
/// agent-trace's own API, and exporters give it agent-trace's scope. Spans
/// started through the OpenTelemetry API bridge carry their tracer's
/// scope, which OTLP exports as the `ScopeSpans` they are grouped in, and
/// Zipkin and Jaeger as the `otel.scope.name` and `otel.scope.version`
/// tags. One scope is shared by all the spans of a tracer
/// (`Arc<InstrumentationScope>`).
///
/// ```
/// use std::sync::Arc;
/// use agent_trace_core::{AgentStepTracer, InstrumentationScope};
///
/// let scope = Arc::new(InstrumentationScope::new("vector-store-client").with_version("0.4.1"));
/// let tracer = AgentStepTracer::new();
/// let span = tracer.span_builder("query").scope(scope.clone()).start();
/// let trace_id = span.trace_id();
/// span.end();
/// let trace = tracer.store().unwrap().trace(trace_id).unwrap();
/// assert_eq!(trace.spans()[0].scope, Some(scope));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentationScope {
    /// The library's name, such as `"vector-store-client"`.
    pub name: StringValue,
    /// The library's version.
    pub version: Option<StringValue>,
    /// The schema URL of the attributes the library writes.
    pub schema_url: Option<StringValue>,
    /// Attributes of the scope itself.
    pub attributes: Vec<KeyValue>,
}

impl InstrumentationScope {
    /// A scope with a name and nothing else.
    pub fn new(name: impl Into<StringValue>) -> Self {
        Self {
            name: name.into(),
            version: None,
            schema_url: None,
            attributes: Vec::new(),
        }
    }

    /// The scope with a version.
    #[must_use]
    pub fn with_version(mut self, version: impl Into<StringValue>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The scope with a schema URL.
    #[must_use]
    pub fn with_schema_url(mut self, schema_url: impl Into<StringValue>) -> Self {
        self.schema_url = Some(schema_url.into());
        self
    }

    /// The scope with attributes of its own.
    #[must_use]
    pub fn with_attributes(mut self, attributes: impl crate::attr::IntoAttributes) -> Self {
        self.attributes = attributes.into_attributes().collect();
        self
    }
}

/// All that is known of a span: what processors receive when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanData {
    /// The operation name, such as `"llm_call"`.
    pub name: StringValue,
    /// Ids, flags and trace state.
    pub context: SpanContext,
    /// The parent's id, `None` for the root span of a trace.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent came from another process.
    pub parent_is_remote: bool,
    /// The span's role.
    pub kind: SpanKind,
    /// When the span started (wall clock).
    pub start_time: Timestamp,
    /// When the span ended; never before `start_time`. While the span is live
    /// this equals `start_time`.
    pub end_time: Timestamp,
    /// Typed attributes, at most one per key.
    pub attributes: Attributes,
    /// Events in the order they were added.
    pub events: Vec<Event>,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// The outcome.
    pub status: Status,
    /// Attributes refused by the span limits.
    pub dropped_attributes_count: u32,
    /// Events refused by the span limits.
    pub dropped_events_count: u32,
    /// Links refused by the span limits.
    pub dropped_links_count: u32,
    /// The library that recorded the span, when it is not agent-trace's
    /// own API (see [`InstrumentationScope`]).
    pub scope: Option<Arc<InstrumentationScope>>,
}

impl SpanData {
    /// Hints the processor to load this span into the cache: for an
    /// exporter going through a batch of spans that ended a while ago (cold
    /// in the cache), a few spans ahead of the one it encodes. Not part of
    /// the API (no effect on what the span holds; nothing elsewhere than on
    /// x86_64).
    #[doc(hidden)]
    #[inline]
    pub fn prefetch(&self) {
        crate::pool::prefetch_bytes(std::ptr::from_ref(self).cast(), std::mem::size_of::<Self>());
    }

    /// Hints the processor to load this span's attribute list, when it is
    /// not inside the span (more than a few attributes): for an exporter,
    /// once [`prefetch`](Self::prefetch) had time to bring the span in. Not
    /// part of the API.
    #[doc(hidden)]
    #[inline]
    pub fn prefetch_attributes(&self) {
        if self.attributes.spilled() {
            crate::pool::prefetch_bytes(
                self.attributes.as_ptr().cast(),
                self.attributes.len() * std::mem::size_of::<KeyValue>(),
            );
        }
    }

    /// `end_time - start_time`.
    pub fn duration(&self) -> Duration {
        self.end_time.saturating_duration_since(self.start_time)
    }

    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        find(&self.attributes, key)
    }
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// A span that has ended, shared by the processors that received it.
///
/// It dereferences to [`SpanData`]. Moving it moves one pointer, so handing
/// it to a queue costs no copy of its attributes, and cloning it (what the
/// tracer does when several processors keep finished spans: an exporter's
/// queue and the in-memory store, say) shares the data behind a reference
/// count rather than copying it. When the last holder drops it, its
/// contents are dropped and its allocation is kept for a later span (a
/// bounded per-thread cache, see the crate's performance notes).
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedSpan(ManuallyDrop<Arc<SpanData>>);

impl Drop for FinishedSpan {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the handle is taken out once, here, and the field is
        // never used again.
        let shared = unsafe { ManuallyDrop::take(&mut self.0) };
        // The last holder recycles the allocation; the others only let go.
        if let Ok(unique) = UniqueSpan::try_from_shared(shared) {
            crate::pool::recycle(unique);
        }
    }
}

impl FinishedSpan {
    /// Wraps span data, for exporters' and processors' own tests and for
    /// spans read back from storage. `end_time` is raised to `start_time` when
    /// it is earlier.
    pub fn new(mut data: SpanData) -> Self {
        if data.end_time < data.start_time {
            data.end_time = data.start_time;
        }
        Self(ManuallyDrop::new(Arc::new(data)))
    }

    /// Wraps the data of a span that just ended.
    #[inline]
    pub(crate) fn from_unique(data: UniqueSpan) -> Self {
        Self(ManuallyDrop::new(data.into_shared()))
    }

    /// The span data, by value: moved out when this is its only holder,
    /// copied when other holders share it.
    pub fn into_data(self) -> SpanData {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the handle is taken out once.
        let shared = unsafe { ManuallyDrop::take(&mut this.0) };
        Arc::try_unwrap(shared).unwrap_or_else(|shared| SpanData::clone(&shared))
    }

    /// Whether `self` and `other` are the same finished span, shared (not
    /// two equal copies).
    pub fn shares_data_with(&self, other: &FinishedSpan) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for FinishedSpan {
    type Target = SpanData;
    #[inline]
    fn deref(&self) -> &SpanData {
        &self.0
    }
}

/// One span's allocation with a single holder, written through: the
/// allocation of an `Arc<SpanData>` whose count is one (no `Weak` is ever
/// made of it), so that when the span ends it is shared among processors as
/// a [`FinishedSpan`] without a copy, and when the last of them lets go it
/// comes back, unique again, for a new span (`pool.rs`).
pub(crate) struct UniqueSpan(NonNull<SpanData>);

// SAFETY: a `UniqueSpan` owns its `SpanData` exclusively, as a
// `Box<SpanData>` would, and `SpanData` is `Send` and `Sync` (checked at
// compile time below).
unsafe impl Send for UniqueSpan {}
// SAFETY: as above; `&UniqueSpan` only gives `&SpanData`.
unsafe impl Sync for UniqueSpan {}

/// The premise of the two impls above, checked: a field that is not
/// `Send` or not `Sync` added to `SpanData` fails to compile here instead
/// of making `UniqueSpan`'s impls unsound.
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<SpanData>();
};

impl UniqueSpan {
    /// A new allocation holding `data`.
    #[cfg(test)]
    pub(crate) fn new(data: SpanData) -> Self {
        Self::from_fresh(Arc::new(data))
    }

    /// From an `Arc` that nothing else holds.
    #[inline]
    pub(crate) fn from_fresh(shared: Arc<SpanData>) -> Self {
        debug_assert_eq!(Arc::strong_count(&shared), 1);
        debug_assert_eq!(Arc::weak_count(&shared), 0);
        // SAFETY: `Arc::into_raw` never returns null.
        Self(unsafe { NonNull::new_unchecked(Arc::into_raw(shared).cast_mut()) })
    }

    /// Takes the allocation back when `shared` is its only holder.
    ///
    /// A load of the count and a fence, where `Arc::get_mut` (which must
    /// also rule out `Weak` handles, of which these allocations never have
    /// any: neither this type nor [`FinishedSpan`] lets one be made) takes a
    /// locked compare-and-swap: the span bench saw that on every span.
    #[inline]
    pub(crate) fn try_from_shared(shared: Arc<SpanData>) -> Result<Self, Arc<SpanData>> {
        if Arc::strong_count(&shared) == 1 {
            // Other holders' last reads happen before their decrements
            // (release), which this acquire fence orders before our writes,
            // as `Arc`'s own drop does before freeing.
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            Ok(Self::from_fresh(shared))
        } else {
            Err(shared)
        }
    }

    /// The allocation as a shareable `Arc`.
    #[inline]
    pub(crate) fn into_shared(self) -> Arc<SpanData> {
        let this = ManuallyDrop::new(self);
        // SAFETY: the pointer came from `Arc::into_raw` and is given back
        // once (`this` is never dropped).
        unsafe { Arc::from_raw(this.0.as_ptr()) }
    }
}

impl Deref for UniqueSpan {
    type Target = SpanData;
    #[inline]
    fn deref(&self) -> &SpanData {
        // SAFETY: the pointer is valid while `self` lives, and no one else
        // holds the allocation.
        unsafe { self.0.as_ref() }
    }
}

impl DerefMut for UniqueSpan {
    #[inline]
    fn deref_mut(&mut self) -> &mut SpanData {
        // SAFETY: as in `deref`; `&mut self` is the only way in.
        unsafe { self.0.as_mut() }
    }
}

impl Drop for UniqueSpan {
    fn drop(&mut self) {
        // SAFETY: as in `into_shared`; `self` is never used again.
        drop(unsafe { Arc::from_raw(self.0.as_ptr()) });
    }
}

/// Bounds on what one span may hold, as in OpenTelemetry's span limits.
///
/// What a limit refuses is counted on the span
/// ([`SpanData::dropped_attributes_count`] and its siblings), never lost
/// without a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Most attributes on one span (default 128).
    pub max_attributes_per_span: u32,
    /// Most events on one span (default 128).
    pub max_events_per_span: u32,
    /// Most links on one span (default 128).
    pub max_links_per_span: u32,
    /// Most attributes on one event (default 128).
    pub max_attributes_per_event: u32,
    /// Most attributes on one link (default 128).
    pub max_attributes_per_link: u32,
    /// Longest string attribute value in bytes, cut on a character boundary
    /// (default: no limit, as in OpenTelemetry).
    pub max_attribute_value_length: Option<usize>,
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self {
            max_attributes_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attributes_per_event: 128,
            max_attributes_per_link: 128,
            max_attribute_value_length: None,
        }
    }
}

impl SpanLimits {
    /// Applies the per-event or per-link attribute limits to a list.
    /// Returns the kept attributes and how many were dropped.
    pub(crate) fn bound_list(
        &self,
        attributes: impl IntoIterator<Item = KeyValue>,
        max: u32,
    ) -> (Vec<KeyValue>, u32) {
        // Collected whole, then bounded in place: a `Vec` given (as the
        // OpenTelemetry API gives its lists) keeps its buffer, an array is
        // one allocation of its size, and nothing grows a list push by push.
        let mut kept: Vec<KeyValue> = attributes.into_iter().collect();
        fold_repeated_keys(&mut kept);
        let dropped = kept.len().saturating_sub(max as usize);
        kept.truncate(max as usize);
        if let Some(len) = self.max_attribute_value_length {
            for kv in &mut kept {
                kv.value.truncate(len);
            }
        }
        (kept, u32::try_from(dropped).unwrap_or(u32::MAX))
    }
}

/// Folds repeated keys of `list` into their first position, the last value
/// winning. A key is compared with the earlier ones only when its filter
/// bit ([`StringValue::filter_bit`]) is among theirs: the ten or so
/// distinct keys of a GenAI span are mostly not compared at all, where
/// comparing every pair cost about 280 instructions per span.
pub(crate) fn fold_repeated_keys(list: &mut Vec<KeyValue>) {
    let mut seen = 0u64;
    let mut i = 0;
    while i < list.len() {
        let bit = list[i].key.filter_bit();
        if seen & bit != 0
            && let Some(first) = list[..i].iter().position(|e| e.key == list[i].key)
        {
            let later = list.remove(i);
            list[first].value = later.value;
            continue;
        }
        seen |= bit;
        i += 1;
    }
}
