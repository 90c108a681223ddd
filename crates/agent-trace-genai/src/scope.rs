//! How a GenAI span finds the agent, workflow and tool it runs under, so
//! that calls are counted per agent and per workflow, and priced calls are
//! attributed.
//!
//! Every live *container* span (`invoke_agent`, `invoke_workflow`, `plan`,
//! `execute_tool`) registers a [`Scope`] under its span id in a sharded,
//! process-wide map, and removes it when it ends. A new GenAI span looks up its
//! parent there: the parent given with `parent(..)`, or else the span current
//! on the thread. That works from any thread or task, as long as the parent is
//! a GenAI span (pass `parent(agent.span())`, or make the GenAI span's context
//! current around the task with
//! [`AgentFutureExt::in_context`](agent_trace_core::AgentFutureExt::in_context),
//! or with `in_current_context` where it is entered).
//!
//! When the parent is not a GenAI span (a plain span, an `#[instrument]`
//! function, a remote context), the new span falls back to the innermost
//! GenAI span of the same trace *entered on this thread* (with the helpers'
//! own `enter()`, `span().enter()`, or as a `tracing` span's agent span:
//! the thread's one stack of entered spans, [`agent_trace_core::find_entered`]).
//! That fallback does not follow a task to another thread: there, give the
//! parent explicitly.
//!
//! The lock is per shard and held for one map operation, once when a
//! container span starts and once when it ends, and once per lookup; an LLM
//! or tool call takes far longer than that.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use foldhash::fast::FixedState;

use agent_trace_core::{
    AgentStepTracer, ContextGuard, Parent, SpanId, StringValue, TraceId, find_entered,
};

use crate::cost::Currency;

/// The kind of a counting span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TallyKind {
    /// An `invoke_agent` span: counts its own calls.
    Agent,
    /// An `invoke_workflow` span: counts every call below it.
    Workflow,
}

/// What a call is, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// A model call (`chat`, `generate_content`, `text_completion`,
    /// `embeddings`).
    Inference,
    /// An `execute_tool`.
    Tool,
}

/// The sum of the priced calls below a span, in one currency.
#[derive(Debug, Default)]
pub(crate) struct CostSum {
    pub(crate) amount: f64,
    pub(crate) currency: Option<Currency>,
    /// Calls priced in another currency than the first: no sum is given.
    pub(crate) mixed: bool,
    pub(crate) priced_calls: u64,
}

/// The counters of one `invoke_agent` or `invoke_workflow` span.
#[derive(Debug)]
pub(crate) struct Tally {
    kind: TallyKind,
    inference_calls: AtomicU64,
    tool_calls: AtomicU64,
    cost: Mutex<CostSum>,
}

impl Tally {
    pub(crate) fn new(kind: TallyKind) -> Arc<Self> {
        Arc::new(Self {
            kind,
            inference_calls: AtomicU64::new(0),
            tool_calls: AtomicU64::new(0),
            cost: Mutex::new(CostSum::default()),
        })
    }

    fn add(&self, call: Call) {
        // Relaxed: each counter is read once, after the span's children
        // are done, by the thread that ends it; no other memory depends on
        // it.
        match call {
            Call::Inference => self.inference_calls.fetch_add(1, Ordering::Relaxed),
            Call::Tool => self.tool_calls.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub(crate) fn inference_calls(&self) -> u64 {
        self.inference_calls.load(Ordering::Relaxed)
    }

    pub(crate) fn tool_calls(&self) -> u64 {
        self.tool_calls.load(Ordering::Relaxed)
    }

    /// The summed cost so far: `Some((amount, currency))` when at least one
    /// call was priced and all in one currency.
    pub(crate) fn cost(&self) -> Option<(f64, Currency)> {
        let sum = self.cost.lock().unwrap_or_else(PoisonError::into_inner);
        match (sum.currency, sum.mixed) {
            (Some(currency), false) => Some((sum.amount, currency)),
            _ => None,
        }
    }

    fn add_cost(&self, amount: f64, currency: Currency) {
        let mut sum = self.cost.lock().unwrap_or_else(PoisonError::into_inner);
        sum.priced_calls += 1;
        match sum.currency {
            None => sum.currency = Some(currency),
            Some(c) if c != currency => sum.mixed = true,
            Some(_) => {}
        }
        sum.amount += amount;
    }
}

/// Where a GenAI span runs: the counting spans above it (itself included
/// when it is one) and the innermost agent, tool and conversation.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) trace_id: TraceId,
    /// Enclosing agents and workflows, outermost first; shared with the
    /// parent's scope when the span adds none (most spans), so that a
    /// child's scope copies no list.
    tallies: Arc<[Arc<Tally>]>,
    /// The innermost enclosing agent's name.
    pub(crate) agent_name: Option<StringValue>,
    /// The innermost enclosing tool's name.
    pub(crate) tool_name: Option<StringValue>,
    /// The innermost conversation id an enclosing span was given.
    pub(crate) conversation_id: Option<StringValue>,
}

/// What a new span adds to its parent's scope.
#[derive(Debug, Default)]
pub(crate) struct ScopeParts {
    pub(crate) tally: Option<Arc<Tally>>,
    pub(crate) agent_name: Option<StringValue>,
    pub(crate) tool_name: Option<StringValue>,
    pub(crate) conversation_id: Option<StringValue>,
}

impl ScopeParts {
    fn is_empty(&self) -> bool {
        self.tally.is_none()
            && self.agent_name.is_none()
            && self.tool_name.is_none()
            && self.conversation_id.is_none()
    }
}

impl Scope {
    /// The scope of a span in trace `trace_id` under `parent`.
    pub(crate) fn child(parent: Option<&Scope>, trace_id: TraceId, parts: ScopeParts) -> Self {
        let inherited = parent.filter(|p| p.trace_id == trace_id);
        let tallies = match (inherited, parts.tally) {
            (Some(p), None) => Arc::clone(&p.tallies),
            (Some(p), Some(t)) => p.tallies.iter().cloned().chain(Some(t)).collect(),
            (None, t) => t.into_iter().collect(),
        };
        Self {
            trace_id,
            tallies,
            agent_name: parts
                .agent_name
                .or_else(|| inherited.and_then(|p| p.agent_name.clone())),
            tool_name: parts
                .tool_name
                .or_else(|| inherited.and_then(|p| p.tool_name.clone())),
            conversation_id: parts
                .conversation_id
                .or_else(|| inherited.and_then(|p| p.conversation_id.clone())),
        }
    }

