//! Test doubles shared by this crate's integration tests: one place, not a
//! copy per test file.
#![allow(dead_code, unreachable_pub)] // Each test binary uses a subset.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor, TracerBuilder};

/// Keeps every finished span it receives, in order.
#[derive(Debug, Default)]
pub struct Collector(Mutex<Vec<FinishedSpan>>);

impl Collector {
    pub fn spans(&self) -> Vec<FinishedSpan> {
        self.0.lock().unwrap().clone()
    }

    pub fn take(&self) -> Vec<FinishedSpan> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The one span with this name; fails the test otherwise.
    pub fn named(&self, name: &str) -> FinishedSpan {
        let spans = self.spans();
        let mut found = spans.iter().filter(|s| s.name == name);
        let span = found
            .next()
            .unwrap_or_else(|| panic!("no span named {name}"));
        assert!(found.next().is_none(), "several spans named {name}");
        span.clone()
    }
}

impl SpanProcessor for Collector {
    fn on_end(&self, span: FinishedSpan) {
        self.0.lock().unwrap().push(span);
    }
}

/// A tracer without a store that sends every span to a fresh collector.
pub fn collecting_tracer() -> (AgentStepTracer, Arc<Collector>) {
    collecting_tracer_with(|builder| builder)
}

/// As [`collecting_tracer`], with the builder adjusted first (a sampler,
/// span limits).
pub fn collecting_tracer_with(
    configure: impl FnOnce(TracerBuilder) -> TracerBuilder,
) -> (AgentStepTracer, Arc<Collector>) {
    let collector = Arc::new(Collector::default());
    let tracer = configure(AgentStepTracer::builder())
        .processor(collector.clone())
        .without_store()
        .build();
    (tracer, collector)
}

/// `UNIX_EPOCH + secs`, for spans with fixed times.
pub fn at(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}
