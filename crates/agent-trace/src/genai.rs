//! Typed helpers for the three spans an agent produces, shaped as the
//! OpenTelemetry GenAI semantic conventions say: an LLM call
//! ([`chat`]), a tool execution ([`execute_tool`]) and an agent invocation
//! ([`invoke_agent`]).
//!
//! # Why helpers, not attribute names alone
//!
//! A backend that understands GenAI spans (Jaeger, Tempo, Langfuse,
//! Phoenix, Datadog...) finds them by name, kind and attributes. Setting
//! them by hand invites `"model"` where `gen_ai.request.model` was meant, a
//! span name that is not `chat {model}`, or an error with no `error.type`.
//! Here what the conventions require is a constructor argument, what they
//! recommend is a method, and the name, kind and required attributes are
//! set before the span starts, so samplers see them (the conventions ask
//! for that). The names themselves are in [`semconv`].
//!
//! | helper | span name | kind |
//! |---|---|---|
//! | [`chat`] | `chat {model}` | client; internal with [`ChatBuilder::in_process`] |
//! | [`execute_tool`] | `execute_tool {tool}` | internal |
//! | [`invoke_agent`] | `invoke_agent {agent}` | internal (in-process agent); client with [`InvokeAgentBuilder::remote`] |
//!
//! # Metrics
//!
//! When one of these spans ends it records its duration into the
//! `gen_ai_client_operation_duration_seconds` histogram, and the tokens of
//! [`ChatSpan::record_usage`] (or [`AgentSpan::record_usage`]) into
//! `gen_ai_client_token_usage`, once per token type, through the
//! [`metrics`](https://docs.rs/metrics) facade. The Prometheus recorder of
//! `agent-trace-metrics` (feature `prometheus`) buckets them with the
//! boundaries the conventions give
//! ([`metric::OPERATION_DURATION_BUCKETS`],
//! [`metric::TOKEN_USAGE_BUCKETS`]).
//! Metrics are recorded whether or not the span was sampled: they count
//! every call. Labels are the operation, the provider and the requested
//! model, plus `error_type` for a failed operation; the response model is
//! left off, as it would multiply the series by every dated model version.
//! Token usage is recorded per operation, so an agent's tokens and those of
//! the chat calls inside it are both counted: sum by
//! `gen_ai_operation_name`, not across it.
//!
//! # Content capture
//!
//! Prompts, completions and tool arguments are "likely to contain sensitive
//! information including user/PII data", and the conventions say they
//! "SHOULD NOT" be captured by default. Here they cannot be: the methods
//! that take content ([`ChatSpan::record_input_messages`],
//! [`ToolSpan::record_arguments`], ...) do nothing unless the span was
//! built with a [`ContentCapture`] made by
//! [`ContentCapture::with_redaction`], and that constructor requires the
//! redaction hook that every text passes through before it is recorded. To
//! record text unchanged, the hook has to say so (`|s| s.to_owned()`).
//! Content is recorded as the JSON string attributes `gen_ai.input.messages`
//! and `gen_ai.output.messages`, in the conventions' message schemas (our
//! attribute values have no structured form, and the conventions ask for a
//! JSON string then).
//!
//! # Performance
//!
//! An LLM call takes hundreds of milliseconds, so these helpers spend
//! freely next to the core's span path: the span name is formatted, the
//! label values are copied, and each metric is looked up in the recorder on
//! every end rather than through handles cached per label set.
//!
//! ```
//! use agent_trace::AgentStepTracer;
//! use agent_trace::genai::{self, Message, OutputMessage};
//! use agent_trace::semconv::{finish_reason, provider_name};
//!
//! let tracer = AgentStepTracer::new();
//! let agent = genai::invoke_agent(&tracer, provider_name::OPENAI, "Math Tutor")
//!     .agent_id("asst_5j66")
//!     .start();
//! {
//!     let mut call = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o")
//!         .parent(agent.span())
//!         .temperature(0.2)
//!         .start();
//!     call.record_input_messages(&[Message::user("What is 7 * 6?")]); // off: nothing recorded
//!     // ... the request ...
//!     call.set_response_model("gpt-4o-2024-08-06");
//!     call.record_usage(12, 3);
//!     call.set_finish_reasons([finish_reason::STOP]);
//!     call.record_output_messages(&[OutputMessage::new("42", finish_reason::STOP)]);
//! }
//! let mut tool = genai::execute_tool(&tracer, "calculator")
//!     .parent(agent.span())
//!     .call_id("call_1")
//!     .start();
//! tool.fail("timeout", "calculator did not answer in 5 s");
//! tool.end();
//! agent.end();
//! ```

