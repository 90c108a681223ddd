//! The batch pipeline under overload: application threads start spans as
//! fast as they can, for a fixed time, through the real pipeline into an
//! exporter that discards, ours next to `opentelemetry_sdk`'s batch span
//! processor and fastrace's global collector in the same run. Not a
//! criterion bench: the figures are rates and counts over a whole run, not
//! the time of one call.
//!
//! Each configuration (implementation x 1 or 2 application threads) runs in
//! a child process of its own (this binary, run again with `--child`), so
//! that its peak resident memory (`VmHWM`) is its own and no background
//! thread or backlog of one configuration slows the next. A child:
//!
//! 1. measures the *idle* cost of a span: 256 spans on one thread, then a
//!    flush, repeated 200 times (600 for runs of 2 s or more), so the
//!    export side is idle while spans are started (the per-span cost when
//!    the pipeline keeps up); once with the export worker pinned to the
//!    other CPU (where a busy worker usually runs, and the figure compared)
//!    and once with every thread on one CPU, as the two differ by about 2x
//!    here (memory freed by the worker on another core comes back to the
//!    application's allocations through cache misses), and an unpinned
//!    measurement swings between them from run to run;
//! 2. runs the *overload*, unpinned: `threads` threads start spans (a root
//!    span with two attributes, as the `root_span_2_attrs` criterion
//!    workload) back to back for the run time, each timing itself with its
//!    thread CPU clock and the wall clock;
//! 3. flushes, and reports what was created, delivered and dropped.
//!
//! What is reported, per configuration:
//!
//! - created/s and delivered/s over the timed window (delivered = what the
//!   exporter or reporter had received when the window closed);
//! - dropped: ours counts it (`BatchStats`); the SDK counts drops
//!   internally but does not expose the figure, so it is derived
//!   (created - delivered after flush); fastrace never drops, its backlog
//!   (created - reported when the window closed) is shown instead;
//! - peak RSS and its growth over the RSS before the run;
//! - the per-span cost under overload relative to the idle cost. Cost is
//!   the application thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, kernel
//!   time included). Idle: the median over the bursts (a burst that another
//!   process interrupted is not the tracer's cost). Overload: the mean over
//!   the whole window, which is the figure compared, as contention with
//!   the export side is the tracer's cost; beside it the median over chunks
//!   of 256 spans (the clock is read once per chunk, well under 1 ns per
//!   span, into a fixed histogram, so measuring takes no memory per span),
//!   and the wall time per span, which also counts the time the
//!   thread waited for a core (three busy threads on two cores).
//!
//! More runs of ours: two threads for three times as long (the memory
//! bound must not move); one thread with `MALLOC_ARENA_MAX=1`, which shows
//! how much of the overload cost is glibc's per-thread malloc arenas (the
//! worker frees each span into the arena of the thread that made it, and
//! the two contend for that arena's lock); and (full mode) the one- and
//! two-thread runs twice more, as the figures move from run to run on this
//! machine (a 2-vCPU VM).
//!
//! Checked (the process exits non-zero when it fails):
//!
//! - for ours, after the final flush, `created == delivered + dropped`
//!   exactly, with nothing left queued or in flight, in every run;
//!
//! and reported, without failing, because they are timing figures on a
//! shared machine:
//!
//! - the export worker delivers at least 3 million spans/s (ours, one
//!   application thread, so the worker has a core of its own);
//! - ours stays within its memory bound: `(queue + batch + threads) x
//!   span size + recycled span allocations + 1 MiB per thread` above the
//!   RSS before the run (the recycled allocations: the core keeps finished
//!   spans' allocations for reuse, at most
//!   `agent_trace_core::span_pool_bytes_bound(threads + 1)` bytes; the span
//!   size is measured, in a child of its own, as the RSS growth of 100,000
//!   retained spans; the MiB, for each application thread and the worker,
//!   covers the stack pages and malloc arena a thread touches), and a run
//!   three times as long peaks no higher (within 1 MiB);
//! - ours costs at most 2x its idle CPU time per span under overload (the
//!   mean over the run against the idle median with the worker on the
//!   other CPU; the median over the repeated runs).
//!
//! ```text
//! cargo bench -p agent-trace-export --bench overload -- [--quick] [--secs S] [--reps N]
//! ```
//!
//! (`cargo xtask bench --overload` runs it.) It prints a markdown table on
//! stdout and progress on stderr. `--quick` runs 1 s per configuration
//! instead of 3, and ours once instead of three times (`--reps N`).

