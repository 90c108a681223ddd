//! One trace across three services, over real HTTP on loopback.
//!
//! Service A (an agent) starts a trace and calls service B with the W3C
//! `traceparent`/`tracestate` headers; B continues the trace and calls a tool
//! service, which continues it again. Each service has its own tracer, as
//! three processes would; at the end the spans of all three are put together
//! and printed as one tree, client and server spans alternating down the
//! call chain.
//!
//! B and the tool propagate with the middleware of `agent_trace::http_middleware`
//! (features `axum` and `reqwest`): `HttpServerLayer` continues the caller's
//! trace in a SERVER span per request, current for the handler, and
//! `HttpClientMiddleware` opens a CLIENT span per request and injects its
//! context. A does it by hand, the two lines the middleware saves:
//! `call.inject_headers(&mut headers)` on the way out, and
//! `tracer.continue_trace_from_headers(&headers, "name")` on the way in.
//!
//! ```text
//! cargo run --example cross_service
//! ```

use std::net::SocketAddr;

use agent_trace::http_middleware::reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use agent_trace::http_middleware::{HttpClientMiddleware, HttpServerLayer};
use agent_trace::propagation::TraceState;
use agent_trace::{AgentFutureExt, AgentStepTracer, FinishedSpan, SpanKind, Status, Trace};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// Service B's state: its tracer, a traced HTTP client and where the tool is.
#[derive(Clone)]
struct ServiceB {
    tracer: AgentStepTracer,
    client: ClientWithMiddleware,
    tool_url: String,
}

/// Service B: `POST /process` asks the tool. `HttpServerLayer` has already
/// continued the caller's trace (the span `POST /process`, current here).
async fn process(State(b): State<ServiceB>, Json(body): Json<Value>) -> Json<Value> {
    let mut span = b.tracer.start_span("process_data");
    span.set_attribute("query", body["query"].as_str().unwrap_or("").to_owned());

    // The middleware's CLIENT span is a child of the context current where
    // the request future is polled: `process_data`'s, made so here.
    let result = b
        .client
        .post(&b.tool_url)
        .json(&json!({ "q": body["query"] }))
        .send()
        .in_context(span.context())
        .await;
    let hits = match result {
        Ok(response) => response.json::<Value>().await.unwrap_or_default(),
        // The middleware recorded the error on its span; this one fails too.
        Err(err) => {
            span.record_exception(&err);
            Value::Null
        }
    };
    span.set_attribute("results", hits["hits"].as_array().map_or(0, Vec::len));
    span.set_status(Status::Ok);
    Json(json!({ "answer": hits }))
}

/// The tool service: `POST /search`, under the layer's `POST /search` span.
async fn search(State(tracer): State<AgentStepTracer>, Json(body): Json<Value>) -> Json<Value> {
    let mut span = tracer.start_span("web_search");
    span.set_attribute("gen_ai.tool.name", "web_search");
    let q = body["q"].as_str().unwrap_or("").to_owned();
    span.add_event(
        "index_lookup",
        [agent_trace::KeyValue::new(
            "terms",
            q.split_whitespace().count(),
        )],
    );
    Json(json!({ "hits": [format!("{q}: result 1"), format!("{q}: result 2")] }))
}

async fn serve(app: Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Runs the three services and one request through them; returns every span
/// of the trace, from all three tracers.
pub(crate) async fn run() -> anyhow::Result<Vec<FinishedSpan>> {
    let (tracer_a, tracer_b, tracer_tool) = (
        AgentStepTracer::new(),
        AgentStepTracer::new(),
        AgentStepTracer::new(),
    );
    let client = reqwest::Client::new();

    let tool = serve(
        Router::new()
            .route("/search", post(search))
            .with_state(tracer_tool.clone())
            .layer(HttpServerLayer::new(&tracer_tool)),
    )
    .await?;
    let b = serve(
        Router::new()
            .route("/process", post(process))
            .with_state(ServiceB {
                tracer: tracer_b.clone(),
                client: ClientBuilder::new(client.clone())
                    .with(HttpClientMiddleware::new(&tracer_b))
                    .build(),
                tool_url: format!("http://{tool}/search"),
            })
            .layer(HttpServerLayer::new(&tracer_b)),
    )
    .await?;

    // Service A: the agent's task, and its call to B, propagated by hand
    // (what `HttpClientMiddleware` does for B).
    let mut trace = tracer_a
        .trace_builder("api_request")
        .kind(SpanKind::Server)
        .agent_id("planner")
        .start();
    let trace_id = trace.trace_id();
    let url = format!("http://{b}/process");
    let mut call = tracer_a
        .span_builder("POST /process")
        .parent(&trace)
        .kind(SpanKind::Client)
        .attribute("http.request.method", "POST")
        .attribute("url.full", url.clone())
        .start();
    // A vendor entry in tracestate travels with the trace, unchanged.
    let mut cx = call.context();
    cx.trace_state = TraceState::default().insert("tenant", "acme")?;
    let mut headers = HeaderMap::new();
    for (name, value) in cx.to_headers() {
        headers.insert(axum::http::HeaderName::try_from(name)?, value.parse()?);
    }
    let response = client
        .post(&url)
        .headers(headers)
        .json(&json!({ "query": "latest agent frameworks" }))
        .send()
        .await?;
    call.set_attribute(
        "http.response.status_code",
        i64::from(response.status().as_u16()),
    );
    let answer: Value = response.json().await?;
    call.end();
    trace.set_attribute(
        "answers",
        answer["answer"]["hits"].as_array().map_or(0, Vec::len),
    );
    trace.end();

    // The servers' spans ended before their responses were sent, so every
    // store already holds its part of the trace.
    let mut spans = Vec::new();
    for tracer in [&tracer_a, &tracer_b, &tracer_tool] {
        if let Some(part) = tracer.trace(trace_id) {
            spans.extend(part.spans().iter().cloned());
        }
    }
    Ok(spans)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let spans = run().await?;
    let trace = Trace::from_spans(spans).ok_or_else(|| anyhow::anyhow!("no spans recorded"))?;
    println!("trace {} across three services:", trace.trace_id());
    print!("{}", trace.render());
    Ok(())
}
