//! The GenAI helpers record the agent, tool, workflow and streaming metrics
//! of the conventions (`gen_ai.invoke_agent.duration`,
//! `gen_ai.execute_tool.duration`, the call counts,
//! `gen_ai.client.operation.time_to_first_chunk`, ...) under their
//! Prometheus names, with the labels the conventions give them, and with
//! the conventions' buckets (our recorder keeps every GenAI histogram with
//! them); Prometheus's `promtool` accepts the text.

mod support;

use agent_trace::genai;
use agent_trace::semconv::metric;
use agent_trace::{AgentStepTracer, Sampler};
use agent_trace_metrics::PrometheusRecorder;

/// Our Prometheus recorder, as `PrometheusRecorder::new()` makes it: no
/// bucket setting of the user's is needed for the GenAI histograms.
fn recorder() -> PrometheusRecorder {
    PrometheusRecorder::new()
}

/// The conventions' boundaries for `gen_ai.client.operation.duration`,
/// `gen_ai.execute_tool.duration` and the time to first chunk.
const DURATION_BOUNDS: &[&str] = &[
    "0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24",
    "20.48", "40.96", "81.92",
];

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[track_caller]
fn assert_line(text: &str, line: &str) {
    assert!(has_line(text, line), "{line} missing from\n{text}");
}

/// Asserts that the histogram has exactly these buckets, with one value in
/// all (durations are not asserted: how long a step takes on a loaded
/// machine is not this test's business).
#[track_caller]
fn assert_buckets(text: &str, name: &str, labels: &str, bounds: &[&str]) {
    let prefix = format!("{name}_bucket{{{labels},le=");
    let found: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split('"').nth(1).unwrap_or_default())
        .collect();
    let mut expected = bounds.to_vec();
    expected.push("+Inf");
    assert_eq!(found, expected, "{name}{{{labels}}} in\n{text}");
    assert_line(text, &format!(r#"{name}_bucket{{{labels},le="+Inf"}} 1"#));
    assert_line(text, &format!("{name}_count{{{labels}}} 1"));
}

/// Runs a small agent: a streaming call, a plain call that fails, a tool,
/// in a workflow. Sampled out: metrics count every call.
fn run_agent() -> String {
    run_agent_on(&recorder())
}

/// [`run_agent`] on `recorder`.
fn run_agent_on(recorder: &PrometheusRecorder) -> String {
    let handle = recorder.handle();
    let tracer = AgentStepTracer::builder()
        .without_store()
        .sampler(Sampler::AlwaysOff)
        .build();
    metrics::with_local_recorder(recorder, || {
        let workflow = genai::invoke_workflow(&tracer, "support_pipeline").start();
        let agent = genai::invoke_agent(&tracer, "my_framework", "Researcher")
            .parent(workflow.span())
            .request_model("gpt-4o")
            .start();
        let mut stream = genai::chat(&tracer, "openai", "gpt-4o")
            .parent(agent.span())
            .streaming()
            .start();
        stream.first_chunk();
        stream.end();
        let mut failed = genai::chat(&tracer, "openai", "gpt-4o-mini")
            .parent(agent.span())
            .start();
        failed.fail("timeout", "no answer");
        failed.end();
        let mut tool = genai::execute_tool(&tracer, "web_search")
            .parent(agent.span())
            .tool_type("function")
            .start();
        tool.fail("timeout", "search timed out");
        tool.end();
        genai::execute_tool(&tracer, "standalone").start().end();
        agent.end();
        workflow.end();
    });
    handle.render()
}

/// Every GenAI metric of a small agent, described as
/// `install_prometheus_recorder` describes them, as Prometheus's linter
/// reads it (it wants a help text for each).
#[test]
fn prometheus_s_linter_accepts_the_genai_metrics() {
    let recorder = recorder();
    metrics::with_local_recorder(&recorder, agent_trace_metrics::describe_tracer_metrics);
    let text = run_agent_on(&recorder);
    for (name, _) in metric::HISTOGRAM_BUCKETS {
        if text.contains(&format!("# TYPE {name} ")) {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}\n{text}");
        }
    }
    support::promtool_accepts(&text);
}

#[test]
fn agents_record_their_duration_with_the_conventions_buckets() {
    let text = run_agent();
    let name = metric::INVOKE_AGENT_DURATION;
    assert_eq!(name, "gen_ai_invoke_agent_duration_seconds");
    let labels = r#"gen_ai_agent_name="Researcher",gen_ai_request_model="gpt-4o""#;
    // The conventions' boundaries for gen_ai.invoke_agent.duration.
    assert_buckets(
        &text,
        name,
        labels,
        &[
            "0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "25.6", "51.2", "102.4",
            "204.8", "409.6",
        ],
    );
}