#[path = "support/cpu_time.rs"]
mod cpu_time;

use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use agent_trace_core::{AgentStepTracer, FinishedSpan, SpanProcessor};
use agent_trace_export::{BatchConfig, BatchSpanProcessor, FnExporter};
use fastrace::collector::{Config as FtConfig, Reporter, SpanRecord};
use fastrace::prelude::{Span as FtSpan, SpanContext as FtSpanContext};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use serde_json::{Value, json};

/// Spans per timed chunk: an idle burst, and what an application thread
/// starts between two looks at the clock and the stop flag under
/// overload. Below our batch size (512), so that the worker is not woken
/// during an idle burst, and far below every queue's capacity.
const CHUNK: u64 = 256;

/// Buckets of the per-chunk cost histogram: one per nanosecond per span.
const HISTOGRAM_BUCKETS: usize = 8192;

/// Idle bursts run before the timed ones.
const WARM_UP_BURSTS: u64 = 20;

/// Our per-span CPU budget under overload, relative to idle.
const MAX_OVERLOAD_FACTOR: f64 = 2.0;

/// The export worker's delivery target, spans per second.
const MIN_DELIVERY_RATE: f64 = 3_000_000.0;

/// Slack per thread (each application thread and the worker: the stack
/// pages and the malloc arena it touches) in the memory bound.
const THREAD_SLACK_BYTES: u64 = 1 << 20;

/// How much higher a run three times as long may peak.
const LONG_RUN_SLACK_BYTES: u64 = 1 << 20;

/// The implementations compared, as `--child` names them.
const IMPLS: [&str; 3] = ["ours", "opentelemetry_sdk", "fastrace"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let imp = args.get(at + 1).map_or("", String::as_str);
        let threads: usize = args.get(at + 2).and_then(|s| s.parse().ok()).unwrap_or(1);
        let secs: f64 = args.get(at + 3).and_then(|s| s.parse().ok()).unwrap_or(1.0);
        let report = match imp {
            "ours" => child_ours(threads, secs),
            "opentelemetry_sdk" => child_otel(threads, secs),
            "fastrace" => child_fastrace(threads, secs),
            "span_size" => span_size(),
            other => {
                eprintln!("overload: unknown implementation {other:?}");
                return ExitCode::FAILURE;
            }
        };
        println!("{report}");
        return ExitCode::SUCCESS;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|at| args.get(at + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1.0 } else { 3.0 });
    let reps = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|at| args.get(at + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 });
    parent(secs, reps)
}

// ---- the parent: runs the children, prints the table, checks ---------------

/// One child run: what it runs, and how the table names it.
struct Config {
    imp: &'static str,
    threads: usize,
    secs: f64,
    label: String,
    /// Environment variables of the child.
    env: &'static [(&'static str, &'static str)],
}

/// Runs this binary again with `--child imp threads secs` and reads the
/// JSON line it prints.
fn run_child(c: &Config) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    eprintln!(
        "overload: {}, {} thread(s), {} s",
        c.label, c.threads, c.secs
    );
    let out = Command::new(exe)
        .args([
            "--child",
            c.imp,
            &c.threads.to_string(),
            &c.secs.to_string(),
        ])
        .envs(c.env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "child {}/{} failed ({}): {}",
            c.label,
            c.threads,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let mut v: Value = serde_json::from_str(line)
        .map_err(|e| format!("child {}/{} printed {line:?}: {e}", c.label, c.threads))?;
    v["label"] = json!(c.label);
    Ok(v)
}

fn parent(secs: f64, reps: usize) -> ExitCode {
    match run_all(secs, reps) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("overload: {e}");
            ExitCode::FAILURE
        }
    }
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / f64::from(1 << 20))
}

fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else {
        format!("{:.0} k/s", per_sec / 1e3)
    }
}

