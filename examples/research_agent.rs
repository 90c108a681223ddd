//! A simulated multi-agent research workflow, traced with the GenAI
//! helpers: a planner that searches memory and plans, two tool-using
//! workers on threads of their own (a web researcher and a data analyst),
//! and the planner's streamed answer, stored back into memory.
//!
//! Everything the issue of the GenAI helpers asks for is on:
//!
//! - every span is a typed GenAI span (`invoke_workflow`, `invoke_agent`,
//!   `plan`, `chat`, `execute_tool`, `search_memory`, `upsert_memory`,
//!   `retrieval`), named, kinded and attributed as the conventions say;
//! - token usage with cache and reasoning tokens, finish reasons, time to
//!   first chunk of the streamed answer, and a conversation id the
//!   application gives;
//! - each model call priced from the built-in price table, each agent and
//!   the workflow with their call counts and summed cost;
//! - content capture on, through the built-in scrubbers plus one of the
//!   application's: the user's e-mail address, the search API key and the
//!   project's code name never reach a span.
//!
//! No network: the models and tools are simulated, with a few milliseconds
//! of sleep each. It prints the trace as a tree with tokens and costs, what
//! the scrubbers did, and writes every span as OTLP JSON lines under
//! `./agent-trace/` (`init()`'s default exporter; set `OTEL_TRACES_EXPORTER`
//! to send them elsewhere).
//!
//! ```text
//! cargo run --example research_agent
//! ```

use std::fmt::Write as _;
use std::thread;
use std::time::Duration;

use agent_trace::cost::{COST_ATTRIBUTE, cost_ledger};
use agent_trace::genai::{
    self, ContentCapture, MemoryRecord, Message, OutputMessage, RetrievedDocument,
};
use agent_trace::privacy::ScrubberChain;
use agent_trace::semconv::{self, finish_reason, provider_name, tool_type};
use agent_trace::{FinishedSpan, Span, SpanNode, TraceId, Value, tracer};

/// The user's e-mail address: it appears in the question and the memory
/// query, and must not appear in any span.
const USER_EMAIL: &str = "ana.lopez@example.com";
/// A (fake) key of the search API, which the model puts in the tool call's
/// arguments.
const SEARCH_API_KEY: &str = "sk-proj-EXAMPLEkeyNOTrealAAAA0000";
/// The project's code name, which the application's own scrubber masks.
const CODE_NAME: &str = "Project Nightingale";

/// How long a simulated model call or tool takes.
const STEP: Duration = Duration::from_millis(2);

fn main() -> anyhow::Result<()> {
    let guard = agent_trace::init()
        .service_name("research-agent")
        .service_version(env!("CARGO_PKG_VERSION"))
        .install()?;

    // Content capture: the built-in scrubbers (e-mail addresses, API keys,
    // bearer tokens, card numbers) and one of the application's.
    let capture = ContentCapture::on(
        ScrubberChain::default().with_fn(|text| text.replace(CODE_NAME, "[project]")),
    );
    let trace_id = research(&capture);

    print_tree(trace_id);
    print_scrubbed(trace_id);

    match std::env::var("OTEL_TRACES_EXPORTER") {
        Ok(names) if !names.trim().is_empty() => {
            println!("spans go to the exporters OTEL_TRACES_EXPORTER={names} names");
        }
        _ => match guard.flush(Duration::from_secs(5)) {
            Ok(()) => println!(
                "spans written as OTLP JSON lines to {}",
                guard
                    .default_file()
                    .map_or_else(|| "./agent-trace/".to_owned(), |p| p.display().to_string())
            ),
            Err(e) => eprintln!("cannot write the spans under ./agent-trace/: {e}"),
        },
    }
    Ok(())
}

/// A simulated model call: the span, a short wait, the usage and answer.
struct Reply {
    text: &'static str,
    input: u64,
    output: u64,
    finish: &'static str,
}

fn simulate_call(call: &mut genai::ChatSpan, response_model: &'static str, reply: &Reply) {
    thread::sleep(STEP);
    call.set_response_model(response_model);
    call.record_usage(reply.input, reply.output);
    call.set_finish_reasons([reply.finish]);
    call.record_output_messages(&[OutputMessage::new(reply.text, reply.finish)]);
}

