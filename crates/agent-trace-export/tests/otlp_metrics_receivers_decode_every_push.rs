//! Metrics over OTLP, received by real receivers built from the official
//! protobuf definitions: a tonic gRPC server from `opentelemetry-proto`'s
//! generated `MetricsService`, and an axum HTTP server that decodes
//! protobuf with prost and JSON with the generated types' serde. Every push
//! is decoded with those types, never with our encoder.
#![cfg(all(feature = "otlp-http", feature = "otlp-grpc"))]

use std::collections::{BTreeMap, VecDeque};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_trace_export::otlp::metrics::{
    LatencyHistogram, MetricsTemporality, OtlpMetricsExporter, PeriodicMetricsReader,
    scale_for_accuracy,
};
use agent_trace_export::{Diagnostics, ExportEvent, OtlpProtocol, Resource};
use agent_trace_metrics::{
    EXPORT_FAILURE_TOTAL, LatencyMetrics, ManualClock, Quantile, TracerMetrics,
};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, Metric, metric::Data, number_data_point,
};
use prost::Message as _;

/// 2023-11-14T22:13:20Z.
const START: u64 = 1_700_000_000 * 1_000_000_000;

// ---- receivers -------------------------------------------------------------

#[derive(Clone, Default)]
struct HttpReceiver {
    /// Each request's headers and decoded body.
    got: Arc<Mutex<Vec<(HeaderMap, ExportMetricsServiceRequest)>>>,
    /// Statuses to answer with, in order; 200 when empty.
    statuses: Arc<Mutex<VecDeque<StatusCode>>>,
    /// What a 200 answers.
    response: Arc<Mutex<ExportMetricsServiceResponse>>,
}

fn start_http(receiver: HttpReceiver) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let r = receiver.clone();
            async move {
                let status = r
                    .statuses
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(StatusCode::OK);
                if status != StatusCode::OK {
                    return (status, Vec::new());
                }
                let gz = headers.get("content-encoding").is_some_and(|v| v == "gzip");
                let body = if gz {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                } else {
                    body.to_vec()
                };
                let json = headers
                    .get("content-type")
                    .is_some_and(|v| v == "application/json");
                let request: ExportMetricsServiceRequest = if json {
                    serde_json::from_slice(&body)
                        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
                } else {
                    ExportMetricsServiceRequest::decode(body.as_slice()).unwrap()
                };
                r.got.lock().unwrap().push((headers, request));
                let response = r.response.lock().unwrap().clone();
                let bytes = if json {
                    serde_json::to_vec(&response).unwrap()
                } else {
                    response.encode_to_vec()
                };
                (StatusCode::OK, bytes)
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, addr)
}

#[derive(Clone, Default)]
struct GrpcReceiver {
    got: Arc<Mutex<Vec<(ExportMetricsServiceRequest, tonic::metadata::MetadataMap)>>>,
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let metadata = request.metadata().clone();
        self.got
            .lock()
            .unwrap()
            .push((request.into_inner(), metadata));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn start_grpc(receiver: GrpcReceiver) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let incoming = rt
        .block_on(async {
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        })
        .unwrap();
    let addr = incoming.local_addr().unwrap();
    let service = MetricsServiceServer::new(receiver)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    (rt, addr)
}

// ---- helpers ---------------------------------------------------------------

fn metrics_on(clock: &Arc<ManualClock>, accuracy: f64) -> Arc<LatencyMetrics> {
    Arc::new(
        LatencyMetrics::builder()
            .clock(clock.clone())
            .relative_accuracy(accuracy)
            .metrics_facade(false)
            .build()
            .unwrap(),
    )
}

fn all_metrics(request: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .collect()
}

fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> Option<&'a Metric> {
    all_metrics(request).into_iter().find(|m| m.name == name)
}

fn attr(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<String> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            V::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// The exponential points of `agent_trace_operation_duration`, by their
/// attributes, and the temporality.
fn exponential_points(
    request: &ExportMetricsServiceRequest,
) -> (BTreeMap<String, ExponentialHistogramDataPoint>, i32) {
    let Some(m) = metric(request, "agent_trace_operation_duration") else {
        return (BTreeMap::new(), 0);
    };
    assert_eq!(m.unit, "s");
    let Some(Data::ExponentialHistogram(h)) = &m.data else {
        panic!("not an exponential histogram: {m:?}")
    };
    let points = h
        .data_points
        .iter()
        .map(|p| {
            let mut attrs: Vec<String> = p
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, attr(&p.attributes, &kv.key).unwrap()))
                .collect();
            attrs.sort();
            (attrs.join(","), p.clone())
        })
        .collect();
    (points, h.aggregation_temporality)
}

fn int_sum(request: &ExportMetricsServiceRequest, name: &str) -> Option<(i64, u64, i32)> {
    let m = metric(request, name)?;
    let Some(Data::Sum(s)) = &m.data else {
        panic!("{name} is not a sum")
    };
    let p = s.data_points.first()?;
    let Some(number_data_point::Value::AsInt(v)) = p.value else {
        panic!("{name} is not an integer")
    };
    Some((v, p.start_time_unix_nano, s.aggregation_temporality))
}

