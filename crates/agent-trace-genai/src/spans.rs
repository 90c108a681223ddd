//! The builders (options before start) and the spans in progress (what can
//! be recorded after start) of every GenAI operation. Each type has only
//! the methods its operation has in the conventions, so recording token
//! usage on a tool, or a memory query on a chat call, does not compile.

use agent_trace_core::{Exception, Key, Parent, Span, SpanKind, StringValue, Value};

use super::content::{
    self, ContentCapture, MemoryRecord, Message, OutputMessage, RetrievedDocument,
};
use super::conventions::Conventions;
use super::operation::{Operation, Start};
use super::scope::Entered;
use crate::privacy::SensitiveText;
use crate::semconv;

/// The options every builder has.
macro_rules! common_builder_methods {
    ($span:ident) => {
        /// The parent: a [`Span`] (for example another helper's `span()`), a
        /// [`SpanContext`](agent_trace_core::SpanContext), a
        /// [`TraceId`](agent_trace_core::TraceId) or a [`Parent`]. By default
        /// the span current on this thread. The parent also decides which agent
        /// or workflow the call counts for (see the crate docs).
        #[inline]
        pub fn parent(self, parent: impl Into<Parent<'a>>) -> Self {
            Self(self.0.parent(parent.into()))
        }

        /// Any other attribute, known at start (samplers see it).
        #[inline]
        pub fn attribute(self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
            Self(self.0.attribute(key, value))
        }

        /// Which attribute names to write (default
        /// [`Conventions::global`], from `OTEL_SEMCONV_STABILITY_OPT_IN`).
        #[inline]
        pub fn conventions(mut self, conventions: Conventions) -> Self {
            self.0.conventions = Some(conventions);
            self
        }

        /// Starts the span (and the clock of its duration metrics).
        #[inline]
        pub fn start(self) -> $span {
            $span(self.0.start())
        }
    };
}

/// The option of builders whose spans record content.
macro_rules! capture_builder_method {
    () => {
        /// Records content through this capture setting (default
        /// [`ContentCapture::global`]: off unless
        /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`);
        /// content methods record nothing while it is off.
        #[inline]
        pub fn capture_content(mut self, capture: ContentCapture) -> Self {
            self.0.capture = Some(capture);
            self
        }
    };
}

/// `server.address` and `server.port`, for client spans.
macro_rules! server_builder_method {
    () => {
        /// `server.address` and `server.port` of the service called (behind
        /// any proxy, when known).
        #[inline]
        pub fn server(self, address: impl Into<StringValue>, port: u16) -> Self {
            Self(
                self.0
                    .attribute(Key::from_static(semconv::SERVER_ADDRESS), address.into())
                    .attribute(Key::from_static(semconv::SERVER_PORT), i64::from(port)),
            )
        }
    };
}

/// What every span in progress can do.
macro_rules! common_span_methods {
    () => {
        /// Fails the operation: sets an error status with `description` and
        /// `error.type` to `error_type`, which also labels the duration
        /// metrics. `error_type` is low-cardinality: the provider's error
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
        ///
        /// The error is any that [`Span::record_exception`] takes: a value
        /// of an `Error` type, a `&dyn Error`, a `Box<dyn Error>`...
        pub fn record_error<E, const FORM: u8>(
            &mut self,
            error_type: impl Into<StringValue>,
            error: &E,
        ) where
            E: Exception<FORM> + ?Sized,
        {
            self.0.record_error(error_type.into(), error);
        }

        /// The underlying span: to use as a parent, propagate its context,
        /// or read it.
        pub fn span(&self) -> &Span {
            self.0.span()
        }

        /// The underlying span, to set attributes or add events the helper
        /// does not cover.
        pub fn span_mut(&mut self) -> &mut Span {
            self.0.span_mut()
        }

        /// Ends the span and records its metrics (dropping it does the
        /// same).
        #[inline]
        pub fn end(self) {
            drop(self);
        }
    };
}

/// `enter` for the spans other GenAI spans run under.
macro_rules! enter_method {
    () => {
        /// Makes this span current on this thread until the guard drops, as
        /// [`Span::enter`] does, and also the scope that GenAI spans started
        /// below a plain span (an `#[instrument]` function, a
        /// `tracer.in_span(..)`) on this thread count for.
        pub fn enter(&self) -> Entered {
            self.0.enter()
        }
    };
}

