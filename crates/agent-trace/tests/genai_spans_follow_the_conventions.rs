//! The `genai` helpers produce spans named, kinded and attributed as the
//! OpenTelemetry GenAI semantic conventions say, record content only when
//! the user opted in (and then redacted), and feed the two GenAI client
//! histograms, with the conventions' buckets, to a real Prometheus recorder.

use agent_trace::genai::{
    self, ContentCapture, Conventions, Message, OutputMessage, StabilityOptIn,
};
use agent_trace::semconv::{self, finish_reason, metric, operation_name, provider_name};
use std::sync::{Arc, Mutex};

use agent_trace::{AgentStepTracer, FinishedSpan, Sampler, SpanKind, Status, Value};
use agent_trace_metrics::PrometheusRecorder;

mod support;

use support::collecting_tracer;

fn string(span: &FinishedSpan, key: &str) -> String {
    match span.attribute(key) {
        Some(Value::String(s)) => s.to_string(),
        other => panic!("{key} is {other:?}, not a string, on {:?}", span.name),
    }
}

/// Masks anything that looks like an e-mail address, as a user's hook
/// would.
fn mask_emails(text: &str) -> String {
    text.split(' ')
        .map(|word| if word.contains('@') { "[email]" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn an_llm_call_is_a_client_span_named_after_the_model() {
    let (tracer, spans) = collecting_tracer();
    let mut call = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o")
        .temperature(0.2)
        .max_tokens(256)
        .conversation_id("conv_5j66")
        .start();
    call.set_response_model("gpt-4o-2024-08-06");
    call.set_response_id("chatcmpl-123");
    call.record_usage(100, 180);
    call.set_finish_reasons([finish_reason::STOP, finish_reason::LENGTH]);
    call.end();

    let span = spans.named("chat gpt-4o");
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(
        span.status,
        Status::Unset,
        "success leaves the status unset"
    );
    for (key, value) in [
        (semconv::GEN_AI_OPERATION_NAME, "chat"),
        (semconv::GEN_AI_PROVIDER_NAME, "openai"),
        (semconv::GEN_AI_REQUEST_MODEL, "gpt-4o"),
        (semconv::GEN_AI_RESPONSE_MODEL, "gpt-4o-2024-08-06"),
        (semconv::GEN_AI_RESPONSE_ID, "chatcmpl-123"),
        (semconv::GEN_AI_CONVERSATION_ID, "conv_5j66"),
    ] {
        assert_eq!(string(&span, key), value, "{key}");
    }
    assert_eq!(
        span.attribute("gen_ai.request.temperature"),
        Some(&Value::F64(0.2))
    );
    assert_eq!(
        span.attribute("gen_ai.request.max_tokens"),
        Some(&Value::I64(256))
    );
    assert_eq!(
        span.attribute("gen_ai.usage.input_tokens"),
        Some(&Value::I64(100))
    );
    assert_eq!(
        span.attribute("gen_ai.usage.output_tokens"),
        Some(&Value::I64(180))
    );
    assert_eq!(
        span.attribute("gen_ai.response.finish_reasons"),
        Some(&Value::from(vec!["stop", "length"]))
    );
    assert!(span.attribute(semconv::ERROR_TYPE).is_none());
}

#[test]
fn a_model_in_this_process_may_be_internal() {
    let (tracer, spans) = collecting_tracer();
    genai::chat(&tracer, "llama.cpp", "llama-3-8b")
        .in_process()
        .start()
        .end();
    assert_eq!(spans.named("chat llama-3-8b").kind, SpanKind::Internal);
}

#[test]
fn a_tool_execution_is_an_internal_span_named_after_the_tool() {
    let (tracer, spans) = collecting_tracer();
    genai::execute_tool(&tracer, "web_search")
        .call_id("call_mszuSIzqtI65i1wAUOE8w5H4")
        .start()
        .end();

    let span = spans.named("execute_tool web_search");
    assert_eq!(span.kind, SpanKind::Internal);
    assert_eq!(string(&span, "gen_ai.operation.name"), "execute_tool");
    assert_eq!(string(&span, "gen_ai.tool.name"), "web_search");
    assert_eq!(
        string(&span, "gen_ai.tool.call.id"),
        "call_mszuSIzqtI65i1wAUOE8w5H4"
    );
    assert!(span.attribute(semconv::GEN_AI_PROVIDER_NAME).is_none());
}

#[test]
fn an_agent_is_internal_in_process_and_client_when_remote() {
    let (tracer, spans) = collecting_tracer();
    let agent = genai::invoke_agent(&tracer, "my_framework", "Math Tutor")
        .agent_id("agent-001")
        .description("Helps with math problems")
        .request_model("gpt-4o")
        .start();
    let call = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o")
        .parent(agent.span())
        .start();
    let tool = {
        let _in_agent = agent.span().enter();
        genai::execute_tool(&tracer, "calculator").start()
    };
    let (agent_id, trace_id) = (agent.span().span_id(), agent.span().trace_id());
    drop((call, tool));
    agent.end();
    genai::invoke_agent(&tracer, provider_name::AWS_BEDROCK, "Travel Planner")
        .remote()
        .start()
        .end();

    let local = spans.named("invoke_agent Math Tutor");
    assert_eq!(local.kind, SpanKind::Internal);
    for (key, value) in [
        ("gen_ai.operation.name", "invoke_agent"),
        ("gen_ai.provider.name", "my_framework"),
        ("gen_ai.agent.name", "Math Tutor"),
        ("gen_ai.agent.id", "agent-001"),
        ("gen_ai.agent.description", "Helps with math problems"),
        ("gen_ai.request.model", "gpt-4o"),
    ] {
        assert_eq!(string(&local, key), value, "{key}");
    }
    // Explicit parent and entered scope both nest under the agent.
    for child in ["chat gpt-4o", "execute_tool calculator"] {
        let child = spans.named(child);
        assert_eq!(child.parent_span_id, Some(agent_id), "{:?}", child.name);
        assert_eq!(child.context.trace_id, trace_id);
    }
    let remote = spans.named("invoke_agent Travel Planner");
    assert_eq!(remote.kind, SpanKind::Client);
    assert_eq!(string(&remote, "gen_ai.provider.name"), "aws.bedrock");
}

#[test]
fn a_failure_sets_the_error_status_and_error_type() {
    let (tracer, spans) = collecting_tracer();
    let mut call = genai::chat(&tracer, provider_name::ANTHROPIC, "claude-sonnet").start();
    call.fail("429", "rate limited, retry after 20 s");
    call.end();
    let mut tool = genai::execute_tool(&tracer, "web_search").start();
    let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "search timed out");
    tool.record_error("timeout", &err);
    tool.end();

    let call = spans.named("chat claude-sonnet");
    assert_eq!(call.status, Status::error("rate limited, retry after 20 s"));
    assert_eq!(string(&call, "error.type"), "429");

    let tool = spans.named("execute_tool web_search");
    assert!(tool.status.is_error());
    assert_eq!(string(&tool, "error.type"), "timeout");
    let exception = tool
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("an exception event");
    assert_eq!(
        exception.attribute("exception.message"),
        Some(&Value::from("search timed out"))
    );
}

#[test]
fn content_is_not_recorded_unless_the_user_opts_in() {
    let (tracer, spans) = collecting_tracer();
    let mut call = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o").start();
    call.record_input_messages(&[Message::user("my e-mail is ana@example.com")]);
    call.record_output_messages(&[OutputMessage::new("noted", finish_reason::STOP)]);
    call.end();
    let mut agent = genai::invoke_agent(&tracer, provider_name::OPENAI, "Helper")
        .capture_content(ContentCapture::off())
        .start();
    agent.record_input_messages(&[Message::user("secret")]);
    agent.end();
    let mut tool = genai::execute_tool(&tracer, "lookup").start();
    tool.record_arguments(r#"{"email":"ana@example.com"}"#);
    tool.record_result(r#"{"found":true}"#);
    tool.end();

    for name in ["chat gpt-4o", "invoke_agent Helper", "execute_tool lookup"] {
        let span = spans.named(name);
        for key in [
            semconv::GEN_AI_INPUT_MESSAGES,
            semconv::GEN_AI_OUTPUT_MESSAGES,
            semconv::GEN_AI_TOOL_CALL_ARGUMENTS,
            semconv::GEN_AI_TOOL_CALL_RESULT,
        ] {
            assert!(span.attribute(key).is_none(), "{key} recorded on {name}");
        }
        let everything = format!("{:?}", span.attributes);
        assert!(!everything.contains("example.com"), "{everything}");
        assert!(!everything.contains("secret"), "{everything}");
    }
}

#[test]
fn opted_in_content_is_recorded_redacted_in_the_message_schemas() {
    let (tracer, spans) = collecting_tracer();
    let capture = ContentCapture::with_redaction(mask_emails);
    let mut call = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o")
        .capture_content(capture.clone())
        .start();
    call.record_input_messages(&[
        Message::system("Answer \"briefly\"."),
        Message::user("hello\nmy e-mail is ana@example.com"),
    ]);
    call.record_output_messages(&[OutputMessage::new(
        "I will write to ana@example.com",
        finish_reason::STOP,
    )]);
    call.end();
    let mut tool = genai::execute_tool(&tracer, "send_mail")
        .capture_content(capture)
        .start();
    tool.record_arguments(r#"{"to": ana@example.com}"#);
    tool.record_result("sent");
    tool.end();

    let call = spans.named("chat gpt-4o");
    assert_eq!(
        string(&call, "gen_ai.input.messages"),
        concat!(
            r#"[{"role":"system","parts":[{"type":"text","content":"Answer \"briefly\"."}]},"#,
            r#"{"role":"user","parts":[{"type":"text","content":"hello\nmy e-mail is [email]"}]}]"#,
        )
    );
    assert_eq!(
        string(&call, "gen_ai.output.messages"),
        r#"[{"role":"assistant","parts":[{"type":"text","content":"I will write to [email]"}],"finish_reason":"stop"}]"#
    );
    let tool = spans.named("execute_tool send_mail");
    assert_eq!(
        string(&tool, "gen_ai.tool.call.arguments"),
        r#"{"to": [email]"#
    );
    assert_eq!(string(&tool, "gen_ai.tool.call.result"), "sent");
}

#[test]
fn the_redaction_hook_does_not_run_for_spans_that_are_not_recorded() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let capture = ContentCapture::with_redaction(move |text| {
        *counted.lock().unwrap() += 1;
        text.to_owned()
    });
    let tracer = AgentStepTracer::builder()
        .without_store()
        .sampler(Sampler::AlwaysOff)
        .build();
    let mut call = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o")
        .capture_content(capture)
        .start();
    call.record_input_messages(&[Message::user("hello")]);
    call.end();
    assert_eq!(*calls.lock().unwrap(), 0);
}

/// The first line of `text` that starts with `prefix` (a series and its
/// labels, in the order the helpers give them, which the exporter keeps).
fn series_line(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_owned)
}

#[test]
fn genai_metrics_reach_prometheus_with_the_conventions_buckets() {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    let tracer = AgentStepTracer::builder()
        .without_store()
        .sampler(Sampler::AlwaysOff) // metrics count every call, sampled or not
        .build();
    metrics::with_local_recorder(&recorder, || {
        let mut ok = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o").start();
        ok.record_usage(100, 3000);
        ok.end();
        let mut failed = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o").start();
        failed.fail("timeout", "no answer in 30 s");
        failed.end();
        genai::execute_tool(&tracer, "web_search").start().end();
    });
    let text = handle.render();

    let duration = metric::OPERATION_DURATION;
    assert_eq!(duration, "gen_ai_client_operation_duration_seconds");
    let chat = r#"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o""#;
    // Every boundary of the conventions, in order, then +Inf.
    for le in metric::OPERATION_DURATION_BUCKETS {
        let prefix = format!(r#"{duration}_bucket{{{chat},le="{le}"}} "#);
        assert!(
            series_line(&text, &prefix).is_some(),
            "{prefix} missing from\n{text}"
        );
    }
    assert_eq!(
        metric::OPERATION_DURATION_BUCKETS
            .first()
            .map(|b| b.to_string()),
        Some("0.01".to_owned())
    );
    assert_eq!(
        metric::OPERATION_DURATION_BUCKETS
            .last()
            .map(|b| b.to_string()),
        Some("81.92".to_owned())
    );
    for (labels, count) in [
        (chat.to_owned(), 1),
        (format!(r#"{chat},error_type="timeout""#), 1),
        (r#"gen_ai_operation_name="execute_tool""#.to_owned(), 1),
    ] {
        let line = format!(r#"{duration}_bucket{{{labels},le="+Inf"}} {count}"#);
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
        let line = format!("{duration}_count{{{labels}}} {count}");
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }

    let tokens = metric::TOKEN_USAGE;
    assert_eq!(tokens, "gen_ai_client_token_usage");
    // 100 input tokens: above 64, within 256; 3000 output: within 4096.
    for (token_type, le, count) in [
        ("input", "1", 0),
        ("input", "64", 0),
        ("input", "256", 1),
        ("input", "67108864", 1),
        ("output", "1024", 0),
        ("output", "4096", 1),
        ("output", "67108864", 1),
    ] {
        let line = format!(
            r#"{tokens}_bucket{{{chat},gen_ai_token_type="{token_type}",le="{le}"}} {count}"#
        );
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    for (token_type, sum) in [("input", 100), ("output", 3000)] {
        let line = format!(r#"{tokens}_sum{{{chat},gen_ai_token_type="{token_type}"}} {sum}"#);
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    // Every boundary of the conventions is a bucket of the token histogram.
    for le in metric::TOKEN_USAGE_BUCKETS {
        let prefix = format!(r#"{tokens}_bucket{{{chat},gen_ai_token_type="input",le="{le}"}} "#);
        assert!(
            series_line(&text, &prefix).is_some(),
            "{prefix} missing from\n{text}"
        );
    }
    // Only the call that reported usage has token series: not the failed
    // call, not the tool.
    let token_series = text
        .lines()
        .filter(|l| l.starts_with(&format!("{tokens}_count{{")))
        .count();
    assert_eq!(token_series, 2, "{text}");
}

#[test]
fn the_names_are_the_conventions_names() {
    // The OpenTelemetry names the Prometheus ones stand for.
    assert_eq!(
        metric::OTEL_OPERATION_DURATION,
        "gen_ai.client.operation.duration"
    );
    assert_eq!(metric::OTEL_TOKEN_USAGE, "gen_ai.client.token.usage");
    assert_eq!(semconv::GEN_AI_AGENT_ID, agent_trace::AGENT_ID);
    assert_eq!(operation_name::CHAT, "chat");
    assert_eq!(operation_name::EXECUTE_TOOL, "execute_tool");
    assert_eq!(operation_name::INVOKE_AGENT, "invoke_agent");
    assert_eq!(semconv::token_type::INPUT, "input");
    assert_eq!(semconv::token_type::OUTPUT, "output");
    assert_eq!(semconv::ERROR_TYPE, "error.type");
}

/// The value of a string attribute, or `None`.
fn opt_string(span: &FinishedSpan, key: &str) -> Option<String> {
    span.attribute(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A span's name, kind, and attributes with their values.
type Expected = (
    &'static str,
    SpanKind,
    &'static [(&'static str, &'static str)],
);

#[test]
fn every_builder_names_and_kinds_its_span_as_the_conventions_say() {
    let (tracer, spans) = collecting_tracer();
    genai::chat(&tracer, "openai", "gpt-4o").start().end();
    genai::generate_content(&tracer, "gcp.gemini", "gemini-2.5-pro")
        .start()
        .end();
    genai::text_completion(&tracer, "openai", "gpt-3.5-turbo-instruct")
        .start()
        .end();
    genai::embeddings(&tracer, "openai", "text-embedding-3-small")
        .start()
        .end();
    genai::execute_tool(&tracer, "get_weather").start().end();
    genai::invoke_agent(&tracer, "crewai", "Math Tutor")
        .start()
        .end();
    genai::create_agent(&tracer, "openai", "Fiction Writer")
        .start()
        .end();
    genai::invoke_workflow(&tracer, "multi_agent_rag")
        .start()
        .end();
    genai::plan(&tracer, "planner").start().end();
    genai::search_memory(&tracer).start().end();
    genai::create_memory(&tracer).start().end();
    genai::update_memory(&tracer).start().end();
    genai::upsert_memory(&tracer).start().end();
    genai::delete_memory(&tracer).start().end();
    genai::create_memory_store(&tracer).start().end();
    genai::delete_memory_store(&tracer).start().end();
    genai::retrieval(&tracer, "H7STPQYOND").start().end();

    // Written from the conventions' text (spans.yaml and the agent spans
    // document), not from the crate's constants.
    use SpanKind::{Client, Internal};
    let expected: &[Expected] = &[
        (
            "chat gpt-4o",
            Client,
            &[
                ("gen_ai.operation.name", "chat"),
                ("gen_ai.provider.name", "openai"),
                ("gen_ai.request.model", "gpt-4o"),
            ],
        ),
        (
            "generate_content gemini-2.5-pro",
            Client,
            &[
                ("gen_ai.operation.name", "generate_content"),
                ("gen_ai.provider.name", "gcp.gemini"),
                ("gen_ai.request.model", "gemini-2.5-pro"),
            ],
        ),
        (
            "text_completion gpt-3.5-turbo-instruct",
            Client,
            &[
                ("gen_ai.operation.name", "text_completion"),
                ("gen_ai.provider.name", "openai"),
                ("gen_ai.request.model", "gpt-3.5-turbo-instruct"),
            ],
        ),
        (
            "embeddings text-embedding-3-small",
            Client,
            &[
                ("gen_ai.operation.name", "embeddings"),
                ("gen_ai.provider.name", "openai"),
                ("gen_ai.request.model", "text-embedding-3-small"),
            ],
        ),
        (
            "execute_tool get_weather",
            Internal,
            &[
                ("gen_ai.operation.name", "execute_tool"),
                ("gen_ai.tool.name", "get_weather"),
            ],
        ),
        (
            "invoke_agent Math Tutor",
            Internal,
            &[
                ("gen_ai.operation.name", "invoke_agent"),
                ("gen_ai.provider.name", "crewai"),
                ("gen_ai.agent.name", "Math Tutor"),
            ],
        ),
        (
            "create_agent Fiction Writer",
            Client,
            &[
                ("gen_ai.operation.name", "create_agent"),
                ("gen_ai.provider.name", "openai"),
                ("gen_ai.agent.name", "Fiction Writer"),
            ],
        ),
        (
            "invoke_workflow multi_agent_rag",
            Internal,
            &[
                ("gen_ai.operation.name", "invoke_workflow"),
                ("gen_ai.workflow.name", "multi_agent_rag"),
            ],
        ),
        (
            "plan planner",
            Internal,
            &[
                ("gen_ai.operation.name", "plan"),
                ("gen_ai.agent.name", "planner"),
            ],
        ),
        (
            "search_memory",
            Client,
            &[("gen_ai.operation.name", "search_memory")],
        ),
        (
            "create_memory",
            Client,
            &[("gen_ai.operation.name", "create_memory")],
        ),
        (
            "update_memory",
            Client,
            &[("gen_ai.operation.name", "update_memory")],
        ),
        (
            "upsert_memory",
            Client,
            &[("gen_ai.operation.name", "upsert_memory")],
        ),
        (
            "delete_memory",
            Client,
            &[("gen_ai.operation.name", "delete_memory")],
        ),
        (
            "create_memory_store",
            Client,
            &[("gen_ai.operation.name", "create_memory_store")],
        ),
        (
            "delete_memory_store",
            Client,
            &[("gen_ai.operation.name", "delete_memory_store")],
        ),
        (
            "retrieval H7STPQYOND",
            Client,
            &[
                ("gen_ai.operation.name", "retrieval"),
                ("gen_ai.data_source.id", "H7STPQYOND"),
            ],
        ),
    ];
    assert_eq!(spans.len(), expected.len());
    for (name, kind, attributes) in expected {
        let span = spans.named(name);
        assert_eq!(span.kind, *kind, "{name}");
        for (key, value) in *attributes {
            assert_eq!(string(&span, key), *value, "{key} on {name}");
        }
        // Nothing the application did not give.
        for key in ["gen_ai.conversation.id", "gen_ai.system", "error.type"] {
            assert!(span.attribute(key).is_none(), "{key} on {name}");
        }
    }
}

#[test]
fn token_usage_counts_cache_and_reasoning_tokens() {
    let (tracer, spans) = collecting_tracer();
    let mut call = genai::chat(&tracer, provider_name::ANTHROPIC, "claude-sonnet-4").start();
    call.record_usage(1200, 400);
    call.record_cache_read_tokens(800);
    call.record_cache_creation_tokens(300);
    call.record_reasoning_tokens(250);
    call.set_finish_reasons(["tool_call"]);
    call.end();
    let mut embed = genai::embeddings(&tracer, provider_name::OPENAI, "text-embedding-3-small")
        .dimension_count(512)
        .encoding_formats(["float"])
        .start();
    embed.record_input_tokens(24);
    embed.end();

    let span = spans.named("chat claude-sonnet-4");
    for (key, value) in [
        ("gen_ai.usage.input_tokens", 1200),
        ("gen_ai.usage.output_tokens", 400),
        ("gen_ai.usage.cache_read.input_tokens", 800),
        ("gen_ai.usage.cache_creation.input_tokens", 300),
        ("gen_ai.usage.reasoning.output_tokens", 250),
    ] {
        assert_eq!(span.attribute(key), Some(&Value::I64(value)), "{key}");
    }
    assert_eq!(
        span.attribute("gen_ai.response.finish_reasons"),
        Some(&Value::from(vec!["tool_call"]))
    );
    let embed = spans.named("embeddings text-embedding-3-small");
    assert_eq!(
        embed.attribute("gen_ai.usage.input_tokens"),
        Some(&Value::I64(24))
    );
    assert!(embed.attribute("gen_ai.usage.output_tokens").is_none());
    assert_eq!(
        embed.attribute("gen_ai.embeddings.dimension.count"),
        Some(&Value::I64(512))
    );
    assert_eq!(
        embed.attribute("gen_ai.request.encoding_formats"),
        Some(&Value::from(vec!["float"]))
    );
}

#[test]
fn the_conversation_id_is_set_only_where_the_application_gives_it() {
    let (tracer, spans) = collecting_tracer();
    let agent = genai::invoke_agent(&tracer, "my_framework", "Support")
        .conversation_id("conv_5j66")
        .start();
    genai::chat(&tracer, provider_name::OPENAI, "gpt-4o-mini")
        .parent(agent.span())
        .start()
        .end();
    genai::chat(&tracer, provider_name::OPENAI, "gpt-4o")
        .parent(agent.span())
        .conversation_id("conv_other")
        .start()
        .end();
    agent.end();

    assert_eq!(
        opt_string(
            &spans.named("invoke_agent Support"),
            "gen_ai.conversation.id"
        )
        .as_deref(),
        Some("conv_5j66")
    );
    // Not inherited as an attribute: the child was given none.
    assert_eq!(
        opt_string(&spans.named("chat gpt-4o-mini"), "gen_ai.conversation.id"),
        None
    );
    assert_eq!(
        opt_string(&spans.named("chat gpt-4o"), "gen_ai.conversation.id").as_deref(),
        Some("conv_other")
    );
}

#[test]
fn a_stream_records_its_time_to_first_chunk() {
    let (tracer, spans) = collecting_tracer();
    let mut stream = genai::chat(&tracer, provider_name::OPENAI, "gpt-4o")
        .streaming()
        .start();
    stream.first_chunk();
    let first = stream.span().elapsed();
    stream.first_chunk(); // ignored: the first chunk came already
    stream.end();
    genai::chat(&tracer, provider_name::OPENAI, "gpt-4o-mini")
        .start()
        .end();

    let span = spans.named("chat gpt-4o");
    assert_eq!(
        span.attribute("gen_ai.request.stream"),
        Some(&Value::Bool(true))
    );
    let Some(&Value::F64(ttfc)) = span.attribute("gen_ai.response.time_to_first_chunk") else {
        panic!("no time to first chunk on {:?}", span.attributes);
    };
    assert!(ttfc >= 0.0);
    assert!(ttfc <= first.as_secs_f64(), "{ttfc} > {first:?}");
    assert!(ttfc <= span.duration().as_secs_f64());
    let plain = spans.named("chat gpt-4o-mini");
    assert!(plain.attribute("gen_ai.request.stream").is_none());
    assert!(
        plain
            .attribute("gen_ai.response.time_to_first_chunk")
            .is_none()
    );
}

#[test]
fn memory_and_retrieval_spans_carry_their_attributes() {
    let (tracer, spans) = collecting_tracer();
    let mut search = genai::search_memory(&tracer)
        .provider("pinecone")
        .store_id("user-preferences")
        .server("memory.example.com", 443)
        .start();
    search.set_record_count(3);
    search.end();
    let mut create = genai::create_memory(&tracer)
        .store_id("user-preferences")
        .in_process()
        .start();
    create.set_record_id("mem_5j66");
    create.end();
    genai::delete_memory(&tracer)
        .store_id("user-preferences")
        .record_id("mem_1")
        .start()
        .end();
    genai::retrieval(&tracer, "vs_abc123")
        .provider(provider_name::OPENAI)
        .top_k(5)
        .start()
        .end();

    let search = spans.named("search_memory");
    assert_eq!(string(&search, "gen_ai.provider.name"), "pinecone");
    assert_eq!(
        string(&search, "gen_ai.memory.store.id"),
        "user-preferences"
    );
    assert_eq!(string(&search, "server.address"), "memory.example.com");
    assert_eq!(search.attribute("server.port"), Some(&Value::I64(443)));
    assert_eq!(
        search.attribute("gen_ai.memory.record.count"),
        Some(&Value::I64(3))
    );
    let create = spans.named("create_memory");
    assert_eq!(create.kind, SpanKind::Internal);
    assert_eq!(string(&create, "gen_ai.memory.record.id"), "mem_5j66");
    assert!(create.attribute("gen_ai.provider.name").is_none());
    assert_eq!(
        string(&spans.named("delete_memory"), "gen_ai.memory.record.id"),
        "mem_1"
    );
    let retrieval = spans.named("retrieval vs_abc123");
    assert_eq!(
        retrieval.attribute("gen_ai.request.top_k"),
        Some(&Value::F64(5.0))
    );
    assert_eq!(string(&retrieval, "gen_ai.provider.name"), "openai");
}

#[test]
fn the_legacy_names_are_written_only_when_asked_for() {
    let (tracer, spans) = collecting_tracer();
    for (model, conventions) in [
        ("latest", Conventions::LATEST),
        (
            "both",
            Conventions::from(StabilityOptIn::parse("http,gen_ai/dup")),
        ),
        (
            "explicit",
            Conventions::from(StabilityOptIn::parse("gen_ai_latest_experimental")),
        ),
    ] {
        let mut call = genai::chat(&tracer, provider_name::OPENAI, model)
            .conventions(conventions)
            .start();
        call.record_usage(10, 20);
        call.end();
    }

    for model in ["latest", "explicit"] {
        let span = spans.named(&format!("chat {model}"));
        for key in [
            "gen_ai.system",
            "gen_ai.usage.prompt_tokens",
            "gen_ai.usage.completion_tokens",
        ] {
            assert!(span.attribute(key).is_none(), "{key} on {model}");
        }
        assert_eq!(string(&span, "gen_ai.provider.name"), "openai");
    }
    let both = spans.named("chat both");
    assert_eq!(string(&both, "gen_ai.system"), "openai");
    assert_eq!(string(&both, "gen_ai.provider.name"), "openai");
    assert_eq!(
        both.attribute("gen_ai.usage.prompt_tokens"),
        Some(&Value::I64(10))
    );
    assert_eq!(
        both.attribute("gen_ai.usage.completion_tokens"),
        Some(&Value::I64(20))
    );
    assert_eq!(
        both.attribute("gen_ai.usage.input_tokens"),
        Some(&Value::I64(10))
    );
}

#[test]
fn the_stability_opt_in_is_read_as_a_comma_separated_list() {
    assert_eq!(StabilityOptIn::parse(""), StabilityOptIn::default());
    let both = StabilityOptIn::parse(" database/dup , gen_ai_latest_experimental,GEN_AI/DUP ");
    assert!(both.latest_experimental && both.duplicate);
    assert!(!StabilityOptIn::parse("gen_ai_latest_experimental").duplicate);
    assert!(!Conventions::default().emits_legacy());
}
