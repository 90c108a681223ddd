//! Metrics over OTLP: the latency series as exponential (or explicit-bucket)
//! histograms, and the tracer's own counters, pushed to a collector over
//! HTTP/protobuf, HTTP/JSON or gRPC by a periodic reader on a thread of its
//! own, with a last push at shutdown.
//!
//! - [`OtlpMetricsExporter`]: one push on demand ([`push`](OtlpMetricsExporter::push)),
//!   the same transports, TLS, headers and error classification as the
//!   span exporter; configured in code or from the `OTEL_EXPORTER_OTLP_METRICS_*`
//!   variables ([`OtlpMetricsExporterBuilder::from_env`]).
//! - [`PeriodicMetricsReader`]: pushes every interval
//!   (`OTEL_METRIC_EXPORT_INTERVAL`, 60 s) with a deadline per push
//!   (`OTEL_METRIC_EXPORT_TIMEOUT`, 30 s), retrying retryable failures
//!   within it, reporting failures through [`Diagnostics`](crate::Diagnostics) and counting
//!   them ([`MetricsPushStats`], and the tracer's
//!   `agent_trace_export_{success,failure}_total{exporter="otlp_metrics"}`);
//!   a last push at [`shutdown`](PeriodicMetricsReader::shutdown) or drop.
//!
//! - [`OtlpRecorder`]: a `metrics` facade recorder for what the crates
//!   record through the facade: the GenAI metrics
//!   (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage` by
//!   `gen_ai.token.type`, time to first chunk, the agent, workflow and tool
//!   histograms, with the conventions' names, units, attribute names and
//!   buckets), the cost counter (`agent_trace_cost`), the span durations.
//!
//! # Each value once
//!
//! A push reads the registry's closed slots (`LatencyMetrics::read_slots`),
//! never a copy of the values. Per series the exporter remembers, per tier,
//! a *cut* (the finest slot's start a second before the push, rounded down
//! to the tier's slot width) and what `[cut, inf)` held then. Values only
//! arrive after the last cut and slots only ever merge into the slots that
//! enclose them, so at the next push the finest cut that no slot straddles
//! gives exactly what arrived since: `now[cut, inf) - then[cut, inf)`,
//! bucket by bucket (the coarsest cut always qualifies). Delta points are
//! that; cumulative points add it to a running total the exporter keeps,
//! so they never go back when old slots expire. What the exporter
//! remembers changes only when the receiver accepted the push: a failed
//! push's values go with the next one. Memory per series: the running
//! total and one bucket range per tier, each at most the sketch's bucket
//! cap.
//!
//! # Accuracy
//!
//! The sketch's buckets (an interpolated logarithm, ratio at most `gamma =
//! (1 + a) / (1 - a)`) are not base-2 exponential buckets, so they are
//! re-bucketed: each sketch bucket's count goes to the OTLP bucket that
//! holds its answer value, the value our own quantiles answer with. The
//! answer values grow with the bucket, so a quantile's rank lands in the
//! OTLP bucket of our own answer: a backend answering with that bucket's
//! harmonic mean is within `eps = (b - 1) / (b + 1)` of our answer
//! (`b = 2^(2^-scale)`), and so within `(1 + a)(1 + eps) - 1` of the exact
//! value. [`scale_for_accuracy`] takes the coarsest scale with `eps <= a /
//! 4`: scale 8 at the default 1%, `eps = 0.135%`, 1.137% from the exact
//! value (a backend answering anywhere in the bucket: `(1 + a) b - 1 =
//! 1.274%`). `tests/otlp_metrics_receivers_decode_every_push.rs` checks
//! both bounds on the accuracy tests' distributions.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use agent_trace_export::otlp::metrics::{OtlpMetricsExporter, PeriodicMetricsReader};
//! use agent_trace_metrics::LatencyMetrics;
//!
//! let latencies = Arc::new(LatencyMetrics::new());
//! let exporter = OtlpMetricsExporter::builder()
//!     .endpoint("http://localhost:4318")
//!     .latency_metrics(latencies.clone())
//!     .build()?;
//! let reader = PeriodicMetricsReader::builder()
//!     .interval(Duration::from_secs(10))
//!     .build(exporter)?;
//! latencies.record("llm_call", 1.25)?;
//! // The last values go out at shutdown (no collector runs here, so this
//! // reports the failure instead of hanging).
//! let _ = reader.shutdown(Duration::from_secs(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod collect;
mod reader;
mod recorder;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_trace_metrics::{
    ACTIVE_SPANS, DURATION_BUCKETS, EXPORT_FAILURE_TOTAL, EXPORT_QUEUE_LENGTH,
    EXPORT_SUCCESS_TOTAL, LatencyMetrics, SPANS_DROPPED_TOTAL, SPANS_TOTAL, TRACES_TOTAL,
    TracerMetrics,
};

