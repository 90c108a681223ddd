//! Conversions between the `opentelemetry` API's types and ours: span
//! contexts (ids, flags, trace state, remoteness), attribute values (every
//! type, arrays included), statuses and kinds.

use agent_trace_core::{Array, Key, KeyValue, SpanContext, SpanKind, Status, StringValue, Value};
use agent_trace_propagation::{SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry::trace as otel;

/// Our span context as the API's: the same ids, flags, trace state and
/// remoteness.
pub fn to_otel_context(cx: &SpanContext) -> otel::SpanContext {
    let state = if cx.trace_state.is_empty() {
        otel::TraceState::NONE
    } else {
        otel::TraceState::from_key_value(cx.trace_state.iter()).unwrap_or(otel::TraceState::NONE)
    };
    otel::SpanContext::new(
        otel::TraceId::from_bytes(cx.trace_id.to_bytes()),
        otel::SpanId::from_bytes(cx.span_id.to_bytes()),
        otel::TraceFlags::new(cx.trace_flags.to_u8()),
        cx.is_remote,
        state,
    )
}

/// The API's span context as ours; `None` when it is invalid (a zero trace
/// or span id, as a context without a span carries).
pub fn from_otel_context(cx: &otel::SpanContext) -> Option<SpanContext> {
    let trace_id = TraceId::from_bytes(cx.trace_id().to_bytes())?;
    let span_id = SpanId::from_bytes(cx.span_id().to_bytes())?;
    let header = cx.trace_state().header();
    let state = if header.is_empty() {
        TraceState::NONE
    } else {
        // The API's trace state was valid when built; a member ours refuses
        // (stricter rules) drops the state, never the context, as a bad
        // `tracestate` header does.
        TraceState::from_key_value(header.split(',').filter_map(|m| m.split_once('=')))
            .unwrap_or(TraceState::NONE)
    };
    let mut ours = SpanContext::new(trace_id, span_id, TraceFlags::new(cx.trace_flags().to_u8()))
        .with_trace_state(state);
    ours.is_remote = cx.is_remote();
    Some(ours)
}

/// A span or event name of the API as ours: a borrowed one is static (the
/// API's names are `Cow<'static, str>`), so it is kept without a copy.
pub fn name(name: std::borrow::Cow<'static, str>) -> StringValue {
    match name {
        std::borrow::Cow::Borrowed(s) => StringValue::from_static(s),
        std::borrow::Cow::Owned(s) => StringValue::from(s),
    }
}

/// An attribute value of the API as ours. Every type maps to the same type;
/// a variant added to the API later (its enum is `#[non_exhaustive]`) is
/// kept as its text.
#[inline]
pub fn value(value: opentelemetry::Value) -> Value {
    use opentelemetry::{Array as OArray, Value as OValue};
    match value {
        OValue::Bool(b) => Value::Bool(b),
        OValue::I64(i) => Value::I64(i),
        OValue::F64(f) => Value::F64(f),
        OValue::String(s) => Value::String(StringValue::from(s.as_str())),
        OValue::Array(OArray::Bool(items)) => Value::Array(Array::Bool(items.into())),
        OValue::Array(OArray::I64(items)) => Value::Array(Array::I64(items.into())),
        OValue::Array(OArray::F64(items)) => Value::Array(Array::F64(items.into())),
        OValue::Array(OArray::String(items)) => Value::Array(Array::String(
            items
                .iter()
                .map(|s| StringValue::from(s.as_str()))
                .collect(),
        )),
        other => Value::String(StringValue::from(other.to_string())),
    }
}

/// An attribute of the API as ours.
#[inline]
pub fn key_value(kv: opentelemetry::KeyValue) -> KeyValue {
    KeyValue {
        key: Key::from(kv.key.as_str()),
        value: value(kv.value),
    }
}

/// The API's span kind as ours (the same five kinds).
pub fn kind(kind: &otel::SpanKind) -> SpanKind {
    match kind {
        otel::SpanKind::Client => SpanKind::Client,
        otel::SpanKind::Server => SpanKind::Server,
        otel::SpanKind::Producer => SpanKind::Producer,
        otel::SpanKind::Consumer => SpanKind::Consumer,
        otel::SpanKind::Internal => SpanKind::Internal,
    }
}

/// The API's status as ours, the error's description kept.
pub fn status(status: otel::Status) -> Status {
    match status {
        otel::Status::Unset => Status::Unset,
        otel::Status::Ok => Status::Ok,
        otel::Status::Error { description } => Status::error(description.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_contexts_round_trip_with_state_and_remoteness() {
        let ours = SpanContext::new(
            TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).unwrap(),
            SpanId::from_u64(0xb7ad6b7169203331).unwrap(),
            TraceFlags::SAMPLED,
        )
        .with_trace_state(TraceState::from_key_value([("vendor", "x1"), ("b", "2")]).unwrap())
        .into_remote();
        let theirs = to_otel_context(&ours);
        assert_eq!(
            theirs.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert!(theirs.is_sampled() && theirs.is_remote());
        assert_eq!(theirs.trace_state().header(), "vendor=x1,b=2");
        assert_eq!(from_otel_context(&theirs), Some(ours));
        assert_eq!(from_otel_context(&otel::SpanContext::NONE), None);
    }
}
