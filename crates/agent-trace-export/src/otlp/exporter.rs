//! The OTLP exporter: gRPC, HTTP/protobuf or HTTP/JSON.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use agent_trace_core::FinishedSpan;

#[cfg(feature = "otlp-grpc")]
use super::encode::to_request;
#[cfg(feature = "otlp-grpc")]
use super::grpc;
#[cfg(feature = "otlp-http")]
use super::{JsonEncoder, ProtobufEncoder, response};
#[cfg(feature = "otlp-http")]
use crate::http::HttpTransport;
use crate::{ExportError, ExportOutcome, Headers, Resource, SpanExporter};

/// The default OTLP/gRPC endpoint.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The default OTLP/HTTP traces endpoint.
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// How OTLP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// gRPC (`grpc`), to port 4317 by default. Needs the `otlp-grpc`
    /// feature.
    Grpc,
    /// Protobuf over HTTP (`http/protobuf`), to port 4318 by default.
    #[default]
    HttpProtobuf,
    /// JSON over HTTP (`http/json`).
    HttpJson,
}

impl FromStr for OtlpProtocol {
    type Err = ExportError;

    /// The values of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            "http/json" => Ok(Self::HttpJson),
            other => Err(ExportError::Config(format!(
                "unknown OTLP protocol {other:?} (expected grpc, http/protobuf or http/json)"
            ))),
        }
    }
}

/// Sends spans to an OpenTelemetry Collector (or Jaeger, Tempo, any OTLP
/// receiver).
///
/// ```
/// use std::time::Duration;
/// use agent_trace_export::{OtlpExporter, OtlpProtocol, Resource};
///
/// let exporter = OtlpExporter::builder()
///     .protocol(OtlpProtocol::HttpProtobuf)
///     .endpoint("http://collector.example.com:4318/v1/traces")
///     .header("Authorization", "Bearer secret-token")
///     .timeout(Duration::from_secs(5))
///     .gzip(true)
///     .resource(Resource::new("research-agent").with_version("1.0.0"))
///     .build()?;
/// // Header values never show.
/// assert!(!format!("{exporter:?}").contains("secret-token"));
/// # Ok::<(), agent_trace_export::ExportError>(())
/// ```
pub struct OtlpExporter {
    name: &'static str,
    resource: Resource,
    transport: Transport,
}

enum Transport {
    #[cfg(feature = "otlp-http")]
    Http {
        /// Boxed, as the gRPC transport is: both are large, and neither
        /// should make the other variant pay for its size.
        http: Box<HttpTransport>,
        /// Protobuf or JSON, written straight from the spans.
        encoder: HttpEncoder,
    },
    #[cfg(feature = "otlp-grpc")]
    Grpc(Box<grpc::GrpcTransport>),
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OtlpExporter");
        d.field("name", &self.name)
            .field("service", &self.resource.service_name());
        match &self.transport {
            #[cfg(feature = "otlp-http")]
            Transport::Http { http, encoder } => d
                .field("http", http)
                .field("json", &matches!(encoder, HttpEncoder::Json(_))),
            #[cfg(feature = "otlp-grpc")]
            Transport::Grpc(g) => d.field("grpc", g),
        };
        d.finish()
    }
}

/// Builds an [`OtlpExporter`]. Settings left unset come from the standard
/// environment variables with [`from_env`](Self::from_env), else from the
/// defaults; explicit settings always win.
#[derive(Debug, Clone)]
pub struct OtlpExporterBuilder {
    name: &'static str,
    connection: OtlpConnection,
    resource: Option<Resource>,
}

impl Default for OtlpExporterBuilder {
    fn default() -> Self {
        Self {
            name: "otlp",
            connection: OtlpConnection::default(),
            resource: None,
        }
    }
}

/// What an OTLP exporter connects with, whatever the signal: the protocol,
/// the endpoint (and how it was given), headers, timeout, compression and
/// CA certificates, each `None` until given in code or read from the
/// variables. The span exporter's builder and the metrics exporter's hold
/// one each.
#[derive(Debug, Clone, Default)]
pub(super) struct OtlpConnection {
    pub(super) protocol: Option<OtlpProtocol>,
    pub(super) endpoint: Option<String>,
    /// Whether `endpoint` is a base URL that gets the signal's path (for
    /// HTTP): `Some(true)` from `OTEL_EXPORTER_OTLP_ENDPOINT`, `Some(false)`
    /// from the signal's own variable, `None` (given in code) when it has
    /// no path.
    pub(super) endpoint_is_base: Option<bool>,
    /// The variable `endpoint` came from, for errors.
    pub(super) endpoint_var: Option<&'static str>,
    pub(super) headers: Option<Headers>,
    pub(super) timeout: Option<Duration>,
    pub(super) gzip: Option<bool>,
    pub(super) ca_pem: Option<Vec<u8>>,
}

