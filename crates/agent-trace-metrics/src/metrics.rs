//! [`LatencyMetrics`]: the registry of series, recording and queries.
//!
//! # Layout, and why
//!
//! Operations live in a map split into [`SHARDS`] read-write-locked shards
//! by a hash of the name, so recording into different operations rarely
//! touches the same lock, and recording into an existing operation only
//! takes a shard's *read* lock. Each operation has its unlabelled series
//! behind a `OnceLock` (no map look-up at all) and its labelled series in a
//! read-write-locked map keyed by a hash of the sorted label pairs, so a
//! look-up borrows the caller's labels instead of building an owned key.
//! Each series takes values through striped live slots (see the `series`
//! module), so threads that record into the same series do not serialise
//! on one lock either. A [`SeriesHandle`] skips every look-up and is the
//! fast path.
//!
//! # The per-thread operation cache
//!
//! Recording by name first looks in a small per-thread cache of the
//! operations this thread recorded into last ([`CACHED_OPERATIONS`]
//! entries, keyed by the registry's unique id and the name): a hit
//! compares the id, the length and a few bytes and takes no lock at all,
//! where the shard map costs a hash of the name and two atomic
//! read-modify-writes on the shard's read lock. A miss goes to the map and
//! replaces the oldest entry. An entry keeps its operation alive until
//! replaced or until the thread exits (at most [`CACHED_OPERATIONS`] per
//! thread); registry ids are never reused, so an entry of a dropped
//! registry never matches another.
//!
//! # Static names
//!
//! A name that lives as long as the process (a `tracing` callsite's span
//! name, a span named by a literal) has its unlabelled series' handle kept
//! in the registry itself ([`LatencyMetrics::record_static_with_exemplar`]):
//! an open-addressed table keyed by the string's address and length, whose
//! slots are filled once and never change, so a hit is an atomic load and
//! two comparisons, with no lock and no text compared (about 100
//! instructions fewer than the per-thread cache per `#[instrument]` call,
//! perf gate workload `instrument_call`). This is the one cache from a
//! span name to its series handle in the workspace: the `tracing` layer
//! and the latency processor of `agent-trace` both record through it.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use crate::clock::{self, Clock, SystemClock, TickerLease};
use crate::exemplar::{Exemplar, ExemplarIds, ExemplarSet, nearest_at_or_above};
use crate::history::{Tier, check_tiers};
use crate::prometheus::{Bridge, Publish, register_publisher};
use crate::series::{Series, SeriesConfig};
use crate::sketch::Sketch;
use crate::threshold::{Statistic, Threshold, ThresholdEvent, ThresholdState, Violation};
use crate::{IntoWindow, MetricsError, Quantile, Window};

/// How many shards the operation map has: a power of two comfortably above
/// the core counts this runs on, so that two hot operations rarely share a
/// shard lock.
const SHARDS: usize = 16;

/// How many operations each thread remembers for [`LatencyMetrics::record`].
const CACHED_OPERATIONS: usize = 8;

/// How many static names [`StaticNames`] keeps a handle for: a power of
/// two. Names beyond it are recorded by name, which is right and about 100
/// instructions slower.
const STATIC_SLOTS: usize = 256;

/// How many slots a static name's handle may be looked for in, from the one
/// its address hashes to.
const STATIC_PROBES: usize = 8;

/// Where the next [`LatencyMetrics`] id comes from.
static NEXT_REGISTRY_ID: AtomicU64 = AtomicU64::new(1);

/// A thread's most recently used operations (see the module docs).
#[derive(Default)]
struct OperationCache {
    entries: [Option<(u64, Arc<Operation>)>; CACHED_OPERATIONS],
    next: usize,
}

impl OperationCache {
    #[inline]
    fn get(&self, registry: u64, name: &str) -> Option<&Arc<Operation>> {
        self.entries.iter().find_map(|e| match e {
            Some((id, op)) if *id == registry && *op.name == *name => Some(op),
            _ => None,
        })
    }

    fn put(&mut self, registry: u64, op: Arc<Operation>) {
        self.entries[self.next] = Some((registry, op));
        self.next = (self.next + 1) % CACHED_OPERATIONS;
    }
}

thread_local! {
    static OPERATIONS: std::cell::RefCell<OperationCache> = std::cell::RefCell::default();
}

/// The handles of the unlabelled series of names that live as long as the
/// process (see the module docs).
///
/// A slot is filled by `OnceLock::set` with a handle made beforehand, so
/// making it (which takes the shard lock and may call a `metrics`
/// recorder) never runs while a slot is being initialised. The handles
/// hold the registry's shared settings, not the registry: no cycle.
struct StaticNames {
    /// `(address, length, handle)` of each name.
    slots: Box<[OnceLock<(usize, usize, SeriesHandle)>]>,
}

impl StaticNames {
    fn new() -> Self {
        Self {
            slots: (0..STATIC_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// The label set of the series that takes the values of label sets beyond
/// [`LatencyMetricsBuilder::max_series_per_operation`]. Query it like any
/// other label set; recording with it explicitly also lands there.
pub const OVERFLOW_LABELS: &[(&str, &str)] = &[("series", "other")];

/// A latency in seconds, from an `f64` of seconds or a [`Duration`].
///
/// Whether it is finite and non-negative is checked by `record`, which
/// counts and refuses it otherwise.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Latency(f64);

impl Latency {
    /// The latency in seconds, as given.
    pub fn as_secs_f64(self) -> f64 {
        self.0
    }
}

impl From<f64> for Latency {
    fn from(seconds: f64) -> Self {
        Self(seconds)
    }
}

impl From<Duration> for Latency {
    fn from(d: Duration) -> Self {
        Self(d.as_secs_f64())
    }
}

/// Median, 95th and 99th percentile of an operation, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// How many values they were computed from.
    pub count: u64,
}

/// p50, p95 and p99 of an operation, each with the exemplar that best
/// illustrates it: the recorded value nearest to the percentile at or above
/// it (within the relative accuracy), with its trace id; see
/// [`LatencyMetrics::percentiles_with_exemplars`].
///
/// Its `Display` reads `p50 = 1.2 s (e.g. trace 4bf9...), p95 = ...`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentilesWithExemplars {
    /// The percentiles themselves, as [`LatencyMetrics::percentiles`]
    /// answers them.
    pub percentiles: Percentiles,
    /// An exemplar for the median; `None` when no value of the window came
    /// with a trace id.
    pub p50: Option<Exemplar>,
    /// An exemplar for the 95th percentile.
    pub p95: Option<Exemplar>,
    /// An exemplar for the 99th percentile.
    pub p99: Option<Exemplar>,
}

impl fmt::Display for PercentilesWithExemplars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.percentiles;
        for (i, (name, value, e)) in [
            ("p50", p.p50, self.p50),
            ("p95", p.p95, self.p95),
            ("p99", p.p99, self.p99),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} = {value:.3} s")?;
            if let Some(e) = e {
                write!(f, " (e.g. trace {}, {:.3} s)", e.trace_id_hex(), e.value())?;
            }
        }
        Ok(())
    }
}

/// Exact summary statistics of an operation, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// How many values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Their arithmetic mean.
    pub mean: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The *population* standard deviation (divided by `count`, not
    /// `count - 1`).
    pub std: f64,
}

