//! The Jaeger agent exporter: spans as Thrift compact-protocol `emitBatch`
//! messages, one UDP datagram each, to a Jaeger agent (port 6831).
//!
//! Why a Thrift writer of our own: the agent protocol needs a dozen compact
//! protocol primitives and five structs of the Jaeger IDL
//! (`jaeger-idl/thrift/jaeger.thrift`, `agent.thrift`), all write-only. That
//! is less code than the glue a Thrift code generator would need, and keeps
//! this exporter std-only. The encoding is checked byte by byte against the
//! compact protocol specification in the tests below, and every packet of a
//! known trace is decoded with an independent implementation (thriftpy2 with
//! the official IDL) in `tests/jaeger_agent_packets_decode.rs`.
//!
//! Why spans are encoded one at a time: a UDP datagram has a size limit, and
//! the size of an encoded span is only known once it is encoded. Each span is
//! encoded into a scratch buffer and appended to the current packet when it
//! fits, so no span is encoded twice and no packet exceeds the limit.
//!
//! The mapping is the one of OpenTelemetry's (now retired) Jaeger exporter
//! specification: 128-bit trace ids split into signed big-endian halves,
//! typed tags, `span.kind`, `otel.status_code`, `error`, events as logs with
//! an `event` field, links as `FOLLOWS_FROM` references, resource attributes
//! as process tags.

use std::fmt;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

use agent_trace_core::{Array, FinishedSpan, KeyValue, SpanData, SpanKind, Status, Value};

use crate::{ExportError, ExportOutcome, Resource, SCOPE_NAME, SCOPE_VERSION, SpanExporter};

/// The exporter's name in errors and metrics.
const EXPORTER: &str = "jaeger";
/// The reference's `agent_host` default.
const DEFAULT_AGENT_HOST: &str = "localhost";
/// The reference's `agent_port` default: the agent's compact Thrift port.
const DEFAULT_AGENT_PORT: u16 = 6831;
/// The agent's default `--processor.jaeger-compact.server-max-packet-size`,
/// which Jaeger clients use as their UDP packet size limit.
const DEFAULT_MAX_PACKET_SIZE: usize = 65_000;
/// The largest UDP payload over IPv4 (65,535 - 8 bytes UDP header - 20 bytes
/// IP header); a larger datagram cannot be sent at all.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// The Thrift compact protocol, write side: just what the Jaeger agent
/// protocol needs (thrift/doc/specs/thrift-compact-protocol.md).
mod compact {
    /// Compact protocol type ids, as they appear in field headers and list
    /// headers.
    pub(super) mod ty {
        pub(crate) const BOOL_TRUE: u8 = 1;
        pub(crate) const BOOL_FALSE: u8 = 2;
        pub(crate) const I32: u8 = 5;
        pub(crate) const I64: u8 = 6;
        pub(crate) const DOUBLE: u8 = 7;
        pub(crate) const BINARY: u8 = 8;
        pub(crate) const LIST: u8 = 9;
        pub(crate) const STRUCT: u8 = 12;
    }

    /// The message type of a call whose caller expects no reply.
    pub(super) const ONEWAY: u8 = 4;

    /// The first byte of every compact protocol message.
    const PROTOCOL_ID: u8 = 0x82;
    /// The protocol version, in the low 5 bits of the second byte.
    const VERSION: u8 = 1;
    /// The byte that ends a struct.
    const STOP: u8 = 0;

    /// An unsigned LEB128 varint: 7 bits a byte, least significant first.
    pub(super) fn write_uvarint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    /// Zigzag: small magnitudes of either sign become small unsigned numbers
    /// (0, -1, 1, -2 -> 0, 1, 2, 3).
    pub(super) fn zigzag_i64(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    /// Zigzag for 32-bit integers.
    pub(super) fn zigzag_i32(v: i32) -> u32 {
        ((v << 1) ^ (v >> 31)) as u32
    }

    /// Zigzag for 16-bit integers (field ids in the long form).
    pub(super) fn zigzag_i16(v: i16) -> u16 {
        ((v << 1) ^ (v >> 15)) as u16
    }

    /// A list (or set) header: the size in the high nibble when below 15,
    /// else `0xF` there and the size as a varint after.
    pub(super) fn write_list_header(buf: &mut Vec<u8>, elem_ty: u8, len: usize) {
        if len < 15 {
            buf.push(((len as u8) << 4) | elem_ty);
        } else {
            buf.push(0xF0 | elem_ty);
            write_uvarint(buf, len as u64);
        }
    }

    /// A binary or string: its length as a varint, then its bytes.
    pub(super) fn write_binary(buf: &mut Vec<u8>, bytes: &[u8]) {
        write_uvarint(buf, bytes.len() as u64);
        buf.extend_from_slice(bytes);
    }

    /// A message header: protocol id, version and type, the sequence id as a
    /// (not zigzag) varint, and the method name.
    pub(super) fn write_message_begin(buf: &mut Vec<u8>, name: &str, ty: u8, seq_id: i32) {
        buf.push(PROTOCOL_ID);
        buf.push((ty << 5) | VERSION);
        write_uvarint(buf, u64::from(seq_id as u32));
        write_binary(buf, name.as_bytes());
    }

    /// Writes the fields of one struct; [`finish`](Self::finish) ends it.
    ///
    /// Field ids are written as the difference from the previous field's
    /// id when that is 1 to 15 (one byte for header and type), else in the
    /// long form (type byte, then the id as a zigzag varint).
    pub(super) struct StructWriter<'a> {
        buf: &'a mut Vec<u8>,
        last_id: i16,
    }

