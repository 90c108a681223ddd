//! One summary per trace, built while streaming: what `list` shows.
//!
//! A summary keeps a handful of numbers and two short strings, never the
//! spans, so `list` over a file of a million spans holds one summary per
//! trace and one line of the file at a time.
//!
//! # Tokens and cost
//!
//! Token counts (`gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`)
//! and cost ([`COST`], [`COST_CURRENCY`]) can sit both on an agent span
//! (`gen_ai.operation.name = invoke_agent`, the whole invocation) and on
//! the chat spans inside it, so summing every span would count them twice.
//! A trace's usage is the sum over its spans that are not agent
//! invocations; only when none of those carries usage does it fall back to
//! the largest agent span's (an outer agent covers the inner ones).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::str::FromStr;

use agent_trace_propagation::TraceId;

use agent_trace_genai::cost::Currency;

use crate::Error;
use crate::format::{Paint, format_cost, format_duration, format_timestamp, pad, sgr};
use crate::otlp::{AnyValue, OtlpSpan};
use crate::pricing::Pricing;
use crate::reader::{Malformed, Origin, ReadStats};
use crate::source::SpanSource;

/// `gen_ai.usage.input_tokens`: tokens of the model's input (the GenAI
/// semantic conventions).
pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens`: tokens of the model's output.
pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `agent_trace.cost` (double): what the operation cost, in
/// [`COST_CURRENCY`]. The GenAI conventions define no cost attribute; this
/// is the name the facade's `agent_trace::cost` module sets on LLM spans
/// (`COST_ATTRIBUTE`).
pub const COST: &str = "agent_trace.cost";
/// `agent_trace.cost.currency` (string): the currency of [`COST`], an ISO
/// 4217 code such as `USD`.
pub const COST_CURRENCY: &str = "agent_trace.cost.currency";
/// `gen_ai.operation.name`: tells agent invocations (`invoke_agent`,
/// `create_agent`) from the calls inside them.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";

/// A trace, summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// The trace's id.
    pub trace_id: TraceId,
    /// The root span's name: the span without a parent (the earliest, if
    /// several), else the earliest span (its parent is elsewhere).
    pub root_name: String,
    /// The root span's service.
    pub service: String,
    /// Whether a span without a parent was seen.
    pub has_root: bool,
    /// The earliest start of any span, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// The latest end of any span, Unix nanoseconds.
    pub end_unix_nanos: u64,
    /// How many spans.
    pub spans: u64,
    /// How many spans ended with an error status.
    pub error_spans: u64,
    /// Input tokens (see the module docs), if any span carried them.
    pub input_tokens: Option<i64>,
    /// Output tokens, if any span carried them.
    pub output_tokens: Option<i64>,
    /// Cost, if any span carried it.
    pub cost: Option<f64>,
    /// The cost's currency: `None` if no span named one, `mixed` if spans
    /// named different ones.
    pub currency: Option<String>,
}

impl TraceSummary {
    /// From the earliest start to the latest end, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}

/// Token and cost figures of a set of spans, compact: a summary under
/// construction is kept per trace, so its size is what `list` costs.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    input: i64,
    output: i64,
    cost: f64,
    /// [`Interned`] index + 1 of the currency; 0 for none, [`MIXED`].
    currency: u32,
    /// Which of input, output and cost were seen: bits 0, 1, 2.
    seen: u8,
}

/// `Usage::currency` when spans named different currencies.
const MIXED: u32 = u32::MAX;

impl Usage {
    fn is_empty(&self) -> bool {
        self.seen == 0
    }

    fn currency(&mut self, c: Option<u32>) {
        match (c, self.currency) {
            (None, _) | (_, MIXED) => {}
            (Some(c), 0) => self.currency = c + 1,
            (Some(c), have) if have == c + 1 => {}
            (Some(_), _) => self.currency = MIXED,
        }
    }

    fn add(&mut self, s: &SpanUsage, currency: Option<u32>) {
        if let Some(i) = s.input {
            self.input = self.input.saturating_add(i);
            self.seen |= 1;
        }
        if let Some(o) = s.output {
            self.output = self.output.saturating_add(o);
            self.seen |= 2;
        }
        if let Some(c) = s.cost {
            self.cost += c;
            self.seen |= 4;
            self.currency(currency);
        }
    }

    fn max(&mut self, s: &SpanUsage, currency: Option<u32>) {
        if let Some(i) = s.input {
            self.input = if self.seen & 1 == 0 {
                i
            } else {
                self.input.max(i)
            };
            self.seen |= 1;
        }
        if let Some(o) = s.output {
            self.output = if self.seen & 2 == 0 {
                o
            } else {
                self.output.max(o)
            };
            self.seen |= 2;
        }
        if let Some(c) = s.cost {
            self.cost = if self.seen & 4 == 0 {
                c
            } else {
                self.cost.max(c)
            };
            self.seen |= 4;
            self.currency(currency);
        }
    }
}

/// The usage attributes of one span.
pub(crate) struct SpanUsage {
    pub(crate) input: Option<i64>,
    pub(crate) output: Option<i64>,
    pub(crate) cost: Option<f64>,
    pub(crate) agent: bool,
}

/// A span's currency: its attribute's, or the price table's when it was
/// priced here.
pub(crate) enum SpanCurrency<'s> {
    Attribute(&'s str),
    Priced(Currency),
}

impl SpanCurrency<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            SpanCurrency::Attribute(c) => c,
            SpanCurrency::Priced(c) => c.as_str(),
        }
    }
}

/// `gen_ai.provider.name`, and the name older conventions gave it.
const PROVIDER: [&str; 2] = ["gen_ai.provider.name", "gen_ai.system"];
/// The model that answered, else the one asked for.
const MODEL: [&str; 2] = ["gen_ai.response.model", "gen_ai.request.model"];
/// The parts of the tokens priced apart: cache reads, cache writes,
/// reasoning.
const TOKEN_PARTS: [&str; 3] = [
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
];

impl SpanUsage {
    /// The span's usage and cost's currency: its cost attribute, else (for
    /// a call with tokens, a provider and a model) its price in `pricing`.
    pub(crate) fn of<'s>(
        span: &'s OtlpSpan<'_>,
        pricing: &Pricing,
    ) -> (Self, Option<SpanCurrency<'s>>) {
        let mut u = SpanUsage {
            input: None,
            output: None,
            cost: None,
            agent: false,
        };
        let mut currency = None;
        let (mut provider, mut model) = ([None; 2], [None; 2]);
        let mut parts = [0u64; 3];
        for kv in &span.attributes {
            let key = kv.key.as_ref();
            match key {
                INPUT_TOKENS => u.input = kv.value.as_i64(),
                OUTPUT_TOKENS => u.output = kv.value.as_i64(),
                COST => u.cost = kv.value.as_f64().filter(|c| c.is_finite()),
                COST_CURRENCY => {
                    currency = kv
                        .value
                        .as_str()
                        .filter(|c| !c.is_empty())
                        .map(SpanCurrency::Attribute);
                }
                OPERATION_NAME => {
                    u.agent = matches!(
                        &kv.value,
                        AnyValue::String(op) if op == "invoke_agent" || op == "create_agent"
                    );
                }
                _ => {
                    if let Some(i) = PROVIDER.iter().position(|k| *k == key) {
                        provider[i] = kv.value.as_str();
                    } else if let Some(i) = MODEL.iter().position(|k| *k == key) {
                        model[i] = kv.value.as_str();
                    } else if let Some(i) = TOKEN_PARTS.iter().position(|k| *k == key) {
                        parts[i] = kv.value.as_i64().map_or(0, |n| n.max(0).unsigned_abs());
                    }
                }
            }
        }
        if u.cost.is_none()
            && !u.agent
            && (u.input.is_some() || u.output.is_some())
            && let (Some(provider), Some(model)) = (
                provider.into_iter().flatten().next(),
                model.into_iter().flatten().next(),
            )
        {
            let tokens = |n: Option<i64>| n.map_or(0, |n| n.max(0).unsigned_abs());
            if let Some((amount, priced)) =
                pricing.price(provider, model, tokens(u.input), tokens(u.output), parts)
            {
                u.cost = Some(amount);
                currency = Some(SpanCurrency::Priced(priced));
            }
        }
        (u, currency)
    }

    fn is_empty(&self) -> bool {
        self.input.is_none() && self.output.is_none() && self.cost.is_none()
    }
}

/// Service names and currencies, stored once, referred to by index.
#[derive(Debug, Clone, Default)]
struct Interned {
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
}

impl Interned {
    fn get(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX - 1);
        self.names.push(name.into());
        self.index.insert(name.into(), i);
        i
    }

    fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", |n| n)
    }
}

/// A summary being built: about 130 bytes and the root name.
#[derive(Debug, Clone)]
struct Building {
    root_name: Box<str>,
    /// `(has a parent, start)` of the root candidate: lower is better.
    root_rank: (bool, u64),
    service: u32,
    has_root: bool,
    start: u64,
    end: u64,
    spans: u64,
    errors: u64,
    calls: Usage,
    agents: Usage,
}

/// Summaries of every trace of a file, built span by span.
///
/// ```
/// use agent_trace_cli::{Summaries, TraceFile};
///
/// let path = std::env::temp_dir().join(format!("agent-trace-cli-summaries-{}.jsonl", std::process::id()));
/// std::fs::write(&path, concat!(
///     r#"{"resourceSpans":[{"scopeSpans":[{"spans":["#,
///     r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"agent_task","#,
///     r#""startTimeUnixNano":"1000","endTimeUnixNano":"9000"},"#,
///     r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7","#,
///     r#""name":"chat","startTimeUnixNano":"2000","endTimeUnixNano":"3000","status":{"code":2},"#,
///     r#""attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"120"}}]}"#,
///     r#"]}]}]}"#, "\n",
/// ))?;
/// let mut summaries = Summaries::default();
/// TraceFile::new(&path).for_each_span(|origin, span| summaries.add(origin, &span), |_| {})?;
/// let traces = summaries.into_vec();
/// assert_eq!(traces.len(), 1);
/// assert_eq!(traces[0].root_name, "agent_task");
/// assert_eq!((traces[0].spans, traces[0].error_spans), (2, 1));
/// assert_eq!(traces[0].duration_nanos(), 8000);
/// assert_eq!(traces[0].input_tokens, Some(120));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Summaries {
    traces: HashMap<TraceId, Building>,
    services: Interned,
    currencies: Interned,
    pricing: Pricing,
}

