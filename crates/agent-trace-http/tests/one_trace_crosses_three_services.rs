//! Three axum services in one process, A -> B -> C, each behind
//! `HttpServerLayer` and calling the next with reqwest through
//! `HttpClientMiddleware`, over loopback: one trace across all three, with
//! the right kinds, parents and attributes; and the failure cases.

use std::net::SocketAddr;

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanId, SpanKind, Trace, TraceId, Value};
use agent_trace_http::{HttpClientMiddleware, HttpServerLayer};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

/// Serves `router` on an ephemeral loopback port, on a task of its own.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn traced_client(tracer: &AgentStepTracer) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(HttpClientMiddleware::new(tracer))
        .build()
}

/// C answers; B calls C; A calls B. Returns A's address.
async fn three_services(tracer: &AgentStepTracer) -> (SocketAddr, SocketAddr) {
    let c_tracer = tracer.clone();
    let c = serve(
        Router::new()
            .route(
                "/items/{id}",
                get(move || {
                    let tracer = c_tracer.clone();
                    async move {
                        // After an `.await`, the server span is still current.
                        tokio::task::yield_now().await;
                        let _lookup = tracer.start_span("lookup");
                        "item"
                    }
                }),
            )
            .route(
                "/fail",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }),
            )
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            // Never answers: the caller times out.
            .route("/hang", get(std::future::pending::<&'static str>))
            .layer(HttpServerLayer::new(tracer)),
    )
    .await;
    let client = traced_client(tracer);
    let b = serve(
        Router::new()
            .route(
                "/b",
                get(move || {
                    let client = client.clone();
                    async move {
                        let url = format!("http://{c}/items/7");
                        client.get(url).send().await.unwrap().text().await.unwrap()
                    }
                }),
            )
            .layer(HttpServerLayer::new(tracer)),
    )
    .await;
    let client = traced_client(tracer);
    let a = serve(
        Router::new()
            .route(
                "/a",
                get(move || {
                    let client = client.clone();
                    async move {
                        let url = format!("http://{b}/b");
                        client.get(url).send().await.unwrap().text().await.unwrap()
                    }
                }),
            )
            .layer(HttpServerLayer::new(tracer)),
    )
    .await;
    (a, c)
}

fn named<'t>(trace: &'t Trace, name: &str) -> &'t FinishedSpan {
    let found: Vec<_> = trace.spans().iter().filter(|s| *s.name == *name).collect();
    assert_eq!(found.len(), 1, "one span named {name}: {}", trace.render());
    found[0]
}

