//! What every helper shares: the builder state before start, and the span
//! in progress with what its end records (attributes derived from the
//! subtree, the price, the metrics).

use std::cell::RefCell;
use std::sync::Arc;

use ::metrics::Label;
use agent_trace_core::{
    Exception, Key, KeyValue, Parent, Span, SpanBuilder, SpanId, StartMark, Status, StringValue,
    Value,
};

use super::content::ContentCapture;
use super::conventions::Conventions;
use super::handles::{Cache, Local, SameAs, same_text};
use super::names;
use super::scope::{self, Call, Entered, Scope, ScopeParts, Tally, TallyKind};
use crate::cost::{self, CallAttribution, TokenUsage};
use crate::privacy::{ScrubberChain, SensitiveText};
use crate::semconv::metric::{self, label};
use crate::semconv::{self, legacy, token_type};

/// Which kind of GenAI operation a span is: what it counts for, and which
/// metrics its end records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// Attributes a GenAI span's builder makes room for: the operation,
/// provider and model, and the request's options.
const START_ATTRIBUTES: usize = 8;

/// What every builder holds until its span starts.
#[derive(Debug)]
pub(crate) struct Start<'a> {
    pub(crate) span: SpanBuilder<'a>,
    /// The attributes known at start, handed to `span` in one go when it
    /// starts: sized once for what a GenAI span usually has, where adding
    /// them to the builder one by one grew its list twice (callgrind, the
    /// agent workload bench).
    attributes: Vec<KeyValue>,
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
    /// Boxed: the builders move it at every option (`.parent(..)`,
    /// `.temperature(..)`...), and it is about 400 bytes; moving a box
    /// instead cut about 2,300 instructions of copies per task of six
    /// GenAI spans in the agent workload bench, for one allocation.
    #[inline]
    pub(crate) fn new(span: SpanBuilder<'a>, family: Family, operation: &'static str) -> Box<Self> {
        let mut attributes = Vec::with_capacity(START_ATTRIBUTES);
        attributes.push(KeyValue::new(
            Key::from_static(semconv::GEN_AI_OPERATION_NAME),
            StringValue::from_static(operation),
        ));
        Box::new(Self {
            span,
            attributes,
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
        })
    }

    /// A repeated key is folded when the span starts, the last value
    /// winning (as `SpanBuilder::attributes` does).
    #[inline]
    pub(crate) fn attribute(
        mut self: Box<Self>,
        key: impl Into<Key>,
        value: impl Into<Value>,
    ) -> Box<Self> {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    #[inline]
    pub(crate) fn parent(mut self: Box<Self>, parent: Parent<'a>) -> Box<Self> {
        // Given to the span builder when the span starts: moving the
        // builder in and out for each option copies it.
        self.parent = parent;
        self
    }

    #[inline]
    pub(crate) fn provider(mut self: Box<Self>, provider: StringValue) -> Box<Self> {
        self.provider = Some(provider.clone());
        self.attribute(Key::from_static(semconv::GEN_AI_PROVIDER_NAME), provider)
    }

    #[inline]
    pub(crate) fn request_model(mut self: Box<Self>, model: StringValue) -> Box<Self> {
        self.request_model = Some(model.clone());
        self.attribute(Key::from_static(semconv::GEN_AI_REQUEST_MODEL), model)
    }

    #[inline]
    pub(crate) fn conversation_id(mut self: Box<Self>, id: StringValue) -> Box<Self> {
        self.conversation_id = Some(id.clone());
        self.attribute(Key::from_static(semconv::GEN_AI_CONVERSATION_ID), id)
    }

    pub(crate) fn start(self: Box<Self>) -> Operation {
        (*self).start_unboxed()
    }

    fn start_unboxed(self) -> Operation {
        let conventions = self.conventions.unwrap_or_else(Conventions::global);
        let capture = self.capture.unwrap_or_else(ContentCapture::global);
        let mut attributes = self.attributes;
        if conventions.emits_legacy()
            && let Some(provider) = &self.provider
        {
            attributes.push(KeyValue::new(
                Key::from_static(legacy::GEN_AI_SYSTEM),
                provider.clone(),
            ));
        }
        if self.streaming {
            attributes.push(KeyValue::new(
                Key::from_static(semconv::GEN_AI_REQUEST_STREAM),
                true,
            ));
        }
        let span = self.span.parent(self.parent.clone()).attributes(attributes);
        // Resolved before the span starts, while the parent is what is
        // current.
        let parent_scope = scope::resolve(&self.parent);
        // Read before the span starts, so the metric covers what the span
        // covers (for a sampled-out span, whose duration is not measured).
        let start = StartMark::now();
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
        let scope = Scope::child_of(parent_scope, span.trace_id(), parts);
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
    /// On the span clock (one counter read, where `Instant::now` is a
    /// clock call through the vDSO), for a span that does not record.
    start: StartMark,
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
        // Static, not copied: most convention keys are longer than the 22
        // bytes a copy keeps inline (`gen_ai.usage.input_tokens`).
        self.span_mut().set_attribute(Key::from_static(key), value);
    }

    pub(crate) fn enter(&self) -> Entered {
        Entered::new(self.span().enter())
    }

    pub(crate) fn fail(&mut self, error_type: StringValue, description: StringValue) {
        self.set(semconv::ERROR_TYPE, error_type.clone());
        self.span_mut().set_status(Status::error(description));
        self.error_type = Some(error_type);
    }

    pub(crate) fn record_error<E, const FORM: u8>(&mut self, error_type: StringValue, error: &E)
    where
        E: Exception<FORM> + ?Sized,
    {
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
        if let Ok(price) = cost::cost_ledger().price_call_of(provider, model, &usage, &attribution)
        {
            self.set(cost::COST_ATTRIBUTE, price.amount);
            self.set(cost::CURRENCY_ATTRIBUTE, names::currency(price.currency));
            self.scope.add_cost(price.amount, price.currency);
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
            self.set(cost::CURRENCY_ATTRIBUTE, names::currency(currency));
        }
    }

    /// Records the GenAI metrics of this span's end through the handles this
    /// thread keeps for its label set (see the `handles` module).
    fn record_metrics(&self, seconds: f64) {
        let set = self.label_set();
        let cached = HANDLES.try_with(|cache| {
            cache.borrow_mut().with(
                &set,
                |_| self.owned_label_set(),
                |handles| self.record_into(handles, seconds),
            )
        });
        if cached.is_err() {
            // The thread is exiting: its cache is gone.
            self.record_into(&mut SeriesHandles::default(), seconds);
        }
    }

    fn label_set(&self) -> LabelSet<'_> {
        LabelSet {
            family: self.family,
            operation: self.operation,
            provider: self.provider.as_deref(),
            request_model: self.request_model.as_deref(),
            error_type: self.error_type.as_deref(),
            name: self.name.as_deref(),
            agent: match self.family {
                Family::Tool => self.scope.agent_name.as_deref(),
                _ => None,
            },
            tool_type: self.tool_type.as_deref(),
        }
    }

    fn owned_label_set(&self) -> OwnedLabelSet {
        OwnedLabelSet {
            family: self.family,
            operation: self.operation,
            provider: self.provider.clone(),
            request_model: self.request_model.clone(),
            error_type: self.error_type.clone(),
            name: self.name.clone(),
            agent: match self.family {
                Family::Tool => self.scope.agent_name.clone(),
                _ => None,
            },
            tool_type: self.tool_type.clone(),
        }
    }

    fn record_into(&self, handles: &mut SeriesHandles, seconds: f64) {
        let mut record = |series: Series, value: f64| {
            handles.0[series as usize]
                .get_or_insert_with(|| self.register(series))
                .record(value);
        };
        if let Some(usage) = &self.usage {
            // Exact below 2^53 tokens, far beyond any real count.
            record(Series::TokenInput, usage.input as f64);
            if self.family != Family::Embeddings {
                record(Series::TokenOutput, usage.output as f64);
            }
        }
        if let Some(first_chunk) = self.first_chunk {
            record(Series::FirstChunk, first_chunk);
        }
        if self.family.records_operation_duration() {
            record(Series::OperationDuration, seconds);
        }
        match self.family {
            Family::Agent if !self.remote => {
                record(Series::AgentDuration, seconds);
                if let Some(tally) = &self.tally {
                    record(Series::AgentInferenceCalls, tally.inference_calls() as f64);
                    record(Series::AgentToolCalls, tally.tool_calls() as f64);
                }
            }
            Family::Workflow => {
                record(Series::WorkflowDuration, seconds);
                if let Some(tally) = &self.tally {
                    record(
                        Series::WorkflowInferenceCalls,
                        tally.inference_calls() as f64,
                    );
                    record(Series::WorkflowToolCalls, tally.tool_calls() as f64);
                }
            }
            Family::Tool => record(Series::ToolDuration, seconds),
            _ => {}
        }
    }

    /// Registers one series of this span's label set with the current
    /// recorder.
    fn register(&self, series: Series) -> ::metrics::Histogram {
        let text = |v: &StringValue| v.to_string();
        let operation = || {
            let mut labels = Vec::with_capacity(5);
            labels.push(Label::new(label::OPERATION_NAME, self.operation));
            labels.extend(
                self.provider
                    .as_ref()
                    .map(|p| Label::new(label::PROVIDER_NAME, text(p))),
            );
            labels.extend(
                self.request_model
                    .as_ref()
                    .map(|m| Label::new(label::REQUEST_MODEL, text(m))),
            );
            labels
        };
        let error = || {
            self.error_type
                .as_ref()
                .map(|e| Label::new(label::ERROR_TYPE, text(e)))
        };
        let named = |key: &'static str| -> Vec<Label> {
            self.name
                .as_ref()
                .map(|n| Label::new(key, text(n)))
                .into_iter()
                .collect()
        };
        let (name, labels) = match series {
            Series::TokenInput | Series::TokenOutput => {
                let mut labels = operation();
                let kind = if series == Series::TokenInput {
                    token_type::INPUT
                } else {
                    token_type::OUTPUT
                };
                labels.push(Label::new(label::TOKEN_TYPE, kind));
                (metric::TOKEN_USAGE, labels)
            }
            Series::FirstChunk => (metric::TIME_TO_FIRST_CHUNK, operation()),
            Series::OperationDuration => {
                let mut labels = operation();
                labels.extend(error());
                (metric::OPERATION_DURATION, labels)
            }
            Series::AgentDuration => {
                let mut labels = named(label::AGENT_NAME);
                labels.extend(
                    self.request_model
                        .as_ref()
                        .map(|m| Label::new(label::REQUEST_MODEL, text(m))),
                );
                labels.extend(error());
                (metric::INVOKE_AGENT_DURATION, labels)
            }
            Series::AgentInferenceCalls => (
                metric::INVOKE_AGENT_INFERENCE_CALLS,
                named(label::AGENT_NAME),
            ),
            Series::AgentToolCalls => (metric::INVOKE_AGENT_TOOL_CALLS, named(label::AGENT_NAME)),
            Series::WorkflowDuration => {
                let mut labels = named(label::WORKFLOW_NAME);
                labels.extend(error());
                (metric::INVOKE_WORKFLOW_DURATION, labels)
            }
            Series::WorkflowInferenceCalls => (
                metric::INVOKE_WORKFLOW_INFERENCE_CALLS,
                named(label::WORKFLOW_NAME),
            ),
            Series::WorkflowToolCalls => (
                metric::INVOKE_WORKFLOW_TOOL_CALLS,
                named(label::WORKFLOW_NAME),
            ),
            Series::ToolDuration => {
                let mut labels = named(label::TOOL_NAME);
                // The agent the tool ran under (its scope inherits the
                // enclosing agent's name).
                labels.extend(
                    self.scope
                        .agent_name
                        .as_ref()
                        .map(|a| Label::new(label::AGENT_NAME, text(a))),
                );
                labels.extend(
                    self.tool_type
                        .as_ref()
                        .map(|t| Label::new(label::TOOL_TYPE, text(t))),
                );
                labels.extend(error());
                (metric::EXECUTE_TOOL_DURATION, labels)
            }
        };
        ::metrics::histogram!(name, labels)
    }
}

