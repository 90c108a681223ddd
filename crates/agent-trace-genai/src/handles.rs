//! Metric handles kept across spans, so that a GenAI span's end and a
//! priced call record through a held handle instead of registering their
//! metrics by name each time.
//!
//! # Why
//!
//! `metrics::histogram!(name, labels)` builds a key, copies the label values,
//! and asks the recorder to register it: the recorder hashes and formats the
//! labels and looks the series up in its registry. Measured with callgrind on
//! the agent workload bench (`crates/agent-trace/benches/agent_workload.rs`,
//! `agent_trace_metrics::PrometheusRecorder` as the global recorder): about
//! 2,400 instructions per record, 18 records per task of ten spans, plus 6,000
//! per priced call for the cost counter: more than the spans themselves.
//! Recording through a held handle is one atomic update.
//!
//! # Which recorder a handle belongs to
//!
//! A handle records into the recorder it was registered with. The recorder
//! a `metrics!` macro uses is the thread's local recorder when one is set
//! (`metrics::with_local_recorder`, as tests do), else the global one, else
//! a no-op one. So a handle is kept only for a recorder that lives as long
//! as the process: the one a thread without a local recorder sees (the
//! global recorder, or the no-op one before a global is set). Which one
//! that is can only be seen from such a thread: the metrics crate's clock
//! thread notes it at each tick ([`agent_trace_metrics::process_recorder`];
//! no thread is started here to learn it; `init()` keeps it running, with
//! or without latencies). While that thread does not run (no latency
//! registry on the default clock lives and nothing called
//! [`agent_trace_metrics::watch_process_recorder`], as when `init()` was
//! never called), or under a local recorder, nothing is cached: each
//! record registers by name, as the macros do. Recorders are told apart by
//! address; a global recorder lives at its address for the whole process,
//! so no other recorder can be mistaken for it (two recorders of size zero
//! share an address, but then they hold no state of their own to tell
//! apart).
//!
//! The caches are per thread (no lock on the span path) and bounded
//! ([`MAX_ENTRIES`] label sets per thread and cache; beyond that a record
//! registers by name). A recorder that drops series idle for a while
//! (`metrics-exporter-prometheus`'s `idle_timeout`, off by default) would
//! drop a held handle's series too, as it does for any application that
//! holds handles.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Label sets one thread keeps handles for, per cache.
pub(crate) const MAX_ENTRIES: usize = 1024;

/// A recorder, by address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecorderId(usize);

/// The current recorder, when handles registered with it may be kept (see
/// the module docs); `None` under a local recorder, or when it cannot be
/// known.
pub(crate) fn static_recorder() -> Option<RecorderId> {
    agent_trace_metrics::process_recorder().map(RecorderId)
}

/// The hasher of the maps keyed by names the application chooses, on the
/// span path (label sets, span names, the cost ledger's sums): `foldhash`,
/// seeded at random per map. SipHash, std's default, cost about 1,500
/// instructions per label set here, more than the rest of a cached record.
/// Label values come from the application and may come from its users, so
/// the seed is random and each cache bounded: a flood of colliding label
/// sets costs a bounded scan, not memory.
pub(crate) type FastState = foldhash::fast::RandomState;

/// Whether a borrowed label set is the very one a cache keeps, told
/// without hashing it: from the addresses of its texts, or from the texts
/// themselves when they are short ([`same_text`]).
///
/// Implementations answer `true` only when the two are equal: a text at the
/// same address and of the same length as one the cache keeps is that text
/// (a static string, or a shared one whose allocation the kept copy holds
/// alive); a short text (an inline copy, as `&str` arguments make, lives in
/// its own value and never shares an address with the cache's) is compared
/// byte for byte. `false` just means "compare the texts".
pub(crate) trait SameAs<K> {
    /// Whether [`same_as`](Self::same_as) can ever answer `true`; when not,
    /// the cache skips the identity check.
    const BY_IDENTITY: bool = true;

    /// `true` only if `self == kept`, known without hashing.
    fn same_as(&self, kept: &K) -> bool;
}

impl SameAs<String> for str {
    fn same_as(&self, kept: &String) -> bool {
        same_text(self, kept)
    }
}

/// Whether `a` and `b` are the same text, known cheaply: at the same
/// address, or equal and at most [`SHORT_TEXT`] bytes long. `false` may
/// still mean equal (long texts at different addresses are not read).
///
/// The helpers' `&str` arguments (provider, model, agent and tool names)
/// are copied into inline strings, so they never share an address with the
/// cache's copies: with the address check alone every look-up hashed its
/// label set (callgrind, the agent workload bench: about 1,100 instructions
/// per cached GenAI record, the identity check never hitting).
#[inline]
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || (a.len() <= SHORT_TEXT && a == b))
}

/// The longest text [`same_text`] compares byte for byte: the helpers'
/// names and models, and any inline string, are shorter; comparing this
/// much costs a fraction of hashing it.
const SHORT_TEXT: usize = 32;

