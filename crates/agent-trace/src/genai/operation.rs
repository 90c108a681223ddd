//! What every helper shares: the builder state before start, and the span
//! in progress with what its end records (attributes derived from the
//! subtree, the price, the metrics).

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use ::metrics::Label;
use agent_trace_core::{Key, Parent, Span, SpanBuilder, SpanId, Status, StringValue, Value};

use super::content::ContentCapture;
use super::conventions::Conventions;
use super::scope::{self, Call, Entered, Scope, ScopeParts, Tally, TallyKind};
use crate::cost::{self, CallAttribution, TokenUsage};
use crate::privacy::{ScrubberChain, SensitiveText};
use crate::semconv::metric::{self, label};
use crate::semconv::{self, legacy, token_type};

/// Which kind of GenAI operation a span is: what it counts for, and which
/// metrics its end records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `chat`, `generate_content`, `text_completion`.
    Inference,
    /// `embeddings`.
    Embeddings,
    /// `execute_tool`.
    Tool,
    /// `invoke_agent`.
    Agent,
    /// `create_agent`.
    CreateAgent,
    /// `invoke_workflow`.
    Workflow,
    /// `plan`.
    Plan,
    /// The memory operations.
    Memory,
    /// `retrieval`.
    Retrieval,
}

impl Family {
    /// Spans other GenAI spans run under, which therefore register their
    /// scope.
    fn is_container(self) -> bool {
        matches!(
            self,
            Family::Agent | Family::Workflow | Family::Plan | Family::Tool
        )
    }

    /// Model calls: counted as inference calls, priced.
    fn is_model_call(self) -> bool {
        matches!(self, Family::Inference | Family::Embeddings)
    }

    /// Whether the end records `gen_ai.client.operation.duration`: every
    /// operation with a client side (a model, a tool, an agent, a memory or
    /// a retriever); not workflows and plans, which have metrics or no
    /// client of their own.
    fn records_operation_duration(self) -> bool {
        !matches!(self, Family::Workflow | Family::Plan)
    }
}

/// What every builder holds until its span starts.
#[derive(Debug)]
pub(crate) struct Start<'a> {
    pub(crate) span: SpanBuilder<'a>,
    pub(crate) parent: Parent<'a>,
    pub(crate) family: Family,
    pub(crate) operation: &'static str,
    pub(crate) provider: Option<StringValue>,
    pub(crate) request_model: Option<StringValue>,
    /// The agent, tool or workflow name, per family.
    pub(crate) name: Option<StringValue>,
    pub(crate) tool_type: Option<StringValue>,
    pub(crate) conversation_id: Option<StringValue>,
    pub(crate) streaming: bool,
    /// An agent behind a remote service: its calls are not observed here,
    /// so it gets no call counts and no in-process duration metric.
    pub(crate) remote: bool,
    /// `None`: [`ContentCapture::global`] at start.
    pub(crate) capture: Option<ContentCapture>,
    /// `None`: [`Conventions::global`] at start.
    pub(crate) conventions: Option<Conventions>,
}

impl<'a> Start<'a> {
    pub(crate) fn new(span: SpanBuilder<'a>, family: Family, operation: &'static str) -> Self {
        Self {
            span: span.attribute(semconv::GEN_AI_OPERATION_NAME, operation),
            parent: Parent::Current,
            family,
            operation,
            provider: None,
            request_model: None,
            name: None,
            tool_type: None,
            conversation_id: None,
            streaming: false,
            remote: false,
            capture: None,
            conventions: None,
        }
    }

