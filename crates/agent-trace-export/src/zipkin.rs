//! The Zipkin v2 JSON exporter: one `POST` of a JSON array of spans per
//! batch, to a Zipkin server or anything that speaks its API (the
//! OpenTelemetry Collector's `zipkin` receiver, Jaeger's Zipkin port).
//!
//! The mapping of each field is documented on [`ZipkinExporter`], where
//! users read it; what follows is why it is the way it is.
//!
//! # Why `shared` is never set
//!
//! Zipkin's `shared` flag means "this server span reuses its client's span
//! id" (B3's single span per RPC). Zipkin then looks for the parent of a
//! shared span under the span's *own* id and ignores `parentId`. An
//! OpenTelemetry server span always has an id of its own, with the remote
//! client's span as `parentId`, so marking it shared would cut it off from
//! its caller in Zipkin's trace tree. The OpenTelemetry mapping leaves
//! `shared` (and `debug`) unmapped, and so does this exporter.
//!
//! # Why serde with borrowed fields
//!
//! The JSON is written straight from the spans: the structs below borrow
//! names, attribute keys and string values, ids are written through their
//! `Display`, and the batch is serialized as a sequence without collecting
//! the converted spans first. Per span only the tag map, the annotation
//! list, and the text of non-string tags and of annotations with attributes
//! are allocated.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use agent_trace_core::{Array, Event, FinishedSpan, SpanData, SpanKind, Status, Value};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::error::redact_url;
use crate::http::HttpTransport;
use crate::{
    ExportError, ExportOutcome, Headers, Resource, SCOPE_NAME, SCOPE_VERSION, SpanExporter,
};

/// The exporter's name: the `exporter` label and error prefix.
const NAME: &str = "zipkin";

/// Sends finished spans to a Zipkin server as Zipkin v2 JSON.
///
/// Made by [`ZipkinExporter::builder`]; the batch pipeline calls it from its
/// worker thread. Each batch is one `POST` of a JSON array with
/// `Content-Type: application/json`; any 2xx answer (Zipkin's is 202) means
/// the whole batch was accepted, and any other status or a transport failure
/// becomes an [`ExportError`] that says whether to retry.
///
/// # Mapping
///
/// It follows the OpenTelemetry specification's "OpenTelemetry to Zipkin
/// Transformation", with the generic rules for formats other than OTLP:
///
/// - ids as lowercase hex; `parentId` only when the span has a parent;
/// - `kind` `CLIENT`, `SERVER`, `PRODUCER` or `CONSUMER`, absent for internal
///   spans;
/// - `timestamp` and `duration` in whole microseconds, truncated, the
///   duration at least 1 (Zipkin's API rounds shorter durations up);
/// - `localEndpoint.serviceName` from the resource's `service.name`, and for
///   client and producer spans a `remoteEndpoint` from the highest-ranked
///   peer attribute (`peer.service`, `server.address`, ...), without which
///   Zipkin draws no dependency link;
/// - attributes as string tags: booleans, integers and floats as their text,
///   arrays as a JSON list;
/// - status as `otel.status_code` (`OK` or `ERROR`) and, for an error, the
///   `error` tag with the description (empty when there is none); a
///   `false` `error` attribute is dropped, since Zipkin marks any span that
///   has an `error` tag as failed;
/// - the scope as `otel.scope.name`/`otel.scope.version` and their required
///   deprecated aliases `otel.library.name`/`otel.library.version`;
/// - events as annotations: the event's name, or `"name":{attributes as
///   JSON}` when it has attributes (in the order they were added, then
///   `otel.dropped_attributes_count` when the event limit dropped some);
/// - non-zero dropped counts as `otel.dropped_attributes_count`,
///   `otel.dropped_events_count` and `otel.dropped_links_count`.
///
/// Links have no Zipkin field and are not sent; neither `shared` nor `debug`
/// is set. The tags the mapping itself produces win over span attributes of
/// the same key.
///
/// After [`shutdown`](SpanExporter::shutdown), `export` fails with
/// [`ExportError::Shutdown`]. `Debug` shows the endpoint without
/// credentials and the header names, never the header values.
#[derive(Debug)]
pub struct ZipkinExporter {
    transport: HttpTransport,
    resource: Resource,
    shut_down: bool,
}