impl Summaries {
    /// Summaries whose spans without a cost attribute are priced with
    /// `pricing` (the default: the built-in price table).
    pub fn with_pricing(pricing: Pricing) -> Self {
        Self {
            pricing,
            ..Self::default()
        }
    }

    /// Adds one span to its trace's summary.
    pub fn add(&mut self, origin: &Origin<'_, '_>, span: &OtlpSpan<'_>) {
        let start = span.start_time_unix_nano;
        let end = span.end_time_unix_nano.max(start);
        let rank = (span.parent_span_id.is_some(), start);
        let services = &mut self.services;
        let b = self
            .traces
            .entry(span.trace_id)
            .or_insert_with(|| Building {
                root_name: span.name.as_ref().into(),
                root_rank: rank,
                service: services.get(origin.service),
                has_root: false,
                start,
                end,
                spans: 0,
                errors: 0,
                calls: Usage::default(),
                agents: Usage::default(),
            });
        if rank < b.root_rank {
            b.root_rank = rank;
            b.root_name = span.name.as_ref().into();
            b.service = services.get(origin.service);
        }
        b.has_root |= span.parent_span_id.is_none();
        b.start = b.start.min(start);
        b.end = b.end.max(end);
        b.spans += 1;
        b.errors += u64::from(span.is_error());
        let (usage, currency) = SpanUsage::of(span, &self.pricing);
        if !usage.is_empty() {
            let currency = currency
                .filter(|_| usage.cost.is_some())
                .map(|c| self.currencies.get(c.as_str()));
            if usage.agent {
                b.agents.max(&usage, currency);
            } else {
                b.calls.add(&usage, currency);
            }
        }
    }

