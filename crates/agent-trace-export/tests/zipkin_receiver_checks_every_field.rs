//! Our Zipkin v2 JSON, posted to a real Zipkin-compatible receiver: an axum
//! server on loopback that takes `POST /api/v2/spans` and answers 202 as
//! Zipkin does. Every field of the posted spans is checked against the
//! Zipkin v2 API span model (`zipkin2-api.yaml`) and against the spans that
//! were sent. A receiver's refusals and an endpoint nobody listens on come
//! back as classified errors that never show a configured header value.
#![cfg(feature = "zipkin")]

mod support;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use agent_trace_core::{
    AgentStepTracer, Array, Event, FinishedSpan, KeyValue, SpanKind, SpanLimits, Status, Timestamp,
    Value,
};
use agent_trace_export::{
    ExportError, ExportOutcome, Resource, SCOPE_NAME, SCOPE_VERSION, SpanExporter, ZipkinExporter,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value as Json, json};
use support::{Collect, known_trace};

/// The header value the exporters are configured with; it must reach the
/// receiver and never show in an error or in `Debug` output.
const AUTHORIZATION: &str = "Bearer s3cret";
const SECRET: &str = "s3cret";

// ---------------------------------------------------------------------------
// The receiver.

/// What the receiver answers to every request.
#[derive(Clone, Copy)]
struct Reply {
    status: StatusCode,
    retry_after: Option<&'static str>,
}

impl Reply {
    /// Zipkin's answer to spans it accepts.
    const ACCEPTED: Self = Self {
        status: StatusCode::ACCEPTED,
        retry_after: None,
    };
}

/// One request as the receiver got it.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A Zipkin-compatible receiver on its own runtime; it stops when dropped.
struct Receiver {
    addr: SocketAddr,
    log: Log,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start(reply: Reply) -> Self {
        // Bound here, before any export: a request that comes before the
        // server task first runs waits in the listen backlog.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("bound address");
        let log = Log::default();
        let app = Router::new()
            .route("/api/v2/spans", post(receive))
            .with_state((log.clone(), reply));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .build()
            .expect("receiver runtime");
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            addr,
            log,
            _runtime: runtime,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}/api/v2/spans", self.addr)
    }

    fn received(&self) -> MutexGuard<'_, Vec<Received>> {
        self.log.lock().unwrap()
    }
}

async fn receive(
    State((log, reply)): State<(Log, Reply)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    log.lock().unwrap().push(Received { headers, body });
    let mut response = if reply.status.is_success() {
        reply.status.into_response()
    } else {
        (reply.status, "the receiver refuses").into_response()
    };
    if let Some(after) = reply.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(after));
    }
    response
}

// ---------------------------------------------------------------------------
// Exporting.

fn resource() -> Resource {
    Resource::new("research-agent").with_attribute(KeyValue::new("service.namespace", "agents"))
}

fn exporter(endpoint: &str) -> ZipkinExporter {
    ZipkinExporter::builder()
        .endpoint(endpoint)
        .resource(resource())
        .header("Authorization", AUTHORIZATION)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("the exporter builds")
}

/// Exports `spans` to a receiver that accepts them; the posted spans, each
/// already checked against the Zipkin v2 model.
fn export_and_receive(spans: &[FinishedSpan]) -> Vec<Json> {
    let receiver = Receiver::start(Reply::ACCEPTED);
    let outcome = exporter(&receiver.endpoint())
        .export(spans)
        .expect("the receiver accepts the batch");
    assert_eq!(outcome, ExportOutcome::ACCEPTED);

    let received = receiver.received();
    assert_eq!(received.len(), 1, "one request per batch");
    let request = &received[0];
    assert_eq!(request.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(request.headers[header::AUTHORIZATION], AUTHORIZATION);
    let body: Json = serde_json::from_slice(&request.body).expect("the body is JSON");
    let posted = body
        .as_array()
        .expect("the body is a list of spans")
        .clone();
    assert_eq!(posted.len(), spans.len());
    for span in &posted {
        check_v2_span(span);
    }
    posted
}

/// A batch of one span.
fn one_span() -> Vec<FinishedSpan> {
    let collect = Collect::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(collect.clone()))
        .without_store()
        .build();
    tracer.start_trace("agent_task").end();
    collect.0.lock().unwrap().clone()
}

fn posted_by_id<'a>(posted: &'a [Json], span: &FinishedSpan) -> &'a Json {
    let id = span.context.span_id.to_string();
    posted
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("span {id} ({}) was not posted", span.name))
}