pub use collect::{exponential_index, scale_for_accuracy};
pub use reader::{MetricsPushStats, PeriodicMetricsReader, PeriodicMetricsReaderBuilder};
pub use recorder::{FacadeMetrics, OtlpRecorder};

use self::collect::{Aggregation, SeriesKey, SeriesState};
use self::recorder::{HistogramData, Value};
use self::wire::{Data, HistogramPoint, Metric, Number, NumberPoint};
use super::OtlpProtocol;
use super::exporter::{env, named};
#[cfg(feature = "otlp-grpc")]
use super::grpc;
#[cfg(feature = "otlp-http")]
use super::response;
#[cfg(feature = "otlp-http")]
use crate::http::HttpTransport;
use crate::{ExportError, Resource};

/// The default OTLP/HTTP metrics endpoint.
pub const DEFAULT_HTTP_METRICS_ENDPOINT: &str = "http://localhost:4318/v1/metrics";

/// The gRPC method metrics are exported with.
#[cfg(feature = "otlp-grpc")]
const GRPC_METHOD: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// The OTLP name of the latency histograms (unit `s`; Prometheus
/// `agent_trace_operation_duration_seconds`).
pub const OPERATION_DURATION: &str = "agent_trace_operation_duration";

/// Which temporality the exporter prefers
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MetricsTemporality {
    /// Every point covers the time since the series was first seen
    /// (`cumulative`, the default).
    #[default]
    Cumulative,
    /// Every point covers the time since the last accepted push (`delta`);
    /// up-down counters (active spans) stay cumulative, as the
    /// specification says.
    Delta,
    /// `lowmemory`: delta for counters and histograms, cumulative for
    /// up-down counters; with only synchronous instruments here, the same
    /// as [`Delta`](Self::Delta).
    LowMemory,
}

impl FromStr for MetricsTemporality {
    type Err = ExportError;

    /// The values of `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
    /// (case-insensitive).
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Ok(Self::Cumulative),
            "delta" => Ok(Self::Delta),
            "lowmemory" => Ok(Self::LowMemory),
            other => Err(ExportError::Config(format!(
                "unknown temporality preference {other:?} (expected cumulative, delta or lowmemory)"
            ))),
        }
    }
}

impl MetricsTemporality {
    fn of_histograms_and_counters(self) -> wire::Temporality {
        match self {
            Self::Cumulative => wire::Temporality::Cumulative,
            Self::Delta | Self::LowMemory => wire::Temporality::Delta,
        }
    }
}

/// How the latency series are sent.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum LatencyHistogram {
    /// An OTLP exponential histogram at the scale that keeps a backend's
    /// quantiles within the sketch's accuracy (see [`scale_for_accuracy`]);
    /// the default.
    #[default]
    Exponential,
    /// An exponential histogram at this scale (`-10..=20`); a coarser one
    /// loosens the bound to `(1 + a)(1 + eps) - 1` with `eps = (b - 1) /
    /// (b + 1)`, `b = 2^(2^-scale)`.
    ExponentialAtScale(i32),
    /// As [`Exponential`](Self::Exponential), each point downscaled
    /// (adjacent buckets merged, as the specification's downscaling does)
    /// until its buckets span at most this many: for backends that limit
    /// a histogram's buckets. A latency series from 1 ms to 10 s spans
    /// about 3,400 buckets at scale 8; each scale less halves that and
    /// doubles `eps`, loosening the bound to `(1 + a)(1 + eps) - 1` for
    /// that point's scale.
    ExponentialWithMaxBuckets(usize),
    /// Explicit buckets with the Prometheus histogram's bounds
    /// ([`DURATION_BUCKETS`]), for backends without exponential histograms;
    /// each sketch bucket is counted where its answer value falls.
    ExplicitBuckets,
}

