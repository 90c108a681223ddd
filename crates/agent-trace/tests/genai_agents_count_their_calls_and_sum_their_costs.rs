//! When an `invoke_agent` span ends it carries the model and tool calls the
//! agent itself made (a nested agent's calls are its own), an
//! `invoke_workflow` span every call below it, nested workflows included,
//! as the conventions define the call-count metrics; both carry the summed
//! cost of the priced calls below them. Parents are found from any thread
//! or task when given, and through plain spans on the thread where the
//! agent was entered.

use std::sync::OnceLock;

use agent_trace::cost::{self, Currency, ModelPrice, PriceTable};
use agent_trace::genai;
use agent_trace::{AgentFutureExt, FinishedSpan, Value};

mod support;

use support::collecting_tracer;

/// The counts an agent or workflow span carries.
fn counts(span: &FinishedSpan) -> (i64, i64) {
    let get = |key: &str| match span.attribute(key) {
        Some(Value::I64(n)) => *n,
        other => panic!("{key} is {other:?} on {}", span.name),
    };
    (
        get("agent_trace.inference_calls"),
        get("agent_trace.tool_calls"),
    )
}

fn cost_of(span: &FinishedSpan) -> Option<(f64, String)> {
    match (
        span.attribute("agent_trace.cost"),
        span.attribute("agent_trace.cost.currency"),
    ) {
        (Some(Value::F64(amount)), Some(Value::String(currency))) => {
            Some((*amount, currency.to_string()))
        }
        (None, None) => None,
        other => panic!("cost attributes {other:?} on {}", span.name),
    }
}

/// Prices for a provider only these tests use, so that their costs are
/// known: 1 USD per million input tokens, 2 USD per million output tokens.
/// The process's ledger is shared by the tests of this file, which all set
/// the same table.
fn use_test_prices() {
    static SET: OnceLock<()> = OnceLock::new();
    SET.get_or_init(|| {
        let price = ModelPrice::new(1.0, 2.0).expect("valid prices");
        cost::cost_ledger()
            .set_price_table(PriceTable::new(Currency::USD).with_price("acme", "m1", price));
    });
}

#[test]
fn an_agent_counts_its_own_calls_not_those_of_agents_it_invokes() {
    let (tracer, spans) = collecting_tracer();
    let planner = genai::invoke_agent(&tracer, "my_framework", "Planner").start();
    genai::chat(&tracer, "openai", "gpt-4o")
        .parent(planner.span())
        .start()
        .end();
    {
        let tool = genai::execute_tool(&tracer, "ask_researcher")
            .parent(planner.span())
            .start();
        let researcher = genai::invoke_agent(&tracer, "my_framework", "Researcher")
            .parent(tool.span())
            .start();
        genai::embeddings(&tracer, "openai", "text-embedding-3-small")
            .parent(researcher.span())
            .start()
            .end();
        genai::execute_tool(&tracer, "web_search")
            .parent(researcher.span())
            .start()
            .end();
        genai::generate_content(&tracer, "gcp.gemini", "gemini-2.5-flash")
            .parent(researcher.span())
            .start()
            .end();
        // Not counted: neither a model call nor a tool call.
        genai::search_memory(&tracer)
            .parent(researcher.span())
            .start()
            .end();
        researcher.end();
    }
    genai::text_completion(&tracer, "openai", "gpt-3.5-turbo-instruct")
        .parent(planner.span())
        .start()
        .end();
    planner.end();

    assert_eq!(counts(&spans.named("invoke_agent Planner")), (2, 1));
    assert_eq!(counts(&spans.named("invoke_agent Researcher")), (2, 1));
}

