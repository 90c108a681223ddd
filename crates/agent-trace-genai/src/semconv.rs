//! The OpenTelemetry semantic conventions for generative AI that agent-trace
//! emits: attribute names, their well-known values, and the two client
//! metrics with their bucket boundaries.
//!
//! The values are those of the GenAI conventions (status: Development),
//! which moved from `open-telemetry/semantic-conventions` to
//! `open-telemetry/semantic-conventions-genai`. This module follows the
//! text of the latter: `model/gen-ai/spans.yaml`,
//! `docs/gen-ai/gen-ai-agent-spans.md` and `docs/registry/attributes/gen-ai.md`
//! at commit `002c8a6e` (which links semantic-conventions v1.41.1), and
//! `docs/gen-ai/gen-ai-metrics.md` at commit `048366ea` (v1.44.0 links: the
//! agent and workflow call-count metrics and `gen_ai.invoke_workflow.duration`).
//! Quotes in the doc comments are from that text. They are constants rather
//! than a dependency on a generated crate so that the facade pulls in
//! nothing for them, and so that each carries, in its doc comment, what the
//! conventions say it means. The [GenAI helpers](crate) set them for you; use
//! them directly for attributes the helpers do not cover, or to query what
//! was recorded.
//!
//! # Metric names
//!
//! The conventions name the metrics `gen_ai.client.operation.duration`
//! (unit `s`) and `gen_ai.client.token.usage` (unit `{token}`). agent-trace
//! records them through the [`metrics`](https://docs.rs/metrics) facade
//! under their Prometheus names, [`metric::OPERATION_DURATION`] and
//! [`metric::TOKEN_USAGE`], with labels spelt with underscores
//! ([`metric::label`]): `metrics-exporter-prometheus` turns dots into
//! underscores but adds no unit suffix, so recording under the dotted names
//! would render as `gen_ai_client_operation_duration`, not the
//! `gen_ai_client_operation_duration_seconds` that an OpenTelemetry
//! Collector's Prometheus exporter produces for the same metric. Recording
//! the Prometheus names directly gives one name on every path.

/// `gen_ai.operation.name`: "The name of the operation being performed."
/// Required on every GenAI span and metric; see [`operation_name`] for the
/// well-known values.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";

/// `gen_ai.provider.name`: "The Generative AI provider as identified by the
/// client or server instrumentation." Set on the instrumentation's best
/// knowledge; it may differ from the provider actually serving the model
/// (a proxy, an OpenAI-compatible host). See [`provider_name`].
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";

/// `gen_ai.request.model`: "The name of the GenAI model a request is being
/// made to", exactly as requested (`gpt-4`).
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";

/// `gen_ai.response.model`: "The name of the model that generated the
/// response" (`gpt-4-0613`), which may be more specific than the model
/// requested.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";

/// `gen_ai.response.id`: "The unique identifier for the completion"
/// (`chatcmpl-123`).
pub const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";

/// `gen_ai.request.temperature` (double): "The temperature setting for the
/// GenAI request."
pub const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";

/// `gen_ai.request.max_tokens` (int): "The maximum number of tokens the
/// model generates for a request."
pub const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";

/// `gen_ai.response.finish_reasons` (string array): "Array of reasons the
/// model stopped generating tokens, corresponding to each generation
/// received" (`["stop"]`, `["stop", "length"]`). See [`finish_reason`].
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";

/// `gen_ai.usage.input_tokens` (int): "The number of tokens used in the
/// GenAI input (prompt)." Billable tokens when the provider reports both.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";

/// `gen_ai.usage.output_tokens` (int): "The number of tokens used in the
/// GenAI response (completion)."
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";

/// `gen_ai.conversation.id`: "The unique identifier for a conversation
/// (session, thread), used to store and correlate messages within this
/// conversation." Conditionally required when available.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";

/// `gen_ai.agent.name`: "Human-readable name of the GenAI agent provided by
/// the application" (`Math Tutor`).
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";

/// `gen_ai.agent.id`: "The unique identifier of the GenAI agent"
/// (`asst_5j66UpCpwteGg4YSxUnt7lPY`). The same key as the core's
/// [`AGENT_ID`](agent_trace_core::AGENT_ID), under which the reference's
/// `agent_id` is recorded.
pub const GEN_AI_AGENT_ID: &str = agent_trace_core::AGENT_ID;