/// `base^index`, the lower bound of OTLP bucket `index` at `scale`.
fn bucket_lower(index: i32, scale: i32) -> f64 {
    (f64::from(index) * 2f64.powi(-scale)).exp2()
}

/// A backend's quantile from a decoded point: the nearest-rank bucket's
/// harmonic mean, the exact minimum and maximum at the first and last
/// rank, clamped to them (as our own sketch answers).
fn backend_quantile(p: &ExponentialHistogramDataPoint, q: f64) -> f64 {
    let n = p.count;
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    let (min, max) = (p.min.unwrap(), p.max.unwrap());
    if rank == 1 {
        return min;
    }
    if rank == n {
        return max;
    }
    if rank <= p.zero_count {
        return 0.0;
    }
    let mut remaining = rank - p.zero_count;
    let b = p.positive.as_ref().unwrap();
    for (k, &c) in b.bucket_counts.iter().enumerate() {
        if c >= remaining {
            let j = b.offset + k as i32;
            let (lo, hi) = (bucket_lower(j, p.scale), bucket_lower(j + 1, p.scale));
            return (2.0 * lo * hi / (lo + hi)).clamp(min, max);
        }
        remaining -= c;
    }
    max
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b { 0.0 } else { (a - b).abs() / b.abs() }
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.uniform()).exp()
    }
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

type Gen = fn(&mut Rng) -> f64;

/// The accuracy tests' distributions (`agent-trace-metrics`'
/// `tests/quantiles_stay_within_the_relative_error.rs`).
const DISTRIBUTIONS: &[(&str, Gen)] = &[
    ("uniform 0.1..30 s", |r| r.range(0.1, 30.0)),
    ("log-normal heavy tail", |r| (-0.2 + 1.5 * r.normal()).exp()),
    ("bimodal cache hits and LLM calls", |r| {
        if r.uniform() < 0.7 {
            (0.002 * (1.0 + 0.2 * r.normal())).abs() + 1e-6
        } else {
            (3.0 * (1.0 + 0.3 * r.normal())).abs() + 1e-3
        }
    }),
    ("constant", |_| 0.25),
    ("1 microsecond to 10 minutes", |r| r.log_range(1e-6, 600.0)),
    ("with zeros", |r| {
        if r.uniform() < 0.05 {
            0.0
        } else {
            r.range(0.0, 2.0)
        }
    }),
];

// ---- tests -----------------------------------------------------------------

