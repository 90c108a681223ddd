//! Two `metrics` recorders as one: a process has one global recorder, and
//! an application that both serves Prometheus and pushes OTLP needs every
//! metric the `metrics` facade records (the GenAI metrics, the cost
//! counter) in both.

use std::sync::Arc;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// A [`Recorder`] that hands every description and every value to two
/// recorders: each metric registers with both, and its handle updates both
/// handles.
///
/// ```
/// use agent_trace_metrics::FanoutRecorder;
/// use metrics::{Key, Level, Metadata, Recorder};
///
/// # #[derive(Default)] struct Count(std::sync::Arc<std::sync::atomic::AtomicU64>);
/// # impl metrics::CounterFn for Count {
/// #     fn increment(&self, v: u64) { self.0.fetch_add(v, std::sync::atomic::Ordering::Relaxed); }
/// #     fn absolute(&self, v: u64) { self.0.fetch_max(v, std::sync::atomic::Ordering::Relaxed); }
/// # }
/// # struct Counting(std::sync::Arc<Count>);
/// # impl Recorder for Counting {
/// #     fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
/// #     fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
/// #     fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
/// #     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> metrics::Counter { metrics::Counter::from_arc(self.0.clone()) }
/// #     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge { metrics::Gauge::noop() }
/// #     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram { metrics::Histogram::noop() }
/// # }
/// let (a, b) = (std::sync::Arc::new(Count::default()), std::sync::Arc::new(Count::default()));
/// let both = FanoutRecorder::new(Counting(a.clone()), Counting(b.clone()));
/// let meta = Metadata::new(module_path!(), Level::INFO, None);
/// both.register_counter(&Key::from_name("agent_trace_cost"), &meta).increment(3);
/// let read = |c: &Count| c.0.load(std::sync::atomic::Ordering::Relaxed);
/// assert_eq!((read(&a), read(&b)), (3, 3));
/// ```
#[derive(Debug)]
pub struct FanoutRecorder<A, B> {
    first: A,
    second: B,
}

impl<A: Recorder, B: Recorder> FanoutRecorder<A, B> {
    /// Both recorders as one.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

struct Both<T>(T, T);

impl CounterFn for Both<Counter> {
    fn increment(&self, value: u64) {
        self.0.increment(value);
        self.1.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.0.absolute(value);
        self.1.absolute(value);
    }
}

impl GaugeFn for Both<Gauge> {
    fn increment(&self, value: f64) {
        self.0.increment(value);
        self.1.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.0.decrement(value);
        self.1.decrement(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
        self.1.set(value);
    }
}

impl HistogramFn for Both<Histogram> {
    fn record(&self, value: f64) {
        self.0.record(value);
        self.1.record(value);
    }
}

impl<A: Recorder, B: Recorder> Recorder for FanoutRecorder<A, B> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.first
            .describe_counter(key.clone(), unit, description.clone());
        self.second.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.first
            .describe_gauge(key.clone(), unit, description.clone());
        self.second.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.first
            .describe_histogram(key.clone(), unit, description.clone());
        self.second.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Both(
            self.first.register_counter(key, metadata),
            self.second.register_counter(key, metadata),
        )))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Both(
            self.first.register_gauge(key, metadata),
            self.second.register_gauge(key, metadata),
        )))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Both(
            self.first.register_histogram(key, metadata),
            self.second.register_histogram(key, metadata),
        )))
    }
}
