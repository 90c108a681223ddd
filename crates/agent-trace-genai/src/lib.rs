//! The OpenTelemetry GenAI conventions for agent-trace: typed helpers for
//! every GenAI span, what the calls cost, and which of their content may
//! leave the process.
//!
//! It sits on `agent-trace-core` (spans) and `agent-trace-metrics` (windows,
//! clocks, the cost counters), and under the `agent-trace` facade, which
//! re-exports it as `agent_trace::genai`, `agent_trace::cost`,
//! `agent_trace::privacy` and `agent_trace::semconv`. It does no I/O beyond
//! reading a price table file when asked.
//!
//! - The crate root: typed helpers for every span of the OpenTelemetry
//!   GenAI semantic conventions (model calls, embeddings, tool executions,
//!   agent creation and invocation, workflows, planning, memory operations
//!   and retrieval), content capture and the conventions' versions; the
//!   rest of this page.
//! - [`semconv`]: the conventions' attribute and metric names as constants.
//! - [`cost`]: price tables (JSON; TOML with the feature `toml`, off by
//!   default), the [`CostLedger`](cost::CostLedger) that sums spend per
//!   agent, conversation and tool, and budgets.
//! - [`privacy`]: [`Sensitive`](privacy::Sensitive) content that never
//!   prints, scrubbers, and truncation that keeps UTF-8 and JSON valid.
//!
//! # Why helpers, not attribute names alone
//!
//! A backend that understands GenAI spans (Jaeger, Tempo, Langfuse,
//! Phoenix, Datadog...) finds them by name, kind and attributes. Setting
//! them by hand invites `"model"` where `gen_ai.request.model` was meant, a
//! span name that is not `chat {model}`, or an error with no `error.type`.
//! Here what the conventions require is a constructor argument (a span
//! without it does not compile), what they recommend is a method of the
//! one builder or span it applies to, and the name, kind and required
//! attributes are set before the span starts, so samplers see them (the
//! conventions ask for that). The names themselves are in [`semconv`].
//!
//! The spans follow `model/gen-ai/spans.yaml` and
//! `docs/gen-ai/gen-ai-agent-spans.md` of
//! `open-telemetry/semantic-conventions-genai` (commit `002c8a6e`, linking
//! semantic-conventions v1.41.1), and the metrics
//! `docs/gen-ai/gen-ai-metrics.md` (commit `048366ea`, v1.44.0 links); see
//! [`semconv`] for the details.
//!
//! | helper | span name | kind | required arguments |
//! |---|---|---|---|
//! | [`chat`], [`generate_content`], [`text_completion`] | `{operation} {model}` | client; internal with [`ChatBuilder::in_process`] | provider, model |
//! | [`embeddings`] | `embeddings {model}` | client | provider, model |
//! | [`execute_tool`] | `execute_tool {tool}` | internal | tool |
//! | [`invoke_agent`] | `invoke_agent {agent}` | internal; client with [`InvokeAgentBuilder::remote`] | provider, agent |
//! | [`create_agent`] | `create_agent {agent}` | client | provider, agent |
//! | [`invoke_workflow`] | `invoke_workflow {workflow}` | internal | workflow |
//! | [`plan`] | `plan {agent}` | internal | agent |
//! | [`search_memory`], [`create_memory`], [`update_memory`], [`upsert_memory`], [`delete_memory`], [`create_memory_store`], [`delete_memory_store`] | the operation name | client; internal with [`MemoryBuilder::in_process`] | (none) |
//! | [`retrieval`] | `retrieval {data source}` | client | data source |
//!
//! Every span carries `gen_ai.operation.name`; those with a provider
//! argument carry `gen_ai.provider.name`, model calls
//! `gen_ai.request.model`. `gen_ai.conversation.id` is set only when the
//! application gives one (`conversation_id`).
//!
//! # Per-agent counts and costs
//!
//! Each model call (`chat`, `generate_content`, `text_completion`,
//! `embeddings`) and tool execution counts for the agent that made it and
//! for every workflow it runs in, as the conventions define the
//! `gen_ai.invoke_agent.*_calls` and `gen_ai.invoke_workflow.*_calls`
//! metrics: an agent counts its own calls only (a nested agent's calls are
//! its own, so each call is counted once across agents), a workflow counts
//! every call below it. When an `invoke_agent` or `invoke_workflow` span
//! ends it gets the counts as [`semconv::INFERENCE_CALLS`] and
//! [`semconv::TOOL_CALLS`], records them as metrics, and gets the summed
//! cost of every priced call below it, nested agents included
//! ([`cost::COST_ATTRIBUTE`], when all were priced in one currency).
//!
//! A model call that reported its tokens is priced, when it ends, by the
//! process's [`cost_ledger`](cost::cost_ledger) (response model, else
//! requested model), attributed to its agent, conversation and tool, and
//! gets the cost attributes.
//!
//! How a span finds its agent: through its parent, given with `parent(..)`
//! or the span current on the thread, from any thread or task, as long as
//! that parent is a GenAI span (or a plain span started below one on a
//! thread where the GenAI span was entered with its `enter()`). Calls whose
//! parent chain cannot be followed count for no agent. Details in the
//! `scope` module's source.
//!
//! # Metrics
//!
//! Recorded when a span ends, whether or not it was sampled (they count
//! every call), through the [`metrics`](https://docs.rs/metrics) facade
//! under their Prometheus names ([`semconv::metric`], with the conventions'
//! bucket boundaries in
//! [`HISTOGRAM_BUCKETS`](semconv::metric::HISTOGRAM_BUCKETS)):
//!
//! - `gen_ai.client.operation.duration` for every operation but workflows
//!   and plans, labelled by operation, provider and requested model, plus
//!   `error_type` on failure; `gen_ai.client.token.usage` for the tokens of
//!   [`ChatSpan::record_usage`] (input and output, once each);
//!   `gen_ai.client.operation.time_to_first_chunk` for a stream
//!   ([`ChatSpan::first_chunk`]).
//! - `gen_ai.invoke_agent.duration` and the agent's call counts, labelled
//!   by agent name, for in-process agents.
//! - `gen_ai.execute_tool.duration`, labelled by tool name and type and by
//!   the agent the tool ran under.
//! - `gen_ai.invoke_workflow.duration` and the workflow's call counts,
//!   labelled by workflow name.
//!
//! For a recorded span the duration metrics take the span's own duration,
//! as the conventions ask. The response model is left off the labels, as it
//! would multiply the series by every dated model version. Token usage is
//! recorded per operation, so an agent's tokens and those of the calls
//! inside it are both counted: sum by `gen_ai_operation_name`, not across
//! it.
//!
//! # Content capture
//!
//! Prompts, completions, system instructions, tool arguments and results,
//! memory queries and records are "likely to contain sensitive information
//! including user/PII data", and the conventions say they "SHOULD NOT" be
//! captured by default. Here they are taken as
//! [`SensitiveText`](privacy::SensitiveText) (plain `&str` and
//! `String` convert into it), which never prints, and recorded only through
//! a [`ContentCapture`] that is on: given to a helper with
//! `capture_content`, or for all helpers by
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`. Captured text
//! goes through the capture's scrubbers, then is cut to its length limit so
//! that JSON stays JSON (see [`privacy`]). Content is
//! recorded as JSON strings (`gen_ai.input.messages`,
//! `gen_ai.output.messages`, ...) in the conventions' schemas: our
//! attribute values have no structured form, and the conventions ask for a
//! JSON string then.
//!
//! # Older attribute names
//!
//! [`Conventions`] chooses whether the names of the conventions before
//! v1.37.0 (`gen_ai.system`, `gen_ai.usage.prompt_tokens`,
//! `gen_ai.usage.completion_tokens`) are written too, from
//! `OTEL_SEMCONV_STABILITY_OPT_IN` or per helper; by default they are not.
//!
//! # Performance
//!
//! An LLM call takes hundreds of milliseconds, but an agent makes many
//! small spans around it (tools, memory look-ups), so the helpers keep
//! their own work small next to the core's span path:
//!
//! - span names (`chat gpt-4o`) are made once per distinct name and then
//!   shared as static strings (the `names` module; at most 64 KiB kept);
//! - the metrics a span's end records go through handles this thread keeps
//!   per label set, not through a registration by name (the `handles`
//!   module, which also says when a handle is not kept: under a
//!   `metrics::with_local_recorder` recorder, for instance);
//! - the attributes known at start are collected in one list sized for
//!   them, and the builder's state is boxed so that each option moves a
//!   pointer.
//!
//! Agents, workflows, plans and tools register in a sharded map (one short lock
//! at start and at end), and a priced call takes the cost ledger's lock once.
//! Measured with callgrind on the agent workload bench
//! (`crates/agent-trace/benches/agent_workload.rs`: six GenAI spans and four
//! plain ones per task), the helpers went from about 105,000 instructions per
//! task above the same spans made with `span_builder` alone to about 22,000,
//! most of it now the cost ledger, the metric records themselves and the extra
//! attributes (cost, call counts) the helpers add.
//!
//! ```
//! use agent_trace_core::AgentStepTracer;
//! use agent_trace_genai::{self as genai, Message, OutputMessage};
//! use agent_trace_genai::semconv::{finish_reason, provider_name};
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
//!     call.record_input_messages(&[Message::user("What is 7 * 6?")]); // capture off: nothing recorded
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
//! agent.end(); // agent_trace.inference_calls = 1, agent_trace.tool_calls = 1
//! ```