/// A transport to an OTLP receiver, for either signal.
pub(super) enum Connected {
    #[cfg(feature = "otlp-http")]
    Http(Box<HttpTransport>),
    #[cfg(feature = "otlp-grpc")]
    Grpc(Box<grpc::GrpcTransport>),
}

impl OtlpConnection {
    /// An endpoint given in code: a base when it has no path.
    pub(super) fn set_endpoint(&mut self, url: String) {
        self.endpoint = Some(url);
        self.endpoint_is_base = None;
        self.endpoint_var = None;
    }

    /// Fills every setting not given from the signal's variables (`vars`).
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] naming a malformed variable.
    pub(super) fn fill_from_env(&mut self, vars: &OtlpVars) -> Result<(), ExportError> {
        if self.protocol.is_none() {
            self.protocol = vars.protocol()?;
        }
        if self.endpoint.is_none()
            && let Some(e) = vars.endpoint()
        {
            self.endpoint = Some(e.url);
            self.endpoint_is_base = Some(e.is_base);
            self.endpoint_var = Some(e.var);
        }
        if self.headers.is_none() {
            self.headers = vars.headers()?;
        }
        if self.timeout.is_none() {
            self.timeout = vars.timeout()?;
        }
        if self.gzip.is_none() {
            self.gzip = vars.gzip()?;
        }
        if self.ca_pem.is_none() {
            self.ca_pem = vars.ca_pem()?;
        }
        Ok(())
    }

    /// The URL to send to: the OpenTelemetry rules (a signal-specific
    /// endpoint as is, a base endpoint with `path`, such as `/v1/traces`,
    /// appended for HTTP; gRPC takes either as is), or the default
    /// (`default_http` for HTTP).
    pub(super) fn url(&self, protocol: OtlpProtocol, path: &str, default_http: &str) -> String {
        match (&self.endpoint, protocol) {
            (None, OtlpProtocol::Grpc) => DEFAULT_GRPC_ENDPOINT.to_owned(),
            (None, _) => default_http.to_owned(),
            (Some(e), OtlpProtocol::Grpc) => e.clone(),
            (Some(e), _) => {
                if self.endpoint_is_base.unwrap_or_else(|| !has_path(e)) {
                    format!("{}{path}", e.trim_end_matches('/'))
                } else {
                    e.clone()
                }
            }
        }
    }

    /// The protocol (default HTTP/protobuf) and a transport to the URL for
    /// `path` (see [`url`](Self::url)); `exporter` names it in errors.
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] for a malformed endpoint or header (naming
    /// the variable it came from), or a protocol whose feature is not
    /// compiled in.
    pub(super) fn connect(
        &self,
        exporter: &'static str,
        path: &str,
        default_http: &str,
    ) -> Result<(OtlpProtocol, Connected), ExportError> {
        let protocol = self.protocol.unwrap_or_default();
        let endpoint = self.url(protocol, path, default_http);
        let headers = self.headers.clone().unwrap_or_default();
        let config = crate::TransportConfig {
            exporter,
            endpoint: &endpoint,
            headers: &headers,
            timeout: self.timeout.unwrap_or(Duration::from_secs(10)),
            gzip: self.gzip.unwrap_or(false),
            ca_pem: self.ca_pem.as_deref(),
            hint: port_hint(protocol, &endpoint),
        };
        let in_var = |e| match self.endpoint_var {
            Some(var) => named(var, e),
            None => e,
        };
        let connected = match protocol {
            #[cfg(feature = "otlp-http")]
            OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
                Connected::Http(Box::new(HttpTransport::new(config).map_err(in_var)?))
            }
            #[cfg(feature = "otlp-grpc")]
            OtlpProtocol::Grpc => {
                Connected::Grpc(Box::new(grpc::GrpcTransport::new(config).map_err(in_var)?))
            }
            #[allow(unreachable_patterns, reason = "depends on the features compiled in")]
            other => {
                let _ = config;
                return Err(ExportError::Config(format!(
                    "OTLP protocol {other:?} needs the agent-trace-export feature {}",
                    if other == OtlpProtocol::Grpc {
                        "otlp-grpc"
                    } else {
                        "otlp-http"
                    }
                )));
            }
        };
        Ok((protocol, connected))
    }
}

