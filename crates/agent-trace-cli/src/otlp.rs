//! The OTLP JSON encoding of traces, read tolerantly, borrowing from the
//! line it was read from.
//!
//! # Why a model of our own
//!
//! `opentelemetry-proto`'s generated types would read our own files, but
//! they own every string and take every field, and a file of a million
//! spans is mostly strings: `list` and `stats` would allocate each one to
//! throw it away. These types borrow names, keys and string values from
//! the line (a `Cow` that owns only when the JSON string had escapes), so
//! reading a span allocates little more than its attribute vector, and
//! [`OtlpSpan::into_owned`] copies the few spans a command keeps.
//!
//! # What is accepted
//!
//! The OTLP JSON encoding as the specification gives it (the format of
//! our `FileExporter` and the Collector's file exporter): lowerCamelCase
//! field names, ids as hex, 64-bit integers as decimal strings, enums as
//! numbers. Also what other encoders produce and the protobuf JSON mapping
//! allows: the proto field names in snake_case, ids in upper-case hex or
//! base64 (the plain protobuf JSON mapping of `bytes`), integers as JSON
//! numbers, enums by name (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`), `null`
//! for an absent field, and the pre-1.0 `instrumentationLibrarySpans`.
//! Unknown fields are ignored.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use agent_trace_propagation::{SpanId, TraceId};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// One `ExportTraceServiceRequest`: one line of a trace file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExportRequest<'a> {
    #[serde(
        borrow,
        default,
        alias = "resource_spans",
        deserialize_with = "nullable"
    )]
    pub(crate) resource_spans: Vec<ResourceSpans<'a>>,
}

/// The spans of one resource (one service).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceSpans<'a> {
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub(crate) resource: Resource<'a>,
    #[serde(
        borrow,
        default,
        alias = "scope_spans",
        alias = "instrumentationLibrarySpans",
        alias = "instrumentation_library_spans",
        deserialize_with = "nullable"
    )]
    pub(crate) scope_spans: Vec<ScopeSpans<'a>>,
}

/// The attributes that describe where spans come from.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Resource<'a> {
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub(crate) attributes: Vec<OtlpKeyValue<'a>>,
}

/// The spans of one instrumentation scope.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScopeSpans<'a> {
    #[serde(
        borrow,
        default,
        alias = "instrumentationLibrary",
        alias = "instrumentation_library",
        deserialize_with = "nullable"
    )]
    pub(crate) scope: Scope<'a>,
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub(crate) spans: Vec<OtlpSpan<'a>>,
}

/// The instrumentation scope: the library that made the spans.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Scope<'a> {
    #[serde(borrow, default, deserialize_with = "string")]
    pub(crate) name: Cow<'a, str>,
}

/// One span, as the file has it.
///
/// Strings borrow from the line read when they can; [`OtlpSpan::into_owned`]
/// detaches a span from it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpSpan<'a> {
    /// The trace the span belongs to.
    #[serde(alias = "trace_id", deserialize_with = "trace_id")]
    pub trace_id: TraceId,
    /// The span's own id.
    #[serde(alias = "span_id", deserialize_with = "span_id")]
    pub span_id: SpanId,
    /// The parent's id; `None` for a root span (an empty or all-zero id in
    /// the file).
    #[serde(default, alias = "parent_span_id", deserialize_with = "parent_id")]
    pub parent_span_id: Option<SpanId>,
    /// The span's name: the operation.
    #[serde(borrow, default, deserialize_with = "string")]
    pub name: Cow<'a, str>,
    /// Client, server, internal, ...
    #[serde(default, deserialize_with = "nullable")]
    pub kind: OtlpSpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    #[serde(default, alias = "start_time_unix_nano", deserialize_with = "unsigned")]
    pub start_time_unix_nano: u64,
    /// End, in nanoseconds since the Unix epoch.
    #[serde(default, alias = "end_time_unix_nano", deserialize_with = "unsigned")]
    pub end_time_unix_nano: u64,
    /// The span's attributes, in file order.
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub attributes: Vec<OtlpKeyValue<'a>>,
    /// Attributes the producer dropped (a span limit).
    #[serde(
        default,
        alias = "dropped_attributes_count",
        deserialize_with = "unsigned_u32"
    )]
    pub dropped_attributes_count: u32,
    /// The span's events, in file order.
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub events: Vec<OtlpEvent<'a>>,
    /// Events the producer dropped.
    #[serde(
        default,
        alias = "dropped_events_count",
        deserialize_with = "unsigned_u32"
    )]
    pub dropped_events_count: u32,
    /// Links to spans of this or other traces.
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub links: Vec<OtlpLink<'a>>,
    /// Links the producer dropped.
    #[serde(
        default,
        alias = "dropped_links_count",
        deserialize_with = "unsigned_u32"
    )]
    pub dropped_links_count: u32,
    /// The span's status.
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub status: OtlpStatus<'a>,
}

