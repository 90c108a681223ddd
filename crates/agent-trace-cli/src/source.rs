//! What a command reads: trace files named on the command line,
//! directories of them, or `./agent-trace/` when nothing is named.
//!
//! # Why directories
//!
//! `agent_trace::init()` writes a new file per run,
//! `./agent-trace/traces-<unix seconds>-<process id>.jsonl`, so one
//! agent's history is a directory of files, and one trace can be spread
//! over two of them (a process restarted mid-trace, or two processes of
//! one distributed trace). [`TraceFiles`] reads them one after the other,
//! one line at a time, as one stream of spans: what the commands keep is
//! keyed by trace id, so a trace whose spans are in two files comes out as
//! one trace, and memory stays what it is for one file.
//!
//! # Which files of a directory, in which order
//!
//! The files named `*.jsonl`, `*.json` or `*.ndjson`, and the rotated
//! copies the file exporter keeps (`FILE.1`, `FILE.2`, ...), not looking
//! into subdirectories; other entries are skipped. They are read oldest
//! first: by the time in the name for the names `init()` gives
//! (`traces-1767225600-4242.jsonl` began at 1767225600 s), by modification
//! time for any other name, a rotated copy before the newer ones, and by
//! name when two times are equal. Files named one by one are read in the
//! order given. A file named twice (directly and through its directory) is
//! read once.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::Error;
use crate::otlp::OtlpSpan;
use crate::reader::{Malformed, Origin, ReadStats, TraceFile};

/// Where the command looks when no path is given: the directory
/// `agent_trace::init()` writes its trace files to.
pub const DEFAULT_DIRECTORY: &str = "./agent-trace/";

/// The extensions of trace files in a directory (before a rotation
/// suffix such as `.1`), compared without case.
pub const TRACE_FILE_EXTENSIONS: &[&str] = &["jsonl", "json", "ndjson"];

/// Something spans are read from, one at a time: one trace file
/// ([`TraceFile`]) or several ([`TraceFiles`]). What the commands
/// ([`summarize`](crate::summarize), [`operation_stats`](crate::operation_stats),
/// [`load_trace`](crate::load_trace), [`build_report`](crate::build_report))
/// read.
pub trait SpanSource {
    /// Calls `on_span` with each span, file by file, in file order, and
    /// `on_malformed` with each line skipped (its [`Malformed::path`] says
    /// in which file).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] for a file that cannot be opened, [`Error::Read`]
    /// when reading one fails part-way: the first such file ends the
    /// reading.
    fn for_each_span(
        &self,
        on_span: impl FnMut(&Origin<'_, '_>, OtlpSpan<'_>),
        on_malformed: impl FnMut(&Malformed),
    ) -> Result<ReadStats, Error>;

    /// The paths as named (a directory, not the files found in it): what
    /// errors and the report's title name.
    fn paths(&self) -> &[PathBuf];
}

impl SpanSource for TraceFile {
    fn for_each_span(
        &self,
        on_span: impl FnMut(&Origin<'_, '_>, OtlpSpan<'_>),
        on_malformed: impl FnMut(&Malformed),
    ) -> Result<ReadStats, Error> {
        TraceFile::for_each_span(self, on_span, on_malformed)
    }

    fn paths(&self) -> &[PathBuf] {
        std::slice::from_ref(self.path_buf())
    }
}

/// The trace files named on a command line: files as they are, each
/// directory as the trace files in it (see the module docs for which, and
/// in which order), and [`DEFAULT_DIRECTORY`] when no path is named.
///
/// ```
/// use agent_trace_cli::{SpanSource, TraceFiles};
///
/// let dir = std::env::temp_dir().join(format!("agent-trace-cli-files-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let line = |span: &str, start: u64| format!(
///     concat!(
///         r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","#,
///         r#""spanId":"{}","name":"step","startTimeUnixNano":"{}","endTimeUnixNano":"{}"}}]}}]}}]}}"#, "\n",
///     ),
///     span, start, start + 1000,
/// );
/// // Two runs of `init()`, the later one named first by the directory listing or not.
/// std::fs::write(dir.join("traces-1767225660-12.jsonl"), line("00f067aa0ba902b8", 2000))?;
/// std::fs::write(dir.join("traces-1767225600-11.jsonl"), line("00f067aa0ba902b7", 1000))?;
/// std::fs::write(dir.join("notes.txt"), "not a trace file")?;
///
/// let files = TraceFiles::from_paths([&dir])?;
/// let names: Vec<_> = files.files().iter().map(|f| f.path().file_name().unwrap()).collect();
/// assert_eq!(names, ["traces-1767225600-11.jsonl", "traces-1767225660-12.jsonl"]);
/// let mut starts = Vec::new();
/// let read = files.for_each_span(|_, span| starts.push(span.start_time_unix_nano), |_| {})?;
/// assert_eq!((read.spans, starts), (2, vec![1000, 2000]));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TraceFiles {
    named: Vec<PathBuf>,
    files: Vec<TraceFile>,
}

impl TraceFiles {
    /// The files of `paths`: each file as it is, each directory as its
    /// trace files, oldest first; [`DEFAULT_DIRECTORY`] when `paths` is
    /// empty. Looks at the file system now (names and metadata, not
    /// contents).
    ///
    /// # Errors
    ///
    /// - [`Error::NoDefaultDirectory`]: no path, and no `./agent-trace/`.
    /// - [`Error::Open`]: a path (or a trace file in a directory) that does
    ///   not exist or cannot be looked at, or a directory that cannot be
    ///   listed; [`Error::Read`] when listing fails part-way.
    /// - [`Error::EmptyDirectory`]: a directory with nothing in it.
    /// - [`Error::NoTraceFiles`]: a directory with no trace file in it.
    pub fn from_paths<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<Self, Error> {
        let mut named: Vec<PathBuf> = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        let defaulted = named.is_empty();
        if defaulted {
            named.push(PathBuf::from(DEFAULT_DIRECTORY));
        }
        let mut files = Vec::new();
        let mut seen = HashSet::new();
        for path in &named {
            let metadata = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) if defaulted && e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::NoDefaultDirectory { path: path.clone() });
                }
                Err(source) => {
                    return Err(Error::Open {
                        path: path.clone(),
                        source,
                    });
                }
            };
            let found = if metadata.is_dir() {
                directory_files(path)?
            } else {
                vec![path.clone()]
            };
            for file in found {
                // The same file through two names is read once.
                let identity = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
                if seen.insert(identity) {
                    files.push(TraceFile::new(file));
                }
            }
        }
        Ok(Self { named, files })
    }

    /// The files that will be read, in reading order.
    pub fn files(&self) -> &[TraceFile] {
        &self.files
    }
}