/// What the receiver made of a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushOutcome {
    /// Data points sent.
    pub data_points: u64,
    /// Data points the receiver rejected (OTLP partial success).
    pub rejected_data_points: u64,
}

/// Where the latency series come from.
#[derive(Debug, Clone)]
enum LatencySource {
    Shared(Arc<LatencyMetrics>),
    Static(&'static LatencyMetrics),
}

impl LatencySource {
    fn get(&self) -> &LatencyMetrics {
        match self {
            Self::Shared(m) => m,
            Self::Static(m) => m,
        }
    }
}

/// Pushes metrics to an OpenTelemetry Collector (or any OTLP receiver).
///
/// Each [`push`](Self::push) reads the latency series and the tracer's
/// counters, encodes one `ExportMetricsServiceRequest` and sends it; what
/// it remembers between pushes (to send each value once, or running
/// totals) changes only when the receiver accepted the push, so a failed
/// push loses nothing: the next one carries its values.
pub struct OtlpMetricsExporter {
    resource: Resource,
    transport: Transport,
    temporality: MetricsTemporality,
    aggregation: Aggregation,
    latency: Option<LatencySource>,
    tracer: Option<TracerMetrics>,
    facade: Option<FacadeMetrics>,
    series: HashMap<SeriesKey, SeriesState>,
    /// Where each sketch bucket goes in the pushed histograms.
    index_cache: std::sync::Mutex<collect::IndexCache>,
    /// Committed values of the facade's series, for delta points.
    facade_sent: HashMap<FacadeKey, Value>,
    /// Committed counter values, for delta sums.
    counters: HashMap<(&'static str, String), u64>,
    /// Start of every cumulative counter point.
    started: u64,
    /// Time of the last accepted push: the start of delta counter points.
    last_push: u64,
    lost: u64,
}

enum Transport {
    #[cfg(feature = "otlp-http")]
    Http {
        http: Box<HttpTransport>,
        json: bool,
    },
    #[cfg(feature = "otlp-grpc")]
    Grpc(Box<grpc::GrpcTransport>),
}

impl fmt::Debug for OtlpMetricsExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OtlpMetricsExporter");
        d.field("service", &self.resource.service_name())
            .field("temporality", &self.temporality)
            .field("aggregation", &self.aggregation);
        match &self.transport {
            #[cfg(feature = "otlp-http")]
            Transport::Http { http, json } => d.field("http", http).field("json", json),
            #[cfg(feature = "otlp-grpc")]
            Transport::Grpc(g) => d.field("grpc", g),
        };
        d.finish_non_exhaustive()
    }
}

/// Builds an [`OtlpMetricsExporter`]; settings left unset come from the
/// environment with [`from_env`](Self::from_env), else the defaults.
#[derive(Debug, Clone, Default)]
pub struct OtlpMetricsExporterBuilder {
    /// The span exporter's settings: protocol, endpoint, headers, timeout,
    /// compression, CA certificates.
    connection: super::exporter::OtlpConnection,
    resource: Option<Resource>,
    temporality: Option<MetricsTemporality>,
    histogram: LatencyHistogram,
    latency: Option<LatencySource>,
    tracer: Option<TracerMetrics>,
    facade: Option<FacadeMetrics>,
}

/// A facade series: its name and labels.
type FacadeKey = (String, Vec<(String, String)>);

impl OtlpMetricsExporterBuilder {
    /// The transport (default HTTP/protobuf).
    pub fn protocol(mut self, p: OtlpProtocol) -> Self {
        self.connection.protocol = Some(p);
        self
    }

