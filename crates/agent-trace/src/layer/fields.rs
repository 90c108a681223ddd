//! Fields read into attributes, with the `otel.*` conventions.

use super::table::{FieldList, Recorded};
use std::fmt;

use agent_trace_core::{KeyValue, SpanKind, StringValue, Value};
use tracing::field::{Field, Visit};

/// Reads fields into attributes, with the `otel.*` conventions.
pub(super) struct Fields<'a> {
    pub(super) attributes: &'a mut FieldList,
    pub(super) name: Option<String>,
    pub(super) kind: Option<SpanKind>,
    pub(super) status_code: Option<bool>,
    pub(super) status_message: Option<String>,
    pub(super) message: Option<String>,
    /// Whether `message` is an event name (events) rather than an
    /// attribute (spans keep a `message` field as an attribute).
    pub(super) take_message: bool,
}

impl<'a> Fields<'a> {
    pub(super) fn new(attributes: &'a mut FieldList, take_message: bool) -> Self {
        Self {
            attributes,
            name: None,
            kind: None,
            status_code: None,
            status_message: None,
            message: None,
            take_message,
        }
    }

    /// The `otel.status_*` fields read, if any, taken out.
    #[inline]
    pub(super) fn recorded(&mut self) -> Option<Box<Recorded>> {
        if self.status_code.is_none() && self.status_message.is_none() {
            return None;
        }
        Some(Box::new(Recorded {
            code: self.status_code,
            message: self.status_message.take(),
        }))
    }

    /// Appends an entry for `field` holding `placeholder`'s value, and
    /// returns that value to be set in place.
    ///
    /// Why not `push(KeyValue { .. })`: the entry was built in a stack
    /// temporary with narrow stores and copied into the list with 16-byte
    /// loads, which a store cannot be forwarded to: the processor stalls
    /// until the stores retire (perf: about a third of the time of reading
    /// a text field). A constant is copied without that, and the key and
    /// value are then written into the entry itself. (The unsafe write
    /// through a raw pointer that did this before is gone.)
    #[inline(always)]
    fn push_in_place(&mut self, field: &Field, placeholder: KeyValue) -> &mut Value {
        self.attributes.push(placeholder);
        let len = self.attributes.len();
        let entry = &mut self.attributes[len - 1];
        entry.key = StringValue::from_static(field.name());
        &mut entry.value
    }

    /// Appends an integer field.
    #[inline(always)]
    fn push_i64(&mut self, field: &Field, v: i64) {
        const PLACEHOLDER: KeyValue = KeyValue {
            key: StringValue::from_static(""),
            value: Value::I64(0),
        };
        if let Value::I64(slot) = self.push_in_place(field, PLACEHOLDER) {
            *slot = v;
        }
    }

    /// Appends a text field, copied (inline when short: at most one
    /// allocation, for a long text).
    #[inline(always)]
    fn push_text(&mut self, field: &Field, s: &str) {
        const PLACEHOLDER: KeyValue = KeyValue {
            key: StringValue::from_static(""),
            value: Value::String(StringValue::empty_inline()),
        };
        if let Value::String(text) = self.push_in_place(field, PLACEHOLDER) {
            text.set_copy_of(s);
        }
    }

    /// Appends `value` for `field` (the rarer types).
    #[inline(always)]
    fn push(&mut self, field: &Field, value: Value) {
        self.attributes.push(KeyValue {
            key: StringValue::from_static(field.name()),
            value,
        });
    }

    pub(super) fn text(&mut self, field: &Field, s: &str) {
        let name = field.name();
        if let Some(convention) = name.strip_prefix("otel.") {
            match convention {
                "name" => return self.name = Some(s.to_owned()),
                "kind" => return self.kind = s.parse().ok(),
                "status_code" => {
                    self.status_code = if s.eq_ignore_ascii_case("ok") {
                        Some(true)
                    } else if s.eq_ignore_ascii_case("error") {
                        Some(false)
                    } else {
                        None
                    };
                    return;
                }
                "status_message" => return self.status_message = Some(s.to_owned()),
                _ => {}
            }
        } else if self.take_message && name == "message" {
            self.message = Some(s.to_owned());
            return;
        }
        self.push_text(field, s);
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push_i64(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.push_i64(field, v),
            Err(_) => self.push(field, Value::F64(value as f64)),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, &format!("{value:?}"));
    }
}