    /// How many traces so far.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    /// Whether no span was added.
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// The summaries, earliest first (ties by id).
    pub fn into_vec(self) -> Vec<TraceSummary> {
        let (services, currencies) = (&self.services, &self.currencies);
        let mut out: Vec<TraceSummary> = Vec::with_capacity(self.traces.len());
        out.extend(self.traces.into_iter().map(|(trace_id, b)| {
            let usage = if b.calls.is_empty() {
                b.agents
            } else {
                b.calls
            };
            TraceSummary {
                trace_id,
                root_name: b.root_name.into(),
                service: services.name(b.service).to_owned(),
                has_root: b.has_root,
                start_unix_nanos: b.start,
                end_unix_nanos: b.end,
                spans: b.spans,
                error_spans: b.errors,
                input_tokens: (usage.seen & 1 != 0).then_some(usage.input),
                output_tokens: (usage.seen & 2 != 0).then_some(usage.output),
                cost: (usage.seen & 4 != 0).then_some(usage.cost),
                currency: match usage.currency {
                    0 => None,
                    MIXED => Some("mixed".to_owned()),
                    i => Some(currencies.name(i - 1).to_owned()),
                },
            }
        }));
        out.sort_by(|a, b| SortKey::Start.compare(a, b));
        out
    }
}