    impl<'a> StructWriter<'a> {
        /// A struct starting at the end of `buf`.
        pub(super) fn new(buf: &'a mut Vec<u8>) -> Self {
            Self { buf, last_id: 0 }
        }

        fn field_header(&mut self, id: i16, ty: u8) {
            let delta = i32::from(id) - i32::from(self.last_id);
            if (1..=15).contains(&delta) {
                self.buf.push(((delta as u8) << 4) | ty);
            } else {
                self.buf.push(ty);
                write_uvarint(self.buf, u64::from(zigzag_i16(id)));
            }
            self.last_id = id;
        }

        /// A bool field: the value is the header's type (1 true, 2 false),
        /// with no byte of its own.
        pub(super) fn bool(&mut self, id: i16, v: bool) {
            self.field_header(id, if v { ty::BOOL_TRUE } else { ty::BOOL_FALSE });
        }

        /// An `i32` (or enum) field.
        pub(super) fn i32(&mut self, id: i16, v: i32) {
            self.field_header(id, ty::I32);
            write_uvarint(self.buf, u64::from(zigzag_i32(v)));
        }

        /// An `i64` field.
        pub(super) fn i64(&mut self, id: i16, v: i64) {
            self.field_header(id, ty::I64);
            write_uvarint(self.buf, zigzag_i64(v));
        }

        /// A `double` field: the IEEE 754 bits, little-endian.
        pub(super) fn double(&mut self, id: i16, v: f64) {
            self.field_header(id, ty::DOUBLE);
            self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
        }

        /// A `string` (or `binary`) field.
        pub(super) fn binary(&mut self, id: i16, bytes: &[u8]) {
            self.field_header(id, ty::BINARY);
            write_binary(self.buf, bytes);
        }

        /// A struct field, written by `f`.
        pub(super) fn structure(&mut self, id: i16, f: impl FnOnce(&mut StructWriter<'_>)) {
            self.field_header(id, ty::STRUCT);
            let mut inner = StructWriter::new(self.buf);
            f(&mut inner);
            inner.finish();
        }

        /// A struct field already encoded (its fields and stop byte).
        pub(super) fn encoded_struct(&mut self, id: i16, encoded: &[u8]) {
            self.field_header(id, ty::STRUCT);
            self.buf.extend_from_slice(encoded);
        }

        /// A list field of `len` elements of type `elem_ty`, already encoded
        /// back to back in `encoded`.
        pub(super) fn encoded_list(&mut self, id: i16, elem_ty: u8, len: usize, encoded: &[u8]) {
            self.field_header(id, ty::LIST);
            write_list_header(self.buf, elem_ty, len);
            self.buf.extend_from_slice(encoded);
        }

        /// A list-of-structs field, each element written by `f`.
        pub(super) fn struct_list<T>(
            &mut self,
            id: i16,
            items: &[T],
            mut f: impl FnMut(&mut StructWriter<'_>, &T),
        ) {
            self.field_header(id, ty::LIST);
            write_list_header(self.buf, ty::STRUCT, items.len());
            for item in items {
                let mut inner = StructWriter::new(self.buf);
                f(&mut inner, item);
                inner.finish();
            }
        }

        /// Ends the struct.
        pub(super) fn finish(self) {
            self.buf.push(STOP);
        }
    }
}

use compact::StructWriter;

/// `TagType` of the Jaeger IDL.
mod tag_type {
    pub(super) const STRING: i32 = 0;
    pub(super) const DOUBLE: i32 = 1;
    pub(super) const BOOL: i32 = 2;
    pub(super) const LONG: i32 = 3;
}

/// `SpanRefType` of the Jaeger IDL.
mod span_ref_type {
    pub(super) const CHILD_OF: i32 = 0;
    pub(super) const FOLLOWS_FROM: i32 = 1;
}

/// The value of a Jaeger tag before encoding.
enum TagValue<'a> {
    Str(&'a str),
    String(String),
    Double(f64),
    Bool(bool),
    Long(i64),
}

/// A Jaeger `Tag` before encoding.
struct Tag<'a> {
    key: &'a str,
    value: TagValue<'a>,
}

impl<'a> Tag<'a> {
    fn new(key: &'a str, value: TagValue<'a>) -> Self {
        Self { key, value }
    }

