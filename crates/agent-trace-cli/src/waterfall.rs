//! One trace: its spans found by id (or prefix), laid out as a tree, and
//! drawn as a terminal waterfall.
//!
//! The tree order ([`waterfall_rows`]) is computed here once and used by
//! both the terminal and the HTML report, so the two always agree.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use agent_trace_core::SpanTree;
use agent_trace_propagation::TraceId;

use crate::Error;
use crate::format::{Paint, format_cost, format_duration, format_timestamp, pad, sgr, truncate};
use crate::otlp::{OtlpKeyValue, OtlpSpan, StatusCode};
use crate::reader::{Malformed, ReadStats};
use crate::source::SpanSource;
use crate::summary::{COST, COST_CURRENCY, INPUT_TOKENS, OUTPUT_TOKENS};

/// How many matching ids an ambiguous prefix error lists.
const AMBIGUOUS_LISTED: usize = 5;

/// A span and where it came from.
#[derive(Debug, Clone)]
pub struct TraceSpan {
    /// The span.
    pub span: OtlpSpan<'static>,
    /// Its resource's `service.name`.
    pub service: Arc<str>,
    /// Its resource's attributes (shared by the spans of one resource).
    pub resource: Arc<[OtlpKeyValue<'static>]>,
}

/// All the spans of one trace, in file order.
#[derive(Debug, Clone)]
pub struct LoadedTrace {
    /// The trace's id.
    pub trace_id: TraceId,
    /// Its spans.
    pub spans: Vec<TraceSpan>,
}

impl LoadedTrace {
    /// The earliest start, Unix nanoseconds.
    pub fn start_unix_nanos(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.span.start_time_unix_nano)
            .min()
            .unwrap_or(0)
    }

    /// The latest end, Unix nanoseconds.
    pub fn end_unix_nanos(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.span.end_time_unix_nano.max(s.span.start_time_unix_nano))
            .max()
            .unwrap_or(0)
    }
}

/// A trace id prefix: 1 to 32 hex digits, either case.
///
/// ```
/// use agent_trace_cli::TraceIdPrefix;
/// use agent_trace_propagation::TraceId;
///
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse()?;
/// assert!(TraceIdPrefix::parse("4BF9")?.matches(id));
/// assert!(!TraceIdPrefix::parse("4bf8")?.matches(id));
/// assert!(TraceIdPrefix::parse("xyz").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIdPrefix {
    value: u128,
    digits: u32,
}