/// `gen_ai.agent.description`: "Free-form description of the GenAI agent
/// provided by the application" (`Helps with math problems`).
pub const GEN_AI_AGENT_DESCRIPTION: &str = "gen_ai.agent.description";

/// `gen_ai.tool.name`: "Name of the tool utilized by the agent"
/// (`Flights`).
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";

/// `gen_ai.tool.call.id`: "The tool call identifier"
/// (`call_mszuSIzqtI65i1wAUOE8w5H4`), as the model issued it.
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";

/// `gen_ai.tool.call.arguments` (opt-in): "Parameters passed to the tool
/// call." May contain sensitive information; recorded only through a
/// [`ContentCapture`](crate::ContentCapture) the user enabled.
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";

/// `gen_ai.tool.call.result` (opt-in): "The result returned by the tool
/// call (if any and if execution was successful)." May contain sensitive
/// information; recorded only through a
/// [`ContentCapture`](crate::ContentCapture) the user enabled.
pub const GEN_AI_TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";

/// `gen_ai.input.messages` (opt-in): "The chat history provided to the
/// model as an input", in the order sent, following the conventions' input
/// messages JSON schema. On spans, where structured values are not
/// supported, it is a JSON string. "Likely to contain sensitive information
/// including user/PII data": recorded only through a
/// [`ContentCapture`](crate::ContentCapture) the user enabled.
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";

/// `gen_ai.output.messages` (opt-in): "Messages returned by the model where
/// each message represents a specific model response (choice, candidate)",
/// following the conventions' output messages JSON schema; a JSON string on
/// spans. Recorded only through a
/// [`ContentCapture`](crate::ContentCapture) the user enabled.
pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";

/// `gen_ai.token.type`: "The type of token being counted", a required
/// attribute of the token usage metric. See [`token_type`].
pub const GEN_AI_TOKEN_TYPE: &str = "gen_ai.token.type";

/// `error.type` (stable, general conventions): "Describes a class of error
/// the operation ended with" (`timeout`, `500`,
/// `java.net.UnknownHostException`). Conditionally required when the
/// operation failed; it should be the provider's or client library's error
/// code, the canonical name of the error, or another low-cardinality
/// identifier, never a free-form message. See [`error_type`].
pub const ERROR_TYPE: &str = "error.type";

/// `gen_ai.usage.cache_read.input_tokens` (int): "The number of input tokens
/// served from a provider-managed cache." It "SHOULD be included in
/// `gen_ai.usage.input_tokens`".
pub const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";

/// `gen_ai.usage.cache_creation.input_tokens` (int): "The number of input
/// tokens written to a provider-managed cache this turn." It "SHOULD be
/// included in `gen_ai.usage.input_tokens`".
pub const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_creation.input_tokens";

/// `gen_ai.usage.reasoning.output_tokens` (int): reasoning tokens; the value
/// "SHOULD be included in `gen_ai.usage.output_tokens`".
pub const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";

/// `gen_ai.request.top_p` (double): "The top_p sampling setting for the
/// GenAI request."
pub const GEN_AI_REQUEST_TOP_P: &str = "gen_ai.request.top_p";

/// `gen_ai.request.top_k` (double): "The top_k sampling setting for the
/// GenAI request"; on retrieval spans, how many results were asked for.
pub const GEN_AI_REQUEST_TOP_K: &str = "gen_ai.request.top_k";

/// `gen_ai.request.seed` (int): "Requests with same seed value more likely
/// to return same result."
pub const GEN_AI_REQUEST_SEED: &str = "gen_ai.request.seed";

/// `gen_ai.request.stop_sequences` (string array): "List of sequences that
/// the model will use to stop generating further tokens."
pub const GEN_AI_REQUEST_STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";

/// `gen_ai.request.frequency_penalty` (double).
pub const GEN_AI_REQUEST_FREQUENCY_PENALTY: &str = "gen_ai.request.frequency_penalty";

/// `gen_ai.request.presence_penalty` (double).
pub const GEN_AI_REQUEST_PRESENCE_PENALTY: &str = "gen_ai.request.presence_penalty";