    /// An attribute as a typed tag; arrays become JSON text.
    fn from_kv(kv: &'a KeyValue) -> Self {
        let value = match &kv.value {
            Value::Bool(v) => TagValue::Bool(*v),
            Value::I64(v) => TagValue::Long(*v),
            Value::F64(v) => TagValue::Double(*v),
            Value::String(s) => TagValue::Str(s.as_str()),
            Value::Array(a) => TagValue::String(array_json(a)),
        };
        Self::new(kv.key.as_str(), value)
    }

    /// `Tag{1: key, 2: vType, 3: vStr | 4: vDouble | 5: vBool | 6: vLong}`.
    fn write(&self, w: &mut StructWriter<'_>) {
        w.binary(1, self.key.as_bytes());
        match &self.value {
            TagValue::Str(s) => {
                w.i32(2, tag_type::STRING);
                w.binary(3, s.as_bytes());
            }
            TagValue::String(s) => {
                w.i32(2, tag_type::STRING);
                w.binary(3, s.as_bytes());
            }
            TagValue::Double(v) => {
                w.i32(2, tag_type::DOUBLE);
                w.double(4, *v);
            }
            TagValue::Bool(v) => {
                w.i32(2, tag_type::BOOL);
                w.bool(5, *v);
            }
            TagValue::Long(v) => {
                w.i32(2, tag_type::LONG);
                w.i64(6, *v);
            }
        }
    }
}

/// An array attribute as a JSON array, as the OpenTelemetry mapping to
/// non-OTLP formats asks. Non-finite floats, which JSON cannot hold, become
/// the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
fn array_json(array: &Array) -> String {
    fn list<T>(items: &[T], mut item: impl FnMut(&mut String, &T)) -> String {
        let mut out = String::from("[");
        for (i, v) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item(&mut out, v);
        }
        out.push(']');
        out
    }
    // Writing to a `String` cannot fail.
    match array {
        Array::Bool(v) => list(v, |out, b| {
            let _ = write!(out, "{b}");
        }),
        Array::I64(v) => list(v, |out, n| {
            let _ = write!(out, "{n}");
        }),
        Array::F64(v) => list(v, |out, f| {
            if f.is_finite() {
                let _ = write!(out, "{f}");
            } else if f.is_nan() {
                out.push_str("\"NaN\"");
            } else if *f > 0.0 {
                out.push_str("\"Infinity\"");
            } else {
                out.push_str("\"-Infinity\"");
            }
        }),
        Array::String(v) => list(v, |out, s| json_string(out, s)),
    }
}

/// A JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A 64-bit id as Jaeger's signed `i64`: the same bits, big-endian.
fn id_i64(bytes: [u8; 8]) -> i64 {
    i64::from_be_bytes(bytes)
}

/// Nanoseconds as Jaeger's microseconds, saturating.
fn micros(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000).unwrap_or(i64::MAX)
}

/// A count as a `long` tag, saturating.
fn count(n: u32) -> TagValue<'static> {
    TagValue::Long(i64::from(n))
}

/// `Process{1: serviceName, 2: tags}`: the resource, `service.name` as the
/// service name and every other attribute as a tag.
fn encode_process(buf: &mut Vec<u8>, resource: &Resource) {
    let tags: Vec<Tag<'_>> = resource
        .attributes()
        .iter()
        .filter(|kv| kv.key.as_str() != "service.name")
        .map(Tag::from_kv)
        .collect();
    let mut w = StructWriter::new(buf);
    w.binary(1, resource.service_name().as_bytes());
    if !tags.is_empty() {
        w.struct_list(2, &tags, |w, tag| tag.write(w));
    }
    w.finish();
}

/// A `SpanRef` before encoding.
struct SpanRef {
    ref_type: i32,
    trace_id_low: i64,
    trace_id_high: i64,
    span_id: i64,
}

/// The trace id as Jaeger's `(low, high)`: the big-endian halves as signed
/// 64-bit integers.
fn trace_id_halves(bytes: [u8; 16]) -> (i64, i64) {
    let mut high = [0; 8];
    let mut low = [0; 8];
    high.copy_from_slice(&bytes[..8]);
    low.copy_from_slice(&bytes[8..]);
    (id_i64(low), id_i64(high))
}

