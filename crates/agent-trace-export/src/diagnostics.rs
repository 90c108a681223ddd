//! What the export pipelines tell the user: failures with their cause,
//! recoveries, dropped spans, and what was not delivered at shutdown.
//!
//! # Why, and how loud
//!
//! A collector that is down, refuses every request or never answers must
//! not go unnoticed, and must not flood the terminal either. Each pipeline
//! reports, through its [`Diagnostics`]:
//!
//! - the first failure of each kind (connection refused, timeout, each HTTP
//!   or gRPC status, ...) since exports last succeeded, at once, with the
//!   endpoint and the cause;
//! - the first dropped spans, at once, and after that at most one line a
//!   minute while spans keep being dropped, with the count by reason;
//! - each recovery, with how long exports failed and what was dropped
//!   meanwhile;
//! - at shutdown, when anything was not delivered, one line: how many spans
//!   by reason, and the last cause.
//!
//! The default writes one line per report to stderr, straight to the file
//! descriptor (never through `tracing` or `log`, so a report cannot loop
//! back into the tracer, and a closed stderr is ignored rather than a
//! panic). [`Diagnostics::off`] silences it; [`Diagnostics::callback`]
//! hands each [`ExportEvent`] to your code instead, on the pipeline's
//! worker thread (where tracing is suppressed), so keep it short.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use agent_trace_export::{BatchSpanProcessor, Diagnostics, ExportEvent, FnExporter};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! let pipeline = BatchSpanProcessor::builder(FnExporter::new("mine", |_| {
//!     Ok::<(), std::io::Error>(())
//! }))
//! .diagnostics(Diagnostics::callback(move |event: &ExportEvent<'_>| {
//!     log.lock().unwrap().push(event.to_string());
//! }))
//! .build()?;
//! # drop(pipeline);
//! # Ok::<(), agent_trace_export::ExportError>(())
//! ```

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::ExportError;

/// Where a pipeline's reports go: stderr (the default), nowhere, or a
/// callback of yours.
#[derive(Clone, Default)]
pub struct Diagnostics(Sink);

#[derive(Clone, Default)]
enum Sink {
    #[default]
    Stderr,
    Off,
    Callback(Arc<dyn Fn(&ExportEvent<'_>) + Send + Sync>),
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Sink::Stderr => "Diagnostics::stderr",
            Sink::Off => "Diagnostics::off",
            Sink::Callback(_) => "Diagnostics::callback",
        })
    }
}

impl Diagnostics {
    /// One line per report on stderr, prefixed `agent-trace: ` (the
    /// default).
    pub fn stderr() -> Self {
        Self(Sink::Stderr)
    }

    /// No reports (the counts stay readable from
    /// [`BatchSpanProcessor::stats`](crate::BatchSpanProcessor::stats)).
    pub fn off() -> Self {
        Self(Sink::Off)
    }

    /// Each report handed to `f`, on the pipeline's worker thread (or, for
    /// the shutdown report, on the thread that shuts down), with tracing
    /// suppressed.
    pub fn callback(f: impl Fn(&ExportEvent<'_>) + Send + Sync + 'static) -> Self {
        Self(Sink::Callback(Arc::new(f)))
    }

    /// Delivers one report.
    pub(crate) fn emit(&self, event: &ExportEvent<'_>) {
        let _quiet = agent_trace_core::suppress_tracing();
        match &self.0 {
            Sink::Off => {}
            Sink::Stderr => {
                // One write of the whole line, so that lines of several
                // pipelines do not interleave; errors ignored (unlike
                // `eprintln!`, which panics when stderr is closed).
                let line = format!("agent-trace: {event}\n");
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::Callback(f) => f(event),
        }
    }
}

/// Spans not delivered, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// The queue was full when the span ended (the exporter could not keep
    /// up, or was failing).
    pub queue_full: u64,
    /// Their batch failed for good: a permanent error, or retries
    /// exhausted.
    pub export_failed: u64,
    /// The receiver accepted the request but rejected these spans (OTLP
    /// partial success).
    pub rejected: u64,
    /// They ended after the pipeline was shut down.
    pub after_shutdown: u64,
    /// Still queued or being exported when the shutdown deadline passed.
    pub shutdown_deadline: u64,
}

impl Dropped {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.queue_full
            + self.export_failed
            + self.rejected
            + self.after_shutdown
            + self.shutdown_deadline
    }