    pub(crate) fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.span = self.span.attribute(key, value);
        self
    }

    pub(crate) fn parent(mut self, parent: Parent<'a>) -> Self {
        self.span = self.span.parent(parent.clone());
        self.parent = parent;
        self
    }

    pub(crate) fn provider(mut self, provider: StringValue) -> Self {
        self.provider = Some(provider.clone());
        self.attribute(semconv::GEN_AI_PROVIDER_NAME, provider)
    }

    pub(crate) fn request_model(mut self, model: StringValue) -> Self {
        self.request_model = Some(model.clone());
        self.attribute(semconv::GEN_AI_REQUEST_MODEL, model)
    }

    pub(crate) fn conversation_id(mut self, id: StringValue) -> Self {
        self.conversation_id = Some(id.clone());
        self.attribute(semconv::GEN_AI_CONVERSATION_ID, id)
    }

    pub(crate) fn start(self) -> Operation {
        let conventions = self.conventions.unwrap_or_else(Conventions::global);
        let capture = self.capture.unwrap_or_else(ContentCapture::global);
        let mut span = self.span;
        if conventions.emits_legacy()
            && let Some(provider) = &self.provider
        {
            span = span.attribute(legacy::GEN_AI_SYSTEM, provider.clone());
        }
        if self.streaming {
            span = span.attribute(semconv::GEN_AI_REQUEST_STREAM, true);
        }
        // Resolved before the span starts, while the parent is what is
        // current.
        let parent_scope = scope::resolve(&self.parent);
        // Read before the span starts, so the metric covers what the span
        // covers (for a sampled-out span, whose duration is not measured).
        let start = Instant::now();
        let span = span.start();

        let tally = match self.family {
            Family::Agent if !self.remote => Some(Tally::new(TallyKind::Agent)),
            Family::Workflow => Some(Tally::new(TallyKind::Workflow)),
            _ => None,
        };
        let parts = ScopeParts {
            tally: tally.clone(),
            agent_name: match self.family {
                Family::Agent => self.name.clone(),
                _ => None,
            },
            tool_name: match self.family {
                Family::Tool => self.name.clone(),
                _ => None,
            },
            conversation_id: self.conversation_id,
        };
        let scope = Arc::new(Scope::child(
            parent_scope.as_deref(),
            span.trace_id(),
            parts,
        ));
        let registered = self.family.is_container().then(|| {
            let id = span.span_id();
            scope::register(id, Arc::clone(&scope));
            id
        });
        if self.family.is_model_call() {
            scope.count(Call::Inference);
        } else if self.family == Family::Tool {
            scope.count(Call::Tool);
        }
        Operation {
            span: Some(span),
            family: self.family,
            remote: self.remote,
            operation: self.operation,
            provider: self.provider,
            request_model: self.request_model,
            response_model: None,
            name: self.name,
            tool_type: self.tool_type,
            usage: None,
            error_type: None,
            capture,
            conventions,
            start,
            first_chunk: None,
            scope,
            tally,
            registered,
        }
    }
}

/// A GenAI span in progress and what its end needs.
#[derive(Debug)]
pub(crate) struct Operation {
    /// `None` only while it ends.
    span: Option<Span>,
    family: Family,
    remote: bool,
    operation: &'static str,
    provider: Option<StringValue>,
    request_model: Option<StringValue>,
    response_model: Option<StringValue>,
    name: Option<StringValue>,
    tool_type: Option<StringValue>,
    /// Tokens, once reported.
    usage: Option<TokenUsage>,
    /// Set when the operation failed; a label of the duration metrics.
    error_type: Option<StringValue>,
    capture: ContentCapture,
    conventions: Conventions,
    start: Instant,
    /// Seconds to the first chunk of a stream, once received.
    first_chunk: Option<f64>,
    /// Where this span runs (its own scope: for a container, what its
    /// children inherit).
    scope: Arc<Scope>,
    /// The counters of an agent or workflow.
    tally: Option<Arc<Tally>>,
    /// The id under which the scope is registered, for a container.
    registered: Option<SpanId>,
}

impl Operation {
    pub(crate) fn span(&self) -> &Span {
        self.span
            .as_ref()
            .expect("present until the operation ends")
    }

    pub(crate) fn span_mut(&mut self) -> &mut Span {
        self.span
            .as_mut()
            .expect("present until the operation ends")
    }

