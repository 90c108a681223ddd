//! With content capture off, no prompt, completion, tool argument or
//! result, memory query or record reaches a span, an exported file, a
//! `Debug` string or a `tracing` log line. With capture on, the built-in
//! scrubbers remove e-mail addresses, API keys, bearer tokens and card
//! numbers before anything is recorded.

use std::sync::atomic::{AtomicU64, Ordering};

use agent_trace::genai::{
    self, ContentCapture, MemoryRecord, Message, OutputMessage, RetrievedDocument,
};
use agent_trace::privacy::{ScrubberChain, Sensitive};
use agent_trace::{AgentStepTracer, FinishedSpan};

mod support;

use support::collecting_tracer;

const EMAIL: &str = "ana.lopez@example.com";
const API_KEY: &str = "sk-proj-Zx81Qv0Lm2Nb7Tc4Rw9Ka3";
const CARD: &str = "4111 1111 1111 1111";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig42";
/// Nothing a scrubber recognises: only capture being off keeps it out.
const PRIVATE: &str = "diagnosed with lupus";

/// What the scrubbers remove.
const SCRUBBED: &[&str] = &[EMAIL, API_KEY, CARD, TOKEN];

fn prompt() -> String {
    format!(
        "I am {EMAIL}, {PRIVATE}; key {API_KEY}, card {CARD}, header Authorization: Bearer {TOKEN}"
    )
}

/// Runs every helper that takes content, feeding it the secrets, and
/// returns the `Debug` strings of everything it made along the way.
fn run(tracer: &AgentStepTracer, capture: &ContentCapture) -> Vec<String> {
    let prompt = prompt();
    let mut shown = Vec::new();
    let messages = [
        Message::system(format!("answer {EMAIL}")),
        Message::user(prompt.as_str()),
    ];
    let outputs = [OutputMessage::new(prompt.as_str(), "stop")];
    let records = [MemoryRecord::new(prompt.as_str()).id("mem_1").score(0.5)];
    shown.push(format!("{messages:?} {outputs:?} {records:?}"));
    shown.push(format!("{:?}", Sensitive::new(prompt.clone())));
    shown.push(format!("{capture:?}"));

    let workflow = genai::invoke_workflow(tracer, "pipeline")
        .capture_content(capture.clone())
        .start();
    let builder = genai::invoke_agent(tracer, "my_framework", "Helper")
        .parent(workflow.span())
        .capture_content(capture.clone());
    shown.push(format!("{builder:?}"));
    let mut agent = builder.start();
    agent.record_input_messages(&messages);
    agent.record_system_instructions(prompt.as_str());

    let mut call = genai::chat(tracer, "openai", "gpt-4o")
        .parent(agent.span())
        .capture_content(capture.clone())
        .start();
    call.record_input_messages(&messages);
    call.record_output_messages(&outputs);
    call.record_system_instructions(&prompt);
    shown.push(format!("{call:?}"));
    call.end();

    let arguments = format!(r#"{{"to": "{EMAIL}", "card": "{CARD}", "note": "{PRIVATE}"}}"#);
    let mut tool = genai::execute_tool(tracer, "send_mail")
        .parent(agent.span())
        .capture_content(capture.clone())
        .start();
    tool.record_arguments(arguments.as_str());
    tool.record_result(prompt.clone());
    shown.push(format!("{tool:?}"));
    tool.end();

    let mut memory = genai::search_memory(tracer)
        .parent(agent.span())
        .capture_content(capture.clone())
        .start();
    memory.record_query(Sensitive::new(prompt.as_str()));
    memory.record_records(&records);
    shown.push(format!("{memory:?}"));
    memory.end();

    let mut retrieval = genai::retrieval(tracer, "kb")
        .parent(agent.span())
        .capture_content(capture.clone())
        .start();
    retrieval.record_query(&prompt);
    retrieval.record_documents(&[RetrievedDocument::new("doc_1", 0.9)]);
    retrieval.end();

    agent.record_output_messages(&outputs);
    shown.push(format!("{agent:?}"));
    agent.end();
    let mut workflow = workflow;
    workflow.record_output_messages(&outputs);
    workflow.end();
    shown
}

/// The spans as the JSON-lines file exporter writes them (OTLP JSON), in a
/// file under the system's temporary directory.
#[cfg(feature = "file")]
fn exported(spans: &[FinishedSpan]) -> String {
    use agent_trace::export::{FileExporter, SpanExporter};

    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "agent-trace-privacy-{}-{}.jsonl",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut exporter = FileExporter::builder()
        .path(&path)
        .build()
        .expect("a file exporter");
    exporter.export(spans).expect("exported");
    exporter.shutdown().expect("flushed");
    let text = std::fs::read_to_string(&path).expect("written");
    let _ = std::fs::remove_file(&path);
    text
}

/// Without the file exporter: what any exporter gets, the finished spans.
#[cfg(not(feature = "file"))]
fn exported(spans: &[FinishedSpan]) -> String {
    format!("{spans:?}")
}

#[track_caller]
fn assert_absent(haystack: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !haystack.contains(secret),
            "{secret:?} found in {what}:\n{haystack}"
        );
    }
}

