//! Reading a trace file span by span, in bounded memory.
//!
//! # Why line by line
//!
//! A trace file is JSON lines: one export request (one batch) a line. Read
//! a line at a time, a file of any size costs one line's buffer plus
//! whatever the caller keeps, and a malformed line (a half-written last
//! line after a crash, a line mangled by hand) costs only itself: it is
//! reported with its number and what was wrong, and reading goes on.
//!
//! A file whose first line is not a whole JSON value is taken to be one
//! (pretty-printed) document or a sequence of them, as some tools write;
//! it is read whole, and an error in it ends the reading, as nothing after
//! a broken value can be trusted.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::error::Category;

use crate::Error;
use crate::otlp::{AnyValue, ExportRequest, OtlpKeyValue, OtlpSpan, find};

/// The service of spans whose resource names none, as the OpenTelemetry
/// SDKs default it.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// A line the reader skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The file the line is in.
    pub path: PathBuf,
    /// The line's number, from 1.
    pub line: u64,
    /// What was wrong with it.
    pub message: String,
}

/// `FILE:LINE: MESSAGE`, as compilers and `grep -n` write a place.
impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// What one reading of a file saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines read (blank ones included).
    pub lines: u64,
    /// Export requests (batches) read.
    pub batches: u64,
    /// Spans read.
    pub spans: u64,
    /// Lines skipped as malformed.
    pub malformed: u64,
}

/// Where a span came from: its resource (service) and instrumentation
/// scope.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'r, 'a> {
    /// The resource's `service.name`, or [`UNKNOWN_SERVICE`].
    pub service: &'r str,
    /// All the resource's attributes.
    pub resource: &'r [OtlpKeyValue<'a>],
    /// The instrumentation scope's name (may be empty).
    pub scope: &'r str,
}

/// A trace file: OTLP JSON lines, as `FileExporter` and the OpenTelemetry
/// Collector's file exporter write them.
///
/// One file; [`TraceFiles`](crate::TraceFiles) reads several, and the
/// trace files of directories, as one.
///
/// ```
/// use agent_trace_cli::TraceFile;
///
/// let path = std::env::temp_dir().join(format!("agent-trace-cli-doc-{}.jsonl", std::process::id()));
/// std::fs::write(&path, concat!(
///     r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"doc"}}]},"#,
///     r#""scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","#,
///     r#""name":"agent_task","startTimeUnixNano":"1000","endTimeUnixNano":"5000"}]}]}]}"#, "\n",
///     "not json\n",
/// ))?;
/// let mut names = Vec::new();
/// let mut problems = Vec::new();
/// let stats = TraceFile::new(&path).for_each_span(
///     |origin, span| names.push(format!("{}/{} {}ns", origin.service, span.name, span.duration_nanos())),
///     |malformed| problems.push(malformed.line),
/// )?;
/// assert_eq!(names, ["doc/agent_task 4000ns"]);
/// assert_eq!(problems, [2]);
/// assert_eq!((stats.spans, stats.malformed), (1, 1));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TraceFile {
    path: PathBuf,
}