    /// Where to send: for HTTP a URL without a path is a base and gets
    /// `/v1/metrics`, a URL with a path is used as is; gRPC takes either as
    /// is. Default `http://localhost:4318/v1/metrics` (HTTP),
    /// `http://localhost:4317` (gRPC).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.connection.set_endpoint(url.into());
        self
    }

    /// Adds a header (gRPC metadata for gRPC); never shown in `Debug` or
    /// errors.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.connection
            .headers
            .get_or_insert_default()
            .insert(name, value);
        self
    }

    /// The per-request timeout (default 10 s; the reader's export timeout
    /// bounds each push as a whole).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.connection.timeout = Some(t);
        self
    }

    /// Whether requests are gzip-compressed (default off).
    pub fn gzip(mut self, on: bool) -> Self {
        self.connection.gzip = Some(on);
        self
    }

    /// The service the metrics come from (default [`Resource::default`]).
    pub fn resource(mut self, r: Resource) -> Self {
        self.resource = Some(r);
        self
    }

    /// Also trusts the CA certificates in `pem` for an `https://` endpoint.
    #[cfg(feature = "tls")]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.connection.ca_pem = Some(pem.into());
        self
    }

    /// Cumulative (default) or delta points.
    pub fn temporality(mut self, t: MetricsTemporality) -> Self {
        self.temporality = Some(t);
        self
    }

    /// How the latency series are sent (default exponential histograms).
    pub fn latency_histogram(mut self, h: LatencyHistogram) -> Self {
        self.histogram = h;
        self
    }

    /// Pushes the series of this registry as `agent_trace_operation_duration`.
    pub fn latency_metrics(mut self, metrics: Arc<LatencyMetrics>) -> Self {
        self.latency = Some(LatencySource::Shared(metrics));
        self
    }

    /// As [`latency_metrics`](Self::latency_metrics), for a registry that
    /// lives as long as the process (the facade's global one).
    pub fn latency_metrics_static(mut self, metrics: &'static LatencyMetrics) -> Self {
        self.latency = Some(LatencySource::Static(metrics));
        self
    }

    /// Pushes the tracer's own counters and gauges (spans, traces, active
    /// spans, export successes and failures, dropped spans, queue lengths).
    pub fn tracer_metrics(mut self, metrics: TracerMetrics) -> Self {
        self.tracer = Some(metrics);
        self
    }

    /// Pushes the series of an [`OtlpRecorder`]: the GenAI metrics
    /// (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`
    /// by `gen_ai.token.type`, time to first chunk, the agent, workflow and
    /// tool histograms), the cost counter, the span durations, and any
    /// other metric the application records through the `metrics` facade.
    pub fn facade_metrics(mut self, metrics: FacadeMetrics) -> Self {
        self.facade = Some(metrics);
        self
    }

    /// Fills every setting not given from the OpenTelemetry variables:
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as is) or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (HTTP appends `/v1/metrics`),
    /// `OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL`, `..._HEADERS`, `..._TIMEOUT`
    /// (milliseconds), `..._COMPRESSION` (`gzip` or `none`),
    /// `..._CERTIFICATE` (with the `tls` feature), and
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] naming a malformed variable.
    pub fn from_env(mut self) -> Result<Self, ExportError> {
        // The variables the span exporter reads, for this signal.
        self.connection.fill_from_env(&super::exporter::METRICS)?;
        if self.temporality.is_none()
            && let Some(t) = env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        {
            self.temporality = Some(
                t.parse()
                    .map_err(|e| named("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", e))?,
            );
        }
        Ok(self)
    }

    /// Checks the settings and builds the exporter (no connection is made
    /// until the first push).
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] for a malformed endpoint or header, a scale
    /// outside `-10..=20`, or a protocol whose feature is not compiled in.
    pub fn build(self) -> Result<OtlpMetricsExporter, ExportError> {
        #[cfg_attr(
            not(feature = "otlp-http"),
            allow(unused_variables, reason = "HTTP alone tells protobuf from JSON")
        )]
        let (protocol, connected) = self.connection.connect(
            crate::diagnostics::METRICS_PUSH,
            "/v1/metrics",
            DEFAULT_HTTP_METRICS_ENDPOINT,
        )?;
        let transport = match connected {
            #[cfg(feature = "otlp-http")]
            super::exporter::Connected::Http(http) => Transport::Http {
                http,
                json: protocol == OtlpProtocol::HttpJson,
            },
            #[cfg(feature = "otlp-grpc")]
            super::exporter::Connected::Grpc(g) => Transport::Grpc(g),
        };
        let accuracy = self
            .latency
            .as_ref()
            .map_or(0.01, |l| l.get().relative_accuracy());
        let aggregation = match self.histogram {
            LatencyHistogram::Exponential => Aggregation::Exponential {
                scale: scale_for_accuracy(accuracy),
                max_buckets: usize::MAX,
            },
            LatencyHistogram::ExponentialWithMaxBuckets(n) => Aggregation::Exponential {
                scale: scale_for_accuracy(accuracy),
                max_buckets: n.max(1),
            },
            LatencyHistogram::ExponentialAtScale(scale) => {
                if !(-10..=20).contains(&scale) {
                    return Err(ExportError::Config(format!(
                        "exponential histogram scale {scale} is outside -10..=20"
                    )));
                }
                Aggregation::Exponential {
                    scale,
                    max_buckets: usize::MAX,
                }
            }
            LatencyHistogram::ExplicitBuckets => Aggregation::Explicit {
                bounds: DURATION_BUCKETS,
            },
        };
        let started = self
            .latency
            .as_ref()
            .map_or_else(wall_nanos, |l| l.get().now_nanos());
        Ok(OtlpMetricsExporter {
            resource: self.resource.unwrap_or_default(),
            transport,
            temporality: self.temporality.unwrap_or_default(),
            aggregation,
            latency: self.latency,
            tracer: self.tracer,
            facade: self.facade,
            series: HashMap::new(),
            index_cache: std::sync::Mutex::default(),
            facade_sent: HashMap::new(),
            counters: HashMap::new(),
            started,
            last_push: started,
            lost: 0,
        })
    }
}