/// `gen_ai.request.choice.count` (int): "The target number of candidate
/// completions to return"; conditionally required when not 1.
pub const GEN_AI_REQUEST_CHOICE_COUNT: &str = "gen_ai.request.choice.count";

/// `gen_ai.request.stream` (boolean): "Indicates whether the GenAI request
/// was made in streaming mode"; set "if and only if the request is
/// streaming".
pub const GEN_AI_REQUEST_STREAM: &str = "gen_ai.request.stream";

/// `gen_ai.request.encoding_formats` (string array): "The encoding formats
/// requested in an embeddings operation, if specified."
pub const GEN_AI_REQUEST_ENCODING_FORMATS: &str = "gen_ai.request.encoding_formats";

/// `gen_ai.output.type`: "Represents the content type requested by the
/// client." See [`output_type`].
pub const GEN_AI_OUTPUT_TYPE: &str = "gen_ai.output.type";

/// `gen_ai.response.time_to_first_chunk` (double, seconds): "Time to first
/// chunk in a streaming response, measured from request issuance."
pub const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";

/// `gen_ai.embeddings.dimension.count` (int): "The number of dimensions the
/// resulting output embeddings should have."
pub const GEN_AI_EMBEDDINGS_DIMENSION_COUNT: &str = "gen_ai.embeddings.dimension.count";

/// `gen_ai.agent.version`: "The version of the GenAI agent" (`1.0.0`).
pub const GEN_AI_AGENT_VERSION: &str = "gen_ai.agent.version";

/// `gen_ai.workflow.name`: "Human-readable name of the GenAI workflow
/// provided by the application"; it "MUST have low cardinality".
pub const GEN_AI_WORKFLOW_NAME: &str = "gen_ai.workflow.name";

/// `gen_ai.tool.type`: "Type of the tool utilized by the agent". See
/// [`tool_type`].
pub const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";

/// `gen_ai.tool.description`: the tool's description.
pub const GEN_AI_TOOL_DESCRIPTION: &str = "gen_ai.tool.description";

/// `gen_ai.system_instructions` (opt-in): "The system message or
/// instructions provided to the GenAI model separately from the chat
/// history", as `[{"type":"text","content":..}]`. Recorded only through a
/// [`ContentCapture`](crate::ContentCapture) that is on.
pub const GEN_AI_SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";

/// `gen_ai.data_source.id`: "The data source identifier" of a retrieval or
/// an agent's grounding data (`H7STPQYOND`).
pub const GEN_AI_DATA_SOURCE_ID: &str = "gen_ai.data_source.id";

/// `gen_ai.retrieval.query.text` (opt-in): "The query text used for
/// retrieval"; it "may contain sensitive information". Recorded only
/// through a [`ContentCapture`](crate::ContentCapture) that is on.
pub const GEN_AI_RETRIEVAL_QUERY_TEXT: &str = "gen_ai.retrieval.query.text";

/// `gen_ai.retrieval.documents` (opt-in): "The documents retrieved", each
/// with at least an `id` and a `score`. Recorded only through a
/// [`ContentCapture`](crate::ContentCapture) that is on.
pub const GEN_AI_RETRIEVAL_DOCUMENTS: &str = "gen_ai.retrieval.documents";

/// `gen_ai.memory.store.id`: "The unique identifier of the memory store"
/// (`user-preferences-store`); conditionally required "if applicable".
pub const GEN_AI_MEMORY_STORE_ID: &str = "gen_ai.memory.store.id";

/// `gen_ai.memory.record.id`: "The unique identifier of the memory record";
/// conditionally required "when the operation applies to a specific memory
/// record". On `delete_memory`, its absence "may indicate that the
/// operation intends to delete all memory records in the specified store".
pub const GEN_AI_MEMORY_RECORD_ID: &str = "gen_ai.memory.record.id";

/// `gen_ai.memory.record.count` (int): "The number of memory records
/// relevant to the operation."
pub const GEN_AI_MEMORY_RECORD_COUNT: &str = "gen_ai.memory.record.count";

/// `gen_ai.memory.query.text` (opt-in): "The search query used to retrieve
/// memories." Recorded only through a
/// [`ContentCapture`](crate::ContentCapture) that is on.
pub const GEN_AI_MEMORY_QUERY_TEXT: &str = "gen_ai.memory.query.text";

