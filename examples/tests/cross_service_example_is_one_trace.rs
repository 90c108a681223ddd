//! End to end: the cross-service example, over real HTTP, yields one trace of
//! the expected shape.

#[allow(dead_code)] // The example's `main` is not called here.
#[path = "../cross_service.rs"]
mod cross_service;

use agent_trace::{SpanKind, Trace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_one_trace() {
    let spans = cross_service::run().await.expect("the example runs");
    let trace = Trace::from_spans(spans).expect("spans were recorded");

    // Names, kinds and nesting: server -> client -> server -> internal ->
    // client -> server -> internal. A propagates by hand; B and the tool
    // through `HttpServerLayer` and `HttpClientMiddleware`.
    let chain = [
        ("api_request", SpanKind::Server),
        ("POST /process", SpanKind::Client),
        ("POST /process", SpanKind::Server),
        ("process_data", SpanKind::Internal),
        ("POST", SpanKind::Client),
        ("POST /search", SpanKind::Server),
        ("web_search", SpanKind::Internal),
    ];
    assert_eq!(trace.spans().len(), chain.len(), "{}", trace.render());
    let tree = trace.tree();
    assert_eq!(tree.len(), 1, "one root:\n{}", trace.render());
    let mut node = &tree[0];
    for (i, (name, kind)) in chain.iter().enumerate() {
        assert_eq!(node.span.name, *name);
        assert_eq!(node.span.kind, *kind, "{name}");
        assert_eq!(node.span.context.trace_id, trace.trace_id());
        if i + 1 < chain.len() {
            assert_eq!(node.children.len(), 1, "{name} has one child");
            node = &node.children[0];
        }
    }

    // The server spans of B and the tool have remote parents; A's tracestate
    // entry reached both, and the spans under them.
    let servers: Vec<_> = trace
        .spans()
        .iter()
        .filter(|s| s.kind == SpanKind::Server && s.name != "api_request")
        .collect();
    assert_eq!(servers.len(), 2);
    for span in servers {
        assert!(span.parent_is_remote, "{}", span.name);
        assert_eq!(
            span.attribute("http.response.status_code")
                .map(|v| v.to_string()),
            Some("200".into())
        );
    }
    // (A's own spans do not hold it: A adds it to the headers only.)
    let downstream = trace.spans().iter().filter(|s| {
        s.name != "api_request" && !(s.name == "POST /process" && s.kind == SpanKind::Client)
    });
    for span in downstream {
        assert_eq!(
            span.context.trace_state.get("tenant"),
            Some("acme"),
            "{}",
            span.name
        );
    }
    let root = trace.root().unwrap();
    assert!(!root.parent_is_remote);
    assert_eq!(
        root.attribute("answers").map(|v| v.to_string()),
        Some("2".into())
    );
}
