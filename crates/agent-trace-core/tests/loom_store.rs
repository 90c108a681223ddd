//! Loom models of the trace store's staging (`src/store.rs`): the store's
//! own code, with loom's mutex for the index lock and a loom step before
//! each operation of the staging queue (crossbeam's, which loom cannot see
//! inside), so that loom runs the threads below in every order of their
//! queue and lock operations (within the preemption bound each model
//! sets; `LOOM_MAX_PREEMPTIONS` overrides it). Under loom the store stages
//! at most 2 spans and tries to drain at 2, so a few spans take every path:
//! staged without a drain, drained under a `try_lock`, left staged when the
//! lock is held, and the full queue that waits for the lock.
//!
//! The store reads its clock (for age eviction) at the end of a drain,
//! before it unlocks; the models' clock is a loom atomic, so that loom can
//! also run other threads while a drainer holds the lock.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p agent-trace-core --release --test loom_store`

#![cfg(loom)]

use agent_trace_core::{
    Clock, FinishedSpan, SpanContext, SpanData, SpanId, SpanKind, SpanProcessor, Status, Timestamp,
    TraceFlags, TraceId, TraceStore, TraceStoreConfig,
};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

/// The store's clock, read through loom.
#[derive(Debug)]
struct LoomClock(AtomicU64);

impl Clock for LoomClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_nanos(self.0.load(Ordering::Relaxed))
    }
}

fn store() -> Arc<TraceStore> {
    Arc::new(TraceStore::new(TraceStoreConfig {
        clock: std::sync::Arc::new(LoomClock(AtomicU64::new(0))),
        ..TraceStoreConfig::default()
    }))
}

/// Span `span` of trace `trace`.
fn span(trace: u128, span: u64) -> FinishedSpan {
    FinishedSpan::new(SpanData {
        name: "step".into(),
        context: SpanContext::new(
            TraceId::from_u128(trace).unwrap(),
            SpanId::from_u64(span).unwrap(),
            TraceFlags::SAMPLED,
        ),
        parent_span_id: None,
        parent_is_remote: false,
        kind: SpanKind::Internal,
        start_time: Timestamp::from_unix_nanos(0),
        end_time: Timestamp::from_unix_nanos(0),
        attributes: Default::default(),
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        dropped_attributes_count: 0,
        dropped_events_count: 0,
        dropped_links_count: 0,
        scope: None,
    })
}

/// Thread `t` ends spans `t * 10 + 1 ..= t * 10 + n` of trace `t`.
fn end_spans(store: &Arc<TraceStore>, t: u64, n: u64) -> thread::JoinHandle<()> {
    let store = store.clone();
    thread::spawn(move || {
        for s in 1..=n {
            store.on_end(span(u128::from(t), t * 10 + s));
        }
    })
}

/// The span ids the store holds for traces `1..=threads`, sorted (a span
/// held twice shows twice).
fn held(store: &TraceStore, threads: u64) -> Vec<u64> {
    let mut ids: Vec<u64> = (1..=threads)
        .filter_map(|t| store.trace(TraceId::from_u128(u128::from(t)).unwrap()))
        .flat_map(|trace| {
            trace
                .spans()
                .iter()
                .map(|s| s.context.span_id.to_u64())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort_unstable();
    ids
}

fn model(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    // `LOOM_MAX_PREEMPTIONS`, when set, wins.
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemption_bound;
    }
    builder.check(f);
}

/// Two threads end two spans each while a third asks the store for its
/// stats (taking the lock, and draining): every span reaches the index
/// exactly once, none is dropped, and nothing is left staged.
#[test]
fn every_staged_span_reaches_the_index_once() {
    model(Some(4), || {
        let store = store();
        let enders = [end_spans(&store, 1, 2), end_spans(&store, 2, 2)];
        let early = store.stats();
        assert!(early.spans <= 4 && early.dropped_spans == 0);
        for ender in enders {
            ender.join().unwrap();
        }
        assert_eq!(held(&store, 2), [11, 12, 21, 22]);
        let stats = store.stats();
        assert_eq!((stats.spans, stats.traces, stats.dropped_spans), (4, 2, 0));
    });
}

/// Three threads end spans with nobody else asking: the queue fills while
/// one of them drains, and the one that finds it full waits for the lock
/// and stores its span; once they are done every span is in the store
/// exactly once.
#[test]
fn spans_ended_while_another_thread_drains_are_kept() {
    model(Some(3), || {
        let store = store();
        let enders = [
            end_spans(&store, 1, 2),
            end_spans(&store, 2, 1),
            end_spans(&store, 3, 1),
        ];
        for ender in enders {
            ender.join().unwrap();
        }
        assert_eq!(held(&store, 3), [11, 12, 21, 31]);
        assert_eq!(store.stats().dropped_spans, 0);
    });
}

/// A thread that finds the queue full waits for the lock, drains, and
/// stores its span under the lock: kept even when other spans refill the
/// queue meanwhile (a version that pushed it again after the drain,
/// instead, lost it here).
#[test]
fn a_span_that_finds_the_queue_full_is_kept_when_the_queue_refills() {
    model(Some(4), || {
        let store = store();
        let enders = [end_spans(&store, 1, 4), end_spans(&store, 2, 1)];
        let _ = store.stats();
        for ender in enders {
            ender.join().unwrap();
        }
        assert_eq!(held(&store, 2), [11, 12, 13, 14, 21]);
    });
}