impl TraceIdPrefix {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTraceId`] unless `text` is 1 to 32 hex digits.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        let invalid = || Error::InvalidTraceId {
            id: text.to_owned(),
        };
        if t.is_empty() || t.len() > 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let value = u128::from_str_radix(t, 16).map_err(|_| invalid())?;
        Ok(Self {
            value,
            digits: t.len() as u32,
        })
    }

    /// Whether `id` starts with this prefix.
    pub fn matches(self, id: TraceId) -> bool {
        id.to_u128() >> (4 * (32 - self.digits)) == self.value
    }
}

impl std::fmt::Display for TraceIdPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:0width$x}", self.value, width = self.digits as usize)
    }
}

/// Reads the spans of the one trace whose id starts with `prefix`, from
/// every file of `source` (one [`TraceFile`](crate::TraceFile) or several
/// [`TraceFiles`](crate::TraceFiles)): a trace whose spans are in several
/// files is one trace.
///
/// Keeps only that trace's spans; once a second id matches, it keeps
/// reading only to say how ambiguous the prefix is.
///
/// # Errors
///
/// [`Error::UnknownTrace`] when no id matches, [`Error::AmbiguousTrace`]
/// when several do, and those of [`SpanSource::for_each_span`].
pub fn load_trace(
    source: &impl SpanSource,
    prefix: TraceIdPrefix,
    on_malformed: impl FnMut(&Malformed),
) -> Result<(LoadedTrace, ReadStats), Error> {
    let mut chosen: Option<TraceId> = None;
    let mut others = BTreeSet::new();
    let mut spans = Vec::new();
    let mut resources = ResourceCache::default();
    let stats = source.for_each_span(
        |origin, span| {
            if !prefix.matches(span.trace_id) {
                return;
            }
            let id = *chosen.get_or_insert(span.trace_id);
            if id != span.trace_id {
                others.insert(span.trace_id);
                // Ambiguous: nothing kept will be shown.
                spans = Vec::new();
            } else if others.is_empty() {
                let (service, resource) = resources.get(origin.service, origin.resource);
                spans.push(TraceSpan {
                    span: span.into_owned(),
                    service,
                    resource,
                });
            }
        },
        on_malformed,
    )?;
    let Some(trace_id) = chosen else {
        return Err(Error::UnknownTrace {
            id: prefix.to_string(),
            paths: source.paths().to_vec(),
        });
    };
    if !others.is_empty() {
        others.insert(trace_id);
        return Err(Error::AmbiguousTrace {
            prefix: prefix.to_string(),
            paths: source.paths().to_vec(),
            candidates: others
                .iter()
                .take(AMBIGUOUS_LISTED)
                .map(ToString::to_string)
                .collect(),
            more: others.len() > AMBIGUOUS_LISTED,
        });
    }
    Ok((LoadedTrace { trace_id, spans }, stats))
}

/// Shares one copy of a resource among the spans read from it.
#[derive(Debug, Default)]
pub(crate) struct ResourceCache {
    last: Option<(Arc<str>, Arc<[OtlpKeyValue<'static>]>)>,
}

impl ResourceCache {
    pub(crate) fn get(
        &mut self,
        service: &str,
        resource: &[OtlpKeyValue<'_>],
    ) -> (Arc<str>, Arc<[OtlpKeyValue<'static>]>) {
        match &self.last {
            Some((s, r)) if &**s == service && **r == *resource => (s.clone(), r.clone()),
            _ => {
                let entry: (Arc<str>, Arc<[OtlpKeyValue<'static>]>) = (
                    service.into(),
                    resource
                        .iter()
                        .cloned()
                        .map(OtlpKeyValue::into_owned)
                        .collect(),
                );
                self.last = Some(entry.clone());
                entry
            }
        }
    }
}

/// One line of a waterfall: a span, at its place in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The span's index in the slice given to [`waterfall_rows`].
    pub index: usize,
    /// How deep in the tree (0 for a top span).
    pub depth: usize,
    /// The tree drawing before the name (`│  ├─ `).
    pub branch: String,
    /// The tree drawing before lines under the span (its events): it
    /// continues the lines of the spans below.
    pub continuation: String,
    /// A top span that has a parent id the file does not hold.
    pub orphan: bool,
}

/// The spans as a tree, depth first: each span followed by its children,
/// children (and top spans) by start time, then name, then id.
///
/// A span whose parent is not among `spans` is a top span ([`Row::orphan`]).
/// Every span appears exactly once, also when the input is corrupt: spans
/// caught in a parent cycle are added as top spans.
pub fn waterfall_rows(spans: &[&OtlpSpan<'_>]) -> Vec<Row> {
    let tree = SpanTree::new(
        spans,
        |s| s.span_id,
        |s| s.parent_span_id,
        |s| (s.start_time_unix_nano, &s.name, s.span_id),
    );
    tree.positions()
        .iter()
        .zip(tree.prefixes())
        .map(|(p, (branch, continuation))| Row {
            index: p.index,
            depth: p.depth,
            branch,
            continuation,
            orphan: p.depth == 0 && spans[p.index].parent_span_id.is_some(),
        })
        .collect()
}

/// How `show` draws a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaterfallOptions {
    /// Width of the time bars, in characters.
    pub bar_width: usize,
    /// Longest span name column, in characters (longer names are cut).
    pub max_name_width: usize,
    /// Every attribute and event of every span, not only the key
    /// attributes and exceptions.
    pub verbose: bool,
}

impl Default for WaterfallOptions {
    fn default() -> Self {
        Self {
            bar_width: 40,
            max_name_width: 48,
            verbose: false,
        }
    }
}

/// The attributes a waterfall line shows for a span: the GenAI ones when
/// present (model, tokens, cost, tool, agent, error type), else the first
/// three.
pub fn key_attributes(span: &OtlpSpan<'_>) -> Vec<String> {
    let text = |key: &str| {
        span.attribute(key)
            .map(|v| truncate(&v.to_string(), 40).into_owned())
    };
    let mut out = Vec::new();
    if let Some(m) = text("gen_ai.request.model").or_else(|| text("gen_ai.response.model")) {
        out.push(format!("model={m}"));
    }
    let input = span.attribute(INPUT_TOKENS).and_then(|v| v.as_i64());
    let output = span.attribute(OUTPUT_TOKENS).and_then(|v| v.as_i64());
    if input.is_some() || output.is_some() {
        let n = |v: Option<i64>| v.map_or("-".to_owned(), |v| v.to_string());
        out.push(format!("tokens={}/{}", n(input), n(output)));
    }
    if let Some(cost) = span.attribute(COST).and_then(|v| v.as_f64()) {
        let currency = span.attribute(COST_CURRENCY).and_then(|v| v.as_str());
        out.push(format!("cost={}", format_cost(cost, currency)));
    }
    if let Some(t) = text("gen_ai.tool.name") {
        out.push(format!("tool={t}"));
    }
    if let Some(a) = text("gen_ai.agent.name").or_else(|| text("gen_ai.agent.id")) {
        out.push(format!("agent={a}"));
    }
    if let Some(e) = text("error.type") {
        out.push(format!("error.type={e}"));
    }
    if out.is_empty() {
        for kv in span.attributes.iter().take(3) {
            out.push(format!(
                "{}={}",
                kv.key,
                truncate(&kv.value.to_string(), 40)
            ));
        }
        if span.attributes.len() > 3 {
            out.push(format!("(+{} more)", span.attributes.len() - 3));
        }
    }
    out
}

/// The cells `[from, to)` of a bar `width` cells wide for `[start, end]`
/// within `[t0, t0 + total]`: each end rounded to the nearest cell, at
/// least one cell.
///
/// ```
/// use agent_trace_cli::bar_cells;
///
/// assert_eq!(bar_cells(0, 100, 0, 100, 40), (0, 40));
/// assert_eq!(bar_cells(10, 20, 0, 100, 40), (4, 8));
/// assert_eq!(bar_cells(99, 99, 0, 100, 40), (39, 40)); // never empty
/// ```
pub fn bar_cells(start: u64, end: u64, t0: u64, total: u64, width: usize) -> (usize, usize) {
    let total = total.max(1) as f64;
    let w = width as f64;
    let at = |t: u64| {
        (t.saturating_sub(t0) as f64 / total * w)
            .round()
            .clamp(0.0, w)
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "rounded values in [0, width]"
    )]
    let (a, b) = (at(start) as usize, at(end.max(start)) as usize);
    let a = a.min(width.saturating_sub(1));
    (a, b.max(a + 1).min(width))
}