/// Whether a URL has a path beyond `/`.
fn has_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    !path.trim_matches('/').is_empty()
}

/// A configuration error prefixed with the variable that caused it.
pub(super) fn named(var: &str, e: ExportError) -> ExportError {
    match e {
        ExportError::Config(m) => ExportError::Config(format!("{var}: {m}")),
        other => other,
    }
}

/// A variable's value, unless unset or blank.
pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The OpenTelemetry variables of an OTLP exporter for one signal: each
/// setting's signal-specific variable, read before the general one.
pub(super) struct OtlpVars {
    protocol: &'static str,
    endpoint: &'static str,
    headers: &'static str,
    timeout: &'static str,
    compression: &'static str,
    certificate: &'static str,
}

/// The span exporters' variables (`OTEL_EXPORTER_OTLP_TRACES_*`).
pub(super) const TRACES: OtlpVars = OtlpVars {
    protocol: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    endpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    headers: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    compression: "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    certificate: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
};

/// The metrics exporter's variables (`OTEL_EXPORTER_OTLP_METRICS_*`).
pub(super) const METRICS: OtlpVars = OtlpVars {
    protocol: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    endpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    headers: "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    compression: "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    certificate: "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
};

/// An endpoint read from the variables.
pub(super) struct EnvEndpoint {
    pub(super) url: String,
    /// From `OTEL_EXPORTER_OTLP_ENDPOINT`: HTTP appends the signal's path.
    pub(super) is_base: bool,
    /// The variable it came from, for errors.
    pub(super) var: &'static str,
}

impl OtlpVars {
    /// The signal-specific variable's value, else the general one's
    /// (`OTEL_EXPORTER_OTLP_` and the setting's name), with the name read
    /// so that an error names the variable at fault.
    fn pick(specific: &'static str, general: &'static str) -> Option<(&'static str, String)> {
        env(specific)
            .map(|v| (specific, v))
            .or_else(|| env(general).map(|v| (general, v)))
    }

    /// `..._PROTOCOL`.
    pub(super) fn protocol(&self) -> Result<Option<OtlpProtocol>, ExportError> {
        Self::pick(self.protocol, "OTEL_EXPORTER_OTLP_PROTOCOL")
            .map(|(name, p)| p.parse().map_err(|e| named(name, e)))
            .transpose()
    }

    /// `..._ENDPOINT`: the signal's used as is, the general one as a base.
    pub(super) fn endpoint(&self) -> Option<EnvEndpoint> {
        Self::pick(self.endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT").map(|(var, url)| EnvEndpoint {
            url: url.trim().to_owned(),
            is_base: var == "OTEL_EXPORTER_OTLP_ENDPOINT",
            var,
        })
    }

    /// `..._HEADERS`.
    pub(super) fn headers(&self) -> Result<Option<Headers>, ExportError> {
        Self::pick(self.headers, "OTEL_EXPORTER_OTLP_HEADERS")
            .map(|(name, h)| Headers::parse_otel_list(&h).map_err(|e| named(name, e)))
            .transpose()
    }

    /// `..._TIMEOUT`, in milliseconds.
    pub(super) fn timeout(&self) -> Result<Option<Duration>, ExportError> {
        Self::pick(self.timeout, "OTEL_EXPORTER_OTLP_TIMEOUT")
            .map(|(name, t)| {
                t.trim().parse().map(Duration::from_millis).map_err(|_| {
                    ExportError::Config(format!(
                        "{name}={t:?} is not a whole number of milliseconds"
                    ))
                })
            })
            .transpose()
    }

    /// `..._COMPRESSION`: whether to gzip.
    pub(super) fn gzip(&self) -> Result<Option<bool>, ExportError> {
        Self::pick(self.compression, "OTEL_EXPORTER_OTLP_COMPRESSION")
            .map(|(name, c)| match c.trim() {
                "gzip" => Ok(true),
                "none" => Ok(false),
                other => Err(ExportError::Config(format!(
                    "{name}={other:?} (expected gzip or none)"
                ))),
            })
            .transpose()
    }

    /// `..._CERTIFICATE`: the PEM file's contents (needs the `tls`
    /// feature).
    pub(super) fn ca_pem(&self) -> Result<Option<Vec<u8>>, ExportError> {
        Self::pick(self.certificate, "OTEL_EXPORTER_OTLP_CERTIFICATE")
            .map(|(name, path)| {
                if !cfg!(feature = "tls") {
                    return Err(ExportError::Config(format!(
                        "{name} is set, which needs the agent-trace-export feature \"tls\""
                    )));
                }
                std::fs::read(path.trim()).map_err(|e| {
                    ExportError::Config(format!("{name}={path:?} cannot be read: {e}"))
                })
            })
            .transpose()
    }
}

