//! JSON lines in the OTLP JSON encoding, to a file or to stdout: the
//! embedded default that needs no collector, and what the command-line
//! tool reads back.
//!
//! Each line is one `ExportTraceServiceRequest` (one batch) in the OTLP
//! JSON encoding, the format of the OpenTelemetry Collector's file
//! exporter: lower-case hex ids, 64-bit integers as strings, enums as
//! numbers. A reader that takes the Collector's files takes ours.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use agent_trace_core::FinishedSpan;

use crate::otlp::JsonEncoder;
use crate::{ExportError, ExportOutcome, Resource, SpanExporter};

enum Sink {
    Stdout,
    File {
        path: PathBuf,
        out: Option<BufWriter<File>>,
        written: u64,
    },
}

/// Writes each batch as one line of OTLP JSON.
///
/// ```
/// use agent_trace_export::{FileExporter, Resource, SpanExporter};
///
/// let dir = std::env::temp_dir().join(format!("agent-trace-doc-{}", std::process::id()));
/// let mut exporter = FileExporter::builder()
///     .directory(&dir)
///     .resource(Resource::new("research-agent"))
///     .build()?;
/// assert!(exporter.path().unwrap().starts_with(&dir));
/// exporter.export(&[])?; // an empty batch writes nothing
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), agent_trace_export::ExportError>(())
/// ```
pub struct FileExporter {
    sink: Sink,
    resource: Resource,
    /// The OTLP JSON of a batch, written straight from the spans.
    encoder: JsonEncoder,
    /// Rotate when the file would exceed this many bytes.
    max_bytes: Option<u64>,
    /// Rotated files kept (`path.1` is the newest).
    keep: usize,
}

impl fmt::Debug for FileExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileExporter")
            .field("path", &self.path())
            .field("service", &self.resource.service_name())
            .field("max_bytes", &self.max_bytes)
            .field("keep", &self.keep)
            .finish()
    }
}

/// Builds a [`FileExporter`].
#[derive(Debug, Clone, Default)]
pub struct FileExporterBuilder {
    path: Option<PathBuf>,
    directory: Option<PathBuf>,
    stdout: bool,
    resource: Option<Resource>,
    max_bytes: Option<u64>,
    keep: Option<usize>,
}

impl FileExporterBuilder {
    /// Writes to exactly this file (appending).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Writes one file per run in this directory (created if needed),
    /// named `traces-<unix seconds>-<process id>.jsonl`. The default
    /// directory is `agent-trace` under the current directory.
    pub fn directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.directory = Some(dir.into());
        self
    }

    /// Writes to standard output instead of a file.
    pub fn stdout(mut self) -> Self {
        self.stdout = true;
        self
    }

    /// Rotates the file when it would grow past `bytes`: `FILE` becomes
    /// `FILE.1`, `FILE.1` becomes `FILE.2`, and so on, keeping `keep`
    /// rotated files (the oldest is deleted). Off by default.
    pub fn rotate(mut self, bytes: u64, keep: usize) -> Self {
        self.max_bytes = Some(bytes.max(1));
        self.keep = Some(keep);
        self
    }

    /// The service the spans come from (default [`Resource::default`]).
    pub fn resource(mut self, r: Resource) -> Self {
        self.resource = Some(r);
        self
    }

    /// Opens (creates) the file.
    ///
    /// # Errors
    ///
    /// [`ExportError::Io`] when the directory or file cannot be created.
    pub fn build(self) -> Result<FileExporter, ExportError> {
        let sink = if self.stdout {
            Sink::Stdout
        } else {
            let path = match self.path {
                Some(p) => p,
                None => {
                    let dir = self
                        .directory
                        .unwrap_or_else(|| PathBuf::from("agent-trace"));
                    let secs = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    dir.join(format!("traces-{secs}-{}.jsonl", std::process::id()))
                }
            };
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|cause| ExportError::Io {
                    path: parent.to_owned(),
                    cause,
                })?;
            }
            let (out, written) = open(&path)?;
            Sink::File {
                path,
                out: Some(out),
                written,
            }
        };
        let resource = self.resource.unwrap_or_default();
        Ok(FileExporter {
            sink,
            encoder: JsonEncoder::new(&resource),
            resource,
            max_bytes: self.max_bytes,
            keep: self.keep.unwrap_or(0),
        })
    }
}