/// The whole workflow; returns its trace id.
fn research(capture: &ContentCapture) -> TraceId {
    let t = tracer();
    let question = format!(
        "I am {USER_EMAIL}. For {CODE_NAME}, compare LFP and NMC battery cells and \
         estimate the cost per kWh of a 40 kWh pack."
    );

    let mut workflow = genai::invoke_workflow(t, "research_report")
        .capture_content(capture.clone())
        .start();
    workflow.record_input_messages(&[Message::user(question.as_str())]);
    let trace_id = workflow.span().trace_id();

    let mut planner = genai::invoke_agent(t, "my_framework", "planner")
        .parent(workflow.span())
        .description("Splits a research question into tasks and writes the answer")
        .request_model("gpt-4o")
        .conversation_id("conv-research-42")
        .capture_content(capture.clone())
        .start();
    planner.record_input_messages(&[Message::user(question.as_str())]);

    // What do we know already?
    let mut recall = genai::search_memory(t)
        .parent(planner.span())
        .in_process()
        .store_id("research-notes")
        .capture_content(capture.clone())
        .start();
    recall.record_query(format!("earlier research for {USER_EMAIL} on {CODE_NAME}"));
    thread::sleep(STEP);
    recall.record_records(&[
        MemoryRecord::new("LFP cells cost about 20% less than NMC per kWh")
            .id("mem_17")
            .score(0.91),
        MemoryRecord::new(format!("{USER_EMAIL} prefers answers in EUR"))
            .id("mem_3")
            .score(0.55),
    ]);
    recall.set_record_count(2);
    recall.end();

    // Plan: the model call that makes the plan is the plan span's child.
    {
        let plan = genai::plan(t, "planner").parent(planner.span()).start();
        let mut call = genai::chat(t, provider_name::OPENAI, "gpt-4o")
            .parent(plan.span())
            .temperature(0.2)
            .capture_content(capture.clone())
            .start();
        call.record_system_instructions("Split the question into at most two research tasks.");
        call.record_input_messages(&[Message::user(question.as_str())]);
        simulate_call(
            &mut call,
            "gpt-4o-2024-08-06",
            &Reply {
                text: "1. find current cell prices (web). 2. compute pack costs (analysis).",
                input: 820,
                output: 64,
                finish: finish_reason::STOP,
            },
        );
        call.end();
        plan.end();
    }

    // The two workers run at the same time, each on its own thread; the
    // planner is their explicit parent, which also decides where their
    // calls count.
    thread::scope(|s| {
        s.spawn(|| web_researcher(planner.span(), capture));
        s.spawn(|| data_analyst(planner.span(), capture));
    });

    // The answer, streamed.
    let answer = "LFP packs come to about 95 EUR/kWh, NMC to about 120 EUR/kWh: \
                  a 40 kWh LFP pack saves roughly 1,000 EUR.";
    {
        let mut call = genai::chat(t, provider_name::OPENAI, "gpt-4o")
            .parent(planner.span())
            .streaming()
            .capture_content(capture.clone())
            .start();
        call.record_input_messages(&[
            Message::user(question.as_str()),
            Message::tool("LFP 95 EUR/kWh, NMC 120 EUR/kWh"),
        ]);
        thread::sleep(STEP);
        call.first_chunk();
        thread::sleep(STEP);
        call.set_response_model("gpt-4o-2024-08-06");
        call.record_usage(1_450, 180);
        call.record_cache_read_tokens(768); // the question and plan, cached
        call.set_finish_reasons([finish_reason::STOP]);
        call.record_output_messages(&[OutputMessage::new(answer, finish_reason::STOP)]);
        call.end();
    }

    // Remember the result for next time.
    let mut store = genai::upsert_memory(t)
        .parent(planner.span())
        .in_process()
        .store_id("research-notes")
        .capture_content(capture.clone())
        .start();
    store.record_records(&[MemoryRecord::new(answer)]);
    thread::sleep(STEP);
    store.set_record_id("mem_18");
    store.set_record_count(1);
    store.end();

    planner.record_output_messages(&[OutputMessage::new(answer, finish_reason::STOP)]);
    planner.end();
    workflow.record_output_messages(&[OutputMessage::new(answer, finish_reason::STOP)]);
    workflow.end();
    trace_id
}

