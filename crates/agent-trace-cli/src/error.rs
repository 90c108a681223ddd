//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// `a.jsonl`, `a.jsonl, b.jsonl`, `a.jsonl, b.jsonl, c.jsonl and 2 more`.
fn show_paths(paths: &[PathBuf]) -> String {
    crate::format::name_list(paths.iter().map(|p| p.display().to_string()))
}

/// `one` when `n` is 1, else `many`: a word's ending.
fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// What can go wrong reading trace files or writing what they show.
///
/// Messages are lower-case and name the file (or the files and
/// directories searched); the cause (an I/O error) is kept as the
/// [`source`](std::error::Error::source), and the command prints the whole
/// chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A trace file or directory cannot be opened: missing, not readable,
    /// or a directory given where a file is read ([`TraceFile`]).
    ///
    /// [`TraceFile`]: crate::TraceFile
    #[error("cannot open {}", path.display())]
    Open {
        /// The file asked for.
        path: PathBuf,
        /// Why it cannot be opened.
        #[source]
        source: io::Error,
    },
    /// The price table given (`--prices`) cannot be read or is not one.
    #[error("cannot use the price table {}", path.display())]
    Prices {
        /// The file given.
        path: PathBuf,
        /// Why (the failing field, for a malformed table).
        #[source]
        source: agent_trace_genai::cost::CostError,
    },
    /// Reading a trace file, or listing a directory, failed part-way.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Lines of trace files were malformed and skipped; the rest was read
    /// and the command's output is complete but for them.
    #[error(
        "{count} malformed line{} skipped in {}",
        plural(*count, "", "s"),
        show_paths(paths)
    )]
    Malformed {
        /// How many lines were skipped.
        count: u64,
        /// The files they were in, in reading order.
        paths: Vec<PathBuf>,
    },
    /// The trace id given is not 1 to 32 hex digits.
    #[error("invalid trace id {id:?}: expected 1 to 32 hex digits (a whole id or a prefix)")]
    InvalidTraceId {
        /// What was given.
        id: String,
    },
    /// No trace in the files has this id, or an id with this prefix.
    #[error("no trace with id {id} in {}", show_paths(paths))]
    UnknownTrace {
        /// The id or prefix given.
        id: String,
        /// The files and directories searched, as named.
        paths: Vec<PathBuf>,
    },
    /// More than one trace id starts with the prefix given.
    #[error(
        "trace id prefix {prefix} is ambiguous in {}: it matches {}{}",
        show_paths(paths),
        candidates.join(", "),
        if *more { ", ..." } else { "" }
    )]
    AmbiguousTrace {
        /// The prefix given.
        prefix: String,
        /// The files and directories searched, as named.
        paths: Vec<PathBuf>,
        /// Some of the ids that match.
        candidates: Vec<String>,
        /// Whether more ids match than `candidates` lists.
        more: bool,
    },
    /// No path was given, and the default directory (where
    /// `agent_trace::init()` writes) does not exist here.
    #[error(
        "no path given, and no {} directory here (where agent_trace::init() writes a file per \
         run): name trace files, or directories of them",
        path.display()
    )]
    NoDefaultDirectory {
        /// The directory looked for ([`DEFAULT_DIRECTORY`](crate::DEFAULT_DIRECTORY)).
        path: PathBuf,
    },
    /// A directory named is empty.
    #[error("no trace files in {}: the directory is empty", path.display())]
    EmptyDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A directory named holds no trace file (see
    /// [`TRACE_FILE_EXTENSIONS`](crate::TRACE_FILE_EXTENSIONS)).
    #[error(
        "no trace files in {}: none of its {entries} entr{} is a *.jsonl, *.json or *.ndjson file",
        path.display(),
        plural(*entries as u64, "y", "ies")
    )]
    NoTraceFiles {
        /// The directory.
        path: PathBuf,
        /// How many entries it holds (none a trace file).
        entries: usize,
    },
    /// The command line is incomplete in a way the argument parser cannot
    /// tell (`diff` with one side only).
    #[error("{message}")]
    Usage {
        /// What is missing.
        message: String,
    },
    /// A malformed line, with `--strict`.
    #[error("{malformed} (--strict: a malformed line is an error)")]
    Strict {
        /// The first malformed line.
        malformed: crate::Malformed,
    },
    /// Writing the output failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// Where the output was going (`<stdout>` for standard output).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}
