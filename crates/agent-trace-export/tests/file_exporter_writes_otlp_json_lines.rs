//! The file exporter writes one OTLP JSON `ExportTraceServiceRequest` per
//! line, read back here with the official generated types; files rotate
//! at their size limit, keeping the configured number; and the exporters
//! chosen by `OTEL_TRACES_EXPORTER` are the ones named.
#![cfg(feature = "file")]

mod support;

use std::path::{Path, PathBuf};

use agent_trace_export::{FileExporter, Resource, SpanExporter};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use support::known_trace;

/// A fresh directory under the system's temp dir, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("agent-trace-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lines(path: &Path) -> Vec<ExportTraceServiceRequest> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is OTLP JSON"))
        .collect()
}

#[test]
fn each_batch_is_one_line_of_otlp_json() {
    let dir = Dir::new("file-lines");
    let known = known_trace();
    let mut exporter = FileExporter::builder()
        .directory(&dir.0)
        .resource(Resource::new("research-agent"))
        .build()
        .unwrap();
    let path = exporter.path().unwrap().to_owned();
    let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        file_name.starts_with("traces-") && file_name.ends_with(".jsonl"),
        "{file_name}"
    );
    exporter.export(&known.spans).unwrap();
    exporter.export(&known.spans[..1]).unwrap();
    let got = lines(&path);
    assert_eq!(got.len(), 2);
    let spans = &got[0].resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), known.spans.len());
    for (theirs, ours) in spans.iter().zip(&known.spans) {
        assert_eq!(theirs.trace_id, ours.context.trace_id.to_bytes());
        assert_eq!(theirs.span_id, ours.context.span_id.to_bytes());
        assert_eq!(theirs.name, ours.name.as_str());
        assert_eq!(theirs.start_time_unix_nano, ours.start_time.as_unix_nanos());
        assert_eq!(theirs.end_time_unix_nano, ours.end_time.as_unix_nanos());
    }
    assert_eq!(got[1].resource_spans[0].scope_spans[0].spans.len(), 1);
    // Appending to an existing file keeps what was there.
    let mut again = FileExporter::builder().path(&path).build().unwrap();
    again.export(&known.spans[..1]).unwrap();
    assert_eq!(lines(&path).len(), 3);
}

#[test]
fn files_rotate_at_their_size_limit_keeping_the_newest() {
    let dir = Dir::new("file-rotate");
    let known = known_trace();
    let path = dir.0.join("traces.jsonl");
    // One batch of the known trace is a few kilobytes: a limit of one byte
    // more than a line puts every batch in a file of its own.
    let mut probe = FileExporter::builder()
        .path(dir.0.join("probe.jsonl"))
        .build()
        .unwrap();
    probe.export(&known.spans).unwrap();
    let line = std::fs::metadata(dir.0.join("probe.jsonl")).unwrap().len();
    let mut exporter = FileExporter::builder()
        .path(&path)
        .rotate(line + 1, 2)
        .build()
        .unwrap();
    for _ in 0..5 {
        exporter.export(&known.spans).unwrap();
    }
    let with = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    assert_eq!(lines(&path).len(), 1);
    assert_eq!(lines(&with(1)).len(), 1);
    assert_eq!(lines(&with(2)).len(), 1);
    assert!(!with(3).exists(), "only two rotated files are kept");
}

#[test]
fn an_unwritable_path_is_a_typed_error() {
    let dir = Dir::new("file-unwritable");
    // A path below a regular file cannot be created.
    let blocker = dir.0.join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let err = FileExporter::builder()
        .path(blocker.join("traces.jsonl"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, agent_trace_export::ExportError::Io { .. }),
        "{err}"
    );
}
