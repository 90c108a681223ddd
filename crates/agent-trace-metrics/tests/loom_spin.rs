//! Loom models of the spin lock (`src/spin.rs`): its own code, compiled
//! with loom's atomics and cell (`src/sync.rs`), under every interleaving
//! of the threads below (exhaustively: each model takes milliseconds;
//! `LOOM_MAX_PREEMPTIONS` would bound them). Each access to the guarded
//! value is checked by loom against the previous holder's: a lock that
//! lets two holders in, or that does not order one holder's writes before
//! the next holder's reads (an unlock store weaker than `Release`, a lock
//! exchange weaker than `Acquire`), fails the model.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p agent-trace-metrics --release --test loom_spin`

#![cfg(loom)]

use std::panic::{self, AssertUnwindSafe};

use agent_trace_metrics::spin::SpinLock;
use loom::sync::Arc;
use loom::thread;

/// Two threads adding through `lock()` (a read and a write each, through
/// the guard) lose no update, whichever finds the lock taken and spins.
#[test]
fn two_threads_adding_under_the_lock_lose_no_update() {
    loom::model(|| {
        let lock = Arc::new(SpinLock::new(0_u64));
        let adders: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                thread::spawn(move || {
                    let mut guard = lock.lock();
                    let seen = *guard;
                    *guard = seen + 1;
                })
            })
            .collect();
        for adder in adders {
            adder.join().unwrap();
        }
        assert_eq!(*lock.lock(), 2);
        assert!(!lock.is_locked());
    });
}

/// A `try_lock` that finds the lock held leaves it held: the holder keeps
/// sole access until it drops its guard (a guard built for the failed
/// attempt and dropped would unlock the holder's lock, and the trier's
/// `lock()` would then write while the holder still does).
#[test]
fn a_failed_try_lock_leaves_the_holder_alone() {
    loom::model(|| {
        let lock = Arc::new(SpinLock::new(0_u64));
        let holder = {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut guard = lock.lock();
                *guard += 1;
                thread::yield_now();
                *guard += 1;
            })
        };
        let tried = lock.try_lock().map(|mut guard| *guard += 10).is_some();
        *lock.lock() += 100;
        holder.join().unwrap();
        let expected = if tried { 112 } else { 102 };
        assert_eq!(*lock.lock(), expected);
    });
}

/// `try_lock` on a free lock succeeds, whether the lock was never taken or
/// was released by another thread (never a spurious failure: the shim's
/// weak exchange fails spuriously, so a `try_lock` built on it fails here).
#[test]
fn a_try_lock_on_a_free_lock_never_fails() {
    loom::model(|| {
        let lock = Arc::new(SpinLock::new(0_u64));
        *lock.try_lock().expect("a free lock") += 1;
        let other = {
            let lock = lock.clone();
            thread::spawn(move || *lock.lock() += 1)
        };
        other.join().unwrap();
        let guard = lock.try_lock().expect("released by the other thread");
        assert_eq!(*guard, 2);
    });
}

/// A guard dropped while its thread unwinds unlocks: the other thread gets
/// the lock, and sees the panicking holder's write.
#[test]
fn a_guard_dropped_while_unwinding_unlocks() {
    const MESSAGE: &str = "a panic while holding the lock (expected)";
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&MESSAGE) {
            default_hook(info);
        }
    }));
    loom::model(|| {
        let lock = Arc::new(SpinLock::new(0_u64));
        let panicking = {
            let lock = lock.clone();
            thread::spawn(move || {
                let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
                    let mut guard = lock.lock();
                    *guard += 1;
                    panic::panic_any(MESSAGE);
                }));
                assert!(unwound.is_err());
            })
        };
        let other = {
            let lock = lock.clone();
            thread::spawn(move || *lock.lock() += 1)
        };
        panicking.join().unwrap();
        other.join().unwrap();
        assert_eq!(*lock.lock(), 2);
        assert!(!lock.is_locked());
    });
}