/// How period 1 compares with period 2: each `*_change` is the relative
/// change `(period1 - period2) / period2` (so `0.1` is 10% slower in period
/// 1). A change from `0` is `0.0` if both are `0`, `+inf` otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Relative change of the median.
    pub p50_change: f64,
    /// Relative change of the 95th percentile.
    pub p95_change: f64,
    /// Relative change of the 99th percentile.
    pub p99_change: f64,
    /// Relative change of the mean.
    pub mean_change: f64,
    /// Values in period 1.
    pub count1: u64,
    /// Values in period 2.
    pub count2: u64,
}

type Callback = Arc<dyn Fn(&ThresholdEvent) + Send + Sync>;

/// One shard of the operation map.
type Shard = RwLock<HashMap<String, Arc<Operation>, NameState>>;

/// Settings shared by the registry and every [`SeriesHandle`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SeriesConfig,
    /// `None` for the default clock, the system clock read as the ticker's
    /// last tick, inline (one atomic load) rather than through a virtual
    /// call: the call, and finding the clock inside its `Arc`, were about
    /// 15 instructions of a handle `record` (callgrind, `benches/latency.rs`
    /// workload `record`).
    clock: Option<Arc<dyn Clock>>,
    /// With the default clock, the claim that keeps the ticker running
    /// while this registry or one of its handles lives (see the `clock`
    /// module).
    _ticker: Option<TickerLease>,
}

impl Shared {
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.clock {
            None => clock::system_now(),
            Some(clock) => clock.now_nanos(),
        }
    }

    /// The time if it can be had with one load: the system clock, once it
    /// ticks.
    #[inline]
    fn ticked_now(&self) -> Option<u64> {
        match self.clock {
            None => clock::ticked(),
            Some(_) => None,
        }
    }
}

/// A series and its handle in the `metrics` facade, registered once when
/// the series is created (see the `prometheus` module for why).
#[derive(Debug)]
struct Tracked {
    series: Series,
    bridge: Bridge,
}

impl Tracked {
    /// A new series, registered with the `metrics` recorder in force and,
    /// when bridged, with [`publish`](crate::publish).
    fn new(shared: &Shared, operation: &str, labels: &[(&str, &str)]) -> Arc<Self> {
        let tracked = Arc::new(Self {
            series: Series::new(&shared.config),
            bridge: Bridge::register(shared.config.bridged, operation, labels),
        });
        if tracked.bridge.is_enabled() {
            let weak: Weak<dyn Publish> = Arc::downgrade(&tracked) as Weak<dyn Publish>;
            register_publisher(weak);
        }
        tracked
    }

    /// Records with an exemplar when the trace id is not zero.
    #[inline]
    fn record_traced(&self, x: f64, ids: ExemplarIds, now: u64, config: &SeriesConfig) {
        match Exemplar::new(x, ids, now) {
            Some(e) => self.series.record_with_exemplar(x, e, now, config),
            None => self.series.record(x, now, config),
        }
    }
}

impl Publish for Tracked {
    fn publish(&self) {
        let (pending, exemplars) = self.series.take_pending();
        if !pending.is_empty() {
            self.bridge.publish(&pending, exemplars.as_ref());
        }
    }
}

impl Drop for Tracked {
    /// Values recorded since the last publication still reach the facade.
    fn drop(&mut self) {
        self.publish();
    }
}

impl std::ops::Deref for Tracked {
    type Target = Series;

    fn deref(&self) -> &Series {
        &self.series
    }
}

type LabelSet = Box<[(String, String)]>;

/// How many labels are put in canonical order on the stack; longer label
/// lists are copied to the heap first.
const INLINE_LABELS: usize = 8;

/// Calls `f` with `labels` sorted by key, of repeated keys the last value
/// winning, without allocating for up to [`INLINE_LABELS`] labels.
fn with_canonical<'a, R>(
    labels: &[(&'a str, &'a str)],
    f: impl FnOnce(&[(&'a str, &'a str)]) -> R,
) -> R {
    if labels.len() <= INLINE_LABELS {
        let mut buf = [("", ""); INLINE_LABELS];
        let mut n = 0;
        for &(k, v) in labels {
            match buf[..n].iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => {
                    buf[n] = (k, v);
                    n += 1;
                }
            }
        }
        // Keys are unique now, so this orders by key.
        buf[..n].sort_unstable();
        f(&buf[..n])
    } else {
        let mut owned: Vec<(&'a str, &'a str)> = Vec::with_capacity(labels.len());
        for &(k, v) in labels {
            match owned.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => owned.push((k, v)),
            }
        }
        owned.sort_unstable();
        f(&owned)
    }
}

/// The labelled series of one operation, found by a hash of the canonical
/// label pairs, so that a look-up needs no owned key (and no allocation).
#[derive(Debug, Default)]
struct LabelMap {
    /// Seeded at random per map: label values may come from outside.
    hasher: foldhash::fast::RandomState,
    by_hash: HashMap<u64, Vec<(LabelSet, Arc<Tracked>)>, foldhash::fast::FixedState>,
    len: usize,
}

impl LabelMap {
    fn get(&self, canonical: &[(&str, &str)]) -> Option<&Arc<Tracked>> {
        let same = |set: &LabelSet| {
            set.len() == canonical.len()
                && set
                    .iter()
                    .zip(canonical)
                    .all(|((k, v), (ck, cv))| k == ck && v == cv)
        };
        self.by_hash
            .get(&self.hasher.hash_one(canonical))?
            .iter()
            .find(|(set, _)| same(set))
            .map(|(_, s)| s)
    }

    fn insert(&mut self, canonical: &[(&str, &str)], series: Arc<Tracked>) {
        let set: LabelSet = canonical
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let hash = self.hasher.hash_one(canonical);
        self.by_hash.entry(hash).or_default().push((set, series));
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &(LabelSet, Arc<Tracked>)> {
        self.by_hash.values().flatten()
    }
}

#[derive(Debug)]
struct Operation {
    name: Box<str>,
    unlabelled: OnceLock<Arc<Tracked>>,
    labelled: RwLock<LabelMap>,
    rejected: AtomicU64,
    overflowed: AtomicU64,
}

impl Operation {
    fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            unlabelled: OnceLock::new(),
            labelled: RwLock::default(),
            rejected: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    fn all_series(&self) -> Vec<Arc<Tracked>> {
        let mut all: Vec<Arc<Tracked>> = self.unlabelled.get().into_iter().cloned().collect();
        all.extend(read(&self.labelled).iter().map(|(_, s)| s.clone()));
        all
    }