use std::error::Error;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Instant;

use ::metrics::Label;
use agent_trace_core::{
    AgentStepTracer, Key, Parent, Span, SpanBuilder, SpanKind, Status, StringValue, Value,
};

use crate::semconv::metric::{self, label};
use crate::semconv::{self, operation_name, token_type};

/// The redaction hook's type.
type Redact = dyn Fn(&str) -> String + Send + Sync;

/// Whether prompt, completion and tool content is recorded, and how it is
/// redacted first.
///
/// Off by default ([`ContentCapture::off`], [`Default`]). The only way to
/// turn it on is [`ContentCapture::with_redaction`], which takes the hook
/// every text passes through before it reaches a span, so content is never
/// recorded without the user opting in and choosing what leaves. Cloning
/// is cheap (the hook is shared): keep one in the application's state and
/// give it to each helper with `capture_content`.
///
/// ```
/// use agent_trace::genai::ContentCapture;
///
/// let capture = ContentCapture::with_redaction(|text| text.replace("sk-live-123", "[key]"));
/// assert!(capture.is_enabled());
/// assert!(!ContentCapture::default().is_enabled());
/// ```
#[derive(Clone, Default)]
pub struct ContentCapture(Option<Arc<Redact>>);

impl ContentCapture {
    /// No content is recorded (the default).
    pub const fn off() -> Self {
        Self(None)
    }

    /// Content is recorded, each text after `redact` rewrote it (to mask
    /// e-mail addresses, keys, names...). The hook runs on the application's
    /// thread, and only for spans that record.
    pub fn with_redaction(redact: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(redact)))
    }

    /// Whether content is recorded.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for ContentCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_enabled() {
            "ContentCapture(with_redaction)"
        } else {
            "ContentCapture(off)"
        })
    }
}

/// Who wrote a message, as the conventions' message schemas name roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// The schema's name: `system`, `user`, `assistant` or `tool`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message sent to the model: its role and its text. Recorded, when
/// content capture is on, as `{"role":..,"parts":[{"type":"text","content":..}]}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: &'a str,
}

impl<'a> Message<'a> {
    /// A message with this role.
    pub const fn new(role: Role, content: &'a str) -> Self {
        Self { role, content }
    }

    /// A system message.
    pub const fn system(content: &'a str) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub const fn user(content: &'a str) -> Self {
        Self::new(Role::User, content)
    }

    /// A message the model wrote earlier in the conversation.
    pub const fn assistant(content: &'a str) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A tool's result, sent back to the model.
    pub const fn tool(content: &'a str) -> Self {
        Self::new(Role::Tool, content)
    }
}

/// One response (choice) of the model: its text and why generation
/// stopped. Recorded, when content capture is on, as an `assistant`
/// message with a text part and its `finish_reason`, which the output
/// schema requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputMessage<'a> {
    /// The text.
    pub content: &'a str,
    /// Why generation stopped; see
    /// [`semconv::finish_reason`].
    pub finish_reason: &'a str,
}

impl<'a> OutputMessage<'a> {
    /// A response and its finish reason.
    pub const fn new(content: &'a str, finish_reason: &'a str) -> Self {
        Self {
            content,
            finish_reason,
        }
    }
}

