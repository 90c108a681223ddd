//! The parent-child order of a trace's spans, worked out from their ids
//! alone, so that any span type can be drawn as a tree: the core's
//! [`Trace::render`](crate::Trace::render) and the CLI's waterfall both
//! use it.

use std::collections::HashMap;

use agent_trace_propagation::SpanId;

/// Where one span goes in the tree: its index in the spans given to
/// [`SpanTree::new`], its depth (0 for a top span), and whether it is the
/// last of its parent's children shown (so a drawing knows to close the
/// branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreePosition {
    /// Index into the spans given to [`SpanTree::new`].
    pub index: usize,
    /// 0 for a top span, its parent's depth plus one otherwise.
    pub depth: usize,
    /// Whether no later sibling follows it.
    pub last: bool,
}

/// A trace's spans in depth-first order, each once, with their depths.
///
/// A span whose parent is among the spans goes under it; the others (the
/// root, and spans whose parent was not recorded) are top spans. Siblings,
/// and top spans, are ordered by a key the caller chooses (start time,
/// then name, usually). Spans caught in a parent cycle (corrupt input) are
/// reachable from no top span: they are added as top spans after the
/// others, so nothing is hidden. The walk keeps its own stack, so a chain
/// of any depth (a trace may hold 10,000 nested spans) cannot overflow the
/// thread's stack.
///
/// ```
/// use agent_trace_core::{SpanId, SpanTree};
///
/// let id = |n| SpanId::from_u64(n).unwrap();
/// // (name, id, parent)
/// let spans = [("tool", id(3), Some(id(1))), ("task", id(1), None), ("llm", id(2), Some(id(1)))];
/// let tree = SpanTree::new(&spans, |s| s.1, |s| s.2, |s| s.0);
/// let drawn: Vec<(&str, usize)> =
///     tree.positions().iter().map(|p| (spans[p.index].0, p.depth)).collect();
/// assert_eq!(drawn, [("task", 0), ("llm", 1), ("tool", 1)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanTree {
    positions: Vec<TreePosition>,
}

impl SpanTree {
    /// The tree of `spans`: `span_id` and `parent_id` read a span's ids
    /// (of two spans with one id, the first is the parent of its
    /// children), `key` orders siblings.
    pub fn new<'a, T, K: Ord>(
        spans: &'a [T],
        span_id: impl Fn(&T) -> SpanId,
        parent_id: impl Fn(&T) -> Option<SpanId>,
        key: impl Fn(&'a T) -> K,
    ) -> Self {
        let mut by_id = HashMap::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            by_id.entry(span_id(s)).or_insert(i);
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
        let mut tops = Vec::new();
        for (i, s) in spans.iter().enumerate() {
            match parent_id(s).and_then(|p| by_id.get(&p)) {
                Some(&p) if p != i => children[p].push(i),
                _ => tops.push(i),
            }
        }
        let order = |v: &mut Vec<usize>| v.sort_by(|&a, &b| key(&spans[a]).cmp(&key(&spans[b])));
        order(&mut tops);
        for c in &mut children {
            order(c);
        }
        let mut placed = vec![false; spans.len()];
        let mut positions = Vec::with_capacity(spans.len());
        let mut stack: Vec<TreePosition> = Vec::new();
        let top_count = tops.len();
        for (n, top) in tops.into_iter().chain(0..spans.len()).enumerate() {
            if placed[top] {
                continue;
            }
            stack.push(TreePosition {
                index: top,
                depth: 0,
                last: n + 1 >= top_count,
            });
            while let Some(p) = stack.pop() {
                if placed[p.index] {
                    continue;
                }
                placed[p.index] = true;
                positions.push(p);
                let kids: Vec<usize> = children[p.index]
                    .iter()
                    .copied()
                    .filter(|&c| !placed[c])
                    .collect();
                for (k, &c) in kids.iter().enumerate().rev() {
                    stack.push(TreePosition {
                        index: c,
                        depth: p.depth + 1,
                        last: k + 1 == kids.len(),
                    });
                }
            }
        }
        Self { positions }
    }

