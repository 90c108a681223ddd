//! Tail sampling keeps every error trace and every slow trace, keeps the
//! configured ratio of the others (the same traces the head sampler would
//! keep), never holds more than its byte cap, counts every span it does
//! not forward, and decides traces whose root never ends at their deadline.
//!
//! No test sleeps: durations come from explicit span times, deadlines from
//! a manual clock.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use agent_trace_core::{
    AgentStepTracer, FinishedSpan, KeyValue, Link, ManualClock, SpanContext, SpanData, SpanId,
    SpanKind, SpanProcessor, Status, StringValue, Timestamp, TraceFlags, TraceId, TraceIdRatio,
    TraceState, Value,
};
use agent_trace_export::{
    TAIL_BUFFER_FULL, TailSamplingConfig, TailSamplingProcessor, TailSamplingStats,
    estimate_span_bytes,
};
use agent_trace_metrics::TracerMetrics;
use support::Collect;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the head sampler's rule (W3C / OpenTelemetry `TraceIdRatio`)
/// keeps `id` at `ratio`, written out here from its definition: the low 64
/// bits of the id, shifted right once, below `ratio * 2^63`.
fn head_ratio_keeps(id: TraceId, ratio: f64) -> bool {
    let low = id.to_u128() as u64;
    (low >> 1) < (ratio * 2f64.powi(63)) as u64
}

fn config(ratio: f64) -> TailSamplingConfig {
    TailSamplingConfig::default()
        .with_ratio(TraceIdRatio::new(ratio).unwrap())
        .with_sweep_interval(None)
}

fn tail(config: TailSamplingConfig) -> (Arc<TailSamplingProcessor>, Collect) {
    let collect = Collect::default();
    let tail = TailSamplingProcessor::builder(Arc::new(collect.clone()))
        .config(config)
        .build()
        .unwrap();
    (Arc::new(tail), collect)
}

fn tracer(tail: &Arc<TailSamplingProcessor>) -> AgentStepTracer {
    AgentStepTracer::builder()
        .without_store()
        .processor(tail.clone())
        .build()
}

/// Trace id -> number of spans the downstream received.
fn forwarded_by_trace(collect: &Collect) -> HashMap<TraceId, usize> {
    let mut by = HashMap::new();
    for s in collect.0.lock().unwrap().iter() {
        *by.entry(s.context.trace_id).or_insert(0) += 1;
    }
    by
}

/// Every span is accounted for, exactly.
fn assert_accounted(s: &TailSamplingStats) {
    assert_eq!(
        s.received,
        s.forwarded + s.sampled_out_spans + s.evicted_spans + s.dropped_shutdown + s.buffered_spans,
        "{s:#?}"
    );
}

/// One trace: a root of `root_secs` with `children` children; the first
/// child fails when `error`. Times are explicit, so durations are exact.
fn trace(
    tracer: &AgentStepTracer,
    t0: u64,
    root_secs: f64,
    children: usize,
    error: bool,
) -> TraceId {
    let start = Timestamp::from_unix_nanos(t0);
    let root = tracer.trace_builder("agent_task").start_time(start).start();
    for i in 0..children {
        let mut child = tracer
            .span_builder("llm_call")
            .parent(&root)
            .start_time(start)
            .start();
        if error && i == 0 {
            child.set_status(Status::error("rate limited"));
        }
        child.end_with_time(start.saturating_add(Duration::from_millis(10)));
    }
    let id = root.trace_id();
    root.end_with_time(start.saturating_add(Duration::from_secs_f64(root_secs)));
    id
}

const T0: u64 = 1_800_000_000_000_000_000;

#[test]
fn a_ratio_of_one_percent_keeps_the_traces_the_head_sampler_keeps() {
    let (tail, collect) = tail(config(0.01));
    let tracer = tracer(&tail);
    let n = 20_000;
    let ids: Vec<TraceId> = (0..n).map(|_| trace(&tracer, T0, 0.5, 2, false)).collect();
    tail.force_flush(TIMEOUT).unwrap();

    let kept: HashSet<TraceId> = forwarded_by_trace(&collect).into_keys().collect();
    let expected: HashSet<TraceId> = ids
        .iter()
        .copied()
        .filter(|&id| head_ratio_keeps(id, 0.01))
        .collect();
    assert_eq!(kept, expected);
    // Binomial(20,000, 1%): mean 200, standard deviation 14.1; six of them
    // either side (random ids make this fail about once in 10^9 runs).
    assert!((115..=285).contains(&kept.len()), "{} kept", kept.len());
    let s = tail.stats();
    assert_eq!(s.traces_kept_ratio, kept.len() as u64);
    assert_eq!(s.traces_sampled_out, n - kept.len() as u64);
    assert_eq!(s.forwarded, 3 * kept.len() as u64);
    assert_accounted(&s);
}

