//! The metrics of one push, and their OTLP encodings: protobuf (what
//! OTLP/HTTP and gRPC send) and JSON (`http/json`), both written by hand
//! from these few types, as the span encoders are (no message tree of
//! `opentelemetry-proto`, no `opentelemetry_sdk` in the build).
//!
//! Field numbers are those of `opentelemetry/proto/metrics/v1/metrics.proto`;
//! the tests decode what is written here with `opentelemetry-proto`'s
//! generated types.

use crate::Resource;
use crate::otlp::proto;
use crate::resource::{SCOPE_NAME, SCOPE_VERSION};

/// How a sum or histogram's points relate to earlier pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporality {
    Delta = 1,
    Cumulative = 2,
}

/// One metric of a push.
#[derive(Debug, Clone)]
pub(crate) struct Metric {
    pub(crate) name: std::borrow::Cow<'static, str>,
    pub(crate) description: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) data: Data,
}

/// The points of a metric, by instrument kind.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    Sum {
        points: Vec<NumberPoint>,
        temporality: Temporality,
        monotonic: bool,
    },
    Gauge {
        points: Vec<NumberPoint>,
    },
    Histogram {
        points: Vec<HistogramPoint>,
        temporality: Temporality,
    },
    Exponential {
        points: Vec<ExponentialPoint>,
        temporality: Temporality,
    },
}

/// Attributes: string keys and string values (labels).
pub(crate) type Attributes = Vec<(String, String)>;

/// A number: counters are integers, costs are not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Double(f64),
}

/// A point of a sum or gauge.
#[derive(Debug, Clone)]
pub(crate) struct NumberPoint {
    pub(crate) attributes: Attributes,
    pub(crate) start: u64,
    pub(crate) time: u64,
    pub(crate) value: Number,
}

/// A recorded value that names its trace, and its span when known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) time: u64,
    pub(crate) value: f64,
    pub(crate) trace_id: u128,
    pub(crate) span_id: Option<u64>,
}

/// A point of an explicit-bucket histogram.
#[derive(Debug, Clone)]
pub(crate) struct HistogramPoint {
    pub(crate) attributes: Attributes,
    pub(crate) start: u64,
    pub(crate) time: u64,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    /// `bounds.len() + 1` counts.
    pub(crate) bounds: &'static [f64],
    pub(crate) counts: Vec<u64>,
    pub(crate) exemplars: Vec<Exemplar>,
}

/// A point of an exponential histogram (positive values only: latencies).
#[derive(Debug, Clone)]
pub(crate) struct ExponentialPoint {
    pub(crate) attributes: Attributes,
    pub(crate) start: u64,
    pub(crate) time: u64,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) scale: i32,
    pub(crate) zero_count: u64,
    pub(crate) zero_threshold: f64,
    /// The non-empty buckets, `(index, count)` by increasing index: at a
    /// fine scale most of the dense range OTLP sends is empty, and the
    /// encoders write those zeros as runs.
    pub(crate) buckets: Vec<(i32, u64)>,
    pub(crate) exemplars: Vec<Exemplar>,
}

impl Data {
    /// How many data points.
    pub(crate) fn points(&self) -> usize {
        match self {
            Data::Sum { points, .. } | Data::Gauge { points } => points.len(),
            Data::Histogram { points, .. } => points.len(),
            Data::Exponential { points, .. } => points.len(),
        }
    }
}

// ---------------------------------------------------------------------------
// Protobuf

// The primitives are the span encoder's (`proto.rs`); every field number
// of the metrics messages is below 16, so each key is one byte.

fn key(out: &mut Vec<u8>, field: u8, wire: u8) {
    out.push(proto::key(field, wire));
}

fn fixed64(out: &mut Vec<u8>, field: u8, v: u64) {
    proto::put_fixed64_always(out, field, v);
}

fn double(out: &mut Vec<u8>, field: u8, v: f64) {
    fixed64(out, field, v.to_bits());
}