/// One push with labelled series, exemplars and the tracer's counters,
/// over each transport: every field the official types decode.
#[test]
fn every_transport_delivers_a_push_the_official_types_decode() {
    let clock = Arc::new(ManualClock::new(START));
    let latencies = metrics_on(&clock, 0.01);
    let tracer = TracerMetrics::new();
    tracer.span_started(true);
    tracer.span_started(false);
    tracer.export_failure("otlp").add(3);

    let http = HttpReceiver::default();
    let (_rt, http_addr) = start_http(http.clone());
    let grpc = GrpcReceiver::default();
    let (_grpc_rt, grpc_addr) = start_grpc(grpc.clone());

    let cases: [(OtlpProtocol, String, bool); 4] = [
        (
            OtlpProtocol::HttpProtobuf,
            format!("http://{http_addr}"),
            false,
        ),
        (
            OtlpProtocol::HttpProtobuf,
            format!("http://{http_addr}/v1/metrics"),
            true,
        ),
        (OtlpProtocol::HttpJson, format!("http://{http_addr}"), false),
        (OtlpProtocol::Grpc, format!("http://{grpc_addr}"), true),
    ];
    for (i, (protocol, endpoint, gzip)) in cases.iter().enumerate() {
        latencies
            .record_labelled_with_exemplar(
                "tool_call",
                &[("tool", "search")],
                0.5,
                (0xabc + i as u128, 0x5000 + i as u64),
            )
            .unwrap();
        latencies.record("llm_call", 1.25).unwrap();
        latencies.record("llm_call", 0.0).unwrap();
        clock.advance(Duration::from_secs(7));
        let mut exporter = OtlpMetricsExporter::builder()
            .protocol(*protocol)
            .endpoint(endpoint.clone())
            .gzip(*gzip)
            .header("Authorization", "Bearer s3cret")
            .resource(Resource::new("research-agent").with_version("1.2.3"))
            .latency_metrics(latencies.clone())
            .tracer_metrics(tracer.clone())
            .build()
            .unwrap();
        assert!(!format!("{exporter:?}").contains("s3cret"));
        let outcome = exporter.push().unwrap();
        // Two latency series, spans, traces, export failures, active spans.
        assert_eq!(outcome.data_points, 6, "{protocol:?}");
        assert_eq!(outcome.rejected_data_points, 0);
    }

    let mut requests: Vec<ExportMetricsServiceRequest> = http
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, r)| r.clone())
        .collect();
    requests.extend(grpc.got.lock().unwrap().iter().map(|(r, _)| r.clone()));
    assert_eq!(requests.len(), 4);
    {
        let got = http.got.lock().unwrap();
        assert_eq!(got[0].0["content-type"], "application/x-protobuf");
        assert!(got[0].0.get("content-encoding").is_none());
        assert_eq!(got[1].0["content-encoding"], "gzip");
        assert_eq!(got[2].0["content-type"], "application/json");
        assert_eq!(got[0].0["authorization"], "Bearer s3cret");
        let grpc_got = grpc.got.lock().unwrap();
        assert_eq!(
            grpc_got[0]
                .1
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer s3cret")
        );
    }
    for (i, request) in requests.iter().enumerate() {
        let rm = &request.resource_metrics[0];
        let res = rm.resource.as_ref().unwrap();
        assert_eq!(
            attr(&res.attributes, "service.name").as_deref(),
            Some("research-agent")
        );
        assert_eq!(
            attr(&res.attributes, "service.version").as_deref(),
            Some("1.2.3")
        );
        let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "agent-trace");
        assert_eq!(scope.version, agent_trace_export::SCOPE_VERSION);

        let (points, temporality) = exponential_points(request);
        assert_eq!(temporality, AggregationTemporality::Cumulative as i32);
        let n = i as u64 + 1;
        let tool = &points["operation=tool_call,tool=search"];
        assert_eq!(tool.count, n);
        assert_eq!(tool.sum, Some(0.5 * n as f64));
        assert_eq!((tool.min, tool.max), (Some(0.5), Some(0.5)));
        assert_eq!(tool.scale, 8);
        assert_eq!(tool.start_time_unix_nano, START);
        assert_eq!(tool.time_unix_nano, START + 7_000_000_000 * n);
        let b = tool.positive.as_ref().unwrap();
        assert_eq!(b.bucket_counts.iter().sum::<u64>(), n);
        let j = b.offset + b.bucket_counts.iter().position(|&c| c > 0).unwrap() as i32;
        assert!(bucket_lower(j, 8) < 0.5 * 1.01 && 0.5 * 0.99 <= bucket_lower(j + 1, 8));
        // Each push's exemplar: the trace ids recorded since the last one
        // (a fresh exporter here sees every one so far).
        let traces: Vec<Vec<u8>> = tool.exemplars.iter().map(|e| e.trace_id.clone()).collect();
        assert!(
            traces.contains(&(0xabc + i as u128).to_be_bytes().to_vec()),
            "{traces:?}"
        );
        // With the span id of the span the value was measured on.
        let spans: Vec<(Vec<u8>, Vec<u8>)> = tool
            .exemplars
            .iter()
            .map(|e| (e.trace_id.clone(), e.span_id.clone()))
            .collect();
        assert!(
            spans.contains(&(
                (0xabc + i as u128).to_be_bytes().to_vec(),
                (0x5000 + i as u64).to_be_bytes().to_vec()
            )),
            "{spans:?}"
        );
        let llm = &points["operation=llm_call"];
        assert_eq!(
            (llm.count, llm.zero_count, llm.sum),
            (2 * n, n, Some(1.25 * n as f64))
        );

        assert_eq!(int_sum(request, "agent_trace_spans").unwrap().0, 2);
        assert_eq!(int_sum(request, "agent_trace_traces").unwrap().0, 1);
        assert_eq!(int_sum(request, "agent_trace_active_spans").unwrap().0, 2);
        let failures = metric(request, "agent_trace_export_failure").unwrap();
        let Some(Data::Sum(s)) = &failures.data else {
            panic!()
        };
        assert!(s.is_monotonic);
        assert_eq!(
            attr(&s.data_points[0].attributes, "exporter").as_deref(),
            Some("otlp")
        );
        assert_eq!(
            s.data_points[0].value,
            Some(number_data_point::Value::AsInt(3))
        );
    }
}

/// Quantiles a backend computes from the decoded exponential histogram
/// agree with ours within the scale's bound, and with the exact values
/// within the documented compound bound, on the accuracy distributions.
#[test]
fn backend_quantiles_from_the_exponential_histogram_agree_with_ours() {
    const N: usize = 50_000;
    let http = HttpReceiver::default();
    let (_rt, addr) = start_http(http.clone());
    for accuracy in [0.01, 0.02] {
        let scale = scale_for_accuracy(accuracy);
        let base = 2f64.powf(2f64.powi(-scale));
        let eps = (base - 1.0) / (base + 1.0);
        assert!(eps <= accuracy / 4.0);
        let bound = (1.0 + accuracy) * (1.0 + eps) - 1.0;
        for (seed, (name, generate)) in DISTRIBUTIONS.iter().enumerate() {
            let clock = Arc::new(ManualClock::new(START));
            let latencies = metrics_on(&clock, accuracy);
            let mut rng = Rng(seed as u64 + 1);
            let mut values = Vec::with_capacity(N);
            for i in 0..N {
                let v = generate(&mut rng);
                values.push(v);
                latencies.record("op", v).unwrap();
                // About 4 minutes of slots: closed, compacted and rolled up.
                if i % 200 == 0 {
                    clock.advance(Duration::from_secs(1));
                }
            }
            values.sort_by(f64::total_cmp);
            let mut exporter = OtlpMetricsExporter::builder()
                .endpoint(format!("http://{addr}"))
                .latency_metrics(latencies.clone())
                .build()
                .unwrap();
            exporter.push().unwrap();
            let request = http.got.lock().unwrap().pop().unwrap().1;
            let (points, _) = exponential_points(&request);
            let p = &points["operation=op"];
            assert_eq!(p.scale, scale);
            assert_eq!(p.count, N as u64);
            for q in [
                0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0,
            ] {
                let theirs = backend_quantile(p, q);
                let ours = latencies.quantile("op", Quantile::new(q).unwrap()).unwrap();
                let rank = ((q * N as f64).ceil() as usize).clamp(1, N);
                let exact = values[rank - 1];
                assert!(
                    rel(theirs, ours) <= eps * (1.0 + 1e-9),
                    "{name} a={accuracy} q={q}: backend {theirs} ours {ours}"
                );
                assert!(
                    rel(theirs, exact) <= bound * (1.0 + 1e-9),
                    "{name} a={accuracy} q={q}: backend {theirs} exact {exact} bound {bound}"
                );
            }
        }
    }
}