/// The conventions' example (`examples-workflow-call-counts.md`): an outer
/// workflow runs a planner whose tool runs an inner workflow with a
/// researcher. Parents here are implicit: each span is entered.
#[test]
fn a_workflow_counts_every_call_below_it_nested_workflows_included() {
    let (tracer, spans) = collecting_tracer();
    let outer = genai::invoke_workflow(&tracer, "research_assistant").start();
    {
        let _in_outer = outer.enter();
        let planner = genai::invoke_agent(&tracer, "openai_agents", "planner").start();
        let _in_planner = planner.enter();
        genai::chat(&tracer, "openai", "gpt-4o").start().end();
        {
            let tool = genai::execute_tool(&tracer, "web_research").start();
            let _in_tool = tool.enter();
            let inner = genai::invoke_workflow(&tracer, "web_research").start();
            {
                let _in_inner = inner.enter();
                let researcher =
                    genai::invoke_agent(&tracer, "openai_agents", "researcher").start();
                let _in_researcher = researcher.enter();
                genai::chat(&tracer, "openai", "gpt-4o").start().end();
                genai::execute_tool(&tracer, "get_weather").start().end();
                genai::chat(&tracer, "openai", "gpt-4o").start().end();
            }
            inner.end();
        }
        genai::chat(&tracer, "openai", "gpt-4o").start().end();
    }
    outer.end();

    assert_eq!(counts(&spans.named("invoke_workflow web_research")), (2, 1));
    assert_eq!(
        counts(&spans.named("invoke_workflow research_assistant")),
        (4, 2)
    );
    assert_eq!(counts(&spans.named("invoke_agent planner")), (2, 1));
    assert_eq!(counts(&spans.named("invoke_agent researcher")), (2, 1));
}

#[test]
fn calls_on_other_threads_count_for_the_agent_given_as_parent() {
    let (tracer, spans) = collecting_tracer();
    let agent = genai::invoke_agent(&tracer, "my_framework", "Fan-out").start();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let tool = genai::execute_tool(&tracer, "fetch")
                    .parent(agent.span())
                    .start();
                // A model call inside the tool, found through the tool.
                genai::chat(&tracer, "openai", "gpt-4o-mini")
                    .parent(tool.span())
                    .start()
                    .end();
            });
        }
    });
    agent.end();
    assert_eq!(counts(&spans.named("invoke_agent Fan-out")), (4, 4));
}

#[test]
fn tasks_count_for_the_agent_made_current_around_them() {
    let (tracer, spans) = collecting_tracer();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let agent = genai::invoke_agent(&tracer, "my_framework", "Async").start();
    let context = agent.span().context();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let tracer = tracer.clone();
            let task = async move {
                tokio::task::yield_now().await;
                // No explicit parent: the agent is current around each poll.
                genai::chat(&tracer, "openai", "gpt-4o").start().end();
            };
            tasks.push(tokio::spawn(task.in_context(context.clone())));
        }
        for task in tasks {
            task.await.expect("task finished");
        }
    });
    agent.end();
    assert_eq!(counts(&spans.named("invoke_agent Async")), (3, 0));
}

#[test]
fn a_plain_span_in_between_is_bridged_where_the_agent_was_entered() {
    let (tracer, spans) = collecting_tracer();
    let entered = genai::invoke_agent(&tracer, "my_framework", "Entered").start();
    {
        let _in_agent = entered.enter();
        tracer.in_span("plain step", |_| {
            genai::chat(&tracer, "openai", "gpt-4o").start().end();
        });
    }
    entered.end();
    // Entered with the core's `Span::enter`: found on the same stack of
    // entered spans, so the plain span below it is bridged as well.
    let core_entered = genai::invoke_agent(&tracer, "my_framework", "Core-entered").start();
    {
        let _in_agent = core_entered.span().enter();
        genai::chat(&tracer, "openai", "gpt-4o-mini").start().end();
        tracer.in_span("plain step", |_| {
            genai::chat(&tracer, "openai", "gpt-4.1").start().end();
        });
    }
    core_entered.end();

    assert_eq!(counts(&spans.named("invoke_agent Entered")), (1, 0));
    assert_eq!(counts(&spans.named("invoke_agent Core-entered")), (2, 0));
}

