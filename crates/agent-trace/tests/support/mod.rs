//! The span collector the facade's tests share.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::{Arc, Mutex};

use agent_trace::{AgentStepTracer, FinishedSpan, SpanProcessor};

/// Keeps every finished span, in the order they ended.
#[derive(Debug, Default)]
pub(crate) struct Collector(Mutex<Vec<FinishedSpan>>);

impl SpanProcessor for Collector {
    fn on_end(&self, span: FinishedSpan) {
        self.0.lock().unwrap().push(span);
    }
}

impl Collector {
    /// A copy of every span so far.
    pub(crate) fn spans(&self) -> Vec<FinishedSpan> {
        self.0.lock().unwrap().clone()
    }

    /// How many spans so far.
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The one span with this name; fails the test otherwise.
    pub(crate) fn named(&self, name: &str) -> FinishedSpan {
        let spans = self.0.lock().unwrap();
        let mut found = spans.iter().filter(|s| s.name == name);
        let span = found
            .next()
            .unwrap_or_else(|| panic!("no span named {name}"))
            .clone();
        assert!(found.next().is_none(), "several spans named {name}");
        span
    }
}

/// A tracer without a store whose spans go to the returned collector.
pub(crate) fn collecting_tracer() -> (AgentStepTracer, Arc<Collector>) {
    let collector = Arc::new(Collector::default());
    let tracer = AgentStepTracer::builder()
        .without_store()
        .processor(collector.clone())
        .build();
    (tracer, collector)
}

/// `promtool check metrics` on an exposition text, where promtool is
/// installed (`scripts/install-e2e-deps.sh`): it must accept the text
/// without a word. Elsewhere the text is only parsed by the test itself.
pub(crate) fn promtool_accepts(text: &str) {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
                "promtool check metrics: {}\n{}{}\n{text}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(e) => eprintln!("promtool not run ({e}); the text was parsed only"),
    }
}