/// Cumulative and delta points over many pushes, with the slots rolling
/// up between them, a push that fails, and two hours of quiet: the deltas
/// add up to the cumulative points exactly (counts, every bucket, sums of
/// values exact in binary), no value twice, none left out.
#[test]
fn cumulative_and_delta_points_add_up_exactly_across_pushes() {
    let clock = Arc::new(ManualClock::new(START));
    let latencies = metrics_on(&clock, 0.01);
    let tracer = TracerMetrics::new();
    let http = HttpReceiver::default();
    let (_rt, addr) = start_http(http.clone());
    let build = |t: MetricsTemporality| {
        OtlpMetricsExporter::builder()
            .endpoint(format!("http://{addr}"))
            .latency_metrics(latencies.clone())
            .tracer_metrics(tracer.clone())
            .temporality(t)
            .build()
            .unwrap()
    };
    let mut cumulative = build(MetricsTemporality::Cumulative);
    let mut delta = build(MetricsTemporality::Delta);
    let mut low_memory = build(MetricsTemporality::LowMemory);

    let mut rng = Rng(7);
    let mut recorded: u64 = 0;
    let mut recorded_sum = 0.0;
    let mut delta_counts: BTreeMap<i32, u64> = BTreeMap::new();
    let mut delta_total = (0u64, 0.0f64, 0u64);
    let mut last_delta_end: Option<u64> = None;
    let mut cumulative_start: Option<u64> = None;
    // Gaps between pushes: shorter and longer than the finest tier's
    // minute (slots roll up between pushes), and two hours.
    let gaps = [3, 30, 59, 61, 90, 5, 300, 7200, 45, 4000];
    for (round, gap) in gaps.iter().enumerate() {
        // Values spread over the gap, multiples of 1/1024 s: every sum is
        // exact in binary, so the sums must match to the bit.
        let per_round = 40 + round * 13;
        for _ in 0..per_round {
            let v = (1 + rng.next_u64() % 20_000) as f64 / 1024.0;
            latencies.record("op", v).unwrap();
            recorded += 1;
            recorded_sum += v;
            tracer.span_started(false);
            clock.advance(Duration::from_millis(gap * 1000 / per_round as u64));
        }
        // One delta push fails: its values go with the next one.
        if round == 4 {
            http.statuses
                .lock()
                .unwrap()
                .push_back(StatusCode::SERVICE_UNAVAILABLE);
            assert!(delta.push().is_err());
        }
        cumulative.push().unwrap();
        delta.push().unwrap();
        low_memory.push().unwrap();
        let mut got = http.got.lock().unwrap();
        assert_eq!(got.len(), 3);
        let (_, low) = got.pop().unwrap();
        let (_, d) = got.pop().unwrap();
        let (_, c) = got.pop().unwrap();
        drop(got);

        let (cp, ct) = exponential_points(&c);
        assert_eq!(ct, AggregationTemporality::Cumulative as i32);
        let cp = &cp["operation=op"];
        assert_eq!(cp.count, recorded, "round {round}");
        assert_eq!(cp.sum, Some(recorded_sum));
        assert_eq!(
            *cumulative_start.get_or_insert(cp.start_time_unix_nano),
            cp.start_time_unix_nano
        );
        let (dp, dt) = exponential_points(&d);
        assert_eq!(dt, AggregationTemporality::Delta as i32);
        let dp = &dp["operation=op"];
        if let Some(end) = last_delta_end {
            assert_eq!(dp.start_time_unix_nano, end, "deltas are contiguous");
        }
        last_delta_end = Some(dp.time_unix_nano);
        let db = dp.positive.as_ref().unwrap();
        for (k, &n) in db.bucket_counts.iter().enumerate() {
            *delta_counts.entry(db.offset + k as i32).or_default() += n;
        }
        delta_total.0 += dp.count;
        delta_total.1 += dp.sum.unwrap();
        let cb = cp.positive.as_ref().unwrap();
        let cumulative_counts: BTreeMap<i32, u64> = cb
            .bucket_counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (cb.offset + k as i32, *n))
            .collect();
        delta_counts.retain(|_, n| *n > 0);
        assert_eq!(delta_counts, cumulative_counts, "round {round}");
        assert_eq!(delta_total.0, recorded);
        assert_eq!(delta_total.1, recorded_sum);
        // Counters: the deltas add up to the cumulative value.
        let (spans, start, t) = int_sum(&c, "agent_trace_spans").unwrap();
        assert_eq!(
            (spans as u64, t),
            (recorded, AggregationTemporality::Cumulative as i32)
        );
        assert_eq!(start, START);
        let (d_spans, _, t) = int_sum(&d, "agent_trace_spans").unwrap();
        assert_eq!(t, AggregationTemporality::Delta as i32);
        delta_total.2 += d_spans as u64;
        assert_eq!(delta_total.2, recorded);
        // Active spans stay cumulative whatever the preference.
        let (_, _, t) = int_sum(&low, "agent_trace_active_spans").unwrap();
        assert_eq!(t, AggregationTemporality::Cumulative as i32);
        let (lp, lt) = exponential_points(&low);
        assert_eq!(lt, AggregationTemporality::Delta as i32);
        assert!(lp["operation=op"].count > 0);
    }
    assert_eq!(cumulative.lost_values(), 0);
    assert_eq!(delta.lost_values(), 0);
}