    pub(crate) fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.span_mut().set_attribute(key, value);
    }

    pub(crate) fn enter(&self) -> Entered {
        let scope = self.registered.map(|_| Arc::clone(&self.scope));
        Entered::new(self.span().enter(), scope)
    }

    pub(crate) fn fail(&mut self, error_type: StringValue, description: StringValue) {
        self.set(semconv::ERROR_TYPE, error_type.clone());
        self.span_mut().set_status(Status::error(description));
        self.error_type = Some(error_type);
    }

    pub(crate) fn record_error<E: Error + ?Sized>(&mut self, error_type: StringValue, error: &E) {
        self.span_mut().record_exception(error);
        self.set(semconv::ERROR_TYPE, error_type.clone());
        self.error_type = Some(error_type);
    }

    fn usage_mut(&mut self) -> &mut TokenUsage {
        self.usage.get_or_insert_with(TokenUsage::default)
    }

    pub(crate) fn record_usage(&mut self, input_tokens: u64, output_tokens: u64) {
        self.set(semconv::GEN_AI_USAGE_INPUT_TOKENS, input_tokens);
        self.set(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens);
        if self.conventions.emits_legacy() {
            self.set(legacy::GEN_AI_USAGE_PROMPT_TOKENS, input_tokens);
            self.set(legacy::GEN_AI_USAGE_COMPLETION_TOKENS, output_tokens);
        }
        let usage = self.usage_mut();
        usage.input = input_tokens;
        usage.output = output_tokens;
    }

    /// Input tokens alone, for embeddings.
    pub(crate) fn record_input_tokens(&mut self, input_tokens: u64) {
        self.set(semconv::GEN_AI_USAGE_INPUT_TOKENS, input_tokens);
        if self.conventions.emits_legacy() {
            self.set(legacy::GEN_AI_USAGE_PROMPT_TOKENS, input_tokens);
        }
        self.usage_mut().input = input_tokens;
    }

    pub(crate) fn record_cache_read_tokens(&mut self, tokens: u64) {
        self.set(semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, tokens);
        self.usage_mut().cache_read_input = tokens;
    }

    pub(crate) fn record_cache_creation_tokens(&mut self, tokens: u64) {
        self.set(semconv::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, tokens);
        self.usage_mut().cache_creation_input = tokens;
    }

    pub(crate) fn record_reasoning_tokens(&mut self, tokens: u64) {
        self.set(semconv::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, tokens);
        self.usage_mut().reasoning_output = tokens;
    }

    pub(crate) fn set_response_model(&mut self, model: StringValue) {
        self.set(semconv::GEN_AI_RESPONSE_MODEL, model.clone());
        self.response_model = Some(model);
    }

    pub(crate) fn first_chunk(&mut self) {
        if self.first_chunk.is_some() {
            return;
        }
        // On the span's own clock when it records, so that the value is
        // comparable with the span's duration.
        let elapsed = if self.span().is_recording() {
            self.span().elapsed()
        } else {
            self.start.elapsed()
        };
        let seconds = elapsed.as_secs_f64();
        self.first_chunk = Some(seconds);
        self.set(semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, seconds);
        self.set(semconv::GEN_AI_REQUEST_STREAM, true);
    }

    /// Whether content would be recorded now: capture on and the span
    /// recording (so a sampled-out span never runs the scrubbers).
    fn capturing(&self) -> bool {
        self.capture.is_enabled() && self.span().is_recording()
    }

    /// Plain-text content under `key`, scrubbed and cut.
    pub(crate) fn capture_text(&mut self, key: &'static str, text: &SensitiveText<'_>) {
        if self.capturing()
            && let Some(value) = self
                .capture
                .text(text.expose(), self.span().attribute_value_limit())
        {
            self.set(key, value);
        }
    }

    /// Content that may be JSON under `key`, scrubbed and cut so that JSON
    /// stays JSON.
    pub(crate) fn capture_json_or_text(&mut self, key: &'static str, text: &SensitiveText<'_>) {
        if self.capturing()
            && let Some(value) = self
                .capture
                .json_or_text(text.expose(), self.span().attribute_value_limit())
        {
            self.set(key, value);
        }
    }

    /// A JSON document built by `build` from scrubbed parts, cut so that it
    /// stays JSON.
    pub(crate) fn capture_built(
        &mut self,
        key: &'static str,
        build: impl FnOnce(&ScrubberChain) -> String,
    ) {
        if !self.capturing() {
            return;
        }
        if let Some(scrubbers) = self.capture.scrubbers() {
            let limit = self.span().attribute_value_limit();
            let json = self.capture.fit_json(build(scrubbers), limit);
            self.set(key, json);
        }
    }

    /// Prices a model call that reported its tokens, and adds the price to
    /// the enclosing agents and workflows.
    fn price(&mut self) {
        let (Some(usage), Some(provider)) = (self.usage, &self.provider) else {
            return;
        };
        let Some(model) = self.response_model.as_ref().or(self.request_model.as_ref()) else {
            return;
        };
        let attribution = CallAttribution {
            agent: self.scope.agent_name.as_deref(),
            conversation: self.scope.conversation_id.as_deref(),
            tool: self.scope.tool_name.as_deref(),
        };
        if let Ok(price) = cost::cost_ledger().price_call(provider, model, &usage, &attribution) {
            self.set(cost::COST_ATTRIBUTE, price.amount);
            self.set(cost::CURRENCY_ATTRIBUTE, price.currency.to_string());
            self.scope.add_cost(price.amount, price.currency.as_str());
        }
    }

    /// The attributes an agent or workflow gets from its subtree.
    fn set_tally_attributes(&mut self) {
        let Some(tally) = self.tally.clone() else {
            return;
        };
        self.set(semconv::INFERENCE_CALLS, tally.inference_calls());
        self.set(semconv::TOOL_CALLS, tally.tool_calls());
        if let Some((amount, currency)) = tally.cost() {
            self.set(cost::COST_ATTRIBUTE, amount);
            self.set(cost::CURRENCY_ATTRIBUTE, currency);
        }
    }

    fn record_metrics(&self, seconds: f64) {
        let mut labels = Vec::with_capacity(4);
        labels.push(Label::new(label::OPERATION_NAME, self.operation));
        if let Some(provider) = &self.provider {
            labels.push(Label::new(label::PROVIDER_NAME, provider.to_string()));
        }
        if let Some(model) = &self.request_model {
            labels.push(Label::new(label::REQUEST_MODEL, model.to_string()));
        }
        if let Some(usage) = &self.usage {
            let output = (self.family != Family::Embeddings).then_some(usage.output);
            for (kind, tokens) in [
                (token_type::INPUT, Some(usage.input)),
                (token_type::OUTPUT, output),
            ] {
                let Some(tokens) = tokens else { continue };
                let mut with_type = labels.clone();
                with_type.push(Label::new(label::TOKEN_TYPE, kind));
                // Exact below 2^53 tokens, far beyond any real count.
                ::metrics::histogram!(metric::TOKEN_USAGE, with_type).record(tokens as f64);
            }
        }
        if let Some(first_chunk) = self.first_chunk {
            ::metrics::histogram!(metric::TIME_TO_FIRST_CHUNK, labels.clone()).record(first_chunk);
        }
        let error = self
            .error_type
            .as_ref()
            .map(|e| Label::new(label::ERROR_TYPE, e.to_string()));
        if self.family.records_operation_duration() {
            let mut labels = labels;
            labels.extend(error.clone());
            ::metrics::histogram!(metric::OPERATION_DURATION, labels).record(seconds);
        }
        let name = self.name.as_ref().map(|n| n.to_string());
        match self.family {
            Family::Agent if !self.remote => {
                let agent: Vec<Label> = name
                    .map(|n| Label::new(label::AGENT_NAME, n))
                    .into_iter()
                    .collect();
                let mut labels = agent.clone();
                labels.extend(
                    self.request_model
                        .as_ref()
                        .map(|m| Label::new(label::REQUEST_MODEL, m.to_string())),
                );
                labels.extend(error);
                ::metrics::histogram!(metric::INVOKE_AGENT_DURATION, labels).record(seconds);
                if let Some(tally) = &self.tally {
                    ::metrics::histogram!(metric::INVOKE_AGENT_INFERENCE_CALLS, agent.clone())
                        .record(tally.inference_calls() as f64);
                    ::metrics::histogram!(metric::INVOKE_AGENT_TOOL_CALLS, agent)
                        .record(tally.tool_calls() as f64);
                }
            }
            Family::Workflow => {
                let workflow: Vec<Label> = name
                    .map(|n| Label::new(label::WORKFLOW_NAME, n))
                    .into_iter()
                    .collect();
                let mut labels = workflow.clone();
                labels.extend(error);
                ::metrics::histogram!(metric::INVOKE_WORKFLOW_DURATION, labels).record(seconds);
                if let Some(tally) = &self.tally {
                    ::metrics::histogram!(
                        metric::INVOKE_WORKFLOW_INFERENCE_CALLS,
                        workflow.clone()
                    )
                    .record(tally.inference_calls() as f64);
                    ::metrics::histogram!(metric::INVOKE_WORKFLOW_TOOL_CALLS, workflow)
                        .record(tally.tool_calls() as f64);
                }
            }
            Family::Tool => {
                let mut labels = Vec::with_capacity(4);
                labels.extend(name.map(|n| Label::new(label::TOOL_NAME, n)));
                // The agent the tool ran under (its scope inherits the
                // enclosing agent's name).
                labels.extend(
                    self.scope
                        .agent_name
                        .as_ref()
                        .map(|a| Label::new(label::AGENT_NAME, a.to_string())),
                );
                labels.extend(
                    self.tool_type
                        .as_ref()
                        .map(|t| Label::new(label::TOOL_TYPE, t.to_string())),
                );
                labels.extend(error);
                ::metrics::histogram!(metric::EXECUTE_TOOL_DURATION, labels).record(seconds);
            }
            _ => {}
        }
    }
}

impl Drop for Operation {
    /// Sets what the subtree and the price give, ends the span, and records
    /// the metrics (with the span's own duration when it records).
    fn drop(&mut self) {
        if self.span.is_none() {
            return;
        }
        // A sampled-out call is priced too: the ledger counts every call, as
        // the metrics do.
        if self.family.is_model_call() {
            self.price();
        }
        self.set_tally_attributes();
        if let Some(id) = self.registered.take() {
            scope::unregister(id);
        }
        let seconds = match self.span.take() {
            Some(span) if span.is_recording() => span.end_measured().as_secs_f64(),
            _ => self.start.elapsed().as_secs_f64(),
        };
        self.record_metrics(seconds);
    }
}
