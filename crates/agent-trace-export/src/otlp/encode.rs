//! Our spans as the official OTLP protobuf types (`opentelemetry-proto`):
//! what gRPC sends, and what the tests check the encoders written straight
//! from the spans against (feature `otlp-proto`).

use agent_trace_core::{Array, FinishedSpan, KeyValue, SpanData, SpanKind, Status, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;

use crate::{Resource, SCOPE_NAME, SCOPE_VERSION};

use super::{CONTEXT_HAS_IS_REMOTE, CONTEXT_IS_REMOTE};

/// One export request for `batch`: one resource, one scope, as the
/// official message types (feature `otlp-proto`, which builds
/// `opentelemetry-proto` and with it `opentelemetry_sdk`).
///
/// Encoded with prost, it is the body [`ProtobufEncoder`](super::ProtobufEncoder)
/// writes; serialized with `serde_json`, the text
/// [`JsonEncoder`](super::JsonEncoder) writes. Both are much cheaper than
/// building this tree.
pub fn to_request(batch: &[FinishedSpan], res: &Resource) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![trace::ResourceSpans {
            resource: Some(resource::Resource {
                attributes: attributes(res.attributes()),
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans: super::scopes_of(batch)
                .unwrap_or_else(|| vec![None])
                .into_iter()
                .map(|scope| trace::ScopeSpans {
                    scope: Some(match scope {
                        None => common::InstrumentationScope {
                            name: SCOPE_NAME.to_owned(),
                            version: SCOPE_VERSION.to_owned(),
                            attributes: Vec::new(),
                            dropped_attributes_count: 0,
                        },
                        Some(scope) => common::InstrumentationScope {
                            name: scope.name.as_str().to_owned(),
                            version: scope
                                .version
                                .as_ref()
                                .map_or_else(String::new, |v| v.as_str().to_owned()),
                            attributes: attributes(&scope.attributes),
                            dropped_attributes_count: 0,
                        },
                    }),
                    spans: super::in_scope(batch, scope).map(|s| span(s)).collect(),
                    schema_url: scope
                        .and_then(|s| s.schema_url.as_ref())
                        .map_or_else(String::new, |u| u.as_str().to_owned()),
                })
                .collect(),
            schema_url: String::new(),
        }],
    }
}

fn span(s: &SpanData) -> trace::Span {
    let cx = &s.context;
    let flags = u32::from(cx.trace_flags.to_u8())
        | CONTEXT_HAS_IS_REMOTE
        | if s.parent_is_remote {
            CONTEXT_IS_REMOTE
        } else {
            0
        };
    trace::Span {
        trace_id: cx.trace_id.to_bytes().to_vec(),
        span_id: cx.span_id.to_bytes().to_vec(),
        trace_state: cx.trace_state.header(),
        parent_span_id: s
            .parent_span_id
            .map_or_else(Vec::new, |p| p.to_bytes().to_vec()),
        flags,
        name: s.name.as_str().to_owned(),
        kind: kind(s.kind) as i32,
        start_time_unix_nano: s.start_time.as_unix_nanos(),
        end_time_unix_nano: s.end_time.as_unix_nanos(),
        attributes: attributes(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| trace::span::Event {
                time_unix_nano: e.timestamp.as_unix_nanos(),
                name: e.name.as_str().to_owned(),
                attributes: attributes(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| trace::span::Link {
                trace_id: l.context.trace_id.to_bytes().to_vec(),
                span_id: l.context.span_id.to_bytes().to_vec(),
                trace_state: l.context.trace_state.header(),
                attributes: attributes(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: u32::from(l.context.trace_flags.to_u8())
                    | CONTEXT_HAS_IS_REMOTE
                    | if l.context.is_remote {
                        CONTEXT_IS_REMOTE
                    } else {
                        0
                    },
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: match &s.status {
            Status::Unset => None,
            Status::Ok => Some(trace::Status {
                message: String::new(),
                code: trace::status::StatusCode::Ok as i32,
            }),
            Status::Error { description } => Some(trace::Status {
                message: description.as_str().to_owned(),
                code: trace::status::StatusCode::Error as i32,
            }),
        },
    }
}

fn kind(k: SpanKind) -> trace::span::SpanKind {
    use trace::span::SpanKind as K;
    match k {
        SpanKind::Internal => K::Internal,
        SpanKind::Client => K::Client,
        SpanKind::Server => K::Server,
        SpanKind::Producer => K::Producer,
        SpanKind::Consumer => K::Consumer,
    }
}

/// Our attributes as OTLP key-values.
pub(crate) fn attributes(kvs: &[KeyValue]) -> Vec<common::KeyValue> {
    kvs.iter()
        .map(|kv| common::KeyValue {
            key: kv.key.as_str().to_owned(),
            value: Some(value(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn value(v: &Value) -> common::AnyValue {
    use common::any_value::Value as V;
    let array = |values: Vec<common::AnyValue>| V::ArrayValue(common::ArrayValue { values });
    let one = |v: V| common::AnyValue { value: Some(v) };
    common::AnyValue {
        value: Some(match v {
            Value::Bool(b) => V::BoolValue(*b),
            Value::I64(i) => V::IntValue(*i),
            Value::F64(f) => V::DoubleValue(*f),
            Value::String(s) => V::StringValue(s.as_str().to_owned()),
            Value::Array(Array::Bool(a)) => {
                array(a.iter().map(|b| one(V::BoolValue(*b))).collect())
            }
            Value::Array(Array::I64(a)) => array(a.iter().map(|i| one(V::IntValue(*i))).collect()),
            Value::Array(Array::F64(a)) => {
                array(a.iter().map(|f| one(V::DoubleValue(*f))).collect())
            }
            Value::Array(Array::String(a)) => array(
                a.iter()
                    .map(|s| one(V::StringValue(s.as_str().to_owned())))
                    .collect(),
            ),
        }),
    }
}