/// A short-lived program: the reader's interval never comes, and the
/// values still arrive, in the push its shutdown makes.
#[test]
fn a_short_lived_programs_last_values_arrive_at_shutdown() {
    let http = HttpReceiver::default();
    let (_rt, addr) = start_http(http.clone());
    let latencies = Arc::new(
        LatencyMetrics::builder()
            .metrics_facade(false)
            .build()
            .unwrap(),
    );
    let exporter = OtlpMetricsExporter::builder()
        .endpoint(format!("http://{addr}"))
        .latency_metrics(latencies.clone())
        .build()
        .unwrap();
    let reader = PeriodicMetricsReader::builder()
        .interval(Duration::from_secs(3600))
        .build(exporter)
        .unwrap();
    latencies.record("batch_job", 2.5).unwrap();
    latencies.record("batch_job", 3.5).unwrap();
    reader.shutdown(Duration::from_secs(10)).unwrap();
    let got = http.got.lock().unwrap();
    assert_eq!(got.len(), 1);
    let (points, _) = exponential_points(&got[0].1);
    let p = &points["operation=batch_job"];
    assert_eq!((p.count, p.sum), (2, Some(6.0)));
    assert_eq!(reader.stats().pushes, 1);
    // Shut down: a second call returns at once, and nothing more is sent.
    reader.shutdown(Duration::from_secs(1)).unwrap();
    drop(reader);
    assert_eq!(got.len(), 1);
}

/// A reader pushing `latencies` to `endpoint` every hour, each request
/// given `request` and each push (retries included) `push`, reporting to
/// `diagnostics` and counting into `tracer`.
fn reader_to(
    endpoint: String,
    protocol: OtlpProtocol,
    (request, push): (Duration, Duration),
    latencies: &Arc<LatencyMetrics>,
    diagnostics: &Diagnostics,
    tracer: Option<&TracerMetrics>,
) -> PeriodicMetricsReader {
    let exporter = OtlpMetricsExporter::builder()
        .protocol(protocol)
        .endpoint(endpoint)
        .timeout(request)
        .latency_metrics(latencies.clone())
        .build()
        .unwrap();
    let mut reader = PeriodicMetricsReader::builder()
        .interval(Duration::from_secs(3600))
        .timeout(push)
        .diagnostics(diagnostics.clone());
    if let Some(tracer) = tracer {
        reader = reader.metrics(tracer);
    }
    reader.build(exporter).unwrap()
}

