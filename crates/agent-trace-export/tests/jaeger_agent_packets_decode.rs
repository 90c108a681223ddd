//! The Jaeger agent exporter's UDP packets are what the official Jaeger IDL
//! describes, and a large batch is split into datagrams under the size
//! limit without losing a span.
//!
//! The first test decodes the packets with an implementation that is not
//! ours: `tests/jaeger/decode.py`, thriftpy2's compact protocol with the
//! IDL files of jaeger-idl copied verbatim. It needs Python with thriftpy2
//! (`scripts/install-e2e-deps.sh python`), so it is compiled only with the
//! test-only feature `e2e-tests`, which `cargo xtask e2e` turns on. The interpreter is `AGENT_TRACE_PYTHON` if set,
//! else the repository's `.venv-e2e/bin/python` if it exists, else
//! `python3`.
#![cfg(feature = "jaeger")]
#![cfg_attr(
    not(feature = "e2e-tests"),
    allow(
        dead_code,
        unused_imports,
        reason = "the helpers serve the tests behind `e2e-tests`"
    )
)]

mod support;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_trace_core::{
    AgentStepTracer, FinishedSpan, InstrumentationScope, KeyValue, SpanContext, SpanId, SpanKind,
    Status, TraceFlags, TraceId,
};
use agent_trace_export::{
    ExportOutcome, JaegerAgentExporter, Resource, SCOPE_NAME, SCOPE_VERSION, SpanExporter,
};
use serde_json::{Value as Json, json};
use support::{Collect, known_trace};

/// A tracer whose finished spans land in the returned collector.
fn tracer() -> (AgentStepTracer, Collect) {
    let collect = Collect::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(collect.clone()))
        .without_store()
        .build();
    (tracer, collect)
}

fn take(collect: &Collect) -> Vec<FinishedSpan> {
    std::mem::take(&mut *collect.0.lock().unwrap())
}

/// A loopback socket standing in for the agent, and an exporter sending to
/// it.
fn agent_and_exporter(
    resource: Resource,
    max_packet_size: usize,
) -> (UdpSocket, JaegerAgentExporter) {
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let exporter = JaegerAgentExporter::builder()
        .agent_endpoint("127.0.0.1", agent.local_addr().unwrap().port())
        .resource(resource)
        .max_packet_size(max_packet_size)
        .build()
        .unwrap();
    (agent, exporter)
}

