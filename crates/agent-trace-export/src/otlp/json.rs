//! OTLP/JSON written straight from our spans ([`JsonEncoder`]): what the
//! OTLP/HTTP exporter sends with `http/json` and what the file exporter
//! writes, one request per line.
//!
//! The text is the one `serde_json` writes for `to_request` (feature
//! `otlp-proto`) with `opentelemetry-proto`'s `serde`
//! support (tests check that byte for byte): fields in the order of the
//! generated structs, every field written (proto3 defaults included, a
//! missing status as `null`), lower-case hex ids, 64-bit integers and
//! times as strings, enums as numbers. Strings are escaped as `serde_json`
//! escapes them; doubles go through `serde_json` itself, for the same
//! shortest form (and `null` for NaN and the infinities, as before).
//!
//! Written from the spans in one pass, without the message tree and
//! without `opentelemetry-proto`, whose dependency on `opentelemetry_sdk`
//! the default build does not pay for.

use agent_trace_core::{
    Array, FinishedSpan, InstrumentationScope, KeyValue, SpanContext, SpanData, Status, TraceState,
    Value,
};

use super::proto::{flags, kind};
use crate::{Resource, SCOPE_NAME, SCOPE_VERSION};

/// Encodes batches of spans as the OTLP JSON text of an
/// `ExportTraceServiceRequest` (one resource, one scope), straight from
/// the spans: the text `serde_json` writes for `to_request` (feature
/// `otlp-proto`, with `opentelemetry-proto`'s `with-serde` feature),
/// without the message tree.
///
/// The resource and scope are encoded once, when the encoder is made; keep
/// the encoder across batches.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor};
/// use agent_trace_export::Resource;
/// use agent_trace_export::otlp::JsonEncoder;
/// use std::sync::{Arc, Mutex};
///
/// #[derive(Debug, Default)]
/// struct Keep(Mutex<Vec<FinishedSpan>>);
/// impl SpanProcessor for Keep {
///     fn on_end(&self, span: FinishedSpan) {
///         self.0.lock().unwrap().push(span);
///     }
/// }
///
/// let keep = Arc::new(Keep::default());
/// let tracer = AgentStepTracer::builder().processor(keep.clone()).without_store().build();
/// tracer.span_builder("chat gpt-4o").attribute("gen_ai.request.model", "gpt-4o").start().end();
/// let batch = keep.0.lock().unwrap().clone();
///
/// let mut body = Vec::new();
/// JsonEncoder::new(&Resource::new("research-agent")).encode(&batch, &mut body);
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.starts_with(r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name""#));
/// assert!(text.contains(r#""name":"chat gpt-4o","kind":1,"#));
/// assert!(text.contains(r#"{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}}"#));
/// ```
#[derive(Debug, Clone)]
pub struct JsonEncoder {
    /// The request up to the first span: the resource and the scope.
    prefix: Vec<u8>,
    /// The length of the prefix's part up to the first `ScopeSpans`.
    resource_len: usize,
    /// Bytes per span of the last batch, for the next one's reservation.
    span_bytes: usize,
}

/// What follows the last span.
const SUFFIX: &[u8] = br#"],"schemaUrl":""}],"schemaUrl":""}]}"#;

/// What follows the last `ScopeSpans`.
const RESOURCE_SUFFIX: &[u8] = br#"],"schemaUrl":""}]}"#;

impl JsonEncoder {
    /// An encoder for spans of `resource`, with this crate's
    /// instrumentation scope ([`SCOPE_NAME`], [`SCOPE_VERSION`]).
    pub fn new(resource: &Resource) -> Self {
        let mut prefix = Vec::with_capacity(256);
        prefix.extend_from_slice(br#"{"resourceSpans":[{"resource":{"attributes":"#);
        put_attributes(&mut prefix, resource.attributes());
        prefix.extend_from_slice(br#","droppedAttributesCount":0,"entityRefs":[]},"scopeSpans":["#);
        let resource_len = prefix.len();
        put_scope_head(&mut prefix, SCOPE_NAME, SCOPE_VERSION, &[]);
        Self {
            prefix,
            resource_len,
            span_bytes: 512,
        }
    }

    /// Appends the request for `batch` to `out` (whatever `out` holds
    /// already stays in front of it). No line break is added. Spans with
    /// an instrumentation scope of their own (`SpanData::scope`) are
    /// grouped in a `ScopeSpans` per scope, after the spans of
    /// agent-trace's scope.
    pub fn encode(&mut self, batch: &[FinishedSpan], out: &mut Vec<u8>) {
        if let Some(scopes) = super::scopes_of(batch) {
            self.encode_scoped(batch, &scopes, out);
            return;
        }
        out.reserve(self.prefix.len() + batch.len() * self.span_bytes + SUFFIX.len());
        out.extend_from_slice(&self.prefix);
        let spans_start = out.len();
        for (i, s) in batch.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put_span(out, s);
        }
        if let Some(per_span) = (out.len() - spans_start).checked_div(batch.len()) {
            self.span_bytes = per_span.max(1);
        }
        out.extend_from_slice(SUFFIX);
    }

    /// [`encode`](Self::encode) for a batch of several scopes.
    fn encode_scoped(
        &mut self,
        batch: &[FinishedSpan],
        scopes: &[Option<&InstrumentationScope>],
        out: &mut Vec<u8>,
    ) {
        out.reserve(self.prefix.len() + batch.len() * self.span_bytes + SUFFIX.len());
        let (resource, own_scope) = self.prefix.split_at(self.resource_len);
        out.extend_from_slice(resource);
        for (g, &scope) in scopes.iter().enumerate() {
            if g > 0 {
                out.push(b',');
            }
            match scope {
                None => out.extend_from_slice(own_scope),
                Some(scope) => put_scope_head(
                    out,
                    scope.name.as_str(),
                    scope.version.as_ref().map_or("", |v| v.as_str()),
                    &scope.attributes,
                ),
            }
            for (i, s) in super::in_scope(batch, scope).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put_span(out, s);
            }
            out.extend_from_slice(br#"],"schemaUrl":"#);
            put_str(
                out,
                scope
                    .and_then(|s| s.schema_url.as_ref())
                    .map_or("", |u| u.as_str()),
            );
            out.push(b'}');
        }
        out.extend_from_slice(RESOURCE_SUFFIX);
    }
}

/// A `ScopeSpans` object up to its first span: the scope and the opening
/// of its `spans`.
fn put_scope_head(out: &mut Vec<u8>, name: &str, version: &str, attributes: &[KeyValue]) {
    out.extend_from_slice(br#"{"scope":{"name":"#);
    put_str(out, name);
    out.extend_from_slice(br#","version":"#);
    put_str(out, version);
    out.extend_from_slice(br#","attributes":"#);
    put_attributes(out, attributes);
    out.extend_from_slice(br#","droppedAttributesCount":0},"spans":["#);
}

/// Opens a span or link object with its `traceId`, `spanId` and
/// `traceState`, the fields the two share.
fn put_ids(out: &mut Vec<u8>, cx: &SpanContext) {
    out.extend_from_slice(br#"{"traceId":""#);
    put_hex(out, &cx.trace_id.to_bytes());
    out.extend_from_slice(br#"","spanId":""#);
    put_hex(out, &cx.span_id.to_bytes());
    out.extend_from_slice(br#"","traceState":"#);
    put_trace_state(out, &cx.trace_state);
}

fn put_span(out: &mut Vec<u8>, s: &SpanData) {
    let cx = &s.context;
    put_ids(out, cx);
    out.extend_from_slice(br#","parentSpanId":""#);
    if let Some(p) = s.parent_span_id {
        put_hex(out, &p.to_bytes());
    }
    out.extend_from_slice(br#"","flags":"#);
    put_u64(
        out,
        u64::from(flags(cx.trace_flags.to_u8(), s.parent_is_remote)),
    );
    out.extend_from_slice(br#","name":"#);
    put_str(out, s.name.as_str());
    out.extend_from_slice(br#","kind":"#);
    put_u64(out, u64::from(kind(s.kind)));
    out.extend_from_slice(br#","startTimeUnixNano":""#);
    put_u64(out, s.start_time.as_unix_nanos());
    out.extend_from_slice(br#"","endTimeUnixNano":""#);
    put_u64(out, s.end_time.as_unix_nanos());
    out.extend_from_slice(br#"","attributes":"#);
    put_attributes(out, &s.attributes);
    out.extend_from_slice(br#","droppedAttributesCount":"#);
    put_u64(out, u64::from(s.dropped_attributes_count));
    out.extend_from_slice(br#","events":["#);
    for (i, e) in s.events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"timeUnixNano":""#);
        put_u64(out, e.timestamp.as_unix_nanos());
        out.extend_from_slice(br#"","name":"#);
        put_str(out, e.name.as_str());
        out.extend_from_slice(br#","attributes":"#);
        put_attributes(out, &e.attributes);
        out.extend_from_slice(br#","droppedAttributesCount":"#);
        put_u64(out, u64::from(e.dropped_attributes_count));
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"droppedEventsCount":"#);
    put_u64(out, u64::from(s.dropped_events_count));
    out.extend_from_slice(br#","links":["#);
    for (i, l) in s.links.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let lc = &l.context;
        put_ids(out, lc);
        out.extend_from_slice(br#","attributes":"#);
        put_attributes(out, &l.attributes);
        out.extend_from_slice(br#","droppedAttributesCount":"#);
        put_u64(out, u64::from(l.dropped_attributes_count));
        out.extend_from_slice(br#","flags":"#);
        put_u64(out, u64::from(flags(lc.trace_flags.to_u8(), lc.is_remote)));
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"droppedLinksCount":"#);
    put_u64(out, u64::from(s.dropped_links_count));
    out.extend_from_slice(br#","status":"#);
    match &s.status {
        Status::Unset => out.extend_from_slice(b"null"),
        Status::Ok => out.extend_from_slice(br#"{"message":"","code":1}"#),
        Status::Error { description } => {
            out.extend_from_slice(br#"{"message":"#);
            put_str(out, description.as_str());
            out.extend_from_slice(br#","code":2}"#);
        }
    }
    out.push(b'}');
}

/// A JSON array of `KeyValue`s.
pub(super) fn put_attributes(out: &mut Vec<u8>, kvs: &[KeyValue]) {
    out.push(b'[');
    for (i, kv) in kvs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"key":"#);
        put_str(out, kv.key.as_str());
        out.extend_from_slice(br#","value":"#);
        put_value(out, &kv.value);
        out.push(b'}');
    }
    out.push(b']');
}

/// An `AnyValue`: one member named after the value's type.
fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => put_bool(out, *b),
        Value::I64(i) => put_i64(out, *i),
        Value::F64(f) => put_f64(out, *f),
        Value::String(s) => put_string_value(out, s.as_str()),
        Value::Array(a) => {
            out.extend_from_slice(br#"{"arrayValue":{"values":["#);
            match a {
                Array::Bool(a) => put_elements(out, a, |out, b| put_bool(out, *b)),
                Array::I64(a) => put_elements(out, a, |out, i| put_i64(out, *i)),
                Array::F64(a) => put_elements(out, a, |out, f| put_f64(out, *f)),
                Array::String(a) => {
                    put_elements(out, a, |out, s| put_string_value(out, s.as_str()))
                }
            }
            out.extend_from_slice(b"]}}");
        }
    }
}

fn put_elements<T>(out: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&mut Vec<u8>, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put(out, item);
    }
}

fn put_bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b {
        br#"{"boolValue":true}"#
    } else {
        br#"{"boolValue":false}"#
    });
}

/// `int64` as a decimal string, as proto3 JSON has it.
fn put_i64(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(br#"{"intValue":""#);
    if i < 0 {
        out.push(b'-');
    }
    put_u64(out, i.unsigned_abs());
    out.extend_from_slice(br#""}"#);
}

fn put_f64(out: &mut Vec<u8>, f: f64) {
    out.extend_from_slice(br#"{"doubleValue":"#);
    // serde_json's shortest round-trip form (`null` when not finite);
    // writing to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, &f);
    out.push(b'}');
}

fn put_string_value(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(br#"{"stringValue":"#);
    put_str(out, s);
    out.push(b'}');
}

/// The `tracestate` header (`k=v` members joined by commas) as a JSON
/// string.
fn put_trace_state(out: &mut Vec<u8>, ts: &TraceState) {
    out.push(b'"');
    for (i, (k, v)) in ts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put_str_body(out, k);
        out.push(b'=');
        put_str_body(out, v);
    }
    out.push(b'"');
}

pub(super) fn put_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
    }
}

pub(super) fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// `s` as a JSON string, quotes included.
pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    put_str_body(out, s);
    out.push(b'"');
}

/// `s` escaped as `serde_json` escapes it: `"` and `\`, the control
/// characters (`\b`, `\t`, `\n`, `\f`, `\r`, else `\u00XX`); nothing else
/// (not DEL, not non-ASCII text).
fn put_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::to_request;

    use super::super::fixtures::spans;

    fn ours(encoder: &mut JsonEncoder, batch: &[FinishedSpan]) -> String {
        let mut out = Vec::new();
        encoder.encode(batch, &mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    fn serde(batch: &[FinishedSpan], resource: &Resource) -> String {
        serde_json::to_string(&to_request(batch, resource)).expect("serializes")
    }

    #[test]
    fn text_is_what_serde_json_writes_for_to_request() {
        let spans = spans();
        assert_eq!(spans.len(), 7);
        let resource = Resource::new("research-agent")
            .with_version("1.0.0")
            .with_attribute(KeyValue::new("deployment.environment", "tést \"q\""));
        let mut encoder = JsonEncoder::new(&resource);
        for batch in [&spans[..], &spans[..1], &spans[3..5], &[]] {
            assert_eq!(
                ours(&mut encoder, batch),
                serde(batch, &resource),
                "{} spans",
                batch.len()
            );
        }
        // One span at a time, so a mismatch names the span.
        for s in &spans {
            let one = std::slice::from_ref(s);
            assert_eq!(
                ours(&mut encoder, one),
                serde(one, &resource),
                "{:?}",
                s.name
            );
        }
    }

    #[test]
    fn the_official_types_read_it_back() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        let spans = spans();
        let resource = Resource::new("svc");
        let text = ours(&mut JsonEncoder::new(&resource), &spans);
        let back: ExportTraceServiceRequest = serde_json::from_str(&text).expect("parses");
        let mut expected = to_request(&spans, &resource);
        // NaN is written as null, which reads back as no value.
        let (parsed, want) = (
            &back.resource_spans[0].scope_spans[0].spans,
            &mut expected.resource_spans[0].scope_spans[0].spans,
        );
        assert_eq!(parsed.len(), want.len());
        for (p, w) in parsed.iter().zip(want.iter_mut()) {
            assert_eq!(p.name, w.name);
            assert_eq!(p.trace_id, w.trace_id);
            assert_eq!(p.parent_span_id, w.parent_span_id);
            assert_eq!(p.events, w.events);
            assert_eq!(p.links, w.links);
            assert_eq!(p.status, w.status);
            assert_eq!(p.attributes.len(), w.attributes.len());
        }
    }

    #[test]
    fn appends_to_what_the_buffer_holds() {
        let spans = spans();
        let resource = Resource::new("svc");
        let mut encoder = JsonEncoder::new(&resource);
        let mut out = b"prefix".to_vec();
        encoder.encode(&spans[..2], &mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(out[6..], *serde(&spans[..2], &resource).as_bytes());
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all: String = (0u32..0x110)
            .filter_map(char::from_u32)
            .chain(['\u{2028}', '\u{fffd}', '🦀'])
            .collect();
        let mut out = Vec::new();
        put_str(&mut out, &all);
        assert_eq!(out, serde_json::to_vec(&all).expect("serializes"));
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for v in [0, 1, 9, 10, 99, 100, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
        for v in [0, -1, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            assert_eq!(out, format!(r#"{{"intValue":"{v}"}}"#).into_bytes());
        }
    }
}