/// The GenAI metric series a span's end may record into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Series {
    TokenInput,
    TokenOutput,
    FirstChunk,
    OperationDuration,
    AgentDuration,
    AgentInferenceCalls,
    AgentToolCalls,
    WorkflowDuration,
    WorkflowInferenceCalls,
    WorkflowToolCalls,
    ToolDuration,
}

/// The handles of every series of one label set, registered on first use
/// (a series registered but never recorded would show as an empty
/// histogram).
#[derive(Debug, Default)]
struct SeriesHandles([Option<::metrics::Histogram>; 11]);

/// What the labels of a span's series are made of, borrowed from the span.
#[derive(Debug, Hash)]
struct LabelSet<'a> {
    family: Family,
    operation: &'static str,
    provider: Option<&'a str>,
    request_model: Option<&'a str>,
    error_type: Option<&'a str>,
    /// The agent, tool or workflow name.
    name: Option<&'a str>,
    /// The enclosing agent, for a tool.
    agent: Option<&'a str>,
    tool_type: Option<&'a str>,
}

/// A [`LabelSet`] kept by the cache.
#[derive(Debug)]
struct OwnedLabelSet {
    family: Family,
    operation: &'static str,
    provider: Option<StringValue>,
    request_model: Option<StringValue>,
    error_type: Option<StringValue>,
    name: Option<StringValue>,
    agent: Option<StringValue>,
    tool_type: Option<StringValue>,
}