/// The request options of model calls.
macro_rules! request_builder_methods {
    () => {
        /// `gen_ai.request.model` is a constructor argument; this is
        /// `gen_ai.request.temperature`.
        #[inline]
        pub fn temperature(self, temperature: f64) -> Self {
            Self(self.0.attribute(
                Key::from_static(semconv::GEN_AI_REQUEST_TEMPERATURE),
                temperature,
            ))
        }

        /// `gen_ai.request.max_tokens`.
        #[inline]
        pub fn max_tokens(self, max_tokens: u32) -> Self {
            Self(self.0.attribute(
                Key::from_static(semconv::GEN_AI_REQUEST_MAX_TOKENS),
                max_tokens,
            ))
        }

        /// `gen_ai.request.top_p`.
        #[inline]
        pub fn top_p(self, top_p: f64) -> Self {
            Self(
                self.0
                    .attribute(Key::from_static(semconv::GEN_AI_REQUEST_TOP_P), top_p),
            )
        }

        /// `gen_ai.request.frequency_penalty`.
        #[inline]
        pub fn frequency_penalty(self, penalty: f64) -> Self {
            Self(self.0.attribute(
                Key::from_static(semconv::GEN_AI_REQUEST_FREQUENCY_PENALTY),
                penalty,
            ))
        }

        /// `gen_ai.request.presence_penalty`.
        #[inline]
        pub fn presence_penalty(self, penalty: f64) -> Self {
            Self(self.0.attribute(
                Key::from_static(semconv::GEN_AI_REQUEST_PRESENCE_PENALTY),
                penalty,
            ))
        }

        /// `gen_ai.request.stop_sequences`.
        #[inline]
        pub fn stop_sequences<I, S>(self, sequences: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<StringValue>,
        {
            let sequences: Vec<StringValue> = sequences.into_iter().map(Into::into).collect();
            Self(self.0.attribute(
                Key::from_static(semconv::GEN_AI_REQUEST_STOP_SEQUENCES),
                sequences,
            ))
        }

        /// `gen_ai.request.seed`.
        #[inline]
        pub fn seed(self, seed: i64) -> Self {
            Self(
                self.0
                    .attribute(Key::from_static(semconv::GEN_AI_REQUEST_SEED), seed),
            )
        }

        /// `gen_ai.request.choice.count`, set only when not 1, as the
        /// conventions require.
        #[inline]
        pub fn choice_count(self, count: u32) -> Self {
            if count == 1 {
                return self;
            }
            Self(self.0.attribute(
                Key::from_static(semconv::GEN_AI_REQUEST_CHOICE_COUNT),
                count,
            ))
        }

        /// `gen_ai.output.type`, the output requested (see
        /// [`semconv::output_type`]).
        #[inline]
        pub fn output_type(self, output_type: impl Into<StringValue>) -> Self {
            Self(self.0.attribute(
                Key::from_static(semconv::GEN_AI_OUTPUT_TYPE),
                output_type.into(),
            ))
        }

        /// `gen_ai.conversation.id`: the session or thread this call belongs
        /// to. Set only when given: the helpers never make one up.
        #[inline]
        pub fn conversation_id(self, id: impl Into<StringValue>) -> Self {
            Self(self.0.conversation_id(id.into()))
        }
    };
}

/// Token usage and messages of model calls and agents.
macro_rules! usage_span_methods {
    () => {
        /// `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens`
        /// (and, with [`Conventions::LATEST_AND_LEGACY`],
        /// `gen_ai.usage.prompt_tokens` and `gen_ai.usage.completion_tokens`),
        /// and the values of the token usage metric recorded when the span
        /// ends. `input_tokens` includes cached input tokens and
        /// `output_tokens` reasoning tokens, as the conventions count them
        /// (see [`TokenUsage`](crate::cost::TokenUsage) for how providers'
        /// reports map). Report billable tokens when the provider reports
        /// both.
        pub fn record_usage(&mut self, input_tokens: u64, output_tokens: u64) {
            self.0.record_usage(input_tokens, output_tokens);
        }

        /// `gen_ai.usage.cache_read.input_tokens`: input tokens served from
        /// the provider's cache, part of the input tokens.
        pub fn record_cache_read_tokens(&mut self, tokens: u64) {
            self.0.record_cache_read_tokens(tokens);
        }

        /// `gen_ai.usage.cache_creation.input_tokens`: input tokens written
        /// to the provider's cache, part of the input tokens.
        pub fn record_cache_creation_tokens(&mut self, tokens: u64) {
            self.0.record_cache_creation_tokens(tokens);
        }

        /// `gen_ai.usage.reasoning.output_tokens`: output tokens spent on
        /// reasoning, part of the output tokens.
        pub fn record_reasoning_tokens(&mut self, tokens: u64) {
            self.0.record_reasoning_tokens(tokens);
        }

        /// `gen_ai.response.finish_reasons`: why generation stopped, one
        /// reason per choice (see [`semconv::finish_reason`]).
        pub fn set_finish_reasons<I, S>(&mut self, reasons: I)
        where
            I: IntoIterator<Item = S>,
            S: Into<StringValue>,
        {
            let reasons = super::names::finish_reasons(reasons.into_iter().map(Into::into));
            self.0.set(semconv::GEN_AI_RESPONSE_FINISH_REASONS, reasons);
        }
    };
}

/// Input and output messages.
macro_rules! message_span_methods {
    () => {
        /// `gen_ai.input.messages`, the messages sent, in order, each text
        /// scrubbed; only when content capture is on (see the crate docs).
        pub fn record_input_messages(&mut self, messages: &[Message<'_>]) {
            self.0.capture_built(semconv::GEN_AI_INPUT_MESSAGES, |s| {
                content::input_messages_json(s, messages)
            });
        }

        /// `gen_ai.output.messages`, one per choice, each text scrubbed;
        /// only when content capture is on (see the crate docs).
        pub fn record_output_messages(&mut self, messages: &[OutputMessage<'_>]) {
            self.0.capture_built(semconv::GEN_AI_OUTPUT_MESSAGES, |s| {
                content::output_messages_json(s, messages)
            });
        }
    };
}

/// System instructions.
macro_rules! instructions_span_method {
    () => {
        /// `gen_ai.system_instructions`, given to the model apart from the
        /// chat history, scrubbed; only when content capture is on.
        pub fn record_system_instructions<'t>(
            &mut self,
            instructions: impl Into<SensitiveText<'t>>,
        ) {
            let instructions = instructions.into();
            self.0
                .capture_built(semconv::GEN_AI_SYSTEM_INSTRUCTIONS, |s| {
                    content::system_instructions_json(s, &instructions)
                });
        }
    };
}

/// Options of a model call before it starts (`chat`, `generate_content` or
/// `text_completion`); made by [`chat`](super::chat),
/// [`generate_content`](super::generate_content) or
/// [`text_completion`](super::text_completion).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct ChatBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> ChatBuilder<'a> {
    common_builder_methods!(ChatSpan);
    capture_builder_method!();
    server_builder_method!();
    request_builder_methods!();

    /// Marks a model that runs in this process: the conventions allow kind
    /// internal then (the default, client, suits a model behind an API).
    #[inline]
    pub fn in_process(mut self) -> Self {
        self.0.span = self.0.span.kind(SpanKind::Internal);
        self
    }

    /// Marks a streaming request: `gen_ai.request.stream = true`, set at
    /// start. Call [`ChatSpan::first_chunk`] when the first chunk arrives.
    #[inline]
    pub fn streaming(mut self) -> Self {
        self.0.streaming = true;
        self
    }
}

/// A model call in progress; made by [`ChatBuilder::start`]. Ends, and
/// records its metrics and price, when dropped or on [`ChatSpan::end`].
#[derive(Debug)]
pub struct ChatSpan(pub(crate) Operation);

impl ChatSpan {
    common_span_methods!();
    usage_span_methods!();
    message_span_methods!();
    instructions_span_method!();

    /// `gen_ai.response.model`: the model that actually answered (the one
    /// priced, when set).
    pub fn set_response_model(&mut self, model: impl Into<StringValue>) {
        self.0.set_response_model(model.into());
    }

    /// `gen_ai.response.id`: the provider's id of the completion.
    pub fn set_response_id(&mut self, id: impl Into<StringValue>) {
        self.0.set(semconv::GEN_AI_RESPONSE_ID, id.into());
    }

    /// The first chunk of a streaming response arrived: sets
    /// `gen_ai.response.time_to_first_chunk` (seconds since the span
    /// started) and `gen_ai.request.stream`, and records the
    /// `gen_ai.client.operation.time_to_first_chunk` metric when the span
    /// ends. Later calls do nothing.
    pub fn first_chunk(&mut self) {
        self.0.first_chunk();
    }
}

/// Options of an embeddings call before it starts; made by
/// [`embeddings`](super::embeddings).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct EmbeddingsBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> EmbeddingsBuilder<'a> {
    common_builder_methods!(EmbeddingsSpan);
    server_builder_method!();

    /// `gen_ai.embeddings.dimension.count`: the dimensions asked for.
    #[inline]
    pub fn dimension_count(self, dimensions: u32) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_EMBEDDINGS_DIMENSION_COUNT),
            dimensions,
        ))
    }

    /// `gen_ai.request.encoding_formats` (`float`, `base64`...).
    #[inline]
    pub fn encoding_formats<I, S>(self, formats: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<StringValue>,
    {
        let formats: Vec<StringValue> = formats.into_iter().map(Into::into).collect();
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_REQUEST_ENCODING_FORMATS),
            formats,
        ))
    }
}