#[test]
fn a_remote_agent_gets_no_counts() {
    let (tracer, spans) = collecting_tracer();
    genai::invoke_agent(&tracer, "aws.bedrock", "Remote")
        .remote()
        .start()
        .end();
    let remote = spans.named("invoke_agent Remote");
    assert!(remote.attribute("agent_trace.inference_calls").is_none());
    assert!(remote.attribute("agent_trace.tool_calls").is_none());
}

#[test]
fn model_calls_are_priced_and_agents_sum_their_subtree() {
    use_test_prices();
    let (tracer, spans) = collecting_tracer();
    let planner = genai::invoke_agent(&tracer, "my_framework", "Cost Planner")
        .conversation_id("conv-cost-1")
        .start();
    let mut call = genai::chat(&tracer, "acme", "m1")
        .parent(planner.span())
        .start();
    call.record_usage(500_000, 250_000); // 0.5 + 0.5 USD
    call.end();
    {
        let tool = genai::execute_tool(&tracer, "cost_research")
            .parent(planner.span())
            .start();
        let researcher = genai::invoke_agent(&tracer, "my_framework", "Cost Researcher")
            .parent(tool.span())
            .start();
        let mut call = genai::chat(&tracer, "acme", "m1-2025-01-01")
            .parent(researcher.span())
            .start();
        call.record_usage(250_000, 0); // 0.25 USD, the dated model priced as m1
        call.end();
        researcher.end();
    }
    // Unpriced: no cost attribute, nothing added.
    let mut unknown = genai::chat(&tracer, "acme", "unknown-model")
        .parent(planner.span())
        .start();
    unknown.record_usage(1_000, 1_000);
    unknown.end();
    // No usage reported: not priced.
    genai::chat(&tracer, "acme", "m1")
        .parent(planner.span())
        .start()
        .end();
    planner.end();

    let usd = "USD".to_owned();
    let calls: Vec<FinishedSpan> = spans
        .spans()
        .into_iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    let priced: Vec<Option<(f64, String)>> = calls.iter().map(cost_of).collect();
    assert_eq!(
        priced,
        [
            Some((1.0, usd.clone())),
            Some((0.25, usd.clone())),
            None,
            None
        ]
    );
    assert_eq!(
        cost_of(&spans.named("invoke_agent Cost Researcher")),
        Some((0.25, usd.clone()))
    );
    assert_eq!(
        cost_of(&spans.named("invoke_agent Cost Planner")),
        Some((1.25, usd))
    );

    // The ledger attributes each call to its agent, conversation and tool.
    let ledger = cost::cost_ledger();
    let spent = |spend: Option<cost::Spend>| spend.map(|s| s.amount(Currency::USD));
    assert_eq!(spent(ledger.agent("Cost Planner")), Some(1.0));
    assert_eq!(spent(ledger.agent("Cost Researcher")), Some(0.25));
    assert_eq!(spent(ledger.conversation("conv-cost-1")), Some(1.25));
    assert_eq!(spent(ledger.tool("cost_research")), Some(0.25));
}

#[test]
fn the_response_model_is_priced_when_set() {
    use_test_prices();
    let (tracer, spans) = collecting_tracer();
    let mut call = genai::chat(&tracer, "acme", "an-alias").start();
    call.set_response_model("m1");
    call.record_usage(1_000_000, 0);
    call.end();
    assert_eq!(
        cost_of(&spans.named("chat an-alias")),
        Some((1.0, "USD".to_owned()))
    );
}

#[test]
fn spans_and_builders_can_move_to_other_threads_and_tasks() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<genai::ChatSpan>();
    send_and_sync::<genai::EmbeddingsSpan>();
    send_and_sync::<genai::ToolSpan>();
    send_and_sync::<genai::AgentSpan>();
    send_and_sync::<genai::CreateAgentSpan>();
    send_and_sync::<genai::WorkflowSpan>();
    send_and_sync::<genai::PlanSpan>();
    send_and_sync::<genai::MemorySpan>();
    send_and_sync::<genai::RetrievalSpan>();
    send_and_sync::<genai::ChatBuilder<'static>>();
    send_and_sync::<genai::ContentCapture>();
}
