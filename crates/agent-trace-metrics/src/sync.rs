//! What the spin lock ([`crate::spin`]) and the clock's ticker
//! ([`crate::clock`]) are built on: std's atomics, cell, lock, threads and
//! spin hints, or, under `cfg(loom)` only, loom's, so that the loom models
//! (`tests/loom_spin.rs`, and the unit test `loom_model` in `clock.rs`,
//! run by `cargo xtask loom`) check their own code under every
//! interleaving and memory ordering they explore. A normal build compiles
//! the `std` re-exports and nothing else.

#[cfg(not(loom))]
pub(crate) use std::{
    cell::UnsafeCell, hint::spin_loop, sync::atomic::AtomicBool, thread::yield_now,
};
// The ticker's.
#[cfg(not(loom))]
pub(crate) use std::{
    sync::{Mutex, atomic::AtomicU64},
    thread::{Builder, Thread, park_timeout},
};

#[cfg(loom)]
pub(crate) use self::loom_shim::{AtomicBool, UnsafeCell};
#[cfg(loom)]
pub(crate) use loom::{hint::spin_loop, thread::yield_now};
// The ticker's.
#[cfg(all(loom, test))]
pub(crate) use self::loom_shim::threads;
#[cfg(loom)]
pub(crate) use self::loom_shim::{Builder, park_timeout};
#[cfg(loom)]
pub(crate) use loom::{
    sync::{Mutex, atomic::AtomicU64},
    thread::Thread,
};

/// Loom's types in std's shape (only what the lock and the ticker use).
#[cfg(loom)]
mod loom_shim {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// The ticker's wait: loom has no timed park, so a park that only an
    /// unpark ends. The model explores no timeout, then: each would be one
    /// more turn of the ticker's loop (a check of its generation, a tick),
    /// which the turns it does explore already contain; and a ticker that
    /// nobody wakes to stop hangs the model (loom reports a deadlock)
    /// instead of exiting at its next timeout.
    pub(crate) fn park_timeout(_: Duration) {
        loom::thread::park();
    }

    /// Loom's thread builder, which also keeps each thread it starts (its
    /// handle, and whether it has ended), so that the ticker's model can
    /// see which tickers are alive and join them all. Only the ticker
    /// starts threads through it.
    #[derive(Debug)]
    pub(crate) struct Builder(loom::thread::Builder);

    /// A started thread: what the ticker keeps of std's `JoinHandle`.
    #[derive(Debug)]
    pub(crate) struct Started(loom::thread::Thread);

    impl Started {
        pub(crate) fn thread(&self) -> &loom::thread::Thread {
            &self.0
        }
    }

    impl Builder {
        pub(crate) fn new() -> Self {
            Self(loom::thread::Builder::new())
        }

        pub(crate) fn name(self, name: String) -> Self {
            Self(self.0.name(name))
        }

        pub(crate) fn spawn(self, f: impl FnOnce() + Send + 'static) -> std::io::Result<Started> {
            // The bookkeeping's lock is never held across a loom operation
            // (here, the spawn), at which loom may run another thread.
            let index = {
                let mut started = threads::STARTED.lock().unwrap();
                started.push(threads::Entry {
                    handle: None,
                    ended: false,
                });
                started.len() - 1
            };
            let handle = self.0.spawn(move || {
                f();
                threads::STARTED.lock().unwrap()[index].ended = true;
            })?;
            let thread = handle.thread().clone();
            threads::STARTED.lock().unwrap()[index].handle = Some(handle);
            Ok(Started(thread))
        }
    }

    /// The threads [`Builder`] started in this execution of a model, in
    /// order. Bookkeeping outside the modelled state (std's lock, which no
    /// loom operation interrupts), made afresh for each execution.
    pub(crate) mod threads {
        use std::sync::Mutex;

        pub(super) struct Entry {
            pub(super) handle: Option<loom::thread::JoinHandle<()>>,
            pub(super) ended: bool,
        }

        loom::lazy_static! {
            pub(super) static ref STARTED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
        }

        /// How many threads were started.
        #[cfg(test)]
        pub(crate) fn started() -> usize {
            STARTED.lock().unwrap().len()
        }

        /// Whether the `index`th thread started has returned.
        #[cfg(test)]
        pub(crate) fn ended(index: usize) -> bool {
            STARTED.lock().unwrap()[index].ended
        }

        /// Waits for every thread started so far to end.
        #[cfg(test)]
        pub(crate) fn join_all() {
            let handles: Vec<_> = STARTED
                .lock()
                .unwrap()
                .iter_mut()
                .filter_map(|entry| entry.handle.take())
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
        }
    }

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