/// `gen_ai.memory.records` (opt-in): "The memory records stored or retrieved
/// in a memory operation", in the conventions' memory records schema.
/// Recorded only through a [`ContentCapture`](crate::ContentCapture)
/// that is on.
pub const GEN_AI_MEMORY_RECORDS: &str = "gen_ai.memory.records";

/// `server.address` (stable): "GenAI server address", recommended on client
/// spans.
pub const SERVER_ADDRESS: &str = "server.address";

/// `server.port` (stable): "GenAI server port"; conditionally required when
/// `server.address` is set.
pub const SERVER_PORT: &str = "server.port";

/// `agent_trace.inference_calls` (int), agent-trace's own: on an
/// `invoke_agent` span, the model calls (`chat`, `generate_content`,
/// `text_completion`, `embeddings`) the agent itself made, not those of
/// agents or workflows it invoked (each call counted once across the tree,
/// as the conventions define the `gen_ai.invoke_agent.inference_calls`
/// metric); on an `invoke_workflow` span, every model call below it, nested
/// workflows included (as `gen_ai.invoke_workflow.inference_calls`). Set
/// when the span ends.
pub const INFERENCE_CALLS: &str = "agent_trace.inference_calls";

/// `agent_trace.tool_calls` (int), agent-trace's own: as
/// [`INFERENCE_CALLS`], for `execute_tool` calls.
pub const TOOL_CALLS: &str = "agent_trace.tool_calls";

/// The names of the conventions before v1.37.0 that some backends still
/// read, written next to the latest ones when
/// [`Conventions`](crate::Conventions) asks for them
/// (`OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai/dup`).
pub mod legacy {
    /// `gen_ai.system` (deprecated): replaced by
    /// [`GEN_AI_PROVIDER_NAME`](super::GEN_AI_PROVIDER_NAME); written with the
    /// same value.
    pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
    /// `gen_ai.usage.prompt_tokens` (deprecated): "Replaced by
    /// `gen_ai.usage.input_tokens`."
    pub const GEN_AI_USAGE_PROMPT_TOKENS: &str = "gen_ai.usage.prompt_tokens";
    /// `gen_ai.usage.completion_tokens` (deprecated): "Replaced by
    /// `gen_ai.usage.output_tokens`."
    pub const GEN_AI_USAGE_COMPLETION_TOKENS: &str = "gen_ai.usage.completion_tokens";
}

/// Well-known values of [`GEN_AI_OPERATION_NAME`]. "If one of them applies,
/// then the respective value MUST be used; otherwise, a custom value MAY be
/// used."
pub mod operation_name {
    /// `chat`: a chat completion, such as the OpenAI Chat API.
    pub const CHAT: &str = "chat";
    /// `create_agent`: create a GenAI agent.
    pub const CREATE_AGENT: &str = "create_agent";
    /// `embeddings`: an embeddings operation.
    pub const EMBEDDINGS: &str = "embeddings";
    /// `execute_tool`: execute a tool.
    pub const EXECUTE_TOOL: &str = "execute_tool";
    /// `generate_content`: multimodal content generation, such as Gemini
    /// Generate Content.
    pub const GENERATE_CONTENT: &str = "generate_content";
    /// `invoke_agent`: invoke a GenAI agent.
    pub const INVOKE_AGENT: &str = "invoke_agent";
    /// `text_completion`: a (legacy) text completion.
    pub const TEXT_COMPLETION: &str = "text_completion";
    /// `invoke_workflow`: "Invoke GenAI workflow".
    pub const INVOKE_WORKFLOW: &str = "invoke_workflow";
    /// `plan`: "Agent planning or task decomposition phase".
    pub const PLAN: &str = "plan";
    /// `retrieval`: a retrieval operation, such as the OpenAI Search Vector
    /// Store API.
    pub const RETRIEVAL: &str = "retrieval";
    /// `search_memory`: "Search/query memories from a memory store".
    pub const SEARCH_MEMORY: &str = "search_memory";
    /// `create_memory`: "Create new memory records".
    pub const CREATE_MEMORY: &str = "create_memory";
    /// `update_memory`: "Update existing memory records".
    pub const UPDATE_MEMORY: &str = "update_memory";
    /// `upsert_memory`: "Create or update memory records without the caller
    /// choosing which".
    pub const UPSERT_MEMORY: &str = "upsert_memory";
    /// `delete_memory`: "Delete memory records".
    pub const DELETE_MEMORY: &str = "delete_memory";
    /// `create_memory_store`: "Create or initialize a memory store".
    pub const CREATE_MEMORY_STORE: &str = "create_memory_store";
    /// `delete_memory_store`: "Delete or deprovision a memory store".
    pub const DELETE_MEMORY_STORE: &str = "delete_memory_store";
}