/// `Span{1..11}` of the Jaeger IDL, its fields and stop byte, into `buf`.
fn encode_span(buf: &mut Vec<u8>, span: &SpanData) {
    let (trace_id_low, trace_id_high) = trace_id_halves(span.context.trace_id.to_bytes());
    let parent_span_id = span.parent_span_id.map_or(0, |p| id_i64(p.to_bytes()));

    let mut references = Vec::with_capacity(span.links.len() + 1);
    if span.parent_span_id.is_some() {
        references.push(SpanRef {
            ref_type: span_ref_type::CHILD_OF,
            trace_id_low,
            trace_id_high,
            span_id: parent_span_id,
        });
    }
    for link in &span.links {
        let (low, high) = trace_id_halves(link.context.trace_id.to_bytes());
        references.push(SpanRef {
            ref_type: span_ref_type::FOLLOWS_FROM,
            trace_id_low: low,
            trace_id_high: high,
            span_id: id_i64(link.context.span_id.to_bytes()),
        });
    }

    let mut tags: Vec<Tag<'_>> = Vec::with_capacity(span.attributes.len() + 8);
    tags.extend(span.attributes.iter().map(Tag::from_kv));
    if span.kind != SpanKind::Internal {
        tags.push(Tag::new("span.kind", TagValue::Str(span.kind.as_str())));
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => tags.push(Tag::new("otel.status_code", TagValue::Str("OK"))),
        Status::Error { description } => {
            tags.push(Tag::new("otel.status_code", TagValue::Str("ERROR")));
            tags.push(Tag::new("error", TagValue::Bool(true)));
            if !description.is_empty() {
                tags.push(Tag::new(
                    "otel.status_description",
                    TagValue::Str(description.as_str()),
                ));
            }
        }
    }
    // The span's own scope (a library's, through the OpenTelemetry
    // bridge), else agent-trace's.
    match span.scope.as_deref() {
        Some(scope) => {
            tags.push(Tag::new(
                "otel.scope.name",
                TagValue::Str(scope.name.as_str()),
            ));
            if let Some(version) = &scope.version {
                tags.push(Tag::new(
                    "otel.scope.version",
                    TagValue::Str(version.as_str()),
                ));
            }
        }
        None => {
            tags.push(Tag::new("otel.scope.name", TagValue::Str(SCOPE_NAME)));
            tags.push(Tag::new("otel.scope.version", TagValue::Str(SCOPE_VERSION)));
        }
    }
    for (key, n) in [
        (
            "otel.dropped_attributes_count",
            span.dropped_attributes_count,
        ),
        ("otel.dropped_events_count", span.dropped_events_count),
        ("otel.dropped_links_count", span.dropped_links_count),
    ] {
        if n > 0 {
            tags.push(Tag::new(key, count(n)));
        }
    }

    let mut w = StructWriter::new(buf);
    w.i64(1, trace_id_low);
    w.i64(2, trace_id_high);
    w.i64(3, id_i64(span.context.span_id.to_bytes()));
    w.i64(4, parent_span_id);
    w.binary(5, span.name.as_bytes());
    if !references.is_empty() {
        w.struct_list(6, &references, |w, r| {
            w.i32(1, r.ref_type);
            w.i64(2, r.trace_id_low);
            w.i64(3, r.trace_id_high);
            w.i64(4, r.span_id);
        });
    }
    w.i32(7, i32::from(span.context.is_sampled()));
    w.i64(8, micros(span.start_time.as_unix_nanos()));
    w.i64(
        9,
        micros(span.end_time.as_unix_nanos()) - micros(span.start_time.as_unix_nanos()),
    );
    w.struct_list(10, &tags, |w, tag| tag.write(w));
    if !span.events.is_empty() {
        w.struct_list(11, &span.events, |w, event| {
            // An attribute named `event` is the event's own word for it.
            let named = event.attributes.iter().any(|kv| kv.key.as_str() == "event");
            let mut fields = Vec::with_capacity(event.attributes.len() + 1);
            if !named {
                fields.push(Tag::new("event", TagValue::Str(event.name.as_str())));
            }
            fields.extend(event.attributes.iter().map(Tag::from_kv));
            w.i64(1, micros(event.timestamp.as_unix_nanos()));
            w.struct_list(2, &fields, |w, tag| tag.write(w));
        });
    }
    w.finish();
}

/// `ClientStats` of the Jaeger IDL: what this exporter dropped so far, for
/// the agent's `jaeger_agent_client_stats_*` metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ClientStats {
    /// Always 0 here: the batch pipeline's queue is not the exporter's.
    full_queue_dropped_spans: i64,
    too_large_dropped_spans: i64,
    failed_to_emit_spans: i64,
}