impl OtlpSpan<'_> {
    /// The span's duration in nanoseconds (zero if the end precedes the
    /// start, which a well-behaved producer never writes).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    /// Whether the span ended with an error status.
    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }

    /// The value of the first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&AnyValue<'_>> {
        find(&self.attributes, key)
    }

    /// The span, owning all its strings.
    pub fn into_owned(self) -> OtlpSpan<'static> {
        OtlpSpan {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            name: owned(self.name),
            kind: self.kind,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            attributes: owned_attributes(self.attributes),
            dropped_attributes_count: self.dropped_attributes_count,
            events: self.events.into_iter().map(OtlpEvent::into_owned).collect(),
            dropped_events_count: self.dropped_events_count,
            links: self.links.into_iter().map(OtlpLink::into_owned).collect(),
            dropped_links_count: self.dropped_links_count,
            status: OtlpStatus {
                message: owned(self.status.message),
                code: self.status.code,
            },
        }
    }
}

/// The first value of `key` in `attributes`.
pub(crate) fn find<'v, 'a>(
    attributes: &'v [OtlpKeyValue<'a>],
    key: &str,
) -> Option<&'v AnyValue<'a>> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

fn owned(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

pub(crate) fn owned_attributes(kvs: Vec<OtlpKeyValue<'_>>) -> Vec<OtlpKeyValue<'static>> {
    kvs.into_iter().map(OtlpKeyValue::into_owned).collect()
}

/// What a span represents, as OTLP numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpSpanKind {
    /// `SPAN_KIND_UNSPECIFIED` (0), or a number this reader does not know.
    #[default]
    Unspecified,
    /// `SPAN_KIND_INTERNAL` (1).
    Internal,
    /// `SPAN_KIND_SERVER` (2).
    Server,
    /// `SPAN_KIND_CLIENT` (3).
    Client,
    /// `SPAN_KIND_PRODUCER` (4).
    Producer,
    /// `SPAN_KIND_CONSUMER` (5).
    Consumer,
}

impl OtlpSpanKind {
    fn from_number(n: i64) -> Self {
        match n {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    fn from_name(name: &str) -> Self {
        let name = name.strip_prefix("SPAN_KIND_").unwrap_or(name);
        match name.to_ascii_uppercase().as_str() {
            "INTERNAL" => Self::Internal,
            "SERVER" => Self::Server,
            "CLIENT" => Self::Client,
            "PRODUCER" => Self::Producer,
            "CONSUMER" => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    /// The lower-case name (`server`), empty for unspecified.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

impl<'de> Deserialize<'de> for OtlpSpanKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnumVisitor {
            what: "a span kind",
            from_number: Self::from_number,
            from_name: Self::from_name,
        })
    }
}

/// A span's status code, as OTLP numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusCode {
    /// `STATUS_CODE_UNSET` (0), or a number this reader does not know.
    #[default]
    Unset,
    /// `STATUS_CODE_OK` (1).
    Ok,
    /// `STATUS_CODE_ERROR` (2).
    Error,
}

impl StatusCode {
    fn from_number(n: i64) -> Self {
        match n {
            1 => Self::Ok,
            2 => Self::Error,
            _ => Self::Unset,
        }
    }

    fn from_name(name: &str) -> Self {
        let name = name.strip_prefix("STATUS_CODE_").unwrap_or(name);
        match name.to_ascii_uppercase().as_str() {
            "OK" => Self::Ok,
            "ERROR" => Self::Error,
            _ => Self::Unset,
        }
    }

    /// `ok`, `error`, or empty for unset.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "",
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnumVisitor {
            what: "a status code",
            from_number: Self::from_number,
            from_name: Self::from_name,
        })
    }
}

