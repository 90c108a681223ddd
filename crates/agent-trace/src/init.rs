//! The global tracer and latency metrics, and `init()`: one call that wires
//! the tracer, its exporters, its own metrics and (optionally) the
//! `tracing` subscriber.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agent_trace_core::{AgentStepTracer, Sampler, SpanProcessor as _, TraceError};
use agent_trace_export::{
    BatchConfig, BatchSpanProcessor, BatchStats, Diagnostics, Dropped, ExportError,
    MetricsProcessor, Resource, SpanExporter,
};
use agent_trace_metrics::{LatencyMetrics, TracerCounts, TracerMetrics};

use crate::LatencyProcessor;
use crate::exports::{Exports, TableFull};

static TRACER: OnceLock<AgentStepTracer> = OnceLock::new();
static METRICS: OnceLock<LatencyMetrics> = OnceLock::new();
/// Where [`tracer`] made the default global tracer, when it did (so that a
/// later `init` can say which call came first).
static FIRST_USE: OnceLock<&'static std::panic::Location<'static>> = OnceLock::new();

/// The process-wide tracer (the reference's global `tracer`): the one
/// [`init`] configured, or, if nothing did, a default tracer that keeps
/// recent traces in memory and exports nothing.
///
/// Call [`init`] before the first `tracer()`: the first call fixes the
/// global tracer, so an `init` after it is refused with
/// [`InitError::AlreadyInitialized`], whose message names the line of
/// that first call. A tracer made with [`AgentStepTracer::new`] or
/// [`AgentStepTracer::builder`] is a private one: `init`'s exporters,
/// metrics and `tracing` subscriber never see its spans.
///
/// ```
/// let span = agent_trace::tracer().start_trace("agent_task");
/// assert!(span.is_recording());
/// ```
#[track_caller]
pub fn tracer() -> &'static AgentStepTracer {
    let at = std::panic::Location::caller();
    TRACER.get_or_init(|| {
        let _ = FIRST_USE.set(at);
        AgentStepTracer::new()
    })
}

/// The process-wide latency metrics (the reference's global
/// `latency_metrics`), which [`AgentTraceLayer`](crate::AgentTraceLayer)
/// feeds with span durations.
///
/// ```
/// agent_trace::latency_metrics().record("tool_call", 0.25)?;
/// assert!(agent_trace::latency_metrics().percentiles("tool_call").is_some());
/// # Ok::<(), agent_trace::metrics::MetricsError>(())
/// ```
pub fn latency_metrics() -> &'static LatencyMetrics {
    METRICS.get_or_init(LatencyMetrics::new)
}

