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

    // Names, kinds and nesting: server -> client -> server -> client -> server.
    let chain = [
        ("api_request", SpanKind::Server),
        ("POST /process", SpanKind::Client),
        ("process_data", SpanKind::Server),
        ("POST /search", SpanKind::Client),
        ("web_search", SpanKind::Server),
    ];
    assert_eq!(trace.spans().len(), chain.len());
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

    // Server spans of B and the tool have remote parents; A's tracestate
    // entry reached both.
    for name in ["process_data", "web_search"] {
        let span = trace.spans().iter().find(|s| s.name == name).unwrap();
        assert!(span.parent_is_remote, "{name}");
        assert_eq!(
            span.context.trace_state.get("tenant"),
            Some("acme"),
            "{name}"
        );
    }
    let root = trace.root().unwrap();
    assert!(!root.parent_is_remote);
    assert_eq!(
        root.attribute("answers").map(|v| v.to_string()),
        Some("2".into())
    );
}