impl ZipkinExporter {
    /// Where a local Zipkin server accepts spans.
    pub const DEFAULT_ENDPOINT: &'static str = "http://localhost:9411/api/v2/spans";

    /// The request timeout when none is set.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Configures an exporter.
    pub fn builder() -> ZipkinExporterBuilder {
        ZipkinExporterBuilder::default()
    }
}

impl SpanExporter for ZipkinExporter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
        if self.shut_down {
            return Err(ExportError::Shutdown);
        }
        if batch.is_empty() {
            return Ok(ExportOutcome::ACCEPTED);
        }
        let body = encode(batch, &self.resource)?;
        self.transport.post(body, "application/json")?;
        Ok(ExportOutcome::ACCEPTED)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

/// Configuration of a [`ZipkinExporter`].
///
/// Building checks the endpoint and the headers but does not connect: the
/// first request goes out with the first batch.
///
/// ```
/// use std::time::Duration;
/// use agent_trace_export::{Resource, SpanExporter, ZipkinExporter};
///
/// let exporter = ZipkinExporter::builder()
///     .endpoint("http://zipkin.internal:9411/api/v2/spans")
///     .resource(Resource::new("research-agent").with_version("1.4.0"))
///     .header("Authorization", "Bearer s3cret")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(exporter.name(), "zipkin");
/// assert!(!format!("{exporter:?}").contains("s3cret"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ZipkinExporterBuilder {
    endpoint: String,
    resource: Resource,
    headers: Headers,
    timeout: Duration,
    ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for ZipkinExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZipkinExporterBuilder")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("resource", &self.resource)
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for ZipkinExporterBuilder {
    /// [`ZipkinExporter::DEFAULT_ENDPOINT`], [`Resource::default`], no
    /// headers, [`ZipkinExporter::DEFAULT_TIMEOUT`].
    fn default() -> Self {
        Self {
            endpoint: ZipkinExporter::DEFAULT_ENDPOINT.to_owned(),
            resource: Resource::default(),
            headers: Headers::default(),
            timeout: ZipkinExporter::DEFAULT_TIMEOUT,
            ca_pem: None,
        }
    }
}

impl ZipkinExporterBuilder {
    /// The full URL spans are posted to, path included (default
    /// [`ZipkinExporter::DEFAULT_ENDPOINT`]).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The resource whose `service.name` every span reports as
    /// `localEndpoint.serviceName` (default [`Resource::default`]).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = resource;
        self
    }

    /// Adds a header sent with every request, such as an `Authorization`
    /// token. Its value never appears in `Debug` output or errors.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// How long one request may take, connection included (default
    /// [`ZipkinExporter::DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Also trusts the CA certificates in `pem` (a private CA) for an
    /// `https://` endpoint, besides the system's roots.
    #[cfg(feature = "tls")]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Builds the exporter.
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] when the endpoint is not an `http://` or
    /// `https://` URL, a header name or value is not valid in HTTP, or the
    /// timeout is zero; [`ExportError::ThreadSpawn`] when the exporter's
    /// runtime cannot start.
    pub fn build(self) -> Result<ZipkinExporter, ExportError> {
        if self.timeout.is_zero() {
            return Err(ExportError::Config(format!(
                "{NAME} timeout must be greater than zero"
            )));
        }
        let transport = HttpTransport::new(crate::TransportConfig {
            exporter: NAME,
            endpoint: &self.endpoint,
            headers: &self.headers,
            timeout: self.timeout,
            gzip: false,
            ca_pem: self.ca_pem.as_deref(),
            hint: None,
        })?;
        Ok(ZipkinExporter {
            transport,
            resource: self.resource,
            shut_down: false,
        })
    }
}