    /// The scope of a span in trace `trace_id` under `parent`, shared with
    /// the parent when the span adds nothing to it (a model call under an
    /// agent, say): the same contents, without an allocation per span.
    pub(crate) fn child_of(
        parent: Option<Arc<Scope>>,
        trace_id: TraceId,
        parts: ScopeParts,
    ) -> Arc<Self> {
        match parent {
            Some(p) if p.trace_id == trace_id && parts.is_empty() => p,
            parent => Arc::new(Self::child(parent.as_deref(), trace_id, parts)),
        }
    }

    /// Counts a call made in this scope: for the innermost agent, unless a
    /// workflow is closer (calls a workflow makes outside any agent count
    /// at workflow grain only), and for every enclosing workflow (as the
    /// conventions' `gen_ai.invoke_agent.*` and `gen_ai.invoke_workflow.*`
    /// call counts are defined).
    pub(crate) fn count(&self, call: Call) {
        if let Some(innermost) = self.tallies.last()
            && innermost.kind == TallyKind::Agent
        {
            innermost.add(call);
        }
        for tally in self.tallies.iter() {
            if tally.kind == TallyKind::Workflow {
                tally.add(call);
            }
        }
    }

    /// Adds a priced call to every enclosing agent and workflow.
    pub(crate) fn add_cost(&self, amount: f64, currency: Currency) {
        for tally in self.tallies.iter() {
            tally.add_cost(amount, currency);
        }
    }
}

const SHARDS: usize = 16;

/// A hash map rather than a `BTreeMap`: a shard holds a live container or
/// two, and a `BTreeMap` allocates its node when the first entry comes
/// and frees it when the last goes, so each container span cost an
/// allocation and a free; a map keeps its table. Measured with callgrind
/// on the agent workload bench (four containers per task): register,
/// unregister and look-ups went from about 1,620 to 1,490 instructions
/// per task (the allocations gone, a hash added).
/// Span ids here are this process's own, random and not chosen by a
/// caller, so `foldhash` needs no random seed.
type Shard = Mutex<HashMap<SpanId, Arc<Scope>, FixedState>>;

/// Live container spans by id.
static REGISTRY: [Shard; SHARDS] =
    [const { Mutex::new(HashMap::with_hasher(FixedState::with_seed(0))) }; SHARDS];

fn shard(id: SpanId) -> &'static Shard {
    // Span ids are random: their low bits spread evenly.
    &REGISTRY[(id.to_u64() % SHARDS as u64) as usize]
}

pub(crate) fn register(id: SpanId, scope: Arc<Scope>) {
    shard(id)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, scope);
}

pub(crate) fn unregister(id: SpanId) {
    let mut map = shard(id).lock().unwrap_or_else(PoisonError::into_inner);
    map.remove(&id);
    // A burst of live containers does not pin its table for ever.
    if map.capacity() > KEEP_CAPACITY && map.len() < KEEP_CAPACITY / 4 {
        map.shrink_to(KEEP_CAPACITY);
    }
}

/// Entries a shard keeps room for when it empties out.
const KEEP_CAPACITY: usize = 64;

fn lookup(id: SpanId) -> Option<Arc<Scope>> {
    shard(id)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .cloned()
}

