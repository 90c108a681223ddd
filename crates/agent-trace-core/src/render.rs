//! Turning a trace's spans into a tree, and the tree into text.

use std::fmt::Write;
use std::time::Duration;

use crate::span_data::{FinishedSpan, SpanKind, Status};
use crate::store::SpanNode;
use crate::tree::SpanTree;

/// How many attributes a line shows before `(+N more)`.
const SHOWN_ATTRIBUTES: usize = 4;
/// Longest attribute value shown, in characters.
const SHOWN_VALUE_CHARS: usize = 40;

/// The tree of a trace's spans, children by start time then name.
fn span_tree(spans: &[FinishedSpan]) -> SpanTree {
    SpanTree::new(
        spans,
        |s| s.context.span_id,
        |s| s.parent_span_id,
        |s| (s.start_time, s.name.as_str()),
    )
}

/// The spans as nested nodes (see [`SpanTree`] for the order and for what
/// becomes a top span), built without recursion.
pub(crate) fn build_tree(spans: &[FinishedSpan]) -> Vec<SpanNode<'_>> {
    /// Moves the last node of `path` into its parent, or to the tops.
    fn close<'a>(path: &mut Vec<SpanNode<'a>>, tops: &mut Vec<SpanNode<'a>>) {
        if let Some(done) = path.pop() {
            match path.last_mut() {
                Some(parent) => parent.children.push(done),
                None => tops.push(done),
            }
        }
    }
    let mut tops = Vec::new();
    // The path from a top span to the node being filled.
    let mut path: Vec<SpanNode<'_>> = Vec::new();
    for p in span_tree(spans).positions() {
        while path.len() > p.depth {
            close(&mut path, &mut tops);
        }
        path.push(SpanNode {
            span: &spans[p.index],
            children: Vec::new(),
        });
    }
    while !path.is_empty() {
        close(&mut path, &mut tops);
    }
    tops
}

/// The spans as indented text, one line each, without recursion.
pub(crate) fn render(spans: &[FinishedSpan]) -> String {
    let tree = span_tree(spans);
    let mut out = String::new();
    for (p, (branch, _)) in tree.positions().iter().zip(tree.prefixes()) {
        line(&mut out, &spans[p.index], &branch);
    }
    out
}

fn line(out: &mut String, s: &FinishedSpan, branch: &str) {
    let _ = write!(out, "{branch}{}  {}", s.name, format_duration(s.duration()));
    if s.kind != SpanKind::Internal {
        let _ = write!(out, "  [{}]", s.kind);
    }
    match &s.status {
        Status::Unset => {}
        status => {
            let _ = write!(out, "  {status}");
        }
    }
    for kv in s.attributes.iter().take(SHOWN_ATTRIBUTES) {
        let value = kv.value.to_string();
        let _ = if value.chars().count() > SHOWN_VALUE_CHARS {
            let cut: String = value.chars().take(SHOWN_VALUE_CHARS - 1).collect();
            write!(out, "  {}={cut}…", kv.key)
        } else {
            write!(out, "  {}={value}", kv.key)
        };
    }
    if s.attributes.len() > SHOWN_ATTRIBUTES {
        let _ = write!(out, "  (+{} more)", s.attributes.len() - SHOWN_ATTRIBUTES);
    }
    if !s.events.is_empty() {
        let _ = write!(
            out,
            "  ({} event{})",
            s.events.len(),
            if s.events.len() == 1 { "" } else { "s" }
        );
    }
    out.push('\n');
}

/// `850µs`, `12.3ms`, `500ms`, `1.20s`, `2m05s`: three significant figures or so.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{:.0}µs", nanos as f64 / 1e3)
    } else if nanos < 10_000_000 {
        format!("{:.2}ms", nanos as f64 / 1e6)
    } else if nanos < 100_000_000 {
        format!("{:.1}ms", nanos as f64 / 1e6)
    } else if nanos < 1_000_000_000 {
        format!("{:.0}ms", nanos as f64 / 1e6)
    } else if nanos < 60_000_000_000 {
        format!("{:.2}s", nanos as f64 / 1e9)
    } else {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(format_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.50ms");
        assert_eq!(format_duration(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1200)), "1.20s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