/// Why [`InitBuilder::install`] failed; nothing global was changed when it
/// returns this, except as each variant says.
///
/// ```
/// use agent_trace::InitError;
///
/// // Using the global tracer first fixes it: a later `init` is refused,
/// // naming where the global tracer was first used.
/// let _ = agent_trace::tracer();
/// let err = agent_trace::init().install().unwrap_err();
/// assert!(matches!(err, InitError::AlreadyInitialized));
/// assert!(err.to_string().contains("first used at "), "{err}");
/// ```
///
/// Its `Debug` is its message, so that `?` in a `main` that returns a
/// `Result` prints the cause (`Error: invalid sampler configuration:
/// unknown OTEL_TRACES_SAMPLER value "abc" (expected ...)`), not a nest of
/// variant names.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The global tracer exists already: [`tracer`] was used, or `init`
    /// ran, before this call. Call `init` first thing in `main`. The
    /// message names the line that first used [`tracer`], if one did.
    #[error("{}", already_initialized())]
    AlreadyInitialized,
    /// An exporter, the Prometheus listener or the pipeline could not be
    /// set up (the message carries the cause: the variable or setting at
    /// fault, the operating system's reason).
    #[error("cannot set up export: {0}")]
    Export(ExportError),
    /// `OTEL_TRACES_SAMPLER` or `OTEL_TRACES_SAMPLER_ARG` holds a value
    /// that names no sampler (the message names the variable).
    #[error("invalid sampler configuration: {0}")]
    Sampler(TraceError),
    /// `shutdown_on_signals` could not register its signal handlers.
    #[error("cannot handle SIGTERM/SIGINT: {0}")]
    Signals(std::io::Error),
    /// Another global `tracing` subscriber is installed while
    /// [`install_tracing_subscriber(true)`](InitBuilder::install_tracing_subscriber)
    /// asked for one (the tracer is set up regardless).
    #[cfg(feature = "tracing")]
    #[error(
        "a global tracing subscriber is already installed: add agent_trace::AgentTraceLayer to \
         it instead of install_tracing_subscriber(true)"
    )]
    SubscriberAlreadySet,
    /// An exporter cannot be added: `OTEL_SDK_DISABLED` turned
    /// agent-trace off.
    #[error("agent-trace is disabled (OTEL_SDK_DISABLED=true): no exporter can be added")]
    Disabled,
    /// More pipelines were added over the life of the process than the
    /// export table holds.
    #[error(
        "cannot add another export pipeline: {max} were added over the life of the process, \
         the most it keeps"
    )]
    TooManyPipelines {
        /// The limit.
        max: usize,
    },
    /// The `tracing` filter given in code or in `AGENT_TRACE_LOG` cannot
    /// be read (nothing global was changed).
    #[cfg(feature = "tracing")]
    #[error(
        "invalid tracing filter {value:?} from {origin}: {reason} (expected comma-separated \
         directives, e.g. `info` or `info,my_agent=debug`)"
    )]
    Filter {
        /// Where it came from: `AGENT_TRACE_LOG` or `InitBuilder::tracing_filter`.
        origin: String,
        /// The text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The message of [`InitError::AlreadyInitialized`].
fn already_initialized() -> String {
    match FIRST_USE.get() {
        Some(at) => format!(
            "the global tracer is already set: agent_trace::tracer() was first used at {at}, \
             before init(); call agent_trace::init() first thing in main"
        ),
        None => "the global tracer is already set: agent_trace::init() ran already".to_owned(),
    }
}

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<ExportError> for InitError {
    fn from(e: ExportError) -> Self {
        Self::Export(e)
    }
}

/// Configures and installs the global tracer; see [`init`] (which has the
/// example).
pub struct InitBuilder {
    service_name: Option<String>,
    service_version: Option<String>,
    exporters: Vec<Box<dyn SpanExporter>>,
    from_env: bool,
    file_default: bool,
    sampler: Option<Sampler>,
    batch: Option<BatchConfig>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<std::net::SocketAddr>,
    #[cfg(feature = "tracing")]
    subscriber: crate::subscriber::Install,
    #[cfg(feature = "tracing")]
    filter: Option<String>,
    print_on_shutdown: bool,
    store: Option<crate::TraceStoreConfig>,
    shutdown_timeout: Duration,
    latencies: bool,
    tail_sampling: Option<agent_trace_export::TailSamplingConfig>,
    price_table: Option<crate::cost::PriceTable>,
    diagnostics: Diagnostics,
    signals: bool,
}

impl fmt::Debug for InitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitBuilder")
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("exporters", &self.exporters)
            .field("from_env", &self.from_env)
            .field("file_default", &self.file_default)
            .field("print_on_shutdown", &self.print_on_shutdown)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Starts configuring agent-trace: `agent_trace::init().service_name("my-agent").install()?`.
///
/// With no configuration at all it works: the tracer keeps recent traces
/// in memory and, unless `OTEL_TRACES_EXPORTER` names exporters, writes
/// every span as OTLP JSON lines to `./agent-trace/traces-<time>-<pid>.jsonl`
/// (feature `file`, on by default). The returned [`Guard`] flushes and
/// shuts everything down when dropped.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _guard = agent_trace::init()
///         .service_name("research-agent")
///         .service_version("1.0.0")
///         .print_trees_on_shutdown(true)
///         .install()?;
///     let task = agent_trace::tracer().start_trace("agent_task");
///     task.end();
///     Ok(()) // the guard drops here: spans delivered, trees printed
/// }
/// ```
pub fn init() -> InitBuilder {
    InitBuilder {
        service_name: None,
        service_version: None,
        exporters: Vec::new(),
        from_env: true,
        file_default: true,
        sampler: None,
        batch: None,
        #[cfg(feature = "prometheus")]
        prometheus: None,
        #[cfg(feature = "tracing")]
        subscriber: crate::subscriber::Install::IfNone,
        #[cfg(feature = "tracing")]
        filter: None,
        print_on_shutdown: false,
        store: Some(crate::TraceStoreConfig::default()),
        shutdown_timeout: Duration::from_secs(5),
        latencies: true,
        tail_sampling: None,
        price_table: None,
        diagnostics: Diagnostics::default(),
        signals: false,
    }
}

impl InitBuilder {
    /// `service.name` (default `OTEL_SERVICE_NAME`, else `unknown_service`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Adds an exporter, behind a batch pipeline of its own. Explicit
    /// exporters replace the ones `OTEL_TRACES_EXPORTER` would name and the
    /// default file.
    pub fn exporter(mut self, exporter: impl SpanExporter + 'static) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// Whether `OTEL_TRACES_EXPORTER` and the `OTEL_EXPORTER_*` variables
    /// choose exporters when none is given explicitly (default `true`);
    /// also whether `OTEL_METRICS_EXPORTER` is read (`otlp`: the latency
    /// series, the tracer's own metrics and the GenAI metrics pushed over
    /// OTLP every `OTEL_METRIC_EXPORT_INTERVAL` and at shutdown;
    /// `prometheus`: the `/metrics` listener at
    /// `OTEL_EXPORTER_PROMETHEUS_HOST:PORT`, with the feature `prometheus`;
    /// see `agent_trace::export::otlp::metrics`).
    pub fn exporters_from_env(mut self, on: bool) -> Self {
        self.from_env = on;
        self
    }

    /// Whether spans go to the JSON-lines file when no exporter is
    /// configured at all (default `true`, with the `file` feature).
    pub fn file_by_default(mut self, on: bool) -> Self {
        self.file_default = on;
        self
    }

    /// The sampler (default: `OTEL_TRACES_SAMPLER` and
    /// `OTEL_TRACES_SAMPLER_ARG` when set, else parent-based, always on).
    /// A sampler given here wins over the environment.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Decides per trace, once it completes, which traces the export
    /// pipelines get: one
    /// [`TailSamplingProcessor`](agent_trace_export::TailSamplingProcessor)
    /// in front of all of them keeps errors, slow traces and a ratio of the
    /// rest, holding waiting spans within the config's byte cap (evictions
    /// counted as `agent_trace_spans_dropped_total{reason="tail_buffer_full"}`).
    /// Off by default: every recorded span is exported. The in-memory
    /// store and the latency metrics still see every span.
    ///
    /// ```
    /// use std::time::Duration;
    /// use agent_trace::TraceIdRatio;
    /// use agent_trace::export::{FnExporter, TailSamplingConfig};
    ///
    /// let guard = agent_trace::init()
    ///     .exporter(FnExporter::new("count", |_| Ok::<(), std::io::Error>(())))
    ///     .tail_sampling(TailSamplingConfig::default().with_ratio(TraceIdRatio::new(0.0)?))
    ///     .install()?;
    /// let mut failed = guard.tracer().start_trace("agent_task");
    /// failed.set_status("error")?;
    /// failed.end();
    /// guard.tracer().start_trace("agent_task").end(); // ordinary: not kept
    /// guard.flush(Duration::from_secs(5))?;
    /// assert_eq!(guard.export_stats()[0].1.exported, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tail_sampling(mut self, config: agent_trace_export::TailSamplingConfig) -> Self {
        self.tail_sampling = Some(config);
        self
    }

    /// The batch settings of every pipeline (default: OpenTelemetry's with a
    /// 1 s scheduled delay, overridden by `OTEL_BSP_*` where set).
    pub fn batch(mut self, config: BatchConfig) -> Self {
        self.batch = Some(config);
        self
    }

    /// Serves `/metrics` (latencies and the tracer's own metrics) on
    /// `addr`.
    #[cfg(feature = "prometheus")]
    pub fn prometheus_listener(mut self, addr: std::net::SocketAddr) -> Self {
        self.prometheus = Some(addr);
        self
    }

    /// Whether to install a global `tracing` subscriber with
    /// [`AgentTraceLayer`](crate::AgentTraceLayer), so that
    /// `#[instrument]` spans become agent spans.
    ///
    /// By default `init` installs one when no global subscriber exists yet,
    /// with a level filter (see [`tracing_filter`](Self::tracing_filter));
    /// when one exists (a subscriber set up before `init`) it installs none
    /// and says so once on stderr. `true` makes an existing subscriber an
    /// error ([`InitError::SubscriberAlreadySet`]); `false` installs none
    /// and says nothing.
    ///
    /// To keep a subscriber of your own (a `fmt` layer for logs, say), turn
    /// this off and add the layer to yours, after `init` (the layer needs
    /// the tracer `init` makes; `tracing_subscriber::fmt().init()` after an
    /// `init` that installed its subscriber panics, as it does whenever a
    /// global subscriber exists). Each span's latency is then still
    /// recorded once (see [`AgentTraceLayer::new`](crate::AgentTraceLayer::new)):
    ///
    /// ```no_run
    /// use tracing_subscriber::layer::SubscriberExt;
    /// use tracing_subscriber::util::SubscriberInitExt;
    ///
    /// let guard = agent_trace::init().install_tracing_subscriber(false).install()?;
    /// tracing_subscriber::registry()
    ///     // .with(tracing_subscriber::fmt::layer()) with its `fmt` feature
    ///     .with(agent_trace::AgentTraceLayer::new(guard.tracer().clone()))
    ///     .init();
    /// # Ok::<(), agent_trace::InitError>(())
    /// ```
    #[cfg(feature = "tracing")]
    pub fn install_tracing_subscriber(mut self, on: bool) -> Self {
        self.subscriber = if on {
            crate::subscriber::Install::Always
        } else {
            crate::subscriber::Install::Never
        };
        self
    }

    /// Which `tracing` spans the subscriber `init` installs records, as
    /// `env_logger`-style directives without regular expressions
    /// (`"info"`, `"info,my_agent=debug"`, `"off"`). Default: the
    /// `AGENT_TRACE_LOG` variable, else `RUST_LOG`, else `"info"`, so that
    /// dependencies' `debug` and `trace` spans are not recorded unless
    /// asked for. A filter given here or in `AGENT_TRACE_LOG` that cannot
    /// be read fails [`install`](Self::install) with [`InitError::Filter`].
    ///
    /// ```no_run
    /// let _guard = agent_trace::init()
    ///     .tracing_filter("info,my_agent=debug,hyper=warn")
    ///     .install()?;
    /// # Ok::<(), agent_trace::InitError>(())
    /// ```
    #[cfg(feature = "tracing")]
    pub fn tracing_filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Whether every span's duration is recorded into [`latency_metrics`]
    /// under its name (default `true`; see [`LatencyProcessor`]).
    pub fn record_latencies(mut self, on: bool) -> Self {
        self.latencies = on;
        self
    }

    /// Whether finished traces are kept in memory, in the tracer's
    /// [`TraceStore`](crate::TraceStore) with its default retention (the
    /// last 100 traces, for an hour at most), so that `tracer().trace(id)`
    /// and [`print_trees_on_shutdown`](Self::print_trees_on_shutdown) find
    /// them (default `true`). A service that only exports can turn it off;
    /// [`trace_store`](Self::trace_store) sets another retention.
    ///
    /// ```no_run
    /// let _guard = agent_trace::init().keep_traces_in_memory(false).install()?;
    /// assert!(agent_trace::tracer().store().is_none());
    /// # Ok::<(), agent_trace::InitError>(())
    /// ```
    pub fn keep_traces_in_memory(mut self, on: bool) -> Self {
        self.store = on.then(crate::TraceStoreConfig::default);
        self
    }

    /// Keeps finished traces in memory with this retention (and turns the
    /// store on). The default keeps 100 traces: see
    /// [`TraceStoreConfig::max_traces`](crate::TraceStoreConfig::max_traces)
    /// for what a larger store costs per span.
    ///
    /// ```no_run
    /// use agent_trace::TraceStoreConfig;
    ///
    /// let _guard = agent_trace::init()
    ///     .trace_store(TraceStoreConfig {
    ///         max_traces: 1_000,
    ///         ..TraceStoreConfig::default()
    ///     })
    ///     .install()?;
    /// # Ok::<(), agent_trace::InitError>(())
    /// ```
    pub fn trace_store(mut self, config: crate::TraceStoreConfig) -> Self {
        self.store = Some(config);
        self
    }

    /// Prints the tree of every trace kept in memory when the guard drops.
    pub fn print_trees_on_shutdown(mut self, on: bool) -> Self {
        self.print_on_shutdown = on;
        self
    }

    /// The price table of the global
    /// [`cost_ledger`](crate::cost::cost_ledger), which prices the LLM calls
    /// of the [`genai`](crate::genai) helpers (default: the dated built-in
    /// table, [`PriceTable::builtin`](crate::cost::PriceTable::builtin)).
    ///
    /// ```no_run
    /// use agent_trace::cost::PriceTable;
    ///
    /// let _guard = agent_trace::init()
    ///     .price_table(PriceTable::load("prices.json")?) // .toml: feature `toml`
    ///     .install()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn price_table(mut self, table: crate::cost::PriceTable) -> Self {
        self.price_table = Some(table);
        self
    }

    /// How long the guard's drop (or a signal, with
    /// [`shutdown_on_signals`](Self::shutdown_on_signals)) waits for the
    /// export pipelines and then the last OTLP metrics push, all together
    /// (default 5 s). What is still queued or being sent then is counted
    /// as dropped (`shutdown_deadline`) and reported.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Where the export pipelines report failures, recoveries, dropped
    /// spans and what was not delivered at shutdown: one line each on
    /// stderr by default, [`Diagnostics::off`] for none, or
    /// [`Diagnostics::callback`] for your own handling (see
    /// [`agent_trace_export::diagnostics`]).
    ///
    /// ```
    /// use agent_trace::export::{Diagnostics, ExportEvent, FnExporter};
    ///
    /// let _guard = agent_trace::init()
    ///     .exporter(FnExporter::new("mine", |_| Ok::<(), std::io::Error>(())))
    ///     .diagnostics(Diagnostics::callback(|event: &ExportEvent<'_>| {
    ///         // Runs on the pipeline's thread, where tracing is suppressed.
    ///         let _line = event.to_string();
    ///     }))
    ///     .install()?;
    /// # Ok::<(), agent_trace::InitError>(())
    /// ```
    pub fn diagnostics(mut self, diagnostics: Diagnostics) -> Self {
        self.diagnostics = diagnostics;
        self
    }

    /// On SIGTERM or SIGINT, delivers what the pipelines hold (waiting at
    /// most the [`shutdown_timeout`](Self::shutdown_timeout)), then lets
    /// the signal end the process as it would have (default `false`).
    /// A second signal while that runs ends the process at once. Unix
    /// only; elsewhere the setting does nothing.
    ///
    /// Without it, a process killed by a signal loses every span not yet
    /// exported (up to the scheduled delay's worth). In an async program
    /// the alternative is to wait for the signal yourself and let the
    /// guard drop, which also works on Windows:
    ///
    /// ```no_run
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let guard = agent_trace::init().service_name("my-agent").install()?;
    ///     // ... start the agent's tasks ...
    ///     tokio::signal::ctrl_c().await?;
    ///     drop(guard); // delivers what is queued, within the shutdown timeout
    ///     Ok(())
    /// }
    /// ```
    pub fn shutdown_on_signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Sets everything up and makes the tracer global.
    ///
    /// # Errors
    ///
    /// [`InitError`]: the global tracer exists already, an exporter or the
    /// Prometheus listener cannot be set up, or another `tracing`
    /// subscriber is installed.
    pub fn install(self) -> Result<Guard, InitError> {
        if TRACER.get().is_some() {
            return Err(InitError::AlreadyInitialized);
        }
        if sdk_disabled() {
            return self.install_disabled();
        }
        // Everything read from the environment is checked before anything
        // global changes.
        let sampler = match self.sampler {
            Some(s) => Some(s),
            None => sampler_from_env()?,
        };
        // `OTEL_RESOURCE_ATTRIBUTES`, with a service name given in code
        // winning over `OTEL_SERVICE_NAME`.
        let mut resource = Resource::from_env()?;
        if let Some(name) = self.service_name {
            resource =
                resource.with_attribute(agent_trace_core::KeyValue::new("service.name", name));
        }
        if let Some(v) = self.service_version {
            resource = resource.with_version(v);
        }
        let mut exporters = self.exporters;
        let mut default_file = None;
        if exporters.is_empty() && self.from_env {
            if let Some(from_env) = agent_trace_export::exporters_from_env(&resource)? {
                exporters = from_env;
            } else {
                (exporters, default_file) = default_exporters(self.file_default, &resource)?;
            }
        } else if exporters.is_empty() {
            (exporters, default_file) = default_exporters(self.file_default, &resource)?;
        }
        let batch = match self.batch {
            Some(b) => b,
            None => default_batch()?,
        };
        #[allow(
            unused_mut,
            unused_variables,
            reason = "depends on the features compiled in"
        )]
        let mut metrics_env = if self.from_env {
            metrics_from_env(&resource)?
        } else {
            MetricsFromEnv::default()
        };
        #[cfg(feature = "tracing")]
        let filter = match self.subscriber {
            crate::subscriber::Install::Never => None,
            _ => Some(crate::subscriber::check_filter(self.filter.as_deref())?),
        };

        if let Some(table) = self.price_table {
            crate::cost::cost_ledger().set_price_table(table);
        }
        // A listener given in code wins over `OTEL_METRICS_EXPORTER`'s.
        #[cfg(feature = "prometheus")]
        let prometheus = self.prometheus.or(metrics_env.prometheus);
        // The facade's series (the GenAI metrics, the cost counter) reach
        // OTLP through a recorder of its own: the global one, or beside
        // Prometheus's when both are on (one process has one global
        // recorder; a fan-out of the two takes its place). A recorder the
        // application installed first stays, and is said so.
        #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
        #[cfg_attr(
            not(feature = "prometheus"),
            allow(unused_mut, reason = "only Prometheus takes it beside its own")
        )]
        let mut otlp_recorder = metrics_env
            .otlp
            .is_some()
            .then(agent_trace_export::otlp::metrics::OtlpRecorder::new);
        #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
        let facade = otlp_recorder.as_ref().map(|r| r.facade_metrics());
        #[cfg(feature = "prometheus")]
        if let Some(addr) = prometheus {
            #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
            match otlp_recorder.take() {
                Some(otlp) => {
                    agent_trace_export::install_prometheus_listener_beside(addr, otlp)?;
                }
                None => {
                    agent_trace_export::install_prometheus_listener(addr)?;
                }
            }
            #[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
            agent_trace_export::install_prometheus_listener(addr)?;
        }
        #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
        let facade = match otlp_recorder {
            // Not beside Prometheus's: the global recorder, if it can be.
            Some(otlp) => match otlp.install() {
                Ok(series) => Some(series),
                Err(_) => {
                    say(
                        "a global `metrics` recorder is installed already: the GenAI and cost \
                         metrics are not pushed over OTLP (latencies and the tracer's metrics are)",
                    );
                    None
                }
            },
            None => facade,
        };
        // After the recorder, so that the handles register with it.
        let metrics = TracerMetrics::new();
        #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
        let metrics_reader = match metrics_env.otlp.take() {
            Some((mut exporter, reader)) => {
                exporter.set_tracer_metrics(metrics.clone());
                if let Some(series) = facade {
                    exporter.set_facade_metrics(series);
                }
                Some(
                    reader
                        .diagnostics(self.diagnostics.clone())
                        .metrics(&metrics)
                        .build(exporter)?,
                )
            }
            None => None,
        };

        let mut builder =
            AgentStepTracer::builder().processor(Arc::new(MetricsProcessor::new(metrics.clone())));
        if self.latencies {
            builder = builder.processor(Arc::new(LatencyProcessor::global()));
        } else {
            // No latency registry, so nothing else keeps the metrics clock
            // thread, which is what tells the GenAI helpers which `metrics`
            // recorder may have its handles kept: without it each GenAI
            // record registered by name (the agent workload bench: 110k
            // instructions a task with latencies off against 53k with them
            // on, and more CPU in all).
            agent_trace_metrics::watch_process_recorder();
        }
        if let Some(s) = sampler {
            builder = builder.sampler(s);
        }
        builder = match self.store.clone() {
            Some(config) => builder.store(config),
            None => builder.without_store(),
        };
        // The pipelines, behind the one processor that lets them change
        // later (`Guard::configure_export`).
        let exports = Arc::new(Exports::new());
        let pipeline = PipelineConfig {
            batch,
            metrics: metrics.clone(),
            diagnostics: self.diagnostics.clone(),
        };
        for exporter in exporters {
            // Fewer than `MAX_PIPELINES` exporters at start: the table has room.
            let _ = exports.add(pipeline.build(exporter)?, false);
        }
        builder = match self.tail_sampling {
            // One sampler in front of every pipeline.
            Some(config) => builder.processor(Arc::new(
                agent_trace_export::TailSamplingProcessor::builder(exports.clone())
                    .config(config)
                    .metrics(&metrics)
                    .build()?,
            )),
            None => builder.processor(exports.clone()),
        };
        let tracer = builder.build();
        TRACER
            .set(tracer.clone())
            .map_err(|_| InitError::AlreadyInitialized)?;
        let guard = Guard {
            shared: Arc::new(GuardShared {
                tracer: tracer.clone(),
                exports,
                pipeline: Some(pipeline),
                metrics: Some(metrics),
                #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
                metrics_reader,
                print: self.print_on_shutdown,
                timeout: self.shutdown_timeout,
                done: std::sync::atomic::AtomicBool::new(false),
            }),
            default_file,
        };
        if self.signals {
            signals::install(guard.shared.clone()).map_err(InitError::Signals)?;
        }
        #[cfg(feature = "tracing")]
        if let Some(filter) = filter {
            crate::subscriber::install(self.subscriber, filter, tracer, self.latencies)?;
        }
        Ok(guard)
    }

    /// `OTEL_SDK_DISABLED=true`: a global tracer that records nothing (no
    /// exporters, no store, no latencies, no listener, no subscriber).
    fn install_disabled(self) -> Result<Guard, InitError> {
        let tracer = AgentStepTracer::builder()
            .sampler(Sampler::AlwaysOff)
            .without_store()
            .build();
        TRACER
            .set(tracer.clone())
            .map_err(|_| InitError::AlreadyInitialized)?;
        Ok(Guard {
            shared: Arc::new(GuardShared {
                tracer,
                exports: Arc::new(Exports::new()),
                pipeline: None,
                metrics: None,
                #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
                metrics_reader: None,
                print: false,
                timeout: self.shutdown_timeout,
                done: std::sync::atomic::AtomicBool::new(false),
            }),
            default_file: None,
        })
    }
}