impl SpanSource for TraceFiles {
    fn for_each_span(
        &self,
        mut on_span: impl FnMut(&Origin<'_, '_>, OtlpSpan<'_>),
        mut on_malformed: impl FnMut(&Malformed),
    ) -> Result<ReadStats, Error> {
        let mut total = ReadStats::default();
        for file in &self.files {
            let read = file.for_each_span(&mut on_span, &mut on_malformed)?;
            total.lines += read.lines;
            total.batches += read.batches;
            total.spans += read.spans;
            total.malformed += read.malformed;
        }
        Ok(total)
    }

    fn paths(&self) -> &[PathBuf] {
        &self.named
    }
}

/// `name` without its rotation suffix (`FILE.3`: the file exporter's
/// third-newest copy of `FILE`), and the suffix's number (0 for none).
fn split_rotation(name: &str) -> (&str, u32) {
    match name.rsplit_once('.') {
        Some((rest, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (rest, n.parse().unwrap_or(u32::MAX))
        }
        _ => (name, 0),
    }
}

/// Whether `name` is a trace file's (see the module docs): if so, its
/// rotation number.
fn trace_file_rotation(name: &str) -> Option<u32> {
    let (base, rotation) = split_rotation(name);
    let (_, extension) = base.rsplit_once('.')?;
    TRACE_FILE_EXTENSIONS
        .iter()
        .any(|e| extension.eq_ignore_ascii_case(e))
        .then_some(rotation)
}

/// The start time in a name `init()` gives, `traces-<secs>-<pid>.jsonl`
/// (a rotation suffix allowed), in nanoseconds.
fn time_in_name(name: &str) -> Option<u128> {
    let (base, _) = split_rotation(name);
    let stem = base.strip_prefix("traces-")?.strip_suffix(".jsonl")?;
    let (secs, pid) = stem.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(secs) && digits(pid)) {
        return None;
    }
    Some(u128::from(secs.parse::<u64>().ok()?) * 1_000_000_000)
}

/// Where a file of a directory comes in the reading: its time (from its
/// name, else its modification time, in nanoseconds), older rotated copies
/// first, then its name.
type ReadingOrder = (u128, Reverse<u32>, OsString);

/// The trace files of `dir`, oldest first (see the module docs).
fn directory_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Open {
        path: dir.to_owned(),
        source,
    })?;
    let mut found: Vec<(ReadingOrder, PathBuf)> = Vec::new();
    let mut count = 0;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        count += 1;
        let name = entry.file_name();
        let Some(rotation) = name.to_str().and_then(trace_file_rotation) else {
            continue;
        };
        let path = entry.path();
        // Through a symbolic link, as opening it will: a dangling one is an
        // error naming it, not a file quietly left out.
        let metadata = std::fs::metadata(&path).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            continue;
        }
        let time = name.to_str().and_then(time_in_name).unwrap_or_else(|| {
            metadata
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos())
        });
        found.push(((time, Reverse(rotation), name), path));
    }
    if count == 0 {
        return Err(Error::EmptyDirectory {
            path: dir.to_owned(),
        });
    }
    if found.is_empty() {
        return Err(Error::NoTraceFiles {
            path: dir.to_owned(),
            entries: count,
        });
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_files_are_known_by_extension_and_rotation() {
        for (name, rotation) in [
            ("traces-1767225600-42.jsonl", Some(0)),
            ("traces-1767225600-42.jsonl.1", Some(1)),
            ("traces-1767225600-42.jsonl.12", Some(12)),
            ("collector.json", Some(0)),
            ("EXPORT.JSONL", Some(0)),
            ("spans.ndjson", Some(0)),
            ("report.html", None),
            ("jsonl", None),
            ("notes.txt.1", None),
            ("traces.jsonl.", None),
            ("traces.jsonl.1a", None),
        ] {
            assert_eq!(trace_file_rotation(name), rotation, "{name}");
        }
    }

    #[test]
    fn init_file_names_carry_their_start_time() {
        let t = 1_767_225_600_u128 * 1_000_000_000;
        assert_eq!(time_in_name("traces-1767225600-42.jsonl"), Some(t));
        assert_eq!(time_in_name("traces-1767225600-42.jsonl.3"), Some(t));
        for other in [
            "traces-1767225600.jsonl",
            "traces-x-42.jsonl",
            "traces-1767225600-42.json",
            "traces--42.jsonl",
            "run-1767225600-42.jsonl",
        ] {
            assert_eq!(time_in_name(other), None, "{other}");
        }
    }
}