/// Well-known values of [`GEN_AI_PROVIDER_NAME`]. "If one of them applies,
/// then the respective value MUST be used; otherwise, a custom value MAY be
/// used."
pub mod provider_name {
    /// Anthropic.
    pub const ANTHROPIC: &str = "anthropic";
    /// AWS Bedrock.
    pub const AWS_BEDROCK: &str = "aws.bedrock";
    /// Azure AI Inference.
    pub const AZURE_AI_INFERENCE: &str = "azure.ai.inference";
    /// Azure OpenAI.
    pub const AZURE_AI_OPENAI: &str = "azure.ai.openai";
    /// Cohere.
    pub const COHERE: &str = "cohere";
    /// DeepSeek.
    pub const DEEPSEEK: &str = "deepseek";
    /// Gemini through `generativelanguage.googleapis.com` (AI Studio).
    pub const GCP_GEMINI: &str = "gcp.gemini";
    /// Any Google generative AI endpoint, when the backend is unknown.
    pub const GCP_GEN_AI: &str = "gcp.gen_ai";
    /// Vertex AI through `aiplatform.googleapis.com`.
    pub const GCP_VERTEX_AI: &str = "gcp.vertex_ai";
    /// Groq.
    pub const GROQ: &str = "groq";
    /// IBM watsonx.ai.
    pub const IBM_WATSONX_AI: &str = "ibm.watsonx.ai";
    /// Mistral AI.
    pub const MISTRAL_AI: &str = "mistral_ai";
    /// Moonshot AI.
    pub const MOONSHOT_AI: &str = "moonshot_ai";
    /// OpenAI.
    pub const OPENAI: &str = "openai";
    /// Perplexity.
    pub const PERPLEXITY: &str = "perplexity";
    /// xAI.
    pub const X_AI: &str = "x_ai";
}

/// Well-known values of [`GEN_AI_TOKEN_TYPE`].
pub mod token_type {
    /// `input`: "Input tokens (prompt, input, etc.)".
    pub const INPUT: &str = "input";
    /// `output`: "Output tokens (completion, response, etc.)".
    pub const OUTPUT: &str = "output";
}

/// Well-known values of [`GEN_AI_RESPONSE_FINISH_REASONS`] and of an output
/// message's `finish_reason` (the output messages JSON schema's
/// `FinishReason`); a provider's own value may be used instead.
pub mod finish_reason {
    /// The model reached a natural stop.
    pub const STOP: &str = "stop";
    /// The output reached the token limit.
    pub const LENGTH: &str = "length";
    /// A content filter withheld the output.
    pub const CONTENT_FILTER: &str = "content_filter";
    /// The model asked for a tool call.
    pub const TOOL_CALL: &str = "tool_call";
    /// The generation failed.
    pub const ERROR: &str = "error";
}

/// Well-known values of [`GEN_AI_TOOL_TYPE`].
pub mod tool_type {
    /// "A tool executed on the client-side, where the agent generates
    /// parameters for a predefined function, and the client executes the
    /// logic."
    pub const FUNCTION: &str = "function";
    /// "A tool executed on the agent-side to directly call external APIs."
    pub const EXTENSION: &str = "extension";
    /// "A tool used by the agent to access and query structured or
    /// unstructured external data for retrieval-augmented tasks or knowledge
    /// updates."
    pub const DATASTORE: &str = "datastore";
}

/// Well-known values of [`GEN_AI_OUTPUT_TYPE`].
pub mod output_type {
    /// Plain text.
    pub const TEXT: &str = "text";
    /// "JSON object with known or unknown schema".
    pub const JSON: &str = "json";
    /// An image.
    pub const IMAGE: &str = "image";
    /// Speech.
    pub const SPEECH: &str = "speech";
}