impl PartialEq<OwnedLabelSet> for LabelSet<'_> {
    fn eq(&self, o: &OwnedLabelSet) -> bool {
        self.family == o.family
            && self.operation == o.operation
            && self.provider == o.provider.as_deref()
            && self.request_model == o.request_model.as_deref()
            && self.error_type == o.error_type.as_deref()
            && self.name == o.name.as_deref()
            && self.agent == o.agent.as_deref()
            && self.tool_type == o.tool_type.as_deref()
    }
}

impl SameAs<OwnedLabelSet> for LabelSet<'_> {
    #[inline]
    fn same_as(&self, o: &OwnedLabelSet) -> bool {
        fn same(a: Option<&str>, b: Option<&StringValue>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => same_text(a, b),
                _ => false,
            }
        }
        self.family == o.family
            && same_text(self.operation, o.operation)
            && same(self.name, o.name.as_ref())
            && same(self.request_model, o.request_model.as_ref())
            && same(self.provider, o.provider.as_ref())
            && same(self.error_type, o.error_type.as_ref())
            && same(self.agent, o.agent.as_ref())
            && same(self.tool_type, o.tool_type.as_ref())
    }
}

thread_local! {
    /// The GenAI metric handles this thread keeps, by label set.
    static HANDLES: Local<OwnedLabelSet, SeriesHandles> = RefCell::new(Cache::new());
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
