//! What the spin lock ([`crate::spin`]) is built on: std's atomic flag,
//! cell and spin hints, or, under `cfg(loom)` only, loom's, so that the
//! loom models (`tests/loom_spin.rs`, run by `cargo xtask loom`) check the
//! lock's own code under every interleaving and memory ordering they
//! explore. A normal build compiles the `std` re-exports and nothing else.

#[cfg(not(loom))]
pub(crate) use std::{
    cell::UnsafeCell, hint::spin_loop, sync::atomic::AtomicBool, thread::yield_now,
};

#[cfg(loom)]
pub(crate) use self::loom_shim::{AtomicBool, UnsafeCell};
#[cfg(loom)]
pub(crate) use loom::{hint::spin_loop, thread::yield_now};

/// Loom's types in std's shape (only what the lock uses).
#[cfg(loom)]
mod loom_shim {
    use std::sync::atomic::Ordering;

    /// std's cell, each `get` of which is reported to loom (through a cell
    /// of loom's that holds nothing) as a write access, which loom checks
    /// against every earlier access. A holder whose accesses are not
    /// ordered after the previous holder's (a lock that does not
    /// synchronise) fails the model.
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T> {
        value: std::cell::UnsafeCell<T>,
        access: loom::cell::UnsafeCell<()>,
    }

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            Self {
                value: std::cell::UnsafeCell::new(value),
                access: loom::cell::UnsafeCell::new(()),
            }
        }

        #[track_caller]
        pub(crate) fn get(&self) -> *mut T {
            self.access.with_mut(|_| ());
            self.value.get()
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.value.get_mut()
        }
    }

    /// Loom's flag, whose first `compare_exchange_weak` fails spuriously
    /// (loom's never does; hardware may), so that a `try_lock` built on the
    /// weak exchange fails a model instead of passing it. Only the first:
    /// the later ones take the paths the real exchange takes (the first
    /// `lock()` of a flag goes the contended way, the others the fast way).
    #[derive(Debug, Default)]
    pub(crate) struct AtomicBool {
        inner: loom::sync::atomic::AtomicBool,
        /// Whether a weak exchange failed spuriously already. A plain std
        /// atomic: loom runs one thread at a time, and this is not part of
        /// the modelled state.
        spurious: std::sync::atomic::AtomicBool,
    }

    impl AtomicBool {
        pub(crate) fn new(value: bool) -> Self {
            Self {
                inner: loom::sync::atomic::AtomicBool::new(value),
                spurious: std::sync::atomic::AtomicBool::new(false),
            }
        }

        #[track_caller]
        pub(crate) fn load(&self, order: Ordering) -> bool {
            self.inner.load(order)
        }

        #[track_caller]
        pub(crate) fn store(&self, value: bool, order: Ordering) {
            self.inner.store(value, order);
        }

        #[track_caller]
        pub(crate) fn compare_exchange(
            &self,
            current: bool,
            new: bool,
            success: Ordering,
            failure: Ordering,
        ) -> Result<bool, bool> {
            self.inner.compare_exchange(current, new, success, failure)
        }

        #[track_caller]
        pub(crate) fn compare_exchange_weak(
            &self,
            current: bool,
            new: bool,
            success: Ordering,
            failure: Ordering,
        ) -> Result<bool, bool> {
            if !self.spurious.swap(true, Ordering::Relaxed) {
                return Err(self.inner.load(failure));
            }
            self.inner.compare_exchange(current, new, success, failure)
        }
    }
}