/// Reads `source` (one [`TraceFile`](crate::TraceFile) or several
/// [`TraceFiles`](crate::TraceFiles)) and sums up each trace; a trace whose
/// spans are in several files is one summary.
///
/// # Errors
///
/// As [`SpanSource::for_each_span`]; malformed lines go to `on_malformed`
/// and are counted in the returned [`ReadStats`].
pub fn summarize(
    source: &impl SpanSource,
    on_malformed: impl FnMut(&Malformed),
) -> Result<(Vec<TraceSummary>, ReadStats), Error> {
    summarize_with(source, &Pricing::default(), on_malformed)
}

/// [`summarize`] with spans that carry tokens but no cost priced by
/// `pricing` rather than the built-in price table.
///
/// # Errors
///
/// As [`summarize`].
pub fn summarize_with(
    source: &impl SpanSource,
    pricing: &Pricing,
    on_malformed: impl FnMut(&Malformed),
) -> Result<(Vec<TraceSummary>, ReadStats), Error> {
    let mut summaries = Summaries::with_pricing(pricing.clone());
    let stats = source.for_each_span(|origin, span| summaries.add(origin, &span), on_malformed)?;
    Ok((summaries.into_vec(), stats))
}

/// What `list` orders traces by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Earliest first.
    #[default]
    Start,
    /// Longest first.
    Duration,
    /// Most spans first.
    Spans,
    /// Root span name, alphabetically.
    Name,
}

impl SortKey {
    /// The order of `a` and `b` under this key; ties go by start, then id,
    /// so every order is total and repeatable.
    pub fn compare(self, a: &TraceSummary, b: &TraceSummary) -> Ordering {
        let by_start = || {
            a.start_unix_nanos
                .cmp(&b.start_unix_nanos)
                .then(a.trace_id.cmp(&b.trace_id))
        };
        match self {
            Self::Start => by_start(),
            Self::Duration => b
                .duration_nanos()
                .cmp(&a.duration_nanos())
                .then_with(by_start),
            Self::Spans => b.spans.cmp(&a.spans).then_with(by_start),
            Self::Name => a.root_name.cmp(&b.root_name).then_with(by_start),
        }
    }
}