    fn series(&self, labels: &[(&str, &str)]) -> Option<Arc<Tracked>> {
        if labels.is_empty() {
            self.unlabelled.get().cloned()
        } else {
            with_canonical(labels, |c| read(&self.labelled).get(c).cloned())
        }
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[inline]
fn check(latency: Latency) -> Result<f64, MetricsError> {
    let x = latency.0;
    // The finite non-negative floats are exactly the bit patterns below
    // +inf's (sign bit clear, exponent field not all ones): one integer
    // compare, where the range check on floats compiled to about fifteen
    // instructions. Everything else (negatives, NaN, infinities, and
    // `-0.0`, whose sign bit is set) takes the cold path.
    if x.to_bits() < f64::INFINITY.to_bits() {
        Ok(x)
    } else {
        check_slow(x)
    }
}

/// [`check`] of a value outside the fast range: `-0.0` is zero, the rest
/// is refused.
#[cold]
#[inline(never)]
fn check_slow(x: f64) -> Result<f64, MetricsError> {
    if x == 0.0 {
        Ok(0.0)
    } else {
        Err(MetricsError::InvalidLatency {
            value: x.to_string(),
        })
    }
}

/// The operation map's hasher: `foldhash` with a fixed seed. Operation
/// names are short and chosen by the application (span names, step names),
/// so a fast unkeyed hash is the right trade; SipHash cost about 120
/// instructions per record by name. Label values, which may come from
/// outside, keep the keyed hasher of [`LabelMap`].
type NameState = foldhash::fast::FixedState;

fn relative_change(new: f64, old: f64) -> f64 {
    if old == 0.0 {
        if new == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        (new - old) / old
    }
}

/// Per-operation latency percentiles and statistics over trailing windows,
/// with thresholds.
///
/// Values are seconds. Each operation has an unlabelled series and any
/// number (up to a cap) of labelled series; operation-level queries sum all
/// of them. See the [crate documentation](crate) for accuracy and memory.
///
/// ```
/// use agent_trace_metrics::LatencyMetrics;
///
/// let metrics = LatencyMetrics::new();
/// metrics.record("llm_inference", 1.2)?;
/// metrics.record_labelled("tool_call", &[("tool", "web_search")], 0.3)?;
/// let p = metrics.percentiles("llm_inference").unwrap();
/// assert!((p.p50 - 1.2).abs() <= 0.012);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LatencyMetrics {
    /// Unique per registry in the process, for the operation cache.
    id: u64,
    shared: Arc<Shared>,
    shards: Box<[Shard]>,
    max_series: usize,
    thresholds: Mutex<HashMap<String, ThresholdState>>,
    callback: Option<Callback>,
    statics: StaticNames,
}

impl fmt::Debug for LatencyMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyMetrics")
            .field("relative_accuracy", &self.relative_accuracy())
            .field("operations", &self.operations().len())
            .field("max_series_per_operation", &self.max_series)
            .finish_non_exhaustive()
    }
}

