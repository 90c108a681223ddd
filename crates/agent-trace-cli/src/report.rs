//! A self-contained HTML report of trace files.
//!
//! One file, nothing fetched: the CSS and the script are inline, the data
//! is embedded as JSON in a `<script type="application/json">` element
//! (with `<`, `>` and `&` escaped, so no span name or attribute can close
//! it), and the latency histograms are inline SVG drawn here. The script
//! builds the trace list and the waterfalls from the data with
//! `textContent` only, never HTML from the data.
//!
//! # Why two readings
//!
//! The first reading streams, as `list` and `stats` do: a summary per trace
//! and a sketch per operation. The report then keeps the spans of at most
//! [`ReportOptions::max_traces`] traces (the most recent), which a second
//! reading collects. So a report of files of any size takes memory for
//! the traces it shows, and its statistics still cover every span.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use agent_trace_propagation::TraceId;
use serde::Serialize;

use crate::Error;
use crate::diff::{
    Diff, DiffOptions, RowDiff, SideStats, Verdict, currency_of, diff, format_change, format_value,
    method_line, side_line,
};
use crate::format::{format_cost, format_duration, format_seconds, format_timestamp, name_list};
use crate::otlp::{OtlpKeyValue, OtlpSpan};
use crate::pricing::Pricing;
use crate::reader::{Malformed, ReadStats};
use crate::source::SpanSource;
use crate::stats::{DEFAULT_MAX_OPERATIONS, LatencyStats, OperationStats};
use crate::summary::{SortKey, Summaries, TraceSummary};
use crate::waterfall::{ResourceCache, TraceSpan, key_attributes, waterfall_rows};

/// What the report holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The most traces whose waterfalls the report holds (the most recent
    /// ones); statistics always cover every span. Default 1,000.
    pub max_traces: usize,
    /// The page title; default `agent-trace report: NAME`, the name of the
    /// file or directory read (several: `a.jsonl, b.jsonl`).
    pub title: Option<String>,
    /// How spans with tokens but no cost attribute are priced. Default:
    /// the built-in price table.
    pub pricing: Pricing,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            max_traces: 1_000,
            title: None,
            pricing: Pricing::default(),
        }
    }
}