#[test]
fn agents_record_the_calls_they_made() {
    let text = run_agent();
    // Two model calls (one failed, counted too) and one tool call.
    let calls = metric::INVOKE_AGENT_INFERENCE_CALLS;
    assert_eq!(calls, "gen_ai_invoke_agent_inference_calls");
    let agent = r#"gen_ai_agent_name="Researcher""#;
    for (le, n) in [("1", 0), ("2", 1), ("4", 1), ("128", 1), ("+Inf", 1)] {
        assert_line(
            &text,
            &format!(r#"{calls}_bucket{{{agent},le="{le}"}} {n}"#),
        );
    }
    assert_line(&text, &format!("{calls}_sum{{{agent}}} 2"));
    let tools = metric::INVOKE_AGENT_TOOL_CALLS;
    assert_eq!(tools, "gen_ai_invoke_agent_tool_calls");
    assert_line(&text, &format!(r#"{tools}_bucket{{{agent},le="1"}} 1"#));
    assert_line(&text, &format!("{tools}_sum{{{agent}}} 1"));
}

#[test]
fn tools_record_their_duration_with_their_agent() {
    let text = run_agent();
    let name = metric::EXECUTE_TOOL_DURATION;
    assert_eq!(name, "gen_ai_execute_tool_duration_seconds");
    let labels = r#"gen_ai_tool_name="web_search",gen_ai_agent_name="Researcher",gen_ai_tool_type="function",error_type="timeout""#;
    assert_buckets(&text, name, labels, DURATION_BOUNDS);
    // A tool outside any agent has no agent label.
    assert_line(
        &text,
        &format!(r#"{name}_count{{gen_ai_tool_name="standalone"}} 1"#),
    );
}

#[test]
fn streams_record_their_time_to_first_chunk() {
    let text = run_agent();
    let name = metric::TIME_TO_FIRST_CHUNK;
    assert_eq!(name, "gen_ai_client_operation_time_to_first_chunk_seconds");
    let stream = r#"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o""#;
    assert_buckets(&text, name, stream, DURATION_BOUNDS);
    // Not for the call that did not stream.
    assert!(
        !text.contains(r#"gen_ai_client_operation_time_to_first_chunk_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini""#),
        "{text}"
    );
}

#[test]
fn workflows_record_their_duration_and_every_call_below_them() {
    let text = run_agent();
    let workflow = r#"gen_ai_workflow_name="support_pipeline""#;
    let duration = metric::INVOKE_WORKFLOW_DURATION;
    assert_eq!(duration, "gen_ai_invoke_workflow_duration_seconds");
    assert_buckets(
        &text,
        duration,
        workflow,
        &[
            "1", "5", "10", "30", "60", "120", "300", "600", "1800", "3600", "7200",
        ],
    );
    let calls = metric::INVOKE_WORKFLOW_INFERENCE_CALLS;
    assert_eq!(calls, "gen_ai_invoke_workflow_inference_calls");
    for (le, n) in [("0", 0), ("1", 0), ("2", 1), ("512", 1)] {
        assert_line(
            &text,
            &format!(r#"{calls}_bucket{{{workflow},le="{le}"}} {n}"#),
        );
    }
    let tools = metric::INVOKE_WORKFLOW_TOOL_CALLS;
    assert_eq!(tools, "gen_ai_invoke_workflow_tool_calls");
    // The standalone tool ran outside the workflow.
    assert_line(&text, &format!("{tools}_sum{{{workflow}}} 1"));
    // Workflows and plans record no client operation duration.
    assert!(
        !text.contains(r#"gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="invoke_workflow""#),
        "{text}"
    );
}

#[test]
fn every_operation_with_a_client_records_the_client_operation_duration() {
    let text = run_agent();
    let name = metric::OPERATION_DURATION;
    for labels in [
        r#"gen_ai_operation_name="invoke_agent",gen_ai_provider_name="my_framework",gen_ai_request_model="gpt-4o""#,
        r#"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o""#,
        r#"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",error_type="timeout""#,
        r#"gen_ai_operation_name="execute_tool",error_type="timeout""#,
        r#"gen_ai_operation_name="execute_tool""#,
    ] {
        assert_line(&text, &format!("{name}_count{{{labels}}} 1"));
    }
}

#[test]
fn a_remote_agent_records_no_in_process_metrics() {
    let recorder = recorder();
    let handle = recorder.handle();
    let tracer = AgentStepTracer::builder().without_store().build();
    metrics::with_local_recorder(&recorder, || {
        genai::invoke_agent(&tracer, "aws.bedrock", "Remote")
            .remote()
            .start()
            .end();
    });
    let text = handle.render();
    assert!(!text.contains("gen_ai_invoke_agent_"), "{text}");
    assert_line(
        &text,
        &format!(
            r#"{}_count{{gen_ai_operation_name="invoke_agent",gen_ai_provider_name="aws.bedrock"}} 1"#,
            metric::OPERATION_DURATION
        ),
    );
}

#[test]
fn the_otel_names_are_the_conventions_names() {
    for (ours, theirs) in [
        (
            metric::OTEL_TIME_TO_FIRST_CHUNK,
            "gen_ai.client.operation.time_to_first_chunk",
        ),
        (
            metric::OTEL_INVOKE_AGENT_DURATION,
            "gen_ai.invoke_agent.duration",
        ),
        (
            metric::OTEL_EXECUTE_TOOL_DURATION,
            "gen_ai.execute_tool.duration",
        ),
        (
            metric::OTEL_INVOKE_AGENT_INFERENCE_CALLS,
            "gen_ai.invoke_agent.inference_calls",
        ),
        (
            metric::OTEL_INVOKE_AGENT_TOOL_CALLS,
            "gen_ai.invoke_agent.tool_calls",
        ),
        (
            metric::OTEL_INVOKE_WORKFLOW_DURATION,
            "gen_ai.invoke_workflow.duration",
        ),
        (
            metric::OTEL_INVOKE_WORKFLOW_INFERENCE_CALLS,
            "gen_ai.invoke_workflow.inference_calls",
        ),
        (
            metric::OTEL_INVOKE_WORKFLOW_TOOL_CALLS,
            "gen_ai.invoke_workflow.tool_calls",
        ),
    ] {
        assert_eq!(ours, theirs);
    }
}