/// The largest number of bytes a packet takes besides the process and the
/// spans: message header 17 (2 + seq id varint 5 + name length 1 +
/// `emitBatch` 9), args field header 1, batch process header 1, spans field
/// header 1 and list header 6, `seqNo` 11, `stats` 35 (1 + 3 x 11 + stop 1),
/// batch stop 1, args stop 1. Checked by a test with the longest varints.
const PACKET_OVERHEAD: usize = 74;

/// `Agent.emitBatch(1: Batch{1: process, 2: spans, 3: seqNo, 4: stats})` as
/// a oneway compact-protocol message, into `out` (cleared first).
fn encode_packet(
    out: &mut Vec<u8>,
    seq_no: i64,
    process: &[u8],
    span_count: usize,
    spans: &[u8],
    stats: ClientStats,
) {
    out.clear();
    // The message sequence id follows the batch number, kept non-negative.
    let seq_id = (seq_no & i64::from(i32::MAX)) as i32;
    compact::write_message_begin(out, "emitBatch", compact::ONEWAY, seq_id);
    let mut args = StructWriter::new(out);
    args.structure(1, |batch| {
        batch.encoded_struct(1, process);
        batch.encoded_list(2, compact::ty::STRUCT, span_count, spans);
        batch.i64(3, seq_no);
        batch.structure(4, |s| {
            s.i64(1, stats.full_queue_dropped_spans);
            s.i64(2, stats.too_large_dropped_spans);
            s.i64(3, stats.failed_to_emit_spans);
        });
    });
    args.finish();
}

/// Sends spans to a Jaeger agent over UDP, in the agent's Thrift compact
/// protocol (`emitBatch` on port 6831): the reference's Jaeger exporter
/// with `agent_host` and `agent_port`.
///
/// Each [`export`](SpanExporter::export) encodes the spans one by one and
/// packs them into as few datagrams as fit under
/// [`max_packet_size`](JaegerAgentExporterBuilder::max_packet_size). A span
/// too large for a datagram on its own is dropped and counted in the
/// returned [`ExportOutcome`] (and in the `stats` the agent receives). Links
/// become `FOLLOWS_FROM` references without their attributes, which the
/// Jaeger model cannot hold.
///
/// UDP gives no delivery guarantee: a packet the agent is not there to
/// receive is lost without an error, unless the host answers that the port
/// is closed, which makes the next send fail with
/// [`ExportError::Unreachable`]. Retrying then resends the whole batch,
/// including the packets that did go out.
///
/// ```
/// use agent_trace_export::{ExportOutcome, JaegerAgentExporter, Resource, SpanExporter};
/// # use std::sync::{Arc, Mutex};
/// # use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor};
/// # #[derive(Debug, Default)]
/// # struct Keep(Mutex<Vec<FinishedSpan>>);
/// # impl SpanProcessor for Keep {
/// #     fn on_end(&self, span: FinishedSpan) {
/// #         self.0.lock().unwrap().push(span);
/// #     }
/// # }
/// # let keep = Arc::new(Keep::default());
/// # let tracer = AgentStepTracer::builder().processor(keep.clone()).without_store().build();
/// # tracer.start_trace("agent_task").end();
/// # let spans = std::mem::take(&mut *keep.0.lock().unwrap());
///
/// // A socket standing in for the agent.
/// let agent = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let mut exporter = JaegerAgentExporter::builder()
///     .agent_endpoint("127.0.0.1", agent.local_addr()?.port())
///     .resource(Resource::new("research-agent"))
///     .build()?;
///
/// // The batch pipeline calls this with each batch of finished spans.
/// assert_eq!(exporter.export(&spans)?, ExportOutcome::ACCEPTED);
///
/// let mut packet = [0; 65_536];
/// let len = agent.recv(&mut packet)?;
/// // A compact-protocol (0x82) oneway call (0x81) of `emitBatch`.
/// assert_eq!(packet[..2], [0x82, 0x81]);
/// assert!(len <= 65_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JaegerAgentExporter {
    /// `None` once shut down.
    socket: Option<UdpSocket>,
    agent: SocketAddr,
    max_packet_size: usize,
    service_name: String,
    /// The encoded `Process`, the same in every packet.
    process: Vec<u8>,
    /// The number of the last packet sent (`Batch.seqNo`), from 1.
    seq_no: i64,
    stats: ClientStats,
    /// One span being encoded.
    span_buf: Vec<u8>,
    /// The spans of the packet being filled, encoded back to back.
    spans_buf: Vec<u8>,
    /// The packet being sent.
    packet: Vec<u8>,
}

