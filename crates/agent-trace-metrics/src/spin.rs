//! A spin-then-yield lock that unlocks with a plain release store, for
//! data held for a few nanoseconds and almost never contended: the live
//! stripes of a series here, and the span table slots of the facade's
//! `tracing` layer (the reason it is public, hidden from the docs: it is
//! not meant for applications).
//!
//! `std::sync::Mutex` unlocks with an atomic swap, as it must learn whether
//! a thread sleeps on it; this lock unlocks with a plain store, one locked
//! instruction fewer per use (5 to 10 ns on the development machines). A
//! thread that finds it taken spins briefly, then yields its time slice,
//! so that a holder that was preempted is waited for without burning a
//! core. A panic while it is held unlocks it as the guard drops, with no
//! poisoning: its users keep their data consistent at every step.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;

// std's, or loom's under `cfg(loom)` (the models in `tests/loom_spin.rs`).
use crate::sync::{AtomicBool, UnsafeCell, spin_loop, yield_now};

/// The lock and the data it guards. `repr(C)`: the flag first, so that a
/// user can place it in the data's first cache line.
#[derive(Default)]
#[repr(C)]
pub struct SpinLock<T> {
    // Crate-visible for the stripes' layout test (`series.rs`).
    pub(crate) locked: AtomicBool,
    pub(crate) value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a `SpinGuard`, and `locked`
// admits one guard at a time, so sharing the lock shares no unsynchronised
// access; `T: Send` because the guard hands `&mut T` to whichever thread
// holds it.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A lock guarding `value`.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// A lock guarding `value` (not `const` under loom, whose atomics are
    /// not).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The lock if it is free right now, else `None` (never a spurious
    /// failure: a caller that only tries, such as the `tracing` layer while
    /// it may hold a lock already, would lose data to one).
    #[inline]
    pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        // `then`, not `then_some`: a guard built eagerly and dropped on
        // failure would unlock the holder's lock.
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| SpinGuard {
                lock: self,
                _access: PhantomData,
            })
    }

    /// The lock, waiting for it if need be (spinning, then yielding).
    #[inline]
    pub fn lock(&self) -> SpinGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinGuard {
            lock: self,
            _access: PhantomData,
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 100 {
                    spins += 1;
                    spin_loop();
                } else {
                    yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The data, through exclusive access to the lock (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Whether the lock is held right now (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

impl<T> fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLock")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

/// Holds a [`SpinLock`]; unlocks on drop (also when unwinding).
///
/// `Sync` only when `T: Sync`, as `MutexGuard` is: a shared guard hands out
/// `&T`, so two threads sharing one could otherwise both reach a `Cell`
/// inside (a data race in safe code; the lock's `T: Send` bound is about
/// the guard moving between threads, not being shared).
///
/// ```compile_fail
/// use std::cell::Cell;
/// use agent_trace_metrics::spin::{SpinGuard, SpinLock};
///
/// fn shared_between_threads<T: Sync>(_: &T) {}
/// let lock = SpinLock::new(Cell::new(0));
/// let guard: SpinGuard<'_, Cell<i32>> = lock.lock();
/// shared_between_threads(&guard); // `Cell` is not `Sync`: refused
/// ```
///
/// ```
/// use agent_trace_metrics::spin::{SpinGuard, SpinLock};
///
/// fn shared_between_threads<T: Sync>(_: &T) {}
/// let lock = SpinLock::new(0u64);
/// let guard: SpinGuard<'_, u64> = lock.lock();
/// shared_between_threads(&guard); // `u64` is `Sync`: fine
/// ```
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    /// What the guard hands out, for the auto traits: `Sync` needs
    /// `T: Sync` (and `Send` needs `T: Send`, which the lock's `Sync`
    /// already asks).
    _access: PhantomData<&'a mut T>,
}

impl<T> fmt::Debug for SpinGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinGuard").finish_non_exhaustive()
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `SpinLock`), so no
        // `&mut T` exists elsewhere while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `try_lock` that finds the lock taken leaves it taken, and never
    /// fails on a free lock.
    #[test]
    fn a_failed_try_lock_leaves_the_lock_held() {
        let lock = SpinLock::new(0u32);
        let held = lock.try_lock().expect("a free lock is taken at once");
        assert!(lock.try_lock().is_none());
        assert!(lock.try_lock().is_none(), "a failed attempt unlocked it");
        drop(held);
        assert!(!lock.is_locked());
        assert!(lock.try_lock().is_some(), "free again");
    }

    /// Two threads adding under the lock lose no update.
    #[test]
    fn contended_updates_are_all_kept() {
        let lock = SpinLock::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..100_000 {
                        *lock.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*lock.lock(), 200_000);
    }
}