/// Runs every configuration; `Ok(false)` when the accounting check failed.
fn run_all(secs: f64, reps: usize) -> Result<bool, String> {
    let span_bytes = num(
        &run_child(&Config {
            imp: "span_size",
            threads: 1,
            secs: 0.0,
            label: "span size".to_owned(),
            env: &[],
        })?,
        "bytes_per_span",
    );
    let mut configs = Vec::new();
    for imp in IMPLS {
        for threads in [1, 2] {
            configs.push(Config {
                imp,
                threads,
                secs,
                label: imp.to_owned(),
                env: &[],
            });
        }
    }
    // Ours again: its cost ratio moves from run to run on this machine, so
    // the target is judged on the median of `reps` runs.
    for _ in 1..reps {
        for threads in [1, 2] {
            configs.push(Config {
                imp: "ours",
                threads,
                secs,
                label: "ours, again".to_owned(),
                env: &[],
            });
        }
    }
    // The same, three times as long: the memory bound must not move.
    configs.push(Config {
        imp: "ours",
        threads: 2,
        secs: secs * 3.0,
        label: format!("ours ({} s run)", secs * 3.0),
        env: &[],
    });
    // What most of our overload cost is: glibc's per-thread malloc arenas,
    // the worker freeing into the application thread's arena (see
    // BENCHMARKS.md). One arena for the whole process shows it.
    configs.push(Config {
        imp: "ours",
        threads: 1,
        secs,
        label: "ours, MALLOC_ARENA_MAX=1".to_owned(),
        env: &[("MALLOC_ARENA_MAX", "1")],
    });
    let rows = configs
        .iter()
        .map(run_child)
        .collect::<Result<Vec<_>, _>>()?;

    println!("### Overload: spans started back to back for {secs} s per run\n");
    println!(
        "| implementation | app threads | created | delivered | dropped | backlog at stop \
         | peak RSS (growth) | idle CPU/span (same core) | overload CPU/span, mean (x idle) \
         | overload CPU/span, median chunk (x idle) | overload wall/span (x idle) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let idle = num(r, "idle_cpu_ns");
        let mean = num(r, "overload_cpu_ns");
        let median = num(r, "overload_median_cpu_ns");
        let wall = num(r, "overload_wall_ns");
        let dropped = match r["dropped_kind"].as_str() {
            Some("counted") => format!("{} (counted)", count(r, "dropped")),
            Some("derived") => format!("{} (derived)", count(r, "dropped")),
            _ => "never drops".to_owned(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {idle:.0} ns ({:.0} ns) | {mean:.0} ns ({:.2}x) \
             | {median:.0} ns ({:.2}x) | {wall:.0} ns ({:.2}x) |",
            r["label"].as_str().unwrap_or("?"),
            count(r, "threads"),
            rate(num(r, "created_per_sec")),
            rate(num(r, "delivered_per_sec")),
            dropped,
            count(r, "backlog_at_stop"),
            mib(num(r, "peak_rss_bytes")),
            mib(num(r, "peak_rss_bytes") - num(r, "base_rss_bytes")),
            num(r, "idle_same_core_cpu_ns"),
            mean / idle,
            median / idle,
            wall / idle,
        );
    }
    let ours: Vec<&Value> = rows.iter().filter(|r| r["impl"] == "ours").collect();
    println!();
    println!(
        "created = delivered + dropped after the final flush (ours): {}",
        ours.iter()
            .map(|r| format!(
                "{} = {} + {}",
                count(r, "created_total"),
                count(r, "delivered_total"),
                count(r, "dropped_total")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for r in rows.iter().filter(|r| r["impl"] == "fastrace") {
        println!(
            "fastrace, {} thread(s): {} of {} spans reported after draining for up to 30 s",
            count(r, "threads"),
            count(r, "delivered_total"),
            count(r, "created_total"),
        );
    }
    println!();

    // The checks.
    let mut exact = true;
    let mut lines = Vec::new();
    for r in &ours {
        let ok = r["accounting_exact"].as_bool() == Some(true);
        exact &= ok;
        if !ok {
            lines.push(format!(
                "- FAILED: {}, {} thread(s): accounting not exact: {}",
                r["label"].as_str().unwrap_or("?"),
                count(r, "threads"),
                r["stats"]
            ));
        }
    }
    lines.push(format!(
        "- {} created = delivered + dropped, exactly, after flush, in every run of ours",
        if exact { "met:" } else { "NOT MET:" }
    ));

    let default_runs: Vec<&Value> = ours
        .iter()
        .copied()
        .filter(|r| r["label"] == "ours")
        .collect();
    let [one, two] = default_runs[..] else {
        return Err("missing runs of ours".to_owned());
    };
    let default_runs_all: Vec<&Value> = ours
        .iter()
        .copied()
        .filter(|r| r["label"] == "ours" || r["label"] == "ours, again")
        .collect();
    let delivered = num(one, "delivered_per_sec");
    let limit = count(one, "dropped") > 0;
    lines.push(format!(
        "- {} the export worker delivers {} with a discarding exporter, one application thread \
         (target >= 3 M/s; {}); {} with two application threads on the two cores",
        match (delivered >= MIN_DELIVERY_RATE, limit) {
            (true, _) => "met:",
            (false, true) => "NOT MET:",
            (false, false) => "not shown:",
        },
        rate(delivered),
        if limit {
            "spans were dropped, so this is the worker's limit"
        } else {
            "nothing was dropped, so this is the creation rate, not the worker's limit"
        },
        rate(num(two, "delivered_per_sec")),
    ));

    let mut memory_ok = true;
    let mut bounds = Vec::new();
    for r in &ours {
        let threads = count(r, "threads");
        let live = count(r, "queue_size") + count(r, "batch_size") + threads;
        // The worker is a thread too: its cache of recycled span
        // allocations counts.
        let recycled = agent_trace_core::span_pool_bytes_bound(threads as usize + 1);
        let bound = live as f64 * span_bytes
            + recycled as f64
            + ((threads + 1) * THREAD_SLACK_BYTES) as f64;
        let growth = num(r, "peak_rss_bytes") - num(r, "base_rss_bytes");
        memory_ok &= growth <= bound;
        bounds.push(format!(
            "{}, {threads} thread(s), {} s: {} <= {}",
            r["label"].as_str().unwrap_or("?"),
            num(r, "secs"),
            mib(growth),
            mib(bound)
        ));
    }
    let long = rows
        .iter()
        .find(|r| r["impl"] == "ours" && num(r, "secs") > secs)
        .ok_or("no long run of ours")?;
    let flat =
        num(long, "peak_rss_bytes") <= num(two, "peak_rss_bytes") + LONG_RUN_SLACK_BYTES as f64;
    lines.push(format!(
        "- {} peak memory bounded by the queue: a span takes {span_bytes:.0} B (measured), bound \
         on the growth = (queue {} + batch {} + app threads) x span + recycled span allocations \
         (agent_trace_core::span_pool_bytes_bound) + 1 MiB per thread \
         (app threads and worker: stack, malloc arena); growth <= bound: {}; the {} s run peaks at {}, the {} s run at {} \
         (allowed: 1 MiB more)",
        if memory_ok && flat {
            "met:"
        } else {
            "NOT MET:"
        },
        count(two, "queue_size"),
        count(two, "batch_size"),
        bounds.join(", "),
        num(long, "secs"),
        mib(num(long, "peak_rss_bytes")),
        num(two, "secs"),
        mib(num(two, "peak_rss_bytes")),
    ));

    for threads in [1, 2] {
        let runs: Vec<&Value> = default_runs_all
            .iter()
            .copied()
            .filter(|r| count(r, "threads") == threads)
            .collect();
        let mut factors: Vec<f64> = runs
            .iter()
            .map(|r| num(r, "overload_cpu_ns") / num(r, "idle_cpu_ns"))
            .collect();
        factors.sort_by(f64::total_cmp);
        let factor = factors[factors.len() / 2];
        lines.push(format!(
            "- {} ours, {threads} thread(s): CPU per span under overload {factor:.2}x idle (mean \
             over the run against the idle median, worker on the other CPU; median of {} run(s): {}; target <= \
             {:.0}x)",
            if factor <= MAX_OVERLOAD_FACTOR {
                "met:"
            } else {
                "NOT MET:"
            },
            factors.len(),
            factors
                .iter()
                .map(|f| format!("{f:.2}x"))
                .collect::<Vec<_>>()
                .join(", "),
            MAX_OVERLOAD_FACTOR,
        ));
    }
    println!("Targets:\n");
    for l in &lines {
        println!("{l}");
    }
    Ok(exact)
}

// ---- the children ------------------------------------------------------------

/// What one application thread did in the timed window.
#[derive(Debug, Clone)]
struct ThreadRun {
    created: u64,
    cpu_ns: u64,
    wall_ns: u64,
    /// How many chunks of [`CHUNK`] spans took each whole number of
    /// nanoseconds of thread CPU time per span (the last bucket holds the
    /// rest): a fixed array, so that measuring takes no memory per span.
    chunks: Box<[u32; HISTOGRAM_BUCKETS]>,
}

/// The figures common to every child.
struct Run {
    threads: usize,
    secs: f64,
    idle: Idle,
    /// The idle measurement with every thread on one CPU.
    idle_same: Idle,
    base_rss: u64,
    window: Duration,
    runs: Vec<ThreadRun>,
    delivered_in_window: u64,
    backlog_at_stop: u64,
}

impl Run {
    fn created(&self) -> u64 {
        self.runs.iter().map(|r| r.created).sum()
    }

    fn json(&self, imp: &str) -> Value {
        let created = self.created();
        let cpu: u64 = self.runs.iter().map(|r| r.cpu_ns).sum();
        let wall: u64 = self.runs.iter().map(|r| r.wall_ns).sum();
        let mut chunks = [0u64; HISTOGRAM_BUCKETS];
        for r in &self.runs {
            for (sum, n) in chunks.iter_mut().zip(r.chunks.iter()) {
                *sum += u64::from(*n);
            }
        }
        let window = self.window.as_secs_f64();

        json!({
            "impl": imp,
            "threads": self.threads,
            "secs": self.secs,
            "idle_cpu_ns": median(self.idle.bursts_ns.clone()) / CHUNK as f64,
            "idle_same_core_cpu_ns": median(self.idle_same.bursts_ns.clone()) / CHUNK as f64,
            "overload_cpu_ns": cpu as f64 / created as f64,
            "overload_median_cpu_ns": histogram_median(&chunks),
            "overload_wall_ns": wall as f64 / created as f64,
            "created_per_sec": created as f64 / window,
            "delivered_per_sec": self.delivered_in_window as f64 / window,
            "backlog_at_stop": self.backlog_at_stop,
            "base_rss_bytes": self.base_rss,
            "peak_rss_bytes": status_bytes("VmHWM"),
        })
    }
}

/// The median of a histogram of whole nanoseconds (0 for an empty one).
fn histogram_median(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let mut seen = 0;
    for (ns, n) in counts.iter().enumerate() {
        seen += n;
        if seen * 2 >= total && total > 0 {
            return ns as f64;
        }
    }
    0.0
}

/// The middle value (0 for none).
fn median(mut xs: Vec<u64>) -> f64 {
    xs.sort_unstable();
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2] as f64,
        n => (xs[n / 2 - 1] + xs[n / 2]) as f64 / 2.0,
    }
}

/// The idle measurement: the thread CPU time of each burst.
#[derive(Debug, Default, Clone)]
struct Idle {
    bursts_ns: Vec<u64>,
}

impl Idle {
    /// Every span started, warm-up included.
    fn spans(&self) -> u64 {
        (self.bursts_ns.len() as u64 + WARM_UP_BURSTS) * CHUNK
    }
}

/// The idle cost, twice: with the other threads of the process (the export
/// worker) pinned to another CPU than this thread, which is where the
/// scheduler usually puts a busy worker, and with all threads on this
/// thread's CPU. The two differ by about 2x on this machine: a span's
/// memory freed by the worker on another core comes back to this core's
/// allocations through cache misses. Unpinned again afterwards, so that
/// the overload runs where the scheduler puts it.
fn idle_both(rounds: u64, mut one: impl FnMut(), mut flush: impl FnMut()) -> (Idle, Idle) {
    pin(Some(0), Some(1));
    let cross = idle(rounds, &mut one, &mut flush);
    pin(Some(0), Some(0));
    let same = idle(rounds, &mut one, &mut flush);
    pin(None, None);
    (cross, same)
}

/// Pins the calling thread to CPU `this` and every other thread of the
/// process to CPU `others` (`None`: any CPU). Threads started later
/// inherit the calling thread's setting. Failures (fewer CPUs) are ignored.
fn pin(this: Option<usize>, others: Option<usize>) {
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse::<i32>().ok());
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        set_affinity(tid, if Some(tid) == me { this } else { others });
    }
}