/// An embeddings call in progress; made by [`EmbeddingsBuilder::start`].
#[derive(Debug)]
pub struct EmbeddingsSpan(pub(crate) Operation);

impl EmbeddingsSpan {
    common_span_methods!();

    /// `gen_ai.usage.input_tokens`, and the input value of the token usage
    /// metric (embeddings have no output tokens).
    pub fn record_input_tokens(&mut self, input_tokens: u64) {
        self.0.record_input_tokens(input_tokens);
    }

    /// `gen_ai.response.model`: the model that actually answered.
    pub fn set_response_model(&mut self, model: impl Into<StringValue>) {
        self.0.set_response_model(model.into());
    }
}

/// Options of a tool execution before it starts; made by
/// [`execute_tool`](super::execute_tool).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct ExecuteToolBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> ExecuteToolBuilder<'a> {
    common_builder_methods!(ToolSpan);
    capture_builder_method!();

    /// `gen_ai.tool.call.id`: the id of the tool call the model issued.
    #[inline]
    pub fn call_id(self, id: impl Into<StringValue>) -> Self {
        Self(
            self.0
                .attribute(Key::from_static(semconv::GEN_AI_TOOL_CALL_ID), id.into()),
        )
    }

    /// `gen_ai.tool.type` (see [`semconv::tool_type`]); also a label of the
    /// tool duration metric.
    #[inline]
    pub fn tool_type(mut self, tool_type: impl Into<StringValue>) -> Self {
        let tool_type = tool_type.into();
        self.0.tool_type = Some(tool_type.clone());
        Self(
            self.0
                .attribute(Key::from_static(semconv::GEN_AI_TOOL_TYPE), tool_type),
        )
    }

    /// `gen_ai.tool.description`.
    #[inline]
    pub fn description(self, description: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_TOOL_DESCRIPTION),
            description.into(),
        ))
    }
}