/// A batch as the JSON body of one request.
pub(crate) fn encode(batch: &[FinishedSpan], resource: &Resource) -> Result<Vec<u8>, ExportError> {
    // Most spans of an agent encode to a few hundred bytes.
    let mut body = Vec::with_capacity(batch.len() * 512);
    serde_json::to_writer(&mut body, &Batch { batch, resource }).map_err(|e| {
        ExportError::Encode {
            exporter: NAME,
            message: e.to_string(),
        }
    })?;
    Ok(body)
}

/// Serializes as a JSON array, converting each span as it is written.
struct Batch<'a> {
    batch: &'a [FinishedSpan],
    resource: &'a Resource,
}

impl Serialize for Batch<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.batch.len()))?;
        for span in self.batch {
            let span = ZipkinSpan::new(span, self.resource).map_err(S::Error::custom)?;
            seq.serialize_element(&span)?;
        }
        seq.end()
    }
}

/// A span of the Zipkin v2 API (`zipkin2-api.yaml`, definition `Span`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ZipkinSpan<'a> {
    trace_id: Text<agent_trace_core::TraceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<Text<agent_trace_core::SpanId>>,
    id: Text<agent_trace_core::SpanId>,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    timestamp: u64,
    duration: u64,
    local_endpoint: Endpoint<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<Annotation<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<&'a str, Cow<'a, str>>,
}

impl<'a> ZipkinSpan<'a> {
    fn new(span: &'a SpanData, resource: &'a Resource) -> serde_json::Result<Self> {
        let start = span.start_time.as_unix_nanos();
        let end = span.end_time.as_unix_nanos();
        Ok(Self {
            trace_id: Text(span.context.trace_id),
            parent_id: span.parent_span_id.map(Text),
            id: Text(span.context.span_id),
            name: span.name.as_str(),
            kind: match span.kind {
                SpanKind::Internal => None,
                SpanKind::Client => Some("CLIENT"),
                SpanKind::Server => Some("SERVER"),
                SpanKind::Producer => Some("PRODUCER"),
                SpanKind::Consumer => Some("CONSUMER"),
            },
            timestamp: start / 1_000,
            duration: (end.saturating_sub(start) / 1_000).max(1),
            local_endpoint: Endpoint {
                service_name: Some(resource.service_name()).filter(|s| !s.is_empty()),
                ..Endpoint::default()
            },
            remote_endpoint: remote_endpoint(span),
            annotations: span
                .events
                .iter()
                .map(Annotation::new)
                .collect::<serde_json::Result<_>>()?,
            tags: tags(span, resource)?,
        })
    }
}

/// Serializes through `Display`, without an intermediate `String`.
struct Text<T>(T);

impl<T: fmt::Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A network endpoint (`zipkin2-api.yaml`, definition `Endpoint`).
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    service_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv4: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6: Option<Ipv6Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

/// The attributes that may name the other side of a client or producer
/// span, best first, each with the attribute holding its port (the ranking
/// of the OpenTelemetry Zipkin mapping).
const REMOTE_ENDPOINT_ATTRIBUTES: [(&str, Option<&str>); 11] = [
    ("peer.service", None),
    ("server.address", None),
    ("net.peer.name", None),
    ("network.peer.address", Some("network.peer.port")),
    ("server.socket.domain", None),
    ("server.socket.address", Some("server.socket.port")),
    ("net.sock.peer.name", None),
    ("net.sock.peer.addr", Some("net.sock.peer.port")),
    ("peer.hostname", None),
    ("peer.address", None),
    ("db.name", None),
];