impl FromStr for SortKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "start" => Ok(Self::Start),
            "duration" => Ok(Self::Duration),
            "spans" => Ok(Self::Spans),
            "name" => Ok(Self::Name),
            _ => Err(format!(
                "unknown sort key {s:?} (expected start, duration, spans or name)"
            )),
        }
    }
}

/// Which traces `list` shows, and in what order.
///
/// ```
/// use agent_trace_cli::{ListQuery, SortKey};
///
/// let query = ListQuery { errors_only: true, slowest: Some(5), ..ListQuery::default() };
/// assert_eq!(query.apply(Vec::new()), []);
/// assert_eq!(ListQuery::default().sort, None);
/// # let _ = SortKey::Duration;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// The order; default [`SortKey::Start`], or [`SortKey::Duration`] with
    /// [`slowest`](Self::slowest).
    pub sort: Option<SortKey>,
    /// Reverses the order.
    pub reverse: bool,
    /// Only traces with at least one error span.
    pub errors_only: bool,
    /// Only traces whose root span name contains this (case-sensitive).
    pub name: Option<String>,
    /// Only the `N` longest traces (after the filters above).
    pub slowest: Option<usize>,
}

impl ListQuery {
    /// Filters, then keeps the slowest, then orders.
    pub fn apply(&self, mut traces: Vec<TraceSummary>) -> Vec<TraceSummary> {
        traces.retain(|t| {
            (!self.errors_only || t.error_spans > 0)
                && self.name.as_deref().is_none_or(|n| t.root_name.contains(n))
        });
        if let Some(n) = self.slowest {
            traces.sort_by(|a, b| SortKey::Duration.compare(a, b));
            traces.truncate(n);
        }
        let key = self.sort.unwrap_or(if self.slowest.is_some() {
            SortKey::Duration
        } else {
            SortKey::Start
        });
        traces.sort_by(|a, b| key.compare(a, b));
        if self.reverse {
            traces.reverse();
        }
        traces
    }
}

/// The `list` table: one line per trace, then how many were shown.
pub fn render_list(traces: &[TraceSummary], total: usize, paint: Paint) -> String {
    let mut out = Vec::new();
    // Writing to a `Vec` cannot fail.
    let _ = write_list(&mut out, traces, total, paint);
    String::from_utf8_lossy(&out).into_owned()
}

/// The cells of a trace's line.
fn cells(t: &TraceSummary) -> [String; 9] {
    let tokens = match (t.input_tokens, t.output_tokens) {
        (None, None) => "-".to_owned(),
        (i, o) => format!(
            "{}/{}",
            i.map_or("-".to_owned(), |i| i.to_string()),
            o.map_or("-".to_owned(), |o| o.to_string())
        ),
    };
    [
        t.trace_id.to_string(),
        format_timestamp(t.start_unix_nanos),
        format_duration(t.duration_nanos()),
        t.spans.to_string(),
        if t.error_spans == 0 {
            "-".to_owned()
        } else {
            t.error_spans.to_string()
        },
        tokens,
        t.cost
            .map_or("-".to_owned(), |c| format_cost(c, t.currency.as_deref())),
        t.service.clone(),
        t.root_name.clone(),
    ]
}