/// Well-known values of [`ERROR_TYPE`].
pub mod error_type {
    /// `_OTHER`: "A fallback error value to be used when the instrumentation
    /// doesn't define a custom value."
    pub const OTHER: &str = "_OTHER";
}

/// The GenAI client metrics: names, bucket boundaries and label names (see
/// the module docs for why the names are the Prometheus ones).
pub mod metric {
    /// The conventions' name of the operation duration histogram
    /// (unit `s`): "GenAI operation duration." Recorded as
    /// [`OPERATION_DURATION`].
    pub const OTEL_OPERATION_DURATION: &str = "gen_ai.client.operation.duration";

    /// The conventions' name of the token usage histogram (unit
    /// `{token}`): "Number of input and output tokens used." Recorded as
    /// [`TOKEN_USAGE`].
    pub const OTEL_TOKEN_USAGE: &str = "gen_ai.client.token.usage";

    /// Histogram of GenAI operation durations, in seconds, under the name
    /// the `metrics` facade and Prometheus see; labels
    /// [`label::OPERATION_NAME`], [`label::PROVIDER_NAME`] and
    /// [`label::REQUEST_MODEL`] when known, [`label::ERROR_TYPE`] when the
    /// operation failed.
    pub const OPERATION_DURATION: &str = agent_trace_metrics::GEN_AI_OPERATION_DURATION_SECONDS;

    /// Histogram of tokens used per operation, under the name the `metrics`
    /// facade and Prometheus see; one value per token type
    /// ([`label::TOKEN_TYPE`]), plus the labels of [`OPERATION_DURATION`]
    /// but the error type.
    pub const TOKEN_USAGE: &str = agent_trace_metrics::GEN_AI_TOKEN_USAGE;

    /// The explicit bucket boundaries the conventions give for
    /// `gen_ai.client.operation.duration`, in seconds: 10 ms doubling to
    /// 81.92 s.
    pub const OPERATION_DURATION_BUCKETS: &[f64] = agent_trace_metrics::GEN_AI_DURATION_BUCKETS;

    /// The explicit bucket boundaries the conventions give for
    /// `gen_ai.client.token.usage`: powers of 4 from 1 to 4^13.
    pub const TOKEN_USAGE_BUCKETS: &[f64] = agent_trace_metrics::GEN_AI_TOKEN_BUCKETS;

    /// The conventions' name of the time-to-first-chunk histogram (unit
    /// `s`): "Time to receive the first chunk, measured from when the
    /// client issues the generation request to when the first chunk is
    /// received in the response stream", for streaming calls only.
    /// Recorded as [`TIME_TO_FIRST_CHUNK`].
    pub const OTEL_TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.operation.time_to_first_chunk";

    /// The conventions' name of the agent invocation histogram (unit `s`):
    /// "The end-to-end duration of a single in-process agent invocation".
    /// Recorded as [`INVOKE_AGENT_DURATION`].
    pub const OTEL_INVOKE_AGENT_DURATION: &str = "gen_ai.invoke_agent.duration";

    /// The conventions' name of the tool execution histogram (unit `s`):
    /// "The duration of a single tool execution." Recorded as
    /// [`EXECUTE_TOOL_DURATION`].
    pub const OTEL_EXECUTE_TOOL_DURATION: &str = "gen_ai.execute_tool.duration";

    /// The conventions' name of the per-invocation model call count
    /// (unit `{inference_call}`): "The number of inference (model) calls a
    /// GenAI agent makes during a single invocation", its own only.
    /// Recorded as [`INVOKE_AGENT_INFERENCE_CALLS`].
    pub const OTEL_INVOKE_AGENT_INFERENCE_CALLS: &str = "gen_ai.invoke_agent.inference_calls";

    /// The conventions' name of the per-invocation tool call count (unit
    /// `{tool_call}`). Recorded as [`INVOKE_AGENT_TOOL_CALLS`].
    pub const OTEL_INVOKE_AGENT_TOOL_CALLS: &str = "gen_ai.invoke_agent.tool_calls";