/// Whether `OTEL_SDK_DISABLED` is `true` (case-insensitive). Any other
/// value is false, as the specification says of its booleans; a value
/// that is neither `true` nor `false` is said so on stderr.
fn sdk_disabled() -> bool {
    let Ok(v) = std::env::var("OTEL_SDK_DISABLED") else {
        return false;
    };
    let v = v.trim();
    if v.eq_ignore_ascii_case("true") {
        return true;
    }
    if !v.is_empty() && !v.eq_ignore_ascii_case("false") {
        say(&format!(
            "OTEL_SDK_DISABLED={v:?} is neither true nor false; read as false (tracing stays on)"
        ));
    }
    false
}

/// One line on stderr, prefixed with `agent-trace: `, written at once (so
/// that lines of other threads do not cut into it).
pub(crate) fn say(text: &str) {
    use std::io::Write as _;
    let line = format!("agent-trace: {text}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The sampler `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` name, if
/// set.
fn sampler_from_env() -> Result<Option<Sampler>, InitError> {
    let value = |name| {
        std::env::var(name)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    let Some(name) = value("OTEL_TRACES_SAMPLER") else {
        return Ok(None);
    };
    let arg = value("OTEL_TRACES_SAMPLER_ARG");
    Sampler::from_otel_env(&name, arg.as_deref())
        .map(Some)
        .map_err(InitError::Sampler)
}

/// The OTLP metrics push `OTEL_METRICS_EXPORTER` asks for: the exporter,
/// built (so that every variable is checked before anything global
/// changes), and the reader's settings.
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
type OtlpMetrics = (
    agent_trace_export::otlp::metrics::OtlpMetricsExporter,
    agent_trace_export::otlp::metrics::PeriodicMetricsReaderBuilder,
);

/// What `OTEL_METRICS_EXPORTER` names.
#[derive(Default)]
struct MetricsFromEnv {
    #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
    otlp: Option<OtlpMetrics>,
    /// Where `prometheus` serves (`OTEL_EXPORTER_PROMETHEUS_HOST` and
    /// `_PORT`, default `localhost:9464`).
    #[cfg(feature = "prometheus")]
    prometheus: Option<std::net::SocketAddr>,
}

/// `OTEL_METRICS_EXPORTER`: a comma-separated list of `otlp`, `prometheus`
/// and `none`, each configured from its own variables. Unset, an OTLP
/// endpoint (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, or the general
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) selects `otlp`, as it does for traces
/// (the specification's default exporter is OTLP: a collector named for
/// every signal receives every signal); `OTEL_METRICS_EXPORTER=none`
/// keeps spans only. An unknown name, or one whose feature is not
/// compiled in, is an error that names it, as for `OTEL_TRACES_EXPORTER`.
fn metrics_from_env(resource: &Resource) -> Result<MetricsFromEnv, InitError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(list) = var("OTEL_METRICS_EXPORTER").or_else(|| {
        (var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").is_some()
            || var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some())
        .then(|| "otlp".to_owned())
    }) else {
        return Ok(MetricsFromEnv::default());
    };
    let _ = resource;
    #[allow(unused_mut, reason = "no metrics exporter feature may be compiled in")]
    let mut out = MetricsFromEnv::default();
    let missing = |name: &str, feature: &str| {
        InitError::Export(ExportError::Config(format!(
            "OTEL_METRICS_EXPORTER names {name:?}, which needs the agent-trace feature {feature:?}"
        )))
    };
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "none" => {}
            "otlp" => {
                #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
                {
                    use agent_trace_export::otlp::metrics::{
                        OtlpMetricsExporter, PeriodicMetricsReader,
                    };
                    let exporter = OtlpMetricsExporter::builder()
                        .resource(resource.clone())
                        .latency_metrics_static(latency_metrics())
                        .from_env()?
                        .build()?;
                    let reader = PeriodicMetricsReader::builder().from_env()?;
                    out.otlp = Some((exporter, reader));
                }
                #[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
                return Err(missing(name, "otlp-http"));
            }
            "prometheus" => {
                #[cfg(feature = "prometheus")]
                {
                    let host = var("OTEL_EXPORTER_PROMETHEUS_HOST")
                        .unwrap_or_else(|| "localhost".to_owned());
                    let port =
                        var("OTEL_EXPORTER_PROMETHEUS_PORT").unwrap_or_else(|| "9464".to_owned());
                    let port: u16 = port.trim().parse().map_err(|_| {
                        ExportError::Config(format!(
                            "OTEL_EXPORTER_PROMETHEUS_PORT={port:?} is not a port"
                        ))
                    })?;
                    let host = host.trim();
                    let ip: std::net::IpAddr = if host.eq_ignore_ascii_case("localhost") {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    } else {
                        host.trim_matches(['[', ']']).parse().map_err(|_| {
                            ExportError::Config(format!(
                                "OTEL_EXPORTER_PROMETHEUS_HOST={host:?} is not an IP address \
                                 or localhost"
                            ))
                        })?
                    };
                    out.prometheus = Some(std::net::SocketAddr::new(ip, port));
                }
                #[cfg(not(feature = "prometheus"))]
                return Err(missing(name, "prometheus"));
            }
            other => {
                return Err(InitError::Export(ExportError::Config(format!(
                    "OTEL_METRICS_EXPORTER names unknown exporter {other:?} \
                     (expected otlp, prometheus or none)"
                ))));
            }
        }
    }
    let _ = missing;
    Ok(out)
}