/// As [`render_list`], written to `out` line by line: the cells are
/// formatted twice (once for the column widths) rather than kept, so a
/// list of every trace of a large file costs no more than its summaries.
///
/// # Errors
///
/// Those of `out`.
pub fn write_list(
    out: &mut dyn std::io::Write,
    traces: &[TraceSummary],
    total: usize,
    paint: Paint,
) -> std::io::Result<()> {
    const HEADER: [&str; 9] = [
        "TRACE", "START", "DURATION", "SPANS", "ERR", "TOKENS", "COST", "SERVICE", "ROOT",
    ];
    // Right-aligned: the numbers.
    const RIGHT: [bool; 9] = [false, false, true, true, true, true, true, false, false];
    let mut widths = HEADER.map(|h| h.chars().count());
    for t in traces {
        for (w, cell) in widths.iter_mut().zip(cells(t)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = String::new();
    let mut write_line = |out: &mut dyn std::io::Write,
                          cells: &[String; 9],
                          header: bool,
                          error: bool|
     -> std::io::Result<()> {
        line.clear();
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            let text = if i == last {
                cell.clone()
            } else {
                pad(cell, widths[i], !RIGHT[i])
            };
            let painted = match i {
                _ if header => paint.paint(sgr::BOLD, &text),
                0 => paint.paint(sgr::DIM, &text),
                4 if error => paint.paint(sgr::BOLD_RED, &text),
                8 if error => paint.paint(sgr::RED, &text),
                _ => text.as_str().into(),
            };
            line.push_str(&painted);
            line.push_str(if i == last { "\n" } else { "  " });
        }
        out.write_all(line.as_bytes())
    };
    write_line(out, &HEADER.map(str::to_owned), true, false)?;
    for t in traces {
        write_line(out, &cells(t), false, t.error_spans > 0)?;
    }
    let spans: u64 = traces.iter().map(|t| t.spans).sum();
    if traces.len() == total {
        writeln!(
            out,
            "{} trace{}, {spans} span{}",
            total,
            if total == 1 { "" } else { "s" },
            if spans == 1 { "" } else { "s" }
        )
    } else {
        writeln!(
            out,
            "{} of {total} traces shown, {spans} spans",
            traces.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(json: &str) -> OtlpSpan<'_> {
        serde_json::from_str(json).unwrap()
    }

    fn usage(attrs: &[(&str, &str)]) -> String {
        let attrs: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!(r#"{{"key":"{k}","value":{v}}}"#))
            .collect();
        format!(
            r#"{{"traceId":"0000000000000000000000000000000a","spanId":"000000000000000b","attributes":[{}]}}"#,
            attrs.join(",")
        )
    }

    fn summary(spans: &[String]) -> TraceSummary {
        let mut s = Summaries::default();
        let origin = Origin {
            service: "svc",
            resource: &[],
            scope: "",
        };
        for text in spans {
            s.add(&origin, &span(text));
        }
        s.into_vec().remove(0)
    }

    #[test]
    fn currencies_that_differ_are_mixed() {
        let t = summary(&[
            usage(&[
                (COST, r#"{"doubleValue":1.5}"#),
                (COST_CURRENCY, r#"{"stringValue":"USD"}"#),
            ]),
            usage(&[
                (COST, r#"{"doubleValue":2}"#),
                (COST_CURRENCY, r#"{"stringValue":"EUR"}"#),
            ]),
            usage(&[
                (COST, r#"{"doubleValue":0.5}"#),
                (COST_CURRENCY, r#"{"stringValue":"USD"}"#),
            ]),
        ]);
        assert_eq!((t.cost, t.currency.as_deref()), (Some(4.0), Some("mixed")));
        assert_eq!((t.input_tokens, t.output_tokens), (None, None));
    }

    #[test]
    fn agent_usage_counts_only_without_call_usage() {
        let agent = |input: &str| {
            usage(&[
                (OPERATION_NAME, r#"{"stringValue":"invoke_agent"}"#),
                (INPUT_TOKENS, input),
            ])
        };
        // Two agents (an outer and an inner one): the larger is the trace's.
        let t = summary(&[
            agent(r#"{"intValue":"100"}"#),
            agent(r#"{"intValue":"300"}"#),
        ]);
        assert_eq!((t.input_tokens, t.output_tokens), (Some(300), None));
        // A call with usage: the calls are summed, the agents ignored.
        let t = summary(&[
            agent(r#"{"intValue":"300"}"#),
            usage(&[
                (INPUT_TOKENS, r#"{"intValue":"120"}"#),
                (OUTPUT_TOKENS, r#"{"intValue":7}"#),
            ]),
            usage(&[(INPUT_TOKENS, r#"{"intValue":"180"}"#)]),
        ]);
        assert_eq!((t.input_tokens, t.output_tokens), (Some(300), Some(7)));
    }
}
