//! CPU clocks for the benches that are not criterion (the overload harness
//! and the agent workload): Linux's `clock_gettime` on a CPU-time clock.
//! One file, included with `#[path]` by both.
#![allow(dead_code, reason = "each includer reads one of the two clocks")]

/// The calling thread's CPU clock.
pub(crate) const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
/// The process's CPU clock, threads that have exited included.
pub(crate) const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;

/// The CPU time of `clock` in nanoseconds.
pub(crate) fn cpu_ns(clock: i32) -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable `struct timespec` (two 64-bit fields
    // on the 64-bit Linux targets these benches run on), and the clock ids
    // above are Linux's constants for CPU-time clocks.
    let rc = unsafe { clock_gettime(clock, &mut t) };
    assert_eq!(rc, 0, "clock_gettime({clock}) failed");
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}
