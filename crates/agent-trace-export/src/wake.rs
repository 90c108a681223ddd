//! The batch worker's wake-up flag: how `on_end` and the worker agree on
//! when the worker needs an unpark, with one unpark per full batch rather
//! than per span, and no lost wake-up. Its own module, and generic over
//! the clock and the park, so that the loom model (`tests/loom_batch.rs`,
//! run by `cargo xtask loom`) runs this code with loom's atomics and
//! park/unpark; under `cfg(loom)` only, the module is public (hidden) and
//! its flag is loom's.

// Public items in a private module, except under `cfg(loom)`.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::sync::atomic::Ordering;
use std::time::Duration;

#[cfg(not(loom))]
use std::sync::atomic::AtomicBool;

#[cfg(loom)]
use self::loom_shim::AtomicBool;

/// Set when the worker was woken for a full batch and has not looked yet,
/// so that the spans after it do not unpark it again.
#[derive(Debug, Default)]
pub struct WakeFlag {
    woken: AtomicBool,
}

impl WakeFlag {
    /// A clear flag.
    pub fn new() -> Self {
        Self::default()
    }

    /// The application thread's side, after it queued a span: whether to
    /// unpark the worker. `full`: whether a full batch is queued, read
    /// after the push, and only when the flag is clear: while the worker
    /// has been woken and not yet looked (under sustained load, always), a
    /// span costs one load of this flag, a line that is rarely written,
    /// rather than a look at the queue's head and tail, which the worker
    /// and the other application threads write.
    #[inline]
    pub fn wake_needed(&self, full: impl FnOnce() -> bool) -> bool {
        // SeqCst pairs with the worker's clearing of the flag before it
        // parks (see `wait`): of this load and the worker's look at the
        // queue after clearing, at least one sees the other's write (the
        // push before this load). A set flag seen here means the clearing
        // comes later, and the worker's look after it sees the push.
        if !self.woken.load(Ordering::SeqCst) && full() {
            self.woken.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The worker's wait: returns once `ready()` (a full batch queued, or
    /// a request), or once `time_left()` is `None` (the wait is over);
    /// meanwhile parks for at most the time left (`park` may return early).
    pub fn wait(
        &self,
        ready: impl Fn() -> bool,
        mut time_left: impl FnMut() -> Option<Duration>,
        mut park: impl FnMut(Duration),
    ) {
        loop {
            if ready() {
                break;
            }
            let Some(left) = time_left() else {
                break;
            };
            // Clear the flag before parking, then look again: a push
            // after this sees it clear and unparks us, a push before it
            // is seen by the look. Without this, a flag set while we
            // were exporting (its unpark consumed by an earlier park)
            // stayed set, every later push skipped the unpark, and
            // under sustained load the worker slept out the whole
            // scheduled delay while the full queue dropped spans
            // (`cargo xtask bench --overload`, two threads: 97% dropped).
            self.woken.store(false, Ordering::SeqCst);
            if ready() {
                break;
            }
            park(left);
        }
        self.woken.store(false, Ordering::Relaxed);
    }
}

/// Loom's flag, for the model.
#[cfg(loom)]
mod loom_shim {
    use loom::sync::atomic::{Ordering, fence};

    /// Loom's atomic flag, with a `SeqCst` fence after each `SeqCst` store
    /// and before each `SeqCst` load. Loom weakens `SeqCst` accesses to
    /// `AcqRel` (its README, "Unsupported features"), under which the
    /// handshake above (each side writes, then reads what the other
    /// writes) would lose wake-ups that `SeqCst` rules out, so the model
    /// would fail on correct code. Loom models `SeqCst` fences exactly, and
    /// a fence between a store and a later load is what `SeqCst` accesses
    /// give this pattern. Weaker orderings get no fence, so a model still
    /// fails when one of the two accesses is weakened.
    #[derive(Debug, Default)]
    pub(super) struct AtomicBool(loom::sync::atomic::AtomicBool);

    impl AtomicBool {
        #[track_caller]
        pub(super) fn load(&self, order: Ordering) -> bool {
            if order == Ordering::SeqCst {
                fence(Ordering::SeqCst);
            }
            self.0.load(order)
        }

        #[track_caller]
        pub(super) fn store(&self, value: bool, order: Ordering) {
            self.0.store(value, order);
            if order == Ordering::SeqCst {
                fence(Ordering::SeqCst);
            }
        }
    }
}