/// A short-lived program whose only push is the shutdown's, with the
/// collector down: one report, which says the values are not delivered and
/// why, and none that promises a next push.
#[test]
fn a_failed_last_push_says_its_values_are_not_delivered() {
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let diagnostics = {
        let events = events.clone();
        Diagnostics::callback(move |e: &ExportEvent<'_>| events.lock().unwrap().push(e.to_string()))
    };
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_addr = refused.local_addr().unwrap();
    drop(refused);
    let latencies = Arc::new(
        LatencyMetrics::builder()
            .metrics_facade(false)
            .build()
            .unwrap(),
    );
    // A push's timeout (retries within it) far longer than the shutdown's
    // one retry.
    let reader = reader_to(
        format!("http://{refused_addr}"),
        OtlpProtocol::HttpProtobuf,
        (Duration::from_millis(100), Duration::from_secs(30)),
        &latencies,
        &diagnostics,
        None,
    );
    latencies.record("batch_job", 2.5).unwrap();
    let started = std::time::Instant::now();
    let err = reader.shutdown(Duration::from_secs(10)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "one retry at shutdown, not the push's 30 s: {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("cannot reach"), "{err}");
    let ev = events.lock().unwrap().clone();
    assert!(
        ev.iter().all(|e| !e.contains("next push")),
        "no push follows the shutdown's: {ev:?}"
    );
    let last = ev.last().expect("the failure is reported");
    assert!(
        last.starts_with(
            "otlp_metrics: the last push failed at shutdown; its values are not delivered: "
        ) && last.contains("cannot reach"),
        "{ev:?}"
    );

    // A collector that accepts and never answers: the shutdown runs out of
    // time while the push waits, and says so before it returns.
    events.lock().unwrap().clear();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let reader = reader_to(
        format!("http://{}", silent.local_addr().unwrap()),
        OtlpProtocol::HttpProtobuf,
        (Duration::from_secs(5), Duration::from_secs(10)),
        &latencies,
        &diagnostics,
        None,
    );
    let err = reader.shutdown(Duration::from_millis(300)).unwrap_err();
    assert!(
        matches!(err, agent_trace_export::ExportError::Timeout { .. }),
        "{err}"
    );
    let ev = events.lock().unwrap().clone();
    assert!(
        ev.iter().any(|e| e.starts_with(
            "otlp_metrics: the last push failed at shutdown; its values are not delivered: "
        )),
        "{ev:?}"
    );
    drop(silent);
}

/// Collector faults (refused connection, 503, no answer within the
/// timeout) are reported once per kind through the diagnostics, counted in
/// the stats and the tracer's export failure counter, and lose nothing:
/// the push after the recovery carries every value.
#[test]
fn collector_faults_are_reported_and_counted_like_span_export_faults() {
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let diagnostics = {
        let events = events.clone();
        Diagnostics::callback(move |e: &ExportEvent<'_>| events.lock().unwrap().push(e.to_string()))
    };
    let tracer = TracerMetrics::new();
    let failures = || {
        let mut n = 0;
        tracer.for_each_labelled(|name, _, value, v, _| {
            if name == EXPORT_FAILURE_TOTAL && value == "otlp_metrics" {
                n = v;
            }
        });
        n
    };
    let latencies = Arc::new(
        LatencyMetrics::builder()
            .metrics_facade(false)
            .build()
            .unwrap(),
    );
    latencies.record("op", 1.0).unwrap();

    // Refused: a port nobody listens on.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_addr = refused.local_addr().unwrap();
    drop(refused);
    // No answer: a listener that accepts and never replies.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();

    let cases = [
        (
            format!("http://{refused_addr}"),
            OtlpProtocol::HttpProtobuf,
            "cannot reach",
        ),
        (
            format!("http://{refused_addr}"),
            OtlpProtocol::Grpc,
            "cannot reach",
        ),
        (
            format!("http://{silent_addr}"),
            OtlpProtocol::HttpProtobuf,
            "no answer",
        ),
    ];
    for (endpoint, protocol, said) in &cases {
        let before = failures();
        let reader = reader_to(
            endpoint.clone(),
            *protocol,
            (Duration::from_millis(200), Duration::from_millis(700)),
            &latencies,
            &diagnostics,
            Some(&tracer),
        );
        let err = reader.force_flush(Duration::from_secs(10)).unwrap_err();
        assert!(err.to_string().contains(said), "{protocol:?}: {err}");
        let stats = reader.stats();
        assert_eq!(stats.failed_pushes, 1);
        assert!(
            stats.failed_attempts >= 2,
            "retried within the timeout: {stats:?}"
        );
        assert_eq!(stats.pushes, 0);
        assert_eq!(failures(), before + 1);
        let _ = reader.shutdown(Duration::from_secs(10));
        let ev = events.lock().unwrap();
        assert!(
            ev.iter()
                .any(|e| e.contains("otlp_metrics") && e.contains(said)),
            "{ev:?}"
        );
        assert!(
            ev.iter()
                .any(|e| e.contains("its values are not delivered")),
            "{ev:?}"
        );
    }
    drop(silent);

    // 503, then the receiver recovers: reported, counted, and the next
    // push carries the values.
    events.lock().unwrap().clear();
    let http = HttpReceiver::default();
    http.statuses
        .lock()
        .unwrap()
        .extend([StatusCode::SERVICE_UNAVAILABLE; 50]);
    let (_rt, addr) = start_http(http.clone());
    let exporter = OtlpMetricsExporter::builder()
        .endpoint(format!("http://{addr}"))
        .latency_metrics(latencies.clone())
        .temporality(MetricsTemporality::Delta)
        .build()
        .unwrap();
    let reader = PeriodicMetricsReader::builder()
        .interval(Duration::from_secs(3600))
        .timeout(Duration::from_millis(300))
        .diagnostics(diagnostics.clone())
        .metrics(&tracer)
        .build(exporter)
        .unwrap();
    let err = reader.force_flush(Duration::from_secs(10)).unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(reader.stats().failed_pushes, 1);
    http.statuses.lock().unwrap().clear();
    latencies.record("op", 2.0).unwrap();
    reader.force_flush(Duration::from_secs(10)).unwrap();
    let stats = reader.stats();
    assert_eq!((stats.pushes, stats.failed_pushes), (1, 1));
    let got = http.got.lock().unwrap();
    assert_eq!(got.len(), 1);
    let (points, _) = exponential_points(&got[0].1);
    assert_eq!(
        points["operation=op"].count, 2,
        "the failed push's value too"
    );
    drop(got);
    let ev = events.lock().unwrap().clone();
    assert!(ev.iter().any(|e| e.contains("503")), "{ev:?}");
    assert!(ev.iter().any(|e| e.contains("recovered")), "{ev:?}");
    reader.shutdown(Duration::from_secs(10)).unwrap();
}

/// The explicit-bucket option: the Prometheus histogram's bounds, every
/// value counted.
#[test]
fn explicit_bucket_histograms_are_an_option() {
    let clock = Arc::new(ManualClock::new(START));
    let latencies = metrics_on(&clock, 0.01);
    for v in [0.001, 0.2, 0.2, 3.0, 500.0] {
        latencies.record("op", v).unwrap();
    }
    let http = HttpReceiver::default();
    let (_rt, addr) = start_http(http.clone());
    let mut exporter = OtlpMetricsExporter::builder()
        .endpoint(format!("http://{addr}"))
        .latency_metrics(latencies)
        .latency_histogram(LatencyHistogram::ExplicitBuckets)
        .build()
        .unwrap();
    exporter.push().unwrap();
    let got = http.got.lock().unwrap();
    let m = metric(&got[0].1, "agent_trace_operation_duration").unwrap();
    let Some(Data::Histogram(h)) = &m.data else {
        panic!("{m:?}")
    };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, agent_trace_metrics::DURATION_BUCKETS);
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), 5);
    assert_eq!(p.count, 5);
    assert_eq!(
        *p.bucket_counts.last().unwrap(),
        1,
        "500 s is above the last bound"
    );
    let at = |x: f64| p.explicit_bounds.partition_point(|b| *b < x);
    assert_eq!(p.bucket_counts[at(0.2)], 2);
}

