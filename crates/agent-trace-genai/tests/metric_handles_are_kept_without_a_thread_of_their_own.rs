//! The GenAI helpers keep their metric handles only for the recorder that
//! lives as long as the process, and learn which that is without starting
//! a thread: the metrics crate's clock thread, which runs while a latency
//! registry on the default clock lives, notes it. Without that thread every
//! record registers by name, as the `metrics` macros do. Alone in its
//! binary: it sets the global recorder and counts the process's threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agent_trace_core::AgentStepTracer;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Counts registrations; records nowhere.
struct Counting;

static HISTOGRAMS: AtomicUsize = AtomicUsize::new(0);

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        HISTOGRAMS.fetch_add(1, Ordering::Relaxed);
        Histogram::noop()
    }
}

/// The names of this process's threads.
fn threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect();
    names.sort();
    names
}

/// Ten chat calls; how many histograms they registered.
fn ten_calls(tracer: &AgentStepTracer) -> usize {
    let before = HISTOGRAMS.load(Ordering::Relaxed);
    for _ in 0..10 {
        agent_trace_genai::chat(tracer, "openai", "gpt-4o")
            .start()
            .end();
    }
    HISTOGRAMS.load(Ordering::Relaxed) - before
}

#[test]
fn handles_are_kept_for_the_global_recorder_once_the_clock_thread_names_it() {
    metrics::set_global_recorder(Counting).expect("the only recorder of this binary");
    let tracer = AgentStepTracer::builder().without_store().build();
    let threads_before = threads();

    // No registry, so no clock thread: nothing kept, and no thread started.
    assert_eq!(agent_trace_metrics::process_recorder(), None);
    let per_ten = ten_calls(&tracer);
    assert!(per_ten >= 10, "each call registers: {per_ten}");
    assert_eq!(ten_calls(&tracer), per_ten);
    assert_eq!(threads(), threads_before, "the helpers started a thread");

    // A registry starts the clock thread, which names the global recorder.
    let registry = agent_trace_metrics::LatencyMetrics::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent_trace_metrics::process_recorder().is_none() {
        assert!(Instant::now() < deadline, "the clock thread never ticked");
        std::thread::yield_now();
    }
    let first = ten_calls(&tracer);
    assert_eq!(first, per_ten / 10, "registered once, then kept");
    assert_eq!(ten_calls(&tracer), 0);
    let mut with_clock = threads_before.clone();
    with_clock.push("agent-trace-clo".to_owned());
    with_clock.sort();
    assert_eq!(threads(), with_clock, "only the registry's clock thread");
    drop(registry);
}