impl OtlpExporterBuilder {
    /// OTLP to a Jaeger collector (Jaeger ingests OTLP natively): named
    /// `jaeger`, HTTP/protobuf to `http://localhost:4318/v1/traces` unless
    /// told otherwise, with `resource`'s service name.
    ///
    /// ```
    /// use agent_trace_export::{OtlpExporterBuilder, Resource, SpanExporter};
    ///
    /// let jaeger = OtlpExporterBuilder::jaeger(Resource::new("research-agent"))
    ///     .endpoint("http://jaeger:4318/v1/traces")
    ///     .build()?;
    /// assert_eq!(jaeger.name(), "jaeger");
    /// # Ok::<(), agent_trace_export::ExportError>(())
    /// ```
    pub fn jaeger(resource: Resource) -> Self {
        Self::default().name("jaeger").resource(resource)
    }

    /// The transport (default HTTP/protobuf, or `OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub fn protocol(mut self, p: OtlpProtocol) -> Self {
        self.connection.protocol = Some(p);
        self
    }

    /// Where to send, as a base URL or a full one, read as the
    /// OpenTelemetry variables are: for HTTP, a URL without a path
    /// (`http://collector:4318`) is a base and gets `/v1/traces` appended,
    /// like `OTEL_EXPORTER_OTLP_ENDPOINT`; a URL with a path
    /// (`http://collector:4318/v1/traces`, `https://gateway/otlp/traces`)
    /// is used as is, like `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. gRPC uses
    /// either as is. Default `http://localhost:4318/v1/traces` for HTTP,
    /// `http://localhost:4317` for gRPC.
    ///
    /// ```
    /// use agent_trace_export::OtlpExporter;
    ///
    /// let base = OtlpExporter::builder().endpoint("http://localhost:4318").build()?;
    /// assert!(format!("{base:?}").contains("http://localhost:4318/v1/traces"));
    /// let full = OtlpExporter::builder().endpoint("http://gateway:8080/otlp/spans").build()?;
    /// assert!(format!("{full:?}").contains("http://gateway:8080/otlp/spans"));
    /// # Ok::<(), agent_trace_export::ExportError>(())
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.connection.set_endpoint(url.into());
        self
    }

    /// Adds a header (gRPC metadata for gRPC), for example
    /// `Authorization: Bearer ...`. Never shown in `Debug` or errors.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.connection
            .headers
            .get_or_insert_default()
            .insert(name, value);
        self
    }

    /// The per-request timeout (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.connection.timeout = Some(t);
        self
    }

    /// Whether requests are gzip-compressed (default off).
    pub fn gzip(mut self, on: bool) -> Self {
        self.connection.gzip = Some(on);
        self
    }

    /// The service the spans come from (default [`Resource::default`]).
    pub fn resource(mut self, r: Resource) -> Self {
        self.resource = Some(r);
        self
    }

    /// Also trusts the CA certificates in `pem` (a private CA) for an
    /// `https://` endpoint, besides the system's roots.
    #[cfg(feature = "tls")]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.connection.ca_pem = Some(pem.into());
        self
    }

    /// The name in metrics labels and errors (default `otlp`; the Jaeger
    /// exporter sends OTLP as `jaeger`).
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Fills every setting not given explicitly from the standard
    /// OpenTelemetry variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used
    /// as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (HTTP appends `/v1/traces`),
    /// `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`, `..._HEADERS`,
    /// `..._TIMEOUT` (milliseconds), `..._COMPRESSION` (`gzip` or `none`),
    /// `..._CERTIFICATE` (a PEM file of CA certificates to trust, with the
    /// `tls` feature), and `OTEL_SERVICE_NAME` through
    /// [`Resource::default`].
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] naming a malformed variable.
    pub fn from_env(mut self) -> Result<Self, ExportError> {
        self.connection.fill_from_env(&TRACES)?;
        Ok(self)
    }

    /// Checks the settings and builds the exporter (no connection is made
    /// until the first export).
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] for a malformed endpoint or header, or a
    /// protocol whose feature is not compiled in.
    pub fn build(self) -> Result<OtlpExporter, ExportError> {
        #[cfg_attr(
            not(feature = "otlp-http"),
            allow(unused_variables, reason = "HTTP alone tells protobuf from JSON")
        )]
        let (protocol, connected) =
            self.connection
                .connect(self.name, "/v1/traces", DEFAULT_HTTP_ENDPOINT)?;
        let resource = self.resource.unwrap_or_default();
        let transport = match connected {
            #[cfg(feature = "otlp-http")]
            Connected::Http(http) => Transport::Http {
                http,
                encoder: if protocol == OtlpProtocol::HttpJson {
                    HttpEncoder::Json(JsonEncoder::new(&resource))
                } else {
                    HttpEncoder::Protobuf(ProtobufEncoder::new(&resource))
                },
            },
            #[cfg(feature = "otlp-grpc")]
            Connected::Grpc(g) => Transport::Grpc(g),
        };
        Ok(OtlpExporter {
            name: self.name,
            resource,
            transport,
        })
    }
}