    /// The conventions' name of the workflow duration histogram (unit
    /// `s`). Recorded as [`INVOKE_WORKFLOW_DURATION`].
    pub const OTEL_INVOKE_WORKFLOW_DURATION: &str = "gen_ai.invoke_workflow.duration";

    /// The conventions' name of the per-execution model call count of a
    /// workflow, nested workflows included. Recorded as
    /// [`INVOKE_WORKFLOW_INFERENCE_CALLS`].
    pub const OTEL_INVOKE_WORKFLOW_INFERENCE_CALLS: &str = "gen_ai.invoke_workflow.inference_calls";

    /// The conventions' name of the per-execution tool call count of a
    /// workflow. Recorded as [`INVOKE_WORKFLOW_TOOL_CALLS`].
    pub const OTEL_INVOKE_WORKFLOW_TOOL_CALLS: &str = "gen_ai.invoke_workflow.tool_calls";

    /// Histogram of the time to the first chunk of streaming LLM calls, in
    /// seconds, under its Prometheus name; labels as
    /// [`OPERATION_DURATION`] without the error type; buckets
    /// [`OPERATION_DURATION_BUCKETS`].
    pub const TIME_TO_FIRST_CHUNK: &str = agent_trace_metrics::GEN_AI_TIME_TO_FIRST_CHUNK_SECONDS;

    /// Histogram of agent invocation durations, in seconds, under its
    /// Prometheus name; labels [`label::AGENT_NAME`],
    /// [`label::REQUEST_MODEL`] when set, [`label::ERROR_TYPE`] on failure;
    /// buckets [`INVOKE_AGENT_DURATION_BUCKETS`].
    pub const INVOKE_AGENT_DURATION: &str =
        agent_trace_metrics::GEN_AI_INVOKE_AGENT_DURATION_SECONDS;

    /// Histogram of tool execution durations, in seconds, under its
    /// Prometheus name; labels [`label::TOOL_NAME`], [`label::AGENT_NAME`]
    /// of the agent the tool ran under, [`label::TOOL_TYPE`] when set,
    /// [`label::ERROR_TYPE`] on failure; buckets
    /// [`OPERATION_DURATION_BUCKETS`].
    pub const EXECUTE_TOOL_DURATION: &str =
        agent_trace_metrics::GEN_AI_EXECUTE_TOOL_DURATION_SECONDS;

    /// Histogram of the model calls per agent invocation (a `{...}` unit
    /// adds no Prometheus suffix); label [`label::AGENT_NAME`]; buckets
    /// [`AGENT_CALL_COUNT_BUCKETS`].
    pub const INVOKE_AGENT_INFERENCE_CALLS: &str =
        agent_trace_metrics::GEN_AI_INVOKE_AGENT_INFERENCE_CALLS;

    /// Histogram of the tool calls per agent invocation; as
    /// [`INVOKE_AGENT_INFERENCE_CALLS`].
    pub const INVOKE_AGENT_TOOL_CALLS: &str = agent_trace_metrics::GEN_AI_INVOKE_AGENT_TOOL_CALLS;

    /// Histogram of workflow durations, in seconds; labels
    /// [`label::WORKFLOW_NAME`], [`label::ERROR_TYPE`] on failure; buckets
    /// [`INVOKE_WORKFLOW_DURATION_BUCKETS`].
    pub const INVOKE_WORKFLOW_DURATION: &str =
        agent_trace_metrics::GEN_AI_INVOKE_WORKFLOW_DURATION_SECONDS;

    /// Histogram of the model calls per workflow execution; label
    /// [`label::WORKFLOW_NAME`]; buckets [`WORKFLOW_CALL_COUNT_BUCKETS`].
    pub const INVOKE_WORKFLOW_INFERENCE_CALLS: &str =
        agent_trace_metrics::GEN_AI_INVOKE_WORKFLOW_INFERENCE_CALLS;

    /// Histogram of the tool calls per workflow execution; as
    /// [`INVOKE_WORKFLOW_INFERENCE_CALLS`].
    pub const INVOKE_WORKFLOW_TOOL_CALLS: &str =
        agent_trace_metrics::GEN_AI_INVOKE_WORKFLOW_TOOL_CALLS;

