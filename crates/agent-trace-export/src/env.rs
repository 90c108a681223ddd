//! Exporters chosen and configured by the standard OpenTelemetry
//! environment variables.

use crate::{ExportError, Resource, SpanExporter};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[allow(dead_code, reason = "unused when every exporter feature is on")]
fn missing(exporter: &str, feature: &str) -> ExportError {
    ExportError::Config(format!(
        "OTEL_TRACES_EXPORTER names {exporter:?}, which needs the agent-trace-export feature {feature:?}"
    ))
}

/// The exporters `OTEL_TRACES_EXPORTER` names (a comma-separated list of
/// `otlp`, `zipkin`, `jaeger`, `console`, `file`, `none`), each configured
/// from its own variables and sending `resource`. When it is not set, an
/// OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) selects `otlp`; with neither,
/// `None`, so that the caller keeps its own default.
///
/// - `otlp`: [`OtlpExporterBuilder::from_env`](crate::OtlpExporterBuilder::from_env).
/// - `zipkin`: `OTEL_EXPORTER_ZIPKIN_ENDPOINT`, `OTEL_EXPORTER_ZIPKIN_TIMEOUT`
///   (milliseconds).
/// - `jaeger`: to an agent over UDP when `OTEL_EXPORTER_JAEGER_AGENT_HOST`
///   or `..._PORT` is set, else OTLP to `OTEL_EXPORTER_JAEGER_ENDPOINT`
///   (default `http://localhost:4318/v1/traces`, Jaeger's OTLP receiver).
/// - `console`: OTLP JSON lines on stdout; `file`: in `./agent-trace`.
///
/// ```
/// use agent_trace_export::{Resource, exporters_from_env};
///
/// // With OTEL_TRACES_EXPORTER unset, the caller's default applies.
/// # // SAFETY-free: the doctest only reads the environment.
/// if std::env::var_os("OTEL_TRACES_EXPORTER").is_none() {
///     assert!(exporters_from_env(&Resource::new("agent"))?.is_none());
/// }
/// # Ok::<(), agent_trace_export::ExportError>(())
/// ```
///
/// # Errors
///
/// [`ExportError::Config`] for an unknown name, a name whose feature is
/// not compiled in, or a malformed variable of a named exporter.
#[allow(
    clippy::vec_box,
    reason = "exporters of different types, handed to one batch pipeline each"
)]
pub fn exporters_from_env(
    resource: &Resource,
) -> Result<Option<Vec<Box<dyn SpanExporter>>>, ExportError> {
    // The specification's default exporter is OTLP; ours is the file, so
    // that a program traced with no setup leaves its traces somewhere
    // visible. An OTLP endpoint in the environment is a clear wish for
    // OTLP, and selects it when the exporter is not named.
    let Some(list) = var("OTEL_TRACES_EXPORTER").or_else(|| {
        (var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some())
        .then(|| "otlp".to_owned())
    }) else {
        return Ok(None);
    };
    // Unused when no exporter feature is compiled in.
    let _ = resource;
    #[allow(unused_mut, reason = "no exporter feature may be compiled in")]
    let mut out: Vec<Box<dyn SpanExporter>> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "none" => {}
            "otlp" => {
                #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
                out.push(Box::new(
                    crate::OtlpExporter::builder()
                        .resource(resource.clone())
                        .from_env()?
                        .build()?,
                ));
                #[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
                return Err(missing(name, "otlp-http"));
            }
            "zipkin" => {
                #[cfg(feature = "zipkin")]
                {
                    let mut b = crate::ZipkinExporter::builder().resource(resource.clone());
                    if let Some(e) = var("OTEL_EXPORTER_ZIPKIN_ENDPOINT") {
                        b = b.endpoint(e);
                    }
                    if let Some(t) = var("OTEL_EXPORTER_ZIPKIN_TIMEOUT") {
                        let ms: u64 = t.trim().parse().map_err(|_| {
                            ExportError::Config(format!(
                                "OTEL_EXPORTER_ZIPKIN_TIMEOUT={t:?} is not a whole number of milliseconds"
                            ))
                        })?;
                        b = b.timeout(std::time::Duration::from_millis(ms));
                    }
                    out.push(Box::new(b.build()?));
                }
                #[cfg(not(feature = "zipkin"))]
                return Err(missing(name, "zipkin"));
            }
            "jaeger" => {
                #[cfg(feature = "jaeger")]
                {
                    let host = var("OTEL_EXPORTER_JAEGER_AGENT_HOST");
                    let port = var("OTEL_EXPORTER_JAEGER_AGENT_PORT");
                    if host.is_some() || port.is_some() {
                        let port: u16 = match port {
                            Some(p) => p.trim().parse().map_err(|_| {
                                ExportError::Config(format!(
                                    "OTEL_EXPORTER_JAEGER_AGENT_PORT={p:?} is not a port"
                                ))
                            })?,
                            None => 6831,
                        };
                        out.push(Box::new(
                            crate::JaegerAgentExporter::builder()
                                .agent_endpoint(
                                    host.unwrap_or_else(|| "localhost".to_owned()),
                                    port,
                                )
                                .resource(resource.clone())
                                .build()?,
                        ));
                    } else {
                        let mut b = crate::OtlpExporterBuilder::jaeger(resource.clone());
                        if let Some(e) = var("OTEL_EXPORTER_JAEGER_ENDPOINT") {
                            b = b.endpoint(e);
                        }
                        out.push(Box::new(b.build()?));
                    }
                }
                #[cfg(not(feature = "jaeger"))]
                return Err(missing(name, "jaeger"));
            }
            "console" | "file" => {
                #[cfg(feature = "file")]
                {
                    let b = crate::FileExporter::builder().resource(resource.clone());
                    let b = if name == "console" { b.stdout() } else { b };
                    out.push(Box::new(b.build()?));
                }
                #[cfg(not(feature = "file"))]
                return Err(missing(name, "file"));
            }
            other => {
                return Err(ExportError::Config(format!(
                    "OTEL_TRACES_EXPORTER names unknown exporter {other:?} \
                     (expected otlp, zipkin, jaeger, console, file or none)"
                )));
            }
        }
    }
    Ok(Some(out))
}