/// The scope a new span with this parent runs in (see the module docs).
pub(crate) fn resolve(parent: &Parent<'_>) -> Option<Arc<Scope>> {
    let current = AgentStepTracer::current_context;
    let (span_id, trace_id) = match parent {
        Parent::Root => return None,
        Parent::Current => match current() {
            Some(cx) => (Some(cx.span_id), cx.trace_id),
            None => return None,
        },
        Parent::Context(cx) => (Some(cx.span_id), cx.trace_id),
        Parent::Span(cx) => (Some(cx.span_id), cx.trace_id),
        Parent::Trace(id) => match current() {
            Some(cx) if cx.trace_id == *id => (Some(cx.span_id), *id),
            _ => (None, *id),
        },
    };
    if let Some(scope) = span_id.and_then(lookup) {
        return Some(scope);
    }
    // The innermost GenAI span of the trace entered on this thread.
    find_entered(trace_id, lookup)
}

/// A GenAI span entered on this thread: current for new spans (as
/// [`Span::enter`](agent_trace_core::Span::enter) makes it), and so the scope
/// that GenAI spans started below a plain span on this thread count in (they
/// find it on the thread's stack of entered spans). Leaves it when dropped;
/// not `Send`, drop it where it was made.
#[must_use = "the span is current only while the guard is held"]
pub struct Entered {
    _context: ContextGuard,
}

impl fmt::Debug for Entered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entered").finish_non_exhaustive()
    }
}

impl Entered {
    pub(crate) fn new(context: ContextGuard) -> Self {
        Self { _context: context }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> TraceId {
        TraceId::from_u128(7).expect("non-zero")
    }

    #[test]
    fn calls_count_for_the_innermost_agent_and_every_workflow() {
        let outer_wf = Tally::new(TallyKind::Workflow);
        let planner = Tally::new(TallyKind::Agent);
        let inner_wf = Tally::new(TallyKind::Workflow);
        let researcher = Tally::new(TallyKind::Agent);
        let parts = |t: &Arc<Tally>| ScopeParts {
            tally: Some(Arc::clone(t)),
            ..ScopeParts::default()
        };
        let s1 = Scope::child(None, trace(), parts(&outer_wf));
        let s2 = Scope::child(Some(&s1), trace(), parts(&planner));
        let s3 = Scope::child(Some(&s2), trace(), parts(&inner_wf));
        let s4 = Scope::child(Some(&s3), trace(), parts(&researcher));
        s2.count(Call::Inference);
        s2.count(Call::Tool); // the tool that runs the inner workflow
        s4.count(Call::Inference);
        s4.count(Call::Tool);
        s4.count(Call::Inference);
        s2.count(Call::Inference);
        s3.count(Call::Inference); // in the inner workflow, outside any agent
        // The conventions' example, plus one call outside any agent.
        assert_eq!((planner.inference_calls(), planner.tool_calls()), (2, 1));
        assert_eq!(
            (researcher.inference_calls(), researcher.tool_calls()),
            (2, 1)
        );
        assert_eq!((inner_wf.inference_calls(), inner_wf.tool_calls()), (3, 1));
        assert_eq!((outer_wf.inference_calls(), outer_wf.tool_calls()), (5, 2));
    }

    #[test]
    fn a_child_that_adds_nothing_shares_its_parents_scope_within_the_trace() {
        let agent = Tally::new(TallyKind::Agent);
        let parent = Arc::new(Scope::child(
            None,
            trace(),
            ScopeParts {
                tally: Some(Arc::clone(&agent)),
                agent_name: Some(StringValue::from_static("researcher")),
                ..ScopeParts::default()
            },
        ));
        let chat = Scope::child_of(Some(Arc::clone(&parent)), trace(), ScopeParts::default());
        assert!(Arc::ptr_eq(&chat, &parent));
        chat.count(Call::Inference);

        let tool = Scope::child_of(
            Some(Arc::clone(&parent)),
            trace(),
            ScopeParts {
                tool_name: Some(StringValue::from_static("web_search")),
                ..ScopeParts::default()
            },
        );
        assert!(!Arc::ptr_eq(&tool, &parent));
        assert_eq!(tool.agent_name.as_deref(), Some("researcher"));
        assert_eq!(tool.tool_name.as_deref(), Some("web_search"));
        tool.count(Call::Tool);

        // Under a parent of another trace: nothing inherited, nothing
        // counted for the parent's agent.
        let other_trace = TraceId::from_u128(8).expect("non-zero");
        let elsewhere = Scope::child_of(
            Some(Arc::clone(&parent)),
            other_trace,
            ScopeParts::default(),
        );
        assert!(!Arc::ptr_eq(&elsewhere, &parent));
        assert_eq!(elsewhere.agent_name, None);
        elsewhere.count(Call::Inference);
        assert_eq!((agent.inference_calls(), agent.tool_calls()), (1, 1));
    }

    #[test]
    fn costs_sum_per_currency() {
        let agent = Tally::new(TallyKind::Agent);
        agent.add_cost(0.25, Currency::USD);
        agent.add_cost(0.5, Currency::USD);
        assert_eq!(agent.cost(), Some((0.75, Currency::USD)));
        agent.add_cost(1.0, Currency::new("EUR").expect("valid"));
        assert_eq!(agent.cost(), None);
    }
}
