//! The layer holds its span table's locks only for its own bookkeeping: a
//! field's `Debug` impl, a sampler or a processor's `on_start` may wait on
//! another thread that uses the same subscriber, and that thread is never
//! stuck behind a lock held around the waiting code. Each test makes the
//! other thread open more live spans than the table has slots, so that
//! one of them shares a slot with the span whose user code is waiting (a
//! lock held there used to make that thread spin for ever, and the test
//! hang; here it fails after 30 s instead).
#![cfg(feature = "tracing")]

mod support;

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_trace::{AgentStepTracer, AgentTraceLayer, SpanData, SpanProcessor};
use support::Collector;
use tracing_subscriber::layer::SubscriberExt;

/// More than the layer's 512 slots, all alive at once.
const OTHER_SPANS: usize = 600;

/// The subscriber under test, for the other thread: inside a subscriber's
/// callback `tracing` hands out no dispatcher (its re-entrancy guard), so
/// the test keeps it here before it starts.
static DISPATCH: Mutex<Option<tracing::Dispatch>> = Mutex::new(None);

/// Opens `OTHER_SPANS` spans on a new thread of the subscriber under test,
/// enters and closes them, and waits for that thread (at most 30 s).
fn other_thread_uses_every_slot() {
    let dispatch = DISPATCH.lock().unwrap().clone().expect("set by the test");
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let spans: Vec<_> = (0..OTHER_SPANS)
                .map(|i| tracing::info_span!("other_thread", i))
                .collect();
            for s in &spans {
                s.in_scope(|| {});
            }
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the other thread is stuck behind a lock held around user code");
}

/// A field whose `Debug` waits for another thread that uses the layer.
struct WaitsOnAnotherThread;

impl fmt::Debug for WaitsOnAnotherThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        other_thread_uses_every_slot();
        f.write_str("done")
    }
}

/// Does the same in `on_start`, for the first span only.
#[derive(Debug, Default)]
struct WaitingProcessor(std::sync::atomic::AtomicBool);

impl SpanProcessor for WaitingProcessor {
    fn on_start(&self, span: &SpanData) {
        if span.name == "waits_in_on_start"
            && !self.0.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            other_thread_uses_every_slot();
        }
    }

    fn on_end(&self, _span: agent_trace::FinishedSpan) {}
}

/// The subscriber under test, kept in [`DISPATCH`] too; both tests share
/// it (their spans are told apart by name), and run one at a time.
fn subscriber(collected: &Arc<Collector>) -> tracing::Dispatch {
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(WaitingProcessor::default()))
        .processor(collected.clone())
        .without_store()
        .build();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(AgentTraceLayer::new(tracer).without_latency_metrics()),
    );
    *DISPATCH.lock().unwrap() = Some(dispatch.clone());
    dispatch
}

/// The tests share [`DISPATCH`]: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn a_field_debug_impl_may_wait_on_another_thread_of_the_layer() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let collected = Arc::new(Collector::default());
    tracing::dispatcher::with_default(&subscriber(&collected), || {
        let span = tracing::info_span!("waits_in_debug", field = ?WaitsOnAnotherThread);
        span.in_scope(|| {});
    });
    let names: Vec<String> = collected
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "waits_in_debug").count(), 1);
    assert_eq!(
        names.iter().filter(|n| *n == "other_thread").count(),
        OTHER_SPANS
    );
}

#[test]
fn a_processor_on_start_may_wait_on_another_thread_of_the_layer() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let collected = Arc::new(Collector::default());
    tracing::dispatcher::with_default(&subscriber(&collected), || {
        let span = tracing::info_span!("waits_in_on_start");
        span.in_scope(|| {});
    });
    let names: Vec<String> = collected
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(
        names.iter().filter(|n| *n == "waits_in_on_start").count(),
        1
    );
    assert_eq!(
        names.iter().filter(|n| *n == "other_thread").count(),
        OTHER_SPANS
    );
}

/// A field whose `Debug` panics.
struct PanicsInDebug;

impl fmt::Debug for PanicsInDebug {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("a field's Debug impl panics");
    }
}

#[test]
fn a_field_debug_impl_that_panics_leaves_no_span_behind() {
    let collected = Arc::new(Collector::default());
    let tracer = AgentStepTracer::builder()
        .processor(collected.clone())
        .without_store()
        .build();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(AgentTraceLayer::new(tracer).without_latency_metrics()),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("before", n = 1).in_scope(|| {});
        let panicked = std::panic::catch_unwind(|| {
            tracing::info_span!("panics", field = ?PanicsInDebug);
        });
        assert!(panicked.is_err(), "the field's Debug impl ran and panicked");
        tracing::info_span!("after", n = 2).in_scope(|| {});
    });
    // The layer ends the spans still in its table as it drops: the span
    // whose fields panicked was never kept, so it is not among them.
    drop(dispatch);
    let names: Vec<String> = collected
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["before", "after"]);
}
