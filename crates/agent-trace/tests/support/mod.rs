//! The span collector the facade's tests share.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::{Arc, Mutex};

use agent_trace::{AgentStepTracer, FinishedSpan, SpanProcessor};

/// Keeps every finished span, in the order they ended.
#[derive(Debug, Default)]
pub(crate) struct Collector(Mutex<Vec<FinishedSpan>>);

impl SpanProcessor for Collector {
    fn on_end(&self, span: FinishedSpan) {
        self.0.lock().unwrap().push(span);
    }
}

impl Collector {
    /// A copy of every span so far.
    pub(crate) fn spans(&self) -> Vec<FinishedSpan> {
        self.0.lock().unwrap().clone()
    }

    /// How many spans so far.
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The one span with this name; fails the test otherwise.
    pub(crate) fn named(&self, name: &str) -> FinishedSpan {
        let spans = self.0.lock().unwrap();
        let mut found = spans.iter().filter(|s| s.name == name);
        let span = found
            .next()
            .unwrap_or_else(|| panic!("no span named {name}"))
            .clone();
        assert!(found.next().is_none(), "several spans named {name}");
        span
    }
}

/// A tracer without a store whose spans go to the returned collector.
pub(crate) fn collecting_tracer() -> (AgentStepTracer, Arc<Collector>) {
    let collector = Arc::new(Collector::default());
    let tracer = AgentStepTracer::builder()
        .without_store()
        .processor(collector.clone())
        .build();
    (tracer, collector)
}
