//! What a handler behind `HttpServerLayer` records nests under the request's
//! SERVER span: an `#[instrument]` function (through `AgentTraceLayer`), a
//! GenAI span started inside it, and one started in the handler itself,
//! across `.await`s. A real axum server on loopback, a plain HTTP/1.1
//! request without trace headers.
#![cfg(all(feature = "axum", feature = "tracing"))]

use agent_trace::genai;
use agent_trace::http_middleware::HttpServerLayer;
use agent_trace::{AgentStepTracer, AgentTraceLayer, FinishedSpan, SpanKind, Trace};
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracing_subscriber::layer::SubscriberExt as _;

/// The agent step the handler calls: an `#[instrument]` function that
/// calls a model after an `.await`.
#[tracing::instrument(skip(tracer))]
async fn plan(tracer: AgentStepTracer, goal: String) -> String {
    tokio::task::yield_now().await;
    let mut call = genai::chat(&tracer, "openai", "gpt-4o").start();
    call.record_usage(12, 30);
    call.end();
    format!("plan for {goal}")
}

fn named<'t>(trace: &'t Trace, name: &str) -> &'t FinishedSpan {
    let found: Vec<_> = trace.spans().iter().filter(|s| *s.name == *name).collect();
    assert_eq!(found.len(), 1, "one span named {name}: {}", trace.render());
    found[0]
}

// One thread: the subscriber set for this test's thread is the one the
// handler runs under.
#[tokio::test(flavor = "current_thread")]
async fn instrumented_functions_and_genai_spans_nest_under_the_server_span() {
    let tracer = AgentStepTracer::new();
    let subscriber = tracing_subscriber::registry()
        .with(AgentTraceLayer::new(tracer.clone()).without_latency_metrics());
    let _default = tracing::subscriber::set_default(subscriber);

    let handler_tracer = tracer.clone();
    let router = Router::new()
        .route(
            "/plan/{goal}",
            get(move |Path(goal): Path<String>| {
                let tracer = handler_tracer.clone();
                async move {
                    let mut embed =
                        genai::embeddings(&tracer, "openai", "text-embedding-3-small").start();
                    embed.record_input_tokens(8);
                    embed.end();
                    plan(tracer, goal).await
                }
            }),
        )
        .layer(HttpServerLayer::new(&tracer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /plan/launch HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("plan for launch"), "{response}");

    let traces = tracer.store().unwrap().recent(10);
    assert_eq!(traces.len(), 1, "one trace for the request");
    let trace = &traces[0];
    assert_eq!(trace.spans().len(), 4, "{}", trace.render());
    let server = named(trace, "GET /plan/{goal}");
    let embeddings = named(trace, "embeddings text-embedding-3-small");
    let step = named(trace, "plan");
    let chat = named(trace, "chat gpt-4o");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.parent_span_id, None, "no headers: a new trace");
    assert_eq!(embeddings.parent_span_id, Some(server.context.span_id));
    assert_eq!(step.parent_span_id, Some(server.context.span_id));
    assert_eq!(chat.parent_span_id, Some(step.context.span_id));
    assert_eq!(chat.kind, SpanKind::Client);
}
