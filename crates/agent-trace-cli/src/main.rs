//! `agent-trace`: look at trace files in the terminal or as an HTML
//! report. Arguments and printing only; the work is in the library.

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use agent_trace_cli::{
    DEFAULT_MAX_OPERATIONS, Error, ListQuery, Malformed, Paint, ReadStats, ReportOptions, SortKey,
    StatsSortKey, TraceFiles, TraceIdPrefix, WaterfallOptions, build_report, load_trace,
    operation_stats, render_stats, render_waterfall, summarize, write_list,
};
use clap::{Parser, Subcommand, ValueEnum};

/// How many malformed-line warnings are printed before the rest are only
/// counted.
const WARNINGS_SHOWN: u64 = 20;

/// Look at agent-trace files (OTLP JSON lines): a terminal waterfall,
/// latency statistics, a self-contained HTML report. No server needed.
#[derive(Debug, Parser)]
#[command(
    name = "agent-trace",
    version,
    after_help = "Each command reads the PATHs given: trace files, and directories of them \
                  (their *.jsonl, *.json and *.ndjson files and rotated copies such as \
                  FILE.1, oldest first: by the time in names like traces-<time>-<pid>.jsonl, \
                  which agent_trace::init() writes, else by modification time). With no \
                  PATH, ./agent-trace/, where agent_trace::init() writes a file per run. \
                  Spans of one trace in several files make one trace.\n\n\
                  Exit status: 0 on success; 1 on an error, or when malformed lines were \
                  skipped (the output is printed all the same); 2 on bad arguments."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colours in terminal output: auto (when standard output is a
    /// terminal and NO_COLOR is unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One line per trace: id, start, duration, spans, errors, tokens,
    /// cost, service, root span.
    List {
        /// Trace files (JSON lines, as the file exporter writes), and
        /// directories of them; none: ./agent-trace/.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Order: start (earliest first), duration (longest first), spans
        /// (most first), name (root span name). Default start, or duration
        /// with --slowest.
        #[arg(long, value_name = "KEY")]
        sort: Option<SortKey>,
        /// Reverse the order.
        #[arg(long)]
        reverse: bool,
        /// Only the N longest traces.
        #[arg(long, value_name = "N")]
        slowest: Option<usize>,
        /// Only traces with an error span.
        #[arg(long)]
        errors: bool,
        /// Only traces whose root span name contains SUBSTR.
        #[arg(long, value_name = "SUBSTR")]
        name: Option<String>,
    },
    /// A trace as a waterfall: its span tree with a time bar, duration,
    /// status and key attributes per span.
    #[command(override_usage = "agent-trace show [OPTIONS] [PATH]... <TRACE_ID>")]
    Show {
        /// Trace files, and directories of them (none: ./agent-trace/),
        /// then the trace id, or a prefix of it that only one trace has.
        // One list, split here: clap takes no optional list before a
        // required positional, and `show FILE ID` is the order people type.
        #[arg(value_name = "PATH|TRACE_ID", required = true, num_args = 1..)]
        paths_and_trace_id: Vec<PathBuf>,
        /// Width of the time bars, in characters.
        #[arg(long, default_value_t = 40, value_name = "N")]
        width: usize,
        /// Every attribute and event of every span.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Latency per operation (span name): count, mean, p50, p95, p99, max.
    Stats {
        /// Trace files, and directories of them; none: ./agent-trace/.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Order: name, count, total, mean, p50, p95, p99, max (largest
        /// first but for name).
        #[arg(long, value_name = "KEY", default_value = "name")]
        sort: StatsSortKey,
        /// The most distinct operations tracked; spans of further names are
        /// counted together.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_OPERATIONS)]
        max_operations: usize,
    },
    /// A self-contained HTML report: trace list, clickable waterfalls with
    /// span details, latency histograms.
    Report {
        /// Trace files, and directories of them; none: ./agent-trace/.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Where to write the HTML.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The most traces whose waterfalls the report holds (the most
        /// recent); statistics cover every span.
        #[arg(long, value_name = "N", default_value_t = 1_000)]
        max_traces: usize,
        /// The page title.
        #[arg(long)]
        title: Option<String>,
    },
}

/// Prints malformed-line warnings as they come, up to [`WARNINGS_SHOWN`],
/// and notes which files had them.
#[derive(Default)]
struct Warnings {
    printed: u64,
    /// The files with malformed lines, in reading order.
    files: Vec<PathBuf>,
}

impl Warnings {
    fn warn(&mut self, m: &Malformed) {
        self.printed += 1;
        // Files are read one after the other: a file seen before is the
        // last one noted.
        if self.files.last().map(PathBuf::as_path) != Some(m.path.as_path()) {
            self.files.push(m.path.clone());
        }
        if self.printed <= WARNINGS_SHOWN {
            eprintln!("agent-trace: warning: {m}");
        } else if self.printed == WARNINGS_SHOWN + 1 {
            eprintln!("agent-trace: warning: further malformed lines are only counted");
        }
    }

    /// The error for the malformed lines of a reading, if any.
    fn check(self, read: ReadStats) -> Result<(), Error> {
        if read.malformed == 0 {
            Ok(())
        } else {
            Err(Error::Malformed {
                count: read.malformed,
                paths: self.files,
            })
        }
    }
}

fn print(text: &str) -> Result<(), Error> {
    emit(|out| out.write_all(text.as_bytes()))
}

/// Runs `write` on buffered standard output.
fn emit(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Error> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        // A closed pipe (`agent-trace list f | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|source| Error::Write {
            path: PathBuf::from("<stdout>"),
            source,
        }),
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let paint = Paint::new(match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    });
    match cli.command {
        Command::List {
            paths,
            sort,
            reverse,
            slowest,
            errors,
            name,
        } => {
            let files = TraceFiles::from_paths(&paths)?;
            let mut warnings = Warnings::default();
            let (traces, read) = summarize(&files, |m| warnings.warn(m))?;
            let total = traces.len();
            let query = ListQuery {
                sort,
                reverse,
                errors_only: errors,
                name,
                slowest,
            };
            let shown = query.apply(traces);
            emit(|out| write_list(out, &shown, total, paint))?;
            warnings.check(read)
        }
        Command::Show {
            mut paths_and_trace_id,
            width,
            verbose,
        } => {
            let trace_id = paths_and_trace_id.pop().unwrap_or_default();
            let paths = paths_and_trace_id;
            let prefix = TraceIdPrefix::parse(&trace_id.to_string_lossy())?;
            let files = TraceFiles::from_paths(&paths)?;
            let mut warnings = Warnings::default();
            let (trace, read) = load_trace(&files, prefix, |m| warnings.warn(m))?;
            let options = WaterfallOptions {
                bar_width: width,
                verbose,
                ..WaterfallOptions::default()
            };
            print(&render_waterfall(&trace, options, paint))?;
            warnings.check(read)
        }
        Command::Stats {
            paths,
            sort,
            max_operations,
        } => {
            let files = TraceFiles::from_paths(&paths)?;
            let mut warnings = Warnings::default();
            let (mut ops, read) = operation_stats(&files, max_operations, |m| warnings.warn(m))?;
            ops.sort_by(|a, b| sort.compare(a, b));
            let accuracy = agent_trace_cli::LatencyStats::default().relative_accuracy();
            print(&render_stats(&ops, accuracy, paint))?;
            warnings.check(read)
        }
        Command::Report {
            paths,
            output,
            max_traces,
            title,
        } => {
            let files = TraceFiles::from_paths(&paths)?;
            let mut warnings = Warnings::default();
            let options = ReportOptions { max_traces, title };
            let (html, summary, read) = build_report(&files, &options, |m| warnings.warn(m))?;
            std::fs::write(&output, html).map_err(|source| Error::Write {
                path: output.clone(),
                source,
            })?;
            eprintln!(
                "agent-trace: wrote {} ({} of {} traces with waterfalls, {} spans, {} operations)",
                output.display(),
                summary.traces_shown,
                summary.traces_in_file,
                summary.spans_in_file,
                summary.operations
            );
            warnings.check(read)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("agent-trace: error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