/// The other side of a client or producer span: an IP address (with its
/// port, when known) or else a service name.
fn remote_endpoint(span: &SpanData) -> Option<Endpoint<'_>> {
    if !matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        return None;
    }
    let (value, port_key) = REMOTE_ENDPOINT_ATTRIBUTES.iter().find_map(|(key, port)| {
        span.attribute(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(|v| (v, *port))
    })?;
    let port = port_key
        .and_then(|key| match span.attribute(key) {
            Some(Value::I64(p)) => u16::try_from(*p).ok(),
            _ => None,
        })
        .filter(|p| *p != 0);
    let endpoint = match value.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => Endpoint {
            ipv4: Some(ip),
            port,
            ..Endpoint::default()
        },
        Ok(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => Endpoint {
                ipv4: Some(v4),
                port,
                ..Endpoint::default()
            },
            None => Endpoint {
                ipv6: Some(ip),
                port,
                ..Endpoint::default()
            },
        },
        Err(_) => Endpoint {
            service_name: Some(value),
            port,
            ..Endpoint::default()
        },
    };
    Some(endpoint)
}

/// An event with a time (`zipkin2-api.yaml`, definition `Annotation`).
#[derive(Serialize)]
struct Annotation<'a> {
    timestamp: u64,
    value: Cow<'a, str>,
}

impl<'a> Annotation<'a> {
    /// The event's name, or `"name":{attributes}` when it has attributes
    /// (its dropped attribute count after them, when non-zero).
    fn new(event: &'a Event) -> serde_json::Result<Self> {
        let value = if event.attributes.is_empty() && event.dropped_attributes_count == 0 {
            Cow::Borrowed(event.name.as_str())
        } else {
            let mut text = serde_json::to_string(event.name.as_str())?;
            text.push(':');
            text.push_str(&serde_json::to_string(&EventAttributes(event))?);
            Cow::Owned(text)
        };
        Ok(Self {
            timestamp: event.timestamp.as_unix_nanos() / 1_000,
            value,
        })
    }
}

/// An event's attributes as a JSON object, in the order they were added.
struct EventAttributes<'a>(&'a Event);

impl Serialize for EventAttributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let dropped = event.dropped_attributes_count;
        let len = event.attributes.len() + usize::from(dropped > 0);
        let mut map = serializer.serialize_map(Some(len))?;
        for kv in &event.attributes {
            map.serialize_entry(kv.key.as_str(), &Typed(&kv.value))?;
        }
        if dropped > 0 {
            map.serialize_entry("otel.dropped_attributes_count", &dropped)?;
        }
        map.end()
    }
}

/// The span's tags: its attributes, then the tags of the mapping, which
/// replace attributes of the same key.
fn tags<'a>(
    span: &'a SpanData,
    resource: &'a Resource,
) -> serde_json::Result<BTreeMap<&'a str, Cow<'a, str>>> {
    let mut tags = BTreeMap::new();
    // `service.namespace` must not be part of the service name, so it
    // travels as a tag.
    if let Some(namespace) = resource
        .attributes()
        .iter()
        .find(|kv| kv.key.as_str() == "service.namespace")
    {
        tags.insert("service.namespace", tag_value(&namespace.value)?);
    }
    for kv in &span.attributes {
        tags.insert(kv.key.as_str(), tag_value(&kv.value)?);
    }
    // The span's own scope (a library's, through the OpenTelemetry
    // bridge), else agent-trace's.
    let (scope_name, scope_version) = match span.scope.as_deref() {
        Some(scope) => (
            scope.name.as_str(),
            scope.version.as_ref().map(|v| v.as_str()),
        ),
        None => (SCOPE_NAME, Some(SCOPE_VERSION)),
    };
    for key in ["otel.scope.name", "otel.library.name"] {
        tags.insert(key, Cow::Borrowed(scope_name));
    }
    if let Some(version) = scope_version {
        for key in ["otel.scope.version", "otel.library.version"] {
            tags.insert(key, Cow::Borrowed(version));
        }
    }
    let code = match &span.status {
        Status::Unset => None,
        Status::Ok => Some("OK"),
        Status::Error { description } => {
            tags.insert("error", Cow::Borrowed(description.as_str()));
            Some("ERROR")
        }
    };
    if let Some(code) = code {
        tags.insert("otel.status_code", Cow::Borrowed(code));
    }
    if !span.status.is_error() && tags.get("error").is_some_and(|v| v == "false") {
        tags.remove("error");
    }
    let counts = [
        (
            "otel.dropped_attributes_count",
            span.dropped_attributes_count,
        ),
        ("otel.dropped_events_count", span.dropped_events_count),
        ("otel.dropped_links_count", span.dropped_links_count),
    ];
    for (key, count) in counts {
        if count > 0 {
            tags.insert(key, Cow::Owned(count.to_string()));
        }
    }
    Ok(tags)
}