/// Entries of a cache checked by identity ([`SameAs`]) before any hashing:
/// the label sets a thread used last. An agent task's GenAI spans use a
/// handful (the agent, its model, its tools).
const RECENT: usize = 8;

/// No entry.
const NONE: usize = usize::MAX;

/// Handles of type `V` by label set `K`, for one recorder: a per-thread
/// cache (see the module docs).
///
/// A look-up first checks the label sets used last without hashing
/// ([`SameAs`]: by the addresses of their texts, or the bytes of short
/// ones), then hashes the texts. Hashing and comparing a GenAI span's
/// label set cost about 380 instructions per look-up (callgrind, the agent
/// workload bench), more than the record itself; the helpers' texts
/// (provider, model, agent and tool names) are usually static, interned or
/// short, so the check hits.
#[derive(Debug)]
pub(crate) struct Cache<K, V> {
    recorder: Option<RecorderId>,
    state: FastState,
    /// Indices into `entries` by hash of the label set; collisions share a
    /// bucket.
    map: HashMap<u64, Vec<usize>, foldhash::fast::FixedState>,
    entries: Vec<(K, V)>,
    /// Indices of the entries used last ([`NONE`] when unused), replaced
    /// in turn.
    recent: [usize; RECENT],
    next_recent: usize,
}

impl<K, V: Default> Cache<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            recorder: None,
            state: FastState::default(),
            map: HashMap::default(),
            entries: Vec::new(),
            recent: [NONE; RECENT],
            next_recent: 0,
        }
    }

    /// Calls `f` with the handles kept for the label set `key` (an empty
    /// `V` the first time), or with a fresh `V` that is not kept when the
    /// current recorder is not cached for or the cache is full.
    ///
    /// `Q` is the borrowed form of the key, `own` makes a `K` of it.
    pub(crate) fn with<Q, R>(
        &mut self,
        key: &Q,
        own: impl FnOnce(&Q) -> K,
        f: impl FnOnce(&mut V) -> R,
    ) -> R
    where
        Q: Hash + PartialEq<K> + SameAs<K> + ?Sized,
    {
        let Some(recorder) = static_recorder() else {
            return f(&mut V::default());
        };
        if self.recorder != Some(recorder) {
            self.map.clear();
            self.entries.clear();
            self.recent = [NONE; RECENT];
            self.recorder = Some(recorder);
        }
        if Q::BY_IDENTITY {
            for &i in &self.recent {
                if let Some((k, v)) = self.entries.get_mut(i)
                    && key.same_as(k)
                {
                    return f(v);
                }
            }
        }
        let hash = self.state.hash_one(key);
        let found = self
            .map
            .get(&hash)
            .and_then(|bucket| bucket.iter().copied().find(|&i| *key == self.entries[i].0));
        let i = match found {
            Some(i) => i,
            None => {
                if self.entries.len() >= MAX_ENTRIES {
                    return f(&mut V::default());
                }
                self.entries.push((own(key), V::default()));
                let i = self.entries.len() - 1;
                self.map.entry(hash).or_default().push(i);
                i
            }
        };
        if Q::BY_IDENTITY {
            self.recent[self.next_recent] = i;
            self.next_recent = (self.next_recent + 1) % RECENT;
        }
        f(&mut self.entries[i].1)
    }
}