/// `sched_setaffinity` for one thread: one CPU, or any.
fn set_affinity(tid: i32, cpu: Option<usize>) {
    unsafe extern "C" {
        fn sched_setaffinity(pid: i32, size: usize, mask: *const u64) -> i32;
    }
    // A `cpu_set_t`: 1024 bits.
    let mut mask = [0u64; 16];
    match cpu {
        Some(c) if c < 1024 => mask[c / 64] |= 1 << (c % 64),
        _ => mask = [u64::MAX; 16],
    }
    // SAFETY: `mask` is a valid, readable `cpu_set_t` of the size passed;
    // the call only changes which CPUs the thread `tid` of this process
    // may run on, and an error (no such CPU) changes nothing.
    let _ = unsafe { sched_setaffinity(tid, std::mem::size_of_val(&mask), mask.as_ptr()) };
}

/// How many idle bursts a run of `secs` times.
fn idle_rounds(secs: f64) -> u64 {
    if secs < 2.0 { 200 } else { 600 }
}

/// `rounds` bursts of [`CHUNK`] spans with `flush` after each, timed on
/// this thread, after [`WARM_UP_BURSTS`] that warm up and are not counted.
fn idle(rounds: u64, mut one: impl FnMut(), mut flush: impl FnMut()) -> Idle {
    let mut m = Idle::default();
    for round in 0..rounds + WARM_UP_BURSTS {
        let c0 = thread_cpu_ns();
        for _ in 0..CHUNK {
            one();
        }
        let c1 = thread_cpu_ns();
        if round >= WARM_UP_BURSTS {
            m.bursts_ns.push(c1 - c0);
        }
        flush();
    }
    m
}