#[test]
fn with_capture_off_nothing_sensitive_is_shown_recorded_or_exported() {
    let (tracer, spans) = collecting_tracer();
    let shown = run(&tracer, &ContentCapture::off());
    let all: Vec<&str> = SCRUBBED.iter().copied().chain([PRIVATE]).collect();
    for debug in &shown {
        assert_absent(debug, &all, "Debug output");
    }
    let spans = spans.spans();
    assert_eq!(spans.len(), 6);
    assert_absent(&format!("{spans:?}"), &all, "the finished spans");
    let file = exported(&spans);
    assert!(file.contains("invoke_agent Helper"), "{file}");
    assert_absent(&file, &all, "the exported file");
    for span in &spans {
        for key in [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
            "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result",
            "gen_ai.memory.query.text",
            "gen_ai.memory.records",
            "gen_ai.retrieval.query.text",
            "gen_ai.retrieval.documents",
        ] {
            assert!(span.attribute(key).is_none(), "{key} on {}", span.name);
        }
    }
}

#[test]
fn with_capture_on_the_scrubbers_run_before_anything_is_recorded() {
    let (tracer, spans) = collecting_tracer();
    let shown = run(&tracer, &ContentCapture::on(ScrubberChain::default()));
    for debug in &shown {
        assert_absent(debug, SCRUBBED, "Debug output");
        assert_absent(debug, &[PRIVATE], "Debug output");
    }
    let spans = spans.spans();
    let all = format!("{spans:?}");
    assert_absent(&all, SCRUBBED, "the finished spans");
    let file = exported(&spans);
    assert_absent(&file, SCRUBBED, "the exported file");
    // Content was recorded: what no scrubber knows is there, the rest is
    // masked.
    for marker in [
        PRIVATE,
        "[REDACTED_EMAIL]",
        "[REDACTED_API_KEY]",
        "[REDACTED_CARD]",
        "Bearer [REDACTED_TOKEN]",
    ] {
        assert!(all.contains(marker), "{marker} missing from {all}");
    }
    // Tool arguments stay valid JSON after scrubbing.
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool send_mail")
        .expect("the tool span");
    let arguments = tool
        .attribute("gen_ai.tool.call.arguments")
        .and_then(|v| v.as_str())
        .expect("arguments recorded");
    let parsed: serde_json::Value = serde_json::from_str(arguments).expect("valid JSON");
    assert_eq!(parsed["to"], "[REDACTED_EMAIL]");
    assert_eq!(parsed["card"], "[REDACTED_CARD]");
    assert_eq!(parsed["note"], PRIVATE);
}

#[test]
fn sampled_out_spans_record_and_scrub_nothing() {
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let capture = ContentCapture::on(ScrubberChain::empty().with_fn(move |text| {
        counted.fetch_add(1, Ordering::Relaxed);
        text.to_owned()
    }));
    let tracer = AgentStepTracer::builder()
        .without_store()
        .sampler(agent_trace::Sampler::AlwaysOff)
        .build();
    run(&tracer, &capture);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

/// `tracing` output: every field of every event and span, as a subscriber
/// that logs would see them.
#[cfg(feature = "tracing")]
mod logs {
    use std::fmt::Write as _;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::Registry;

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<String>>);

    impl Visit for Capture {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let mut out = self.0.lock().unwrap();
            let _ = write!(out, "{}={value:?} ", field.name());
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            event.record(&mut self.clone());
            self.0.lock().unwrap().push('\n');
        }

        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: Context<'_, S>,
        ) {
            attrs.record(&mut self.clone());
            self.0.lock().unwrap().push('\n');
        }
    }

    #[test]
    fn with_capture_off_nothing_sensitive_reaches_a_log_line() {
        let capture = Capture::default();
        let subscriber = Registry::default().with(capture.clone());
        let (tracer, _spans) = collecting_tracer();
        tracing::subscriber::with_default(subscriber, || {
            let prompt = prompt();
            let message = Message::user(prompt.as_str());
            let span = tracing::info_span!("agent step", request = ?message);
            let _in_span = span.enter();
            tracing::info!(?message, secret = %Sensitive::new(prompt.as_str()), "calling the model");
            for shown in run(&tracer, &ContentCapture::off()) {
                tracing::debug!(state = %shown, "helper state");
            }
        });
        let logged = capture.0.lock().unwrap().clone();
        assert!(logged.contains("calling the model"), "{logged}");
        assert!(logged.contains("Sensitive(<redacted>)"), "{logged}");
        assert!(logged.contains("[REDACTED]"), "{logged}");
        let all: Vec<&str> = SCRUBBED.iter().copied().chain([PRIVATE]).collect();
        assert_absent(&logged, &all, "the log");
    }
}