/// OpenTelemetry's batch settings with a 1 s delay (an agent's spans are
/// few and a developer waits for them), then `OTEL_BSP_*` where valid.
fn default_batch() -> Result<BatchConfig, ExportError> {
    let env = BatchConfig::from_env()?;
    Ok(if std::env::var_os("OTEL_BSP_SCHEDULE_DELAY").is_some() {
        env
    } else {
        env.with_scheduled_delay(Duration::from_secs(1))
    })
}

/// Exporters, one pipeline each, and the file the default exporter writes.
type DefaultExporters = (Vec<Box<dyn SpanExporter>>, Option<std::path::PathBuf>);

/// The file exporter when wanted and compiled in, with the file it writes;
/// nothing otherwise.
#[allow(
    clippy::vec_box,
    reason = "exporters of different types, one pipeline each"
)]
fn default_exporters(file: bool, resource: &Resource) -> Result<DefaultExporters, InitError> {
    #[cfg(feature = "file")]
    if file {
        let exporter = agent_trace_export::FileExporter::builder()
            .resource(resource.clone())
            .build()?;
        let path = exporter.path().map(std::path::Path::to_path_buf);
        return Ok((vec![Box::new(exporter)], path));
    }
    let _ = (file, resource);
    Ok((Vec::new(), None))
}

