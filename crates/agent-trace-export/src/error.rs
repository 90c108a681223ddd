//! The one error type of this crate.

/// Why an exporter could not be set up or could not deliver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The Prometheus recorder or its HTTP listener could not be installed
    /// (a global recorder already exists, or the address cannot be bound).
    #[cfg(feature = "prometheus")]
    #[error("cannot install the Prometheus listener")]
    Prometheus(#[source] metrics_exporter_prometheus::BuildError),
}