impl Default for LatencyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyMetrics {
    /// A registry with the defaults: 1% relative accuracy, the default
    /// [`Tier`]s (seven days), the system clock, 1,000 series per operation.
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(m) => m,
            // The defaults are checked by a unit test.
            Err(e) => unreachable!("default configuration rejected: {e}"),
        }
    }

    /// A builder to change accuracy, retention, clock and limits.
    pub fn builder() -> LatencyMetricsBuilder {
        LatencyMetricsBuilder::default()
    }

    /// The relative accuracy every quantile is answered with.
    pub fn relative_accuracy(&self) -> f64 {
        self.shared.config.mapping.relative_accuracy()
    }

    fn shard(&self, op: &str) -> &Shard {
        // FNV-1a: a few cycles for short names, and only picks a shard.
        let mut h: u32 = 0x811c_9dc5;
        for b in op.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        &self.shards[h as usize % SHARDS]
    }

    fn operation(&self, op: &str) -> Option<Arc<Operation>> {
        read(self.shard(op)).get(op).cloned()
    }

    fn operation_or_insert(&self, op: &str) -> Arc<Operation> {
        let shard = self.shard(op);
        if let Some(o) = read(shard).get(op) {
            return o.clone();
        }
        write(shard)
            .entry(op.to_owned())
            .or_insert_with(|| Arc::new(Operation::new(op)))
            .clone()
    }

    fn series_or_insert(&self, operation: &Operation, labels: &[(&str, &str)]) -> Arc<Tracked> {
        let shared = &*self.shared;
        if labels.is_empty() {
            return operation
                .unlabelled
                .get_or_init(|| Tracked::new(shared, &operation.name, &[]))
                .clone();
        }
        with_canonical(labels, |key| {
            if let Some(s) = read(&operation.labelled).get(key) {
                return s.clone();
            }
            let mut map = write(&operation.labelled);
            if let Some(s) = map.get(key) {
                return s.clone();
            }
            let used = map.len - usize::from(map.get(OVERFLOW_LABELS).is_some());
            let key = if key != OVERFLOW_LABELS && used >= self.max_series {
                operation.overflowed.fetch_add(1, Ordering::Relaxed);
                if let Some(s) = map.get(OVERFLOW_LABELS) {
                    return s.clone();
                }
                OVERFLOW_LABELS
            } else {
                key
            };
            let series = Tracked::new(shared, &operation.name, key);
            map.insert(key, series.clone());
            series
        })
    }

    /// Records one latency of `operation`.
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidLatency`] for NaN, infinite or negative
    /// values; they are counted in [`rejected`](Self::rejected) and do not
    /// touch the statistics.
    ///
    /// # Performance
    ///
    /// Finds the operation in a per-thread cache of recently used ones
    /// (no lock; the shard map's read lock on a miss), then takes one
    /// uncontended stripe lock; no allocation once the operation exists.
    /// Hold a [`SeriesHandle`] to skip the look-up altogether.
    pub fn record(&self, operation: &str, latency: impl Into<Latency>) -> Result<(), MetricsError> {
        self.record_labelled(operation, &[], latency)
    }

    /// Records one latency of `operation` in the series of `labels` (order
    /// does not matter; of repeated keys the last wins).
    ///
    /// A label set beyond [`max_series_per_operation`] goes to the
    /// [`OVERFLOW_LABELS`] series and is counted in
    /// [`overflowed`](Self::overflowed).
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    ///
    /// # Performance
    ///
    /// Sorts the labels on the stack and finds the series by their hash:
    /// no allocation for up to eight labels once the series exists. A
    /// [`SeriesHandle`] skips the look-up altogether.
    ///
    /// [`max_series_per_operation`]: LatencyMetricsBuilder::max_series_per_operation
    pub fn record_labelled(
        &self,
        operation: &str,
        labels: &[(&str, &str)],
        latency: impl Into<Latency>,
    ) -> Result<(), MetricsError> {
        self.record_by_name(operation, labels, latency.into(), ExemplarIds::default())
    }

    /// Records one latency of `operation` with the id of the trace it was
    /// measured in, kept as an [`Exemplar`] so that percentiles can point
    /// at a real trace ([`percentiles_with_exemplars`]) and the OpenMetrics
    /// exposition carries it on the histogram bucket of the value.
    ///
    /// `trace_id` is the W3C trace id as a big-endian number (what
    /// `TraceId::to_u128` gives); a zero id names no trace, and the value
    /// is then recorded without an exemplar. Each series keeps a bounded
    /// number of exemplars per time slot (see the `exemplar` module docs):
    /// the newest of each Prometheus bucket range and the largest.
    ///
    /// ```
    /// use agent_trace_metrics::LatencyMetrics;
    ///
    /// let metrics = LatencyMetrics::new();
    /// for (i, secs) in [0.8, 1.1, 0.9, 4.2].into_iter().enumerate() {
    ///     metrics.record_with_exemplar("llm_call", secs, 0x4bf9_0000 + i as u128)?;
    /// }
    /// let p = metrics.percentiles_with_exemplars("llm_call").unwrap();
    /// assert_eq!(p.p99.unwrap().trace_id(), 0x4bf9_0003);
    /// println!("{p}"); // p50 = 0.9.. s (e.g. trace 00..4bf90002, 0.900 s), ...
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    ///
    /// # Performance
    ///
    /// As [`record`](Self::record), plus a few stores into fixed-size
    /// arrays (allocated once per live stripe); `record` itself does none
    /// of this.
    ///
    /// [`percentiles_with_exemplars`]: Self::percentiles_with_exemplars
    pub fn record_with_exemplar(
        &self,
        operation: &str,
        latency: impl Into<Latency>,
        exemplar: impl Into<ExemplarIds>,
    ) -> Result<(), MetricsError> {
        self.record_by_name(operation, &[], latency.into(), exemplar.into())
    }

    /// [`record_with_exemplar`](Self::record_with_exemplar) into the series
    /// of `labels`, as [`record_labelled`](Self::record_labelled).
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    pub fn record_labelled_with_exemplar(
        &self,
        operation: &str,
        labels: &[(&str, &str)],
        latency: impl Into<Latency>,
        exemplar: impl Into<ExemplarIds>,
    ) -> Result<(), MetricsError> {
        self.record_by_name(operation, labels, latency.into(), exemplar.into())
    }

    /// [`record_with_exemplar`](Self::record_with_exemplar) of an
    /// operation named by a string that lives as long as the process, such
    /// as a `tracing` callsite's span name: the registry keeps a handle of
    /// its series by the string's address, so the look-up compares no text
    /// and takes no lock (see the module docs). A `trace_id` of 0 records
    /// no exemplar.
    ///
    /// ```
    /// use agent_trace_metrics::LatencyMetrics;
    ///
    /// let metrics = LatencyMetrics::new();
    /// metrics.record_static_with_exemplar("tool_call", 0.3, 0)?;
    /// metrics.record("tool_call", 0.5)?;
    /// assert_eq!(metrics.stats("tool_call", None).unwrap().count, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    ///
    /// # Performance
    ///
    /// A hit is an atomic load and two comparisons, then the handle's
    /// record. The table keeps 256 names; the names of a busy region of it
    /// are recorded by name, as [`record_with_exemplar`] does.
    ///
    /// [`record_with_exemplar`]: Self::record_with_exemplar
    #[inline]
    pub fn record_static_with_exemplar(
        &self,
        operation: &'static str,
        latency: impl Into<Latency>,
        exemplar: impl Into<ExemplarIds>,
    ) -> Result<(), MetricsError> {
        let exemplar = exemplar.into();
        match self.static_series(operation) {
            Some(handle) => handle.record_with_exemplar(latency, exemplar),
            None => self.record_by_name(operation, &[], latency.into(), exemplar),
        }
    }

    /// The handle of `operation`'s unlabelled series in the table of static
    /// names, made on first use; `None` when the table is full around it.
    #[inline]
    fn static_series(&self, operation: &'static str) -> Option<&SeriesHandle> {
        let key = operation.as_ptr() as usize;
        // Fibonacci hashing: the top bits of the product spread addresses
        // that differ only in their low bits.
        let home = (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - STATIC_SLOTS.ilog2());
        for probe in 0..STATIC_PROBES {
            let slot = &self.statics.slots[(home as usize + probe) % STATIC_SLOTS];
            let (address, len, handle) = match slot.get() {
                Some(entry) => entry,
                None => self.fill_static(slot, operation)?,
            };
            if *address == key && *len == operation.len() {
                return Some(handle);
            }
        }
        None
    }

    /// Fills an empty slot of the table of static names with `operation`'s
    /// handle; what the slot holds then.
    #[cold]
    #[inline(never)]
    fn fill_static<'a>(
        &self,
        slot: &'a OnceLock<(usize, usize, SeriesHandle)>,
        operation: &'static str,
    ) -> Option<&'a (usize, usize, SeriesHandle)> {
        let handle = self.series(operation, &[]);
        // A lost race leaves another name's (or the same name's) handle in
        // the slot: both are fine.
        let _ = slot.set((operation.as_ptr() as usize, operation.len(), handle));
        slot.get()
    }

    /// The by-name recording path; a trace id of 0 records no exemplar.
    #[inline]
    fn record_by_name(
        &self,
        operation: &str,
        labels: &[(&str, &str)],
        latency: Latency,
        exemplar: ExemplarIds,
    ) -> Result<(), MetricsError> {
        // Fast path: this thread recorded into the operation lately.
        let cached = OPERATIONS.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            let op = cache.get(self.id, operation)?;
            Some(self.record_into(op, labels, latency, exemplar))
        });
        if let Ok(Some(result)) = cached {
            return result;
        }
        let op = self.operation_or_insert(operation);
        // A thread being torn down, or a re-entrant call from a recorder,
        // just skips the cache.
        let _ = OPERATIONS.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                cache.put(self.id, op.clone());
            }
        });
        self.record_into(&op, labels, latency, exemplar)
    }

    fn record_into(
        &self,
        op: &Operation,
        labels: &[(&str, &str)],
        latency: Latency,
        exemplar: ExemplarIds,
    ) -> Result<(), MetricsError> {
        let x = match check(latency) {
            Ok(x) => x,
            Err(e) => {
                op.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let (config, now) = (&self.shared.config, self.shared.now());
        if labels.is_empty() {
            if let Some(series) = op.unlabelled.get() {
                series.record_traced(x, exemplar, now, config);
                return Ok(());
            }
        } else if with_canonical(labels, |c| {
            read(&op.labelled)
                .get(c)
                .map(|series| series.record_traced(x, exemplar, now, config))
                .is_some()
        }) {
            return Ok(());
        }
        self.series_or_insert(op, labels)
            .record_traced(x, exemplar, now, config);
        Ok(())
    }

    /// A handle on one series, to record without any look-up.
    ///
    /// Creates the series if needed (subject to the series cap, like
    /// [`record_labelled`](Self::record_labelled); the handle of an
    /// overflowing label set records into the overflow series).
    pub fn series(&self, operation: &str, labels: &[(&str, &str)]) -> SeriesHandle {
        let op = self.operation_or_insert(operation);
        let series = self.series_or_insert(&op, labels);
        SeriesHandle {
            shared: self.shared.clone(),
            operation: op,
            series,
        }
    }

    /// Merges the series of `operation` (only those of `labels` when given)
    /// over `window`; `None` if nothing was recorded there.
    fn merged(
        &self,
        operation: &str,
        labels: Option<&[(&str, &str)]>,
        window: Option<Window>,
    ) -> Option<Sketch> {
        self.merged_with_exemplars(operation, labels, window, None)
    }

    /// As [`merged`](Self::merged), also appending the exemplars of the
    /// covered slots to `exemplars`.
    fn merged_with_exemplars(
        &self,
        operation: &str,
        labels: Option<&[(&str, &str)]>,
        window: Option<Window>,
        mut exemplars: Option<&mut Vec<Exemplar>>,
    ) -> Option<Sketch> {
        let op = self.operation(operation)?;
        let series = match labels {
            None => op.all_series(),
            Some(l) => vec![op.series(l)?],
        };
        let now = self.shared.now();
        let since = window.map(|w| now.saturating_sub(w.as_nanos()));
        let mut acc = Sketch::default();
        for s in series {
            s.collect_into(
                &mut acc,
                exemplars.as_deref_mut(),
                since,
                now,
                &self.shared.config,
            );
        }
        (!acc.is_empty()).then_some(acc)
    }

    fn percentiles_of(&self, sketch: &Sketch) -> Option<Percentiles> {
        let m = &self.shared.config.mapping;
        Some(Percentiles {
            p50: sketch.quantile(Quantile::P50, m)?,
            p95: sketch.quantile(Quantile::P95, m)?,
            p99: sketch.quantile(Quantile::P99, m)?,
            count: sketch.count(),
        })
    }

    /// p50, p95 and p99 of `operation` over all retained history, summed
    /// over its series; `None` for an unknown operation or no values.
    pub fn percentiles(&self, operation: &str) -> Option<Percentiles> {
        self.percentiles_of(&self.merged(operation, None, None)?)
    }

    /// p50, p95 and p99 of `operation` over all retained history, as
    /// [`percentiles`](Self::percentiles), each with the exemplar nearest
    /// to it at or above it: of the exemplars kept in the slots (see
    /// [`record_with_exemplar`](Self::record_with_exemplar)), the smallest
    /// whose value is at least the percentile less the relative accuracy
    /// (the sketch's answer may exceed the exact value by that much), the
    /// newest of equals. When no exemplar is that large (the slowest values
    /// came without trace ids), the largest one below. `None` for an
    /// unknown operation or no values.
    ///
    /// ```
    /// use agent_trace_metrics::LatencyMetrics;
    ///
    /// let metrics = LatencyMetrics::new();
    /// for i in 1..=100u32 {
    ///     metrics.record_with_exemplar("tool_call", f64::from(i) / 10.0, u128::from(i))?;
    /// }
    /// let p = metrics.percentiles_with_exemplars("tool_call").unwrap();
    /// let e = p.p99.unwrap();
    /// assert!(e.value() >= p.percentiles.p99 * 0.99);
    /// println!("p99 = {:.1} s, e.g. trace {}", p.percentiles.p99, e.trace_id_hex());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Performance
    ///
    /// As [`percentiles`](Self::percentiles), plus a pass over the
    /// exemplars of every slot (at most 14 per slot).
    pub fn percentiles_with_exemplars(&self, operation: &str) -> Option<PercentilesWithExemplars> {
        let mut exemplars = Vec::new();
        let sketch = self.merged_with_exemplars(operation, None, None, Some(&mut exemplars))?;
        let percentiles = self.percentiles_of(&sketch)?;
        let a = self.relative_accuracy();
        Some(PercentilesWithExemplars {
            percentiles,
            p50: nearest_at_or_above(&exemplars, percentiles.p50, a),
            p95: nearest_at_or_above(&exemplars, percentiles.p95, a),
            p99: nearest_at_or_above(&exemplars, percentiles.p99, a),
        })
    }

    /// The exemplars of `operation` over `window` (`None` for all retained
    /// history), summed over its series: the newest of each Prometheus
    /// bucket range ([`DURATION_BUCKETS`](crate::DURATION_BUCKETS)) and the
    /// largest, sorted by value. Empty for an unknown operation or when no
    /// value there came with a trace id.
    ///
    /// The window is any [`IntoWindow`] form: given as text (`"1h"`) or a
    /// [`Duration`], the answer is a `Result`.
    ///
    /// # Errors
    ///
    /// For a window given as text or a [`Duration`] only:
    /// [`MetricsError::InvalidWindow`] or [`MetricsError::WindowOutOfRange`]
    /// when it is not a valid window.
    pub fn exemplars<W: IntoWindow>(&self, operation: &str, window: W) -> W::Output<Vec<Exemplar>> {
        window.resolve(|window| {
            let mut all = Vec::new();
            if self
                .merged_with_exemplars(operation, None, window, Some(&mut all))
                .is_none()
            {
                return Vec::new();
            }
            let mut set = ExemplarSet::default();
            set.extend(&all);
            set.to_list().into_vec()
        })
    }

    /// As [`percentiles`](Self::percentiles), for the series of `labels`
    /// only (`&[]` is the unlabelled series).
    pub fn percentiles_labelled(
        &self,
        operation: &str,
        labels: &[(&str, &str)],
    ) -> Option<Percentiles> {
        self.percentiles_of(&self.merged(operation, Some(labels), None)?)
    }

    /// Any quantile of `operation` over all retained history, within the
    /// relative accuracy (nearest-rank definition, see [`Quantile`]).
    pub fn quantile(&self, operation: &str, q: Quantile) -> Option<f64> {
        self.merged(operation, None, None)?
            .quantile(q, &self.shared.config.mapping)
    }

    /// As [`quantile`](Self::quantile), over a trailing window (`None` for
    /// all retained history; any [`IntoWindow`] form) and/or one label set
    /// (`None` for all series).
    ///
    /// # Errors
    ///
    /// For a window given as text or a [`Duration`] only, as
    /// [`stats`](Self::stats).
    pub fn quantile_in<W: IntoWindow>(
        &self,
        operation: &str,
        labels: Option<&[(&str, &str)]>,
        window: W,
        q: Quantile,
    ) -> W::Output<Option<f64>> {
        window.resolve(|window| {
            self.merged(operation, labels, window)?
                .quantile(q, &self.shared.config.mapping)
        })
    }

    /// Exact count, sum, mean, min, max and population standard deviation
    /// of `operation` over `window` (`None` for all retained history).
    ///
    /// `None` for an unknown operation or a window without values, never a
    /// row of zeros. A window includes up to one slot more of the past than
    /// asked (see the crate documentation).
    ///
    /// The window is any [`IntoWindow`] form, as the reference's
    /// `get_stats(op, time_window="1h")`: a [`Window`] or an
    /// `Option<Window>` answers `Option<Stats>`; text (`"1h"`, `"24h"`) or
    /// a [`Duration`], which can be wrong, answers
    /// `Result<Option<Stats>, MetricsError>`.
    ///
    /// ```
    /// use agent_trace_metrics::{LatencyMetrics, Window};
    ///
    /// let metrics = LatencyMetrics::new();
    /// metrics.record("llm_inference", 1.5)?;
    /// let hourly = metrics.stats("llm_inference", "1h")?.unwrap();
    /// let daily = metrics.stats("llm_inference", Window::HOURS_24).unwrap();
    /// assert_eq!(hourly, daily);
    /// assert!(metrics.stats("llm_inference", None).is_some());
    /// assert_eq!(
    ///     metrics.stats("llm_inference", "1 hour").unwrap_err().to_string(),
    ///     "invalid window \"1 hour\": expected a positive whole number followed by s, m, h or d \
    ///      (for example 30s, 5m, 1h, 24h, 7d)"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// For a window given as text or a [`Duration`] only:
    /// [`MetricsError::InvalidWindow`] for text that is not a window (the
    /// message names the accepted forms), [`MetricsError::WindowOutOfRange`]
    /// for a zero or too long one. Never an answer over all history
    /// instead.
    pub fn stats<W: IntoWindow>(&self, operation: &str, window: W) -> W::Output<Option<Stats>> {
        window.resolve(|window| self.stats_of(operation, None, window))
    }

    /// As [`stats`](Self::stats), for the series of `labels` only.
    ///
    /// # Errors
    ///
    /// For a window given as text or a [`Duration`] only, as
    /// [`stats`](Self::stats).
    pub fn stats_labelled<W: IntoWindow>(
        &self,
        operation: &str,
        labels: &[(&str, &str)],
        window: W,
    ) -> W::Output<Option<Stats>> {
        window.resolve(|window| self.stats_of(operation, Some(labels), window))
    }

    fn stats_of(
        &self,
        operation: &str,
        labels: Option<&[(&str, &str)]>,
        window: Option<Window>,
    ) -> Option<Stats> {
        let m = self.merged(operation, labels, window)?.moments;
        Some(Stats {
            count: m.count,
            sum: m.sum,
            mean: m.mean,
            min: m.min,
            max: m.max,
            std: m.std(),
        })
    }

    /// Compares the trailing window `period1` with the trailing window
    /// `period2` (reference: `compare_periods(op, period1="1h",
    /// period2="24h")`); `None` if either has no values.
    ///
    /// Both periods are given in the same [`IntoWindow`] form: two
    /// [`Window`]s answer `Option<Comparison>`, two strings
    /// `Result<Option<Comparison>, MetricsError>`. `None` as a period means
    /// all retained history.
    ///
    /// ```
    /// use agent_trace_metrics::{LatencyMetrics, Window};
    ///
    /// let metrics = LatencyMetrics::new();
    /// metrics.record("llm_inference", 1.0)?;
    /// let c = metrics.compare_periods("llm_inference", "1h", "24h")?.unwrap();
    /// assert_eq!((c.count1, c.count2, c.p50_change), (1, 1, 0.0));
    /// let typed = metrics.compare_periods("llm_inference", Window::HOUR_1, Window::HOURS_24);
    /// assert_eq!(typed, Some(c));
    /// assert!(metrics.compare_periods("llm_inference", "1h", "1 day").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// For periods given as text or [`Duration`]s only, as
    /// [`stats`](Self::stats), for the first period that is not a valid
    /// window.
    pub fn compare_periods<W: IntoWindow>(
        &self,
        operation: &str,
        period1: W,
        period2: W,
    ) -> W::Output<Option<Comparison>> {
        period1.resolve_pair(period2, |period1, period2| {
            self.compare_windows(operation, period1, period2)
        })
    }

    fn compare_windows(
        &self,
        operation: &str,
        period1: Option<Window>,
        period2: Option<Window>,
    ) -> Option<Comparison> {
        let a = self.merged(operation, None, period1)?;
        let b = self.merged(operation, None, period2)?;
        let pa = self.percentiles_of(&a)?;
        let pb = self.percentiles_of(&b)?;
        Some(Comparison {
            p50_change: relative_change(pa.p50, pb.p50),
            p95_change: relative_change(pa.p95, pb.p95),
            p99_change: relative_change(pa.p99, pb.p99),
            mean_change: relative_change(a.moments.mean, b.moments.mean),
            count1: a.count(),
            count2: b.count(),
        })
    }

    /// Sets (replaces) the threshold of `operation`; see
    /// [`check_thresholds`](Self::check_thresholds).
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidThresholdLimit`] when a limit is NaN, infinite
    /// or negative (see [`Threshold::validate`]); the threshold already set
    /// for `operation`, if any, is kept.
    pub fn set_threshold(&self, operation: &str, threshold: Threshold) -> Result<(), MetricsError> {
        threshold.validate()?;
        self.thresholds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(operation.to_owned(), ThresholdState::new(threshold));
        Ok(())
    }

    /// Removes the threshold of `operation`, returning it.
    pub fn remove_threshold(&self, operation: &str) -> Option<Threshold> {
        self.thresholds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(operation)
            .map(|s| s.threshold)
    }

    /// Checks the threshold of `operation` now, returning the limits that
    /// are exceeded (`observed > limit`); empty when there is no threshold
    /// or no data in its window.
    ///
    /// Fires the callback for each limit whose state changed since the
    /// previous check (see the `threshold` module docs).
    pub fn check_thresholds(&self, operation: &str) -> Vec<Violation> {
        let mut events = Vec::new();
        let violations = {
            let mut all = self
                .thresholds
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match all.get_mut(operation) {
                Some(state) => self.evaluate(operation, state, &mut events),
                None => Vec::new(),
            }
        };
        self.fire(&events);
        violations
    }

    /// Checks every operation that has a threshold; see
    /// [`check_thresholds`](Self::check_thresholds).
    pub fn check_all_thresholds(&self) -> Vec<Violation> {
        let mut events = Vec::new();
        let violations = {
            let mut all = self
                .thresholds
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut names: Vec<&String> = all.keys().collect();
            names.sort();
            let names: Vec<String> = names.into_iter().cloned().collect();
            let mut out = Vec::new();
            for name in names {
                if let Some(state) = all.get_mut(&name) {
                    out.extend(self.evaluate(&name, state, &mut events));
                }
            }
            out
        };
        self.fire(&events);
        violations
    }

    fn fire(&self, events: &[ThresholdEvent]) {
        // Called with no lock held, so the callback may use this registry.
        if let Some(cb) = &self.callback {
            for e in events {
                cb(e);
            }
        }
    }

    fn evaluate(
        &self,
        operation: &str,
        state: &mut ThresholdState,
        events: &mut Vec<ThresholdEvent>,
    ) -> Vec<Violation> {
        let window = state.threshold.window_value();
        let Some(sketch) = self.merged(operation, None, window) else {
            return Vec::new();
        };
        let m = &self.shared.config.mapping;
        let mut violations = Vec::new();
        for (i, &(statistic, limit)) in state.threshold.limits().iter().enumerate() {
            let observed = match statistic {
                Statistic::P50 => sketch.quantile(Quantile::P50, m),
                Statistic::P95 => sketch.quantile(Quantile::P95, m),
                Statistic::P99 => sketch.quantile(Quantile::P99, m),
                Statistic::Quantile(q) => sketch.quantile(q, m),
                Statistic::Mean => Some(sketch.moments.mean),
                Statistic::Max => Some(sketch.moments.max),
            };
            let Some(observed) = observed else { continue };
            let v = Violation {
                operation: operation.to_owned(),
                statistic,
                observed,
                limit,
                window,
            };
            let exceeded = observed > limit;
            match (state.exceeded[i], exceeded) {
                (false, true) => events.push(ThresholdEvent::Crossed(v.clone())),
                (true, false) => events.push(ThresholdEvent::Recovered(v.clone())),
                _ => {}
            }
            state.exceeded[i] = exceeded;
            if exceeded {
                violations.push(v);
            }
        }
        violations
    }

    /// The settings and clock every series shares (`crate::slots`).
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Hands `f` every series: its operation, its labels (sorted by key;
    /// empty for the unlabelled one) and the series. The operations are
    /// cloned out of their shards first, so no shard lock is held while
    /// `f` runs.
    pub(crate) fn for_each_series(&self, mut f: impl FnMut(&str, &[(String, String)], &Series)) {
        let ops: Vec<Arc<Operation>> = self
            .shards
            .iter()
            .flat_map(|s| read(s).values().cloned().collect::<Vec<_>>())
            .collect();
        for op in ops {
            if let Some(s) = op.unlabelled.get() {
                f(&op.name, &[], &s.series);
            }
            let labelled: Vec<(LabelSet, Arc<Tracked>)> = read(&op.labelled)
                .iter()
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect();
            for (labels, s) in &labelled {
                f(&op.name, labels, &s.series);
            }
        }
    }

    /// Values of `operation` refused as NaN, infinite or negative.
    pub fn rejected(&self, operation: &str) -> u64 {
        self.operation(operation)
            .map_or(0, |o| o.rejected.load(Ordering::Relaxed))
    }

    /// Records of `operation` that went to the [`OVERFLOW_LABELS`] series
    /// because their label set was beyond the series cap.
    pub fn overflowed(&self, operation: &str) -> u64 {
        self.operation(operation)
            .map_or(0, |o| o.overflowed.load(Ordering::Relaxed))
    }

    /// The operations seen so far, sorted.
    pub fn operations(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shards
            .iter()
            .flat_map(|s| read(s).keys().cloned().collect::<Vec<_>>())
            .collect();
        names.sort();
        names
    }

    /// The label sets of `operation`'s labelled series, each sorted by key.
    pub fn label_sets(&self, operation: &str) -> Vec<Vec<(String, String)>> {
        let Some(op) = self.operation(operation) else {
            return Vec::new();
        };
        let mut sets: Vec<Vec<(String, String)>> =
            read(&op.labelled).iter().map(|(k, _)| k.to_vec()).collect();
        sets.sort();
        sets
    }

    /// Values of `operation` dropped with the oldest slots of a series to
    /// keep it within [`max_series_bytes`]; 0 for an unknown operation.
    ///
    /// [`max_series_bytes`]: LatencyMetricsBuilder::max_series_bytes
    pub fn evicted(&self, operation: &str) -> u64 {
        self.operation(operation)
            .map_or(0, |op| op.all_series().iter().map(|s| s.evicted()).sum())
    }

    /// Heap bytes held by all series of `operation` (sketches, slots, the
    /// series themselves), computed from their structures; `None` for an
    /// unknown operation.
    pub fn memory_bytes(&self, operation: &str) -> Option<usize> {
        let op = self.operation(operation)?;
        Some(op.all_series().iter().map(|s| s.memory_bytes()).sum())
    }
}

/// A held reference to one series, for recording without any look-up.
///
/// Cheap to clone; keeps the series alive.
///
/// ```
/// use agent_trace_metrics::LatencyMetrics;
///
/// let metrics = LatencyMetrics::new();
/// let search = metrics.series("tool_call", &[("tool", "web_search")]);
/// search.record(0.25)?;
/// search.record(std::time::Duration::from_millis(300))?;
/// assert_eq!(metrics.stats("tool_call", None).unwrap().count, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SeriesHandle {
    shared: Arc<Shared>,
    operation: Arc<Operation>,
    series: Arc<Tracked>,
}

impl fmt::Debug for SeriesHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesHandle").finish_non_exhaustive()
    }
}