/// Returned by [`InitBuilder::install`]: flushes and shuts down the export
/// pipelines when dropped (waiting at most the shutdown timeout), after
/// printing the trees kept in memory if asked. Spans the pipelines could
/// not deliver are reported on stderr (see [`InitBuilder::diagnostics`])
/// and counted in [`summary`](Self::summary).
///
/// Dropping it is safe anywhere, `async` code included: it blocks the
/// dropping thread for at most the shutdown timeout, and starts or drops
/// no runtime.
///
/// ```
/// use std::time::Duration;
/// use agent_trace::export::FnExporter;
///
/// let guard = agent_trace::init()
///     .exporter(FnExporter::new("count", |batch| {
///         println!("{} spans", batch.len());
///         Ok::<(), std::io::Error>(())
///     }))
///     .install()?;
/// guard.tracer().start_trace("agent_task").end();
/// guard.flush(Duration::from_secs(5))?;
/// let (name, stats) = guard.export_stats()[0];
/// assert_eq!((name, stats.exported), ("count", 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard at once shuts the pipelines down"]
pub struct Guard {
    shared: Arc<GuardShared>,
    /// The JSON-lines file of the default exporter, when that is in use.
    default_file: Option<std::path::PathBuf>,
}

/// How `init` builds a pipeline, kept for exporters added later.
#[derive(Clone)]
struct PipelineConfig {
    batch: BatchConfig,
    metrics: TracerMetrics,
    diagnostics: Diagnostics,
}

