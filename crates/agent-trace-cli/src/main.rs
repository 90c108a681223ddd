//! `agent-trace`: look at trace files in the terminal or as an HTML
//! report. Arguments and printing only; the work is in the library.

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agent_trace_cli::{
    DEFAULT_MAX_OPERATIONS, DiffFormat, DiffOptions, Error, FailOn, ListQuery, Malformed, Paint,
    Pricing, ReadStats, ReportOptions, SortKey, SpanSource, StatsSortKey, TraceFiles,
    TraceIdPrefix, WaterfallOptions, build_comparison_report, build_report, diff, load_trace,
    operation_stats, render_diff, render_stats, render_waterfall, summarize_with, write_list,
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
                  skipped (the output is printed all the same); 2 on bad arguments. diff \
                  answers with its status: see agent-trace diff --help."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colours in terminal output: auto (when standard output is a
    /// terminal and NO_COLOR is unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// The price table for LLM spans that carry tokens but no cost
    /// attribute (JSON, or TOML by its .toml extension, as
    /// agent_trace::cost reads them); default: agent-trace's built-in
    /// table. A span's own agent_trace.cost always wins.
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "no_prices")]
    prices: Option<PathBuf>,
    /// Price nothing: only spans' own cost attributes count.
    #[arg(long, global = true)]
    no_prices: bool,
}

/// The pricing the options ask for.
fn pricing(prices: Option<&Path>, no_prices: bool) -> Result<Pricing, Error> {
    match (prices, no_prices) {
        (Some(path), _) => Pricing::load(path),
        (None, true) => Ok(Pricing::none()),
        (None, false) => Ok(Pricing::builtin()),
    }
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
        /// Compare with these runs (files or directories; repeat for
        /// more): the report opens with the comparison of `diff`, flagged
        /// rows first, and side-by-side histograms per operation.
        #[arg(long, value_name = "PATH")]
        baseline: Vec<PathBuf>,
    },
    /// Compare two sets of runs (a baseline and the current one) per
    /// operation: count, p50/p95/p99, mean, error rate, tokens, cost, each
    /// change flagged only when larger than the samples' noise; with
    /// --fail-on, a CI gate.
    #[command(
        override_usage = "agent-trace diff [OPTIONS] BASELINE CURRENT...\n       \
                          agent-trace diff [OPTIONS] --baseline PATH... CURRENT...",
        after_help = "Rules of --fail-on, separated by commas: [SCOPE:]METRIC>LIMIT or \
                      METRIC<LIMIT. METRIC: count, p50, p95, p99, mean, errors, tokens.in, \
                      tokens.out, cost. LIMIT: +10% (relative to the baseline), +1pp \
                      (errors: percentage points), +200ms (latency: ns, us, ms, s), +500 \
                      (count, tokens, cost: their unit). SCOPE: a row name, * matching any \
                      characters, or overall (the row of every trace); none: every row. Only \
                      flagged (significant) changes cross a limit; counts are exact.\n\n\
                      Exit status: 0 when no limit is crossed; 1 when a flagged change crosses \
                      a limit; 2 on bad input (arguments, a rule, an unreadable path, and \
                      with --strict a malformed line)."
    )]
    Diff {
        /// The baseline's trace file or directory, then the current run's
        /// files and directories; with --baseline, all are the current
        /// run's.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// More baseline files or directories (repeat for more).
        #[arg(long, value_name = "PATH")]
        baseline: Vec<PathBuf>,
        /// More current files or directories (repeat for more).
        #[arg(long, value_name = "PATH")]
        current: Vec<PathBuf>,
        /// Limits for CI, e.g. 'p95>+10%,cost>+5%,errors>+1pp': exit 1
        /// when a flagged change crosses one (grammar below; repeat to add
        /// rules).
        #[arg(long, value_name = "RULES")]
        fail_on: Vec<FailOn>,
        /// Output: text (a table), markdown (a pull-request comment), json.
        #[arg(long, value_enum, default_value_t = FormatChoice::Text)]
        format: FormatChoice,
        /// The chance, for the whole run, of flagging anything when
        /// nothing changed (p-values are adjusted for the number of
        /// tests).
        #[arg(long, value_name = "LEVEL", default_value_t = 0.05, value_parser = parse_alpha)]
        alpha: f64,
        /// The fewest values each side needs for a metric to be tested.
        #[arg(long, value_name = "N", default_value_t = 20)]
        min_count: u64,
        /// The most distinct operations tracked a side.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_OPERATIONS)]
        max_operations: usize,
        /// A malformed line is bad input (exit 2) rather than a warning.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatChoice {
    Text,
    Markdown,
    Json,
}

fn parse_alpha(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(a) if a > 0.0 && a < 1.0 => Ok(a),
        _ => Err(format!(
            "{text:?} is not a level between 0 and 1 (exclusive)"
        )),
    }
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