// ---------------------------------------------------------------------------
// The Zipkin v2 model, and the mapping's oracle.

fn is_lower_hex(s: &str, lengths: &[usize]) -> bool {
    lengths.contains(&s.len())
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && s.bytes().any(|b| b != b'0')
}

/// Checks one span against the `Span` definition of `zipkin2-api.yaml`:
/// only its properties, each with its type and format; and the OpenTelemetry
/// rule that empty fields are omitted.
fn check_v2_span(span: &Json) {
    const PROPERTIES: [&str; 13] = [
        "traceId",
        "name",
        "parentId",
        "id",
        "kind",
        "timestamp",
        "duration",
        "debug",
        "shared",
        "localEndpoint",
        "remoteEndpoint",
        "annotations",
        "tags",
    ];
    let obj = span
        .as_object()
        .unwrap_or_else(|| panic!("a span is an object: {span}"));
    for key in obj.keys() {
        assert!(
            PROPERTIES.contains(&key.as_str()),
            "unknown property {key}: {span}"
        );
    }
    let hex = |key: &str, lengths: &[usize]| {
        let value = obj[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a string"));
        assert!(
            is_lower_hex(value, lengths),
            "{key} {value:?} is not lowercase hex of {lengths:?}"
        );
    };
    hex("traceId", &[16, 32]);
    hex("id", &[16]);
    if obj.contains_key("parentId") {
        hex("parentId", &[16]);
    }
    if let Some(name) = obj.get("name") {
        assert!(name.as_str().is_some_and(|n| !n.is_empty()), "name: {span}");
    }
    if let Some(kind) = obj.get("kind") {
        let kind = kind.as_str().expect("kind is a string");
        assert!(
            ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"].contains(&kind),
            "kind {kind}"
        );
    }
    assert!(
        obj["timestamp"].as_u64().is_some_and(|t| t > 0),
        "timestamp: {span}"
    );
    assert!(
        obj["duration"].as_u64().is_some_and(|d| d >= 1),
        "duration: {span}"
    );
    for flag in ["debug", "shared"] {
        if let Some(v) = obj.get(flag) {
            assert!(v.is_boolean(), "{flag} is a boolean: {span}");
        }
    }
    assert!(
        obj.contains_key("localEndpoint"),
        "instrumentation always records localEndpoint"
    );
    for key in ["localEndpoint", "remoteEndpoint"] {
        if let Some(endpoint) = obj.get(key) {
            check_v2_endpoint(endpoint);
        }
    }
    if let Some(annotations) = obj.get("annotations") {
        let annotations = annotations.as_array().expect("annotations is an array");
        assert!(!annotations.is_empty(), "empty annotations are omitted");
        for a in annotations {
            let a = a.as_object().expect("an annotation is an object");
            assert_eq!(a.len(), 2, "timestamp and value: {a:?}");
            assert!(a["timestamp"].as_u64().is_some_and(|t| t > 0), "{a:?}");
            assert!(a["value"].is_string(), "{a:?}");
        }
    }
    if let Some(tags) = obj.get("tags") {
        let tags = tags.as_object().expect("tags is an object");
        assert!(!tags.is_empty(), "empty tags are omitted");
        for (k, v) in tags {
            assert!(v.is_string(), "tag {k} is not a string: {v}");
        }
    }
}

/// The `Endpoint` definition of `zipkin2-api.yaml`.
fn check_v2_endpoint(endpoint: &Json) {
    let obj = endpoint.as_object().expect("an endpoint is an object");
    assert!(!obj.is_empty(), "an empty endpoint is omitted");
    for (key, value) in obj {
        match key.as_str() {
            "serviceName" => assert!(value.is_string()),
            "ipv4" => assert!(value.as_str().unwrap().parse::<Ipv4Addr>().is_ok()),
            "ipv6" => assert!(value.as_str().unwrap().parse::<Ipv6Addr>().is_ok()),
            "port" => assert!(value.as_u64().is_some_and(|p| (1..=65535).contains(&p))),
            other => panic!("unknown endpoint property {other}"),
        }
    }
}

fn micros(t: Timestamp) -> u64 {
    t.as_unix_nanos() / 1_000
}

/// An attribute value as typed JSON.
fn typed(value: &Value) -> Json {
    match value {
        Value::Bool(b) => json!(b),
        Value::I64(i) => json!(i),
        Value::F64(f) => json!(f),
        Value::String(s) => json!(s.as_str()),
        Value::Array(Array::Bool(v)) => json!(&v[..]),
        Value::Array(Array::I64(v)) => json!(&v[..]),
        Value::Array(Array::F64(v)) => json!(&v[..]),
        Value::Array(Array::String(v)) => json!(v.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
    }
}

/// An attribute value as a Zipkin tag: primitives as their text, arrays
/// as a JSON list.
fn tag_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        Value::Array(_) | Value::F64(_) => typed(value).to_string(),
        Value::Bool(_) | Value::I64(_) => value.to_string(),
    }
}