#![forbid(unsafe_code)]

pub mod cost;
pub mod privacy;
pub mod semconv;

mod content;
mod conventions;
mod handles;
mod names;
mod operation;
mod scope;
mod spans;

use agent_trace_core::{AgentStepTracer, Key, SpanKind, StringValue};

pub use content::{
    CAPTURE_MESSAGE_CONTENT_ENV, ContentCapture, DEFAULT_MAX_CONTENT_BYTES, MemoryRecord, Message,
    OutputMessage, RetrievedDocument, Role,
};
pub use conventions::{
    Conventions, GEN_AI_DUP, GEN_AI_LATEST_EXPERIMENTAL, STABILITY_OPT_IN_ENV, StabilityOptIn,
};
pub use scope::Entered;
pub use spans::{
    AgentSpan, ChatBuilder, ChatSpan, CreateAgentBuilder, CreateAgentSpan, EmbeddingsBuilder,
    EmbeddingsSpan, ExecuteToolBuilder, InvokeAgentBuilder, InvokeWorkflowBuilder, MemoryBuilder,
    MemorySpan, PlanBuilder, PlanSpan, RetrievalBuilder, RetrievalSpan, ToolSpan, WorkflowSpan,
};

use operation::{Family, Start};
use semconv::operation_name;

/// A span builder named `{operation} {target}` (or `{operation}` alone),
/// with its kind.
#[inline]
fn builder<'a>(
    tracer: &'a AgentStepTracer,
    family: Family,
    operation: &'static str,
    target: Option<&StringValue>,
    kind: SpanKind,
) -> Box<Start<'a>> {
    let name = match target {
        Some(target) => names::span_name(operation, target),
        None => StringValue::from_static(operation),
    };
    Start::new(tracer.span_builder(name).kind(kind), family, operation)
}