/// An enum given as its number or its name.
struct EnumVisitor<T> {
    what: &'static str,
    from_number: fn(i64) -> T,
    from_name: fn(&str) -> T,
}

impl<T> Visitor<'_> for EnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as a number or a name", self.what)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok((self.from_number)(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok((self.from_number)(i64::try_from(v).unwrap_or(-1)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        match v.parse::<i64>() {
            Ok(n) => Ok((self.from_number)(n)),
            Err(_) => Ok((self.from_name)(v)),
        }
    }
}

/// A span's status: a code and, for errors, a message.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpStatus<'a> {
    /// The description the producer gave (usually only for errors).
    #[serde(borrow, default, deserialize_with = "string")]
    pub message: Cow<'a, str>,
    /// Unset, ok or error.
    #[serde(default, deserialize_with = "nullable")]
    pub code: StatusCode,
}

/// Something that happened during a span, at a point in time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpEvent<'a> {
    /// When, in nanoseconds since the Unix epoch.
    #[serde(default, alias = "time_unix_nano", deserialize_with = "unsigned")]
    pub time_unix_nano: u64,
    /// The event's name (`exception` for a recorded error).
    #[serde(borrow, default, deserialize_with = "string")]
    pub name: Cow<'a, str>,
    /// The event's attributes.
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub attributes: Vec<OtlpKeyValue<'a>>,
}

impl OtlpEvent<'_> {
    /// The event, owning all its strings.
    pub fn into_owned(self) -> OtlpEvent<'static> {
        OtlpEvent {
            time_unix_nano: self.time_unix_nano,
            name: owned(self.name),
            attributes: owned_attributes(self.attributes),
        }
    }

    /// Whether this is an exception (a recorded error), by the
    /// OpenTelemetry convention.
    pub fn is_exception(&self) -> bool {
        self.name == "exception"
    }

    /// The value of the first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&AnyValue<'_>> {
        find(&self.attributes, key)
    }
}

/// A link from a span to another span.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpLink<'a> {
    /// The linked span's trace.
    #[serde(alias = "trace_id", deserialize_with = "trace_id")]
    pub trace_id: TraceId,
    /// The linked span.
    #[serde(alias = "span_id", deserialize_with = "span_id")]
    pub span_id: SpanId,
    /// The link's attributes.
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub attributes: Vec<OtlpKeyValue<'a>>,
}

impl OtlpLink<'_> {
    /// The link, owning all its strings.
    pub fn into_owned(self) -> OtlpLink<'static> {
        OtlpLink {
            trace_id: self.trace_id,
            span_id: self.span_id,
            attributes: owned_attributes(self.attributes),
        }
    }
}

/// One attribute: a key and a typed value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OtlpKeyValue<'a> {
    /// The attribute's name.
    #[serde(borrow, default, deserialize_with = "string")]
    pub key: Cow<'a, str>,
    /// Its value ([`AnyValue::Empty`] when the file has none).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub value: AnyValue<'a>,
}

impl OtlpKeyValue<'_> {
    /// The attribute, owning all its strings.
    pub fn into_owned(self) -> OtlpKeyValue<'static> {
        OtlpKeyValue {
            key: owned(self.key),
            value: self.value.into_owned(),
        }
    }
}

