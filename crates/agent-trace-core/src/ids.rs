//! Fast, thread-local generation of trace and span ids.
//!
//! Each thread runs its own wyrand generator (one add and one 64x64->128
//! multiply per draw, about 1 ns), seeded from the standard library's
//! per-process random hasher keys mixed with a global counter, so threads
//! never share state and never contend. Ids are for uniqueness, not secrecy:
//! this is not a cryptographic generator.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use agent_trace_propagation::{SpanId, TraceId};

fn seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `RandomState::new()` draws fresh keys from the OS once per thread and
    // then increments them, so two threads get different hashers; the
    // counter separates seeds even if they did not.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

thread_local! {
    // Const-initialised (no lazy-init check on each access); zero means
    // "not seeded yet", and a seeded state is never zero again in practice
    // (the state is a counter stepping by an odd constant from a random seed).
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// One wyrand draw from the state `x`, which it advances.
#[inline(always)]
fn step(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(*x) * u128::from(*x ^ 0xe703_7ed1_a0b4_28db);
    ((t >> 64) as u64) ^ (t as u64)
}

/// Runs `draw` on this thread's generator state: read once, advanced in a
/// register, written back once. `LocalKey::get`/`set` on a `const` `Cell`
/// inline to one load and one store; `LocalKey::with` and its closure were
/// an out-of-line call on the span path.
#[inline(always)]
fn with_state<T>(draw: impl FnOnce(&mut u64) -> T) -> T {
    let mut x = STATE.get();
    if x == 0 {
        x = seed() | 1;
    }
    let out = draw(&mut x);
    STATE.set(x);
    out
}

/// A new random span id.
#[inline]
pub(crate) fn new_span_id() -> SpanId {
    with_state(|x| {
        loop {
            if let Some(id) = SpanId::from_u64(step(x)) {
                return id;
            }
        }
    })
}

/// A new random trace id and a span id for its root, drawn with one access
/// to the thread's generator.
#[inline]
pub(crate) fn new_trace_and_span_id() -> (TraceId, SpanId) {
    with_state(|x| {
        let trace_id = loop {
            let v = (u128::from(step(x)) << 64) | u128::from(step(x));
            if let Some(id) = TraceId::from_u128(v) {
                break id;
            }
        };
        let span_id = loop {
            if let Some(id) = SpanId::from_u64(step(x)) {
                break id;
            }
        };
        (trace_id, span_id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn threads_draw_distinct_ids() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| new_span_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id), "duplicate span id {id}");
            }
        }
        assert_eq!(all.len(), 40_000);
    }
}
