//! The one error type of this crate.

use std::io;
use std::net::SocketAddr;

/// Why an exporter could not be set up or could not deliver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The Prometheus recorder could not be installed (most often: a global
    /// `metrics` recorder already exists).
    #[cfg(feature = "prometheus")]
    #[error("cannot install the Prometheus recorder")]
    Prometheus(#[source] agent_trace_metrics::MetricsError),
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// A background thread could not be started.
    #[error("cannot start thread {thread}")]
    ThreadSpawn {
        /// The thread's name.
        thread: &'static str,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
}