impl fmt::Debug for JaegerAgentExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaegerAgentExporter")
            .field("agent", &self.agent)
            .field("service_name", &self.service_name)
            .field("max_packet_size", &self.max_packet_size)
            .field("packets_sent", &self.seq_no)
            .field("shut_down", &self.socket.is_none())
            .finish_non_exhaustive()
    }
}

impl JaegerAgentExporter {
    /// A builder with the defaults: agent at `localhost:6831`,
    /// [`Resource::default`], packets of at most 65,000 bytes.
    pub fn builder() -> JaegerAgentExporterBuilder {
        JaegerAgentExporterBuilder::default()
    }

    /// The agent's address, as resolved when the exporter was built.
    pub fn agent_addr(&self) -> SocketAddr {
        self.agent
    }

    /// The space for spans in one packet.
    fn span_budget(&self) -> usize {
        self.max_packet_size - PACKET_OVERHEAD - self.process.len()
    }

    /// Sends the spans gathered in `spans_buf` as one packet.
    fn send_packet(&mut self, span_count: usize) -> Result<(), ExportError> {
        let socket = self.socket.as_ref().ok_or(ExportError::Shutdown)?;
        self.seq_no = self.seq_no.wrapping_add(1).max(1);
        encode_packet(
            &mut self.packet,
            self.seq_no,
            &self.process,
            span_count,
            &self.spans_buf,
            self.stats,
        );
        debug_assert!(self.packet.len() <= self.max_packet_size);
        let result = match socket.send(&self.packet) {
            Ok(n) if n == self.packet.len() => Ok(()),
            Ok(n) => Err(format!("sent {n} of {} bytes", self.packet.len())),
            Err(e) => Err(e.to_string()),
        };
        result.map_err(|message| {
            self.stats.failed_to_emit_spans = self
                .stats
                .failed_to_emit_spans
                .saturating_add(i64::try_from(span_count).unwrap_or(i64::MAX));
            ExportError::Unreachable {
                exporter: EXPORTER,
                endpoint: self.agent.to_string(),
                message,
            }
        })
    }
}

impl SpanExporter for JaegerAgentExporter {
    fn name(&self) -> &'static str {
        EXPORTER
    }

    /// Sends the batch in as many datagrams as it takes.
    ///
    /// # Errors
    ///
    /// [`ExportError::Unreachable`] when a datagram cannot be sent (the
    /// packets before it were); [`ExportError::Shutdown`] after
    /// [`shutdown`](SpanExporter::shutdown).
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
        if self.socket.is_none() {
            return Err(ExportError::Shutdown);
        }
        let budget = self.span_budget();
        let mut too_large = 0u64;
        let mut span_count = 0usize;
        self.spans_buf.clear();
        for span in batch {
            self.span_buf.clear();
            encode_span(&mut self.span_buf, span);
            if self.span_buf.len() > budget {
                too_large += 1;
                self.stats.too_large_dropped_spans =
                    self.stats.too_large_dropped_spans.saturating_add(1);
                continue;
            }
            if self.spans_buf.len() + self.span_buf.len() > budget {
                self.send_packet(span_count)?;
                self.spans_buf.clear();
                span_count = 0;
            }
            self.spans_buf.extend_from_slice(&self.span_buf);
            span_count += 1;
        }
        if span_count > 0 {
            self.send_packet(span_count)?;
        }
        Ok(if too_large == 0 {
            ExportOutcome::ACCEPTED
        } else {
            ExportOutcome::partial(too_large)
        })
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.socket = None;
        Ok(())
    }
}

/// Settings of a [`JaegerAgentExporter`]; made by
/// [`JaegerAgentExporter::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct JaegerAgentExporterBuilder {
    host: String,
    port: u16,
    resource: Option<Resource>,
    max_packet_size: usize,
}

impl Default for JaegerAgentExporterBuilder {
    fn default() -> Self {
        Self {
            host: DEFAULT_AGENT_HOST.to_owned(),
            port: DEFAULT_AGENT_PORT,
            resource: None,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
        }
    }
}

impl JaegerAgentExporterBuilder {
    /// The agent's host name or IP address and UDP port (the reference's
    /// `agent_host` and `agent_port`; default `localhost` and 6831).
    pub fn agent_endpoint(mut self, host: impl Into<String>, port: u16) -> Self {
        self.host = host.into();
        self.port = port;
        self
    }

