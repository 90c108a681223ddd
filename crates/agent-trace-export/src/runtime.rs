//! The private runtime each network exporter drives its requests on.
//!
//! # Why a runtime per exporter, and how it stays out of the way
//!
//! The batch worker is a plain thread, so the application needs no async
//! runtime, and an application that has one never sees its runtime blocked
//! by an export: each request runs on this single-threaded runtime, driven
//! by `block_on` from the thread that exports (the batch worker).
//!
//! An application with a runtime of its own may still create, use and drop
//! an exporter from async code, so this wrapper makes each of those safe:
//!
//! - Dropping a tokio runtime blocks until its tasks finish, which tokio
//!   forbids (with a panic) on a thread that drives a runtime, such as an
//!   `#[tokio::main]` function dropping an exporter. This one is shut down
//!   with `shutdown_background`, which never blocks.
//! - `block_on` also panics inside a runtime; called from one (an
//!   exporter used directly in async code), the request runs on a scoped
//!   thread of its own instead.
//! - Everything it runs is on the export path, so tracing is suppressed
//!   there (`agent_trace_core::suppress_tracing`): the `tracing` spans of
//!   hyper, h2 and tonic are never recorded, let alone exported. Its
//!   blocking-pool threads (DNS look-ups) are suppressed for good.

use std::fmt;
use std::future::Future;

use agent_trace_core::{suppress_tracing, suppress_tracing_on_this_thread};

use crate::ExportError;

/// A current-thread tokio runtime that is safe to drop anywhere and to
/// drive from any thread.
pub(crate) struct ExporterRuntime {
    /// `None` only during `drop`.
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for ExporterRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExporterRuntime")
    }
}

impl ExporterRuntime {
    pub(crate) fn new() -> Result<Self, ExportError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("agent-trace-export-io")
            .on_thread_start(suppress_tracing_on_this_thread)
            .build()
            .map_err(|cause| ExportError::ThreadSpawn {
                thread: "exporter runtime",
                cause,
            })?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime is taken only in drop"))
    }

    /// Enters the runtime's context (for setting up clients that spawn).
    #[cfg_attr(
        not(feature = "otlp-grpc"),
        allow(dead_code, reason = "only the gRPC client spawns at setup")
    )]
    pub(crate) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.runtime().enter()
    }

    /// Runs `future` to completion with tracing suppressed: here when this
    /// thread drives no runtime, else on a scoped thread.
    ///
    /// # Errors
    ///
    /// [`ExportError::ThreadSpawn`] when called from inside a runtime and
    /// no thread can be started.
    pub(crate) fn block_on<F>(&self, future: F) -> Result<F::Output, ExportError>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self.runtime();
        if tokio::runtime::Handle::try_current().is_err() {
            let _quiet = suppress_tracing();
            return Ok(runtime.block_on(future));
        }
        std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name("agent-trace-export-io".into())
                .spawn_scoped(scope, move || {
                    suppress_tracing_on_this_thread();
                    runtime.block_on(future)
                })
                .map_err(|cause| ExportError::ThreadSpawn {
                    thread: "agent-trace-export-io",
                    cause,
                })?;
            match handle.join() {
                Ok(output) => Ok(output),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for ExporterRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Never blocks: safe on a thread that drives another runtime.
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_and_runs_inside_another_runtime() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        outer.block_on(async {
            let rt = ExporterRuntime::new().unwrap();
            assert_eq!(rt.block_on(async { 7 }).unwrap(), 7);
            drop(rt);
        });
    }

    #[test]
    fn what_it_runs_is_suppressed() {
        let rt = ExporterRuntime::new().unwrap();
        assert!(
            rt.block_on(async { agent_trace_core::is_tracing_suppressed() })
                .unwrap()
        );
        assert!(!agent_trace_core::is_tracing_suppressed());
        let blocking = rt.block_on(async {
            tokio::task::spawn_blocking(agent_trace_core::is_tracing_suppressed)
                .await
                .unwrap()
        });
        assert!(
            blocking.unwrap(),
            "blocking-pool threads are suppressed too"
        );
    }
}