/// Every datagram waiting on `agent`. Loopback delivery happens within the
/// sender's `send`, so after `export` returns they are all queued.
fn datagrams(agent: &UdpSocket) -> Vec<Vec<u8>> {
    agent.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0; 65_536];
    loop {
        match agent.recv(&mut buf) {
            Ok(n) => out.push(buf[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return out,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// The trace id as Jaeger's `(low, high)`, computed here independently.
fn trace_id_halves(id: TraceId) -> (i64, i64) {
    let v = id.to_u128();
    (v as u64 as i64, (v >> 64) as u64 as i64)
}

fn span_id(id: SpanId) -> i64 {
    id.to_u64() as i64
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("agent-trace-jaeger-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("AGENT_TRACE_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-e2e/bin/python");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

/// Runs `tests/jaeger/decode.py` on the packets; its JSON output.
fn decode_with_thriftpy2(packets: &[Vec<u8>]) -> Json {
    let dir = TempDir::new();
    let files: Vec<PathBuf> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = dir.0.join(format!("packet-{i}.bin"));
            std::fs::write(&path, p).unwrap();
            path
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jaeger/decode.py");
    let python = python();
    let output = Command::new(&python)
        .arg(&script)
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "decode.py failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A tag as decoded, reduced to its key and typed value.
fn tag(key: &str, v_type: i64, value: Json) -> (String, Json) {
    let field = match v_type {
        0 => "vStr",
        1 => "vDouble",
        2 => "vBool",
        3 => "vLong",
        _ => unreachable!(),
    };
    let mut t = serde_json::Map::new();
    t.insert("vType".to_owned(), json!(v_type));
    t.insert(field.to_owned(), value);
    (key.to_owned(), Json::Object(t))
}

fn s(key: &str, v: &str) -> (String, Json) {
    tag(key, 0, json!(v))
}

/// Decoded tags as `key -> {vType, value}`, refusing duplicate keys.
fn tags(decoded: &Json) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for t in decoded.as_array().expect("a list of tags") {
        let mut t = t.as_object().unwrap().clone();
        let key = t.remove("key").unwrap().as_str().unwrap().to_owned();
        assert!(
            out.insert(key.clone(), Json::Object(t)).is_none(),
            "tag {key} twice"
        );
    }
    out
}

/// `t0` plus some microseconds and nanoseconds.
fn at(t0: SystemTime, micros: u64, nanos: u64) -> SystemTime {
    t0 + Duration::from_micros(micros) + Duration::from_nanos(nanos)
}

#[test]
// Needs python3 with thriftpy2 (scripts/install-e2e-deps.sh): compiled
// with the test-only feature `e2e-tests`, which `cargo xtask e2e` turns on.
#[cfg(feature = "e2e-tests")]
fn packets_decode_with_the_official_idl_into_the_known_trace() {
    // 2023-11-14T22:13:20.123456789Z: the nanoseconds check that times are
    // cut, not rounded, to microseconds.
    let t0 = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
    let linked = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
    );

    let (tracer, collect) = tracer();
    let mut root = tracer
        .trace_builder("agent_task")
        .kind(SpanKind::Server)
        .agent_id("agent-001")
        .attribute("task.priority", 2)
        .start_time(t0)
        .start();
    let mut child = tracer
        .span_builder("llm_call")
        .parent(&root)
        .kind(SpanKind::Client)
        .link(linked.clone(), [KeyValue::new("link.reason", "retry")])
        .start_time(at(t0, 1_000, 0))
        // A library's span (as the OpenTelemetry bridge records them):
        // its scope, not agent-trace's, in the tags.
        .scope(Arc::new(
            InstrumentationScope::new("llm-client").with_version("2.1.0"),
        ))
        .start();
    child.set_attribute("model", "gpt-4");
    child.set_attribute("tokens", 150);
    child.set_attribute("temperature", 0.25);
    child.set_attribute("streaming", true);
    child.set_attribute("stop_sequences", vec!["stop", "\"end\""]);
    child.set_attribute("token_counts", vec![3_i64, -4]);
    child.add_event(
        "first_token",
        [
            KeyValue::new("latency_ms", 180),
            KeyValue::new("cached", false),
        ],
    );
    child.set_status(Status::error("rate limited"));
    child.end_with_time(at(t0, 251_000, 999));
    root.set_status(Status::Ok);
    root.end_with_time(at(t0, 300_000, 500));
    let spans = take(&collect);
    assert_eq!(spans.len(), 2);
    let (child, root) = (&spans[0], &spans[1]);
    assert_eq!(child.name, "llm_call");

    let resource = Resource::new("research-agent")
        .with_version("1.4.0")
        .with_attribute(KeyValue::new("host.cores", 8))
        .with_attribute(KeyValue::new("deployment.canary", true));
    let (agent, mut exporter) = agent_and_exporter(resource, 65_000);
    assert_eq!(exporter.export(&spans).unwrap(), ExportOutcome::ACCEPTED);
    let packets = datagrams(&agent);
    assert_eq!(packets.len(), 1, "two small spans fit one packet");

    let decoded = decode_with_thriftpy2(&packets);
    let packet = &decoded["packets"][0];
    assert_eq!(packet["method"], "emitBatch");
    assert_eq!(packet["message_type"], 4, "oneway");
    assert_eq!(packet["seqid"], 1);
    let batch = &packet["batch"];
    assert_eq!(batch["seqNo"], 1);
    assert_eq!(
        batch["stats"],
        json!({"fullQueueDroppedSpans": 0, "tooLargeDroppedSpans": 0, "failedToEmitSpans": 0})
    );

    // The process: the resource, service.name as the service name.
    assert_eq!(batch["process"]["serviceName"], "research-agent");
    assert_eq!(
        tags(&batch["process"]["tags"]),
        BTreeMap::from([
            s("telemetry.sdk.name", "agent-trace"),
            s("telemetry.sdk.language", "rust"),
            s("telemetry.sdk.version", SCOPE_VERSION),
            s("service.version", "1.4.0"),
            tag("host.cores", 3, json!(8)),
            tag("deployment.canary", 2, json!(true)),
        ])
    );

    let decoded_spans = batch["spans"].as_array().unwrap();
    assert_eq!(decoded_spans.len(), 2);
    let (low, high) = trace_id_halves(root.context.trace_id);
    let scope = [
        s("otel.scope.name", SCOPE_NAME),
        s("otel.scope.version", SCOPE_VERSION),
    ];

    // The child: typed tags, an error, a log, a parent and a link.
    let c = &decoded_spans[0];
    assert_eq!(c["operationName"], "llm_call");
    assert_eq!(c["traceIdLow"], low);
    assert_eq!(c["traceIdHigh"], high);
    assert_eq!(c["spanId"], span_id(child.context.span_id));
    assert_eq!(c["parentSpanId"], span_id(root.context.span_id));
    assert_eq!(c["flags"], 1);
    assert_eq!(c["startTime"], 1_700_000_000_124_456_i64);
    // Microsecond times are cut, so the duration is their difference.
    assert_eq!(
        c["duration"],
        1_700_000_000_374_457_i64 - 1_700_000_000_124_456
    );
    let (linked_low, linked_high) = trace_id_halves(linked.trace_id);
    assert_eq!(
        c["references"],
        json!([
            {"refType": 0, "traceIdLow": low, "traceIdHigh": high,
             "spanId": span_id(root.context.span_id)},
            {"refType": 1, "traceIdLow": linked_low, "traceIdHigh": linked_high,
             "spanId": span_id(linked.span_id)},
        ])
    );
    let expected = BTreeMap::from([
        s("model", "gpt-4"),
        tag("tokens", 3, json!(150)),
        tag("temperature", 1, json!(0.25)),
        tag("streaming", 2, json!(true)),
        s("stop_sequences", r#"["stop","\"end\""]"#),
        s("token_counts", "[3,-4]"),
        s("span.kind", "client"),
        s("otel.status_code", "ERROR"),
        tag("error", 2, json!(true)),
        s("otel.status_description", "rate limited"),
        s("otel.scope.name", "llm-client"),
        s("otel.scope.version", "2.1.0"),
    ]);
    assert_eq!(tags(&c["tags"]), expected);
    let event_time = child.events[0].timestamp.as_unix_nanos() / 1_000;
    assert_eq!(c["logs"].as_array().unwrap().len(), 1);
    assert_eq!(c["logs"][0]["timestamp"], event_time);
    assert_eq!(
        tags(&c["logs"][0]["fields"]),
        BTreeMap::from([
            s("event", "first_token"),
            tag("latency_ms", 3, json!(180)),
            tag("cached", 2, json!(false)),
        ])
    );

    // The root: no parent, no references, no logs.
    let r = &decoded_spans[1];
    assert_eq!(r["operationName"], "agent_task");
    assert_eq!(r["traceIdLow"], low);
    assert_eq!(r["traceIdHigh"], high);
    assert_eq!(r["spanId"], span_id(root.context.span_id));
    assert_eq!(r["parentSpanId"], 0);
    assert_eq!(r["flags"], 1);
    assert_eq!(r["startTime"], 1_700_000_000_123_456_i64);
    // 300 ms and 500 ns after a start 789 ns into its microsecond.
    assert_eq!(
        r["duration"],
        1_700_000_000_423_457_i64 - 1_700_000_000_123_456
    );
    assert!(r.get("references").is_none(), "{r}");
    assert!(r.get("logs").is_none(), "{r}");
    let mut expected = BTreeMap::from([
        s("gen_ai.agent.id", "agent-001"),
        tag("task.priority", 3, json!(2)),
        s("span.kind", "server"),
        s("otel.status_code", "OK"),
    ]);
    expected.extend(scope);
    assert_eq!(tags(&r["tags"]), expected);
}

#[test]
// Needs python3 with thriftpy2 (scripts/install-e2e-deps.sh): compiled
// with the test-only feature `e2e-tests`, which `cargo xtask e2e` turns on.
#[cfg(feature = "e2e-tests")]
fn the_shared_known_trace_decodes_with_remote_parent_drops_and_exception() {
    let known = known_trace();
    let (agent, mut exporter) = agent_and_exporter(Resource::new("chat-service"), 65_000);
    assert_eq!(
        exporter.export(&known.spans).unwrap(),
        ExportOutcome::ACCEPTED
    );
    let decoded = decode_with_thriftpy2(&datagrams(&agent));
    let spans = decoded["packets"][0]["batch"]["spans"].as_array().unwrap();
    let names: Vec<&str> = spans
        .iter()
        .map(|s| s["operationName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tool_call", "llm_call", "POST /chat"]);
    let (tool, llm, server) = (&spans[0], &spans[1], &spans[2]);

    // Trace 4bf92f3577b34da6a3ce929d0e0e4736: the low half has its top bit
    // set, so it is negative as Jaeger's signed i64.
    let (high, low) = (0x4bf9_2f35_77b3_4da6_i64, 0xa3ce_929d_0e0e_4736_u64 as i64);
    assert!(low < 0);
    for s in spans {
        assert_eq!(
            (&s["traceIdHigh"], &s["traceIdLow"]),
            (&json!(high), &json!(low))
        );
    }
    // The server span's parent is the remote caller's span.
    assert_eq!(server["parentSpanId"], 0x00f0_67aa_0ba9_02b7_i64);
    assert_eq!(
        server["references"],
        json!([{"refType": 0, "traceIdLow": low, "traceIdHigh": high,
                "spanId": 0x00f0_67aa_0ba9_02b7_i64}])
    );
    assert_eq!(
        tags(&server["tags"])["span.kind"],
        json!({"vType": 0, "vStr": "server"})
    );

    // The LLM call: one attribute over the limit, a link to another trace.
    let llm_tags = tags(&llm["tags"]);
    assert_eq!(
        llm_tags["otel.dropped_attributes_count"],
        json!({"vType": 3, "vLong": 1})
    );
    assert!(!llm_tags.contains_key("over_the_limit"));
    assert_eq!(
        llm_tags["stop"],
        json!({"vType": 0, "vStr": r#"["\n\n","END"]"#})
    );
    assert_eq!(
        llm_tags["otel.status_code"],
        json!({"vType": 0, "vStr": "OK"})
    );
    assert!(!llm_tags.contains_key("error"));
    assert_eq!(
        llm["references"][1],
        json!({"refType": 1,
               "traceIdHigh": 0x0af7_6519_16cd_43dd_i64,
               "traceIdLow": 0x8448_eb21_1c80_319c_u64 as i64,
               "spanId": 0xb7ad_6b71_6920_3331_u64 as i64})
    );

    // The failed tool call: an error, and the exception as a log.
    let tool_tags = tags(&tool["tags"]);
    assert_eq!(tool_tags["error"], json!({"vType": 2, "vBool": true}));
    assert_eq!(
        tool_tags["otel.status_description"],
        json!({"vType": 0, "vStr": "search backend down"})
    );
    let fields = tags(&tool["logs"][0]["fields"]);
    assert_eq!(fields["event"], json!({"vType": 0, "vStr": "exception"}));
    assert_eq!(
        fields["exception.message"],
        json!({"vType": 0, "vStr": "search backend down"})
    );
    assert!(fields.contains_key("exception.type"));
}

/// Just enough of a compact-protocol reader to walk a packet: the span
/// count, `seqNo` and `stats.tooLargeDroppedSpans` of its batch, checking on
/// the way that every byte belongs to a well-formed message.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes[self.pos];
        self.pos += 1;
        b
    }

    fn varint(&mut self) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    fn zigzag(&mut self) -> i64 {
        let v = self.varint();
        (v >> 1) as i64 ^ -((v & 1) as i64)
    }

    /// The next field's `(id, type)`, or `None` at the struct's end.
    fn field(&mut self, last_id: &mut i64) -> Option<(i64, u8)> {
        let h = self.byte();
        if h == 0 {
            return None;
        }
        let delta = i64::from(h >> 4);
        *last_id = if delta == 0 {
            self.zigzag()
        } else {
            *last_id + delta
        };
        Some((*last_id, h & 0x0f))
    }

    fn list_header(&mut self) -> (usize, u8) {
        let h = self.byte();
        let n = match h >> 4 {
            15 => self.varint() as usize,
            n => usize::from(n),
        };
        (n, h & 0x0f)
    }

    fn skip(&mut self, ty: u8) {
        match ty {
            1 | 2 => {}
            3 => self.pos += 1,
            4..=6 => {
                self.varint();
            }
            7 => self.pos += 8,
            8 => {
                let n = self.varint() as usize;
                self.pos += n;
            }
            9 | 10 => {
                let (n, elem) = self.list_header();
                for _ in 0..n {
                    // Bools in lists take a byte each.
                    if elem == 1 || elem == 2 {
                        self.pos += 1;
                    } else {
                        self.skip(elem);
                    }
                }
            }
            12 => {
                let mut last = 0;
                while let Some((_, t)) = self.field(&mut last) {
                    self.skip(t);
                }
            }
            other => panic!("type {other} not expected in a Jaeger packet"),
        }
    }
}

/// What the split test reads from one packet.
#[derive(Debug)]
struct PacketSummary {
    spans: usize,
    seq_no: i64,
    too_large_dropped: i64,
}

fn summarize(packet: &[u8]) -> PacketSummary {
    let mut r = Reader {
        bytes: packet,
        pos: 0,
    };
    assert_eq!(r.byte(), 0x82, "compact protocol id");
    assert_eq!(r.byte(), 0x81, "version 1, oneway");
    r.varint();
    let name_len = r.varint() as usize;
    assert_eq!(&packet[r.pos..r.pos + name_len], b"emitBatch");
    r.pos += name_len;
    let mut args_last = 0;
    assert_eq!(r.field(&mut args_last), Some((1, 12)), "args.batch");
    let (mut spans, mut seq_no, mut too_large_dropped) = (None, None, None);
    let mut last = 0;
    while let Some((id, ty)) = r.field(&mut last) {
        match (id, ty) {
            (2, 9) => {
                let (n, elem) = r.list_header();
                assert_eq!(elem, 12, "a list of structs");
                for _ in 0..n {
                    r.skip(12);
                }
                spans = Some(n);
            }
            (3, 6) => seq_no = Some(r.zigzag()),
            (4, 12) => {
                let mut stats_last = 0;
                while let Some((id, ty)) = r.field(&mut stats_last) {
                    assert_eq!(ty, 6);
                    let v = r.zigzag();
                    if id == 2 {
                        too_large_dropped = Some(v);
                    }
                }
            }
            (_, ty) => r.skip(ty),
        }
    }
    assert_eq!(r.field(&mut args_last), None, "args end after the batch");
    assert_eq!(r.pos, packet.len(), "no trailing bytes");
    PacketSummary {
        spans: spans.expect("a spans list"),
        seq_no: seq_no.expect("a seqNo"),
        too_large_dropped: too_large_dropped.expect("stats"),
    }
}

#[test]
fn large_batches_split_into_datagrams_under_the_limit() {
    const MAX: usize = 2_000;
    const SPANS: usize = 40;
    let (tracer, collect) = tracer();
    let root = tracer.start_trace("agent_task");
    for i in 0..SPANS {
        let mut span = tracer.span_builder("tool_call").parent(&root).start();
        span.set_attribute("tool.output", format!("{i:03}").repeat(100));
        span.end();
    }
    // Alone bigger than a packet: dropped and reported, not sent.
    let mut huge = tracer.span_builder("huge").parent(&root).start();
    huge.set_attribute("blob", "x".repeat(MAX));
    huge.end();
    root.end();
    let spans = take(&collect);
    assert_eq!(spans.len(), SPANS + 2);

    let (agent, mut exporter) = agent_and_exporter(Resource::new("splitter"), MAX);
    assert_eq!(exporter.export(&spans).unwrap(), ExportOutcome::partial(1));
    let packets = datagrams(&agent);
    assert!(packets.len() > 1, "{} packets", packets.len());

    let summaries: Vec<PacketSummary> = packets.iter().map(|p| summarize(p)).collect();
    for (i, (p, sum)) in packets.iter().zip(&summaries).enumerate() {
        assert!(p.len() <= MAX, "packet {i} has {} bytes", p.len());
        assert_eq!(
            sum.seq_no,
            i as i64 + 1,
            "packets numbered in order, none lost"
        );
        assert!(sum.spans > 0);
    }
    let sent: usize = summaries.iter().map(|s| s.spans).sum();
    assert_eq!(sent, spans.len() - 1, "every span but the huge one");
    // The too-large span is counted before the packet that follows it.
    assert_eq!(summaries.last().unwrap().too_large_dropped, 1);

    // Numbering goes on across exports.
    assert_eq!(
        exporter.export(&spans[..1]).unwrap(),
        ExportOutcome::ACCEPTED
    );
    let next = datagrams(&agent);
    assert_eq!(next.len(), 1);
    assert_eq!(summarize(&next[0]).seq_no, packets.len() as i64 + 1);

    exporter.shutdown().unwrap();
    assert!(exporter.export(&spans[..1]).is_err());
}