fn wall_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The OTLP name, unit and description of a tracer metric, from its
/// Prometheus name.
fn tracer_metric(prometheus: &str) -> (&'static str, &'static str, &'static str) {
    match prometheus {
        SPANS_TOTAL => ("agent_trace_spans", "{span}", "Spans started."),
        TRACES_TOTAL => ("agent_trace_traces", "{trace}", "Traces started."),
        ACTIVE_SPANS => (
            "agent_trace_active_spans",
            "{span}",
            "Spans started and not yet ended.",
        ),
        EXPORT_SUCCESS_TOTAL => (
            "agent_trace_export_success",
            "{batch}",
            "Batches an exporter delivered.",
        ),
        EXPORT_FAILURE_TOTAL => (
            "agent_trace_export_failure",
            "{batch}",
            "Batches an exporter failed to deliver.",
        ),
        SPANS_DROPPED_TOTAL => (
            "agent_trace_spans_dropped",
            "{span}",
            "Spans not delivered, by reason.",
        ),
        EXPORT_QUEUE_LENGTH => (
            "agent_trace_export_queue_length",
            "{span}",
            "Spans waiting in an export queue.",
        ),
        _ => ("agent_trace_unknown", "", ""),
    }
}

/// What [`OtlpMetricsExporter::collect`] built: the request's metrics, and
/// what to remember once the receiver accepted them.
struct Prepared {
    metrics: Vec<Metric>,
    series: Vec<(SeriesKey, SeriesState)>,
    counters: Vec<((&'static str, String), u64)>,
    facade: Vec<(FacadeKey, Value)>,
    time: u64,
    lost: u64,
}

impl OtlpMetricsExporter {
    /// A builder with every setting at its default.
    pub fn builder() -> OtlpMetricsExporterBuilder {
        OtlpMetricsExporterBuilder::default()
    }

    /// Also pushes the tracer's own metrics (as
    /// [`OtlpMetricsExporterBuilder::tracer_metrics`], for a source that
    /// exists only after the exporter was built).
    pub fn set_tracer_metrics(&mut self, metrics: TracerMetrics) {
        self.tracer = Some(metrics);
    }

    /// Also pushes the facade's series (as
    /// [`OtlpMetricsExporterBuilder::facade_metrics`]).
    pub fn set_facade_metrics(&mut self, metrics: FacadeMetrics) {
        self.facade = Some(metrics);
    }

    /// The temporality of the histograms and counters.
    pub fn temporality(&self) -> MetricsTemporality {
        self.temporality
    }

    /// Values that left a series (expired, or shed for memory) between
    /// their arrival and the next accepted push, so never sent.
    pub fn lost_values(&self) -> u64 {
        self.lost
    }

    /// Reads every source and builds the metrics of one push.
    fn collect(&self) -> Prepared {
        let temporality = self.temporality.of_histograms_and_counters();
        let mut metrics = Vec::new();
        let mut series = Vec::new();
        let mut lost = 0;
        let time = match &self.latency {
            Some(l) => {
                let mut cache = self
                    .index_cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let c = collect::collect(
                    l.get(),
                    &self.series,
                    temporality,
                    &self.aggregation,
                    &mut cache,
                );
                drop(cache);
                lost = c.lost;
                series = c.next;
                if !c.exponential.is_empty() {
                    metrics.push(Metric {
                        name: OPERATION_DURATION.into(),
                        description: "Latency of each operation, per label set.",
                        unit: "s",
                        data: Data::Exponential {
                            points: c.exponential,
                            temporality,
                        },
                    });
                }
                if !c.explicit.is_empty() {
                    metrics.push(Metric {
                        name: OPERATION_DURATION.into(),
                        description: "Latency of each operation, per label set.",
                        unit: "s",
                        data: Data::Histogram {
                            points: c.explicit,
                            temporality,
                        },
                    });
                }
                c.time
            }
            None => wall_nanos(),
        };
        let mut counters = Vec::new();
        if let Some(t) = &self.tracer {
            self.tracer_points(t, time, temporality, &mut metrics, &mut counters);
        }
        let mut facade = Vec::new();
        if let Some(f) = &self.facade {
            // What the tracer's metrics hold and have not yet handed to the
            // facade (the span durations, published every second) goes
            // first, so that the last push of a short run has it.
            agent_trace_metrics::publish();
            self.facade_points(f, time, temporality, &mut metrics, &mut facade);
        }
        Prepared {
            metrics,
            series,
            counters,
            facade,
            time,
            lost,
        }
    }

    fn tracer_points(
        &self,
        tracer: &TracerMetrics,
        time: u64,
        temporality: wire::Temporality,
        metrics: &mut Vec<Metric>,
        counters: &mut Vec<((&'static str, String), u64)>,
    ) {
        let counts = tracer.counts();
        // (Prometheus name, attributes, label value, value)
        type Sum = (&'static str, wire::Attributes, String, u64);
        let mut sums: Vec<Sum> = vec![
            (SPANS_TOTAL, Vec::new(), String::new(), counts.spans),
            (TRACES_TOTAL, Vec::new(), String::new(), counts.traces),
        ];
        let mut gauges: Vec<(&'static str, wire::Attributes, u64)> = Vec::new();
        tracer.for_each_labelled(|name, key, value, n, gauge| {
            let attrs = vec![(key.to_owned(), value.to_owned())];
            if gauge {
                gauges.push((name, attrs, n));
            } else {
                sums.push((name, attrs, value.to_owned(), n));
            }
        });
        sums.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
        gauges.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut by_name: Vec<(&'static str, Vec<NumberPoint>)> = Vec::new();
        for (name, attributes, label, value) in sums {
            let key = (name, label);
            let (start, v) = match temporality {
                wire::Temporality::Cumulative => (self.started, value),
                wire::Temporality::Delta => (
                    self.last_push,
                    value.saturating_sub(self.counters.get(&key).copied().unwrap_or(0)),
                ),
            };
            counters.push((key, value));
            let point = NumberPoint {
                attributes,
                start,
                time,
                value: Number::Int(i64::try_from(v).unwrap_or(i64::MAX)),
            };
            match by_name.last_mut() {
                Some((n, points)) if *n == name => points.push(point),
                _ => by_name.push((name, vec![point])),
            }
        }
        for (name, points) in by_name {
            let (otlp, unit, description) = tracer_metric(name);
            metrics.push(Metric {
                name: otlp.into(),
                description,
                unit,
                data: Data::Sum {
                    points,
                    temporality,
                    monotonic: true,
                },
            });
        }
        // An up-down counter: cumulative whatever the preference.
        let (otlp, unit, description) = tracer_metric(ACTIVE_SPANS);
        metrics.push(Metric {
            name: otlp.into(),
            description,
            unit,
            data: Data::Sum {
                points: vec![NumberPoint {
                    attributes: Vec::new(),
                    start: self.started,
                    time,
                    value: Number::Int(i64::try_from(counts.active).unwrap_or(i64::MAX)),
                }],
                temporality: wire::Temporality::Cumulative,
                monotonic: false,
            },
        });
        if !gauges.is_empty() {
            let (otlp, unit, description) = tracer_metric(EXPORT_QUEUE_LENGTH);
            metrics.push(Metric {
                name: otlp.into(),
                description,
                unit,
                data: Data::Gauge {
                    points: gauges
                        .into_iter()
                        .map(|(_, attributes, v)| NumberPoint {
                            attributes,
                            start: 0,
                            time,
                            value: Number::Int(i64::try_from(v).unwrap_or(i64::MAX)),
                        })
                        .collect(),
                },
            });
        }
    }

    fn facade_points(
        &self,
        facade: &FacadeMetrics,
        time: u64,
        temporality: wire::Temporality,
        metrics: &mut Vec<Metric>,
        sent: &mut Vec<(FacadeKey, Value)>,
    ) {
        let delta = temporality == wire::Temporality::Delta;
        let start = if delta { self.last_push } else { self.started };
        // Sorted by name: one metric per name, its points in label order.
        for (name, labels, value) in facade.0.snapshot() {
            let key: FacadeKey = (name, labels);
            let before = self.facade_sent.get(&key);
            let attributes: Vec<(String, String)> = key
                .1
                .iter()
                .map(|(k, v)| (recorder::attribute_name(k), v.clone()))
                .collect();
            let (otlp, unit, description) = recorder::otlp_name(&key.0);
            let data = match &value {
                Value::Counter(n) => {
                    let v = match before {
                        Some(Value::Counter(b)) if delta => n.saturating_sub(*b),
                        _ => *n,
                    };
                    Data::Sum {
                        points: vec![NumberPoint {
                            attributes,
                            start,
                            time,
                            value: Number::Int(i64::try_from(v).unwrap_or(i64::MAX)),
                        }],
                        temporality,
                        monotonic: true,
                    }
                }
                Value::Gauge {
                    value: v,
                    monotonic: true,
                } => {
                    let v = match before {
                        Some(Value::Gauge { value: b, .. }) if delta => v - b,
                        _ => *v,
                    };
                    Data::Sum {
                        points: vec![NumberPoint {
                            attributes,
                            start,
                            time,
                            value: Number::Double(v),
                        }],
                        temporality,
                        monotonic: true,
                    }
                }
                Value::Gauge { value: v, .. } => Data::Gauge {
                    points: vec![NumberPoint {
                        attributes,
                        start: 0,
                        time,
                        value: Number::Double(*v),
                    }],
                },
                Value::Histogram(h) => {
                    let point = match before {
                        Some(Value::Histogram(b)) if delta => histogram_delta(h, b),
                        _ => h.clone(),
                    };
                    let extremes = !delta || before.is_none();
                    Data::Histogram {
                        points: vec![HistogramPoint {
                            attributes,
                            start,
                            time,
                            count: point.count,
                            sum: point.sum,
                            min: (extremes && point.count > 0).then_some(point.min),
                            max: (extremes && point.count > 0).then_some(point.max),
                            bounds: point.bounds,
                            counts: point.counts,
                            exemplars: Vec::new(),
                        }],
                        temporality,
                    }
                }
            };
            sent.push((key, value));
            merge_into(metrics, otlp, unit, description, data);
        }
    }

    /// Reads the sources, sends one request and, when the receiver
    /// accepted it, remembers what was sent (see the type's docs). A push
    /// with nothing to say sends nothing.
    ///
    /// # Errors
    ///
    /// The transport's [`ExportError`]s (unreachable, timeout, rejected
    /// with the receiver's status), retryable or not; nothing is
    /// remembered, so the next push carries the same values.
    pub fn push(&mut self) -> Result<PushOutcome, ExportError> {
        let prepared = self.collect();
        let data_points: u64 = prepared
            .metrics
            .iter()
            .map(|m| m.data.points() as u64)
            .sum();
        let rejected = if data_points == 0 {
            0
        } else {
            self.send(&prepared.metrics)?
        };
        for (key, state) in prepared.series {
            self.series.insert(key, state);
        }
        for (key, value) in prepared.counters {
            self.counters.insert(key, value);
        }
        for (key, value) in prepared.facade {
            self.facade_sent.insert(key, value);
        }
        self.last_push = prepared.time;
        self.lost += prepared.lost;
        Ok(PushOutcome {
            data_points,
            rejected_data_points: rejected,
        })
    }

    /// The request's bytes as this exporter's transport sends them
    /// (protobuf, or JSON for `http/json`), for the benches.
    #[doc(hidden)]
    pub fn encode_for_bench(&self, out: &mut Vec<u8>) -> usize {
        let prepared = self.collect();
        self.encode(&prepared.metrics, out);
        prepared.metrics.len()
    }

    fn encode(&self, metrics: &[Metric], out: &mut Vec<u8>) {
        match &self.transport {
            #[cfg(feature = "otlp-http")]
            Transport::Http { json: true, .. } => wire::encode_json(&self.resource, metrics, out),
            #[allow(unreachable_patterns, reason = "depends on the features compiled in")]
            _ => wire::encode_protobuf(&self.resource, metrics, out),
        }
    }

    /// Sends one request; answers the receiver's count of rejected points.
    fn send(&mut self, metrics: &[Metric]) -> Result<u64, ExportError> {
        let mut body = Vec::new();
        self.encode(metrics, &mut body);
        let rejected = match &mut self.transport {
            #[cfg(feature = "otlp-http")]
            Transport::Http { http, json } => {
                if *json {
                    let r = http.post(body, "application/json")?;
                    rejected_json(&r.body)
                } else {
                    let r = http.post(body, "application/x-protobuf")?;
                    // `ExportMetricsServiceResponse` has the layout of the
                    // traces' response: partial success (1) { rejected (1) }.
                    response::rejected_spans_protobuf(&r.body)
                }
            }
            #[cfg(feature = "otlp-grpc")]
            Transport::Grpc(g) => {
                let answer = g.export_raw(GRPC_METHOD, body)?;
                #[cfg(feature = "otlp-http")]
                let rejected = response::rejected_spans_protobuf(&answer);
                #[cfg(not(feature = "otlp-http"))]
                let rejected = rejected_protobuf(&answer);
                rejected
            }
        };
        Ok(rejected.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }
}

/// `(b - a)` for two snapshots of one histogram (min and max are `b`'s:
/// unknown for the difference, and not sent for it).
fn histogram_delta(now: &HistogramData, before: &HistogramData) -> HistogramData {
    let mut out = now.clone();
    for (c, b) in out.counts.iter_mut().zip(&before.counts) {
        *c = c.saturating_sub(*b);
    }
    out.count = now.count.saturating_sub(before.count);
    out.sum = if out.count == 0 {
        0.0
    } else {
        now.sum - before.sum
    };
    out
}

/// Adds `data` to the metric `name` when it is the last one (the facade's
/// series come sorted by name), else as a new metric.
fn merge_into(
    metrics: &mut Vec<Metric>,
    name: String,
    unit: &'static str,
    description: &'static str,
    data: Data,
) {
    if let Some(last) = metrics.last_mut()
        && last.name == name
    {
        match (&mut last.data, data) {
            (Data::Sum { points, .. }, Data::Sum { points: more, .. })
            | (Data::Gauge { points }, Data::Gauge { points: more }) => {
                points.extend(more);
                return;
            }
            (Data::Histogram { points, .. }, Data::Histogram { points: more, .. }) => {
                points.extend(more);
                return;
            }
            (_, data) => {
                metrics.push(Metric {
                    name: name.into(),
                    description,
                    unit,
                    data,
                });
                return;
            }
        }
    }
    metrics.push(Metric {
        name: name.into(),
        description,
        unit,
        data,
    });
}

/// The rejected data points of an OTLP/JSON metrics response.
#[cfg(feature = "otlp-http")]
fn rejected_json(body: &[u8]) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let partial = value
        .get("partialSuccess")
        .or_else(|| value.get("partial_success"))?;
    let n = partial
        .get("rejectedDataPoints")
        .or_else(|| partial.get("rejected_data_points"))?;
    n.as_i64().or_else(|| n.as_str()?.parse().ok())
}

/// The rejected data points of a protobuf metrics response, through
/// prost (gRPC builds without the HTTP transport's reader).
#[cfg(all(feature = "otlp-grpc", not(feature = "otlp-http")))]
fn rejected_protobuf(body: &[u8]) -> Option<i64> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Response {
        #[prost(message, optional, tag = "1")]
        partial_success: Option<Partial>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Partial {
        #[prost(int64, tag = "1")]
        rejected_data_points: i64,
    }
    use prost::Message as _;
    Response::decode(body)
        .ok()?
        .partial_success
        .map(|p| p.rejected_data_points)
}