#[inline]
fn inference<'a>(
    tracer: &'a AgentStepTracer,
    operation: &'static str,
    provider: StringValue,
    model: StringValue,
) -> ChatBuilder<'a> {
    let start = builder(
        tracer,
        Family::Inference,
        operation,
        Some(&model),
        SpanKind::Client,
    );
    ChatBuilder(start.provider(provider).request_model(model))
}

/// Starts describing a chat completion (such as the OpenAI Chat API): a
/// `chat {model}` span of kind client with `gen_ai.operation.name = chat`,
/// `gen_ai.provider.name` and `gen_ai.request.model`.
///
/// `provider` is the provider as the application knows it (see
/// [`semconv::provider_name`] for the well-known values); `model` the model
/// requested, exactly as sent.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// let mut call = genai::chat(&tracer, "openai", "gpt-4o").max_tokens(256).start();
/// call.record_usage(100, 180);
/// call.record_cache_read_tokens(64); // part of the 100 input tokens
/// call.set_finish_reasons(["stop"]);
/// call.end(); // also records the duration and token metrics, and the price
/// ```
pub fn chat<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    model: impl Into<StringValue>,
) -> ChatBuilder<'a> {
    inference(tracer, operation_name::CHAT, provider.into(), model.into())
}

/// Starts describing a multimodal content generation (such as Gemini
/// Generate Content): a `generate_content {model}` span, otherwise as
/// [`chat`].
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// let mut call = genai::generate_content(&tracer, "gcp.gemini", "gemini-2.5-flash").streaming().start();
/// call.first_chunk(); // time to first chunk, as an attribute and a metric
/// call.record_usage(40, 300);
/// call.record_reasoning_tokens(120); // part of the 300 output tokens
/// ```
pub fn generate_content<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    model: impl Into<StringValue>,
) -> ChatBuilder<'a> {
    inference(
        tracer,
        operation_name::GENERATE_CONTENT,
        provider.into(),
        model.into(),
    )
}

/// Starts describing a (legacy) text completion: a `text_completion
/// {model}` span, otherwise as [`chat`].
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// genai::text_completion(&tracer, "openai", "gpt-3.5-turbo-instruct").start().end();
/// ```
pub fn text_completion<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    model: impl Into<StringValue>,
) -> ChatBuilder<'a> {
    inference(
        tracer,
        operation_name::TEXT_COMPLETION,
        provider.into(),
        model.into(),
    )
}