/// A cache per thread, declared with `thread_local!`.
pub(crate) type Local<K, V> = RefCell<Cache<K, V>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry on the default clock, which keeps the clock thread that
    /// sees the process's recorder running, once that thread has ticked.
    fn clock_thread() -> agent_trace_metrics::LatencyMetrics {
        let registry = agent_trace_metrics::LatencyMetrics::new();
        let _ = noted_recorder();
        registry
    }

    /// The recorder the clock thread notes, once it notes one (within a
    /// tick: a clock thread of another test's registry that is stopping
    /// may clear what the running one noted, until its next tick).
    fn noted_recorder() -> RecorderId {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(r) = static_recorder() {
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the clock thread never noted a recorder"
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_recorder_of_threads_without_a_local_one_is_cached_for_and_a_local_one_is_not() {
        let _clock = clock_thread();
        let outside = Some(noted_recorder());
        // What a thread of its own sees.
        let seen = std::thread::spawn(|| {
            ::metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize)
        })
        .join()
        .unwrap();
        assert_eq!(outside, Some(RecorderId(seen)));
        // A recorder with state of its own (a zero-sized one could share
        // the no-op recorder's address).
        struct WithState {
            _state: [u8; 8],
        }
        impl ::metrics::Recorder for WithState {
            fn describe_counter(
                &self,
                _: ::metrics::KeyName,
                _: Option<::metrics::Unit>,
                _: ::metrics::SharedString,
            ) {
            }
            fn describe_gauge(
                &self,
                _: ::metrics::KeyName,
                _: Option<::metrics::Unit>,
                _: ::metrics::SharedString,
            ) {
            }
            fn describe_histogram(
                &self,
                _: ::metrics::KeyName,
                _: Option<::metrics::Unit>,
                _: ::metrics::SharedString,
            ) {
            }
            fn register_counter(
                &self,
                _: &::metrics::Key,
                _: &::metrics::Metadata<'_>,
            ) -> ::metrics::Counter {
                ::metrics::Counter::noop()
            }
            fn register_gauge(
                &self,
                _: &::metrics::Key,
                _: &::metrics::Metadata<'_>,
            ) -> ::metrics::Gauge {
                ::metrics::Gauge::noop()
            }
            fn register_histogram(
                &self,
                _: &::metrics::Key,
                _: &::metrics::Metadata<'_>,
            ) -> ::metrics::Histogram {
                ::metrics::Histogram::noop()
            }
        }
        let recorder = WithState { _state: [0; 8] };
        ::metrics::with_local_recorder(&recorder, || {
            assert_eq!(static_recorder(), None);
            let mut cache: Cache<String, u32> = Cache::new();
            let n = cache.with("a", str::to_owned, |v| {
                *v += 1;
                *v
            });
            let again = cache.with("a", str::to_owned, |v| {
                *v += 1;
                *v
            });
            assert_eq!((n, again), (1, 1), "nothing kept under a local recorder");
        });
        // Outside it again: the same recorder.
        let back = Some(noted_recorder());
        assert_eq!(back, outside);
    }

    /// A key of static texts, checked by identity like the helpers' label
    /// sets.
    #[derive(Hash, PartialEq)]
    struct Texts(&'static str, &'static str);

    impl SameAs<Texts> for Texts {
        fn same_as(&self, o: &Texts) -> bool {
            same_text(self.0, o.0) && same_text(self.1, o.1)
        }
    }

    #[test]
    fn a_key_is_found_by_identity_or_by_text_and_never_taken_for_another() {
        let _clock = clock_thread();
        let mut cache: Cache<Texts, u32> = Cache::new();
        let bump = |cache: &mut Cache<Texts, u32>, k: &Texts| {
            cache.with(
                k,
                |k| Texts(k.0, k.1),
                |v| {
                    *v += 1;
                    *v
                },
            )
        };
        // The same texts at other addresses: the same entry, by text.
        let text = String::from("gpt-4o");
        let leaked: &'static str = Box::leak(text.into_boxed_str());
        assert_eq!(bump(&mut cache, &Texts("chat", "gpt-4o")), 1);
        assert_eq!(bump(&mut cache, &Texts("chat", leaked)), 2);
        assert_eq!(bump(&mut cache, &Texts("chat", "gpt-4o")), 3);
        // A text that starts at the same address but is shorter is
        // another key.
        assert_eq!(bump(&mut cache, &Texts("chat", &leaked[..3])), 1);
        // More keys than the identity check holds, in turn: each keeps
        // its own count.
        let names: Vec<&'static str> = (0..2 * RECENT)
            .map(|i| &*Box::leak(format!("tool-{i}").into_boxed_str()))
            .collect();
        for round in 1..=3 {
            for n in &names {
                assert_eq!(bump(&mut cache, &Texts("execute_tool", n)), round);
            }
        }
        assert_eq!(bump(&mut cache, &Texts("chat", "gpt-4o")), 4);
    }

    #[test]
    fn same_text_is_true_only_for_equal_texts_and_reads_only_short_ones() {
        let copy = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
        // Inline copies of the helpers' `&str` arguments: equal texts at
        // other addresses.
        assert!(same_text("gpt-4o", copy("gpt-4o")));
        assert!(same_text("", copy("")));
        assert!(!same_text("gpt-4o", copy("gpt-4x")));
        assert!(!same_text("gpt-4o", copy("gpt-4")));
        // A long text is compared by address only.
        let long = "a model name longer than thirty-two bytes";
        assert!(same_text(long, long));
        assert!(!same_text(long, copy(long)));
        assert!(same_text(&long[..SHORT_TEXT], copy(&long[..SHORT_TEXT])));
    }

    #[test]
    fn entries_are_kept_per_label_set_up_to_the_cap() {
        let _clock = clock_thread();
        let mut cache: Cache<String, u32> = Cache::new();
        let bump = |cache: &mut Cache<String, u32>, k: &str| {
            cache.with(k, str::to_owned, |v| {
                *v += 1;
                *v
            })
        };
        assert_eq!(bump(&mut cache, "a"), 1);
        assert_eq!(bump(&mut cache, "a"), 2);
        assert_eq!(bump(&mut cache, "b"), 1);
        for i in 0..MAX_ENTRIES {
            bump(&mut cache, &i.to_string());
        }
        assert_eq!(cache.entries.len(), MAX_ENTRIES);
        assert_eq!(bump(&mut cache, "a"), 3, "kept entries stay");
        assert_eq!(bump(&mut cache, "beyond"), 1);
        assert_eq!(bump(&mut cache, "beyond"), 1, "not kept beyond the cap");
    }
}
