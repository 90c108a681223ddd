//! The one error type of this crate.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Why an exporter could not be set up or could not deliver.
///
/// Its `Display` carries the whole cause (the operating system's reason,
/// the receiver's status and the start of its answer), so `{error}` alone
/// is a line a person can act on; the wrapped causes are fields, not
/// [`source`](std::error::Error::source)s, so that error reporters that
/// walk the chain do not print them twice.
///
/// Delivery errors say whether trying again may help
/// ([`is_retryable`](Self::is_retryable)) and how long the receiver asked
/// to wait ([`retry_after`](Self::retry_after)); the batch pipeline retries
/// on that basis. No variant ever carries a configured header value, so
/// credentials cannot leak through an error message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The Prometheus recorder could not be installed (most often: a global
    /// `metrics` recorder already exists).
    #[cfg(feature = "prometheus")]
    #[error("cannot install the Prometheus recorder: {0}")]
    Prometheus(agent_trace_metrics::MetricsError),
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        cause: io::Error,
    },
    /// A background thread could not be started.
    #[error("cannot start thread {thread}: {cause}")]
    ThreadSpawn {
        /// The thread's name.
        thread: &'static str,
        /// The operating system's reason.
        cause: io::Error,
    },
    /// A setting that cannot work: a malformed endpoint, header or
    /// environment variable. The message names the setting, never a header
    /// value.
    #[error("invalid exporter configuration: {0}")]
    Config(String),
    /// The request never got an answer: connection refused or reset, DNS,
    /// TLS. Retryable: the receiver may come up.
    #[error("{exporter}: cannot reach {endpoint}: {message}")]
    Unreachable {
        /// Which exporter.
        exporter: &'static str,
        /// Where it sent (without any credentials in the URL).
        endpoint: String,
        /// What the transport said.
        message: String,
    },
    /// No answer within the export timeout. Retryable.
    #[error("{exporter}: no answer from {endpoint} within {}", agent_trace_core::readable_duration(.timeout))]
    Timeout {
        /// Which exporter.
        exporter: &'static str,
        /// Where it sent (without any credentials in the URL).
        endpoint: String,
        /// The per-request timeout.
        timeout: Duration,
    },
    /// The receiver answered with an error.
    #[error("{exporter}: {endpoint} answered {status}: {message}")]
    Rejected {
        /// Which exporter.
        exporter: &'static str,
        /// Where it sent (without any credentials in the URL).
        endpoint: String,
        /// The HTTP status, or `grpc <CODE>` for gRPC (`grpc UNAVAILABLE`).
        status: String,
        /// The start of the receiver's explanation, if it gave one.
        message: String,
        /// Whether the status is a transient one (HTTP 429, 502, 503,
        /// 504; gRPC `UNAVAILABLE`, `RESOURCE_EXHAUSTED` with retry info,
        /// ...).
        retryable: bool,
        /// How long the receiver asked to wait (`Retry-After`, gRPC
        /// `RetryInfo`).
        retry_after: Option<Duration>,
    },
    /// A batch could not be encoded.
    #[error("{exporter}: cannot encode the batch: {message}")]
    Encode {
        /// Which exporter.
        exporter: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Writing a file failed.
    #[error("cannot write {}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        cause: io::Error,
    },
    /// A user's exporter failed.
    #[error("{exporter} failed: {cause}")]
    Custom {
        /// The exporter's name.
        exporter: String,
        /// Whether trying again may help.
        retryable: bool,
        /// The exporter's error.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The exporter or pipeline was shut down.
    #[error("already shut down")]
    Shutdown,
}

impl ExportError {
    /// Whether sending the same batch again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Rejected { retryable, .. } | Self::Custom { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// How long the receiver asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rejected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The kind of failure, for reporting each kind once: the variant,
    /// and for a rejection its status.
    pub(crate) fn kind(&self) -> String {
        match self {
            Self::Unreachable { .. } => "unreachable".into(),
            Self::Timeout { .. } => "timeout".into(),
            Self::Rejected { status, .. } => format!("rejected {status}"),
            Self::Encode { .. } => "encode".into(),
            Self::Io { .. } => "io".into(),
            Self::Custom { .. } => "custom".into(),
            Self::Config(_) => "config".into(),
            _ => "other".into(),
        }
    }

    /// A custom exporter's failure, retryable or not.
    pub fn custom(
        exporter: impl Into<String>,
        retryable: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Custom {
            exporter: exporter.into(),
            retryable,
            cause: source.into(),
        }
    }
}

/// An endpoint URL as it may appear in errors and `Debug` output: any
/// `user:password@` part and the query string are removed.
#[cfg_attr(
    not(any(feature = "http-transport", feature = "otlp-grpc")),
    allow(dead_code, reason = "used by the network exporters, when compiled in")
)]
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match scheme {
        Some(s) => format!("{s}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_are_removed_from_urls() {
        assert_eq!(
            redact_url("https://user:secret@collector:4318/v1/traces?token=abc"),
            "https://collector:4318/v1/traces"
        );
        assert_eq!(redact_url("http://localhost:4317"), "http://localhost:4317");
        assert_eq!(redact_url("collector:9411/api"), "collector:9411/api");
    }

    #[test]
    fn transient_failures_are_retryable_and_permanent_ones_are_not() {
        let rejected = |retryable| ExportError::Rejected {
            exporter: "otlp",
            endpoint: "http://localhost:4318/v1/traces".into(),
            status: "503".into(),
            message: String::new(),
            retryable,
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(rejected(true).is_retryable());
        assert!(!rejected(false).is_retryable());
        assert_eq!(rejected(true).retry_after(), Some(Duration::from_secs(2)));
        assert!(
            ExportError::Timeout {
                exporter: "zipkin",
                endpoint: "http://localhost:9411/api/v2/spans".into(),
                timeout: Duration::from_secs(1)
            }
            .is_retryable()
        );
        assert!(!ExportError::Config("x".into()).is_retryable());
    }
}