/// The terminal waterfall of a trace.
pub fn render_waterfall(trace: &LoadedTrace, options: WaterfallOptions, paint: Paint) -> String {
    let spans: Vec<&OtlpSpan<'static>> = trace.spans.iter().map(|s| &s.span).collect();
    let rows = waterfall_rows(&spans);
    let t0 = trace.start_unix_nanos();
    let total = trace.end_unix_nanos().saturating_sub(t0);
    let errors = spans.iter().filter(|s| s.is_error()).count();
    let top = rows.first().map(|r| &trace.spans[r.index]);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        paint.paint(sgr::BOLD, "trace"),
        trace.trace_id
    );
    let mut facts = vec![
        format!("root {}", top.map_or("-", |t| &t.span.name)),
        format!("service {}", top.map_or("-", |t| &t.service)),
        format!("start {}", format_timestamp(t0)),
        format!("duration {}", format_duration(total)),
        format!(
            "{} span{}",
            spans.len(),
            if spans.len() == 1 { "" } else { "s" }
        ),
    ];
    if errors > 0 {
        let text = format!("{errors} error{}", if errors == 1 { "" } else { "s" });
        facts.push(paint.paint(sgr::BOLD_RED, &text).into_owned());
    }
    let _ = writeln!(out, "{}\n", facts.join("  ·  "));

    let names: Vec<String> = rows
        .iter()
        .map(|r| {
            let text = format!("{}{}", r.branch, spans[r.index].name);
            truncate(&text, options.max_name_width).into_owned()
        })
        .collect();
    let name_width = names
        .iter()
        .map(|n| n.chars().count())
        .chain(std::iter::once(4))
        .max()
        .unwrap_or(4);
    let width = options.bar_width.max(2);
    let axis = format!(
        "0{}",
        pad(&format_duration(total), width.saturating_sub(1), false)
    );
    let _ = writeln!(
        out,
        "{}  {}  {}  {}  {}",
        paint.paint(sgr::BOLD, &pad("SPAN", name_width, true)),
        paint.paint(sgr::BOLD, &pad("DURATION", 8, false)),
        paint.paint(sgr::BOLD, &pad("STATUS", 6, true)),
        paint.paint(sgr::DIM, &axis),
        paint.paint(sgr::BOLD, "ATTRIBUTES"),
    );
    for (row, name) in rows.iter().zip(&names) {
        let s = spans[row.index];
        let (a, b) = bar_cells(
            s.start_time_unix_nano,
            s.end_time_unix_nano,
            t0,
            total,
            width,
        );
        let bar_colour = match s.status.code {
            StatusCode::Error => sgr::RED,
            StatusCode::Ok => sgr::GREEN,
            StatusCode::Unset => sgr::CYAN,
        };
        let bar = format!(
            "{}{}{}",
            " ".repeat(a),
            paint.paint(bar_colour, &"█".repeat(b - a)),
            " ".repeat(width - b)
        );
        let (status, status_colour) = match s.status.code {
            StatusCode::Error => ("ERROR", sgr::BOLD_RED),
            StatusCode::Ok => ("ok", sgr::GREEN),
            StatusCode::Unset => ("", ""),
        };
        let padded_name = pad(name, name_width, true);
        let tree_len = row.branch.chars().count();
        let tree: String = padded_name.chars().take(tree_len).collect();
        let rest: String = padded_name.chars().skip(tree_len).collect();
        let mut notes = key_attributes(s);
        if !matches!(s.kind.as_str(), "" | "internal") {
            notes.insert(0, format!("[{}]", s.kind.as_str()));
        }
        if row.orphan
            && let Some(p) = s.parent_span_id
        {
            notes.push(format!("(parent {p} not in file)"));
        }
        let mut line = format!(
            "{}{}  {}  {}  {}",
            paint.paint(sgr::DIM, &tree),
            if row.depth == 0 {
                paint.paint(sgr::BOLD, &rest)
            } else {
                rest.as_str().into()
            },
            pad(&format_duration(s.duration_nanos()), 8, false),
            paint.paint(status_colour, &pad(status, 6, true)),
            bar,
        );
        if !notes.is_empty() {
            line.push_str("  ");
            line.push_str(&paint.paint(sgr::DIM, &notes.join(" ")));
        }
        if s.is_error() && !s.status.message.is_empty() {
            line.push_str("  ");
            line.push_str(&paint.paint(sgr::RED, &format!("error: {}", s.status.message)));
        }
        let _ = writeln!(out, "{}", line.trim_end());
        details(&mut out, s, row, t0, options.verbose, paint);
    }
    out
}