impl PipelineConfig {
    /// A batch pipeline for `exporter`.
    fn build(
        &self,
        exporter: Box<dyn SpanExporter>,
    ) -> Result<Arc<BatchSpanProcessor>, ExportError> {
        Ok(Arc::new(
            BatchSpanProcessor::builder(exporter)
                .config(self.batch)
                .metrics(&self.metrics)
                .diagnostics(self.diagnostics.clone())
                .build()?,
        ))
    }
}

/// What the guard and the signal thread share.
struct GuardShared {
    tracer: AgentStepTracer,
    exports: Arc<Exports>,
    /// `None` with `OTEL_SDK_DISABLED` (no exporter can be added).
    pipeline: Option<PipelineConfig>,
    metrics: Option<TracerMetrics>,
    /// The OTLP metrics push `OTEL_METRICS_EXPORTER=otlp` started: shut
    /// down (a last push) after the tracer.
    #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
    metrics_reader: Option<agent_trace_export::otlp::metrics::PeriodicMetricsReader>,
    print: bool,
    timeout: Duration,
    /// Set by the first shutdown (the guard's drop or a signal).
    done: std::sync::atomic::AtomicBool,
}

impl GuardShared {
    /// Prints the trees if asked and shuts the tracer down, once; the
    /// first pipeline that failed or ran out of time, if any.
    fn shutdown(&self) -> Result<(), TraceError> {
        if self.done.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        if self.print
            && let Some(store) = self.tracer.store()
        {
            let mut traces = store.recent(usize::MAX);
            traces.reverse();
            let mut out = String::new();
            for t in traces {
                out.push_str(&t.render());
            }
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
        }
        // One deadline for the whole shutdown.
        let left = agent_trace_core::time_left(self.timeout);
        // Each pipeline also reports what it could not deliver, with the
        // cause, through its diagnostics.
        let traced = self.tracer.shutdown(left());
        // The last metrics push, after the pipelines, so that it carries
        // their final counts, in the time they left; its failure (or its
        // running out of time) is reported through the same diagnostics
        // and counted in the export failures.
        #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
        if let Some(reader) = &self.metrics_reader {
            let _ = reader.shutdown(left());
        }
        #[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
        let _ = left;
        traced
    }
}