fn string(span: &FinishedSpan, key: &str) -> String {
    match span.attribute(key) {
        Some(Value::String(s)) => s.to_string(),
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn int(span: &FinishedSpan, key: &str) -> i64 {
    match span.attribute(key) {
        Some(Value::I64(v)) => *v,
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_crosses_three_services_with_kinds_parents_and_attributes() {
    let tracer = AgentStepTracer::new();
    let (a, c) = three_services(&tracer).await;

    let trace_id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    let caller: SpanId = "00f067aa0ba902b7".parse().unwrap();
    let body = reqwest::Client::new()
        .get(format!("http://{a}/a"))
        .header("traceparent", format!("00-{trace_id}-{caller}-01"))
        .header("tracestate", "vendor=x")
        .header("user-agent", "probe/1.0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "item");

    let trace = tracer.trace(trace_id).expect("the caller's trace");
    assert_eq!(trace.spans().len(), 6, "{}", trace.render());
    // Every span of the three services joined the caller's trace.
    let server_a = named(&trace, "GET /a");
    let server_b = named(&trace, "GET /b");
    let server_c = named(&trace, "GET /items/{id}");
    let lookup = named(&trace, "lookup");
    let clients: Vec<_> = trace
        .spans()
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 2);
    let client_ab = *clients
        .iter()
        .find(|s| s.parent_span_id == Some(server_a.context.span_id))
        .unwrap();
    let client_bc = *clients
        .iter()
        .find(|s| s.parent_span_id == Some(server_b.context.span_id))
        .unwrap();

    for server in [server_a, server_b, server_c] {
        assert_eq!(server.kind, SpanKind::Server);
        assert!(server.parent_is_remote);
        assert!(!server.status.is_error());
        assert_eq!(string(server, "http.request.method"), "GET");
        assert_eq!(string(server, "url.scheme"), "http");
        assert_eq!(string(server, "server.address"), "127.0.0.1");
        assert_eq!(int(server, "http.response.status_code"), 200);
    }
    assert_eq!(server_a.parent_span_id, Some(caller));
    assert_eq!(server_a.context.trace_state.to_string(), "vendor=x");
    assert_eq!(string(server_a, "user_agent.original"), "probe/1.0");
    assert_eq!(string(server_a, "url.path"), "/a");
    assert_eq!(string(server_a, "http.route"), "/a");
    assert_eq!(server_b.parent_span_id, Some(client_ab.context.span_id));
    assert_eq!(server_c.parent_span_id, Some(client_bc.context.span_id));
    assert_eq!(string(server_c, "url.path"), "/items/7");
    assert_eq!(string(server_c, "http.route"), "/items/{id}");
    assert_eq!(int(server_c, "server.port"), i64::from(c.port()));
    // The handler's own span, started after an `.await`, nests under C's.
    assert_eq!(lookup.parent_span_id, Some(server_c.context.span_id));
    assert_eq!(lookup.kind, SpanKind::Internal);

    for client in [client_ab, client_bc] {
        assert_eq!(&*client.name, "GET");
        assert!(!client.parent_is_remote);
        assert_eq!(string(client, "http.request.method"), "GET");
        assert_eq!(string(client, "server.address"), "127.0.0.1");
        assert_eq!(int(client, "http.response.status_code"), 200);
        assert!(!client.status.is_error());
    }
    assert_eq!(string(client_bc, "url.full"), format!("http://{c}/items/7"));
    assert_eq!(int(client_bc, "server.port"), i64::from(c.port()));
    // A server span covers its client call.
    assert!(server_b.start_time <= client_bc.start_time && client_bc.end_time <= server_b.end_time);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_trace_headers_starts_a_new_trace() {
    let tracer = AgentStepTracer::new();
    let (_, c) = three_services(&tracer).await;
    let status = reqwest::Client::new()
        .get(format!("http://{c}/items/1"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let store = tracer.store().unwrap();
    let traces = store.recent(10);
    assert_eq!(traces.len(), 1);
    let root = traces[0].root().expect("a root span");
    assert_eq!(&*root.name, "GET /items/{id}");
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.parent_span_id, None);
    assert!(!root.parent_is_remote);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_marks_both_sides_as_errors_and_a_404_only_the_client() {
    let tracer = AgentStepTracer::new();
    let (_, c) = three_services(&tracer).await;
    let client = traced_client(&tracer);

    let root = tracer.start_span("caller");
    let trace_id = root.trace_id();
    let guard = root.enter();
    let failing = client.get(format!("http://{c}/fail")).send();
    drop(guard);
    let status = agent_trace_core::AgentFutureExt::in_context(failing, root.context())
        .await
        .unwrap()
        .status();
    assert_eq!(status, 500);
    drop(root);

    let trace = tracer.trace(trace_id).unwrap();
    let server = named(&trace, "GET /fail");
    let client_span = named(&trace, "GET");
    for span in [server, client_span] {
        assert!(span.status.is_error(), "{}: {:?}", span.name, span.status);
        assert_eq!(int(span, "http.response.status_code"), 500);
        assert_eq!(string(span, "error.type"), "500");
    }
    assert_eq!(server.parent_span_id, Some(client_span.context.span_id));

    let missing = client
        .get(format!("http://{c}/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let spans: Vec<_> = tracer
        .store()
        .unwrap()
        .recent(10)
        .into_iter()
        .flat_map(|t| t.spans().to_vec())
        .filter(|s| s.attribute("http.response.status_code") == Some(&Value::I64(404)))
        .collect();
    assert_eq!(spans.len(), 2);
    for span in spans {
        // A 4xx is the client's error, not the server's.
        assert_eq!(
            span.status.is_error(),
            span.kind == SpanKind::Client,
            "{}",
            span.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_recorded_on_the_client_span() {
    let tracer = AgentStepTracer::new();
    // A port nothing listens on: bound, then released.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let error = traced_client(&tracer)
        .get(format!("http://{closed}/anything"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");

    let traces = tracer.store().unwrap().recent(10);
    assert_eq!(traces.len(), 1);
    let span = traces[0].root().unwrap();
    assert_eq!(span.kind, SpanKind::Client);
    assert!(span.status.is_error());
    assert_eq!(string(span, "error.type"), "connection_refused");
    assert_eq!(span.attribute("http.response.status_code"), None);
    assert!(span.events.iter().any(|e| &*e.name == "exception"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_recorded_on_the_client_span() {
    let tracer = AgentStepTracer::new();
    let (_, c) = three_services(&tracer).await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let client = ClientBuilder::new(impatient)
        .with(HttpClientMiddleware::new(&tracer))
        .build();
    let error = client
        .get(format!("http://{c}/hang"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");

    let clients: Vec<_> = tracer
        .store()
        .unwrap()
        .recent(10)
        .into_iter()
        .flat_map(|t| t.spans().to_vec())
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 1);
    let span = &clients[0];
    assert!(span.status.is_error());
    assert_eq!(string(span, "error.type"), "timeout");
    assert_eq!(span.attribute("http.response.status_code"), None);
}