    /// The explicit bucket boundaries the conventions give for
    /// `gen_ai.invoke_agent.duration`, in seconds: 100 ms doubling to
    /// 409.6 s.
    pub const INVOKE_AGENT_DURATION_BUCKETS: &[f64] =
        agent_trace_metrics::GEN_AI_INVOKE_AGENT_DURATION_BUCKETS;

    /// The explicit bucket boundaries the conventions give for
    /// `gen_ai.invoke_agent.inference_calls` and `.tool_calls`.
    pub const AGENT_CALL_COUNT_BUCKETS: &[f64] =
        agent_trace_metrics::GEN_AI_AGENT_CALL_COUNT_BUCKETS;

    /// The explicit bucket boundaries the conventions give for
    /// `gen_ai.invoke_workflow.duration`, in seconds: 1 s to 2 h.
    pub const INVOKE_WORKFLOW_DURATION_BUCKETS: &[f64] =
        agent_trace_metrics::GEN_AI_INVOKE_WORKFLOW_DURATION_BUCKETS;

    /// The explicit bucket boundaries the conventions give for
    /// `gen_ai.invoke_workflow.inference_calls` and `.tool_calls`.
    pub const WORKFLOW_CALL_COUNT_BUCKETS: &[f64] =
        agent_trace_metrics::GEN_AI_WORKFLOW_CALL_COUNT_BUCKETS;

    /// Every GenAI histogram the helpers record, with the bucket boundaries the
    /// conventions give for it. Set them on a Prometheus recorder
    /// (`builder.set_buckets_for_metric(Matcher::Full(name.to_owned()),
    /// buckets)` of `metrics-exporter-prometheus`), which otherwise renders a
    /// histogram without buckets as a summary.
    /// `agent_trace_metrics::prometheus_builder` (feature `prometheus`), and so
    /// `agent_trace::init()`, sets them all.
    ///
    /// ```
    /// use agent_trace_genai::semconv::metric::{HISTOGRAM_BUCKETS, INVOKE_AGENT_DURATION};
    ///
    /// let (_, buckets) = HISTOGRAM_BUCKETS
    ///     .iter()
    ///     .find(|(name, _)| *name == INVOKE_AGENT_DURATION)
    ///     .ok_or("listed")?;
    /// assert_eq!(buckets.last(), Some(&409.6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = agent_trace_metrics::GEN_AI_HISTOGRAM_BUCKETS;

    /// Label names of the GenAI metrics: the attribute names with
    /// underscores, as Prometheus spells them.
    pub mod label {
        /// [`GEN_AI_OPERATION_NAME`](crate::semconv::GEN_AI_OPERATION_NAME).
        pub const OPERATION_NAME: &str = "gen_ai_operation_name";
        /// [`GEN_AI_PROVIDER_NAME`](crate::semconv::GEN_AI_PROVIDER_NAME).
        pub const PROVIDER_NAME: &str = "gen_ai_provider_name";
        /// [`GEN_AI_REQUEST_MODEL`](crate::semconv::GEN_AI_REQUEST_MODEL).
        pub const REQUEST_MODEL: &str = "gen_ai_request_model";
        /// [`GEN_AI_TOKEN_TYPE`](crate::semconv::GEN_AI_TOKEN_TYPE).
        pub const TOKEN_TYPE: &str = "gen_ai_token_type";
        /// [`ERROR_TYPE`](crate::semconv::ERROR_TYPE).
        pub const ERROR_TYPE: &str = "error_type";
        /// [`GEN_AI_AGENT_NAME`](crate::semconv::GEN_AI_AGENT_NAME).
        pub const AGENT_NAME: &str = "gen_ai_agent_name";
        /// [`GEN_AI_TOOL_NAME`](crate::semconv::GEN_AI_TOOL_NAME).
        pub const TOOL_NAME: &str = "gen_ai_tool_name";
        /// [`GEN_AI_TOOL_TYPE`](crate::semconv::GEN_AI_TOOL_TYPE).
        pub const TOOL_TYPE: &str = "gen_ai_tool_type";
        /// [`GEN_AI_WORKFLOW_NAME`](crate::semconv::GEN_AI_WORKFLOW_NAME).
        pub const WORKFLOW_NAME: &str = "gen_ai_workflow_name";
    }
}
