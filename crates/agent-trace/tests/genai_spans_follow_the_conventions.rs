//! The `genai` helpers produce spans named, kinded and attributed as the
//! OpenTelemetry GenAI semantic conventions say, record content only when
//! the user opted in (and then redacted), and feed the two GenAI client
//! histograms, with the conventions' buckets, to a real Prometheus recorder.

use agent_trace::genai::{self, ContentCapture, Message, OutputMessage};
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