/// Starts describing an embeddings request: an `embeddings {model}` span of
/// kind client with `gen_ai.operation.name = embeddings`,
/// `gen_ai.provider.name` and `gen_ai.request.model`.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// let mut call = genai::embeddings(&tracer, "openai", "text-embedding-3-small").dimension_count(512).start();
/// call.record_input_tokens(24);
/// ```
pub fn embeddings<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    model: impl Into<StringValue>,
) -> EmbeddingsBuilder<'a> {
    let model = model.into();
    let start = builder(
        tracer,
        Family::Embeddings,
        operation_name::EMBEDDINGS,
        Some(&model),
        SpanKind::Client,
    );
    EmbeddingsBuilder(start.provider(provider.into()).request_model(model))
}

/// Starts describing a tool execution: an `execute_tool {tool}` span of
/// kind internal with `gen_ai.operation.name = execute_tool` and
/// `gen_ai.tool.name`.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
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
    let mut start = builder(
        tracer,
        Family::Tool,
        operation_name::EXECUTE_TOOL,
        Some(&tool_name),
        SpanKind::Internal,
    );
    start.name = Some(tool_name.clone());
    ExecuteToolBuilder(start.attribute(Key::from_static(semconv::GEN_AI_TOOL_NAME), tool_name))
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
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// let agent = genai::invoke_agent(&tracer, "my_framework", "Travel Planner").start();
/// let _in_agent = agent.enter(); // spans started now nest and count under it
/// ```
pub fn invoke_agent<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    agent_name: impl Into<StringValue>,
) -> InvokeAgentBuilder<'a> {
    let agent_name = agent_name.into();
    let mut start = builder(
        tracer,
        Family::Agent,
        operation_name::INVOKE_AGENT,
        Some(&agent_name),
        SpanKind::Internal,
    );
    start.name = Some(agent_name.clone());
    InvokeAgentBuilder(
        start
            .provider(provider.into())
            .attribute(Key::from_static(semconv::GEN_AI_AGENT_NAME), agent_name),
    )
}

/// Starts describing the creation of an agent on a remote agent service: a
/// `create_agent {agent}` span of kind client with
/// `gen_ai.operation.name = create_agent`, `gen_ai.provider.name` and
/// `gen_ai.agent.name`.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// let mut create = genai::create_agent(&tracer, "openai", "Math Tutor").request_model("gpt-4o").start();
/// create.set_agent_id("asst_5j66UpCpwteGg4YSxUnt7lPY");
/// ```
pub fn create_agent<'a>(
    tracer: &'a AgentStepTracer,
    provider: impl Into<StringValue>,
    agent_name: impl Into<StringValue>,
) -> CreateAgentBuilder<'a> {
    let agent_name = agent_name.into();
    let start = builder(
        tracer,
        Family::CreateAgent,
        operation_name::CREATE_AGENT,
        Some(&agent_name),
        SpanKind::Client,
    );
    CreateAgentBuilder(
        start
            .provider(provider.into())
            .attribute(Key::from_static(semconv::GEN_AI_AGENT_NAME), agent_name),
    )
}

/// Starts describing a workflow: an `invoke_workflow {workflow}` span of
/// kind internal with `gen_ai.operation.name = invoke_workflow` and
/// `gen_ai.workflow.name`, for a process that coordinates several agents
/// (a crew, a graph). The conventions ask for it only where a workflow is
/// distinct from an agent; the name must be of low cardinality.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// let workflow = genai::invoke_workflow(&tracer, "customer_support_pipeline").start();
/// let _in_workflow = workflow.enter();
/// ```
pub fn invoke_workflow<'a>(
    tracer: &'a AgentStepTracer,
    workflow_name: impl Into<StringValue>,
) -> InvokeWorkflowBuilder<'a> {
    let workflow_name = workflow_name.into();
    let mut start = builder(
        tracer,
        Family::Workflow,
        operation_name::INVOKE_WORKFLOW,
        Some(&workflow_name),
        SpanKind::Internal,
    );
    start.name = Some(workflow_name.clone());
    InvokeWorkflowBuilder(start.attribute(
        Key::from_static(semconv::GEN_AI_WORKFLOW_NAME),
        workflow_name,
    ))
}