impl SeriesHandle {
    /// Records one latency into this series.
    ///
    /// # Errors
    ///
    /// As [`LatencyMetrics::record`].
    ///
    /// # Performance
    ///
    /// One clock read and one uncontended stripe lock; no allocation except
    /// when the value widens the live slot's bucket range. The common case
    /// (a valid value, the system clock, the thread's stripe free and on
    /// the current slot) is inlined and calls nothing; see
    /// `Series::try_record` for why.
    #[inline]
    pub fn record(&self, latency: impl Into<Latency>) -> Result<(), MetricsError> {
        let x = latency.into().0;
        match self.shared.ticked_now() {
            Some(now) => self.record_at(x, now),
            None => self.record_reading_clock(x),
        }
    }

    /// Records the unchecked `x` at `now`.
    #[inline(always)]
    fn record_at(&self, x: f64, now: u64) -> Result<(), MetricsError> {
        // `check`'s fast test, fused with the fast path; `record_slow`
        // checks again and does the rest.
        if x.to_bits() < f64::INFINITY.to_bits()
            && self.series.try_record(x, now, &self.shared.config)
        {
            Ok(())
        } else {
            self.record_slow(x, now)
        }
    }

    /// [`record`](Self::record) with a clock that is not one load: a
    /// custom clock, or the system clock before its first tick. Out of
    /// line, so that its call does not cost the fast path a stack frame.
    #[inline(never)]
    fn record_reading_clock(&self, x: f64) -> Result<(), MetricsError> {
        let now = self.shared.now();
        self.record_at(x, now)
    }

