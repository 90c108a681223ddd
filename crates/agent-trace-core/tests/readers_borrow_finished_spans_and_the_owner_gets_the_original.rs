//! Processors that only read finished spans get a borrow, before the
//! owning processors, and cost no copy: the owning processors receive the
//! very allocation the span lived in, shared.

use std::sync::{Arc, Mutex};

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanData, SpanProcessor};

type Log = Arc<Mutex<Vec<String>>>;

fn addr(span: &SpanData) -> usize {
    std::ptr::from_ref(span).addr()
}

#[derive(Debug)]
struct Reader(&'static str, Log);

impl SpanProcessor for Reader {
    fn reads_only(&self) -> bool {
        true
    }
    fn on_end_borrowed(&self, span: &SpanData) {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} read {}", self.0, span.name));
    }
    fn on_end(&self, _span: FinishedSpan) {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} was handed a copy", self.0));
    }
}

#[derive(Debug)]
struct Owner(&'static str, Log, Mutex<Vec<(usize, usize)>>);

impl SpanProcessor for Owner {
    fn on_start(&self, span: &SpanData) {
        self.2.lock().unwrap().push((addr(span), 0));
    }
    fn on_end(&self, span: FinishedSpan) {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} owns {}", self.0, span.name));
        self.2.lock().unwrap().last_mut().unwrap().1 = addr(&span);
    }
}

#[test]
fn readers_come_first_with_a_borrow_and_a_single_owner_gets_the_original() {
    let log = Log::default();
    let owner = Arc::new(Owner("owner", log.clone(), Mutex::default()));
    let tracer = AgentStepTracer::builder()
        .processor(owner.clone())
        .processor(Arc::new(Reader("first reader", log.clone())))
        .processor(Arc::new(Reader("second reader", log.clone())))
        .without_store()
        .build();
    drop(tracer.start_trace("step"));

    assert_eq!(
        *log.lock().unwrap(),
        [
            "first reader read step",
            "second reader read step",
            "owner owns step"
        ]
    );
    let (started_at, ended_at) = owner.2.lock().unwrap()[0];
    assert_eq!(
        started_at, ended_at,
        "the owner got a copy, not the original"
    );
}

#[test]
fn several_owners_each_get_the_span_and_readers_still_only_borrow() {
    let log = Log::default();
    let tracer = AgentStepTracer::builder()
        .processor(Arc::new(Reader("reader", log.clone())))
        .processor(Arc::new(Owner("a", log.clone(), Mutex::default())))
        .processor(Arc::new(Owner("b", log.clone(), Mutex::default())))
        .without_store()
        .build();
    drop(tracer.start_trace("step"));
    assert_eq!(
        *log.lock().unwrap(),
        ["reader read step", "a owns step", "b owns step"]
    );
}

/// Keeps what it is handed.
#[derive(Debug, Default)]
struct Keeper(Mutex<Vec<FinishedSpan>>);

impl SpanProcessor for Keeper {
    fn on_end(&self, span: FinishedSpan) {
        self.0.lock().unwrap().push(span);
    }
}

/// Two owners (an exporter's queue and a store, say) share one allocation,
/// the one the span lived in: no copy. Each sees the same data, and either
/// may be dropped first; `into_data` copies only while the span is shared.
#[test]
fn several_owners_share_the_original_allocation() {
    let first = Arc::new(Keeper::default());
    let second = Arc::new(Keeper::default());
    let started = Arc::new(Owner("start", Log::default(), Mutex::default()));
    let tracer = AgentStepTracer::builder()
        .processor(started.clone())
        .processor(first.clone())
        .processor(second.clone())
        .without_store()
        .build();
    for n in 0..3 {
        let mut span = tracer.start_trace("step");
        span.set_attribute("n", n);
        span.end();
    }
    let a = std::mem::take(&mut *first.0.lock().unwrap());
    let b = std::mem::take(&mut *second.0.lock().unwrap());
    let at_start: Vec<usize> = started.2.lock().unwrap().iter().map(|(s, _)| *s).collect();
    assert_eq!((a.len(), b.len()), (3, 3));
    for ((x, y), start) in a.iter().zip(&b).zip(&at_start) {
        assert!(x.shares_data_with(y), "one allocation, shared");
        assert_eq!(addr(x), *start, "the allocation the span lived in");
        assert_eq!(x, y);
    }
    let mut a = a.into_iter();
    let mut b = b.into_iter();
    // Shared: a copy comes out, and the other holder keeps its data.
    let (x, y) = (a.next().unwrap(), b.next().unwrap());
    let copied = x.into_data();
    assert_eq!(copied.attribute("n"), y.attribute("n"));
    assert_eq!(addr(&y), at_start[0]);
    // Alone: the data moves out.
    assert_eq!(y.into_data().attribute("n"), copied.attribute("n"));
    // Dropped in either order.
    drop(b);
    drop(a);
}