    /// The service the spans come from (default [`Resource::default`]):
    /// `service.name` becomes the Jaeger process's service name, every other
    /// attribute a process tag.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The largest datagram to send, in bytes (default 65,000, the agent's
    /// default limit). Lower it when a network path cannot carry large UDP
    /// datagrams; spans that alone exceed it are dropped.
    pub fn max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// Resolves the agent's address (IPv4 preferred, as agents commonly
    /// listen there), binds an ephemeral UDP socket and connects it to the
    /// agent. The address is not resolved again later.
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] when the host does not resolve or the packet
    /// size is above the UDP limit (65,507 bytes) or leaves no room for a
    /// span next to the resource; [`ExportError::Bind`] when no socket can
    /// be bound; [`ExportError::Unreachable`] when the socket cannot be
    /// connected (no route to the agent).
    pub fn build(self) -> Result<JaegerAgentExporter, ExportError> {
        if self.max_packet_size > MAX_UDP_PAYLOAD {
            return Err(ExportError::Config(format!(
                "jaeger max_packet_size {} is above the largest UDP payload ({MAX_UDP_PAYLOAD} bytes)",
                self.max_packet_size
            )));
        }
        let resource = self.resource.unwrap_or_default();
        let mut process = Vec::new();
        encode_process(&mut process, &resource);
        if PACKET_OVERHEAD + process.len() >= self.max_packet_size {
            return Err(ExportError::Config(format!(
                "jaeger max_packet_size {} leaves no room for spans: the resource alone takes {} bytes",
                self.max_packet_size,
                PACKET_OVERHEAD + process.len()
            )));
        }

        let endpoint = format!("{}:{}", self.host, self.port);
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| {
                ExportError::Config(format!(
                    "jaeger agent endpoint {endpoint} does not resolve: {e}"
                ))
            })?
            .collect();
        let agent = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| {
                ExportError::Config(format!(
                    "jaeger agent endpoint {endpoint} resolves to no address"
                ))
            })?;
        let local = if agent.is_ipv4() {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        };
        let socket =
            UdpSocket::bind(local).map_err(|cause| ExportError::Bind { addr: local, cause })?;
        socket
            .connect(agent)
            .map_err(|e| ExportError::Unreachable {
                exporter: EXPORTER,
                endpoint: agent.to_string(),
                message: e.to_string(),
            })?;

        Ok(JaegerAgentExporter {
            socket: Some(socket),
            agent,
            max_packet_size: self.max_packet_size,
            service_name: resource.service_name().to_owned(),
            process,
            seq_no: 0,
            stats: ClientStats::default(),
            span_buf: Vec::new(),
            spans_buf: Vec::new(),
            packet: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The expected bytes are derived by hand from the compact protocol
    //! specification (thrift/doc/specs/thrift-compact-protocol.md), not
    //! produced by this writer.

    use super::compact::{self, StructWriter, ty};
    use super::*;

    fn uvarint(v: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        compact::write_uvarint(&mut buf, v);
        buf
    }

    fn fields(f: impl FnOnce(&mut StructWriter<'_>)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = StructWriter::new(&mut buf);
        f(&mut w);
        w.finish();
        buf
    }

    #[test]
    fn zigzag_varints_of_boundary_values() {
        // i32: zigzag maps 0, -1, 1, -2, ... to 0, 1, 2, 3, ...; the varint
        // holds 7 bits a byte, least significant group first, high bit set
        // on every byte but the last.
        let i32_cases: [(i32, &[u8]); 9] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, bytes) in i32_cases {
            assert_eq!(uvarint(compact::zigzag_i32(v).into()), bytes, "i32 {v}");
        }
        let i64_cases: [(i64, &[u8]); 5] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (150, &[0xac, 0x02]),
            (
                i64::MAX,
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
            (
                i64::MIN,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (v, bytes) in i64_cases {
            assert_eq!(uvarint(compact::zigzag_i64(v)), bytes, "i64 {v}");
        }
        let i16_cases: [(i16, &[u8]); 4] = [
            (16, &[0x20]),
            (300, &[0xd8, 0x04]),
            (i16::MAX, &[0xfe, 0xff, 0x03]),
            (i16::MIN, &[0xff, 0xff, 0x03]),
        ];
        for (v, bytes) in i16_cases {
            assert_eq!(uvarint(compact::zigzag_i16(v).into()), bytes, "i16 {v}");
        }
    }

    #[test]
    fn field_ids_use_the_delta_form_up_to_15_and_the_long_form_otherwise() {
        // Field 1 (delta 1), i32 value 5 (zigzag 10), then stop.
        assert_eq!(fields(|w| w.i32(1, 5)), [0x15, 0x0a, 0x00]);
        // Field 1 then field 16: delta 15 still fits the high nibble.
        assert_eq!(
            fields(|w| {
                w.i32(1, 0);
                w.i32(16, 0);
            }),
            [0x15, 0x00, 0xf5, 0x00, 0x00]
        );
        // Field 1 then field 17: delta 16 does not; type byte, then the id
        // as a zigzag varint (34).
        assert_eq!(
            fields(|w| {
                w.i32(1, 0);
                w.i32(17, 0);
            }),
            [0x15, 0x00, 0x05, 0x22, 0x00, 0x00]
        );
        // A field id lower than the previous one (negative delta).
        assert_eq!(
            fields(|w| {
                w.i64(5, 1);
                w.i64(3, 1);
            }),
            [0x56, 0x02, 0x06, 0x06, 0x02, 0x00]
        );
        // A nested struct counts its deltas from 0 again, and the outer
        // struct continues from its own last id.
        assert_eq!(
            fields(|w| {
                w.structure(2, |s| s.i32(1, 1));
                w.i32(3, 1);
            }),
            [0x2c, 0x15, 0x02, 0x00, 0x15, 0x02, 0x00]
        );
    }

    #[test]
    fn bool_fields_carry_their_value_in_the_type_nibble() {
        assert_eq!(fields(|w| w.bool(1, true)), [0x11, 0x00]);
        assert_eq!(fields(|w| w.bool(2, false)), [0x22, 0x00]);
        assert_eq!(
            fields(|w| {
                w.bool(1, false);
                w.bool(5, true);
            }),
            [0x12, 0x41, 0x00]
        );
    }

    #[test]
    fn doubles_strings_and_list_headers() {
        // 1.0 is 0x3FF0000000000000, written little-endian.
        assert_eq!(
            fields(|w| w.double(1, 1.0)),
            [0x17, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00]
        );
        assert_eq!(
            fields(|w| w.binary(1, b"abc")),
            [0x18, 0x03, b'a', b'b', b'c', 0x00]
        );
        let mut buf = Vec::new();
        compact::write_list_header(&mut buf, ty::STRUCT, 3);
        compact::write_list_header(&mut buf, ty::I64, 14);
        compact::write_list_header(&mut buf, ty::I64, 15);
        compact::write_list_header(&mut buf, ty::BINARY, 200);
        assert_eq!(buf, [0x3c, 0xe6, 0xf6, 0x0f, 0xf8, 0xc8, 0x01]);
    }

    #[test]
    fn message_header_of_a_oneway_call() {
        let mut buf = Vec::new();
        compact::write_message_begin(&mut buf, "emitBatch", compact::ONEWAY, 1);
        let mut expected = vec![0x82, 0x81, 0x01, 0x09];
        expected.extend_from_slice(b"emitBatch");
        assert_eq!(buf, expected);
    }

    #[test]
    fn packet_overhead_bounds_the_longest_encoding() {
        let process = [0x00];
        let stats = ClientStats {
            full_queue_dropped_spans: i64::MIN,
            too_large_dropped_spans: i64::MIN,
            failed_to_emit_spans: i64::MIN,
        };
        let mut out = Vec::new();
        // The largest list size a varint of 4 bytes cannot hold, and a
        // sequence number whose zigzag varint takes 10 bytes.
        encode_packet(&mut out, i64::MAX, &process, 1 << 28, &[], stats);
        assert_eq!(out.len(), PACKET_OVERHEAD + process.len());
    }

    #[test]
    fn arrays_become_json() {
        let kv = |v: Value| {
            array_json(match &v {
                Value::Array(a) => a,
                _ => unreachable!(),
            })
        };
        assert_eq!(kv(Value::from(vec![true, false])), "[true,false]");
        assert_eq!(kv(Value::from(vec![1_i64, -2])), "[1,-2]");
        assert_eq!(
            kv(Value::from(vec![1.5, 3.0, f64::NAN, f64::NEG_INFINITY])),
            r#"[1.5,3,"NaN","-Infinity"]"#
        );
        assert_eq!(
            kv(Value::from(vec!["a\"b", "c\\d\n\u{1}"])),
            r#"["a\"b","c\\d\n\u0001"]"#
        );
    }

    #[test]
    fn build_refuses_packet_sizes_that_cannot_work() {
        let too_big = JaegerAgentExporter::builder()
            .agent_endpoint("127.0.0.1", 6831)
            .max_packet_size(70_000)
            .build();
        assert!(
            matches!(too_big, Err(ExportError::Config(_))),
            "{too_big:?}"
        );
        let too_small = JaegerAgentExporter::builder()
            .agent_endpoint("127.0.0.1", 6831)
            .max_packet_size(64)
            .build();
        assert!(
            matches!(too_small, Err(ExportError::Config(_))),
            "{too_small:?}"
        );
        let unresolvable = JaegerAgentExporter::builder()
            .agent_endpoint("no-such-host.invalid", 6831)
            .build();
        assert!(
            matches!(unresolvable, Err(ExportError::Config(_))),
            "{unresolvable:?}"
        );
    }
}
