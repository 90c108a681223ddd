//! Loom models of the batch worker's wake-up flag (`src/wake.rs`, the code
//! `BatchSpanProcessor::on_end` and the worker's wait run), with loom's
//! atomics and park/unpark, under every interleaving loom explores (within
//! the preemption bound a model sets; `LOOM_MAX_PREEMPTIONS` overrides it).
//!
//! The pipeline around the flag is reduced to what the handshake depends
//! on: the same lock-free queue (`crossbeam`'s `ArrayQueue`, outside loom's
//! view, so each of its operations is one indivisible step), producers that
//! push and then ask the flag whether to unpark, and a worker that waits
//! through the flag, exports full batches, and (as a failing export does)
//! waits to retry once, consuming any unpark sent meanwhile. The scheduled
//! delay never passes: a lost wake-up leaves the worker parked for ever with
//! a full batch queued, which loom reports as a deadlock.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p agent-trace-export --no-default-features --release --test loom_batch`

#![cfg(loom)]

use std::time::Duration;

use agent_trace_export::wake::WakeFlag;
use crossbeam_queue::ArrayQueue;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

struct Pipeline {
    queue: ArrayQueue<usize>,
    woken: WakeFlag,
    batch_size: usize,
}

impl Pipeline {
    fn new(batch_size: usize, spans: usize) -> Arc<Self> {
        Arc::new(Self {
            // Room for every span: a full queue drops spans, which is not
            // what is checked here.
            queue: ArrayQueue::new(spans),
            woken: WakeFlag::new(),
            batch_size,
        })
    }

    fn full_batch(&self) -> bool {
        self.queue.len() >= self.batch_size
    }

    /// `BatchSpanProcessor::on_end`'s part.
    fn on_end(&self, span: usize, worker: &thread::Thread) {
        self.queue.push(span).expect("room for every span");
        if self.woken.wake_needed(|| self.full_batch()) {
            worker.unpark();
        }
    }

    /// The worker (`Worker::run`): waits, exports full batches, and retries
    /// its first export after a wait, until it has exported `spans`.
    fn work(&self, spans: usize) {
        let mut exported = 0;
        let mut retried = false;
        while exported < spans {
            self.woken.wait(
                || self.full_batch(),
                || Some(Duration::MAX),
                |_| thread::park(),
            );
            while self.full_batch() {
                for _ in 0..self.batch_size {
                    self.queue.pop().expect("a full batch");
                }
                if !retried {
                    retried = true;
                    wait_to_retry();
                }
                exported += self.batch_size;
            }
        }
    }
}

fn model(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    // `LOOM_MAX_PREEMPTIONS`, when set, wins.
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemption_bound;
    }
    builder.check(f);
}

/// `Worker::wait_to_retry`: parks until its timeout (a thread of its own
/// that unparks the worker when it fires), consuming the unparks that
/// arrive meanwhile. (The timeout thread is not joined: loom's `unpark`
/// would wake a thread blocked in `join`, which std's does not.)
fn wait_to_retry() {
    let fired = Arc::new(AtomicBool::new(false));
    {
        let fired = fired.clone();
        let worker = thread::current();
        thread::spawn(move || {
            fired.store(true, Ordering::Release);
            worker.unpark();
        });
    }
    while !fired.load(Ordering::Acquire) {
        thread::park();
    }
}

/// One application thread ends three spans, each a full batch; the worker
/// is woken for every one, including those that end while it exports or
/// waits to retry (the lost wake-up the flag's clear-then-look-again
/// prevents: a flag set during an export whose unpark the retry consumed).
#[test]
fn every_full_batch_wakes_the_worker() {
    // Exhaustive: under a second.
    model(None, || {
        const SPANS: usize = 3;
        let pipeline = Pipeline::new(1, SPANS);
        let worker = {
            let pipeline = pipeline.clone();
            thread::spawn(move || pipeline.work(SPANS))
        };
        for span in 0..SPANS {
            pipeline.on_end(span, worker.thread());
        }
        worker.join().unwrap();
        assert!(pipeline.queue.is_empty());
    });
}

/// Two application threads end two spans each, batches of two: whichever
/// completes a batch, and whatever the other one or the worker does
/// meanwhile, the worker is woken for both batches.
#[test]
fn batches_completed_by_either_of_two_threads_wake_the_worker() {
    // Five threads: exhaustive takes hours; three preemptions, seconds.
    model(Some(3), || {
        const SPANS: usize = 4;
        let pipeline = Pipeline::new(2, SPANS);
        let worker = {
            let pipeline = pipeline.clone();
            thread::spawn(move || pipeline.work(SPANS))
        };
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let pipeline = pipeline.clone();
                let worker = worker.thread().clone();
                thread::spawn(move || {
                    for span in 0..SPANS / 2 {
                        pipeline.on_end(p * 10 + span, &worker);
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        worker.join().unwrap();
        assert!(pipeline.queue.is_empty());
    });
}