/// A worker that searches the web with a tool.
fn web_researcher(parent: &Span, capture: &ContentCapture) {
    let t = tracer();
    let agent = genai::invoke_agent(t, "my_framework", "web_researcher")
        .parent(parent)
        .request_model("gpt-4o-mini")
        .capture_content(capture.clone())
        .start();
    let task = "Find current LFP and NMC cell prices.";

    let mut call = genai::chat(t, provider_name::OPENAI, "gpt-4o-mini")
        .parent(agent.span())
        .capture_content(capture.clone())
        .start();
    call.record_input_messages(&[Message::user(task)]);
    simulate_call(
        &mut call,
        "gpt-4o-mini-2024-07-18",
        &Reply {
            text: "web_search(query=\"LFP NMC cell price per kWh 2025\")",
            input: 410,
            output: 38,
            finish: finish_reason::TOOL_CALL,
        },
    );
    call.end();

    // The model put the API key into the arguments; the scrubbers take it
    // out (and the arguments stay valid JSON).
    let mut search = genai::execute_tool(t, "web_search")
        .parent(agent.span())
        .call_id("call_7Qw2")
        .tool_type(tool_type::EXTENSION)
        .capture_content(capture.clone())
        .start();
    search.record_arguments(format!(
        r#"{{"query": "LFP NMC cell price per kWh 2025", "api_key": "{SEARCH_API_KEY}"}}"#
    ));
    thread::sleep(STEP);
    search.record_result(
        r#"{"results": [{"url": "https://example.org/cells", "snippet": "LFP $95/kWh, NMC $120/kWh"}]}"#,
    );
    search.end();

    let mut call = genai::chat(t, provider_name::OPENAI, "gpt-4o-mini")
        .parent(agent.span())
        .capture_content(capture.clone())
        .start();
    call.record_input_messages(&[
        Message::user(task),
        Message::tool("LFP $95/kWh, NMC $120/kWh"),
    ]);
    simulate_call(
        &mut call,
        "gpt-4o-mini-2024-07-18",
        &Reply {
            text: "LFP cells: 95 USD/kWh; NMC cells: 120 USD/kWh.",
            input: 520,
            output: 42,
            finish: finish_reason::STOP,
        },
    );
    call.record_cache_read_tokens(384);
    call.end();
    agent.end();
}