/// An event as an annotation value: its name, or `"name":{attributes}`
/// with the attributes in the order they were added, then the dropped
/// count.
fn annotation_value(event: &Event) -> String {
    if event.attributes.is_empty() && event.dropped_attributes_count == 0 {
        return event.name.to_string();
    }
    let mut members: Vec<String> = event
        .attributes
        .iter()
        .map(|kv| format!("{}:{}", json!(kv.key.as_str()), typed(&kv.value)))
        .collect();
    if event.dropped_attributes_count > 0 {
        members.push(format!(
            r#""otel.dropped_attributes_count":{}"#,
            event.dropped_attributes_count
        ));
    }
    format!("{}:{{{}}}", json!(event.name.as_str()), members.join(","))
}

/// What the OpenTelemetry Zipkin mapping makes of `span`, exported with
/// [`resource`]; the remote endpoint is given by the caller.
fn expected(span: &FinishedSpan, remote_endpoint: Option<Json>) -> Json {
    let mut tags = Map::new();
    tags.insert("service.namespace".into(), json!("agents"));
    for kv in &span.attributes {
        tags.insert(kv.key.to_string(), json!(tag_text(&kv.value)));
    }
    for (key, value) in [
        ("otel.scope.name", SCOPE_NAME),
        ("otel.library.name", SCOPE_NAME),
        ("otel.scope.version", SCOPE_VERSION),
        ("otel.library.version", SCOPE_VERSION),
    ] {
        tags.insert(key.into(), json!(value));
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => {
            tags.insert("otel.status_code".into(), json!("OK"));
        }
        Status::Error { description } => {
            tags.insert("otel.status_code".into(), json!("ERROR"));
            tags.insert("error".into(), json!(description.as_str()));
        }
    }
    if !span.status.is_error() && tags.get("error") == Some(&json!("false")) {
        tags.remove("error");
    }
    for (key, count) in [
        (
            "otel.dropped_attributes_count",
            span.dropped_attributes_count,
        ),
        ("otel.dropped_events_count", span.dropped_events_count),
        ("otel.dropped_links_count", span.dropped_links_count),
    ] {
        if count > 0 {
            tags.insert(key.into(), json!(count.to_string()));
        }
    }

    let nanos = span.end_time.as_unix_nanos() - span.start_time.as_unix_nanos();
    let mut out = json!({
        "traceId": span.context.trace_id.to_string(),
        "id": span.context.span_id.to_string(),
        "name": span.name.as_str(),
        "timestamp": micros(span.start_time),
        "duration": (nanos / 1_000).max(1),
        "localEndpoint": { "serviceName": "research-agent" },
        "tags": tags,
    });
    let obj = out.as_object_mut().unwrap();
    if let Some(parent) = span.parent_span_id {
        obj.insert("parentId".into(), json!(parent.to_string()));
    }
    if span.kind != SpanKind::Internal {
        obj.insert("kind".into(), json!(span.kind.as_str().to_uppercase()));
    }
    if let Some(remote) = remote_endpoint {
        obj.insert("remoteEndpoint".into(), remote);
    }
    if !span.events.is_empty() {
        let annotations: Vec<Json> = span
            .events
            .iter()
            .map(|e| json!({ "timestamp": micros(e.timestamp), "value": annotation_value(e) }))
            .collect();
        obj.insert("annotations".into(), json!(annotations));
    }
    out
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn every_field_of_the_known_trace_reaches_the_receiver() {
    let known = known_trace();
    let posted = export_and_receive(&known.spans);

    for span in &known.spans {
        assert_eq!(
            *posted_by_id(&posted, span),
            expected(span, None),
            "{}",
            span.name
        );
    }

    // The same spans, by the values the known trace was built with.
    let by_name = |name: &str| {
        let span = known.spans.iter().find(|s| s.name == name).unwrap();
        (span, posted_by_id(&posted, span))
    };
    let (server, server_json) = by_name("POST /chat");
    let (client, client_json) = by_name("llm_call");
    let (_, tool_json) = by_name("tool_call");
    for span in &posted {
        assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            span["localEndpoint"],
            json!({ "serviceName": "research-agent" })
        );
        assert_eq!(span["tags"]["otel.scope.name"], "agent-trace");
        assert_eq!(span["tags"]["service.namespace"], "agents");
        assert!(span.get("debug").is_none());
    }

    assert!(server.parent_is_remote);
    assert_eq!(server_json["kind"], "SERVER");
    assert_eq!(server_json["parentId"], "00f067aa0ba902b7");
    // An OpenTelemetry server span has an id of its own: `shared` would make
    // Zipkin look for its parent under that id and cut it off its caller.
    assert!(server_json.get("shared").is_none(), "{server_json}");
    assert!(server_json["tags"].get("otel.status_code").is_none());
    assert!(server_json.get("annotations").is_none());

    let tags = &client_json["tags"];
    assert_eq!(client_json["kind"], "CLIENT");
    assert_eq!(client_json["parentId"], server.context.span_id.to_string());
    assert_eq!(tags["gen_ai.request.model"], "gpt-4");
    assert_eq!(tags["gen_ai.usage.input_tokens"], "150");
    assert_eq!(tags["temperature"], "0.7");
    assert_eq!(tags["cache_hit"], "false");
    assert_eq!(tags["stop"], r#"["\n\n","END"]"#);
    assert!(tags.get("over_the_limit").is_none());
    assert_eq!(tags["otel.dropped_attributes_count"], "1");
    assert_eq!(tags["otel.status_code"], "OK");
    assert!(tags.get("error").is_none());
    assert_eq!(
        client_json["annotations"],
        json!([{ "timestamp": micros(client.events[0].timestamp), "value": r#""first_token":{"chunk":1}"# }])
    );
    assert!(
        client_json.get("remoteEndpoint").is_none(),
        "no peer attribute"
    );

    assert!(
        tool_json.get("kind").is_none(),
        "internal spans have no kind"
    );
    assert_eq!(tool_json["parentId"], client.context.span_id.to_string());
    assert_eq!(tool_json["tags"]["otel.status_code"], "ERROR");
    assert_eq!(tool_json["tags"]["error"], "search backend down");
    let exception = tool_json["annotations"][0]["value"].as_str().unwrap();
    let attributes = exception
        .strip_prefix(r#""exception":"#)
        .expect("the event name, then its attributes");
    let attributes: Json = serde_json::from_str(attributes).expect("attributes as JSON");
    assert_eq!(attributes["exception.message"], "search backend down");
}

#[test]
fn times_peers_and_dropped_counts_follow_the_zipkin_mapping() {
    // 2026-01-01T00:00:00Z plus 999 ns, which microseconds cut off.
    const START_NS: u64 = 1_767_225_600_000_000_999;
    let at = |ns: u64| Timestamp::from_unix_nanos(START_NS + ns);
    let collect = Collect::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(collect.clone()))
        .span_limits(SpanLimits {
            max_events_per_span: 2,
            max_attributes_per_event: 2,
            ..SpanLimits::default()
        })
        .without_store()
        .build();
    let mut root = tracer.trace_builder("agent_task").start_time(at(0)).start();
    // Zipkin marks any span with an `error` tag as failed: this one goes.
    root.set_attribute("error", false);
    {
        let mut llm = tracer
            .span_builder("chat gpt-4o")
            .parent(&root)
            .kind(SpanKind::Client)
            .start_time(at(0))
            .start();
        llm.set_attribute("server.address", "api.openai.com");
        llm.set_attribute("server.port", 443);
        llm.set_attribute("gen_ai.request.seeds", vec![7_i64, -1]);
        llm.set_attribute("gen_ai.request.top_p", vec![0.5, 1.0]);
        llm.set_attribute("flags", vec![true, false]);
        llm.annotate("first_token");
        llm.add_event(
            "retry",
            [
                KeyValue::new("attempt", 2),
                KeyValue::new("reason", r#"rate "limited""#),
                KeyValue::new("over_the_event_limit", 1),
            ],
        );
        llm.annotate("over_the_span_limit");
        llm.set_status(Status::error(""));
        llm.end_with_time(at(2_500_000_500));
    }
    tracer
        .span_builder("cache_lookup")
        .parent(&root)
        .start_time(at(1_000))
        .start()
        .end_with_time(at(1_000));
    root.end_with_time(at(3_000_000_000));
    let spans = collect.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 3);

    let posted = export_and_receive(&spans);
    let find = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let llm = find("chat gpt-4o");
    let remote = json!({ "serviceName": "api.openai.com" });
    for span in &spans {
        let remote = (span.kind == SpanKind::Client).then(|| remote.clone());
        assert_eq!(
            *posted_by_id(&posted, span),
            expected(span, remote),
            "{}",
            span.name
        );
    }

    let llm_json = posted_by_id(&posted, llm);
    assert_eq!(llm_json["timestamp"], 1_767_225_600_000_000_u64);
    // The whole microseconds of 2.5 s + 500 ns, not the difference of the
    // truncated ends (which would be one more).
    assert_eq!(llm_json["duration"], 2_500_000);
    assert_eq!(llm_json["remoteEndpoint"], remote);
    let tags = &llm_json["tags"];
    assert_eq!(tags["server.port"], "443");
    assert_eq!(tags["gen_ai.request.seeds"], "[7,-1]");
    assert_eq!(tags["gen_ai.request.top_p"], "[0.5,1.0]");
    assert_eq!(tags["flags"], "[true,false]");
    assert_eq!(tags["error"], "", "an error without description");
    assert_eq!(tags["otel.status_code"], "ERROR");
    assert_eq!(tags["otel.dropped_events_count"], "1");
    let values: Vec<&str> = llm_json["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        [
            "first_token",
            r#""retry":{"attempt":2,"reason":"rate \"limited\"","otel.dropped_attributes_count":1}"#
        ]
    );
    for a in llm_json["annotations"].as_array().unwrap() {
        let t = a["timestamp"].as_u64().unwrap();
        assert!((START_NS / 1_000..=(START_NS + 2_500_000_500) / 1_000).contains(&t));
    }

    let cache_json = posted_by_id(&posted, find("cache_lookup"));
    assert_eq!(cache_json["timestamp"], 1_767_225_600_000_001_u64);
    assert_eq!(cache_json["duration"], 1, "at least one microsecond");
    let root_json = posted_by_id(&posted, find("agent_task"));
    assert!(
        root_json.get("parentId").is_none(),
        "a root has no parentId"
    );
    assert!(root_json["tags"].get("error").is_none(), "{root_json}");
    assert_eq!(root_json["duration"], 3_000_000);
}

/// Asserts that no text of `err` shows the configured header value (or
/// `also`).
fn assert_hides(err: &ExportError, also: &str) {
    let mut texts = vec![err.to_string(), format!("{err:?}")];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        texts.push(s.to_string());
        source = s.source();
    }
    for text in texts {
        assert!(!text.contains(SECRET) && !text.contains(also), "{text}");
    }
}

#[test]
fn a_503_with_retry_after_is_a_retryable_rejection_with_that_delay() {
    let receiver = Receiver::start(Reply {
        status: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: Some("2"),
    });
    let err = exporter(&receiver.endpoint())
        .export(&one_span())
        .expect_err("the receiver refuses");
    match &err {
        ExportError::Rejected {
            exporter,
            status,
            retryable,
            retry_after,
            ..
        } => {
            assert_eq!(*exporter, "zipkin");
            assert_eq!(status, "503");
            assert!(*retryable);
            assert_eq!(*retry_after, Some(Duration::from_secs(2)));
        }
        other => panic!("not a rejection: {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_hides(&err, SECRET);
    assert_eq!(receiver.received().len(), 1);
}

#[test]
fn a_400_is_a_rejection_that_is_not_retried() {
    let receiver = Receiver::start(Reply {
        status: StatusCode::BAD_REQUEST,
        retry_after: None,
    });
    let err = exporter(&receiver.endpoint())
        .export(&one_span())
        .expect_err("the receiver refuses");
    assert!(
        matches!(&err, ExportError::Rejected { status, retryable: false, retry_after: None, .. } if status == "400"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("the receiver refuses"), "{err}");
    assert_hides(&err, SECRET);
}

#[test]
fn an_endpoint_nobody_listens_on_is_unreachable_and_nothing_secret_shows() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("bound address").port()
    }; // Dropped: nothing listens there now.
    let builder = ZipkinExporter::builder()
        .endpoint(format!(
            "http://agent:hunter2@127.0.0.1:{port}/api/v2/spans"
        ))
        .header("Authorization", AUTHORIZATION);
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains("hunter2"),
        "{shown}"
    );
    let mut exporter = builder.build().expect("building does not connect");
    let shown = format!("{exporter:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains("hunter2"),
        "{shown}"
    );

    let err = exporter.export(&one_span()).expect_err("nobody listens");
    let redacted = format!("http://127.0.0.1:{port}/api/v2/spans");
    assert!(
        matches!(&err, ExportError::Unreachable { exporter: "zipkin", endpoint, .. } if *endpoint == redacted),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_hides(&err, "hunter2");
}