/// A tool execution in progress; made by [`ExecuteToolBuilder::start`].
/// Ends, and records its durations, when dropped or on [`ToolSpan::end`].
#[derive(Debug)]
pub struct ToolSpan(pub(crate) Operation);

impl ToolSpan {
    common_span_methods!();
    enter_method!();

    /// `gen_ai.tool.call.arguments`, the arguments as the model gave them
    /// (a JSON object, as text): scrubbed string by string and cut so that
    /// it stays valid JSON (as text when it is not JSON); only when content
    /// capture is on.
    pub fn record_arguments<'t>(&mut self, arguments: impl Into<SensitiveText<'t>>) {
        self.0
            .capture_json_or_text(semconv::GEN_AI_TOOL_CALL_ARGUMENTS, &arguments.into());
    }

    /// `gen_ai.tool.call.result`, what the tool returned, as
    /// [`record_arguments`](Self::record_arguments) records arguments.
    pub fn record_result<'t>(&mut self, result: impl Into<SensitiveText<'t>>) {
        self.0
            .capture_json_or_text(semconv::GEN_AI_TOOL_CALL_RESULT, &result.into());
    }
}

/// Options of an agent invocation before it starts; made by
/// [`invoke_agent`](super::invoke_agent).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct InvokeAgentBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> InvokeAgentBuilder<'a> {
    common_builder_methods!(AgentSpan);
    capture_builder_method!();
    server_builder_method!();

    /// Marks an agent behind a remote service: kind client. Its calls are
    /// not observed here, so it gets no call counts and records
    /// `gen_ai.client.operation.duration` but not the in-process
    /// `gen_ai.invoke_agent.duration`.
    #[inline]
    pub fn remote(mut self) -> Self {
        self.0.span = self.0.span.kind(SpanKind::Client);
        self.0.remote = true;
        self
    }

    /// `gen_ai.agent.id`: the agent's unique identifier.
    #[inline]
    pub fn agent_id(self, id: impl Into<StringValue>) -> Self {
        Self(
            self.0
                .attribute(Key::from_static(semconv::GEN_AI_AGENT_ID), id.into()),
        )
    }

    /// `gen_ai.agent.description`.
    #[inline]
    pub fn description(self, description: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_AGENT_DESCRIPTION),
            description.into(),
        ))
    }

    /// `gen_ai.agent.version`.
    #[inline]
    pub fn version(self, version: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_AGENT_VERSION),
            version.into(),
        ))
    }

    /// `gen_ai.request.model`: the model the agent uses, when it has one;
    /// also a label of the agent's metrics.
    #[inline]
    pub fn request_model(self, model: impl Into<StringValue>) -> Self {
        Self(self.0.request_model(model.into()))
    }

    /// `gen_ai.conversation.id`: the session or thread of this invocation.
    /// Set only when given; the calls below are attributed to it in the
    /// cost ledger (they do not get the attribute).
    #[inline]
    pub fn conversation_id(self, id: impl Into<StringValue>) -> Self {
        Self(self.0.conversation_id(id.into()))
    }

    /// `gen_ai.data_source.id`: the agent's grounding data source.
    #[inline]
    pub fn data_source_id(self, id: impl Into<StringValue>) -> Self {
        Self(
            self.0
                .attribute(Key::from_static(semconv::GEN_AI_DATA_SOURCE_ID), id.into()),
        )
    }
}

