//! A service for the W3C Trace Context conformance suite
//! (`w3c/trace-context`, `test/test.py`).
//!
//! It listens on the address given as its first argument (default
//! `127.0.0.1:7777`) and answers `POST /test`, whose JSON body is a list of
//! `{"url": ..., "arguments": [...]}`. For each entry it continues the
//! incoming trace (or starts a new one when the incoming context is missing
//! or invalid), sends `POST url` with the `arguments` value as the JSON body
//! and its own `traceparent`/`tracestate`, then answers 200.
//!
//! ```text
//! cargo run --example w3c_test_service -- 127.0.0.1:5000
//! python test.py http://127.0.0.1:5000/test      # in w3c/trace-context/test
//! ```
//!
//! The suite itself listens on 127.0.0.1:7777 for the callbacks, so when both
//! run on one machine give this service another port, as above.

use agent_trace::{AgentStepTracer, SpanKind};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

#[derive(Clone)]
struct App {
    tracer: AgentStepTracer,
    client: reqwest::Client,
}

async fn test(State(app): State<App>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    let server = app
        .tracer
        .continue_trace_from_headers(&headers, "POST /test");
    for entry in body.as_array().into_iter().flatten() {
        let (Some(url), arguments) = (entry["url"].as_str(), &entry["arguments"]) else {
            return StatusCode::BAD_REQUEST;
        };
        let mut call = app
            .tracer
            .span_builder("POST")
            .parent(&server)
            .kind(SpanKind::Client)
            .attribute("url.full", url.to_owned())
            .start();
        let mut outgoing = HeaderMap::new();
        call.inject_headers(&mut outgoing);
        match app
            .client
            .post(url)
            .headers(outgoing)
            .json(arguments)
            .send()
            .await
        {
            Ok(response) => {
                call.set_attribute(
                    "http.response.status_code",
                    i64::from(response.status().as_u16()),
                );
            }
            Err(err) => call.record_exception(&err),
        }
    }
    StatusCode::OK
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7777".to_owned());
    let app = App {
        tracer: AgentStepTracer::new(),
        client: reqwest::Client::new(),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "W3C Trace Context test service on http://{}/test",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        Router::new().route("/test", post(test)).with_state(app),
    )
    .await?;
    Ok(())
}
