//! The exporter contract, and the exporter made from a closure.

use std::fmt;

use agent_trace_core::FinishedSpan;

use crate::ExportError;

/// What an export delivered, when it did not fail outright.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOutcome {
    /// Spans the receiver accepted the request for but rejected (OTLP
    /// partial success); counted as dropped by the pipeline.
    pub rejected_spans: u64,
}

impl ExportOutcome {
    /// Every span was accepted.
    pub const ACCEPTED: Self = Self { rejected_spans: 0 };

    /// The receiver rejected `n` spans of the batch.
    pub fn partial(rejected_spans: u64) -> Self {
        Self { rejected_spans }
    }
}

/// Sends batches of finished spans somewhere: the reference's
/// `export_function`, and the trait every built-in exporter implements.
///
/// The batch pipeline owns the exporter and calls it from its own worker
/// thread, one batch at a time, never from the application's threads, so
/// blocking here (a network request, a file write) is fine. Return a
/// retryable [`ExportError`] for transient failures and the pipeline tries
/// the same batch again with backoff.
///
/// ```
/// use agent_trace_core::FinishedSpan;
/// use agent_trace_export::{ExportError, ExportOutcome, SpanExporter};
///
/// #[derive(Debug, Default)]
/// struct Names(Vec<String>);
///
/// impl SpanExporter for Names {
///     fn name(&self) -> &'static str {
///         "names"
///     }
///
///     fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
///         self.0.extend(batch.iter().map(|s| s.name.to_string()));
///         Ok(ExportOutcome::ACCEPTED)
///     }
/// }
/// ```
pub trait SpanExporter: Send + fmt::Debug {
    /// A short name: the `exporter` label of the export metrics and the
    /// prefix of error messages.
    fn name(&self) -> &'static str;

    /// Delivers one batch.
    ///
    /// # Errors
    ///
    /// Any [`ExportError`]; the pipeline retries the retryable ones.
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError>;

    /// Pushes out anything the exporter buffers itself (a file's buffer).
    ///
    /// # Errors
    ///
    /// When that fails.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; no batch follows.
    ///
    /// # Errors
    ///
    /// When the final flush fails.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.force_flush()
    }
}

impl<E: SpanExporter + ?Sized> SpanExporter for Box<E> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
        (**self).export(batch)
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        (**self).force_flush()
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
}

/// An exporter made from a closure over each batch: the quickest way to
/// send spans to a backend of your own.
///
/// The closure's error becomes [`ExportError::Custom`], not retried; return
/// an [`ExportError`] yourself (with [`ExportError::custom`]) to choose.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use agent_trace_export::FnExporter;
///
/// let seen = Arc::new(Mutex::new(0usize));
/// let counter = seen.clone();
/// let exporter = FnExporter::new("my_backend", move |batch| {
///     *counter.lock().unwrap() += batch.len();
///     Ok::<(), std::io::Error>(())
/// });
/// # drop(exporter);
/// ```
pub struct FnExporter<F> {
    name: &'static str,
    f: F,
}

impl<F> fmt::Debug for FnExporter<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnExporter")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F, E> FnExporter<F>
where
    F: FnMut(&[FinishedSpan]) -> Result<(), E> + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// An exporter named `name` that calls `f` with every batch.
    pub fn new(name: &'static str, f: F) -> Self {
        Self { name, f }
    }
}

impl<F, E> SpanExporter for FnExporter<F>
where
    F: FnMut(&[FinishedSpan]) -> Result<(), E> + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
        match (self.f)(batch) {
            Ok(()) => Ok(ExportOutcome::ACCEPTED),
            Err(e) => {
                let source = e.into();
                // An `ExportError` passed through keeps its own verdict.
                match source.downcast::<ExportError>() {
                    Ok(own) => Err(*own),
                    Err(other) => Err(ExportError::custom(self.name, false, other)),
                }
            }
        }
    }
}