/// An agent invocation in progress; made by [`InvokeAgentBuilder::start`].
/// When it ends (dropped or [`AgentSpan::end`]) it gets the counts of the
/// calls it made and the summed cost of its subtree, and records its
/// metrics.
#[derive(Debug)]
pub struct AgentSpan(pub(crate) Operation);

impl AgentSpan {
    common_span_methods!();
    enter_method!();
    usage_span_methods!();
    message_span_methods!();
    instructions_span_method!();
}

/// Options of an agent creation before it starts; made by
/// [`create_agent`](super::create_agent).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct CreateAgentBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> CreateAgentBuilder<'a> {
    common_builder_methods!(CreateAgentSpan);
    capture_builder_method!();
    server_builder_method!();

    /// `gen_ai.agent.description`.
    #[inline]
    pub fn description(self, description: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_AGENT_DESCRIPTION),
            description.into(),
        ))
    }

    /// `gen_ai.agent.version`.
    #[inline]
    pub fn version(self, version: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_AGENT_VERSION),
            version.into(),
        ))
    }

    /// `gen_ai.request.model`: the model the agent is created with.
    #[inline]
    pub fn request_model(self, model: impl Into<StringValue>) -> Self {
        Self(self.0.request_model(model.into()))
    }
}

/// An agent creation in progress; made by [`CreateAgentBuilder::start`].
#[derive(Debug)]
pub struct CreateAgentSpan(pub(crate) Operation);