/// What [`Guard::shutdown`] returns when spans were lost: some were not
/// delivered (dropped at any time, by reason), or a pipeline failed or
/// ran out of time. It holds the final summary; each pipeline has also
/// reported the cause of its losses on its diagnostics (stderr by
/// default).
///
/// Its `Debug` reads like its `Display` followed by the causes, since that
/// is what `main` prints when it returns the error; `{:#?}` shows every
/// field.
#[derive(thiserror::Error)]
#[error("tracing shut down with {} not delivered", summary.dropped())]
#[non_exhaustive]
pub struct ShutdownError {
    /// The first pipeline that failed or ran out of time at shutdown, if
    /// one did.
    #[source]
    pub cause: Option<TraceError>,
    /// Where every span went.
    pub summary: TelemetrySummary,
}

impl fmt::Debug for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("ShutdownError")
                .field("cause", &self.cause)
                .field("summary", &self.summary)
                .finish();
        }
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        if source.is_some() {
            f.write_str("\n\nCaused by:")?;
        }
        while let Some(cause) = source {
            write!(f, "\n    {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("print", &self.shared.print)
            .field("timeout", &self.shared.timeout)
            .field("pipelines", &self.shared.exports.active_count())
            .finish()
    }
}

/// The tracer's own metrics at one moment, without Prometheus: the
/// reference's metrics summary (`trace_count`, `span_count`,
/// `active_spans`, `export_success`, `export_failure`), with where every
/// span went. See [`Guard::summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetrySummary {
    /// Span and trace counts (`trace_count`, `span_count`,
    /// `active_spans`); all zero with `OTEL_SDK_DISABLED`.
    pub spans: TracerCounts,
    /// Each export pipeline's exporter name and where its spans went.
    pub exports: Vec<(&'static str, BatchStats)>,
}

impl TelemetrySummary {
    /// Export calls that succeeded, over every pipeline (`export_success`).
    pub fn export_success(&self) -> u64 {
        self.exports.iter().map(|(_, s)| s.batches_exported).sum()
    }

    /// Batches given up on, over every pipeline (`export_failure`).
    pub fn export_failure(&self) -> u64 {
        self.exports.iter().map(|(_, s)| s.batches_failed).sum()
    }

    /// Spans delivered, over every pipeline.
    pub fn delivered(&self) -> u64 {
        self.exports.iter().map(|(_, s)| s.exported).sum()
    }

    /// Spans not delivered, by reason, over every pipeline.
    pub fn dropped(&self) -> Dropped {
        let mut d = Dropped::default();
        for (_, s) in &self.exports {
            let r = s.dropped_by_reason();
            d.queue_full += r.queue_full;
            d.export_failed += r.export_failed;
            d.rejected += r.rejected;
            d.after_shutdown += r.after_shutdown;
            d.shutdown_deadline += r.shutdown_deadline;
        }
        d
    }
}

impl fmt::Display for TelemetrySummary {
    /// A few lines: the span counts, then one line per exporter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.spans;
        writeln!(
            f,
            "traces {}, spans {} ({} ended, {} active)",
            c.traces, c.spans, c.ended, c.active
        )?;
        for (name, s) in &self.exports {
            writeln!(
                f,
                "{name}: {} delivered in {} exports, {} failed exports, dropped {}, {} queued, {} in flight",
                s.exported,
                s.batches_exported,
                s.batches_failed,
                s.dropped_by_reason(),
                s.queued,
                s.in_flight
            )?;
        }
        Ok(())
    }
}

impl Guard {
    /// The JSON-lines file the default file exporter writes, when `init()`
    /// fell back to it (no exporter given or named by the environment);
    /// `None` otherwise.
    pub fn default_file(&self) -> Option<&std::path::Path> {
        self.default_file.as_deref()
    }

    /// Each export pipeline's exporter name and where its spans went so
    /// far (delivered, dropped by reason, queued).
    /// Pipelines replaced by [`configure_export`](Self::configure_export)
    /// are included, after their shutdown, so that every span stays
    /// accounted for.
    pub fn export_stats(&self) -> Vec<(&'static str, BatchStats)> {
        self.shared.exports.stats()
    }

    /// Adds an exporter, behind a batch pipeline of its own built like
    /// `init`'s (same batch settings, metrics and diagnostics): spans that
    /// end from now on reach it too.
    ///
    /// # Errors
    ///
    /// [`InitError::Export`] when the pipeline cannot be built;
    /// [`InitError::Disabled`] under `OTEL_SDK_DISABLED`;
    /// [`InitError::TooManyPipelines`] past the process's limit of
    /// pipelines added.
    pub fn add_exporter(&self, exporter: impl SpanExporter + 'static) -> Result<(), InitError> {
        self.change_export(Box::new(exporter), false)
    }

    /// Replaces every exporter with `exporter` while spans flow (the
    /// reference's `configure_export`): spans that end from now on go to
    /// it; the old pipelines deliver what they hold, waiting at most the
    /// shutdown timeout, and stop (what they could not deliver is
    /// reported and counted, as at shutdown). A span that ends during the
    /// change reaches the old exporter, the new one, or both, never
    /// neither. Blocks the calling thread while the old pipelines drain.
    ///
    /// ```
    /// use std::time::Duration;
    /// use agent_trace::export::FnExporter;
    ///
    /// let guard = agent_trace::init()
    ///     .exporter(FnExporter::new("first", |_| Ok::<(), std::io::Error>(())))
    ///     .install()?;
    /// guard.tracer().start_trace("before").end();
    /// guard.configure_export(FnExporter::new("second", |_| Ok::<(), std::io::Error>(())))?;
    /// guard.tracer().start_trace("after").end();
    /// guard.flush(Duration::from_secs(5))?;
    /// let stats = guard.export_stats();
    /// assert_eq!((stats[0].0, stats[0].1.exported), ("first", 1));
    /// assert_eq!((stats[1].0, stats[1].1.exported), ("second", 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`add_exporter`](Self::add_exporter); on an error nothing changed.
    pub fn configure_export(&self, exporter: impl SpanExporter + 'static) -> Result<(), InitError> {
        self.change_export(Box::new(exporter), true)
    }