/// The lines under a span: exceptions always, every event and attribute
/// when verbose.
fn details(out: &mut String, s: &OtlpSpan<'_>, row: &Row, t0: u64, verbose: bool, paint: Paint) {
    let lead = paint.paint(sgr::DIM, &row.continuation).into_owned();
    if verbose {
        for kv in &s.attributes {
            let _ = writeln!(out, "{lead}    {} = {}", kv.key, kv.value);
        }
    }
    for e in &s.events {
        let at = format_duration(e.time_unix_nano.saturating_sub(t0));
        let line = if e.is_exception() {
            let ty = e.attribute("exception.type").map(ToString::to_string);
            let msg = e.attribute("exception.message").map(ToString::to_string);
            let text = match (ty, msg) {
                (Some(t), Some(m)) => format!("{t}: {m}"),
                (Some(t), None) => t,
                (None, Some(m)) => m,
                (None, None) => String::new(),
            };
            format!(
                "{lead}  {} {}",
                paint.paint(sgr::BOLD_RED, &format!("! exception at +{at}:")),
                paint.paint(sgr::RED, &text)
            )
        } else if verbose {
            let attrs: Vec<String> = e
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            format!(
                "{lead}  {} {}",
                paint.paint(sgr::YELLOW, &format!("• {} at +{at}", e.name)),
                attrs.join(" ")
            )
        } else {
            continue;
        };
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