impl CreateAgentSpan {
    common_span_methods!();
    instructions_span_method!();

    /// `gen_ai.agent.id`, as the service assigned it.
    pub fn set_agent_id(&mut self, id: impl Into<StringValue>) {
        self.0.set(semconv::GEN_AI_AGENT_ID, id.into());
    }
}

/// Options of a workflow invocation before it starts; made by
/// [`invoke_workflow`](super::invoke_workflow).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct InvokeWorkflowBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> InvokeWorkflowBuilder<'a> {
    common_builder_methods!(WorkflowSpan);
    capture_builder_method!();
}

/// A workflow invocation in progress; made by
/// [`InvokeWorkflowBuilder::start`]. When it ends it gets the counts of
/// every call below it (nested workflows included) and their summed cost,
/// and records its metrics.
#[derive(Debug)]
pub struct WorkflowSpan(pub(crate) Operation);

impl WorkflowSpan {
    common_span_methods!();
    enter_method!();
    message_span_methods!();
}

/// Options of a planning step before it starts; made by
/// [`plan`](super::plan).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct PlanBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> PlanBuilder<'a> {
    common_builder_methods!(PlanSpan);

    /// `gen_ai.agent.id` of the planning agent.
    #[inline]
    pub fn agent_id(self, id: impl Into<StringValue>) -> Self {
        Self(
            self.0
                .attribute(Key::from_static(semconv::GEN_AI_AGENT_ID), id.into()),
        )
    }
}

/// A planning step in progress; made by [`PlanBuilder::start`]. The model
/// call that makes the plan should be its child; the steps the plan leads
/// to are its siblings under the agent.
#[derive(Debug)]
pub struct PlanSpan(pub(crate) Operation);

impl PlanSpan {
    common_span_methods!();
    enter_method!();
}

/// Options of a memory operation before it starts; made by
/// [`search_memory`](super::search_memory),
/// [`create_memory`](super::create_memory),
/// [`update_memory`](super::update_memory),
/// [`upsert_memory`](super::upsert_memory),
/// [`delete_memory`](super::delete_memory),
/// [`create_memory_store`](super::create_memory_store) or
/// [`delete_memory_store`](super::delete_memory_store).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct MemoryBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> MemoryBuilder<'a> {
    common_builder_methods!(MemorySpan);
    capture_builder_method!();
    server_builder_method!();

    /// `gen_ai.provider.name`: the memory service, when it is a named
    /// external provider (conditionally required then); also a label of the
    /// operation duration metric.
    #[inline]
    pub fn provider(self, provider: impl Into<StringValue>) -> Self {
        Self(self.0.provider(provider.into()))
    }

    /// `gen_ai.memory.store.id`: the store operated on.
    #[inline]
    pub fn store_id(self, id: impl Into<StringValue>) -> Self {
        Self(
            self.0
                .attribute(Key::from_static(semconv::GEN_AI_MEMORY_STORE_ID), id.into()),
        )
    }

    /// `gen_ai.memory.record.id`: the record operated on, when the operation
    /// applies to one. (On `delete_memory`, leaving it out says "every
    /// record of the store".)
    #[inline]
    pub fn record_id(self, id: impl Into<StringValue>) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_MEMORY_RECORD_ID),
            id.into(),
        ))
    }

    /// Marks a memory system in this process: kind internal (the default,
    /// client, suits a memory service).
    #[inline]
    pub fn in_process(mut self) -> Self {
        self.0.span = self.0.span.kind(SpanKind::Internal);
        self
    }
}

