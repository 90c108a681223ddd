//! The OpenTelemetry semantic conventions for generative AI that agent-trace
//! emits: attribute names, their well-known values, and the two client
//! metrics with their bucket boundaries.
//!
//! The values are those of the GenAI conventions (status: Development) in
//! `open-telemetry/semantic-conventions`, `docs/gen-ai/gen-ai-spans.md`,
//! `gen-ai-agent-spans.md` and `gen-ai-metrics.md`, which now continue in
//! `open-telemetry/semantic-conventions-genai`. They are constants rather
//! than a dependency on a generated crate so that the facade pulls in
//! nothing for them, and so that each carries, in its doc comment, what the
//! conventions say it means. [`genai`](crate::genai) sets them for you; use
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
/// [`AGENT_ID`](crate::AGENT_ID), under which the reference's `agent_id` is
/// recorded.
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
/// [`ContentCapture`](crate::genai::ContentCapture) the user enabled.
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";

/// `gen_ai.tool.call.result` (opt-in): "The result returned by the tool
/// call (if any and if execution was successful)." May contain sensitive
/// information; recorded only through a
/// [`ContentCapture`](crate::genai::ContentCapture) the user enabled.
pub const GEN_AI_TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";

/// `gen_ai.input.messages` (opt-in): "The chat history provided to the
/// model as an input", in the order sent, following the conventions' input
/// messages JSON schema. On spans, where structured values are not
/// supported, it is a JSON string. "Likely to contain sensitive information
/// including user/PII data": recorded only through a
/// [`ContentCapture`](crate::genai::ContentCapture) the user enabled.
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";

/// `gen_ai.output.messages` (opt-in): "Messages returned by the model where
/// each message represents a specific model response (choice, candidate)",
/// following the conventions' output messages JSON schema; a JSON string on
/// spans. Recorded only through a
/// [`ContentCapture`](crate::genai::ContentCapture) the user enabled.
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
    }
}