/// An attribute value as tag text: strings as they are, booleans as
/// `true`/`false`, numbers in their shortest exact form, arrays as JSON.
fn tag_value(value: &Value) -> serde_json::Result<Cow<'_, str>> {
    Ok(match value {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::I64(i) => Cow::Owned(i.to_string()),
        Value::F64(f) => float_text(*f),
        Value::Array(_) => Cow::Owned(serde_json::to_string(&Typed(value))?),
    })
}

/// A float as text: the JSON form when finite (`0.5`, `1.0`, `1e300`),
/// else `NaN`, `Infinity` or `-Infinity` as in Java and JavaScript.
fn float_text(f: f64) -> Cow<'static, str> {
    match serde_json::Number::from_f64(f) {
        Some(n) => Cow::Owned(n.to_string()),
        None if f.is_nan() => Cow::Borrowed("NaN"),
        None if f > 0.0 => Cow::Borrowed("Infinity"),
        None => Cow::Borrowed("-Infinity"),
    }
}

/// A value as typed JSON; non-finite floats become `null`, as in
/// JavaScript's `JSON.stringify`.
struct Typed<'a>(&'a Value);

impl Serialize for Typed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::I64(i) => serializer.serialize_i64(*i),
            Value::F64(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s.as_str()),
            Value::Array(Array::Bool(items)) => serializer.collect_seq(items.iter()),
            Value::Array(Array::I64(items)) => serializer.collect_seq(items.iter()),
            Value::Array(Array::F64(items)) => serializer.collect_seq(items.iter()),
            Value::Array(Array::String(items)) => {
                serializer.collect_seq(items.iter().map(|s| s.as_str()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use agent_trace_core::{KeyValue, SpanContext, SpanId, Timestamp, TraceFlags, TraceId};

    use super::*;

    fn span(kind: SpanKind, attributes: Vec<KeyValue>, status: Status) -> FinishedSpan {
        FinishedSpan::new(SpanData {
            name: "op".into(),
            context: SpanContext::new(
                TraceId::from_u128(0xabc).unwrap(),
                SpanId::from_u64(0xdef).unwrap(),
                TraceFlags::SAMPLED,
            ),
            parent_span_id: None,
            parent_is_remote: false,
            kind,
            start_time: Timestamp::from(UNIX_EPOCH + Duration::from_nanos(1_000_999)),
            end_time: Timestamp::from(UNIX_EPOCH + Duration::from_nanos(1_001_500)),
            attributes: attributes.into_iter().collect(),
            events: Vec::new(),
            links: Vec::new(),
            status,
            dropped_attributes_count: 0,
            dropped_events_count: 0,
            dropped_links_count: 0,
            scope: None,
        })
    }

    fn encoded(span: &FinishedSpan) -> serde_json::Value {
        let body = encode(std::slice::from_ref(span), &Resource::new("svc")).unwrap();
        let mut spans: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        spans.remove(0)
    }

    #[test]
    fn floats_and_arrays_are_written_as_json_text() {
        assert_eq!(float_text(0.7), "0.7");
        assert_eq!(float_text(1.0), "1.0");
        assert_eq!(float_text(f64::NAN), "NaN");
        assert_eq!(float_text(f64::NEG_INFINITY), "-Infinity");
        let v = Value::from(vec![1.5, f64::INFINITY]);
        assert_eq!(tag_value(&v).unwrap(), "[1.5,null]");
        let v = Value::from(vec!["a \"b\"", "c"]);
        assert_eq!(tag_value(&v).unwrap(), r#"["a \"b\"","c"]"#);
    }

    #[test]
    fn an_error_without_description_has_an_empty_error_tag() {
        let s = encoded(&span(SpanKind::Internal, vec![], Status::error("")));
        assert_eq!(s["tags"]["error"], "");
        assert_eq!(s["tags"]["otel.status_code"], "ERROR");
        // Sub-microsecond parts are cut; a 501 ns span lasts 1 µs.
        assert_eq!(s["timestamp"], 1_000);
        assert_eq!(s["duration"], 1);
        assert!(s.get("kind").is_none() && s.get("parentId").is_none());
    }

    #[test]
    fn a_false_error_attribute_is_dropped_and_the_status_wins() {
        let s = encoded(&span(
            SpanKind::Internal,
            vec![KeyValue::new("error", false)],
            Status::Ok,
        ));
        assert!(s["tags"].get("error").is_none(), "{s}");
        let s = encoded(&span(
            SpanKind::Internal,
            vec![KeyValue::new("error", "false")],
            Status::error("boom"),
        ));
        assert_eq!(s["tags"]["error"], "boom");
    }

    #[test]
    fn remote_endpoints_follow_the_ranking_and_read_ip_addresses() {
        let s = encoded(&span(
            SpanKind::Client,
            vec![
                KeyValue::new("network.peer.address", "::ffff:10.0.0.7"),
                KeyValue::new("network.peer.port", 8443),
                KeyValue::new("db.name", "memory"),
            ],
            Status::Unset,
        ));
        assert_eq!(
            s["remoteEndpoint"],
            serde_json::json!({"ipv4": "10.0.0.7", "port": 8443})
        );
        let s = encoded(&span(
            SpanKind::Producer,
            vec![
                KeyValue::new("peer.address", "2001:db8::1"),
                KeyValue::new("peer.service", "queue"),
            ],
            Status::Unset,
        ));
        assert_eq!(
            s["remoteEndpoint"],
            serde_json::json!({"serviceName": "queue"})
        );
        let s = encoded(&span(
            SpanKind::Server,
            vec![KeyValue::new("peer.service", "caller")],
            Status::Unset,
        ));
        assert!(s.get("remoteEndpoint").is_none());
    }

    #[test]
    fn mapping_tags_replace_attributes_of_the_same_key() {
        let s = encoded(&span(
            SpanKind::Internal,
            vec![KeyValue::new("otel.scope.name", "mine")],
            Status::Unset,
        ));
        assert_eq!(s["tags"]["otel.scope.name"], SCOPE_NAME);
        assert!(s["tags"].get("otel.status_code").is_none());
    }

    #[test]
    fn a_span_of_a_library_carries_that_library_s_scope() {
        let mut data = SpanData::clone(&span(SpanKind::Internal, Vec::new(), Status::Unset));
        data.scope = Some(std::sync::Arc::new(
            agent_trace_core::InstrumentationScope::new("vector-store-client")
                .with_version("0.4.1"),
        ));
        let s = encoded(&FinishedSpan::new(data.clone()));
        assert_eq!(s["tags"]["otel.scope.name"], "vector-store-client");
        assert_eq!(s["tags"]["otel.library.name"], "vector-store-client");
        assert_eq!(s["tags"]["otel.scope.version"], "0.4.1");
        // No version: no version tag, rather than agent-trace's.
        data.scope = Some(std::sync::Arc::new(
            agent_trace_core::InstrumentationScope::new("unversioned"),
        ));
        let s = encoded(&FinishedSpan::new(data));
        assert_eq!(s["tags"]["otel.scope.name"], "unversioned");
        assert!(s["tags"].get("otel.scope.version").is_none(), "{s}");
    }
}