    /// Everything [`record_at`](Self::record_at)'s fast path leaves: bad
    /// values, a busy stripe, a new slot, a wider bucket range.
    #[inline(never)]
    fn record_slow(&self, x: f64, now: u64) -> Result<(), MetricsError> {
        match check(Latency(x)) {
            Ok(x) => {
                self.series.record(x, now, &self.shared.config);
                Ok(())
            }
            Err(e) => {
                self.operation.rejected.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Records one latency into this series with the id of its trace; see
    /// [`LatencyMetrics::record_with_exemplar`].
    ///
    /// # Errors
    ///
    /// As [`LatencyMetrics::record`].
    #[inline]
    pub fn record_with_exemplar(
        &self,
        latency: impl Into<Latency>,
        exemplar: impl Into<ExemplarIds>,
    ) -> Result<(), MetricsError> {
        match check(latency.into()) {
            Ok(x) => {
                // One load once the system clock ticks, as in `record`.
                let now = match self.shared.ticked_now() {
                    Some(now) => now,
                    None => self.shared.now(),
                };
                self.series
                    .record_traced(x, exemplar.into(), now, &self.shared.config);
                Ok(())
            }
            Err(e) => {
                self.operation.rejected.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Heap bytes held by this series (live stripes, closed slots and the
    /// series itself), computed from its structures.
    pub fn memory_bytes(&self) -> usize {
        self.series.memory_bytes()
    }

    /// Values dropped with this series' oldest slots to keep it within
    /// [`LatencyMetricsBuilder::max_series_bytes`].
    pub fn evicted(&self) -> u64 {
        self.series.evicted()
    }

    /// How many closed slots the series holds (at most the sum of the tiers'
    /// slot counts, plus one per tier while a slot rolls up).
    pub fn slot_count(&self) -> usize {
        self.series.slot_count()
    }
}

/// Builds a [`LatencyMetrics`] with non-default settings.
///
/// ```
/// use std::sync::Arc;
/// use agent_trace_metrics::{LatencyMetrics, ManualClock};
///
/// let metrics = LatencyMetrics::builder()
///     .relative_accuracy(0.005)
///     .clock(Arc::new(ManualClock::new(0)))
///     .max_series_per_operation(50)
///     .on_threshold(|event| eprintln!("{event:?}"))
///     .build()?;
/// assert_eq!(metrics.relative_accuracy(), 0.005);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LatencyMetricsBuilder {
    relative_accuracy: f64,
    tiers: Vec<Tier>,
    /// `None` for the default clock (the system clock, read as a tick).
    clock: Option<Arc<dyn Clock>>,
    max_series: usize,
    max_buckets: Option<usize>,
    max_series_bytes: Option<usize>,
    callback: Option<Callback>,
    metrics_facade: bool,
}

impl fmt::Debug for LatencyMetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyMetricsBuilder")
            .field("relative_accuracy", &self.relative_accuracy)
            .field("tiers", &self.tiers)
            .field(
                "clock",
                match &self.clock {
                    Some(clock) => clock as &dyn fmt::Debug,
                    None => &SystemClock,
                },
            )
            .field("max_series", &self.max_series)
            .field("max_buckets", &self.max_buckets)
            .field("max_series_bytes", &self.max_series_bytes)
            .field("callback", &self.callback.is_some())
            .field("metrics_facade", &self.metrics_facade)
            .finish()
    }
}

impl Default for LatencyMetricsBuilder {
    fn default() -> Self {
        Self {
            relative_accuracy: 0.01,
            tiers: Tier::defaults(),
            clock: None,
            max_series: 1_000,
            max_buckets: None,
            max_series_bytes: None,
            callback: None,
            metrics_facade: true,
        }
    }
}

impl LatencyMetricsBuilder {
    /// The relative accuracy `a` of quantiles, in `(0, 1)`; default `0.01`
    /// (1%). Buckets, and so memory, grow as `1 / a`.
    pub fn relative_accuracy(mut self, a: f64) -> Self {
        self.relative_accuracy = a;
        self
    }

    /// The retention tiers, finest first; default [`Tier::defaults`]. Each
    /// slot width must be a multiple of the previous one, and each tier must
    /// reach further back than the previous one.
    pub fn tiers(mut self, tiers: Vec<Tier>) -> Self {
        self.tiers = tiers;
        self
    }

    /// The clock that places records in time.
    ///
    /// The default is the system clock read as the last tick of a thread
    /// (`agent-trace-clock`) that stores the time every 100 ms while
    /// a registry on the default clock, or one of its handles, is alive: a
    /// read is one atomic load. A clock given here, [`SystemClock`]
    /// included, is read on every record and query instead, and starts no
    /// thread.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The most labelled series an operation gets (default 1,000); the
    /// values of further label sets go to [`OVERFLOW_LABELS`].
    pub fn max_series_per_operation(mut self, n: usize) -> Self {
        self.max_series = n;
        self
    }

    /// The most buckets a sketch keeps (at least 16); beyond it the lowest
    /// buckets collapse into one. The default spans a factor of 2^60 between
    /// the smallest and the largest value at the configured accuracy (2,101
    /// buckets at 1%, 21,001 at 0.1%).
    pub fn max_buckets(mut self, n: usize) -> Self {
        self.max_buckets = Some(n);
        self
    }

    /// The most heap bytes one series may take, a hard bound. Beyond it the
    /// oldest closed slots are dropped (their values counted in
    /// [`LatencyMetrics::evicted`]), so retention shortens rather than
    /// memory growing; quantile accuracy is unaffected.
    ///
    /// Default: 1 MiB, or four times the most the live stripes can take if
    /// that is more (at an accuracy finer than about 0.25%). A series
    /// reaches the default only under sustained traffic of many millions of
    /// values per slot spread over the whole bucket range; a typical agent
    /// step takes under 64 KiB. The smallest accepted value is what the
    /// live stripes can take plus 16 KiB.
    pub fn max_series_bytes(mut self, bytes: usize) -> Self {
        self.max_series_bytes = Some(bytes);
        self
    }

    /// Called when a threshold limit is crossed or recovers, from the thread
    /// that runs the check, with no lock held.
    pub fn on_threshold(mut self, f: impl Fn(&ThresholdEvent) + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }

    /// Whether every recorded value also goes to the [`metrics`](::metrics) facade as
    /// the histogram [`OPERATION_DURATION_SECONDS`] (default `true`). Each
    /// series registers its handle with the recorder installed when the
    /// series is created; a record then also counts the value in its
    /// Prometheus bucket (two adds under the lock it already holds), and
    /// [`publish`] hands the counts over in batches. See the crate docs.
    ///
    /// [`OPERATION_DURATION_SECONDS`]: crate::OPERATION_DURATION_SECONDS
    /// [`publish`]: crate::publish
    pub fn metrics_facade(mut self, enabled: bool) -> Self {
        self.metrics_facade = enabled;
        self
    }

    /// Checks the settings and builds the registry.
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidAccuracy`], [`MetricsError::InvalidTiers`] or
    /// [`MetricsError::LimitTooSmall`] for a setting that cannot work.
    pub fn build(self) -> Result<LatencyMetrics, MetricsError> {
        let mapping = crate::BucketMapping::new(self.relative_accuracy)?.into_mapping();
        let specs = check_tiers(&self.tiers)?;
        if self.max_series < 1 {
            return Err(MetricsError::LimitTooSmall {
                what: "max_series_per_operation",
                min: 1,
                found: self.max_series,
            });
        }
        let max_buckets = self
            .max_buckets
            .unwrap_or_else(|| mapping.buckets_for_octaves(60.0));
        if max_buckets < 16 {
            return Err(MetricsError::LimitTooSmall {
                what: "max_buckets",
                min: 16,
                found: max_buckets,
            });
        }
        let live = SeriesConfig::live_bound(max_buckets);
        let max_series_bytes = match self.max_series_bytes {
            Some(b) if b < live + 16 * 1024 => {
                return Err(MetricsError::LimitTooSmall {
                    what: "max_series_bytes",
                    min: live + 16 * 1024,
                    found: b,
                });
            }
            Some(b) => b,
            None => (1 << 20).max(4 * live),
        };
        Ok(LatencyMetrics {
            id: NEXT_REGISTRY_ID.fetch_add(1, Ordering::Relaxed),
            statics: StaticNames::new(),
            shared: Arc::new(Shared {
                config: SeriesConfig {
                    mapping,
                    specs,
                    max_buckets,
                    bridged: self.metrics_facade,
                    history_budget: max_series_bytes - live,
                },
                _ticker: self.clock.is_none().then(TickerLease::new),
                clock: self.clock,
            }),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            max_series: self.max_series,
            thresholds: Mutex::default(),
            callback: self.callback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_name_and_its_text_share_one_series() {
        let m = LatencyMetrics::new();
        let name: &'static str = "plan";
        m.record_static_with_exemplar(name, 1.0, 7).unwrap();
        m.record_static_with_exemplar(name, 2.0, 0).unwrap();
        m.record(&String::from("plan"), 3.0).unwrap();
        assert_eq!(m.stats("plan", None).unwrap().count, 3);
        assert_eq!(m.operations(), ["plan"]);
        // Kept once, under the string's address.
        let kept = m.statics.slots.iter().filter(|s| s.get().is_some()).count();
        assert_eq!(kept, 1);
        // NaN is refused and counted, as by name.
        assert!(m.record_static_with_exemplar(name, f64::NAN, 0).is_err());
        assert_eq!(m.rejected("plan"), 1);
    }

    #[test]
    fn static_names_at_one_address_with_other_lengths_are_other_operations() {
        let m = LatencyMetrics::new();
        let long: &'static str = "planning";
        let short: &'static str = &long[..4];
        assert_eq!(long.as_ptr(), short.as_ptr(), "the case under test");
        m.record_static_with_exemplar(long, 1.0, 0).unwrap();
        m.record_static_with_exemplar(short, 2.0, 0).unwrap();
        m.record_static_with_exemplar(short, 2.0, 0).unwrap();
        assert_eq!(m.stats("planning", None).unwrap().count, 1);
        assert_eq!(m.stats("plan", None).unwrap().count, 2);
    }

    #[test]
    fn a_static_name_without_a_free_slot_is_recorded_by_name_into_the_same_series() {
        let m = LatencyMetrics::new();
        let other = m.series("other", &[]);
        // Every slot taken by another (made-up) name.
        for (i, slot) in m.statics.slots.iter().enumerate() {
            assert!(slot.set((usize::MAX - i, 5, other.clone())).is_ok());
        }
        m.record_static_with_exemplar("plan", 1.0, 0).unwrap();
        m.record_static_with_exemplar("plan", 1.0, 0).unwrap();
        assert_eq!(m.stats("plan", None).unwrap().count, 2);
        assert_eq!(m.stats("other", None), None);
    }

    #[test]
    fn defaults_build() {
        let m = LatencyMetrics::builder().build().unwrap();
        assert_eq!(m.shared.config.max_buckets, 2_101);
        let m = LatencyMetrics::builder()
            .relative_accuracy(0.001)
            .build()
            .unwrap();
        assert_eq!(m.shared.config.max_buckets, 21_001);
    }

    #[test]
    fn registry_and_handles_are_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<LatencyMetrics>();
        shareable::<SeriesHandle>();
        shareable::<LatencyMetricsBuilder>();
    }

    #[test]
    fn labels_are_canonical() {
        fn own(l: &[(&str, &str)]) -> Vec<(String, String)> {
            with_canonical(l, |c| {
                c.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            })
        }
        let expected = [("a".to_owned(), "2".to_owned()), ("b".into(), "3".into())];
        assert_eq!(own(&[("b", "1"), ("a", "2"), ("b", "3")]), expected);
        assert_eq!(own(&[("a", "2"), ("b", "3")]), expected);
        // More labels than fit on the stack take the same order.
        let many: Vec<(String, String)> = (0..20)
            .rev()
            .map(|i| (format!("k{i:02}"), i.to_string()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let sorted = own(&many);
        assert!(sorted.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(sorted.len(), 20);
    }
}