fn paint(choice: ColorChoice) -> Paint {
    Paint::new(match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    })
}

/// What `diff` was asked.
struct DiffArgs {
    paths: Vec<PathBuf>,
    baseline: Vec<PathBuf>,
    current: Vec<PathBuf>,
    fail_on: Vec<FailOn>,
    format: FormatChoice,
    options: DiffOptions,
    strict: bool,
    prices: Option<PathBuf>,
    no_prices: bool,
}

/// How `diff` ended: its exit status is its answer (0 within the limits, 1
/// a limit crossed), so errors are bad input, 2, not 1 as elsewhere.
enum DiffEnd {
    Passed,
    Crossed,
}

fn run_diff(args: DiffArgs, paint: Paint) -> Result<DiffEnd, Error> {
    let DiffArgs {
        mut paths,
        mut baseline,
        current,
        fail_on,
        format,
        mut options,
        strict,
        prices,
        no_prices,
    } = args;
    options.pricing = pricing(prices.as_deref(), no_prices)?;
    if baseline.is_empty() && !paths.is_empty() {
        baseline.push(paths.remove(0));
    }
    paths.extend(current);
    if baseline.is_empty() || paths.is_empty() {
        return Err(Error::Usage {
            message: "diff needs a baseline and a current run: agent-trace diff BASELINE \
                      CURRENT, or --baseline PATH CURRENT"
                .to_owned(),
        });
    }
    // No default directory here: both sides are named.
    let baseline = TraceFiles::from_paths(&baseline)?;
    let current = TraceFiles::from_paths(&paths)?;
    let mut warnings = Warnings::default();
    let mut first_malformed = None;
    let diff = diff(&baseline, &current, &options, |m| {
        if strict && first_malformed.is_none() {
            first_malformed = Some(m.clone());
        }
        warnings.warn(m);
    })?;
    if let Some(m) = first_malformed {
        return Err(Error::Strict { malformed: m });
    }
    let gate = fail_on.into_iter().reduce(|mut a, b| {
        a.extend(b);
        a
    });
    let outcome = gate.map(|g| g.check(&diff));
    let format = match format {
        FormatChoice::Text => DiffFormat::Text,
        FormatChoice::Markdown => DiffFormat::Markdown,
        FormatChoice::Json => DiffFormat::Json,
    };
    print(&render_diff(&diff, outcome.as_ref(), format, paint))?;
    Ok(match outcome {
        Some(o) if !o.passed() => DiffEnd::Crossed,
        _ => DiffEnd::Passed,
    })
}

fn run(command: Command, pricing: &Pricing, paint: Paint) -> Result<(), Error> {
    match command {
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
            let (traces, read) = summarize_with(&files, pricing, |m| warnings.warn(m))?;
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
            baseline,
        } => {
            let files = TraceFiles::from_paths(&paths)?;
            let mut warnings = Warnings::default();
            let options = ReportOptions {
                max_traces,
                title,
                pricing: pricing.clone(),
            };
            let (html, summary, read) = if baseline.is_empty() {
                build_report(&files, &options, |m| warnings.warn(m))?
            } else {
                let baseline = TraceFiles::from_paths(&baseline)?;
                let (html, summary, diff, read) = build_comparison_report(
                    &baseline,
                    &files,
                    &options,
                    &DiffOptions {
                        pricing: pricing.clone(),
                        ..DiffOptions::default()
                    },
                    |m| warnings.warn(m),
                )?;
                eprintln!(
                    "agent-trace: compared with {}: {} flagged change{}",
                    baseline
                        .paths()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    diff.flagged(),
                    if diff.flagged() == 1 { "" } else { "s" }
                );
                (html, summary, read)
            };
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
        // `main` runs it: its exit status differs.
        Command::Diff { .. } => Ok(()),
    }
}

/// Prints `e` and its causes on one line.
fn report_error(e: &Error) {
    let mut message = format!("agent-trace: error: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("{message}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Diff {
        paths,
        baseline,
        current,
        fail_on,
        format,
        alpha,
        min_count,
        max_operations,
        strict,
    } = cli.command
    {
        let args = DiffArgs {
            paths,
            baseline,
            current,
            fail_on,
            format,
            options: DiffOptions {
                alpha,
                min_count,
                max_operations,
                pricing: Pricing::none(),
            },
            strict,
            prices: cli.prices,
            no_prices: cli.no_prices,
        };
        return match run_diff(args, paint(cli.color)) {
            Ok(DiffEnd::Passed) => ExitCode::SUCCESS,
            Ok(DiffEnd::Crossed) => ExitCode::from(1),
            Err(e) => {
                report_error(&e);
                ExitCode::from(2)
            }
        };
    }
    let run = |command| {
        let pricing = pricing(cli.prices.as_deref(), cli.no_prices)?;
        run(command, &pricing, paint(cli.color))
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report_error(&e);
            ExitCode::FAILURE
        }
    }
}
