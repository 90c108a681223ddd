//! `force_flush` and `shutdown` ask every processor, even after one fails,
//! and report the first failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor, TraceError};

#[derive(Debug)]
struct Flaky {
    name: &'static str,
    fails: bool,
    flushes: AtomicUsize,
    shutdowns: AtomicUsize,
}

impl Flaky {
    fn new(name: &'static str, fails: bool) -> Arc<Self> {
        Arc::new(Self {
            name,
            fails,
            flushes: AtomicUsize::new(0),
            shutdowns: AtomicUsize::new(0),
        })
    }

    fn result(&self) -> Result<(), TraceError> {
        if self.fails {
            Err(TraceError::Timeout {
                processor: self.name,
                timeout: Duration::from_millis(1),
            })
        } else {
            Ok(())
        }
    }
}

impl SpanProcessor for Flaky {
    fn on_end(&self, _span: FinishedSpan) {}

    fn force_flush(&self, _timeout: Duration) -> Result<(), TraceError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        self.result()
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), TraceError> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        self.result()
    }
}

#[test]
fn a_failing_processor_does_not_stop_the_others() {
    let (first, second, third) = (
        Flaky::new("first", true),
        Flaky::new("second", true),
        Flaky::new("third", false),
    );
    let tracer = AgentStepTracer::builder()
        .processor(first.clone())
        .processor(second.clone())
        .processor(third.clone())
        .without_store()
        .build();

    let err = tracer.force_flush(Duration::from_secs(1)).unwrap_err();
    assert!(matches!(
        err,
        TraceError::Timeout {
            processor: "first",
            ..
        }
    ));
    let err = tracer.shutdown(Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.to_string(), "first did not finish within 1 ms");
    for p in [&first, &second, &third] {
        assert_eq!(p.flushes.load(Ordering::SeqCst), 1, "{}", p.name);
        assert_eq!(p.shutdowns.load(Ordering::SeqCst), 1, "{}", p.name);
    }
}
