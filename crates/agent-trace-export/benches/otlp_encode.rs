//! OTLP encoding throughput: a batch of 512 realistic agent spans turned
//! into the protobuf bytes of one `ExportTraceServiceRequest`, ours next to
//! `opentelemetry-otlp`'s encoding of the same spans in the same run.
//!
//! `opentelemetry-otlp` encodes with `opentelemetry-proto`'s transform
//! (`group_spans_by_resource_and_scope` over `opentelemetry_sdk` span data)
//! and prost; the peer bench calls exactly that. Its transform consumes the
//! batch, so each iteration gets a fresh clone made outside the timing
//! (`iter_batched`); ours borrows the batch.
//!
//! `otlp_metrics_push_100_series`: what a metrics push costs the reader's
//! thread for 100 latency series (10 operations x 10 tools, 100 values
//! each, as `agent-trace-metrics`' `prometheus_render_100_series`): reading
//! every series' slots, building the exponential histograms and encoding
//! the protobuf request (`ours`; the network is not part of it), next to
//! our Prometheus render of the same series in the same run.
//!
//! ```text
//! cargo bench -p agent-trace-export --features otlp-proto --bench otlp_encode
//! ```

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_trace_core::{FinishedSpan, SpanKind};
use agent_trace_export::Resource;
use agent_trace_export::otlp::{ProtobufEncoder, to_request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind as OKind, Status as OStatus, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue as OKeyValue};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use prost::Message as _;

#[path = "support/agent_spans.rs"]
mod agent_spans;

use agent_spans::{BATCH, agent_spans};

/// The same spans as `opentelemetry_sdk` span data.
fn theirs(ours: &[FinishedSpan]) -> Vec<SpanData> {
    let scope = InstrumentationScope::builder("agent-trace")
        .with_version("0.1.0")
        .build();
    let time =
        |t: agent_trace_core::Timestamp| UNIX_EPOCH + Duration::from_nanos(t.as_unix_nanos());
    ours.iter()
        .map(|s| SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes(s.context.trace_id.to_bytes()),
                SpanId::from_bytes(s.context.span_id.to_bytes()),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: s
                .parent_span_id
                .map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.to_bytes())),
            parent_span_is_remote: false,
            span_kind: if s.kind == SpanKind::Client {
                OKind::Client
            } else {
                OKind::Internal
            },
            name: s.name.as_str().to_owned().into(),
            start_time: time(s.start_time),
            end_time: time(s.end_time),
            attributes: s
                .attributes
                .iter()
                .map(|kv| match &kv.value {
                    agent_trace_core::Value::I64(i) => {
                        OKeyValue::new(kv.key.as_str().to_owned(), *i)
                    }
                    agent_trace_core::Value::F64(f) => {
                        OKeyValue::new(kv.key.as_str().to_owned(), *f)
                    }
                    other => OKeyValue::new(
                        kv.key.as_str().to_owned(),
                        other.as_str().unwrap_or_default().to_owned(),
                    ),
                })
                .collect(),
            dropped_attributes_count: 0,
            events: {
                let mut e = SpanEvents::default();
                e.events = s
                    .events
                    .iter()
                    .map(|ev| {
                        opentelemetry::trace::Event::new(
                            ev.name.as_str().to_owned(),
                            time(ev.timestamp),
                            vec![OKeyValue::new("chunk", 1)],
                            0,
                        )
                    })
                    .collect();
                e
            },
            links: SpanLinks::default(),
            status: OStatus::Unset,
            instrumentation_scope: scope.clone(),
        })
        .collect()
}

fn otlp_encode_512(c: &mut Criterion) {
    let batch = agent_spans();
    let resource = Resource::new("research-agent").with_version("1.0.0");
    let sdk_batch = theirs(&batch);
    let sdk_resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("research-agent")
        .build();
    let sdk_resource = ResourceAttributesWithSchema::from(&sdk_resource);
    // Same spans, comparable sizes.
    let a = to_request(&batch, &resource).encode_to_vec().len();
    let b = group_spans_by_resource_and_scope(sdk_batch.clone(), &sdk_resource);
    assert_eq!(b[0].scope_spans[0].spans.len(), BATCH);
    let _ = SystemTime::now();

    let mut g = c.benchmark_group("otlp_encode_512_spans");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut encoder = ProtobufEncoder::new(&resource);
    let mut direct = Vec::new();
    encoder.encode(&batch, &mut direct);
    assert_eq!(direct, to_request(&batch, &resource).encode_to_vec());
    g.bench_function("ours", |bench| {
        bench.iter(|| {
            let mut out = Vec::new();
            encoder.encode(black_box(&batch), &mut out);
            out
        })
    });
    g.bench_function("ours_message_tree", |bench| {
        bench.iter(|| to_request(black_box(&batch), &resource).encode_to_vec())
    });
    g.bench_function("opentelemetry_otlp", |bench| {
        bench.iter_batched(
            || sdk_batch.clone(),
            |spans| {
                let resource_spans = group_spans_by_resource_and_scope(spans, &sdk_resource);
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
                    resource_spans,
                }
                .encode_to_vec()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    eprintln!("encoded sizes: ours {a} bytes");
}

fn otlp_metrics_push_100_series(c: &mut Criterion) {
    use std::sync::Arc;

    use agent_trace_export::otlp::metrics::OtlpMetricsExporter;
    use agent_trace_metrics::{LatencyMetrics, ManualClock, PrometheusRecorder};

    let series =
        || (0..10).flat_map(|op| (0..10).map(move |tool| (format!("op{op}"), format!("t{tool}"))));
    let prometheus = PrometheusRecorder::new();
    let prometheus_handle = prometheus.handle();
    let clock = Arc::new(ManualClock::new(1_700_000_000 * 1_000_000_000));
    let metrics = metrics::with_local_recorder(&prometheus, || {
        let m = LatencyMetrics::builder()
            .clock(clock.clone())
            .build()
            .expect("valid");
        for (op, tool) in series() {
            let s = m.series(&op, &[("tool", &tool)]);
            for i in 0..100 {
                s.record(0.001 * f64::from(i * i)).expect("valid");
            }
        }
        Arc::new(m)
    });
    clock.advance(Duration::from_secs(10));
    let exporter = OtlpMetricsExporter::builder()
        .endpoint("http://localhost:4318")
        .latency_metrics(metrics.clone())
        .build()
        .expect("valid");
    let mut body = Vec::new();
    assert_eq!(exporter.encode_for_bench(&mut body), 1);
    let request_bytes = body.len();
    assert!(request_bytes > 100 * 100, "{request_bytes}");

    let mut g = c.benchmark_group("otlp_metrics_push_100_series");
    g.bench_function("ours", |b| {
        b.iter(|| {
            body.clear();
            exporter.encode_for_bench(&mut body)
        })
    });
    g.bench_function("ours_prometheus_render", |b| {
        b.iter(|| prometheus_handle.render())
    });
    g.finish();
}

criterion_group!(benches, otlp_encode_512, otlp_metrics_push_100_series);
criterion_main!(benches);