/// Runs `threads` threads calling `one` back to back for `secs`; `delivered`
/// reads how many spans the exporter has received so far. Returns each
/// thread's run, the window, and the spans delivered within it.
fn overload<T: Send>(
    threads: usize,
    secs: f64,
    delivered: impl Fn() -> u64,
    setup: impl Fn() -> T + Sync,
    one: impl Fn(&mut T) + Sync,
    after: impl Fn(&mut T, u64) + Sync,
) -> (Vec<ThreadRun>, Duration, u64) {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (stop, barrier, setup, one, after) = (&stop, &barrier, &setup, &one, &after);
                s.spawn(move || {
                    let mut state = setup();
                    let mut chunks = Box::new([0u32; HISTOGRAM_BUCKETS]);
                    barrier.wait();
                    let (c0, w0) = (thread_cpu_ns(), Instant::now());
                    let mut created = 0;
                    let mut last = c0;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..CHUNK {
                            one(&mut state);
                        }
                        created += CHUNK;
                        let now = thread_cpu_ns();
                        let per_span = ((now - last) / CHUNK) as usize;
                        chunks[per_span.min(HISTOGRAM_BUCKETS - 1)] += 1;
                        last = now;
                    }
                    let run = ThreadRun {
                        created,
                        cpu_ns: last - c0,
                        wall_ns: u64::try_from(w0.elapsed().as_nanos()).unwrap_or(u64::MAX),
                        chunks,
                    };
                    barrier.wait();
                    after(&mut state, created);
                    run
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let before = delivered();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        barrier.wait();
        let window = start.elapsed();
        let in_window = delivered() - before;
        let runs: Vec<ThreadRun> = handles
            .into_iter()
            .map(|h| h.join().expect("an application thread panicked"))
            .collect();
        (runs, window, in_window)
    })
}