impl TraceFile {
    /// The file at `path` (opened by each reading, not now).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn path_buf(&self) -> &PathBuf {
        &self.path
    }

    /// Calls `on_span` with each span of the file, in file order, and
    /// `on_malformed` with each line skipped.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] when the file cannot be opened (or is a directory:
    /// [`TraceFiles`](crate::TraceFiles) reads those),
    /// [`Error::Read`] when reading fails part-way. Malformed lines are not
    /// errors here: they are counted in [`ReadStats::malformed`].
    ///
    /// # Performance
    ///
    /// One line in memory at a time; span strings borrow from it, so a
    /// span costs little more than its attribute vector unless the caller
    /// keeps it ([`OtlpSpan::into_owned`]).
    pub fn for_each_span(
        &self,
        mut on_span: impl FnMut(&Origin<'_, '_>, OtlpSpan<'_>),
        mut on_malformed: impl FnMut(&Malformed),
    ) -> Result<ReadStats, Error> {
        let open_error = |source| Error::Open {
            path: self.path.clone(),
            source,
        };
        let file = File::open(&self.path).map_err(open_error)?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(open_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        let read_error = |source| Error::Read {
            path: self.path.clone(),
            source,
        };
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut stats = ReadStats::default();
        let mut buf = Vec::new();
        let mut seen_content = false;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).map_err(read_error)? == 0 {
                break;
            }
            stats.lines += 1;
            let mut text = buf.trim_ascii();
            if !seen_content {
                text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
            }
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<ExportRequest<'_>>(text) {
                Ok(request) => {
                    stats.batches += 1;
                    stats.spans += visit(request, &mut on_span);
                }
                Err(e) if !seen_content && e.classify() == Category::Eof => {
                    // Not JSON lines: one document over several lines.
                    let first_line = stats.lines;
                    let mut rest = text.to_vec();
                    rest.push(b'\n');
                    let before = rest.len();
                    reader.read_to_end(&mut rest).map_err(read_error)?;
                    stats.lines += count_lines(&rest[before..]);
                    read_document(
                        &self.path,
                        &rest,
                        first_line,
                        &mut stats,
                        &mut on_span,
                        &mut on_malformed,
                    );
                    return Ok(stats);
                }
                Err(e) => {
                    stats.malformed += 1;
                    on_malformed(&Malformed {
                        path: self.path.clone(),
                        line: stats.lines,
                        message: describe(&e, false),
                    });
                }
            }
            seen_content = true;
        }
        Ok(stats)
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

/// The values of a document (or several) that starts at `first_line` of
/// the file at `path`.
fn read_document(
    path: &Path,
    bytes: &[u8],
    first_line: u64,
    stats: &mut ReadStats,
    on_span: &mut impl FnMut(&Origin<'_, '_>, OtlpSpan<'_>),
    on_malformed: &mut impl FnMut(&Malformed),
) {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<ExportRequest<'_>>();
    for request in &mut stream {
        match request {
            Ok(request) => {
                stats.batches += 1;
                stats.spans += visit(request, on_span);
            }
            Err(e) => {
                stats.malformed += 1;
                on_malformed(&Malformed {
                    path: path.to_owned(),
                    // An end of input just after a newline (the file's
                    // last, or the one added after the first line) is on
                    // the line after it, past the file's last line.
                    line: (first_line + e.line().max(1) as u64 - 1).min(stats.lines),
                    message: describe(&e, true),
                });
                // Nothing after a broken value can be placed.
                return;
            }
        }
    }
}

/// The error without serde_json's position suffix, which counts lines of
/// the text parsed rather than of the file; the column is kept.
fn describe(e: &serde_json::Error, multi_line: bool) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    let what = match e.classify() {
        Category::Eof => "truncated JSON",
        Category::Syntax => "invalid JSON",
        Category::Data => "not an OTLP trace export",
        Category::Io => "unreadable",
    };
    if e.column() == 0 || multi_line && e.line() == 0 {
        format!("{what}: {message}")
    } else {
        format!("{what}: {message} (column {})", e.column())
    }
}

/// Hands each span of `request` to `on_span`; how many there were.
fn visit(
    request: ExportRequest<'_>,
    on_span: &mut impl FnMut(&Origin<'_, '_>, OtlpSpan<'_>),
) -> u64 {
    let mut count = 0;
    for resource_spans in request.resource_spans {
        let attributes = resource_spans.resource.attributes;
        let service = match find(&attributes, "service.name") {
            Some(AnyValue::String(s)) if !s.is_empty() => s.as_ref(),
            _ => UNKNOWN_SERVICE,
        };
        for scope_spans in resource_spans.scope_spans {
            let origin = Origin {
                service,
                resource: &attributes,
                scope: &scope_spans.scope.name,
            };
            for span in scope_spans.spans {
                count += 1;
                on_span(&origin, span);
            }
        }
    }
    count
}