fn open(path: &Path) -> Result<(BufWriter<File>, u64), ExportError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|cause| ExportError::Io {
            path: path.to_owned(),
            cause,
        })?;
    let len = file.metadata().map_or(0, |m| m.len());
    Ok((BufWriter::new(file), len))
}

impl FileExporter {
    /// A builder (default: one file per run under `./agent-trace`).
    pub fn builder() -> FileExporterBuilder {
        FileExporterBuilder::default()
    }

    /// The file written, `None` for stdout.
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::Stdout => None,
            Sink::File { path, .. } => Some(path),
        }
    }

    fn rotate(&mut self) -> Result<(), ExportError> {
        let Sink::File {
            path, out, written, ..
        } = &mut self.sink
        else {
            return Ok(());
        };
        if let Some(mut w) = out.take() {
            w.flush().map_err(|cause| ExportError::Io {
                path: path.clone(),
                cause,
            })?;
        }
        let numbered = |n: usize| {
            let mut p = path.as_os_str().to_owned();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let io = |p: &Path| {
            let p = p.to_owned();
            move |cause| ExportError::Io { path: p, cause }
        };
        if self.keep == 0 {
            fs::remove_file(&*path).map_err(io(path))?;
        } else {
            let oldest = numbered(self.keep);
            if oldest.exists() {
                fs::remove_file(&oldest).map_err(io(&oldest))?;
            }
            for n in (1..self.keep).rev() {
                let from = numbered(n);
                if from.exists() {
                    fs::rename(&from, numbered(n + 1)).map_err(io(&from))?;
                }
            }
            fs::rename(&*path, numbered(1)).map_err(io(path))?;
        }
        let (w, len) = open(path)?;
        *out = Some(w);
        *written = len;
        Ok(())
    }
}

impl SpanExporter for FileExporter {
    fn name(&self) -> &'static str {
        "file"
    }

    fn export(&mut self, batch: &[FinishedSpan]) -> Result<ExportOutcome, ExportError> {
        if batch.is_empty() {
            return Ok(ExportOutcome::ACCEPTED);
        }
        let mut line = Vec::new();
        self.encoder.encode(batch, &mut line);
        line.push(b'\n');
        if let (Some(max), Sink::File { written, .. }) = (self.max_bytes, &self.sink)
            && *written > 0
            && *written + line.len() as u64 > max
        {
            self.rotate()?;
        }
        match &mut self.sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&line)
                    .and_then(|()| out.flush())
                    .map_err(|cause| ExportError::Io {
                        path: PathBuf::from("<stdout>"),
                        cause,
                    })?;
            }
            Sink::File {
                path, out, written, ..
            } => {
                let w = match out {
                    Some(w) => w,
                    None => {
                        let (w, len) = open(path)?;
                        *written = len;
                        out.insert(w)
                    }
                };
                // Whole lines reach the file per batch, so a reader never
                // sees half a batch after an export returns.
                w.write_all(&line)
                    .and_then(|()| w.flush())
                    .map_err(|cause| ExportError::Io {
                        path: path.clone(),
                        cause,
                    })?;
                *written += line.len() as u64;
            }
        }
        Ok(ExportOutcome::ACCEPTED)
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        match &mut self.sink {
            Sink::Stdout => io::stdout().flush().map_err(|cause| ExportError::Io {
                path: PathBuf::from("<stdout>"),
                cause,
            }),
            Sink::File {
                path, out: Some(w), ..
            } => w.flush().map_err(|cause| ExportError::Io {
                path: path.clone(),
                cause,
            }),
            Sink::File { out: None, .. } => Ok(()),
        }
    }
}
