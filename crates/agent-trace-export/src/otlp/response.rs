//! What an OTLP/HTTP receiver answers: an `ExportTraceServiceResponse`,
//! whose only field is the partial success (how many spans were rejected,
//! and why), read without the generated types.
//!
//! ```proto
//! message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
//! message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
//! ```
//!
//! A body that does not parse counts as no partial success (the request
//! was accepted: the receiver said 2xx), as it did when prost decoded it.

/// The rejected spans of a protobuf `ExportTraceServiceResponse`: `Some`
/// when it has a partial success (0 when that does not say), `None` when it
/// has none or does not decode. Reads as prost does: unknown fields
/// skipped, a repeated message merged (the last value of a field wins), a
/// known field of the wrong wire type or a string that is not UTF-8 an
/// error.
pub(super) fn rejected_spans_protobuf(body: &[u8]) -> Option<i64> {
    let mut partial: Option<i64> = None;
    let mut r = Reader(body);
    while !r.0.is_empty() {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, LEN) => {
                let mut inner = Reader(r.bytes()?);
                let mut rejected = partial.unwrap_or(0);
                while !inner.0.is_empty() {
                    let (field, wire) = inner.key()?;
                    match (field, wire) {
                        (1, VARINT) => rejected = inner.varint()? as i64,
                        (2, LEN) => {
                            std::str::from_utf8(inner.bytes()?).ok()?;
                        }
                        (1 | 2, _) => return None,
                        _ => inner.skip(field, wire)?,
                    }
                }
                partial = Some(rejected);
            }
            (1, _) => return None,
            _ => r.skip(field, wire)?,
        }
    }
    partial
}

/// The rejected spans of an OTLP/JSON response: `Some` when it has a
/// partial success, `None` when it has none or does not parse.
/// `rejectedSpans` may be a number or, as proto3 JSON writes 64-bit
/// integers, a string; the proto field names are accepted too.
pub(super) fn rejected_spans_json(body: &[u8]) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let member = |v: &'_ serde_json::Value, camel: &str, snake: &str| {
        v.get(camel)
            .or_else(|| v.get(snake))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let partial = member(&value, "partialSuccess", "partial_success")?;
    if !partial.is_object() {
        return None;
    }
    Some(match member(&partial, "rejectedSpans", "rejected_spans") {
        None => 0,
        Some(serde_json::Value::Number(n)) => n.as_i64()?,
        Some(serde_json::Value::String(s)) => s.trim().parse().ok()?,
        Some(_) => return None,
    })
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// A cursor over protobuf bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            // The tenth byte holds the top bit only.
            if i == 9 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// A field's number and wire type.
    fn key(&mut self) -> Option<(u32, u8)> {
        let key = u32::try_from(self.varint()?).ok()?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        if field == 0 || wire > FIXED32 {
            return None;
        }
        Some((field, wire))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    /// Skips a field of an unknown number, a group (up to prost's depth
    /// of 100) included.
    fn skip(&mut self, field: u32, wire: u8) -> Option<()> {
        self.skip_at(field, wire, 0)
    }

    fn skip_at(&mut self, field: u32, wire: u8, depth: u32) -> Option<()> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP if depth < 100 => loop {
                let (inner, wire) = self.key()?;
                if wire == END_GROUP {
                    return (inner == field).then_some(());
                }
                self.skip_at(inner, wire, depth + 1)?;
            },
            // An end without a start, or too deep.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    use prost::Message as _;

    use super::*;

    /// What the exporter made of a body when prost decoded it.
    fn prost_reading(body: &[u8]) -> Option<i64> {
        ExportTraceServiceResponse::decode(body)
            .unwrap_or_default()
            .partial_success
            .map(|p| p.rejected_spans)
    }

    fn response(rejected: i64, message: &str) -> Vec<u8> {
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message.to_owned(),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn protobuf_responses_read_as_prost_reads_them() {
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            ExportTraceServiceResponse::default().encode_to_vec(),
            response(0, ""),
            response(3, "3 spans had no name"),
            response(-1, ""),
            response(i64::MAX, "x"),
            response(i64::MIN, "ünïcode"),
            // Merged: the later message's field wins.
            [response(3, "a"), response(5, "")].concat(),
            [response(3, "a"), vec![0x0a, 0x00]].concat(),
            // Unknown fields of every wire type, at both levels.
            [vec![0x10, 0x96, 0x01], response(2, "")].concat(),
            [vec![0x19], vec![0; 8], response(2, "")].concat(),
            [vec![0x1a, 0x02, 0xff, 0xff], response(2, "")].concat(),
            [vec![0x1d], vec![0; 4], response(2, "")].concat(),
            vec![0x0a, 0x05, 0x08, 0x07, 0x18, 0x01, 0x00],
            // Groups of unknown fields are skipped, nested ones too; an
            // end without its start is an error.
            [vec![0x1b, 0x08, 0x01, 0x1c], response(2, "")].concat(),
            vec![0x0a, 0x06, 0x1b, 0x23, 0x24, 0x1c, 0x08, 0x05],
            vec![0x1b, 0x24],
            vec![0x1c],
            vec![0x0a, 0x02, 0x1c, 0x08],
            vec![0x0a, 0x04, 0x08, 0x07, 0x25, 0x01],
            // Malformed: truncated, a group, a known field of the wrong
            // wire type, a string that is not UTF-8, a varint too long.
            response(3, "abc")[..4].to_vec(),
            vec![0x0a],
            vec![0x0b, 0x0c],
            vec![0x08, 0x01],
            vec![0x0a, 0x02, 0x0a, 0x00],
            vec![0x0a, 0x04, 0x12, 0x02, 0xff, 0xfe],
            vec![
                0x0a, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ],
            vec![
                0x0a, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            vec![0x00, 0x00],
        ];
        // And bytes of no particular shape (a fixed xorshift sequence).
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 12) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|i| (x >> (i * 5 % 57)) as u8).collect();
            if x & 1 == 0 && !bytes.is_empty() {
                bytes[0] = 0x0a;
            }
            cases.push(bytes);
        }
        for body in &cases {
            assert_eq!(
                rejected_spans_protobuf(body),
                prost_reading(body),
                "{body:02x?}"
            );
        }
    }

    #[test]
    fn json_responses_are_read_with_numbers_or_strings() {
        for (body, expected) in [
            ("", None),
            ("{}", None),
            ("not json", None),
            (r#"{"partialSuccess":null}"#, None),
            (r#"{"partialSuccess":{}}"#, Some(0)),
            (
                r#"{"partialSuccess":{"rejectedSpans":4,"errorMessage":"x"}}"#,
                Some(4),
            ),
            (r#"{"partialSuccess":{"rejectedSpans":"4"}}"#, Some(4)),
            (r#"{"partial_success":{"rejected_spans":"-2"}}"#, Some(-2)),
            (r#"{"partialSuccess":{"rejectedSpans":1.5}}"#, None),
            (r#"{"partialSuccess":{"rejectedSpans":"many"}}"#, None),
            (r#"{"partialSuccess":7}"#, None),
        ] {
            assert_eq!(rejected_spans_json(body.as_bytes()), expected, "{body}");
        }
        // What the official types write.
        let official = serde_json::to_vec(&ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 9,
                error_message: "nine".into(),
            }),
        })
        .expect("serializes");
        assert_eq!(rejected_spans_json(&official), Some(9));
    }
}