    /// Every span once, in drawing order.
    pub fn positions(&self) -> &[TreePosition] {
        &self.positions
    }

    /// Whether the span at `positions()[i]` has children shown under it.
    pub fn has_children(&self, i: usize) -> bool {
        self.positions
            .get(i + 1)
            .is_some_and(|next| next.depth > self.positions[i].depth)
    }

    /// The text drawn before each span's line (`├─ `, `│  └─ `, ...) and
    /// before the lines under it (its details, or its children's
    /// continuation), in [`positions`](Self::positions) order.
    pub fn prefixes(&self) -> Vec<(String, String)> {
        // The continuation of the span last seen at each depth.
        let mut conts: Vec<String> = Vec::new();
        let mut out = Vec::with_capacity(self.positions.len());
        for (i, p) in self.positions.iter().enumerate() {
            conts.truncate(p.depth);
            let (branch, cont) = match p.depth {
                0 => (String::new(), String::new()),
                d => {
                    let parent = &conts[d - 1];
                    let (glyph, more) = if p.last {
                        ("└─ ", "   ")
                    } else {
                        ("├─ ", "│  ")
                    };
                    (format!("{parent}{glyph}"), format!("{parent}{more}"))
                }
            };
            let under = format!("{cont}{}", if self.has_children(i) { "│  " } else { "   " });
            conts.push(cont);
            out.push((branch, under));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> SpanId {
        SpanId::from_u64(n).unwrap()
    }

    #[test]
    fn a_chain_deeper_than_any_stack_is_walked_without_recursion() {
        const DEPTH: u64 = 200_000;
        let spans: Vec<(SpanId, Option<SpanId>)> = (1..=DEPTH)
            .map(|n| (id(n), (n > 1).then(|| id(n - 1))))
            .collect();
        // A small stack: recursion over the chain would overflow it.
        let tree = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || SpanTree::new(&spans, |s| s.0, |s| s.1, |s| s.0.to_u64()))
            .unwrap()
            .join()
            .unwrap();
        let depths: Vec<usize> = tree.positions().iter().map(|p| p.depth).collect();
        assert_eq!(depths.len(), DEPTH as usize);
        assert!(depths.iter().enumerate().all(|(i, &d)| d == i));
    }

    #[test]
    fn a_parent_cycle_is_shown_once_as_tops() {
        // 1 <- 2 <- 3 <- 2: 2 and 3 point at each other.
        let spans = [(id(1), None), (id(2), Some(id(3))), (id(3), Some(id(2)))];
        let tree = SpanTree::new(&spans, |s| s.0, |s| s.1, |s| s.0.to_u64());
        let shown: Vec<(usize, usize)> = tree
            .positions()
            .iter()
            .map(|p| (p.index, p.depth))
            .collect();
        assert_eq!(shown, [(0, 0), (1, 0), (2, 1)]);
    }

    #[test]
    fn prefixes_draw_branches_and_continuations() {
        //  a
        //  ├─ b
        //  │  └─ d
        //  └─ c
        let spans = [
            ("a", id(1), None),
            ("b", id(2), Some(id(1))),
            ("c", id(3), Some(id(1))),
            ("d", id(4), Some(id(2))),
        ];
        let tree = SpanTree::new(&spans, |s| s.1, |s| s.2, |s| s.0);
        let drawn: Vec<String> = tree
            .positions()
            .iter()
            .zip(tree.prefixes())
            .map(|(p, (branch, under))| format!("{branch}{}|{under}", spans[p.index].0))
            .collect();
        // The text under a span continues its parent's branches and, when
        // it has children, its own.
        assert_eq!(
            drawn,
            ["a|│  ", "├─ b|│  │  ", "│  └─ d|│        ", "└─ c|      "]
        );
    }
}