/// Starts describing an LLM call: a `chat {model}` span of kind client
/// with `gen_ai.operation.name = chat`, `gen_ai.provider.name` and
/// `gen_ai.request.model`.
///
/// `provider` is the provider as the application knows it (see
/// [`semconv::provider_name`] for the
/// well-known values); `model` the model requested, exactly as sent.
///
/// ```
/// use agent_trace::AgentStepTracer;
/// use agent_trace::genai;
///
/// let tracer = AgentStepTracer::new();
/// let mut call = genai::chat(&tracer, "openai", "gpt-4o").max_tokens(256).start();
/// call.record_usage(100, 180);
/// call.set_finish_reasons(["stop"]);
/// call.end(); // also records the duration and token metrics
/// ```
pub fn chat<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    model: impl Into<StringValue>,
) -> ChatBuilder<'a> {
    let provider = provider.into();
    let model = model.into();
    let span = tracer
        .span_builder(format!("{} {model}", operation_name::CHAT))
        .kind(SpanKind::Client)
        .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::CHAT)
        .attribute(semconv::GEN_AI_PROVIDER_NAME, provider.clone())
        .attribute(semconv::GEN_AI_REQUEST_MODEL, model.clone());
    ChatBuilder(Start {
        span,
        operation: operation_name::CHAT,
        provider: Some(provider),
        request_model: Some(model),
        capture: ContentCapture::off(),
    })
}

/// Starts describing a tool execution: an `execute_tool {tool}` span of
/// kind internal with `gen_ai.operation.name = execute_tool` and
/// `gen_ai.tool.name`.
///
/// ```
/// use agent_trace::AgentStepTracer;
/// use agent_trace::genai;
///
/// let tracer = AgentStepTracer::new();
/// let mut tool = genai::execute_tool(&tracer, "web_search").call_id("call_mszu").start();
/// let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "search timed out");
/// tool.record_error("timeout", &err);
/// tool.end();
/// ```
pub fn execute_tool<'a>(
    tracer: &'a AgentStepTracer,
    tool_name: impl Into<StringValue>,
) -> ExecuteToolBuilder<'a> {
    let tool_name = tool_name.into();
    let span = tracer
        .span_builder(format!("{} {tool_name}", operation_name::EXECUTE_TOOL))
        .kind(SpanKind::Internal)
        .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::EXECUTE_TOOL)
        .attribute(semconv::GEN_AI_TOOL_NAME, tool_name);
    ExecuteToolBuilder(Start {
        span,
        operation: operation_name::EXECUTE_TOOL,
        provider: None,
        request_model: None,
        capture: ContentCapture::off(),
    })
}

/// Starts describing an agent invocation: an `invoke_agent {agent}` span
/// with `gen_ai.operation.name = invoke_agent`, `gen_ai.provider.name` and
/// `gen_ai.agent.name`.
///
/// The kind is internal, for an agent that runs in this process (the
/// conventions' "invoke agent internal span": LangChain, CrewAI, or your
/// own loop); call [`InvokeAgentBuilder::remote`] for an agent behind a
/// service (OpenAI Assistants, AWS Bedrock Agents), which makes it client.
/// The conventions require the provider on both.
///
/// ```
/// use agent_trace::AgentStepTracer;
/// use agent_trace::genai;
///
/// let tracer = AgentStepTracer::new();
/// let agent = genai::invoke_agent(&tracer, "aws.bedrock", "Travel Planner")
///     .remote()
///     .agent_id("H7STPQYOND")
///     .start();
/// let _in_scope = agent.span().enter(); // spans started now nest under it
/// ```
pub fn invoke_agent<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    agent_name: impl Into<StringValue>,
) -> InvokeAgentBuilder<'a> {
    let provider = provider.into();
    let agent_name = agent_name.into();
    let span = tracer
        .span_builder(format!("{} {agent_name}", operation_name::INVOKE_AGENT))
        .kind(SpanKind::Internal)
        .attribute(semconv::GEN_AI_OPERATION_NAME, operation_name::INVOKE_AGENT)
        .attribute(semconv::GEN_AI_PROVIDER_NAME, provider.clone())
        .attribute(semconv::GEN_AI_AGENT_NAME, agent_name);
    InvokeAgentBuilder(Start {
        span,
        operation: operation_name::INVOKE_AGENT,
        provider: Some(provider),
        request_model: None,
        capture: ContentCapture::off(),
    })
}