/// An attribute value: OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AnyValue<'a> {
    /// No value.
    #[default]
    Empty,
    /// A string.
    String(Cow<'a, str>),
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// A homogeneous or mixed array.
    Array(Vec<AnyValue<'a>>),
    /// A list of key-value pairs.
    KvList(Vec<OtlpKeyValue<'a>>),
    /// Bytes, as the file encodes them (base64).
    Bytes(Cow<'a, str>),
}

impl AnyValue<'_> {
    /// The value, owning all its strings.
    pub fn into_owned(self) -> AnyValue<'static> {
        match self {
            Self::Empty => AnyValue::Empty,
            Self::String(s) => AnyValue::String(owned(s)),
            Self::Bool(b) => AnyValue::Bool(b),
            Self::Int(i) => AnyValue::Int(i),
            Self::Double(d) => AnyValue::Double(d),
            Self::Array(a) => AnyValue::Array(a.into_iter().map(AnyValue::into_owned).collect()),
            Self::KvList(kvs) => AnyValue::KvList(owned_attributes(kvs)),
            Self::Bytes(b) => AnyValue::Bytes(owned(b)),
        }
    }

    /// The value as an integer: an int, an integral double, or a string of
    /// digits (some producers write numbers as strings).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            #[expect(
                clippy::cast_possible_truncation,
                reason = "checked integral and in range first"
            )]
            Self::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a double: a double, an int, or a numeric string.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Double(d) => Some(*d),
            Self::Int(i) => Some(*i as f64),
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The OTLP type name: `string`, `int`, `double`, `bool`, `array`,
    /// `kvlist`, `bytes` or `empty`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::String(_) => "string",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Double(_) => "double",
            Self::Array(_) => "array",
            Self::KvList(_) => "kvlist",
            Self::Bytes(_) => "bytes",
        }
    }
}

impl fmt::Display for AnyValue<'_> {
    /// Strings as they are (no quotes), numbers and booleans as Rust
    /// prints them, arrays as `[a, b]`, key-value lists as `{k=v, ..}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => Ok(()),
            Self::String(s) | Self::Bytes(s) => f.write_str(s),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Double(d) => write!(f, "{d}"),
            Self::Array(values) => {
                f.write_str("[")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Self::KvList(kvs) => {
                f.write_str("{")?;
                for (i, kv) in kvs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}={}", kv.key, kv.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for AnyValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AnyValueVisitor(PhantomData))
    }
}

struct AnyValueVisitor<'a>(PhantomData<&'a ()>);

/// `{"values": [..]}`, the body of `arrayValue` and `kvlistValue`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Values<T> {
    #[serde(default = "Vec::new", deserialize_with = "nullable")]
    values: Vec<T>,
}

