//! `list`, `stats` and `diff` stream: a file of 50,000 spans, each trace
//! spread over many lines, sums up exactly, with a peak of heap far below
//! what keeping the spans would take (counted by this test binary's
//! allocator), and two such files compare in the same bounded memory.
//!
//! The test behind the feature `large-file-tests` measures a file of one million spans through the
//! binary; run it on a release build to see the figures:
//!
//! ```text
//! cargo test --release -p agent-trace-cli --features large-file-tests --test large_files_stream -- --nocapture
//! ```
#![cfg_attr(
    not(feature = "large-file-tests"),
    allow(
        dead_code,
        unused_imports,
        reason = "the helpers serve the tests behind `large-file-tests`"
    )
)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use agent_trace_cli::{DiffOptions, Metric, TraceFile, Verdict, diff, operation_stats, summarize};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time, so that the peak is this test's.
static SERIAL: Mutex<()> = Mutex::new(());

/// The peak of live heap bytes above what was live before, while `f` ran.
fn peak_heap_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

const T0: u64 = 1_767_225_600_000_000_000;
const MS: u64 = 1_000_000;
const OPERATIONS: [&str; 4] = ["chat", "execute_tool", "memory_lookup", "validate"];

/// Trace `t` has `per_trace` spans: the root (span 0) lasts
/// `100 + (t % 7) * 50` ms; span `k > 0` starts `k` ms in, lasts 1 ms and
/// is named `OPERATIONS[k % 4]`; every tenth trace has one error span
/// (span 1). Lines hold `per_line` spans in the order (k, t): every trace
/// is spread over many lines, its root last, as a batch exporter writes
/// them.
fn write_file(path: &Path, traces: u64, per_trace: u64, per_line: usize) {
    write_file_with(path, traces, per_trace, per_line, 1);
}

/// As [`write_file`], with `chat` spans lasting `chat_ms` (a `chat` span
/// ends within its 1 ms slot or past it; nothing else moves).
fn write_file_with(path: &Path, traces: u64, per_trace: u64, per_line: usize, chat_ms: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut line = Vec::with_capacity(per_line);
    let order = (1..per_trace).chain([0]);
    for k in order {
        for t in 0..traces {
            let start = T0 + t * 10 * MS;
            let (parent, name, s, e) = if k == 0 {
                (None, "agent_task", start, start + (100 + (t % 7) * 50) * MS)
            } else {
                (
                    Some(0x1_0000_0000 + t * 1_000),
                    OPERATIONS[(k % 4) as usize],
                    start + k * MS,
                    start + k * MS + if k % 4 == 0 { chat_ms } else { 1 } * MS,
                )
            };
            line.push(support::GenSpan {
                trace: 0xa000_0000_0000_0000_0000_0000_0000 + u128::from(t),
                span: 0x1_0000_0000 + t * 1_000 + k,
                parent,
                name,
                start_ns: s,
                end_ns: e,
                error: k == 1 && t % 10 == 0,
            });
            if line.len() == per_line {
                out.write_all(support::json_line("load-test", &line).as_bytes())
                    .unwrap();
                line.clear();
            }
        }
    }
    if !line.is_empty() {
        out.write_all(support::json_line("load-test", &line).as_bytes())
            .unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn fifty_thousand_spans_sum_up_exactly_in_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = support::TempDir::new("fifty-thousand");
    let path = dir.path("50k.jsonl");
    let (traces, per_trace) = (2_500u64, 20u64);
    write_file(&path, traces, per_trace, 500);
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    let file = TraceFile::new(&path);

    let ((summaries, read), peak) =
        peak_heap_during(|| summarize(&file, |m| panic!("malformed: {m}")).unwrap());
    assert_eq!((read.spans, read.batches, read.malformed), (50_000, 100, 0));
    assert_eq!(summaries.len(), 2_500);
    for (t, s) in (0..traces).zip(&summaries) {
        assert_eq!(
            s.trace_id.to_string(),
            format!(
                "{:032x}",
                0xa000_0000_0000_0000_0000_0000_0000 + u128::from(t)
            )
        );
        assert_eq!(s.root_name, "agent_task");
        assert_eq!(s.spans, per_trace);
        assert_eq!(s.start_unix_nanos, T0 + t * 10 * MS);
        assert_eq!(s.duration_nanos(), (100 + (t % 7) * 50) * MS);
        assert_eq!(s.error_spans, u64::from(t % 10 == 0));
    }
    // Keeping the spans would take more than the file's bytes; the
    // summaries, one line and the reader's buffer take a fraction.
    assert!(
        peak < 6 << 20 && (peak as u64) < file_bytes / 3,
        "peak heap {peak} bytes for a file of {file_bytes} bytes"
    );

    let ((ops, _), peak) =
        peak_heap_during(|| operation_stats(&file, 100, |m| panic!("malformed: {m}")).unwrap());
    let counts: Vec<(&str, u64)> = ops
        .iter()
        .map(|o| (o.operation.as_str(), o.count))
        .collect();
    // Spans 1..=19 by k % 4: 0 (4, 8, 12, 16) is chat, 4 per trace; 1, 2
    // and 3 are execute_tool, memory_lookup and validate, 5 per trace.
    assert_eq!(
        counts,
        [
            ("agent_task", 2_500),
            ("chat", 10_000),
            ("execute_tool", 12_500),
            ("memory_lookup", 12_500),
            ("validate", 12_500)
        ]
    );
    let chat = &ops[1];
    assert!((chat.mean - 0.001).abs() < 1e-12 && (chat.max - 0.001).abs() < 1e-12);
    // 100 + 50 * (0 + 1 + ... + 6) / 7 ms over 2,500 traces, by residue.
    let exact_mean: f64 = (0..traces)
        .map(|t| (100 + (t % 7) * 50) as f64)
        .sum::<f64>()
        / traces as f64
        / 1e3;
    assert!((ops[0].mean - exact_mean).abs() < 1e-9);
    assert!(peak < 6 << 20, "peak heap {peak} bytes");
}

/// Compares `base` with `head` (chat spans twice as long, the rest the
/// same) in this process: the chat p50 doubled and flagged, nothing else
/// flagged; the peak heap of the comparison.
fn diff_doubles_chat(base: &Path, head: &Path) -> usize {
    let (d, peak) = peak_heap_during(|| {
        diff(
            &TraceFile::new(base),
            &TraceFile::new(head),
            &DiffOptions::default(),
            |m| panic!("malformed: {m}"),
        )
        .unwrap()
    });
    let chat = d.rows.iter().find(|r| r.name == "chat").unwrap();
    let p50 = chat.metric(Metric::P50).unwrap();
    assert_eq!(p50.verdict, Verdict::Worse, "{p50:?}");
    // 1 ms, then 2 ms: the sketch is within 1%.
    assert!(
        p50.relative.is_some_and(|r| (r - 1.0).abs() < 0.03),
        "{p50:?}"
    );
    let others: Vec<&str> = d
        .rows
        .iter()
        .filter(|r| r.is_flagged() && r.name != "chat")
        .map(|r| r.name.as_str())
        .collect();
    // Traces are as long (their roots are), so only chat moved.
    assert_eq!(others, Vec::<&str>::new());
    assert_eq!(d.baseline.spans, d.current.spans);
    peak
}

#[test]
fn two_files_of_fifty_thousand_spans_compare_in_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = support::TempDir::new("fifty-thousand-diff");
    let (base, head) = (dir.path("base.jsonl"), dir.path("head.jsonl"));
    write_file(&base, 2_500, 20, 500);
    write_file_with(&head, 2_500, 20, 500, 2);
    let peak = diff_doubles_chat(&base, &head);
    // One side's per-trace summaries (2,500 traces) at a time, and a few
    // sketches; the spans would be tens of megabytes.
    assert!(peak < 6 << 20, "peak heap {peak} bytes");
}