impl OtlpExporter {
    /// A builder with every setting at its default.
    pub fn builder() -> OtlpExporterBuilder {
        OtlpExporterBuilder::default()
    }
}

impl SpanExporter for OtlpExporter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
        if batch.is_empty() {
            return Ok(ExportOutcome::ACCEPTED);
        }
        match &mut self.transport {
            #[cfg(feature = "otlp-http")]
            Transport::Http { http, encoder } => {
                // Straight from the spans, no message tree (see the
                // `proto` module for the saving).
                let mut body = Vec::new();
                let rejected = match encoder {
                    HttpEncoder::Protobuf(e) => {
                        e.encode(batch, &mut body);
                        let r = http.post(body, "application/x-protobuf")?;
                        response::rejected_spans_protobuf(&r.body)
                    }
                    HttpEncoder::Json(e) => {
                        e.encode(batch, &mut body);
                        let r = http.post(body, "application/json")?;
                        response::rejected_spans_json(&r.body)
                    }
                };
                Ok(outcome(rejected))
            }
            #[cfg(feature = "otlp-grpc")]
            Transport::Grpc(g) => g
                .export(to_request(batch, &self.resource))
                .map(|r| outcome(r.partial_success.map(|p| p.rejected_spans))),
        }
    }
}

/// What to tell a user whose endpoint has the other OTLP transport's
/// well-known port: an HTTP exporter pointed at gRPC's 4317 (or the other
/// way round) fails with an obscure protocol error otherwise.
fn port_hint(protocol: OtlpProtocol, endpoint: &str) -> Option<&'static str> {
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("");
    let port = authority.rsplit_once(':').map(|(_, p)| p);
    match (protocol, port) {
        (OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson, Some("4317")) => Some(
            "port 4317 is OTLP/gRPC's; an OTLP/HTTP receiver listens on 4318, or set the protocol to grpc",
        ),
        (OtlpProtocol::Grpc, Some("4318")) => Some(
            "port 4318 is OTLP/HTTP's; an OTLP/gRPC receiver listens on 4317, or set the protocol to http/protobuf",
        ),
        _ => None,
    }
}

/// The outcome of a request the receiver accepted: `rejected` is the
/// partial success's count of rejected spans, if it sent one.
fn outcome(rejected: Option<i64>) -> ExportOutcome {
    rejected.map_or(ExportOutcome::ACCEPTED, |n| {
        ExportOutcome::partial(u64::try_from(n).unwrap_or(0))
    })
}

/// How OTLP/HTTP encodes a batch.
#[cfg(feature = "otlp-http")]
enum HttpEncoder {
    Protobuf(ProtobufEncoder),
    Json(JsonEncoder),
}