/// Starts describing an agent's planning or task decomposition: a `plan
/// {agent}` span of kind internal with `gen_ai.operation.name = plan` and
/// `gen_ai.agent.name`. The model call that makes the plan should be its
/// child.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai as genai;
///
/// let tracer = AgentStepTracer::new();
/// let plan = genai::plan(&tracer, "planner").start();
/// genai::chat(&tracer, "openai", "gpt-4o").parent(plan.span()).start().end();
/// ```
pub fn plan<'a>(
    tracer: &'a AgentStepTracer,
    agent_name: impl Into<StringValue>,
) -> PlanBuilder<'a> {
    let agent_name = agent_name.into();
    let start = builder(
        tracer,
        Family::Plan,
        operation_name::PLAN,
        Some(&agent_name),
        SpanKind::Internal,
    );
    PlanBuilder(start.attribute(Key::from_static(semconv::GEN_AI_AGENT_NAME), agent_name))
}

fn memory<'a>(tracer: &'a AgentStepTracer, operation: &'static str) -> MemoryBuilder<'a> {
    MemoryBuilder(builder(
        tracer,
        Family::Memory,
        operation,
        None,
        SpanKind::Client,
    ))
}

/// Starts describing a memory search: a `search_memory` span of kind client
/// with `gen_ai.operation.name = search_memory`; the store, provider and
/// records are builder and span methods, the query is content.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai::{self as genai, MemoryRecord};
///
/// let tracer = AgentStepTracer::new();
/// let mut search = genai::search_memory(&tracer).store_id("user-preferences").start();
/// search.record_query("dietary preferences"); // content: recorded only when capture is on
/// search.record_records(&[MemoryRecord::new("vegetarian").id("mem_1").score(0.9)]);
/// search.set_record_count(1);
/// ```
pub fn search_memory(tracer: &AgentStepTracer) -> MemoryBuilder<'_> {
    memory(tracer, operation_name::SEARCH_MEMORY)
}

/// Starts describing the creation of new memory records: a `create_memory`
/// span (see [`search_memory`]).
pub fn create_memory(tracer: &AgentStepTracer) -> MemoryBuilder<'_> {
    memory(tracer, operation_name::CREATE_MEMORY)
}

/// Starts describing the update of known memory records: an
/// `update_memory` span (see [`search_memory`]).
pub fn update_memory(tracer: &AgentStepTracer) -> MemoryBuilder<'_> {
    memory(tracer, operation_name::UPDATE_MEMORY)
}

/// Starts describing a write that may create or update records without the
/// caller choosing which: an `upsert_memory` span (see [`search_memory`]).
pub fn upsert_memory(tracer: &AgentStepTracer) -> MemoryBuilder<'_> {
    memory(tracer, operation_name::UPSERT_MEMORY)
}

/// Starts describing the deletion of memory records: a `delete_memory`
/// span (see [`search_memory`]); without a record id it says every record
/// of the store.
pub fn delete_memory(tracer: &AgentStepTracer) -> MemoryBuilder<'_> {
    memory(tracer, operation_name::DELETE_MEMORY)
}

/// Starts describing the creation of a memory store: a
/// `create_memory_store` span (see [`search_memory`]).
pub fn create_memory_store(tracer: &AgentStepTracer) -> MemoryBuilder<'_> {
    memory(tracer, operation_name::CREATE_MEMORY_STORE)
}

/// Starts describing the deletion of a memory store: a
/// `delete_memory_store` span (see [`search_memory`]).
pub fn delete_memory_store(tracer: &AgentStepTracer) -> MemoryBuilder<'_> {
    memory(tracer, operation_name::DELETE_MEMORY_STORE)
}

/// Starts describing a retrieval from a vector store or search system: a
/// `retrieval {data source}` span of kind client with
/// `gen_ai.operation.name = retrieval` and `gen_ai.data_source.id`.
///
/// ```
/// use agent_trace_core::AgentStepTracer;
/// use agent_trace_genai::{self as genai, RetrievedDocument};
///
/// let tracer = AgentStepTracer::new();
/// let mut retrieval = genai::retrieval(&tracer, "vs_abc123").provider("openai").top_k(5).start();
/// retrieval.record_query("weather in Paris"); // content: recorded only when capture is on
/// retrieval.record_documents(&[RetrievedDocument::new("doc_123", 0.95)]);
/// ```
pub fn retrieval<'a>(
    tracer: &'a AgentStepTracer,
    data_source_id: impl Into<StringValue>,
) -> RetrievalBuilder<'a> {
    let data_source_id = data_source_id.into();
    let start = builder(
        tracer,
        Family::Retrieval,
        operation_name::RETRIEVAL,
        Some(&data_source_id),
        SpanKind::Client,
    );
    RetrievalBuilder(start.attribute(
        Key::from_static(semconv::GEN_AI_DATA_SOURCE_ID),
        data_source_id,
    ))
}