/// What every builder holds until its span starts.
#[derive(Debug)]
struct Start<'a> {
    span: SpanBuilder<'a>,
    operation: &'static str,
    provider: Option<StringValue>,
    request_model: Option<StringValue>,
    capture: ContentCapture,
}

impl Start<'_> {
    fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.span = self.span.attribute(key, value);
        self
    }

    fn start(self) -> Operation {
        // Read before the span starts, so the metric covers what the span
        // covers.
        let start = Instant::now();
        Operation {
            span: self.span.start(),
            operation: self.operation,
            provider: self.provider,
            request_model: self.request_model,
            usage: None,
            error_type: None,
            capture: self.capture,
            start,
        }
    }
}

/// The options every builder has.
macro_rules! common_builder_methods {
    ($span:ident) => {
        /// The parent: a [`Span`] (for example another helper's
        /// `span()`), a [`SpanContext`](crate::SpanContext), a
        /// [`TraceId`](crate::TraceId) or a [`Parent`]. By default the
        /// span current on this thread.
        pub fn parent(mut self, parent: impl Into<Parent<'a>>) -> Self {
            self.0.span = self.0.span.parent(parent);
            self
        }

        /// Any other attribute, known at start (samplers see it).
        pub fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
            self.0 = self.0.attribute(key, value);
            self
        }

        /// Records content (messages, tool arguments and results) through
        /// this capture setting; without it, content methods record nothing.
        pub fn capture_content(mut self, capture: ContentCapture) -> Self {
            self.0.capture = capture;
            self
        }

        /// Starts the span (and the clock of its duration metric).
        pub fn start(self) -> $span {
            $span(self.0.start())
        }
    };
}

/// Options of an LLM call before it starts; made by [`chat`].
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct ChatBuilder<'a>(Start<'a>);

impl<'a> ChatBuilder<'a> {
    common_builder_methods!(ChatSpan);

    /// Marks a model that runs in this process: the conventions allow kind
    /// internal then (the default, client, suits a model behind an API).
    pub fn in_process(mut self) -> Self {
        self.0.span = self.0.span.kind(SpanKind::Internal);
        self
    }

    /// `gen_ai.request.temperature`.
    pub fn temperature(self, temperature: f64) -> Self {
        Self(
            self.0
                .attribute(semconv::GEN_AI_REQUEST_TEMPERATURE, temperature),
        )
    }

    /// `gen_ai.request.max_tokens`.
    pub fn max_tokens(self, max_tokens: u32) -> Self {
        Self(
            self.0
                .attribute(semconv::GEN_AI_REQUEST_MAX_TOKENS, max_tokens),
        )
    }

    /// `gen_ai.conversation.id`: the session or thread this call belongs to.
    pub fn conversation_id(self, id: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(semconv::GEN_AI_CONVERSATION_ID, id.into()))
    }
}

/// Options of a tool execution before it starts; made by [`execute_tool`].
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct ExecuteToolBuilder<'a>(Start<'a>);

impl<'a> ExecuteToolBuilder<'a> {
    common_builder_methods!(ToolSpan);

    /// `gen_ai.tool.call.id`: the id of the tool call the model issued.
    pub fn call_id(self, id: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(semconv::GEN_AI_TOOL_CALL_ID, id.into()))
    }
}

/// Options of an agent invocation before it starts; made by
/// [`invoke_agent`].
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct InvokeAgentBuilder<'a>(Start<'a>);

impl<'a> InvokeAgentBuilder<'a> {
    common_builder_methods!(AgentSpan);

    /// Marks an agent behind a remote service: kind client.
    pub fn remote(mut self) -> Self {
        self.0.span = self.0.span.kind(SpanKind::Client);
        self
    }

