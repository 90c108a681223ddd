//! A number per thread, to spread per-thread state over cache lines.
//!
//! State that every thread updates (a counter, a reference count, a lock)
//! costs the time of moving its cache line between cores at each update
//! when two threads on two cores share it. Keeping one copy per *stripe*,
//! each on its own cache line, and having each thread update the copy of
//! its own stripe, keeps the lines where they are. The span path (the
//! tracer's references) and the latency metrics pick their stripe here,
//! so that a thread has one number for both.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    /// This thread's stripe, `usize::MAX` until [`thread_stripe`] picks
    /// one. A `const` thread local without drop glue is a plain load from
    /// the thread's block; a lazily initialised one checks its state first.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe: a number given to each thread the first time it
/// asks, counting up from 0 in the order threads ask, so that the first
/// threads to ask have different ones. Callers take it modulo their number
/// of copies. A thread whose thread-locals are being torn down gets 0.
///
/// ```
/// use agent_trace_clock::thread_stripe;
///
/// let mine = thread_stripe();
/// assert_eq!(thread_stripe(), mine, "a thread keeps its stripe");
/// let other = std::thread::spawn(thread_stripe).join().unwrap();
/// assert_ne!(other, mine, "the next thread to ask gets the next one");
/// ```
#[inline]
pub fn thread_stripe() -> usize {
    STRIPE
        .try_with(|s| {
            let n = s.get();
            if n != usize::MAX { n } else { pick(s) }
        })
        .unwrap_or(0)
}

#[cold]
fn pick(s: &Cell<usize>) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Never `usize::MAX`, which means "not picked".
    let n = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
    s.set(n);
    n
}

/// This thread's stripe if [`thread_stripe`] has picked it, without picking
/// one: for a fast path that leaves a thread's first call to the slow one.
///
/// ```
/// use agent_trace_clock::{thread_stripe, thread_stripe_if_set};
///
/// std::thread::spawn(|| {
///     assert_eq!(thread_stripe_if_set(), None);
///     let n = thread_stripe();
///     assert_eq!(thread_stripe_if_set(), Some(n));
/// })
/// .join()
/// .unwrap();
/// ```
#[inline]
pub fn thread_stripe_if_set() -> Option<usize> {
    STRIPE
        .try_with(|s| Some(s.get()).filter(|&n| n != usize::MAX))
        .ok()
        .flatten()
}