/// Ours: the tracer with the batch pipeline at its default settings, into
/// an exporter that drops every batch.
fn our_pipeline() -> (AgentStepTracer, Arc<BatchSpanProcessor>, BatchConfig) {
    let config = BatchConfig::default();
    let exporter = FnExporter::new("discard", |batch: &[FinishedSpan]| {
        black_box(batch.len());
        Ok::<(), std::io::Error>(())
    });
    let batch = Arc::new(
        BatchSpanProcessor::builder(exporter)
            .config(config)
            .build()
            .expect("the worker starts"),
    );
    let tracer = AgentStepTracer::builder()
        .processor(batch.clone())
        .without_store()
        .build();
    (tracer, batch, config)
}

/// The workload's span, ours.
fn our_span(tracer: &AgentStepTracer) {
    let mut span = tracer.start_trace("root");
    span.set_attribute("model", "gpt-4");
    span.set_attribute("tokens", 150_i64);
    span.end();
}

/// Whether our pipeline accounts for exactly `created` spans, with none
/// left queued or in flight.
fn exact(stats: &agent_trace_export::BatchStats, created: u64) -> bool {
    stats.received == created
        && stats.exported + stats.dropped() == created
        && stats.queued == 0
        && stats.in_flight == 0
}

/// Ours, one continuous overload run.
fn child_ours(threads: usize, secs: f64) -> Value {
    let (tracer, batch, config) = our_pipeline();
    let one = our_span;
    let flush = || {
        batch
            .force_flush(Duration::from_secs(30))
            .expect("the discarding exporter never fails");
    };
    let (idle, idle_same) = idle_both(idle_rounds(secs), || one(&tracer), flush);
    let base_rss = status_bytes("VmRSS");
    let exported = || batch.stats().exported;
    let before = batch.stats();
    let (runs, window, delivered_in_window) = overload(
        threads,
        secs,
        exported,
        || tracer.clone(),
        |t| one(t),
        |_, _| {},
    );
    let at_stop = batch.stats();
    flush();
    let run = Run {
        threads,
        secs,
        idle,
        idle_same,
        base_rss,
        window,
        runs,
        delivered_in_window,
        backlog_at_stop: at_stop.queued + at_stop.in_flight,
    };
    let stats = batch.stats();
    let created = run.idle.spans() + run.idle_same.spans() + run.created();
    let exact = exact(&stats, created);
    let mut v = run.json("ours");
    v["dropped_kind"] = json!("counted");
    v["dropped"] = json!(stats.dropped() - before.dropped());
    v["dropped_total"] = json!(stats.dropped());
    v["created_total"] = json!(created);
    v["delivered_total"] = json!(stats.exported);
    v["accounting_exact"] = json!(exact);
    v["stats"] = json!(format!("{stats:?}"));
    v["queue_size"] = json!(config.max_queue_size());
    v["batch_size"] = json!(config.max_export_batch_size());
    drop(tracer);
    let _ = batch.shutdown(Duration::from_secs(5));
    v
}