    /// `gen_ai.agent.id`: the agent's unique identifier.
    pub fn agent_id(self, id: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(semconv::GEN_AI_AGENT_ID, id.into()))
    }

    /// `gen_ai.agent.description`.
    pub fn description(self, description: impl Into<StringValue>) -> Self {
        Self(
            self.0
                .attribute(semconv::GEN_AI_AGENT_DESCRIPTION, description.into()),
        )
    }

    /// `gen_ai.request.model`: the model the agent uses, when there is one;
    /// also a label of the agent's metrics.
    pub fn request_model(mut self, model: impl Into<StringValue>) -> Self {
        let model = model.into();
        self.0.request_model = Some(model.clone());
        Self(self.0.attribute(semconv::GEN_AI_REQUEST_MODEL, model))
    }

    /// `gen_ai.conversation.id`: the session or thread of this invocation.
    pub fn conversation_id(self, id: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(semconv::GEN_AI_CONVERSATION_ID, id.into()))
    }
}

/// A GenAI span in progress and what its metrics need when it ends.
#[derive(Debug)]
struct Operation {
    span: Span,
    operation: &'static str,
    provider: Option<StringValue>,
    request_model: Option<StringValue>,
    /// Input and output tokens, once reported.
    usage: Option<(u64, u64)>,
    /// Set when the operation failed; a label of the duration metric.
    error_type: Option<StringValue>,
    capture: ContentCapture,
    start: Instant,
}

impl Operation {
    fn fail(&mut self, error_type: StringValue, description: StringValue) {
        self.span
            .set_attribute(semconv::ERROR_TYPE, error_type.clone());
        self.span.set_status(Status::error(description));
        self.error_type = Some(error_type);
    }

    fn record_error<E: Error + ?Sized>(&mut self, error_type: StringValue, error: &E) {
        self.span.record_exception(error);
        self.span
            .set_attribute(semconv::ERROR_TYPE, error_type.clone());
        self.error_type = Some(error_type);
    }

    fn record_usage(&mut self, input_tokens: u64, output_tokens: u64) {
        self.span
            .set_attribute(semconv::GEN_AI_USAGE_INPUT_TOKENS, input_tokens);
        self.span
            .set_attribute(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens);
        self.usage = Some((input_tokens, output_tokens));
    }

    /// Records content under `key`, built by `render` with the redaction
    /// hook, only when capture is on and the span records (so a sampled-out
    /// span never runs the hook).
    fn capture(&mut self, key: &'static str, render: impl FnOnce(&Redact) -> String) {
        if let Some(redact) = &self.capture.0
            && self.span.is_recording()
        {
            let value = render(redact.as_ref());
            self.span.set_attribute(key, value);
        }
    }

    fn record_input_messages(&mut self, messages: &[Message<'_>]) {
        self.capture(semconv::GEN_AI_INPUT_MESSAGES, |redact| {
            let mut json = String::from("[");
            for (i, m) in messages.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                push_message(&mut json, m.role, &redact(m.content), None);
            }
            json.push(']');
            json
        });
    }

    fn record_output_messages(&mut self, messages: &[OutputMessage<'_>]) {
        self.capture(semconv::GEN_AI_OUTPUT_MESSAGES, |redact| {
            let mut json = String::from("[");
            for (i, m) in messages.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                push_message(
                    &mut json,
                    Role::Assistant,
                    &redact(m.content),
                    Some(m.finish_reason),
                );
            }
            json.push(']');
            json
        });
    }
}