#[test]
fn every_error_trace_and_every_slow_trace_is_kept_while_threads_race() {
    let (tail, collect) = tail(
        config(0.01)
            .with_latency_threshold(Duration::from_secs(2))
            .with_max_buffered_bytes(64 << 20),
    );
    let tracer = tracer(&tail);
    let threads = 4;
    let per_thread = 3_000;
    let results: Vec<(Vec<TraceId>, Vec<TraceId>, Vec<TraceId>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let tracer = tracer.clone();
                scope.spawn(move || {
                    let (mut errors, mut slow, mut ordinary) = (Vec::new(), Vec::new(), Vec::new());
                    for i in 0..per_thread {
                        let t0 = T0 + (t * per_thread + i) as u64;
                        match i % 10 {
                            0 => errors.push(trace(&tracer, t0, 0.5, 3, true)),
                            1 => slow.push(trace(&tracer, t0, 3.0, 3, false)),
                            _ => ordinary.push(trace(&tracer, t0, 0.5, 3, false)),
                        }
                    }
                    (errors, slow, ordinary)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    tail.force_flush(TIMEOUT).unwrap();

    let forwarded = forwarded_by_trace(&collect);
    let (mut errors, mut slow, mut ordinary_kept, mut ordinary_expected) = (0, 0, 0, 0);
    for (e, s, o) in &results {
        for id in e {
            assert_eq!(
                forwarded.get(id),
                Some(&4),
                "error trace {id} not kept whole"
            );
            errors += 1;
        }
        for id in s {
            assert_eq!(
                forwarded.get(id),
                Some(&4),
                "slow trace {id} not kept whole"
            );
            slow += 1;
        }
        for id in o {
            let kept = forwarded.get(id).copied().unwrap_or(0);
            let expected = head_ratio_keeps(*id, 0.01);
            assert_eq!(kept, if expected { 4 } else { 0 }, "ordinary trace {id}");
            ordinary_kept += usize::from(kept > 0);
            ordinary_expected += usize::from(expected);
        }
    }
    assert_eq!(errors, threads * per_thread / 10);
    assert_eq!(slow, threads * per_thread / 10);
    assert_eq!(ordinary_kept, ordinary_expected);
    let s = tail.stats();
    // An error or slow trace may also be within the ratio; the policies
    // come first.
    assert_eq!(s.traces_kept_error, errors as u64);
    assert_eq!(s.traces_kept_slow, slow as u64);
    assert_eq!(s.traces_kept_ratio, ordinary_kept as u64);
    assert_eq!(s.evicted_spans, 0);
    assert_eq!(s.received, (threads * per_thread * 4) as u64);
    assert_accounted(&s);
}

/// A span with a big attribute, in a trace whose root is still open.
fn child_of(tracer: &AgentStepTracer, root: &agent_trace_core::Span, bytes: usize) {
    let mut child = tracer.span_builder("tool_call").parent(root).start();
    child.set_attribute("output", "x".repeat(bytes));
    child.end();
}

#[test]
fn the_byte_cap_holds_under_a_burst_and_what_it_forces_out_is_counted() {
    let cap = 256 * 1024;
    let metrics = TracerMetrics::new();
    let collect = Collect::default();
    let tail = Arc::new(
        TailSamplingProcessor::builder(Arc::new(collect.clone()))
            .config(config(0.0).with_max_buffered_bytes(cap))
            .metrics(&metrics)
            .build()
            .unwrap(),
    );
    let tracer = tracer(&tail);
    // A burst: 2 threads open 500 traces each, end 4 children of about
    // 1 KiB each in every one of them, then end the roots, one in ten with
    // an error. The children alone are about 4 MiB, sixteen times the cap.
    let roots_per_thread = 500;
    let failed: Vec<TraceId> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let tracer = tracer.clone();
                let tail = tail.clone();
                scope.spawn(move || {
                    let roots: Vec<_> = (0..roots_per_thread)
                        .map(|_| tracer.start_trace("agent_task"))
                        .collect();
                    for root in &roots {
                        for _ in 0..4 {
                            child_of(&tracer, root, 1024);
                            let now = tail.stats().buffered_bytes;
                            assert!(now <= cap as u64, "{now} bytes buffered, cap {cap}");
                        }
                    }
                    let mut failed = Vec::new();
                    for (i, mut root) in roots.into_iter().enumerate() {
                        if i % 10 == 0 {
                            root.set_status(Status::error("gave up"));
                            failed.push(root.trace_id());
                        }
                        root.end();
                    }
                    failed
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    tail.force_flush(TIMEOUT).unwrap();

    let s = tail.stats();
    println!("{s:#?}");
    assert!(
        s.peak_buffered_bytes <= cap as u64,
        "peak {}",
        s.peak_buffered_bytes
    );
    assert!(s.evicted_spans > 0, "the burst did not fill the buffer");
    assert_eq!(s.received, 2 * roots_per_thread as u64 * 5);
    assert_eq!(
        s.received,
        s.evicted_spans + s.forwarded + s.sampled_out_spans,
        "{s:#?}"
    );
    assert_eq!((s.buffered_bytes, s.buffered_spans), (0, 0));
    assert_eq!(collect.0.lock().unwrap().len() as u64, s.forwarded);
    assert_eq!(
        metrics.spans_dropped(TAIL_BUFFER_FULL).get(),
        s.evicted_spans
    );
    // Every failed trace is kept, if only its root: what of it was still
    // buffered is forwarded with it; a trace forced out earlier is kept
    // from its failing root on (the ratio is 0: nothing else is kept).
    let forwarded = forwarded_by_trace(&collect);
    assert_eq!(failed.len(), 2 * roots_per_thread / 10);
    for id in &failed {
        assert!(forwarded.contains_key(id), "failed trace {id} not kept");
    }
    assert_eq!(forwarded.len(), failed.len());
    assert_eq!(s.traces_kept_error, failed.len() as u64);
}

#[test]
fn a_trace_whose_root_does_not_end_is_decided_at_its_deadline() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let (tail, collect) = tail(
        config(0.0)
            .with_decision_deadline(Duration::from_secs(30))
            .with_clock(Arc::new(clock.clone())),
    );
    let tracer = tracer(&tail);
    let failing = tracer.start_trace("agent_task");
    tracer
        .span_builder("tool_call")
        .parent(&failing)
        .start()
        .set_status(Status::error("timeout"));
    let quiet = tracer.start_trace("agent_task");
    child_of(&tracer, &quiet, 10);
    child_of(&tracer, &quiet, 10);

    clock.advance(Duration::from_secs(29));
    assert_eq!(tail.sweep(), 0);
    assert_eq!(tail.stats().buffered_traces, 2);
    clock.advance(Duration::from_secs(2));
    assert_eq!(tail.sweep(), 2);

    let s = tail.stats();
    assert_eq!((s.traces_kept_error, s.traces_sampled_out), (1, 1));
    assert_eq!(s.traces_decided_early, 2);
    assert_eq!((s.forwarded, s.sampled_out_spans), (1, 2));
    // The roots end late: the kept trace's is forwarded, the other's
    // counted as sampled out.
    let (failing_id, quiet_id) = (failing.trace_id(), quiet.trace_id());
    failing.end();
    quiet.end();
    let s = tail.stats();
    assert_eq!((s.late_forwarded, s.late_dropped), (1, 1));
    assert_eq!((s.forwarded, s.sampled_out_spans), (2, 3));
    assert_accounted(&s);
    let forwarded = forwarded_by_trace(&collect);
    assert_eq!(forwarded.get(&failing_id), Some(&2));
    assert_eq!(forwarded.get(&quiet_id), None);
}

#[test]
fn a_trace_slower_than_its_deadline_is_kept_from_its_late_root_on() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let (tail, collect) = tail(
        config(0.0)
            .with_decision_deadline(Duration::from_secs(30))
            .with_latency_threshold(Duration::from_secs(20))
            .with_clock(Arc::new(clock.clone())),
    );
    let tracer = tracer(&tail);
    let start = Timestamp::from_unix_nanos(T0);
    let root = tracer.trace_builder("agent_task").start_time(start).start();
    child_of(&tracer, &root, 10);
    clock.advance(Duration::from_secs(31));
    assert_eq!(tail.sweep(), 1);
    assert_eq!(tail.stats().traces_sampled_out, 1);
    // The root ends after 60 s: over the threshold, so the trace is kept
    // from here on (its early child was dropped at the deadline).
    let id = root.trace_id();
    root.end_with_time(start.saturating_add(Duration::from_secs(60)));
    let s = tail.stats();
    assert_eq!((s.traces_sampled_out, s.traces_kept_slow), (0, 1));
    assert_eq!((s.late_forwarded, s.sampled_out_spans), (1, 1));
    assert_eq!(forwarded_by_trace(&collect).get(&id), Some(&1));
}

#[test]
fn a_span_past_the_deadline_of_its_shard_neighbours_decides_them_on_end() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let (tail, _collect) = tail(
        config(0.0)
            .with_decision_deadline(Duration::from_secs(30))
            .with_clock(Arc::new(clock.clone())),
    );
    let tracer = tracer(&tail);
    let roots: Vec<_> = (0..256).map(|_| tracer.start_trace("agent_task")).collect();
    for root in &roots {
        child_of(&tracer, root, 10);
    }
    assert_eq!(tail.stats().buffered_traces, 256);
    clock.advance(Duration::from_secs(31));
    // Each new trace's span reaches one of the 16 shards (by its random
    // id) and decides what is due there; no sweep is called. 1,024 of them
    // miss a shard with a probability of 16 x (15/16)^1024, about 10^-27.
    let later: Vec<_> = (0..1024)
        .map(|_| tracer.start_trace("agent_task"))
        .collect();
    for root in &later {
        child_of(&tracer, root, 10);
    }
    let s = tail.stats();
    assert_eq!(s.traces_decided_early, 256, "{s:#?}");
    assert_eq!(s.buffered_traces, 1024);
    drop((roots, later));
}

#[test]
fn a_root_slower_than_its_operations_p99_is_kept() {
    let metrics = Arc::new(agent_trace_metrics::LatencyMetrics::new());
    for i in 0..1_000 {
        metrics
            .record("agent_task", 0.5 + f64::from(i) / 1_000.0)
            .unwrap();
    }
    // p99 of agent_task: about 1.49 s. Nothing known of other operations.
    let window = "5m".parse().unwrap();
    let (tail, collect) = tail(config(0.0).with_p99(metrics, window));
    let tracer = tracer(&tail);
    let slow = trace(&tracer, T0, 2.0, 1, false);
    let usual = trace(&tracer, T0, 1.0, 1, false);
    let start = Timestamp::from_unix_nanos(T0);
    let other = tracer.trace_builder("other_task").start_time(start).start();
    let other_id = other.trace_id();
    other.end_with_time(start.saturating_add(Duration::from_secs(100)));
    let forwarded = forwarded_by_trace(&collect);
    assert_eq!(forwarded.get(&slow), Some(&2));
    assert_eq!(forwarded.get(&usual), None);
    assert_eq!(forwarded.get(&other_id), None);
    let s = tail.stats();
    assert_eq!((s.traces_kept_slow, s.traces_sampled_out), (1, 2));
}

#[test]
fn a_server_span_of_a_remote_trace_completes_it() {
    let (tail, collect) = tail(config(0.0).with_latency_threshold(Duration::from_secs(1)));
    let tracer = tracer(&tail);
    let mut remote = SpanContext::new(
        TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap(),
        SpanId::from_u64(0x00f0_67aa_0ba9_02b7).unwrap(),
        TraceFlags::SAMPLED,
    );
    remote.is_remote = true;
    let start = Timestamp::from_unix_nanos(T0);
    let server = tracer
        .span_builder("POST /chat")
        .parent(&remote)
        .kind(SpanKind::Server)
        .start_time(start)
        .start();
    tracer
        .span_builder("llm_call")
        .parent(&server)
        .start_time(start)
        .start()
        .end_with_time(start.saturating_add(Duration::from_millis(300)));
    assert_eq!(tail.stats().buffered_spans, 1);
    // The server span is the local root: its end completes the trace, kept
    // for the root's 1.5 s (over the 1 s threshold).
    server.end_with_time(start.saturating_add(Duration::from_millis(1_500)));
    let s = tail.stats();
    assert_eq!((s.buffered_spans, s.traces_kept_slow), (0, 1));
    assert_eq!(forwarded_by_trace(&collect).get(&remote.trace_id), Some(&2));
}

#[test]
fn shutdown_decides_what_waits_and_refuses_later_spans() {
    let collect = Collect::default();
    let metrics = TracerMetrics::new();
    // With the background thread: shutdown stops it.
    let tail = Arc::new(
        TailSamplingProcessor::builder(Arc::new(collect.clone()))
            .config(
                TailSamplingConfig::default()
                    .with_ratio(TraceIdRatio::new(0.0).unwrap())
                    .with_sweep_interval(Some(Duration::from_millis(5))),
            )
            .metrics(&metrics)
            .build()
            .unwrap(),
    );
    let tracer = tracer(&tail);
    let root = tracer.start_trace("agent_task");
    tracer
        .span_builder("tool_call")
        .parent(&root)
        .start()
        .set_status(Status::error("boom"));
    tail.shutdown(TIMEOUT).unwrap();
    assert!(tail.shutdown(TIMEOUT).is_err());
    assert!(tail.force_flush(TIMEOUT).is_err());
    root.end();
    let s = tail.stats();
    assert_eq!(
        (s.forwarded, s.dropped_shutdown, s.buffered_spans),
        (1, 1, 0)
    );
    assert_eq!(metrics.spans_dropped("shutdown").get(), 1);
    assert_accounted(&s);
}

#[test]
fn dropping_the_processor_forwards_what_waits() {
    // Two spans of a trace whose root is still open, made by a tracer of
    // their own.
    let made = Collect::default();
    let maker = AgentStepTracer::builder()
        .without_store()
        .processor(Arc::new(made.clone()))
        .build();
    let root = maker.start_trace("agent_task");
    child_of(&maker, &root, 10);
    child_of(&maker, &root, 10);
    let children: Vec<FinishedSpan> = made.0.lock().unwrap().drain(..).collect();

    let collect = Collect::default();
    let tail = TailSamplingProcessor::builder(Arc::new(collect.clone()))
        .config(TailSamplingConfig::default().with_ratio(TraceIdRatio::new(1.0).unwrap()))
        .build()
        .unwrap();
    for span in children {
        tail.on_end(span);
    }
    assert_eq!(tail.stats().buffered_spans, 2);
    drop(tail);
    assert_eq!(collect.0.lock().unwrap().len(), 2);
    root.end();
}

// The estimate against the allocator: the bytes a span holds, counted on
// this thread by a global allocator that tracks live bytes per thread.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the counter is a
// thread-local `Cell` without destructor, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| l.set(l.get() + layout.size() as isize));
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get() - layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn owned(s: &str) -> StringValue {
    StringValue::from(s.to_owned())
}

#[test]
fn the_size_estimate_is_at_least_the_heap_a_span_holds() {
    let mut cx = SpanContext::new(
        TraceId::from_u128(7).unwrap(),
        SpanId::from_u64(9).unwrap(),
        TraceFlags::SAMPLED,
    );
    cx.trace_state = TraceState::from_key_value([("vendor", "abc"), ("other", "defgh")]).unwrap();
    let before = live();
    let mut attributes = agent_trace_core::Attributes::new();
    for i in 0..9 {
        attributes.push(KeyValue::new(
            owned(&format!("key.{i}")),
            owned(&"v".repeat(100 * i)),
        ));
    }
    attributes.push(KeyValue::new(
        owned("list"),
        Value::from(vec!["stop", "length"]),
    ));
    let span = FinishedSpan::new(SpanData {
        name: owned("llm_call"),
        context: cx.clone(),
        parent_span_id: None,
        parent_is_remote: false,
        kind: SpanKind::Client,
        start_time: Timestamp::from_unix_nanos(T0),
        end_time: Timestamp::from_unix_nanos(T0 + 5),
        attributes,
        events: vec![agent_trace_core::Event {
            name: owned("thinking_started"),
            timestamp: Timestamp::from_unix_nanos(T0 + 1),
            attributes: vec![KeyValue::new(owned("step"), owned("plan"))],
            dropped_attributes_count: 0,
        }],
        links: vec![Link {
            context: cx,
            attributes: vec![KeyValue::new(owned("why"), owned("retry of"))],
            dropped_attributes_count: 0,
        }],
        status: Status::error("rate limited"),
        dropped_attributes_count: 0,
        dropped_events_count: 0,
        dropped_links_count: 0,
        scope: None,
    });
    let held = usize::try_from(live() - before).unwrap();
    let estimate = estimate_span_bytes(&span);
    println!("held {held} bytes, estimated {estimate}");
    assert!(estimate >= held, "estimate {estimate} < held {held}");
    // And close: an upper bound that would throw most of the budget away
    // would be no use.
    assert!(
        estimate <= 2 * held,
        "estimate {estimate} > 2 x held {held}"
    );
    drop(span);
}
