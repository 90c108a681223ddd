//! The export pipelines of the tracer `init()` builds, which can be added
//! or replaced while spans flow (the reference's `configure_export`).
//!
//! # How spans in flight stay safe
//!
//! The tracer's processors are fixed when it is built, so `init()` gives it
//! one processor, [`Exports`], that hands each ended span to every active
//! pipeline. Pipelines live in a fixed table of slots, each filled once
//! (`OnceLock`) and never emptied, with a count of filled slots: a span
//! reads the count, then the filled slots and their `retired` flags. No
//! lock is taken and nothing is freed under a reader, so the only cost on
//! the span path is a load per slot.
//!
//! A change fills the new pipeline's slot first and retires the old ones
//! after: a span that ends during a replacement reaches the old pipeline,
//! the new one, or both, never neither. A retired pipeline is then shut
//! down (delivering what it holds within the shutdown timeout) and keeps
//! its slot, so its accounting stays in the guard's summary. The table has
//! [`MAX_PIPELINES`] slots over the life of the process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use agent_trace_core::{FinishedSpan, SpanProcessor, TraceError};
use agent_trace_export::{BatchSpanProcessor, BatchStats};

/// Pipelines one process can add over its life, replaced ones included.
pub(crate) const MAX_PIPELINES: usize = 64;

/// One pipeline and whether it still takes spans.
#[derive(Debug)]
struct Entry {
    pipeline: Arc<BatchSpanProcessor>,
    retired: AtomicBool,
}

/// Every pipeline `init()` and later changes made (see the module docs).
#[derive(Debug)]
pub(crate) struct Exports {
    slots: Box<[OnceLock<Entry>]>,
    /// Slots filled: each is filled before this counts it.
    filled: AtomicUsize,
    /// Serialises changes (never taken on the span path).
    changes: Mutex<()>,
}

/// Why a pipeline could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull;

impl Exports {
    pub(crate) fn new() -> Self {
        Self {
            slots: (0..MAX_PIPELINES).map(|_| OnceLock::new()).collect(),
            filled: AtomicUsize::new(0),
            changes: Mutex::new(()),
        }
    }

    /// The filled slots.
    fn entries(&self) -> impl Iterator<Item = &Entry> {
        let n = self.filled.load(Ordering::Acquire);
        self.slots[..n].iter().filter_map(OnceLock::get)
    }

    /// The pipelines taking spans now.
    fn active(&self) -> impl Iterator<Item = &Entry> {
        self.entries()
            .filter(|e| !e.retired.load(Ordering::Acquire))
    }

    /// Adds `pipeline`, and retires every other one when `replace`; the
    /// retired ones, for the caller to shut down.
    pub(crate) fn add(
        &self,
        pipeline: Arc<BatchSpanProcessor>,
        replace: bool,
    ) -> Result<Vec<Arc<BatchSpanProcessor>>, TableFull> {
        let _change = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let n = self.filled.load(Ordering::Acquire);
        let slot = self.slots.get(n).ok_or(TableFull)?;
        let _ = slot.set(Entry {
            pipeline,
            retired: AtomicBool::new(false),
        });
        self.filled.store(n + 1, Ordering::Release);
        let mut retired = Vec::new();
        if replace {
            for e in self.slots[..n].iter().filter_map(OnceLock::get) {
                if !e.retired.swap(true, Ordering::AcqRel) {
                    retired.push(e.pipeline.clone());
                }
            }
        }
        Ok(retired)
    }

    /// Every pipeline's exporter name and accounting, retired ones
    /// included, in the order added.
    pub(crate) fn stats(&self) -> Vec<(&'static str, BatchStats)> {
        self.entries()
            .map(|e| (e.pipeline.exporter_name(), e.pipeline.stats()))
            .collect()
    }

    /// Runs `f` on every active pipeline; the first error.
    fn each_active(
        &self,
        f: impl Fn(&BatchSpanProcessor) -> Result<(), TraceError>,
    ) -> Result<(), TraceError> {
        let mut first = Ok(());
        for e in self.active() {
            let r = f(&e.pipeline);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// How many pipelines take spans now.
    pub(crate) fn active_count(&self) -> usize {
        self.active().count()
    }
}

impl SpanProcessor for Exports {
    /// Nothing runs as a span starts (a batch pipeline only takes ended
    /// spans, so `on_start` is the default no-op).
    fn on_start_is_internal(&self) -> bool {
        true
    }

    /// To every active pipeline: a shared handle to each but the last,
    /// which gets this one (no copy with one pipeline).
    fn on_end(&self, span: FinishedSpan) {
        let mut pending: Option<&Entry> = None;
        for e in self.active() {
            if let Some(previous) = pending.replace(e) {
                previous.pipeline.on_end(span.clone());
            }
        }
        if let Some(last) = pending {
            last.pipeline.on_end(span);
        }
    }

    /// At most `timeout` in all, the pipelines one after another.
    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        let left = agent_trace_core::time_left(timeout);
        self.each_active(|p| p.force_flush(left()))
    }

    /// At most `timeout` in all, the pipelines one after another.
    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        // Retired pipelines were shut down when retired.
        let left = agent_trace_core::time_left(timeout);
        self.each_active(|p| p.shutdown(left()))
    }
}