/// What a report was made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSummary {
    /// Traces in the files read.
    pub traces_in_file: usize,
    /// Traces whose waterfalls the report holds.
    pub traces_shown: usize,
    /// Spans in the files read.
    pub spans_in_file: u64,
    /// Operations with latency statistics.
    pub operations: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    title: &'a str,
    file: String,
    traces_in_file: usize,
    spans_in_file: u64,
    traces: Vec<TraceData>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TraceData {
    id: String,
    root: String,
    service: String,
    start: String,
    start_ns: String,
    duration_ns: u64,
    duration: String,
    spans: u64,
    errors: u64,
    tokens: String,
    cost: String,
    ticks: Vec<String>,
    resource: Vec<[String; 2]>,
    rows: Vec<RowData>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RowData {
    id: String,
    parent: String,
    name: String,
    depth: usize,
    offset_ns: u64,
    duration_ns: u64,
    duration: String,
    status: &'static str,
    status_message: String,
    kind: &'static str,
    service: String,
    orphan: bool,
    summary: String,
    attrs: Vec<[String; 3]>,
    events: Vec<EventData>,
    links: Vec<[String; 2]>,
    dropped: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventData {
    name: String,
    at: String,
    exception: bool,
    attrs: Vec<[String; 3]>,
}

fn attrs(kvs: &[OtlpKeyValue<'_>]) -> Vec<[String; 3]> {
    kvs.iter()
        .map(|kv| {
            [
                kv.key.to_string(),
                kv.value.to_string(),
                kv.value.type_name().to_owned(),
            ]
        })
        .collect()
}

/// Reads `source` (twice: see the module docs; one
/// [`TraceFile`](crate::TraceFile) or several [`TraceFiles`](crate::TraceFiles),
/// a trace spread over several files being one trace) and renders the
/// report.
///
/// # Errors
///
/// As [`SpanSource::for_each_span`]. Malformed lines go to `on_malformed`
/// (from the first reading only) and are counted in the returned
/// [`ReadStats`].
pub fn build_report(
    source: &impl SpanSource,
    options: &ReportOptions,
    on_malformed: impl FnMut(&Malformed),
) -> Result<(String, ReportSummary, ReadStats), Error> {
    build(source, options, None, on_malformed)
}

/// As [`build_report`] of `current`, opening with its comparison with
/// `baseline` (what `agent-trace diff` prints, see [`diff`]): a table with
/// the flagged rows first, and the latency histograms of both sides of
/// each row on one axis.
///
/// # Errors
///
/// As [`SpanSource::for_each_span`]. Malformed lines of both sides go to
/// `on_malformed` once, and are counted in the returned [`ReadStats`]
/// (which is otherwise the current run's).
pub fn build_comparison_report(
    baseline: &impl SpanSource,
    current: &impl SpanSource,
    options: &ReportOptions,
    diff_options: &DiffOptions,
    mut on_malformed: impl FnMut(&Malformed),
) -> Result<(String, ReportSummary, Diff, ReadStats), Error> {
    let comparison = diff(baseline, current, diff_options, &mut on_malformed)?;
    // The comparison's reading reported the malformed lines.
    let (html, summary, mut read) = build(current, options, Some(&comparison), |_| {})?;
    read.malformed = comparison.baseline.malformed + comparison.current.malformed;
    Ok((html, summary, comparison, read))
}

fn build(
    source: &impl SpanSource,
    options: &ReportOptions,
    comparison: Option<&Diff>,
    on_malformed: impl FnMut(&Malformed),
) -> Result<(String, ReportSummary, ReadStats), Error> {
    let mut summaries = Summaries::with_pricing(options.pricing.clone());
    let mut latencies = LatencyStats::new(DEFAULT_MAX_OPERATIONS);
    let read = source.for_each_span(
        |origin, span| {
            summaries.add(origin, &span);
            latencies.record(&span.name, span.duration_nanos());
        },
        on_malformed,
    )?;
    let accuracy = latencies.relative_accuracy();
    let operations = latencies.finish();
    let mut traces = summaries.into_vec();
    let traces_in_file = traces.len();
    if traces.len() > options.max_traces {
        // The most recent ones.
        traces.sort_by(|a, b| SortKey::Start.compare(b, a));
        traces.truncate(options.max_traces);
        traces.sort_by(|a, b| SortKey::Start.compare(a, b));
    }
    let wanted: HashSet<TraceId> = traces.iter().map(|t| t.trace_id).collect();
    let mut spans: HashMap<TraceId, Vec<TraceSpan>> = HashMap::new();
    let mut resources = ResourceCache::default();
    source.for_each_span(
        |origin, span| {
            if wanted.contains(&span.trace_id) {
                let (service, resource) = resources.get(origin.service, origin.resource);
                spans.entry(span.trace_id).or_default().push(TraceSpan {
                    span: span.into_owned(),
                    service,
                    resource,
                });
            }
        },
        // Reported by the first reading.
        |_| {},
    )?;

    let name = name_list(source.paths().iter().map(|p| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }));
    let title = options
        .title
        .clone()
        .unwrap_or_else(|| format!("agent-trace report: {name}"));
    let data = Data {
        title: &title,
        file: name,
        traces_in_file,
        spans_in_file: read.spans,
        traces: traces
            .iter()
            .map(|t| trace_data(t, spans.remove(&t.trace_id).unwrap_or_default()))
            .collect(),
    };
    let summary = ReportSummary {
        traces_in_file,
        traces_shown: traces.len(),
        spans_in_file: read.spans,
        operations: operations.len(),
    };
    Ok((
        render(&data, &operations, accuracy, comparison),
        summary,
        read,
    ))
}

fn trace_data(t: &TraceSummary, spans: Vec<TraceSpan>) -> TraceData {
    let refs: Vec<&OtlpSpan<'_>> = spans.iter().map(|s| &s.span).collect();
    let rows = waterfall_rows(&refs);
    let t0 = t.start_unix_nanos;
    let total = t.duration_nanos();
    let resource = rows
        .first()
        .map(|r| {
            spans[r.index]
                .resource
                .iter()
                .map(|kv| [kv.key.to_string(), kv.value.to_string()])
                .collect()
        })
        .unwrap_or_default();
    let tokens = match (t.input_tokens, t.output_tokens) {
        (None, None) => String::new(),
        (i, o) => format!(
            "{}/{}",
            i.map_or("-".to_owned(), |i| i.to_string()),
            o.map_or("-".to_owned(), |o| o.to_string())
        ),
    };
    TraceData {
        id: t.trace_id.to_string(),
        root: t.root_name.clone(),
        service: t.service.clone(),
        start: format_timestamp(t0),
        start_ns: t0.to_string(),
        duration_ns: total,
        duration: format_duration(total),
        spans: t.spans,
        errors: t.error_spans,
        tokens,
        cost: t
            .cost
            .map_or_else(String::new, |c| format_cost(c, t.currency.as_deref())),
        ticks: (0..=4).map(|i| format_duration(total / 4 * i)).collect(),
        resource,
        rows: rows
            .iter()
            .map(|r| {
                let ts = &spans[r.index];
                let s = &ts.span;
                let mut dropped = Vec::new();
                for (n, what) in [
                    (s.dropped_attributes_count, "attributes"),
                    (s.dropped_events_count, "events"),
                    (s.dropped_links_count, "links"),
                ] {
                    if n > 0 {
                        dropped.push(format!("{n} {what}"));
                    }
                }
                RowData {
                    id: s.span_id.to_string(),
                    parent: s.parent_span_id.map_or_else(String::new, |p| p.to_string()),
                    name: s.name.to_string(),
                    depth: r.depth,
                    offset_ns: s.start_time_unix_nano.saturating_sub(t0),
                    duration_ns: s.duration_nanos(),
                    duration: format_duration(s.duration_nanos()),
                    status: s.status.code.as_str(),
                    status_message: s.status.message.to_string(),
                    kind: s.kind.as_str(),
                    service: ts.service.to_string(),
                    orphan: r.orphan,
                    summary: key_attributes(s).join(" "),
                    attrs: attrs(&s.attributes),
                    events: s
                        .events
                        .iter()
                        .map(|e| EventData {
                            name: e.name.to_string(),
                            at: format!(
                                "+{}",
                                format_duration(e.time_unix_nano.saturating_sub(t0))
                            ),
                            exception: e.is_exception(),
                            attrs: attrs(&e.attributes),
                        })
                        .collect(),
                    links: s
                        .links
                        .iter()
                        .map(|l| [l.trace_id.to_string(), l.span_id.to_string()])
                        .collect(),
                    dropped: dropped.join(", "),
                }
            })
            .collect(),
    }
}

/// `text` with the five HTML-special characters escaped.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` element: `<`, `>` and `&` appear in JSON
/// only inside strings, where their `\u` escapes mean the same.
fn script_json(data: &Data<'_>) -> String {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

fn render(
    data: &Data<'_>,
    operations: &[OperationStats],
    accuracy: f64,
    comparison: Option<&Diff>,
) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = escape_html(data.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
         <header><h1>{title}</h1><p class=\"meta\" id=\"meta\"></p></header>\n<main>\n"
    );
    if let Some(diff) = comparison {
        comparison_section(&mut out, diff);
    }
    out.push_str(
        "<section id=\"traces\"><h2>Traces</h2>\n\
         <div class=\"toolbar\"><input id=\"filter\" type=\"search\" placeholder=\"filter: root name, service or trace id\" aria-label=\"filter traces\">\
         <label><input id=\"errors-only\" type=\"checkbox\"> errors only</label><span id=\"shown\"></span></div>\n\
         <div class=\"scroll\"><table id=\"trace-table\"><thead><tr>\
         <th data-key=\"id\">Trace</th><th data-key=\"startNs\">Start</th><th data-key=\"durationNs\" class=\"num\">Duration</th>\
         <th data-key=\"spans\" class=\"num\">Spans</th><th data-key=\"errors\" class=\"num\">Errors</th>\
         <th data-key=\"tokens\" class=\"num\">Tokens</th><th data-key=\"cost\" class=\"num\">Cost</th>\
         <th data-key=\"service\">Service</th><th data-key=\"root\">Root</th></tr></thead><tbody></tbody></table></div>\n\
         </section>\n\
         <section id=\"trace-view\"><h2 id=\"trace-title\">Trace</h2><p class=\"meta\" id=\"trace-meta\"></p>\n\
         <div class=\"split\"><div id=\"waterfall\" class=\"waterfall\"></div>\n\
         <aside id=\"details\" class=\"details\"><p class=\"hint\">Click a span to see its attributes and events.</p></aside></div>\n\
         </section>\n",
    );
    latency_section(&mut out, operations, accuracy);
    let _ = write!(
        out,
        "</main>\n<script type=\"application/json\" id=\"report-data\">{}</script>\n<script>\n{JS}</script>\n</body>\n</html>\n",
        script_json(data)
    );
    out
}

fn latency_section(out: &mut String, operations: &[OperationStats], accuracy: f64) {
    let _ = write!(
        out,
        "<section id=\"latency\"><h2>Latency by operation</h2>\n\
         <p class=\"meta\">Every span of the file, by span name. Percentiles from the \
         <code>LatencyMetrics</code> sketch (within {}% of the exact value); count, mean and max exact.</p>\n\
         <table id=\"stats-table\"><thead><tr><th>Operation</th><th class=\"num\">Count</th>\
         <th class=\"num\">Mean</th><th class=\"num\">p50</th><th class=\"num\">p95</th>\
         <th class=\"num\">p99</th><th class=\"num\">Max</th></tr></thead><tbody>\n",
        accuracy * 100.0
    );
    for o in operations {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape_html(&o.operation),
            o.count,
            format_seconds(o.mean),
            format_seconds(o.p50),
            format_seconds(o.p95),
            format_seconds(o.p99),
            format_seconds(o.max)
        );
    }
    out.push_str("</tbody></table>\n<div class=\"histograms\">\n");
    for o in operations {
        histogram_svg(out, o);
    }
    out.push_str("</div>\n</section>\n");
}

/// Chart geometry, in SVG user units.
const CHART_W: f64 = 360.0;
const CHART_H: f64 = 170.0;
const PLOT_X: f64 = 10.0;
const PLOT_W: f64 = 340.0;
const PLOT_TOP: f64 = 52.0;
const PLOT_BOTTOM: f64 = 140.0;

/// One operation's histogram: bars on a logarithmic time axis, and
/// vertical lines at p50, p95 and p99.
fn histogram_svg(out: &mut String, o: &OperationStats) {
    let bins = o.histogram.bins();
    let name = escape_html(&o.operation);
    let _ = write!(
        out,
        "<figure class=\"histogram\" data-operation=\"{name}\"><figcaption><strong>{name}</strong> \
         <span class=\"meta\">{} spans, mean {}</span></figcaption>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" \
         aria-label=\"latency histogram of {name}\">\n",
        o.count,
        format_seconds(o.mean)
    );
    let (Some(first), Some(last)) = (bins.first(), bins.last()) else {
        out.push_str("</svg></figure>\n");
        return;
    };
    // One empty bin (a tenth of a decade) either side, so that a narrow
    // distribution does not fill the chart.
    let (lo, hi) = (first.0.log10() - 0.1, last.1.log10() + 0.1);
    let max_count = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64;
    plot(
        out,
        &bins,
        (lo, hi),
        (PLOT_BOTTOM - PLOT_TOP) / max_count,
        "bin",
        [("p50", o.p50), ("p95", o.p95), ("p99", o.p99)],
        (12.0, 13.0, 9.0),
    );
    out.push_str("</svg></figure>\n");
}

/// The comparison with a baseline: the `diff` table (flagged rows first,
/// as [`Diff::rows`] are) and a pair of histograms per row.
fn comparison_section(out: &mut String, diff: &Diff) {
    let _ = write!(
        out,
        "<section id=\"comparison\"><h2>Compared with the baseline</h2>\n\
         <p class=\"meta\">Baseline: {}. Current: {}. {} flagged change{}: {}.</p>\n\
         <table id=\"comparison-table\"><thead><tr><th>Operation</th><th>Metric</th>\
         <th class=\"num\">Baseline</th><th class=\"num\">Current</th><th class=\"num\">Change</th>\
         <th>Verdict</th></tr></thead><tbody>\n",
        escape_html(&side_line(&diff.baseline)),
        escape_html(&side_line(&diff.current)),
        diff.flagged(),
        if diff.flagged() == 1 { "" } else { "s" },
        escape_html(&method_line(diff)),
    );
    for row in &diff.rows {
        let name = escape_html(&row.name);
        let currency = currency_of(row);
        for (i, m) in row.metrics.iter().enumerate() {
            let verdict = match m.verdict {
                Verdict::Worse => "flagged worse",
                Verdict::Better => "flagged better",
                _ => "",
            };
            let _ = writeln!(
                out,
                "<tr class=\"{verdict}\" data-operation=\"{name}\" data-metric=\"{}\"><td class=\"operation\">{}</td>\
                 <td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"verdict\">{}</td></tr>",
                m.metric.name(),
                if i == 0 { name.as_str() } else { "" },
                m.metric.name(),
                escape_html(&format_value(m.metric, m.baseline, currency)),
                escape_html(&format_value(m.metric, m.current, currency)),
                escape_html(&format_change(m)),
                escape_html(&m.reason),
            );
        }
    }
    out.push_str("</tbody></table>\n<div class=\"histograms\">\n");
    for row in &diff.rows {
        compared_histograms(out, row);
    }
    out.push_str("</div>\n</section>\n");
}

/// The inside of a histogram's SVG, shared by the report's histograms and
/// the comparison's: bars of class `bar_class` on a logarithmic time axis
/// from `lo` to `hi` (log10 seconds), `per_value` units tall per value;
/// the axis with its two end ticks; a line per percentile, its label at
/// `label_y` and `label_step` below the previous one, the line starting
/// `rise` above its label.
fn plot(
    out: &mut String,
    bins: &[(f64, f64, u64)],
    (lo, hi): (f64, f64),
    per_value: f64,
    bar_class: &str,
    percentiles: [(&str, f64); 3],
    (label_y, label_step, rise): (f64, f64, f64),
) {
    let x = |seconds: f64| {
        let v = seconds.max(f64::MIN_POSITIVE).log10().clamp(lo, hi);
        PLOT_X + (v - lo) / (hi - lo) * PLOT_W
    };
    for &(lower, upper, count) in bins {
        if count == 0 {
            continue;
        }
        let (x0, x1) = (x(lower), x(upper));
        let h = (count as f64 * per_value).max(1.0);
        let _ = writeln!(
            out,
            "<rect class=\"{bar_class}\" x=\"{x0:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{h:.2}\"><title>{} to {}: {count}</title></rect>",
            PLOT_BOTTOM - h,
            (x1 - x0 - 0.5).max(0.5),
            format_seconds(lower),
            format_seconds(upper)
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{PLOT_X}\" y1=\"{PLOT_BOTTOM}\" x2=\"{}\" y2=\"{PLOT_BOTTOM}\"/>\n\
         <text class=\"tick\" x=\"{PLOT_X}\" y=\"{}\">{}</text>\n\
         <text class=\"tick end\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        PLOT_X + PLOT_W,
        PLOT_BOTTOM + 14.0,
        format_seconds(10f64.powf(lo)),
        PLOT_X + PLOT_W,
        PLOT_BOTTOM + 14.0,
        format_seconds(10f64.powf(hi))
    );
    for (i, (label, value)) in percentiles.into_iter().enumerate() {
        let px = x(value);
        let ty = label_y + label_step * i as f64;
        let anchor = if px > PLOT_X + PLOT_W * 0.7 {
            "end"
        } else {
            "start"
        };
        let dx = if anchor == "end" { -3.0 } else { 3.0 };
        let _ = writeln!(
            out,
            "<line class=\"pct {label}\" data-seconds=\"{value}\" x1=\"{px:.2}\" y1=\"{:.2}\" x2=\"{px:.2}\" y2=\"{PLOT_BOTTOM}\"/>\
             <text class=\"pct-label {label}\" x=\"{:.2}\" y=\"{ty:.2}\" text-anchor=\"{anchor}\">{label} {}</text>",
            ty - rise,
            px + dx,
            format_seconds(value)
        );
    }
}

/// A row's two histograms on one time axis, bars as shares of each side's
/// values so that samples of different sizes compare.
fn compared_histograms(out: &mut String, row: &RowDiff) {
    let sides = [
        ("baseline", row.baseline.as_ref()),
        ("current", row.current.as_ref()),
    ];
    let bins: Vec<Vec<(f64, f64, u64)>> = sides
        .iter()
        .map(|(_, s)| s.map(|s| s.histogram.bins()).unwrap_or_default())
        .collect();
    let lo = bins
        .iter()
        .filter_map(|b| b.first().map(|f| f.0))
        .fold(f64::INFINITY, f64::min);
    let hi = bins
        .iter()
        .filter_map(|b| b.last().map(|l| l.1))
        .fold(f64::NEG_INFINITY, f64::max);
    let name = escape_html(&row.name);
    let count = |s: Option<&SideStats>| s.map_or(0, |s| s.count);
    let _ = writeln!(
        out,
        "<figure class=\"compared{}\" data-operation=\"{name}\"><figcaption><strong>{name}</strong> \
         <span class=\"meta\">baseline {}, current {}</span></figcaption><div class=\"pair\">",
        if row.is_flagged() { " flagged" } else { "" },
        count(sides[0].1),
        count(sides[1].1)
    );
    let share = |b: &[(f64, f64, u64)], s: Option<&SideStats>| {
        let total = count(s).max(1) as f64;
        b.iter().map(|x| x.2 as f64 / total).fold(0.0, f64::max)
    };
    let top = share(&bins[0], sides[0].1)
        .max(share(&bins[1], sides[1].1))
        .max(f64::MIN_POSITIVE);
    for ((label, side), bins) in sides.iter().zip(&bins) {
        let _ = writeln!(
            out,
            "<svg class=\"side {label}\" data-side=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\" \
             viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-label=\"{label} latency histogram of {name}\">\n\
             <text class=\"tick\" x=\"{PLOT_X}\" y=\"12\">{label}</text>"
        );
        if let (Some(side), true) = (side, lo.is_finite() && hi.is_finite()) {
            let total = side.count.max(1) as f64;
            plot(
                out,
                bins,
                (lo.log10() - 0.1, hi.log10() + 0.1),
                (PLOT_BOTTOM - PLOT_TOP) / total / top,
                &format!("bin {label}"),
                [("p50", side.p50), ("p95", side.p95), ("p99", side.p99)],
                (25.0, 11.0, 8.0),
            );
        } else {
            let _ = writeln!(
                out,
                "<text class=\"tick\" x=\"{PLOT_X}\" y=\"{}\">no spans</text>",
                PLOT_TOP + 20.0
            );
        }
        out.push_str("</svg>\n");
    }
    out.push_str("</div></figure>\n");
}

/// The report's stylesheet: system fonts only, nothing fetched.
const CSS: &str = r##"
:root { --fg: #1d2330; --muted: #5f6b7a; --line: #dde3ea; --bg: #ffffff; --panel: #f6f8fa;
  --ok: #2f9e5b; --error: #d43c3c; --unset: #3b82c4; --sel: #fff4d6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
header { padding: 16px 24px 8px; border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
main { padding: 0 24px 32px; }
.meta { color: var(--muted); margin: 2px 0 8px; }
code, .mono, td.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.toolbar { display: flex; gap: 12px; align-items: center; margin-bottom: 6px; }
.toolbar input[type=search] { width: 320px; padding: 4px 8px; border: 1px solid var(--line); border-radius: 4px; }
.scroll { max-height: 300px; overflow: auto; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--panel); position: sticky; top: 0; cursor: pointer; user-select: none; font-weight: 600; }
th.sorted-asc::after { content: " \25B2"; font-size: 10px; } th.sorted-desc::after { content: " \25BC"; font-size: 10px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
#trace-table tbody tr { cursor: pointer; }
#trace-table tbody tr:hover { background: var(--panel); }
#trace-table tbody tr.selected { background: var(--sel); }
tr.has-error td.errors { color: var(--error); font-weight: 600; }
.split { display: grid; grid-template-columns: minmax(0, 1fr) 420px; gap: 16px; align-items: start; }
.waterfall { border: 1px solid var(--line); border-radius: 4px; }
.wf-row { display: grid; grid-template-columns: 300px 70px minmax(0, 1fr); align-items: center; height: 24px;
  border-bottom: 1px solid var(--line); cursor: pointer; }
.wf-row:last-child { border-bottom: none; }
.wf-row:hover { background: var(--panel); }
.wf-row.selected { background: var(--sel); }
.wf-head { display: grid; grid-template-columns: 300px 70px minmax(0, 1fr); height: 22px; align-items: center;
  background: var(--panel); border-bottom: 1px solid var(--line); font-weight: 600; font-size: 12px; }
.wf-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; padding-left: 8px; }
.wf-name .orphan { color: var(--muted); font-size: 11px; }
.wf-dur { text-align: right; padding-right: 8px; font-variant-numeric: tabular-nums; font-size: 12.5px; }
.wf-track { position: relative; height: 100%; margin-right: 12px; }
.wf-axis { position: relative; height: 100%; margin-right: 12px; }
.wf-axis span { position: absolute; top: 3px; font-weight: 400; color: var(--muted); transform: translateX(-50%); }
.wf-axis span:first-child { transform: none; } .wf-axis span:last-child { transform: translateX(-100%); }
.wf-bar { position: absolute; top: 6px; height: 12px; min-width: 1px; border-radius: 2px; background: var(--unset); }
.wf-bar.ok { background: var(--ok); } .wf-bar.error { background: var(--error); }
.wf-gridline { position: absolute; top: 0; bottom: 0; width: 1px; background: var(--line); }
.details { border: 1px solid var(--line); border-radius: 4px; padding: 8px 12px; background: var(--panel);
  max-height: 640px; overflow: auto; }
.details h3 { font-size: 15px; margin: 4px 0 6px; word-break: break-all; }
.details h4 { font-size: 13px; margin: 10px 0 4px; }
.details table td, .details table th { white-space: normal; word-break: break-word; vertical-align: top; cursor: default;
  position: static; background: none; font-weight: normal; }
.details table th { color: var(--muted); width: 46%; font-size: 12.5px; word-break: break-all; }
.details .event { border-left: 3px solid var(--unset); padding-left: 6px; margin: 6px 0; }
.details .event.exception { border-color: var(--error); }
.details .event.exception .event-name { color: var(--error); font-weight: 600; }
.status-error { color: var(--error); font-weight: 600; } .status-ok { color: var(--ok); }
.hint { color: var(--muted); }
.histograms { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 12px; }
.histogram { margin: 0; border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; width: 380px; }
.histogram svg { width: 360px; height: 170px; display: block; }
.histogram .bin { fill: #8fb3de; }
.histogram .axis { stroke: var(--muted); stroke-width: 1; }
.histogram .tick { font-size: 10px; fill: var(--muted); }
.histogram .pct { stroke-width: 1.5; stroke-dasharray: 3 2; }
.histogram .pct.p50 { stroke: #2f9e5b; } .histogram .pct.p95 { stroke: #d98a1f; } .histogram .pct.p99 { stroke: #d43c3c; }
.histogram .pct-label { font-size: 10.5px; }
.histogram .pct-label.p50 { fill: #2f9e5b; } .histogram .pct-label.p95 { fill: #b36d0c; } .histogram .pct-label.p99 { fill: #d43c3c; }
#stats-table { width: auto; }
#comparison-table { width: auto; margin-bottom: 8px; }
#comparison-table th { cursor: default; position: static; }
#comparison-table tr.worse td.verdict { color: var(--error); font-weight: 600; }
#comparison-table tr.better td.verdict { color: var(--ok); font-weight: 600; }
#comparison-table td.operation { font-weight: 600; }
figure.compared { margin: 0; border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; }
figure.compared.flagged { border-color: var(--error); }
figure.compared .pair { display: flex; gap: 8px; }
figure.compared svg { width: 360px; height: 170px; display: block; }
figure.compared .bin.baseline { fill: #b4bcc6; } figure.compared .bin.current { fill: #8fb3de; }
figure.compared .axis { stroke: var(--muted); stroke-width: 1; }
figure.compared .tick { font-size: 10px; fill: var(--muted); }
figure.compared .pct { stroke-width: 1.5; stroke-dasharray: 3 2; }
figure.compared .pct.p50 { stroke: #2f9e5b; } figure.compared .pct.p95 { stroke: #d98a1f; } figure.compared .pct.p99 { stroke: #d43c3c; }
figure.compared .pct-label { font-size: 10px; }
#stats-table th { cursor: default; position: static; }
@media (max-width: 1100px) { .split { grid-template-columns: 1fr; } }
"##;

/// The report's script: builds the trace list and the waterfalls from the
/// embedded data, with `textContent` only.
const JS: &str = r##"
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const byId = new Map(data.traces.map((t) => [t.id, t]));
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const plural = (n, w) => n + " " + w + (n === 1 ? "" : "s");
  document.getElementById("meta").textContent =
    data.file + " · " + plural(data.tracesInFile, "trace") + " · " + plural(data.spansInFile, "span") +
    (data.traces.length < data.tracesInFile ? " · waterfalls of the " + data.traces.length + " most recent traces" : "");

  // The trace list.
  const tbody = document.querySelector("#trace-table tbody");
  const filter = document.getElementById("filter");
  const errorsOnly = document.getElementById("errors-only");
  let sortKey = "startNs", sortDir = 1, current = null;
  const numeric = { durationNs: 1, spans: 1, errors: 1 };
  const keyOf = (t, k) => k === "startNs" ? BigInt(t.startNs) : k === "tokens" ? (parseInt(t.tokens, 10) || 0) :
    k === "cost" ? (parseFloat(t.cost) || 0) : t[k];
  function drawList() {
    const q = filter.value.trim().toLowerCase();
    const rows = data.traces.filter((t) => (!errorsOnly.checked || t.errors > 0) &&
      (!q || t.root.toLowerCase().includes(q) || t.service.toLowerCase().includes(q) || t.id.startsWith(q)));
    rows.sort((a, b) => {
      const x = keyOf(a, sortKey), y = keyOf(b, sortKey);
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir || (a.startNs < b.startNs ? -1 : 1);
    });
    tbody.replaceChildren();
    for (const t of rows) {
      const tr = el("tr");
      tr.dataset.traceId = t.id;
      if (t.errors > 0) tr.classList.add("has-error");
      if (current && current.id === t.id) tr.classList.add("selected");
      const id = el("td", "id", t.id.slice(0, 16));
      id.title = t.id;
      tr.append(id, el("td", "start", t.start), el("td", "num", t.duration), el("td", "num", t.spans),
        el("td", "num errors", t.errors || "-"), el("td", "num", t.tokens || "-"), el("td", "num", t.cost || "-"),
        el("td", "service", t.service), el("td", "root", t.root));
      tr.addEventListener("click", () => showTrace(t.id));
      tbody.append(tr);
    }
    document.getElementById("shown").textContent = rows.length + " of " + plural(data.traces.length, "trace");
  }
  document.querySelectorAll("#trace-table th").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.key;
    sortDir = sortKey === k ? -sortDir : (numeric[k] ? -1 : 1);
    sortKey = k;
    document.querySelectorAll("#trace-table th").forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
    th.classList.add(sortDir > 0 ? "sorted-asc" : "sorted-desc");
    drawList();
  }));
  filter.addEventListener("input", drawList);
  errorsOnly.addEventListener("change", drawList);

  // One trace's waterfall.
  const wf = document.getElementById("waterfall");
  const details = document.getElementById("details");
  function showTrace(id) {
    const t = byId.get(id);
    if (!t) return;
    current = t;
    if (location.hash !== "#trace=" + id) history.replaceState(null, "", "#trace=" + id);
    document.querySelectorAll("#trace-table tbody tr").forEach((tr) => {
      tr.classList.toggle("selected", tr.dataset.traceId === id);
      if (tr.dataset.traceId === id) {
        // Within the list's own scroll box only, not the page.
        const box = tr.closest(".scroll");
        if (tr.offsetTop < box.scrollTop || tr.offsetTop > box.scrollTop + box.clientHeight - tr.offsetHeight) {
          box.scrollTop = tr.offsetTop - box.clientHeight / 2;
        }
      }
    });
    document.getElementById("trace-title").textContent = t.root + " (" + t.id + ")";
    document.getElementById("trace-meta").textContent = [t.service, t.start, t.duration, plural(t.spans, "span"),
      t.errors ? plural(t.errors, "error") : "no errors"].concat(t.tokens ? ["tokens " + t.tokens] : [],
      t.cost ? ["cost " + t.cost] : []).join(" · ");
    wf.replaceChildren();
    wf.dataset.traceId = t.id;
    const head = el("div", "wf-head");
    const axis = el("div", "wf-axis");
    t.ticks.forEach((label, i) => { const s = el("span", "", label); s.style.left = (i * 25) + "%"; axis.append(s); });
    head.append(el("div", "wf-name", "Span"), el("div", "wf-dur", "Duration"), axis);
    wf.append(head);
    const total = Math.max(t.durationNs, 1);
    t.rows.forEach((r, i) => {
      const row = el("div", "wf-row");
      row.dataset.spanId = r.id;
      row.dataset.index = i;
      row.tabIndex = 0;
      const name = el("div", "wf-name");
      name.style.paddingLeft = (8 + 16 * r.depth) + "px";
      name.append(el("span", "span-name", r.name));
      if (r.orphan) name.append(el("span", "orphan", " (parent " + r.parent.slice(0, 8) + "… not in file)"));
      name.title = r.name + (r.summary ? "  " + r.summary : "");
      const track = el("div", "wf-track");
      for (let g = 1; g < 4; g++) { const l = el("div", "wf-gridline"); l.style.left = (g * 25) + "%"; track.append(l); }
      const bar = el("div", "wf-bar " + (r.status || "unset"));
      bar.style.left = (r.offsetNs / total * 100) + "%";
      bar.style.width = (r.durationNs / total * 100) + "%";
      bar.title = r.name + " " + r.duration;
      track.append(bar);
      row.append(name, el("div", "wf-dur", r.duration), track);
      row.addEventListener("click", () => showSpan(t, i));
      row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showSpan(t, i); } });
      wf.append(row);
    });
    details.replaceChildren(el("p", "hint", "Click a span to see its attributes and events."));
  }

  function table(pairs, cls) {
    const tb = el("table", cls);
    for (const [k, v] of pairs) {
      const tr = el("tr");
      tr.append(el("th", "", k), el("td", "", v));
      tb.append(tr);
    }
    return tb;
  }
  function showSpan(t, i) {
    const r = t.rows[i];
    history.replaceState(null, "", "#trace=" + t.id + "&span=" + r.id);
    wf.querySelectorAll(".wf-row").forEach((row) => row.classList.toggle("selected", row.dataset.index === String(i)));
    details.replaceChildren();
    details.dataset.spanId = r.id;
    details.append(el("h3", "", r.name));
    const status = el("span", r.status ? "status-" + r.status : "", r.status || "unset");
    const facts = [["span id", r.id], ["parent", r.parent || "(root)"], ["service", r.service],
      ["kind", r.kind || "unspecified"], ["start", "+" + (r.offsetNs / 1e6).toFixed(3) + " ms"], ["duration", r.duration]];
    const ft = table(facts, "facts");
    const tr = el("tr"); tr.append(el("th", "", "status"));
    const td = el("td"); td.append(status);
    if (r.statusMessage) td.append(document.createTextNode(": " + r.statusMessage));
    tr.append(td); ft.append(tr);
    if (r.dropped) { const d = el("tr"); d.append(el("th", "", "dropped"), el("td", "", r.dropped)); ft.append(d); }
    details.append(ft);
    details.append(el("h4", "", "Attributes (" + r.attrs.length + ")"));
    if (r.attrs.length) details.append(table(r.attrs.map((a) => [a[0], a[1]]), "attributes"));
    else details.append(el("p", "hint", "none"));
    const exceptions = r.events.filter((e) => e.exception);
    details.append(el("h4", "", "Events (" + r.events.length + ")" + (exceptions.length ? ", " + plural(exceptions.length, "exception") : "")));
    for (const e of r.events) {
      const box = el("div", "event" + (e.exception ? " exception" : ""));
      box.append(el("div", "event-name", e.name + " at " + e.at));
      if (e.attrs.length) box.append(table(e.attrs.map((a) => [a[0], a[1]]), "event-attributes"));
      details.append(box);
    }
    if (r.links.length) {
      details.append(el("h4", "", "Links (" + r.links.length + ")"));
      details.append(table(r.links.map((l) => ["trace " + l[0], "span " + l[1]]), "links"));
    }
    if (t.resource.length) {
      details.append(el("h4", "", "Resource"));
      details.append(table(t.resource, "resource"));
    }
  }

  // `#trace=ID` opens a trace, `#trace=ID&span=SPAN_ID` also a span.
  drawList();
  const wanted = new URLSearchParams(location.hash.slice(1));
  const fromHash = byId.get(wanted.get("trace"));
  const first = tbody.querySelector("tr");
  if (fromHash) {
    showTrace(fromHash.id);
    const i = fromHash.rows.findIndex((r) => r.id === wanted.get("span"));
    if (i >= 0) showSpan(fromHash, i);
  } else if (first) showTrace(first.dataset.traceId);
  window.agentTraceReport = { data, showTrace };
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_data_cannot_close_the_script_element() {
        let data = Data {
            title: "</script><script>alert(1)</script>",
            file: "a&b".to_owned(),
            traces_in_file: 0,
            spans_in_file: 0,
            traces: Vec::new(),
        };
        let json = script_json(&data);
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["title"], "</script><script>alert(1)</script>");
        assert_eq!(back["file"], "a&b");
    }

    #[test]
    fn html_escapes_the_special_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