    /// What was dropped since `earlier`.
    pub(crate) fn since(&self, earlier: &Self) -> Self {
        Self {
            queue_full: self.queue_full.saturating_sub(earlier.queue_full),
            export_failed: self.export_failed.saturating_sub(earlier.export_failed),
            rejected: self.rejected.saturating_sub(earlier.rejected),
            after_shutdown: self.after_shutdown.saturating_sub(earlier.after_shutdown),
            shutdown_deadline: self
                .shutdown_deadline
                .saturating_sub(earlier.shutdown_deadline),
        }
    }
}

impl fmt::Display for Dropped {
    /// `17448 spans (queue full 17000, export failed 448)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        write!(f, "{total} span{}", if total == 1 { "" } else { "s" })?;
        let parts = [
            ("queue full", self.queue_full),
            ("export failed", self.export_failed),
            ("rejected by the receiver", self.rejected),
            ("ended after shutdown", self.after_shutdown),
            ("shutdown deadline", self.shutdown_deadline),
        ];
        let mut first = true;
        for (reason, n) in parts.into_iter().filter(|&(_, n)| n > 0) {
            f.write_str(if first { " (" } else { ", " })?;
            write!(f, "{reason} {n}")?;
            first = false;
        }
        if !first {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// One report of an export pipeline; its `Display` is the line a person
/// reads.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportEvent<'a> {
    /// An export failed with a cause not reported since exports last
    /// succeeded.
    Failing {
        /// The exporter.
        exporter: &'static str,
        /// Why (its `Display` names the endpoint and the cause).
        error: &'a ExportError,
        /// Whether the batch will be tried again.
        retrying: bool,
    },
    /// Spans were dropped since the last such report (the first drops at
    /// once, then at most one report a minute).
    Dropping {
        /// The exporter.
        exporter: &'static str,
        /// How many, by reason.
        dropped: Dropped,
        /// The last export failure, if exports are failing.
        last_error: Option<&'a str>,
    },
    /// Exports succeed again after failing.
    Recovered {
        /// The exporter.
        exporter: &'static str,
        /// How long exports failed.
        after: Duration,
        /// Export attempts that failed meanwhile.
        failed_attempts: u64,
        /// Spans dropped meanwhile, by reason.
        dropped: Dropped,
    },
    /// The pipeline shut down and some spans were never delivered, or the
    /// shutdown itself failed.
    Undelivered {
        /// The exporter.
        exporter: &'static str,
        /// Every span not delivered over the pipeline's life, by reason.
        dropped: Dropped,
        /// The last export failure, if any.
        last_error: Option<&'a str>,
    },
}

/// Exports failing since `since`: each kind of failure is reported once
/// per outage, and the attempts counted for the recovery's report. The
/// span pipeline and the OTLP metrics push each keep one while failing.
#[derive(Debug)]
pub(crate) struct Outage {
    pub(crate) since: std::time::Instant,
    /// The kinds of failure reported since (`ExportError::kind`).
    kinds: Vec<String>,
    pub(crate) failed_attempts: u64,
}

impl Outage {
    pub(crate) fn new() -> Self {
        Self {
            since: std::time::Instant::now(),
            kinds: Vec::new(),
            failed_attempts: 0,
        }
    }