    fn change_export(
        &self,
        exporter: Box<dyn SpanExporter>,
        replace: bool,
    ) -> Result<(), InitError> {
        let shared = &self.shared;
        let Some(config) = &shared.pipeline else {
            return Err(InitError::Disabled);
        };
        let pipeline = config.build(exporter)?;
        match shared.exports.add(pipeline.clone(), replace) {
            Ok(retired) => {
                for old in retired {
                    // What it could not deliver is reported by its
                    // diagnostics and counted in its stats.
                    let _ = old.shutdown(shared.timeout);
                }
                Ok(())
            }
            Err(TableFull) => {
                let _ = pipeline.shutdown(shared.timeout);
                Err(InitError::TooManyPipelines {
                    max: crate::exports::MAX_PIPELINES,
                })
            }
        }
    }

    /// The tracer's own metrics and every pipeline's accounting, readable
    /// without Prometheus. Once the guard's pipelines are idle or shut
    /// down, every recorded span is accounted for:
    /// `spans.ended == delivered + dropped` for each pipeline (without tail
    /// sampling, which drops traces on purpose).
    ///
    /// ```
    /// use std::time::Duration;
    /// use agent_trace::export::FnExporter;
    ///
    /// let guard = agent_trace::init()
    ///     .exporter(FnExporter::new("count", |_| Ok::<(), std::io::Error>(())))
    ///     .install()?;
    /// guard.tracer().in_span("agent_task", |_| {});
    /// guard.flush(Duration::from_secs(5))?;
    /// let summary = guard.summary();
    /// assert_eq!((summary.spans.traces, summary.delivered()), (1, 1));
    /// assert_eq!(summary.dropped().total(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary(&self) -> TelemetrySummary {
        TelemetrySummary {
            spans: self
                .shared
                .metrics
                .as_ref()
                .map(TracerMetrics::counts)
                .unwrap_or_default(),
            exports: self.export_stats(),
        }
    }

    /// The global tracer this guard shuts down.
    pub fn tracer(&self) -> &AgentStepTracer {
        &self.shared.tracer
    }

    /// Delivers everything queued so far, waiting at most `timeout`: the
    /// span pipelines', then (with `OTEL_METRICS_EXPORTER=otlp`) a metrics
    /// push of the values recorded so far.
    ///
    /// # Errors
    ///
    /// The first pipeline that failed or timed out, or the metrics push's
    /// failure.
    pub fn flush(&self, timeout: Duration) -> Result<(), TraceError> {
        let traced = self.shared.tracer.force_flush(timeout);
        #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
        if let Some(reader) = &self.shared.metrics_reader {
            let pushed = reader
                .force_flush(timeout)
                .map_err(|cause| TraceError::Processor {
                    processor: "OTLP metrics push",
                    cause: Box::new(cause),
                });
            return traced.and(pushed);
        }
        traced
    }
}

impl Guard {
    /// Shuts tracing down now, as dropping the guard does (the trees
    /// printed if asked, what is queued delivered within the shutdown
    /// timeout), and returns the final [`TelemetrySummary`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let guard = agent_trace::init().install()?;
    /// agent_trace::tracer().start_trace("agent_task").end();
    /// let summary = guard.shutdown()?;
    /// println!("{summary}");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ShutdownError`] when spans were lost: not delivered (a collector
    /// down, say, or a full queue earlier on), or a pipeline failed or ran
    /// out of time; it holds the summary, with the lost spans counted by
    /// reason.
    pub fn shutdown(self) -> Result<TelemetrySummary, ShutdownError> {
        let result = self.shared.shutdown();
        let summary = self.summary();
        match result {
            Ok(()) if summary.dropped().total() == 0 => Ok(summary),
            result => Err(ShutdownError {
                cause: result.err(),
                summary,
            }),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.shared.shutdown();
    }
}

/// `shutdown_on_signals`: a thread that waits for SIGTERM and SIGINT.
#[cfg(unix)]
mod signals {
    use std::sync::Arc;

    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    use super::GuardShared;

    /// Registers the handlers and starts the thread. On the first signal a
    /// second thread shuts the pipelines down (within the guard's timeout)
    /// and then ends the process the way the signal would have; a second
    /// signal meanwhile ends it at once.
    pub(super) fn install(shared: Arc<GuardShared>) -> std::io::Result<()> {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        std::thread::Builder::new()
            .name("agent-trace-signals".into())
            .spawn(move || {
                agent_trace_core::suppress_tracing_on_this_thread();
                let mut first = None;
                for signal in signals.forever() {
                    if first.is_some() {
                        let _ = signal_hook::low_level::emulate_default_handler(signal);
                        // Not expected to return; leave at once regardless.
                        std::process::exit(128 + signal);
                    }
                    first = Some(signal);
                    let for_flusher = shared.clone();
                    let flusher = std::thread::Builder::new()
                        .name("agent-trace-signal-flush".into())
                        .spawn(move || shutdown_then_exit(&for_flusher, signal));
                    if flusher.is_err() {
                        shutdown_then_exit(&shared, signal);
                    }
                }
            })?;
        Ok(())
    }

    /// Delivers what the pipelines hold, then ends the process as the
    /// signal would have.
    fn shutdown_then_exit(shared: &GuardShared, signal: i32) -> ! {
        let _ = shared.shutdown();
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        std::process::exit(128 + signal)
    }
}

/// No signals to handle outside Unix.
#[cfg(not(unix))]
mod signals {
    use std::sync::Arc;

    use super::GuardShared;

    pub(super) fn install(_shared: Arc<GuardShared>) -> std::io::Result<()> {
        Ok(())
    }
}