/// A worker that reads papers and calculates.
fn data_analyst(parent: &Span, capture: &ContentCapture) {
    let t = tracer();
    let agent = genai::invoke_agent(t, "my_framework", "data_analyst")
        .parent(parent)
        .request_model("claude-sonnet-4")
        .capture_content(capture.clone())
        .start();
    let task = "Compute the cost of a 40 kWh pack for each chemistry.";

    let mut papers = genai::retrieval(t, "battery-papers")
        .parent(agent.span())
        .provider("in_memory")
        .top_k(3)
        .capture_content(capture.clone())
        .start();
    papers.record_query("pack cost overhead over cell cost");
    thread::sleep(STEP);
    papers.record_documents(&[
        RetrievedDocument::new("doc_pack_overhead_2024", 0.88),
        RetrievedDocument::new("doc_lfp_review", 0.71),
    ]);
    papers.end();

    let mut call = genai::chat(t, provider_name::ANTHROPIC, "claude-sonnet-4")
        .parent(agent.span())
        .max_tokens(1024)
        .capture_content(capture.clone())
        .start();
    call.record_input_messages(&[Message::user(task)]);
    simulate_call(
        &mut call,
        "claude-sonnet-4-20250514",
        &Reply {
            text: "calculator(expression=\"40 * 95 * 1.25\")",
            input: 960,
            output: 210,
            finish: finish_reason::TOOL_CALL,
        },
    );
    call.record_reasoning_tokens(150); // part of the 210 output tokens
    call.end();

    let mut calc = genai::execute_tool(t, "calculator")
        .parent(agent.span())
        .call_id("toolu_01A")
        .tool_type(tool_type::FUNCTION)
        .capture_content(capture.clone())
        .start();
    calc.record_arguments(r#"{"expression": "40 * 95 * 1.25"}"#);
    thread::sleep(STEP);
    calc.record_result("4750");
    calc.end();

    let mut call = genai::chat(t, provider_name::ANTHROPIC, "claude-sonnet-4")
        .parent(agent.span())
        .capture_content(capture.clone())
        .start();
    call.record_input_messages(&[Message::user(task), Message::tool("4750")]);
    simulate_call(
        &mut call,
        "claude-sonnet-4-20250514",
        &Reply {
            text: "LFP pack: 4,750 USD; NMC pack: 6,000 USD.",
            input: 1_240,
            output: 95,
            finish: finish_reason::STOP,
        },
    );
    call.record_cache_read_tokens(900);
    call.end();
    agent.end();
}

fn int(span: &FinishedSpan, key: &str) -> Option<i64> {
    match span.attribute(key) {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

fn float(span: &FinishedSpan, key: &str) -> Option<f64> {
    match span.attribute(key) {
        Some(Value::F64(x)) => Some(*x),
        _ => None,
    }
}

/// One line of the tree: the span, its duration, and what it cost.
fn describe(span: &FinishedSpan) -> String {
    let mut line = format!("{}  {:.1?}", span.name, span.duration());
    if let (Some(input), Some(output)) = (
        int(span, semconv::GEN_AI_USAGE_INPUT_TOKENS),
        int(span, semconv::GEN_AI_USAGE_OUTPUT_TOKENS),
    ) {
        let _ = write!(line, "  tokens {input} in / {output} out");
        if let Some(cached) = int(span, semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) {
            let _ = write!(line, " ({cached} cached)");
        }
        if let Some(reasoning) = int(span, semconv::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS) {
            let _ = write!(line, " ({reasoning} reasoning)");
        }
    }
    if let (Some(calls), Some(tools)) = (
        int(span, semconv::INFERENCE_CALLS),
        int(span, semconv::TOOL_CALLS),
    ) {
        let _ = write!(line, "  calls: {calls} model, {tools} tool");
    }
    if let Some(ttfc) = float(span, semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK) {
        let _ = write!(line, "  first chunk after {:.1}ms", ttfc * 1e3);
    }
    if let Some(cost) = float(span, COST_ATTRIBUTE) {
        let _ = write!(line, "  ${cost:.6}");
    }
    if span.status.is_error() {
        let _ = write!(line, "  {}", span.status);
    }
    line
}

fn print_node(node: &SpanNode<'_>, prefix: &str, branch: &str, more: &str) {
    println!("{prefix}{branch}{}", describe(node.span));
    let count = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == count;
        let (b, m) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        print_node(child, &format!("{prefix}{more}"), b, m);
    }
}

/// Prints the trace as a tree, then the token and cost totals.
fn print_trace_tree(spans: &[FinishedSpan], tree: &[SpanNode<'_>]) {
    for top in tree {
        print_node(top, "", "", "");
    }
    let model_calls: Vec<&FinishedSpan> = spans
        .iter()
        .filter(|s| int(s, semconv::GEN_AI_USAGE_INPUT_TOKENS).is_some())
        .filter(|s| {
            !matches!(
                s.attribute(semconv::GEN_AI_OPERATION_NAME)
                    .and_then(Value::as_str),
                Some("invoke_agent" | "invoke_workflow")
            )
        })
        .collect();
    let tokens = |key| model_calls.iter().filter_map(|s| int(s, key)).sum::<i64>();
    let cost: f64 = model_calls
        .iter()
        .filter_map(|s| float(s, COST_ATTRIBUTE))
        .sum();
    println!(
        "\ntotal: {} model calls, {} input tokens ({} cached), {} output tokens, ${cost:.6}",
        model_calls.len(),
        tokens(semconv::GEN_AI_USAGE_INPUT_TOKENS),
        tokens(semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        tokens(semconv::GEN_AI_USAGE_OUTPUT_TOKENS),
    );
}

fn print_tree(id: TraceId) {
    let Some(trace) = tracer().trace(id) else {
        println!("trace {id} is no longer in memory");
        return;
    };
    println!("trace {id}\n");
    print_trace_tree(trace.spans(), &trace.tree());
    println!("\ncost by agent (the process's ledger):");
    for (agent, spend) in cost_ledger().by_agent() {
        let amounts: Vec<String> = spend.costs().iter().map(ToString::to_string).collect();
        println!("  {agent:<16} {}", amounts.join(", "));
    }
    println!();
}

/// Shows what the scrubbers left of the content.
fn print_scrubbed(id: TraceId) {
    let Some(trace) = tracer().trace(id) else {
        return;
    };
    println!("content as recorded (scrubbed):");
    for (name, key) in [
        ("search_memory", semconv::GEN_AI_MEMORY_QUERY_TEXT),
        (
            "execute_tool web_search",
            semconv::GEN_AI_TOOL_CALL_ARGUMENTS,
        ),
        (
            "invoke_workflow research_report",
            semconv::GEN_AI_INPUT_MESSAGES,
        ),
    ] {
        let value = trace
            .spans()
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.attribute(key))
            .and_then(Value::as_str)
            .unwrap_or("(not recorded)");
        println!("  {name}: {key}\n    {value}");
    }
    let everything = format!("{:?}", trace.spans());
    for secret in [USER_EMAIL, SEARCH_API_KEY, CODE_NAME] {
        assert!(
            !everything.contains(secret),
            "{secret} reached a span: the scrubbers missed it"
        );
    }
    println!("  (no span holds the e-mail address, the API key or the code name)\n");
}