/// An OpenTelemetry exporter that counts what it is given and drops it.
#[derive(Debug)]
struct Discard(Arc<AtomicU64>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// `opentelemetry_sdk`: its batch span processor at its defaults (queue
/// 2048, batch 512, its own thread), into an exporter that counts and
/// drops.
fn child_otel(threads: usize, secs: f64) -> Value {
    let exported = Arc::new(AtomicU64::new(0));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(Discard(exported.clone()))
                .build(),
        )
        .build();
    let tracer = provider.tracer("overload");
    let one = |tracer: &opentelemetry_sdk::trace::SdkTracer| {
        let mut span = tracer.start("root");
        span.set_attribute(KeyValue::new("model", "gpt-4"));
        span.set_attribute(KeyValue::new("tokens", 150_i64));
        span.end();
    };
    let flush = || {
        provider
            .force_flush()
            .expect("the discarding exporter never fails");
    };
    let (idle, idle_same) = idle_both(idle_rounds(secs), || one(&tracer), flush);
    let base_rss = status_bytes("VmRSS");
    let (runs, window, delivered_in_window) = overload(
        threads,
        secs,
        || exported.load(Ordering::Relaxed),
        || tracer.clone(),
        |t| one(t),
        |_, _| {},
    );
    flush();
    let run = Run {
        threads,
        secs,
        idle,
        idle_same,
        base_rss,
        window,
        runs,
        delivered_in_window,
        // Its queue is a bounded channel that drops when full.
        backlog_at_stop: 0,
    };
    let created = run.idle.spans() + run.idle_same.spans() + run.created();
    let delivered = exported.load(Ordering::Relaxed);
    let mut v = run.json("opentelemetry_sdk");
    v["dropped_kind"] = json!("derived");
    v["dropped"] = json!(created.saturating_sub(delivered));
    v["created_total"] = json!(created);
    v["delivered_total"] = json!(delivered);
    let _ = provider.shutdown();
    v
}

/// Spans fastrace has reported.
static FT_REPORTED: AtomicU64 = AtomicU64::new(0);

/// A fastrace reporter that counts what it is given and drops it.
struct FtDiscard;

