//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// What can go wrong reading a trace file or writing what it shows.
///
/// Messages are lower-case and name the file; the cause (an I/O error) is
/// kept as the [`source`](std::error::Error::source), and the command
/// prints the whole chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The trace file cannot be opened: missing, a directory, or not
    /// readable.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file asked for.
        path: PathBuf,
        /// Why it cannot be opened.
        #[source]
        source: io::Error,
    },
    /// Reading the trace file failed part-way.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Lines of the trace file were malformed and skipped; the rest was
    /// read and the command's output is complete but for them.
    #[error(
        "{count} malformed line{} skipped in {}",
        if *count == 1 { "" } else { "s" },
        path.display()
    )]
    Malformed {
        /// How many lines were skipped.
        count: u64,
        /// The file read.
        path: PathBuf,
    },
    /// The trace id given is not 1 to 32 hex digits.
    #[error("invalid trace id {id:?}: expected 1 to 32 hex digits (a whole id or a prefix)")]
    InvalidTraceId {
        /// What was given.
        id: String,
    },
    /// No trace in the file has this id, or an id with this prefix.
    #[error("no trace with id {id} in {}", path.display())]
    UnknownTrace {
        /// The id or prefix given.
        id: String,
        /// The file searched.
        path: PathBuf,
    },
    /// More than one trace id starts with the prefix given.
    #[error(
        "trace id prefix {prefix} is ambiguous in {}: it matches {}{}",
        path.display(),
        candidates.join(", "),
        if *more { ", ..." } else { "" }
    )]
    AmbiguousTrace {
        /// The prefix given.
        prefix: String,
        /// The file searched.
        path: PathBuf,
        /// Some of the ids that match.
        candidates: Vec<String>,
        /// Whether more ids match than `candidates` lists.
        more: bool,
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
