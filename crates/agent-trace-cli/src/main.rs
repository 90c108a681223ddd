//! `agent-trace`: look at a trace file in the terminal or as an HTML
//! report. Arguments and printing only; the work is in the library.

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use agent_trace_cli::{
    DEFAULT_MAX_OPERATIONS, Error, ListQuery, Malformed, Paint, ReadStats, ReportOptions, SortKey,
    StatsSortKey, TraceFile, TraceIdPrefix, WaterfallOptions, build_report, load_trace,
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
    after_help = "Exit status: 0 on success; 1 on an error, or when malformed lines were \
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
        /// The trace file (JSON lines, as the file exporter writes).
        file: PathBuf,
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
    Show {
        /// The trace file.
        file: PathBuf,
        /// The trace id, or a prefix of it that only one trace has.
        trace_id: String,
        /// Width of the time bars, in characters.
        #[arg(long, default_value_t = 40, value_name = "N")]
        width: usize,
        /// Every attribute and event of every span.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Latency per operation (span name): count, mean, p50, p95, p99, max.
    Stats {
        /// The trace file.
        file: PathBuf,
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
        /// The trace file.
        file: PathBuf,
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

/// Prints malformed-line warnings as they come, up to [`WARNINGS_SHOWN`].
struct Warnings {
    file: PathBuf,
    printed: u64,
}

impl Warnings {
    fn new(file: &std::path::Path) -> Self {
        Self {
            file: file.to_owned(),
            printed: 0,
        }
    }

    fn warn(&mut self, m: &Malformed) {
        self.printed += 1;
        if self.printed <= WARNINGS_SHOWN {
            eprintln!(
                "agent-trace: warning: {}:{}: {}",
                self.file.display(),
                m.line,
                m.message
            );
        } else if self.printed == WARNINGS_SHOWN + 1 {
            eprintln!("agent-trace: warning: further malformed lines are only counted");
        }
    }
}

/// The error for the malformed lines of a reading, if any.
fn check(read: ReadStats, file: &std::path::Path) -> Result<(), Error> {
    if read.malformed == 0 {
        Ok(())
    } else {
        Err(Error::Malformed {
            count: read.malformed,
            path: file.to_owned(),
        })
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
            file,
            sort,
            reverse,
            slowest,
            errors,
            name,
        } => {
            let mut warnings = Warnings::new(&file);
            let (traces, read) = summarize(&TraceFile::new(&file), |m| warnings.warn(m))?;
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
            check(read, &file)
        }
        Command::Show {
            file,
            trace_id,
            width,
            verbose,
        } => {
            let prefix = TraceIdPrefix::parse(&trace_id)?;
            let mut warnings = Warnings::new(&file);
            let (trace, read) = load_trace(&TraceFile::new(&file), prefix, |m| warnings.warn(m))?;
            let options = WaterfallOptions {
                bar_width: width,
                verbose,
                ..WaterfallOptions::default()
            };
            print(&render_waterfall(&trace, options, paint))?;
            check(read, &file)
        }
        Command::Stats {
            file,
            sort,
            max_operations,
        } => {
            let mut warnings = Warnings::new(&file);
            let (mut ops, read) = operation_stats(&TraceFile::new(&file), max_operations, |m| {
                warnings.warn(m);
            })?;
            ops.sort_by(|a, b| sort.compare(a, b));
            let accuracy = agent_trace_cli::LatencyStats::default().relative_accuracy();
            print(&render_stats(&ops, accuracy, paint))?;
            check(read, &file)
        }
        Command::Report {
            file,
            output,
            max_traces,
            title,
        } => {
            let mut warnings = Warnings::new(&file);
            let options = ReportOptions { max_traces, title };
            let (html, summary, read) =
                build_report(&TraceFile::new(&file), &options, |m| warnings.warn(m))?;
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
            check(read, &file)
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