impl Reporter for FtDiscard {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        FT_REPORTED.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// fastrace: its global collector at its defaults (a report every second,
/// a ring of 10,240 commands per thread and an unbounded queue behind it),
/// into a reporter that counts and drops.
fn child_fastrace(threads: usize, secs: f64) -> Value {
    fastrace::set_reporter(FtDiscard, FtConfig::default());
    let one = || {
        let span = FtSpan::root("root", FtSpanContext::random())
            .with_properties(|| [("model", "gpt-4"), ("tokens", "150")]);
        drop(span);
    };
    let (idle, idle_same) = idle_both(idle_rounds(secs), one, fastrace::flush);
    let base_rss = status_bytes("VmRSS");
    let created_before = idle.spans() + idle_same.spans();
    // Each thread's backlog waits on that thread until it sends again, and
    // what is left when it exits is lost; so every thread, once all have
    // stopped, sends and flushes until everything created was reported.
    let created_all = AtomicU64::new(created_before);
    let extra = AtomicU64::new(0);
    let ready = Barrier::new(threads);
    let reported_at_stop = Mutex::new(0);
    let (runs, window, delivered_in_window) = overload(
        threads,
        secs,
        || FT_REPORTED.load(Ordering::Relaxed),
        || (),
        |()| one(),
        |(), created| {
            created_all.fetch_add(created, Ordering::Relaxed);
            if ready.wait().is_leader() {
                *reported_at_stop.lock().unwrap() = FT_REPORTED.load(Ordering::Relaxed);
            }
            ready.wait();
            let deadline = Instant::now() + Duration::from_secs(30);
            while FT_REPORTED.load(Ordering::Relaxed)
                < created_all.load(Ordering::Relaxed) + extra.load(Ordering::Relaxed)
                && Instant::now() < deadline
            {
                drop(FtSpan::root("drain", FtSpanContext::random()));
                extra.fetch_add(1, Ordering::Relaxed);
                fastrace::flush();
            }
        },
    );
    fastrace::flush();
    let reported_at_stop = *reported_at_stop.lock().unwrap();
    let backlog_at_stop = created_all
        .load(Ordering::Relaxed)
        .saturating_sub(reported_at_stop);
    let created = created_all.load(Ordering::Relaxed);
    let run = Run {
        threads,
        secs,
        idle,
        idle_same,
        base_rss,
        window,
        runs,
        delivered_in_window,
        backlog_at_stop,
    };
    let delivered = FT_REPORTED
        .load(Ordering::Relaxed)
        .saturating_sub(extra.load(Ordering::Relaxed))
        .min(created);
    let mut v = run.json("fastrace");
    v["dropped_kind"] = json!("never");
    v["dropped"] = json!(0);
    v["created_total"] = json!(created);
    v["delivered_total"] = json!(delivered);
    v
}

/// The resident memory one of our finished spans (the workload's span)
/// takes, allocator overhead included: the RSS growth of 100,000 of them
/// kept alive, per span.
fn span_size() -> Value {
    const N: usize = 100_000;
    #[derive(Debug, Default)]
    struct Keep(Mutex<Vec<FinishedSpan>>);
    impl SpanProcessor for Keep {
        fn on_end(&self, span: FinishedSpan) {
            self.0.lock().unwrap().push(span);
        }
    }
    let keep = Arc::new(Keep(Mutex::new(Vec::with_capacity(N))));
    let tracer = AgentStepTracer::builder()
        .processor(keep.clone())
        .without_store()
        .build();
    let before = status_bytes("VmRSS");
    for _ in 0..N {
        let mut span = tracer.start_trace("root");
        span.set_attribute("model", "gpt-4");
        span.set_attribute("tokens", 150_i64);
        span.end();
    }
    let after = status_bytes("VmRSS");
    // The vector reserved 8 bytes a span up front, before the baseline, but
    // its pages are only touched as it fills: take them off.
    let touched_vector = (N * std::mem::size_of::<FinishedSpan>()) as u64;
    let per_span = (after - before).saturating_sub(touched_vector) as f64 / N as f64;
    json!({ "bytes_per_span": per_span, "size_of_span_data": std::mem::size_of::<agent_trace_core::SpanData>() })
}

// ---- measuring -----------------------------------------------------------------

/// A field of `/proc/self/status` given in kB, in bytes (0 if unreadable).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// The calling thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> u64 {
    cpu_time::cpu_ns(cpu_time::CLOCK_THREAD_CPUTIME_ID)
}