/// A memory operation in progress; made by [`MemoryBuilder::start`].
#[derive(Debug)]
pub struct MemorySpan(pub(crate) Operation);

impl MemorySpan {
    common_span_methods!();

    /// `gen_ai.memory.record.id`, once known (the id a `create_memory`
    /// assigned).
    pub fn set_record_id(&mut self, id: impl Into<StringValue>) {
        self.0.set(semconv::GEN_AI_MEMORY_RECORD_ID, id.into());
    }

    /// `gen_ai.memory.record.count`: the records stored, updated, deleted or
    /// found.
    pub fn set_record_count(&mut self, count: u64) {
        self.0.set(semconv::GEN_AI_MEMORY_RECORD_COUNT, count);
    }

    /// `gen_ai.memory.query.text`, scrubbed and cut; only when content
    /// capture is on.
    pub fn record_query<'t>(&mut self, query: impl Into<SensitiveText<'t>>) {
        self.0
            .capture_text(semconv::GEN_AI_MEMORY_QUERY_TEXT, &query.into());
    }

    /// `gen_ai.memory.records`, in the conventions' memory records schema,
    /// each content scrubbed, cut so that it stays valid JSON; only when
    /// content capture is on.
    pub fn record_records(&mut self, records: &[MemoryRecord<'_>]) {
        self.0.capture_built(semconv::GEN_AI_MEMORY_RECORDS, |s| {
            content::memory_records_json(s, records)
        });
    }
}

/// Options of a retrieval before it starts; made by
/// [`retrieval`](super::retrieval).
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct RetrievalBuilder<'a>(pub(crate) Box<Start<'a>>);

impl<'a> RetrievalBuilder<'a> {
    common_builder_methods!(RetrievalSpan);
    capture_builder_method!();
    server_builder_method!();

    /// `gen_ai.provider.name`: the retrieval service, when applicable.
    #[inline]
    pub fn provider(self, provider: impl Into<StringValue>) -> Self {
        Self(self.0.provider(provider.into()))
    }

    /// `gen_ai.request.top_k`: how many results were asked for.
    #[inline]
    pub fn top_k(self, top_k: u32) -> Self {
        Self(self.0.attribute(
            Key::from_static(semconv::GEN_AI_REQUEST_TOP_K),
            f64::from(top_k),
        ))
    }
}

/// A retrieval in progress; made by [`RetrievalBuilder::start`].
#[derive(Debug)]
pub struct RetrievalSpan(pub(crate) Operation);

impl RetrievalSpan {
    common_span_methods!();

    /// `gen_ai.retrieval.query.text`, scrubbed and cut; only when content
    /// capture is on.
    pub fn record_query<'t>(&mut self, query: impl Into<SensitiveText<'t>>) {
        self.0
            .capture_text(semconv::GEN_AI_RETRIEVAL_QUERY_TEXT, &query.into());
    }

    /// `gen_ai.retrieval.documents`: the ids and scores retrieved; only
    /// when content capture is on (the conventions make it opt-in).
    pub fn record_documents(&mut self, documents: &[RetrievedDocument<'_>]) {
        self.0
            .capture_built(semconv::GEN_AI_RETRIEVAL_DOCUMENTS, |_| {
                content::documents_json(documents)
            });
    }
}
