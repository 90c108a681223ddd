//! The CLI's OTLP JSON reader: any bytes as a trace file (JSON lines, or
//! one document over several lines), read by `TraceFile::for_each_span`,
//! then everything the commands do with what was read (`list`'s summaries,
//! `stats`, `show`'s tree and waterfall, `report`).
//!
//! A file is outside input: reading it must never panic, whatever it holds,
//! and a bad line is reported, not fatal. Also checks what the reader
//! documents: every line is counted, every span and malformed line is
//! reported once, a span survives `into_owned` unchanged, and the waterfall
//! places every span exactly once, also when parent ids form a cycle.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use agent_trace_cli::{
    AnyValue, LatencyStats, ListQuery, Paint, ReportOptions, OtlpSpan, Summaries, TraceFile,
    TraceIdPrefix, WaterfallOptions, build_report, key_attributes, load_trace, render_list,
    render_stats, render_waterfall, waterfall_rows,
};
use libfuzzer_sys::fuzz_target;

/// Spans kept for the waterfall checks (a file may hold any number).
const KEPT: usize = 256;

/// One file per fuzzing process, in memory where the system has it.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        dir.join(format!(
            "agent-trace-fuzz-otlp-{}.jsonl",
            std::process::id()
        ))
    })
}

/// Lines as the reader counts them: a last line without `\n` counts too.
fn count_lines(data: &[u8]) -> u64 {
    let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(data.last().is_some_and(|&b| b != b'\n'))
}

fn exercise_value(value: &AnyValue<'_>) {
    let _ = value.to_string();
    let _ = value.as_i64();
    let _ = value.as_f64();
    let _ = value.as_str();
    let _ = value.type_name();
}

/// Everything a command asks of one span.
fn exercise_span(span: &OtlpSpan<'_>) {
    assert!(span.duration_nanos() <= span.end_time_unix_nano);
    let _ = span.is_error();
    let _ = span.kind.as_str();
    let _ = span.status.code.as_str();
    for kv in &span.attributes {
        exercise_value(&kv.value);
        // The first attribute of a key is the one found.
        let found = span.attribute(&kv.key).expect("an attribute of the span");
        assert!(std::ptr::eq(
            found,
            &span
                .attributes
                .iter()
                .find(|a| a.key == kv.key)
                .unwrap()
                .value
        ));
    }
    for event in &span.events {
        let _ = event.is_exception();
        for kv in &event.attributes {
            exercise_value(&kv.value);
        }
    }
    let _ = key_attributes(span);
    // Owning changes nothing (compared as text: a NaN double is not equal
    // to itself).
    let owned = span.clone().into_owned();
    assert_eq!(format!("{owned:?}"), format!("{span:?}"));
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("the fuzz file can be written");
    let file = TraceFile::new(path);

    let mut spans_seen = 0u64;
    let mut malformed_lines = Vec::new();
    let mut kept: Vec<OtlpSpan<'static>> = Vec::new();
    let mut summaries = Summaries::default();
    let mut latencies: Option<LatencyStats> = None;
    let stats = file
        .for_each_span(
            |origin, span| {
                spans_seen += 1;
                let _ = (origin.service, origin.scope, origin.resource.len());
                for kv in origin.resource {
                    exercise_value(&kv.value);
                }
                exercise_span(&span);
                summaries.add(origin, &span);
                latencies
                    .get_or_insert_with(|| LatencyStats::new(16))
                    .record(&span.name, span.duration_nanos());
                if kept.len() < KEPT {
                    kept.push(span.into_owned());
                }
            },
            |malformed| {
                let _ = malformed.to_string();
                malformed_lines.push(malformed.line);
            },
        )
        .expect("a readable regular file is read");

    // What the reader reports agrees with what it handed over.
    assert_eq!(stats.lines, count_lines(data), "{stats:?}");
    assert_eq!(stats.spans, spans_seen);
    assert_eq!(stats.malformed, malformed_lines.len() as u64);
    assert!(
        malformed_lines.windows(2).all(|w| w[0] < w[1]),
        "{malformed_lines:?}"
    );
    assert!(
        malformed_lines
            .iter()
            .all(|&l| (1..=stats.lines).contains(&l)),
        "{malformed_lines:?} of {} lines",
        stats.lines
    );

    if spans_seen == 0 {
        return;
    }

    // `list`.
    let traces = summaries.into_vec();
    assert!(!traces.is_empty() && traces.len() as u64 <= spans_seen);
    let total = traces.len();
    let query = ListQuery {
        slowest: Some(3),
        ..ListQuery::default()
    };
    let _ = render_list(&query.apply(traces.clone()), total, Paint::new(true));
    let _ = render_list(&ListQuery::default().apply(traces), total, Paint::plain());

    // `stats`.
    let latencies = latencies.expect("made with the first span");
    let accuracy = latencies.relative_accuracy();
    let operations = latencies.finish();
    let _ = render_stats(&operations, accuracy, Paint::plain());

    // `show`'s tree: every span exactly once, whatever the parent ids say.
    let refs: Vec<&OtlpSpan<'_>> = kept.iter().collect();
    let rows = waterfall_rows(&refs);
    let mut placed = vec![0u32; refs.len()];
    for row in &rows {
        placed[row.index] += 1;
    }
    assert!(placed.iter().all(|&n| n == 1), "{placed:?}");

    // `show` and `report`, for the first trace (by its whole id, and by a
    // prefix: the id as text parses back to the same prefix).
    let id = kept[0].trace_id;
    let prefix = TraceIdPrefix::parse(&id.to_string()).expect("a trace id is a prefix");
    assert!(prefix.matches(id));
    assert_eq!(TraceIdPrefix::parse(&prefix.to_string()).ok(), Some(prefix));
    let (trace, _) = load_trace(&file, prefix, |_| {}).expect("the trace was read before");
    assert_eq!(trace.trace_id, id);
    let options = WaterfallOptions {
        verbose: true,
        ..WaterfallOptions::default()
    };
    let _ = render_waterfall(&trace, options, Paint::new(true));
    let short = TraceIdPrefix::parse(&id.to_string()[..4]).expect("4 hex digits");
    let _ = load_trace(&file, short, |_| {});
    let report = ReportOptions {
        max_traces: 4,
        title: None,
    };
    let _ = build_report(&file, &report, |_| {}).expect("the file was read before");
});