/// The GenAI metrics, the cost counter and any other facade metric, as the
/// `genai` helpers record them through the `metrics` facade: the
/// conventions' names, units, attribute names and instrument kinds; the
/// series the exporter reads from their sources are not sent twice; and
/// delta points add up to the cumulative ones.
#[test]
fn genai_and_cost_metrics_from_the_facade_keep_the_conventions() {
    use agent_trace_export::otlp::metrics::OtlpRecorder;
    use agent_trace_metrics::{
        COST_TOTAL, GEN_AI_OPERATION_DURATION_SECONDS, GEN_AI_TIME_TO_FIRST_CHUNK_SECONDS,
        GEN_AI_TOKEN_USAGE, OPERATION_DURATION_SECONDS, SPANS_TOTAL,
    };
    use opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint;

    let recorder = OtlpRecorder::new();
    let record = |tokens: f64| {
        metrics::with_local_recorder(&recorder, || {
            let labels = [
                ("gen_ai_operation_name", "chat"),
                ("gen_ai_request_model", "gpt-4o"),
            ];
            metrics::histogram!(GEN_AI_OPERATION_DURATION_SECONDS, &labels).record(1.5);
            metrics::histogram!(GEN_AI_TIME_TO_FIRST_CHUNK_SECONDS, &labels).record(0.25);
            metrics::histogram!(GEN_AI_TOKEN_USAGE, "gen_ai_token_type" => "input").record(tokens);
            metrics::histogram!(GEN_AI_TOKEN_USAGE, "gen_ai_token_type" => "output").record(20.0);
            metrics::gauge!(COST_TOTAL, "currency" => "USD", "model" => "gpt-4o").increment(0.125);
            // Read from their sources, never from the facade.
            metrics::histogram!(OPERATION_DURATION_SECONDS, "operation" => "x").record(1.0);
            metrics::counter!(SPANS_TOTAL).increment(1);
        });
    };
    let http = HttpReceiver::default();
    let (_rt, addr) = start_http(http.clone());
    let build = |t| {
        OtlpMetricsExporter::builder()
            .endpoint(format!("http://{addr}"))
            .facade_metrics(recorder.facade_metrics())
            .temporality(t)
            .build()
            .unwrap()
    };
    let mut cumulative = build(MetricsTemporality::Cumulative);
    let mut delta = build(MetricsTemporality::Delta);
    let histogram =
        |r: &ExportMetricsServiceRequest, name: &str| -> (Vec<HistogramDataPoint>, i32, String) {
            let m = metric(r, name).unwrap_or_else(|| panic!("{name} missing"));
            let Some(Data::Histogram(h)) = &m.data else {
                panic!("{name}: {m:?}")
            };
            (
                h.data_points.clone(),
                h.aggregation_temporality,
                m.unit.clone(),
            )
        };
    let mut delta_input = 0u64;
    for round in 1..=3u64 {
        record(100.0 * round as f64);
        cumulative.push().unwrap();
        delta.push().unwrap();
        let mut got = http.got.lock().unwrap();
        let d = got.pop().unwrap().1;
        let c = got.pop().unwrap().1;
        drop(got);
        let names: Vec<&str> = all_metrics(&c).iter().map(|m| m.name.as_str()).collect();
        assert!(
            !names
                .iter()
                .any(|n| n.contains("operation_duration") || n.contains("spans")),
            "{names:?}"
        );

        let (points, t, unit) = histogram(&c, "gen_ai.client.operation.duration");
        assert_eq!(
            (t, unit.as_str()),
            (AggregationTemporality::Cumulative as i32, "s")
        );
        assert_eq!(
            attr(&points[0].attributes, "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        assert_eq!(
            attr(&points[0].attributes, "gen_ai.request.model").as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(
            points[0].explicit_bounds,
            agent_trace_metrics::GEN_AI_DURATION_BUCKETS
        );
        assert_eq!(
            (points[0].count, points[0].sum),
            (round, Some(1.5 * round as f64))
        );
        let (_, _, unit) = histogram(&c, "gen_ai.client.operation.time_to_first_chunk");
        assert_eq!(unit, "s");

        let (points, _, unit) = histogram(&c, "gen_ai.client.token.usage");
        assert_eq!(unit, "{token}");
        let by_type: BTreeMap<String, u64> = points
            .iter()
            .map(|p| (attr(&p.attributes, "gen_ai.token.type").unwrap(), p.count))
            .collect();
        assert_eq!(
            by_type,
            BTreeMap::from([("input".into(), round), ("output".into(), round)])
        );

        let cost = metric(&c, "agent_trace_cost").unwrap();
        let Some(Data::Sum(s)) = &cost.data else {
            panic!()
        };
        assert!(s.is_monotonic);
        assert_eq!(
            s.data_points[0].value,
            Some(number_data_point::Value::AsDouble(0.125 * round as f64))
        );
        assert_eq!(
            attr(&s.data_points[0].attributes, "currency").as_deref(),
            Some("USD")
        );

        let (points, t, _) = histogram(&d, "gen_ai.client.token.usage");
        assert_eq!(t, AggregationTemporality::Delta as i32);
        let input = points
            .iter()
            .find(|p| attr(&p.attributes, "gen_ai.token.type").as_deref() == Some("input"))
            .unwrap();
        assert_eq!((input.count, input.sum), (1, Some(100.0 * round as f64)));
        delta_input += input.count;
        let cost = metric(&d, "agent_trace_cost").unwrap();
        let Some(Data::Sum(s)) = &cost.data else {
            panic!()
        };
        assert_eq!(
            s.data_points[0].value,
            Some(number_data_point::Value::AsDouble(0.125))
        );
    }
    assert_eq!(delta_input, 3);
}

/// A receiver's partial success (OTLP/HTTP, protobuf and JSON) is read
/// back and counted as rejected data points.
#[test]
fn partial_success_is_counted_as_rejected_data_points() {
    let http = HttpReceiver::default();
    *http.response.lock().unwrap() = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 2,
            error_message: "two points too old".into(),
        }),
    };
    let (_rt, addr) = start_http(http.clone());
    let latencies = Arc::new(
        LatencyMetrics::builder()
            .metrics_facade(false)
            .build()
            .unwrap(),
    );
    for op in ["a", "b", "c"] {
        latencies.record(op, 0.5).unwrap();
    }
    for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::HttpJson] {
        let exporter = OtlpMetricsExporter::builder()
            .protocol(protocol)
            .endpoint(format!("http://{addr}"))
            .latency_metrics(latencies.clone())
            .build()
            .unwrap();
        let reader = PeriodicMetricsReader::builder()
            .interval(Duration::from_secs(3600))
            .diagnostics(Diagnostics::off())
            .build(exporter)
            .unwrap();
        reader.force_flush(Duration::from_secs(10)).unwrap();
        let stats = reader.stats();
        assert_eq!(
            (stats.pushes, stats.data_points, stats.rejected_data_points),
            (1, 1, 2),
            "{protocol:?}"
        );
        reader.shutdown(Duration::from_secs(10)).unwrap();
    }
}