impl Drop for Operation {
    /// Records the metrics; the span itself ends right after, as the field
    /// drops.
    fn drop(&mut self) {
        let seconds = self.start.elapsed().as_secs_f64();
        let mut labels = Vec::with_capacity(4);
        labels.push(Label::new(label::OPERATION_NAME, self.operation));
        if let Some(provider) = &self.provider {
            labels.push(Label::new(label::PROVIDER_NAME, provider.to_string()));
        }
        if let Some(model) = &self.request_model {
            labels.push(Label::new(label::REQUEST_MODEL, model.to_string()));
        }
        if let Some((input, output)) = self.usage {
            for (kind, tokens) in [(token_type::INPUT, input), (token_type::OUTPUT, output)] {
                let mut with_type = labels.clone();
                with_type.push(Label::new(label::TOKEN_TYPE, kind));
                // Exact below 2^53 tokens, far beyond any real count.
                ::metrics::histogram!(metric::TOKEN_USAGE, with_type).record(tokens as f64);
            }
        }
        if let Some(error_type) = &self.error_type {
            labels.push(Label::new(label::ERROR_TYPE, error_type.to_string()));
        }
        ::metrics::histogram!(metric::OPERATION_DURATION, labels).record(seconds);
    }
}

/// Appends one message of the conventions' input or output schema: a role,
/// one text part, and the finish reason (output messages only).
fn push_message(json: &mut String, role: Role, text: &str, finish_reason: Option<&str>) {
    json.push_str(r#"{"role":"#);
    push_json_string(json, role.as_str());
    json.push_str(r#","parts":[{"type":"text","content":"#);
    push_json_string(json, text);
    json.push_str("}]");
    if let Some(reason) = finish_reason {
        json.push_str(r#","finish_reason":"#);
        push_json_string(json, reason);
    }
    json.push('}');
}

/// Appends `s` as a JSON string literal (RFC 8259 escapes).
fn push_json_string(json: &mut String, s: &str) {
    json.push('"');
    for c in s.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                // Writing to a `String` cannot fail.
                let _ = write!(json, "\\u{:04x}", u32::from(c));
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

/// What every span wrapper can do.
macro_rules! common_span_methods {
    () => {
        /// Fails the operation: sets an error status with `description` and
        /// `error.type` to `error_type`, which also labels the duration
        /// metric. `error_type` is low-cardinality: the provider's error
        /// code (`429`, `rate_limit_exceeded`), a class of failure
        /// (`timeout`), or
        /// [`semconv::error_type::OTHER`](crate::semconv::error_type::OTHER);
        /// the details go in `description`.
        pub fn fail(
            &mut self,
            error_type: impl Into<StringValue>,
            description: impl Into<StringValue>,
        ) {
            self.0.fail(error_type.into(), description.into());
        }

        /// Fails the operation with an error value: an `exception` event
        /// with its type and message (and causes), an error status, and
        /// `error.type` as in [`fail`](Self::fail).
        pub fn record_error<E: Error + ?Sized>(
            &mut self,
            error_type: impl Into<StringValue>,
            error: &E,
        ) {
            self.0.record_error(error_type.into(), error);
        }

        /// The underlying span: to enter it, use it as a parent, propagate
        /// its context, or read it.
        pub fn span(&self) -> &Span {
            &self.0.span
        }

        /// The underlying span, to set attributes or add events the helper
        /// does not cover.
        pub fn span_mut(&mut self) -> &mut Span {
            &mut self.0.span
        }

        /// Ends the span and records its metrics (dropping it does the
        /// same).
        pub fn end(self) {
            drop(self);
        }
    };
}

/// An LLM call in progress; made by [`ChatBuilder::start`]. Ends, and
/// records its metrics, when dropped or on [`ChatSpan::end`].
#[derive(Debug)]
pub struct ChatSpan(Operation);

impl ChatSpan {
    common_span_methods!();

    /// `gen_ai.response.model`: the model that actually answered.
    pub fn set_response_model(&mut self, model: impl Into<StringValue>) {
        self.0
            .span
            .set_attribute(semconv::GEN_AI_RESPONSE_MODEL, model.into());
    }

    /// `gen_ai.response.id`: the provider's id of the completion.
    pub fn set_response_id(&mut self, id: impl Into<StringValue>) {
        self.0
            .span
            .set_attribute(semconv::GEN_AI_RESPONSE_ID, id.into());
    }

    /// `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens`, and
    /// the values of the token usage metric recorded when the span ends.
    /// Report billable tokens when the provider reports both.
    pub fn record_usage(&mut self, input_tokens: u64, output_tokens: u64) {
        self.0.record_usage(input_tokens, output_tokens);
    }

    /// `gen_ai.response.finish_reasons`: why generation stopped, one
    /// reason per choice (see
    /// [`semconv::finish_reason`]).
    pub fn set_finish_reasons<I, S>(&mut self, reasons: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<StringValue>,
    {
        let reasons: Vec<StringValue> = reasons.into_iter().map(Into::into).collect();
        self.0
            .span
            .set_attribute(semconv::GEN_AI_RESPONSE_FINISH_REASONS, reasons);
    }

    /// `gen_ai.input.messages`, the messages sent, in order, each text
    /// redacted; only when content capture is on (see the module docs).
    pub fn record_input_messages(&mut self, messages: &[Message<'_>]) {
        self.0.record_input_messages(messages);
    }

    /// `gen_ai.output.messages`, one per choice, each text redacted; only
    /// when content capture is on (see the module docs).
    pub fn record_output_messages(&mut self, messages: &[OutputMessage<'_>]) {
        self.0.record_output_messages(messages);
    }
}

/// A tool execution in progress; made by [`ExecuteToolBuilder::start`].
/// Ends, and records its duration, when dropped or on [`ToolSpan::end`].
#[derive(Debug)]
pub struct ToolSpan(Operation);

impl ToolSpan {
    common_span_methods!();

    /// `gen_ai.tool.call.arguments`, the arguments as the model gave them
    /// (a JSON object, as text), redacted; only when content capture is on.
    pub fn record_arguments(&mut self, arguments: &str) {
        self.0
            .capture(semconv::GEN_AI_TOOL_CALL_ARGUMENTS, |redact| {
                redact(arguments)
            });
    }

    /// `gen_ai.tool.call.result`, what the tool returned (as text),
    /// redacted; only when content capture is on.
    pub fn record_result(&mut self, result: &str) {
        self.0
            .capture(semconv::GEN_AI_TOOL_CALL_RESULT, |redact| redact(result));
    }
}

/// An agent invocation in progress; made by [`InvokeAgentBuilder::start`].
/// Ends, and records its metrics, when dropped or on [`AgentSpan::end`].
#[derive(Debug)]
pub struct AgentSpan(Operation);

impl AgentSpan {
    common_span_methods!();

    /// `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens` for the
    /// whole invocation, and the values of its token usage metric (labelled
    /// `invoke_agent`, apart from the chat calls inside it).
    pub fn record_usage(&mut self, input_tokens: u64, output_tokens: u64) {
        self.0.record_usage(input_tokens, output_tokens);
    }

    /// `gen_ai.input.messages` given to the agent, each text redacted; only
    /// when content capture is on.
    pub fn record_input_messages(&mut self, messages: &[Message<'_>]) {
        self.0.record_input_messages(messages);
    }

    /// `gen_ai.output.messages` the agent answered with, each text redacted;
    /// only when content capture is on.
    pub fn record_output_messages(&mut self, messages: &[OutputMessage<'_>]) {
        self.0.record_output_messages(messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_rfc_8259_requires() {
        let mut json = String::new();
        push_json_string(&mut json, "a\"b\\c\nd\te\u{1}f é");
        assert_eq!(json, r#""a\"b\\c\nd\te\u0001f é""#);
    }

    #[test]
    fn messages_follow_the_schemas() {
        let mut json = String::new();
        push_message(&mut json, Role::User, "hi", None);
        assert_eq!(
            json,
            r#"{"role":"user","parts":[{"type":"text","content":"hi"}]}"#
        );
        json.clear();
        push_message(&mut json, Role::Assistant, "yo", Some("stop"));
        assert_eq!(
            json,
            r#"{"role":"assistant","parts":[{"type":"text","content":"yo"}],"finish_reason":"stop"}"#
        );
    }
}