impl<'de: 'a, 'a> Visitor<'de> for AnyValueVisitor<'a> {
    type Value = AnyValue<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AnyValue object such as {\"stringValue\": \"..\"}")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut value = AnyValue::Empty;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            value = match key.0.as_ref() {
                "stringValue" | "string_value" => AnyValue::String(map.next_value::<Str<'de>>()?.0),
                "boolValue" | "bool_value" => AnyValue::Bool(map.next_value()?),
                "intValue" | "int_value" => AnyValue::Int(map.next_value::<Signed>()?.0),
                "doubleValue" | "double_value" => AnyValue::Double(map.next_value::<Double>()?.0),
                "arrayValue" | "array_value" => {
                    AnyValue::Array(map.next_value::<Values<AnyValue<'a>>>()?.values)
                }
                "kvlistValue" | "kvlist_value" => {
                    AnyValue::KvList(map.next_value::<Values<OtlpKeyValue<'a>>>()?.values)
                }
                "bytesValue" | "bytes_value" => AnyValue::Bytes(map.next_value::<Str<'de>>()?.0),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
        }
        Ok(value)
    }
}

/// A string that borrows from the input when it can.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string field, borrowed from the input when it has no escapes; `null`
/// is the empty string.
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    Ok(Option::<Str<'de>>::deserialize(d)?
        .map(|s| s.0)
        .unwrap_or_default())
}

/// A field whose `null` means its default, as in the protobuf JSON mapping.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An `i64` written as a JSON number or as a decimal string.
struct Signed(i64);

impl<'de> Deserialize<'de> for Signed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Signed;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 64-bit integer, as a number or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Signed, E> {
                Ok(Signed(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Signed, E> {
                i64::try_from(v)
                    .map(Signed)
                    .map_err(|_| E::custom(format_args!("integer {v} out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Signed, E> {
                if v.fract() == 0.0 && v.abs() <= 9.0e18 {
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "checked integral and in range first"
                    )]
                    Ok(Signed(v as i64))
                } else {
                    Err(E::custom(format_args!("expected an integer, found {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Signed, E> {
                v.trim()
                    .parse()
                    .map(Signed)
                    .map_err(|_| E::custom(format_args!("expected an integer, found {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A `u64` written as a JSON number or as a decimal string (nanosecond
/// timestamps do not fit a double exactly, hence the strings).
struct Unsigned(u64);

impl<'de> Deserialize<'de> for Unsigned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Unsigned;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an unsigned 64-bit integer, as a number or a decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Unsigned, E> {
                Ok(Unsigned(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Unsigned, E> {
                u64::try_from(v).map(Unsigned).map_err(|_| {
                    E::custom(format_args!("expected a non-negative integer, found {v}"))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Unsigned, E> {
                if v.fract() == 0.0 && (0.0..=1.8e19).contains(&v) {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "checked integral, non-negative and in range first"
                    )]
                    Ok(Unsigned(v as u64))
                } else {
                    Err(E::custom(format_args!(
                        "expected a non-negative integer, found {v}"
                    )))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Unsigned, E> {
                v.trim().parse().map(Unsigned).map_err(|_| {
                    E::custom(format_args!("expected a non-negative integer, found {v:?}"))
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Unsigned, E> {
                Ok(Unsigned(0))
            }
        }
        d.deserialize_any(V)
    }
}

fn unsigned<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Unsigned::deserialize(d)?.0)
}

fn unsigned_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = Unsigned::deserialize(d)?.0;
    u32::try_from(v).map_err(|_| de::Error::custom(format_args!("count {v} out of range")))
}

/// A double written as a JSON number, or as a string (`"NaN"`,
/// `"Infinity"`, `"-Infinity"` in the protobuf JSON mapping, or digits).
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a double, as a number or a string")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Double, E> {
                Ok(Double(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Double, E> {
                match v.trim() {
                    "NaN" => Ok(Double(f64::NAN)),
                    "Infinity" => Ok(Double(f64::INFINITY)),
                    "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                    t => t
                        .parse()
                        .map(Double)
                        .map_err(|_| E::custom(format_args!("expected a double, found {v:?}"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The bytes of an id: `N` bytes as `2N` hex digits (either case), or as
/// base64 (what a protobuf JSON encoder that ignores OTLP's rule writes).
fn id_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    let mut out = [0u8; N];
    if text.len() == 2 * N {
        for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
            let hi = hex_digit(pair[0])?;
            let lo = hex_digit(pair[1])?;
            out[i] = hi << 4 | lo;
        }
        return Some(out);
    }
    let decoded = base64(text)?;
    (decoded.len() == N).then(|| {
        out.copy_from_slice(&decoded);
        out
    })
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Standard or URL-safe base64, padded or not.
fn base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The text of an id field, for error messages too.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Str<'de>>, D::Error> {
    Option::<Str<'de>>::deserialize(d)
}

fn trace_id<'de, D: Deserializer<'de>>(d: D) -> Result<TraceId, D::Error> {
    let text = id_text(d)?.map(|s| s.0).unwrap_or_default();
    id_bytes::<16>(&text)
        .and_then(TraceId::from_bytes)
        .ok_or_else(|| {
            de::Error::custom(format_args!(
                "invalid trace id {text:?}: expected 32 hex digits, not all zero"
            ))
        })
}

fn span_id<'de, D: Deserializer<'de>>(d: D) -> Result<SpanId, D::Error> {
    let text = id_text(d)?.map(|s| s.0).unwrap_or_default();
    id_bytes::<8>(&text)
        .and_then(SpanId::from_bytes)
        .ok_or_else(|| {
            de::Error::custom(format_args!(
                "invalid span id {text:?}: expected 16 hex digits, not all zero"
            ))
        })
}

fn parent_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SpanId>, D::Error> {
    let text = id_text(d)?.map(|s| s.0).unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(None);
    }
    match id_bytes::<8>(&text) {
        // An all-zero parent is how some encoders say "no parent".
        Some(bytes) => Ok(SpanId::from_bytes(bytes)),
        None => Err(de::Error::custom(format_args!(
            "invalid parent span id {text:?}: expected 16 hex digits or an empty string"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_hex_in_either_case_or_base64() {
        assert_eq!(
            id_bytes::<8>("00f067aa0ba902b7"),
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(
            id_bytes::<8>("00F067AA0BA902B7"),
            id_bytes::<8>("00f067aa0ba902b7")
        );
        // base64 of the same eight bytes.
        assert_eq!(
            id_bytes::<8>("APBnqgupArc="),
            id_bytes::<8>("00f067aa0ba902b7")
        );
        assert_eq!(
            id_bytes::<8>("APBnqgupArc"),
            id_bytes::<8>("00f067aa0ba902b7")
        );
        assert_eq!(id_bytes::<8>("00f067aa0ba902"), None);
        assert_eq!(id_bytes::<8>("zzf067aa0ba902b7"), None);
    }

    #[test]
    fn any_values_of_every_type_parse() {
        let kvs: Vec<OtlpKeyValue<'_>> = serde_json::from_str(
            r#"[{"key":"s","value":{"stringValue":"x"}},
                {"key":"i","value":{"intValue":"-7"}},
                {"key":"n","value":{"intValue":12}},
                {"key":"d","value":{"doubleValue":1.5}},
                {"key":"nan","value":{"doubleValue":"NaN"}},
                {"key":"b","value":{"boolValue":true}},
                {"key":"a","value":{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"two"}]}}},
                {"key":"k","value":{"kvlistValue":{"values":[{"key":"x","value":{"boolValue":false}}]}}},
                {"key":"y","value":{"bytesValue":"AAE="}},
                {"key":"e","value":{}},
                {"key":"z","value":null},
                {"key":"snake","value":{"string_value":"ok"}}]"#,
        )
        .unwrap();
        let shown: Vec<String> = kvs
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        assert_eq!(
            shown,
            [
                "s=x",
                "i=-7",
                "n=12",
                "d=1.5",
                "nan=NaN",
                "b=true",
                "a=[1, two]",
                "k={x=false}",
                "y=AAE=",
                "e=",
                "z=",
                "snake=ok"
            ]
        );
        assert_eq!(kvs[1].value, AnyValue::Int(-7));
        assert_eq!(kvs[2].value, AnyValue::Int(12));
    }

    #[test]
    fn strings_without_escapes_borrow() {
        let kv: OtlpKeyValue<'_> =
            serde_json::from_str(r#"{"key":"k","value":{"stringValue":"plain"}}"#).unwrap();
        assert!(matches!(kv.key, Cow::Borrowed(_)));
        assert!(matches!(kv.value, AnyValue::String(Cow::Borrowed("plain"))));
        let kv: OtlpKeyValue<'_> =
            serde_json::from_str(r#"{"key":"k","value":{"stringValue":"a\"b"}}"#).unwrap();
        assert_eq!(kv.value, AnyValue::String(Cow::Owned("a\"b".to_owned())));
    }

    #[test]
    fn enums_parse_by_number_or_name() {
        let kinds: Vec<OtlpSpanKind> =
            serde_json::from_str(r#"[2, "3", "SPAN_KIND_PRODUCER", 9]"#).unwrap();
        assert_eq!(
            kinds,
            [
                OtlpSpanKind::Server,
                OtlpSpanKind::Client,
                OtlpSpanKind::Producer,
                OtlpSpanKind::Unspecified
            ]
        );
        let codes: Vec<StatusCode> =
            serde_json::from_str(r#"[0, 1, "STATUS_CODE_ERROR"]"#).unwrap();
        assert_eq!(
            codes,
            [StatusCode::Unset, StatusCode::Ok, StatusCode::Error]
        );
    }
}