fn varint(out: &mut Vec<u8>, field: u8, v: u64) {
    key(out, field, proto::VARINT);
    proto::put_varint(out, v);
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn string(out: &mut Vec<u8>, field: u8, s: &str) {
    proto::put_string_field(out, field, s);
}

/// A nested message: written after room for a two-byte length, which is
/// then filled in (the body moves only for a length of another width).
fn message(out: &mut Vec<u8>, field: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let at = proto::begin_len2(out, field);
    body(out);
    proto::end_len2(out, at);
}

fn attributes(out: &mut Vec<u8>, field: u8, attrs: &Attributes) {
    for (k, v) in attrs {
        message(out, field, |kv| {
            string(kv, 1, k);
            // AnyValue { string_value = 1 }, present even when empty.
            message(kv, 2, |any| {
                key(any, 1, proto::LEN);
                proto::put_varint(any, v.len() as u64);
                any.extend_from_slice(v.as_bytes());
            });
        });
    }
}

fn exemplars(out: &mut Vec<u8>, field: u8, list: &[Exemplar]) {
    for e in list {
        message(out, field, |m| {
            fixed64(m, 2, e.time);
            double(m, 3, e.value);
            if let Some(span_id) = e.span_id {
                key(m, 4, proto::LEN);
                proto::put_varint(m, 8);
                m.extend_from_slice(&span_id.to_be_bytes());
            }
            key(m, 5, proto::LEN);
            proto::put_varint(m, 16);
            m.extend_from_slice(&e.trace_id.to_be_bytes());
        });
    }
}

fn number_point(out: &mut Vec<u8>, p: &NumberPoint) {
    message(out, 1, |m| {
        fixed64(m, 2, p.start);
        fixed64(m, 3, p.time);
        match p.value {
            Number::Double(d) => double(m, 4, d),
            Number::Int(i) => fixed64(m, 6, i as u64),
        }
        attributes(m, 7, &p.attributes);
    });
}

fn histogram_point(out: &mut Vec<u8>, p: &HistogramPoint) {
    message(out, 1, |m| {
        fixed64(m, 2, p.start);
        fixed64(m, 3, p.time);
        fixed64(m, 4, p.count);
        double(m, 5, p.sum);
        message(m, 6, |c| {
            for n in &p.counts {
                c.extend_from_slice(&n.to_le_bytes());
            }
        });
        if !p.bounds.is_empty() {
            message(m, 7, |b| {
                for x in p.bounds {
                    b.extend_from_slice(&x.to_bits().to_le_bytes());
                }
            });
        }
        exemplars(m, 8, &p.exemplars);
        attributes(m, 9, &p.attributes);
        if let Some(min) = p.min {
            double(m, 11, min);
        }
        if let Some(max) = p.max {
            double(m, 12, max);
        }
    });
}

fn exponential_point(out: &mut Vec<u8>, p: &ExponentialPoint) {
    message(out, 1, |m| {
        attributes(m, 1, &p.attributes);
        fixed64(m, 2, p.start);
        fixed64(m, 3, p.time);
        fixed64(m, 4, p.count);
        double(m, 5, p.sum);
        varint(m, 6, zigzag(p.scale));
        fixed64(m, 7, p.zero_count);
        if let Some(&(offset, _)) = p.buckets.first() {
            message(m, 8, |b| {
                varint(b, 1, zigzag(offset));
                message(b, 2, |c| {
                    let mut next = offset;
                    for &(j, n) in &p.buckets {
                        // The empty buckets in between: zero bytes, in
                        // one go.
                        let gap = usize::try_from(j - next).unwrap_or(0);
                        c.resize(c.len() + gap, 0);
                        proto::put_varint(c, n);
                        next = j + 1;
                    }
                });
            });
        }
        exemplars(m, 11, &p.exemplars);
        if let Some(min) = p.min {
            double(m, 12, min);
        }
        if let Some(max) = p.max {
            double(m, 13, max);
        }
        double(m, 14, p.zero_threshold);
    });
}

/// `ExportMetricsServiceRequest` (the same bytes as `MetricsData`) for
/// `metrics` of `resource`, in agent-trace's scope, appended to `out`.
pub(crate) fn encode_protobuf(resource: &Resource, metrics: &[Metric], out: &mut Vec<u8>) {
    message(out, 1, |rm| {
        message(rm, 1, |r| {
            proto::put_attributes(r, 1, resource.attributes())
        });
        message(rm, 2, |sm| {
            message(sm, 1, |s| {
                string(s, 1, SCOPE_NAME);
                string(s, 2, SCOPE_VERSION);
            });
            for metric in metrics {
                message(sm, 2, |m| {
                    string(m, 1, &metric.name);
                    string(m, 2, metric.description);
                    string(m, 3, metric.unit);
                    match &metric.data {
                        Data::Gauge { points } => message(m, 5, |g| {
                            for p in points {
                                number_point(g, p);
                            }
                        }),
                        Data::Sum {
                            points,
                            temporality,
                            monotonic,
                        } => message(m, 7, |s| {
                            for p in points {
                                number_point(s, p);
                            }
                            varint(s, 2, *temporality as u64);
                            if *monotonic {
                                varint(s, 3, 1);
                            }
                        }),
                        Data::Histogram {
                            points,
                            temporality,
                        } => message(m, 9, |h| {
                            for p in points {
                                histogram_point(h, p);
                            }
                            varint(h, 2, *temporality as u64);
                        }),
                        Data::Exponential {
                            points,
                            temporality,
                        } => message(m, 10, |h| {
                            for p in points {
                                exponential_point(h, p);
                            }
                            varint(h, 2, *temporality as u64);
                        }),
                    }
                });
            }
        });
    });
}

// ---------------------------------------------------------------------------
// JSON (the OTLP/JSON mapping: lowerCamelCase names, 64-bit integers as
// decimal strings, trace ids as hex, enums as numbers)
#[cfg(feature = "otlp-http")]
pub(crate) use json_out::encode_json;

/// The JSON encoding (only OTLP/HTTP sends it).
#[cfg(feature = "otlp-http")]
mod json_out {
    use super::*;
    use crate::otlp::json;

    fn json_number(out: &mut Vec<u8>, v: f64) {
        if v.is_finite() {
            // serde_json's shortest round-trip form; writing to a `Vec`
            // cannot fail.
            let _ = serde_json::to_writer(&mut *out, &v);
        } else {
            // Not finite: the proto3 JSON spellings.
            out.extend_from_slice(if v.is_nan() {
                br#""NaN""#
            } else if v > 0.0 {
                br#""Infinity""#
            } else {
                br#""-Infinity""#
            });
        }
    }

    fn json_u64(out: &mut Vec<u8>, v: u64) {
        out.push(b'"');
        json::put_u64(out, v);
        out.push(b'"');
    }

    fn json_attributes(out: &mut Vec<u8>, attrs: &Attributes) {
        out.push(b'[');
        for (i, (k, v)) in attrs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"key":"#);
            json::put_str(out, k);
            out.extend_from_slice(br#","value":{"stringValue":"#);
            json::put_str(out, v);
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }

    fn json_exemplars(out: &mut Vec<u8>, list: &[Exemplar]) {
        out.extend_from_slice(br#","exemplars":["#);
        for (i, e) in list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"timeUnixNano":"#);
            json_u64(out, e.time);
            out.extend_from_slice(br#","asDouble":"#);
            json_number(out, e.value);
            out.extend_from_slice(br#","traceId":""#);
            json::put_hex(out, &e.trace_id.to_be_bytes());
            out.extend_from_slice(br#"","spanId":""#);
            if let Some(span_id) = e.span_id {
                json::put_hex(out, &span_id.to_be_bytes());
            }
            out.extend_from_slice(br#""}"#);
        }
        out.push(b']');
    }

    fn json_times(out: &mut Vec<u8>, start: u64, time: u64) {
        out.extend_from_slice(br#""startTimeUnixNano":"#);
        json_u64(out, start);
        out.extend_from_slice(br#","timeUnixNano":"#);
        json_u64(out, time);
    }

    fn json_min_max(out: &mut Vec<u8>, min: Option<f64>, max: Option<f64>) {
        if let Some(min) = min {
            out.extend_from_slice(br#","min":"#);
            json_number(out, min);
        }
        if let Some(max) = max {
            out.extend_from_slice(br#","max":"#);
            json_number(out, max);
        }
    }

    fn json_list<T>(out: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&mut Vec<u8>, &T)) {
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put(out, item);
        }
        out.push(b']');
    }

    /// A data point's opening: its attributes and times, the fields every
    /// kind of point starts with.
    fn json_point_head(out: &mut Vec<u8>, attributes: &Attributes, start: u64, time: u64) {
        out.extend_from_slice(br#"{"attributes":"#);
        json_attributes(out, attributes);
        out.push(b',');
        json_times(out, start, time);
    }

    fn json_number_point(out: &mut Vec<u8>, p: &NumberPoint) {
        json_point_head(out, &p.attributes, p.start, p.time);
        match p.value {
            Number::Double(d) => {
                out.extend_from_slice(br#","asDouble":"#);
                json_number(out, d);
            }
            Number::Int(i) => {
                out.extend_from_slice(br#","asInt":""#);
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'"');
            }
        }
        out.push(b'}');
    }

    fn json_histogram_point(out: &mut Vec<u8>, p: &HistogramPoint) {
        json_point_head(out, &p.attributes, p.start, p.time);
        out.extend_from_slice(br#","count":"#);
        json_u64(out, p.count);
        out.extend_from_slice(br#","sum":"#);
        json_number(out, p.sum);
        out.extend_from_slice(br#","bucketCounts":"#);
        json_list(out, &p.counts, |o, n| json_u64(o, *n));
        out.extend_from_slice(br#","explicitBounds":"#);
        json_list(out, p.bounds, |o, x| json_number(o, *x));
        json_exemplars(out, &p.exemplars);
        json_min_max(out, p.min, p.max);
        out.push(b'}');
    }

    fn json_exponential_point(out: &mut Vec<u8>, p: &ExponentialPoint) {
        json_point_head(out, &p.attributes, p.start, p.time);
        out.extend_from_slice(br#","count":"#);
        json_u64(out, p.count);
        out.extend_from_slice(br#","sum":"#);
        json_number(out, p.sum);
        out.extend_from_slice(br#","scale":"#);
        out.extend_from_slice(p.scale.to_string().as_bytes());
        out.extend_from_slice(br#","zeroCount":"#);
        json_u64(out, p.zero_count);
        out.extend_from_slice(br#","zeroThreshold":"#);
        json_number(out, p.zero_threshold);
        let offset = p.buckets.first().map_or(0, |b| b.0);
        out.extend_from_slice(br#","positive":{"offset":"#);
        out.extend_from_slice(offset.to_string().as_bytes());
        out.extend_from_slice(br#","bucketCounts":["#);
        let mut next = offset;
        for &(j, n) in &p.buckets {
            for _ in next..j {
                out.extend_from_slice(br#""0","#);
            }
            json_u64(out, n);
            out.push(b',');
            next = j + 1;
        }
        if !p.buckets.is_empty() {
            out.pop();
        }
        out.extend_from_slice(b"]}");
        json_exemplars(out, &p.exemplars);
        json_min_max(out, p.min, p.max);
        out.push(b'}');
    }

    /// The OTLP/JSON `ExportMetricsServiceRequest` for `metrics` of
    /// `resource`, appended to `out`.
    pub(crate) fn encode_json(resource: &Resource, metrics: &[Metric], out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"resourceMetrics":[{"resource":{"attributes":"#);
        json::put_attributes(out, resource.attributes());
        out.extend_from_slice(br#"},"scopeMetrics":[{"scope":{"name":"#);
        json::put_str(out, SCOPE_NAME);
        out.extend_from_slice(br#","version":"#);
        json::put_str(out, SCOPE_VERSION);
        out.extend_from_slice(br#"},"metrics":"#);
        json_list(out, metrics, |out, m| {
            out.extend_from_slice(br#"{"name":"#);
            json::put_str(out, &m.name);
            out.extend_from_slice(br#","description":"#);
            json::put_str(out, m.description);
            out.extend_from_slice(br#","unit":"#);
            json::put_str(out, m.unit);
            match &m.data {
                Data::Gauge { points } => {
                    out.extend_from_slice(br#","gauge":{"dataPoints":"#);
                    json_list(out, points, json_number_point);
                    out.push(b'}');
                }
                Data::Sum {
                    points,
                    temporality,
                    monotonic,
                } => {
                    out.extend_from_slice(br#","sum":{"dataPoints":"#);
                    json_list(out, points, json_number_point);
                    out.extend_from_slice(br#","aggregationTemporality":"#);
                    out.push(b'0' + *temporality as u8);
                    out.extend_from_slice(if *monotonic {
                        br#","isMonotonic":true}"#
                    } else {
                        br#","isMonotonic":false}"#
                    });
                }
                Data::Histogram {
                    points,
                    temporality,
                } => {
                    out.extend_from_slice(br#","histogram":{"dataPoints":"#);
                    json_list(out, points, json_histogram_point);
                    out.extend_from_slice(br#","aggregationTemporality":"#);
                    out.push(b'0' + *temporality as u8);
                    out.push(b'}');
                }
                Data::Exponential {
                    points,
                    temporality,
                } => {
                    out.extend_from_slice(br#","exponentialHistogram":{"dataPoints":"#);
                    json_list(out, points, json_exponential_point);
                    out.extend_from_slice(br#","aggregationTemporality":"#);
                    out.push(b'0' + *temporality as u8);
                    out.push(b'}');
                }
            }
            out.push(b'}');
        });
        out.extend_from_slice(b"}]}]}");
    }
}
