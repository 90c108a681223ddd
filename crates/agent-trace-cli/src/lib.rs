//! The `agent-trace` command: look at trace files (a terminal waterfall,
//! latency statistics, a self-contained HTML report) with no server.
//!
//! It reads the JSON-lines files that `agent-trace-export`'s `FileExporter`
//! (the default exporter of `agent_trace::init()`) writes, one OTLP
//! `ExportTraceServiceRequest` a line, and OTLP JSON from other SDKs and
//! the OpenTelemetry Collector's file exporter (see [`otlp`] for what is
//! accepted).
//!
//! Every command takes any number of paths: trace files, and directories,
//! which stand for the trace files in them (`*.jsonl`, `*.json`,
//! `*.ndjson` and rotated copies, oldest first: see [`TraceFiles`]). With
//! no path it reads [`DEFAULT_DIRECTORY`], `./agent-trace/`, where
//! `init()` writes a new `traces-<time>-<pid>.jsonl` per run. The files
//! are read as one: a trace whose spans are in two files (a process
//! restarted mid-trace, two processes of one trace) is one trace.
//!
//! ```text
//! agent-trace list --slowest 10                  # every run in ./agent-trace/
//! agent-trace show 4bf92f35                      # a trace of any of them
//! agent-trace stats agent-trace/ other-service/  # two directories
//! agent-trace report agent-trace/traces-1767225600-4242.jsonl -o report.html
//! agent-trace diff base/ head/ --fail-on 'p95>+10%,errors>+1pp'   # a CI gate
//! ```
//!
//! This library is what the command runs; its functions return text and
//! data, and the binary (`src/main.rs`) only parses arguments and prints.
//!
//! # Quick start
//!
//! ```
//! use agent_trace_cli::{ListQuery, Paint, TraceFile, render_list, summarize};
//!
//! let path = std::env::temp_dir().join(format!("agent-trace-cli-lib-{}.jsonl", std::process::id()));
//! std::fs::write(&path, concat!(
//!     r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"doc"}}]},"#,
//!     r#""scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","#,
//!     r#""name":"agent_task","startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225601000000000"}]}]}]}"#,
//!     "\n",
//! ))?;
//! let (traces, read) = summarize(&TraceFile::new(&path), |m| eprintln!("warning: {m}"))?;
//! assert_eq!(read.malformed, 0);
//! let shown = ListQuery::default().apply(traces);
//! let table = render_list(&shown, 1, Paint::plain());
//! assert!(table.contains("4bf92f3577b34da6a3ce929d0e0e4736  2026-01-01T00:00:00.000Z     1.00s"));
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Key concepts
//!
//! - [`TraceFile::for_each_span`] streams a file one line at a time and
//!   hands each [`OtlpSpan`] (borrowing from the line) to a closure; a
//!   malformed line is reported ([`Malformed`]: its file, its number and
//!   what was wrong) and skipped.
//! - [`TraceFiles`] is the files a command was given (directories
//!   expanded, `./agent-trace/` by default), streamed one after the other;
//!   the commands' functions take any [`SpanSource`], one [`TraceFile`] or
//!   [`TraceFiles`], and key what they keep by trace id, so the file a
//!   span came from does not matter.
//! - `list` keeps a [`TraceSummary`] per trace ([`Summaries`]), `stats` a
//!   sketch per operation ([`LatencyStats`], the `LatencyMetrics` of
//!   `agent-trace-metrics`); neither keeps spans, so both run in memory
//!   bounded by the number of traces or operations, not spans.
//! - `diff` compares two sets of runs ([`diff()`], one [`DiffSide`] a
//!   side): per operation and per trace, a sketch, rank-test buckets and
//!   running moments, read one side after the other; a change is flagged
//!   only when it is larger than the samples' noise, the p-values of a run
//!   adjusted together (see the module `significance`). [`FailOn`] is the
//!   `--fail-on` grammar of its CI gate, [`build_comparison_report`] the
//!   same comparison in the HTML report.
//! - `show` and `report` keep the spans of the traces they draw
//!   ([`load_trace`], [`build_report`]); the tree order comes from one
//!   function, [`waterfall_rows`], for both.
//!
//! # Performance
//!
//! `list` and `stats` read their files once, one line at a time, one file
//! after the other (so several files cost what one file of their total
//! size costs). Measured on the
//! 2-core development machine (release build, `/usr/bin/time -v`, other
//! builds running) on one million spans:
//!
//! | file | `list` | `stats` |
//! |---|---|---|
//! | `agent_workflow` example's spans copied to 1,000,064 spans, 195,325 traces, 656 MB | 2.9 s CPU (4.3 s wall), 90 MB peak RSS | 2.3 s CPU (3.4 s wall), 4.6 MB |
//! | `tests/large_files_stream.rs`'s file: 1,000,000 spans, 20,000 traces, 413 MB | 1.5 to 2.8 s wall, 12 MB | 1.2 to 1.8 s wall, 4 MB |
//!
//! `list`'s memory is its per-trace summaries (a few hundred bytes a
//! trace), `stats`'s a sketch per operation; neither depends on the number
//! of spans. The test behind the feature `large-file-tests` in
//! `tests/large_files_stream.rs` writes such
//! a file and times the binary.

#![forbid(unsafe_code)]

pub mod otlp;

mod diff;
mod error;
mod format;
mod gate;
mod pricing;
mod reader;
mod report;
mod significance;
mod source;
mod stats;
mod summary;
mod waterfall;

pub use diff::{
    ALL_TRACES, Diff, DiffFormat, DiffOptions, DiffSide, Metric, MetricDiff, RowDiff, RowKind,
    SideInfo, SideStats, TRACES_OF_ROOT, Verdict, compare, diff, render_diff,
};
pub use error::Error;
pub use format::{Paint, format_cost, format_duration, format_seconds, format_timestamp};
pub use gate::{FailOn, GateFailure, GateOutcome, OVERALL};
pub use otlp::{
    AnyValue, OtlpEvent, OtlpKeyValue, OtlpLink, OtlpSpan, OtlpSpanKind, OtlpStatus, StatusCode,
};
pub use pricing::Pricing;
pub use reader::{Malformed, Origin, ReadStats, TraceFile, UNKNOWN_SERVICE};
pub use report::{ReportOptions, ReportSummary, build_comparison_report, build_report};
pub use source::{DEFAULT_DIRECTORY, SpanSource, TRACE_FILE_EXTENSIONS, TraceFiles};
pub use stats::{
    DEFAULT_MAX_OPERATIONS, Histogram, LatencyStats, OTHER_OPERATIONS, OperationStats,
    StatsSortKey, operation_stats, render_stats,
};
pub use summary::{
    COST, COST_CURRENCY, INPUT_TOKENS, ListQuery, OPERATION_NAME, OUTPUT_TOKENS, SortKey,
    Summaries, TraceSummary, render_list, summarize, summarize_with, write_list,
};
pub use waterfall::{
    LoadedTrace, Row, TraceIdPrefix, TraceSpan, WaterfallOptions, bar_cells, key_attributes,
    load_trace, render_waterfall, waterfall_rows,
};
