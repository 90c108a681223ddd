//! What the integration tests share: the fixtures, running the built
//! `agent-trace` binary, temporary directories, and writing trace files
//! of known content with plain `format!` (never with the code under test).

#![allow(dead_code, unreachable_pub, reason = "each test file uses a part")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture file.
pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `agent-trace ARGS` in `dir`, with standard output a pipe (so
/// plain text) and no `NO_COLOR` inherited.
pub fn agent_trace_in(dir: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_agent-trace"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("the agent-trace binary runs");
    Run {
        status: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `agent-trace ARGS` in `tests/fixtures`.
pub fn agent_trace(args: &[&str]) -> Run {
    agent_trace_in(&fixtures(), args)
}

/// A directory under the target directory, emptied first and removed
/// when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One span of a generated file, in our exporter's layout.
#[derive(Debug, Clone)]
pub struct GenSpan<'a> {
    pub trace: u128,
    pub span: u64,
    pub parent: Option<u64>,
    pub name: &'a str,
    pub start_ns: u64,
    pub end_ns: u64,
    pub error: bool,
}

/// A JSON line (one export request) holding `spans`, written with
/// `format!`: the OTLP JSON encoding as our exporter writes it.
pub fn json_line(service: &str, spans: &[GenSpan<'_>]) -> String {
    let mut body = String::new();
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            "{{\"traceId\":\"{:032x}\",\"spanId\":\"{:016x}\",\"traceState\":\"\",\"parentSpanId\":\"{}\",\
             \"flags\":257,\"name\":\"{}\",\"kind\":1,\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\
             \"attributes\":[{{\"key\":\"step\",\"value\":{{\"intValue\":\"{}\"}}}}],\"droppedAttributesCount\":0,\
             \"events\":[],\"droppedEventsCount\":0,\"links\":[],\"droppedLinksCount\":0,\"status\":{}}}",
            s.trace,
            s.span,
            s.parent.map_or(String::new(), |p| format!("{p:016x}")),
            s.name,
            s.start_ns,
            s.end_ns,
            i,
            if s.error {
                "{\"message\":\"failed\",\"code\":2}"
            } else {
                "null"
            }
        ));
    }
    format!(
        "{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"service.name\",\"value\":\
         {{\"stringValue\":\"{service}\"}}}}],\"droppedAttributesCount\":0,\"entityRefs\":[]}},\
         \"scopeSpans\":[{{\"scope\":{{\"name\":\"agent-trace\",\"version\":\"0.1.0\",\"attributes\":[],\
         \"droppedAttributesCount\":0}},\"spans\":[{body}],\"schemaUrl\":\"\"}}],\"schemaUrl\":\"\"}}]}}\n"
    )
}