    /// Counts a failed attempt; whether its kind is new in this outage,
    /// and so to be reported.
    pub(crate) fn failed(&mut self, e: &ExportError) -> bool {
        self.failed_attempts += 1;
        let kind = e.kind();
        if self.kinds.contains(&kind) {
            return false;
        }
        self.kinds.push(kind);
        true
    }
}

/// The exporter name of the OTLP metrics push
/// ([`PeriodicMetricsReader`](crate::otlp::metrics::PeriodicMetricsReader)),
/// whose failures hold values back for the next push rather than drop
/// spans.
pub(crate) const METRICS_PUSH: &str = "otlp_metrics";

impl fmt::Display for ExportEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failing {
                exporter,
                error,
                retrying,
            } => {
                // The error names the exporter itself.
                let named = error.to_string();
                if named.starts_with(exporter) {
                    write!(f, "export failing: {named}")?;
                } else {
                    write!(f, "{exporter}: export failing: {named}")?;
                }
                if *exporter == METRICS_PUSH {
                    // A push that fails is not lost: its values go with the
                    // next one.
                    f.write_str(if *retrying {
                        " (retrying)"
                    } else {
                        " (the values go with the next push)"
                    })
                } else if *retrying {
                    f.write_str(" (retrying; spans wait in the queue)")
                } else if error.is_retryable() {
                    // Retries exhausted, turned off, or cut by shutdown.
                    f.write_str(" (no more retries: the batch is dropped)")
                } else {
                    f.write_str(" (not retryable: the batch is dropped)")
                }
            }
            Self::Dropping {
                exporter,
                dropped,
                last_error,
            } => {
                write!(f, "{exporter}: dropped {dropped}")?;
                if let Some(e) = last_error {
                    write!(f, "; last export error: {e}")?;
                }
                Ok(())
            }
            Self::Recovered {
                exporter,
                after,
                failed_attempts,
                dropped,
            } => {
                write!(
                    f,
                    "{exporter}: export recovered after {:.1} s ({failed_attempts} failed attempt{}",
                    after.as_secs_f64(),
                    if *failed_attempts == 1 { "" } else { "s" }
                )?;
                if dropped.total() > 0 {
                    write!(f, "; dropped meanwhile: {dropped})")
                } else {
                    f.write_str("; nothing dropped)")
                }
            }
            Self::Undelivered {
                exporter,
                dropped,
                last_error,
            } => {
                if *exporter == METRICS_PUSH {
                    // No push follows the shutdown's.
                    write!(
                        f,
                        "{exporter}: the last push failed at shutdown; its values are not delivered"
                    )?;
                    if let Some(e) = last_error {
                        write!(f, ": {e}")?;
                    }
                    return Ok(());
                }
                if dropped.total() == 0 {
                    write!(f, "{exporter}: shutdown failed")?;
                    if let Some(e) = last_error {
                        write!(f, ": {e}")?;
                    }
                    return Ok(());
                }
                write!(f, "{exporter}: not delivered at shutdown: {dropped}")?;
                if let Some(e) = last_error {
                    write!(f, "; last cause: {e}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_spans_read_by_reason() {
        let d = Dropped {
            queue_full: 17_000,
            export_failed: 448,
            ..Dropped::default()
        };
        assert_eq!(
            d.to_string(),
            "17448 spans (queue full 17000, export failed 448)"
        );
        assert_eq!(Dropped::default().to_string(), "0 spans");
        let one = Dropped {
            shutdown_deadline: 1,
            ..Dropped::default()
        };
        assert_eq!(one.to_string(), "1 span (shutdown deadline 1)");
        assert_eq!(d.since(&one), d);
    }

    #[test]
    fn the_lines_carry_the_exporter_and_the_cause() {
        let error = ExportError::Timeout {
            exporter: "otlp",
            endpoint: "http://localhost:4318/v1/traces".into(),
            timeout: Duration::from_secs(10),
        };
        let failing = ExportEvent::Failing {
            exporter: "otlp",
            error: &error,
            retrying: true,
        };
        assert_eq!(
            failing.to_string(),
            "export failing: otlp: no answer from http://localhost:4318/v1/traces within 10 s \
             (retrying; spans wait in the queue)"
        );
        let recovered = ExportEvent::Recovered {
            exporter: "otlp",
            after: Duration::from_millis(40_200),
            failed_attempts: 9,
            dropped: Dropped {
                queue_full: 12,
                ..Dropped::default()
            },
        };
        assert_eq!(
            recovered.to_string(),
            "otlp: export recovered after 40.2 s (9 failed attempts; dropped meanwhile: 12 spans (queue full 12))"
        );
        let error = ExportError::Unreachable {
            exporter: "otlp",
            endpoint: "http://localhost:4318/v1/metrics".into(),
            message: "connection refused".into(),
        };
        for (retrying, says) in [
            (true, "(retrying)"),
            (false, "(the values go with the next push)"),
        ] {
            let push = ExportEvent::Failing {
                exporter: METRICS_PUSH,
                error: &error,
                retrying,
            };
            assert!(push.to_string().ends_with(says), "{push}");
            assert!(!push.to_string().contains("spans"), "{push}");
        }
        let last = ExportEvent::Undelivered {
            exporter: METRICS_PUSH,
            dropped: Dropped::default(),
            last_error: Some(
                "otlp: cannot reach http://localhost:4318/v1/metrics: connection refused",
            ),
        };
        assert_eq!(
            last.to_string(),
            "otlp_metrics: the last push failed at shutdown; its values are not delivered: \
             otlp: cannot reach http://localhost:4318/v1/metrics: connection refused"
        );
    }
}