/// `/usr/bin/time -v`'s peak resident set size of `agent-trace ARGS`, in
/// KiB, and the wall time, if GNU time is installed.
fn measure(args: &[&str]) -> (f64, Option<u64>) {
    let bin = env!("CARGO_BIN_EXE_agent-trace");
    let start = Instant::now();
    let timed = Path::new("/usr/bin/time").exists();
    let out = if timed {
        std::process::Command::new("/usr/bin/time")
            .arg("-v")
            .arg(bin)
            .args(args)
            .output()
    } else {
        std::process::Command::new(bin).args(args).output()
    }
    .expect("agent-trace runs");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok());
    (secs, rss)
}

#[test]
// Writes a file of one million spans (about 440 MB) and times the release
// binary: compiled with the test-only feature `large-file-tests`, run by hand.
#[cfg(feature = "large-file-tests")]
fn one_million_spans_list_and_stats_in_seconds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = support::TempDir::new("one-million");
    let path = dir.path("1m.jsonl");
    let started = Instant::now();
    write_file(&path, 20_000, 50, 512);
    let bytes = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "wrote {} ({} MB, 1,000,000 spans, 20,000 traces) in {:.1} s",
        path.display(),
        bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    let file = path.to_str().unwrap();
    for args in [["list", file], ["stats", file]] {
        let (secs, rss) = measure(&args);
        eprintln!(
            "agent-trace {}: {secs:.2} s, peak RSS {}",
            args[0],
            rss.map_or("unknown (no /usr/bin/time)".to_owned(), |kb| format!(
                "{} MB",
                kb / 1024
            ))
        );
        if !cfg!(debug_assertions) {
            assert!(secs < 20.0, "{} took {secs:.1} s", args[0]);
            if let Some(kb) = rss {
                assert!(kb < 200 * 1024, "{} peaked at {kb} KiB", args[0]);
            }
        }
    }
}

#[test]
// Writes two files of one million spans each (about 440 MB each) and
// compares them, in this process (the peak heap, counted) and through the
// release binary (time, peak RSS): with the test-only feature
// `large-file-tests`, run by hand.
#[cfg(feature = "large-file-tests")]
fn two_files_of_one_million_spans_diff_in_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = support::TempDir::new("one-million-diff");
    let (base, head) = (dir.path("base.jsonl"), dir.path("head.jsonl"));
    let started = Instant::now();
    write_file(&base, 20_000, 50, 512);
    write_file_with(&head, 20_000, 50, 512, 2);
    eprintln!(
        "wrote two files of 1,000,000 spans (20,000 traces) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let peak = diff_doubles_chat(&base, &head);
    eprintln!(
        "diff in process: {:.2} s, peak heap {:.1} MB",
        started.elapsed().as_secs_f64(),
        peak as f64 / 1e6
    );
    // One side's 20,000 trace summaries at a time (a few hundred bytes
    // each) and the sketches: independent of the million spans.
    assert!(peak < 24 << 20, "peak heap {peak} bytes");
    let (base, head) = (base.to_str().unwrap(), head.to_str().unwrap());
    let (secs, rss) = measure(&["diff", base, head]);
    eprintln!(
        "agent-trace diff: {secs:.2} s, peak RSS {}",
        rss.map_or("unknown (no /usr/bin/time)".to_owned(), |kb| format!(
            "{} MB",
            kb / 1024
        ))
    );
    if !cfg!(debug_assertions) {
        assert!(secs < 40.0, "diff took {secs:.1} s");
        if let Some(kb) = rss {
            assert!(kb < 200 * 1024, "diff peaked at {kb} KiB");
        }
    }
}
