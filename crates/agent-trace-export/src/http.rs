//! The HTTP transport shared by the OTLP/HTTP and Zipkin exporters: a
//! `reqwest` client on a single-threaded tokio runtime of the exporter's
//! own, driven from the batch worker's thread (see the `runtime` module
//! for why, and why it is safe to drop in async code).

use std::fmt;
use std::io::Write as _;
use std::time::Duration;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap};

use crate::error::redact_url;
use crate::{ExportError, TransportConfig};

/// A client for one endpoint.
pub(crate) struct HttpTransport {
    exporter: &'static str,
    url: reqwest::Url,
    redacted: String,
    headers: HeaderMap,
    /// The configured header values, removed from any receiver text that
    /// goes into an error (a proxy may echo request headers back).
    secrets: Vec<String>,
    client: reqwest::Client,
    runtime: crate::runtime::ExporterRuntime,
    timeout: Duration,
    gzip: bool,
    /// Appended to delivery errors (see `TransportConfig::hint`).
    hint: Option<&'static str>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("exporter", &self.exporter)
            .field("endpoint", &self.redacted)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .finish()
    }
}

/// The response of a successful request.
#[cfg_attr(
    not(feature = "otlp-http"),
    allow(dead_code, reason = "only OTLP over HTTP reads the body")
)]
pub(crate) struct Response {
    pub(crate) body: Vec<u8>,
}

impl HttpTransport {
    pub(crate) fn new(config: TransportConfig<'_>) -> Result<Self, ExportError> {
        let TransportConfig {
            exporter,
            endpoint,
            headers,
            timeout,
            gzip,
            ca_pem,
            hint,
        } = config;
        let url = reqwest::Url::parse(endpoint).map_err(|e| {
            ExportError::Config(format!(
                "{exporter} endpoint {:?} is not a URL: {e}",
                redact_url(endpoint)
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ExportError::Config(format!(
                "{exporter} endpoint {:?} must be http:// or https://",
                redact_url(endpoint)
            )));
        }
        #[cfg(feature = "tls")]
        crate::install_crypto_provider();
        #[cfg(not(feature = "tls"))]
        if url.scheme() == "https" {
            return Err(ExportError::Config(format!(
                "{exporter} endpoint {:?} is https://, which needs the agent-trace-export feature \"tls\"",
                redact_url(endpoint)
            )));
        }
        let builder = reqwest::Client::builder().timeout(timeout);
        #[cfg(feature = "tls")]
        let builder = match ca_pem {
            Some(pem) => builder.tls_certs_merge(
                reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| ExportError::Config(format!("{exporter} CA certificate: {e}")))?,
            ),
            None => builder,
        };
        #[cfg(not(feature = "tls"))]
        let _ = ca_pem;
        let client = builder
            .build()
            .map_err(|e| ExportError::Config(format!("{exporter} HTTP client: {e}")))?;
        let runtime = crate::runtime::ExporterRuntime::new()?;
        Ok(Self {
            exporter,
            redacted: redact_url(endpoint),
            url,
            headers: headers.to_header_map()?,
            secrets: headers
                .pairs()
                .iter()
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
                .collect(),
            client,
            runtime,
            timeout,
            gzip,
            hint,
        })
    }

    /// POSTs `body`; a 2xx answer is `Ok`, anything else a classified
    /// [`ExportError`].
    pub(crate) fn post(&self, body: Vec<u8>, content_type: &str) -> Result<Response, ExportError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, content_type);
        let body = if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body)
                .and_then(|()| enc.finish())
                .map_err(|e| ExportError::Encode {
                    exporter: self.exporter,
                    message: format!("gzip: {e}"),
                })?
        } else {
            body
        };
        let request = request.body(body);
        self.runtime.block_on(async {
            let response = request.send().await.map_err(|e| self.transport_error(e))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(e))?;
            if status.is_success() {
                Ok(Response {
                    body: body.to_vec(),
                })
            } else {
                let code = status.as_u16();
                Err(ExportError::Rejected {
                    exporter: self.exporter,
                    endpoint: self.redacted.clone(),
                    status: code.to_string(),
                    message: crate::with_hint(
                        self.hint,
                        self.redact(&String::from_utf8_lossy(&body[..body.len().min(200)])),
                    ),
                    retryable: matches!(code, 429 | 502 | 503 | 504),
                    retry_after,
                })
            }
        })?
    }

    /// `text` without any configured header value.
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        text
    }

    fn transport_error(&self, e: reqwest::Error) -> ExportError {
        if e.is_timeout() {
            return ExportError::Timeout {
                exporter: self.exporter,
                endpoint: self.redacted.clone(),
                timeout: self.timeout,
            };
        }
        // The error's chain without the URL (which may carry credentials).
        let e = e.without_url();
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        ExportError::Unreachable {
            exporter: self.exporter,
            endpoint: self.redacted.clone(),
            message: crate::with_hint(self.hint, message),
        }
    }
}

/// `Retry-After` as delay-seconds (the form receivers of telemetry use);
/// an HTTP date is ignored, leaving the pipeline's own backoff.
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_are_read() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
