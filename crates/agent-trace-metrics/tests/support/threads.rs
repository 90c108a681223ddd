//! Threads of this process by name, from `/proc/self/task/*/comm` (where
//! names are cut to 15 bytes), for the tests that no thread outlives its
//! need; each such test is alone in its binary.

use std::time::{Duration, Instant};

/// How many threads of this process `/proc` names `comm`.
pub(crate) fn named(comm: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == comm)
        })
        .count()
}

/// Waits (at most 10 s) until `n` threads named `comm` run.
pub(crate) fn wait_for(comm: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while named(comm) != n {
        assert!(
            Instant::now() < deadline,
            "{} `{comm}` threads after 10 s, expected {n}",
            named(comm)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