/// For backends that limit a histogram's buckets: each point is
/// downscaled until it fits, every value still counted, and a backend's
/// quantiles within the bound of the scale it got.
#[test]
fn exponential_points_can_be_held_to_a_bucket_limit() {
    const N: usize = 20_000;
    let clock = Arc::new(ManualClock::new(START));
    let latencies = metrics_on(&clock, 0.01);
    let mut rng = Rng(99);
    let mut values: Vec<f64> = (0..N).map(|_| rng.log_range(1e-6, 600.0)).collect();
    for v in &values {
        latencies.record("op", *v).unwrap();
    }
    values.sort_by(f64::total_cmp);
    let http = HttpReceiver::default();
    let (_rt, addr) = start_http(http.clone());
    let mut exporter = OtlpMetricsExporter::builder()
        .endpoint(format!("http://{addr}"))
        .latency_metrics(latencies.clone())
        .latency_histogram(LatencyHistogram::ExponentialWithMaxBuckets(160))
        .build()
        .unwrap();
    exporter.push().unwrap();
    let request = http.got.lock().unwrap().pop().unwrap().1;
    let (points, _) = exponential_points(&request);
    let p = &points["operation=op"];
    let b = p.positive.as_ref().unwrap();
    assert!(b.bucket_counts.len() <= 160, "{}", b.bucket_counts.len());
    assert!(p.scale < 8);
    assert_eq!(b.bucket_counts.iter().sum::<u64>(), N as u64);
    let base = 2f64.powf(2f64.powi(-p.scale));
    let eps = (base - 1.0) / (base + 1.0);
    for q in [0.01, 0.5, 0.9, 0.99] {
        let theirs = backend_quantile(p, q);
        let ours = latencies.quantile("op", Quantile::new(q).unwrap()).unwrap();
        let exact = values[((q * N as f64).ceil() as usize).clamp(1, N) - 1];
        assert!(rel(theirs, ours) <= eps * (1.0 + 1e-9), "q={q}");
        assert!(
            rel(theirs, exact) <= (1.01 * (1.0 + eps) - 1.0) * (1.0 + 1e-9),
            "q={q}"
        );
    }
}
