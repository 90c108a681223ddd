//! Turning a trace's spans into a tree, and the tree into text.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use agent_trace_propagation::SpanId;

use crate::span_data::{FinishedSpan, SpanKind, Status};
use crate::store::SpanNode;

/// How many attributes a line shows before `(+N more)`.
const SHOWN_ATTRIBUTES: usize = 4;
/// Longest attribute value shown, in characters.
const SHOWN_VALUE_CHARS: usize = 40;

pub(crate) fn build_tree(spans: &[FinishedSpan]) -> Vec<SpanNode<'_>> {
    let by_id: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.context.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut tops = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.and_then(|p| by_id.get(&p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => tops.push(i),
        }
    }
    let order = |v: &mut Vec<usize>| {
        v.sort_by(|&a, &b| {
            (spans[a].start_time, spans[a].name.as_str())
                .cmp(&(spans[b].start_time, spans[b].name.as_str()))
        });
    };
    order(&mut tops);
    for c in &mut children {
        order(c);
    }
    // Each span is placed once; spans caught in a parent cycle (corrupt
    // input) are not reachable from a top span and are added as tops, so
    // nothing is hidden and nothing recurses forever.
    let mut placed = vec![false; spans.len()];
    let mut out: Vec<SpanNode<'_>> = tops
        .iter()
        .map(|&i| node(spans, &children, &mut placed, i))
        .collect();
    for i in 0..spans.len() {
        if !placed[i] {
            out.push(node(spans, &children, &mut placed, i));
        }
    }
    out
}

fn node<'a>(
    spans: &'a [FinishedSpan],
    children: &[Vec<usize>],
    placed: &mut [bool],
    i: usize,
) -> SpanNode<'a> {
    placed[i] = true;
    let mut kids = Vec::with_capacity(children[i].len());
    for &c in &children[i] {
        if !placed[c] {
            kids.push(node(spans, children, placed, c));
        }
    }
    SpanNode {
        span: &spans[i],
        children: kids,
    }
}

pub(crate) fn render(tops: &[SpanNode<'_>]) -> String {
    let mut out = String::new();
    for top in tops {
        line(&mut out, top, "", "");
        walk(&mut out, &top.children, "");
    }
    out
}

fn walk(out: &mut String, nodes: &[SpanNode<'_>], prefix: &str) {
    for (i, n) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let (branch, more) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        line(out, n, prefix, branch);
        walk(out, &n.children, &format!("{prefix}{more}"));
    }
}

fn line(out: &mut String, n: &SpanNode<'_>, prefix: &str, branch: &str) {
    let s = n.span;
    let _ = write!(
        out,
        "{prefix}{branch}{}  {}",
        s.name,
        format_duration(s.duration())
    );
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
