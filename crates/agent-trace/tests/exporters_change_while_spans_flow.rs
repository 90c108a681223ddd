//! The reference's `configure_export`: exporters added and replaced after
//! `init()`, while other threads end spans. Every span reaches at least one
//! exporter (the old, the new, or both during the change), every pipeline's
//! accounting adds up, and the table of pipelines refuses more than it
//! holds with an error saying so. Alone in its binary: `init` is once per
//! process.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_trace::export::FnExporter;
use agent_trace::{InitError, SpanId};

/// The span ids one exporter received.
type Received = Arc<Mutex<Vec<SpanId>>>;

/// An exporter that notes the span ids it receives.
#[derive(Debug)]
struct Recording {
    name: &'static str,
    received: Received,
}

impl agent_trace::export::SpanExporter for Recording {
    fn name(&self) -> &'static str {
        self.name
    }

    fn export(
        &mut self,
        batch: &[agent_trace::FinishedSpan],
    ) -> Result<agent_trace::export::ExportOutcome, agent_trace::export::ExportError> {
        self.received
            .lock()
            .unwrap()
            .extend(batch.iter().map(|s| s.context.span_id));
        Ok(agent_trace::export::ExportOutcome::ACCEPTED)
    }
}

fn recording(name: &'static str) -> (Recording, Received) {
    let received: Received = Arc::default();
    let exporter = Recording {
        name,
        received: received.clone(),
    };
    (exporter, received)
}

#[test]
fn exporters_added_and_replaced_under_load_lose_no_span() {
    let (first, first_got) = recording("first");
    let guard = agent_trace::init()
        .exporter(first)
        .install_tracing_subscriber(false)
        .keep_traces_in_memory(false)
        .batch(
            agent_trace::export::BatchConfig::default()
                .with_scheduled_delay(Duration::from_millis(5)),
        )
        .install()
        .unwrap();

    // Added: both get the spans that end from now on.
    let (second, second_got) = recording("second");
    guard.add_exporter(second).unwrap();
    let both = agent_trace::tracer().start_trace("to_both");
    let both_id = both.span_context().span_id;
    both.end();
    guard.flush(Duration::from_secs(10)).unwrap();
    assert!(first_got.lock().unwrap().contains(&both_id));
    assert!(second_got.lock().unwrap().contains(&both_id));

    // Replaced three times while two threads end spans.
    let stop = Arc::new(AtomicBool::new(false));
    let ended: Arc<Mutex<Vec<SpanId>>> = Arc::default();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ended) = (stop.clone(), ended.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let span = agent_trace::tracer().start_trace("agent_step");
                    mine.push(span.span_context().span_id);
                    span.end();
                    // A steady load the queue keeps up with: a span
                    // dropped because the queue was full is counted, but
                    // this test is about the change, not the queue.
                    std::thread::sleep(Duration::from_micros(20));
                }
                ended.lock().unwrap().extend(mine);
            })
        })
        .collect();
    let mut receivers = vec![first_got, second_got];
    for name in ["third", "fourth", "fifth"] {
        std::thread::sleep(Duration::from_millis(20));
        let (next, got) = recording(name);
        guard.configure_export(next).unwrap();
        receivers.push(got);
    }
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    guard.flush(Duration::from_secs(10)).unwrap();

    let ended = ended.lock().unwrap().clone();
    assert!(ended.len() > 100, "the load ran: {} spans", ended.len());
    let mut delivered: HashSet<SpanId> = HashSet::new();
    for got in &receivers {
        delivered.extend(got.lock().unwrap().iter().copied());
    }
    let lost: Vec<_> = ended.iter().filter(|id| !delivered.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} spans reached no exporter",
        lost.len(),
        ended.len()
    );

    // Every pipeline, the replaced ones included, accounts for what it got;
    // only the last takes spans now, and nothing was dropped.
    let stats = guard.export_stats();
    let names: Vec<&str> = stats.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["first", "second", "third", "fourth", "fifth"]);
    for ((name, s), got) in stats.iter().zip(&receivers) {
        assert_eq!(s.exported, got.lock().unwrap().len() as u64, "{name}");
        assert_eq!(s.dropped_by_reason().total(), 0, "{name}: {s:?}");
    }
    let before = receivers[3].lock().unwrap().len();
    agent_trace::tracer().start_trace("after").end();
    guard.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        receivers[3].lock().unwrap().len(),
        before,
        "a replaced exporter gets nothing"
    );
    assert_eq!(receivers[4].lock().unwrap().len(), {
        let s = guard.export_stats();
        s[4].1.exported as usize
    });

    // The table of pipelines is bounded, and says so.
    let mut added = stats.len();
    let err = loop {
        match guard.add_exporter(FnExporter::new("more", |_| Ok::<(), std::io::Error>(()))) {
            Ok(()) => added += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(added, 64);
    assert!(
        matches!(err, InitError::TooManyPipelines { max: 64 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot add another export pipeline: 64 were added over the life of the process, \
         the most it keeps"
    );
}
