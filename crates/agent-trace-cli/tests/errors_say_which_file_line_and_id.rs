//! A missing file, a malformed line and an unknown trace id are typed
//! errors that say what went wrong; malformed lines are skipped with their
//! line number and the rest of the file is still read.

mod support;

use std::io::ErrorKind;

use agent_trace_cli::{Error, Malformed, TraceFile, TraceIdPrefix, load_trace, summarize};

#[test]
fn a_missing_file_is_an_open_error_naming_it() {
    let path = support::fixture("no-such-file.jsonl");
    let err = summarize(&TraceFile::new(&path), |_| {}).unwrap_err();
    match &err {
        Error::Open { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.kind(), ErrorKind::NotFound);
        }
        other => panic!("expected Error::Open, got {other:?}"),
    }
    assert!(err.to_string().starts_with("cannot open "), "{err}");
    assert!(err.to_string().ends_with("no-such-file.jsonl"), "{err}");

    let run = support::agent_trace(&["stats", "no-such-file.jsonl"]);
    assert_eq!(run.status, Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "agent-trace: error: cannot open no-such-file.jsonl: No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_directory_is_not_a_trace_file() {
    // `TraceFile` is one file; `TraceFiles` reads the files of a directory
    // (tests/several_files_and_directories_read_as_one.rs).
    let err = summarize(&TraceFile::new(support::fixtures()), |_| {}).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
}

#[test]
fn malformed_lines_are_reported_by_number_and_the_rest_is_read() {
    // malformed.jsonl: 1 valid, 2 not JSON, 3 blank, 4 a bad trace id,
    // 5 cut short, 6 valid.
    let mut problems: Vec<Malformed> = Vec::new();
    let (traces, read) = summarize(&TraceFile::new(support::fixture("malformed.jsonl")), |m| {
        problems.push(m.clone());
    })
    .unwrap();
    let lines: Vec<u64> = problems.iter().map(|m| m.line).collect();
    assert_eq!(lines, [2, 4, 5]);
    assert!(
        problems[0].message.starts_with("invalid JSON: "),
        "{:?}",
        problems[0]
    );
    assert!(
        problems[1]
            .message
            .contains("invalid trace id \"not-a-trace-id\""),
        "{:?}",
        problems[1]
    );
    assert!(
        problems[2].message.starts_with("truncated JSON: "),
        "{:?}",
        problems[2]
    );
    assert_eq!(
        (read.lines, read.batches, read.spans, read.malformed),
        (6, 2, 7, 3)
    );
    // Line 1 holds trace 4bf92f35..0c (3 spans), line 6 two spans of each
    // of the other two traces.
    let spans: Vec<(String, u64)> = traces
        .iter()
        .map(|t| (t.trace_id.to_string(), t.spans))
        .collect();
    assert_eq!(
        spans,
        [
            ("4bf92f3577b34da6a3ce929d0e0e4736".to_owned(), 2),
            ("0af7651916cd43dd8448eb211c80319c".to_owned(), 2),
            ("4bf92f3500000000000000000000000c".to_owned(), 3),
        ]
    );

    // The command prints the table all the same, a warning per line, a
    // summary, and fails.
    let run = support::agent_trace(&["list", "malformed.jsonl"]);
    assert_eq!(run.status, Some(1));
    assert!(
        run.stdout.ends_with("3 traces, 7 spans\n"),
        "{}",
        run.stdout
    );
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("agent-trace: warning: malformed.jsonl:"))
        .collect();
    assert_eq!(warnings.len(), 3, "{}", run.stderr);
    assert!(warnings[1].starts_with("agent-trace: warning: malformed.jsonl:4: "));
    assert!(
        run.stderr
            .ends_with("agent-trace: error: 3 malformed lines skipped in malformed.jsonl\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_broken_multi_line_document_is_reported_at_its_file_line() {
    let dir = support::TempDir::new("broken-document");
    let path = dir.path("pretty.json");
    // Two blank lines, then a document whose span on line 8 has a bad id.
    std::fs::write(
        &path,
        "\n\n{\n  \"resourceSpans\": [{\n    \"scopeSpans\": [{\n      \"spans\": [{\n        \"name\": \"x\",\n        \"traceId\": \"12\",\n        \"spanId\": \"00f067aa0ba902b7\"\n      }]\n    }]\n  }]\n}\n",
    )
    .unwrap();
    let mut problems = Vec::new();
    let read = TraceFile::new(&path)
        .for_each_span(|_, _| {}, |m| problems.push(m.clone()))
        .unwrap();
    assert_eq!(read.malformed, 1);
    assert_eq!(problems[0].line, 8, "{problems:?}");
    assert!(
        problems[0].message.contains("invalid trace id \"12\""),
        "{problems:?}"
    );
}

/// Found by `cargo fuzz run otlp_json` (`fuzz/`): a document cut short
/// was reported on the line after the file's last, when the file ended in
/// a newline, or when it was one line (the reader adds a newline after the
/// first line).
#[test]
fn a_truncated_document_is_reported_at_the_last_line() {
    let dir = support::TempDir::new("truncated-document");
    for (name, text, lines) in [
        // A single line cut short by a crash, with and without its newline.
        ("cut.jsonl", "{\"resourceSpans\":[", 1),
        ("cut-newline.jsonl", "{\"resourceSpans\":[\n", 1),
        // A pretty-printed document cut short after a newline.
        (
            "pretty.json",
            "{\n  \"resourceSpans\": [\n    {\"scopeSpans\": []}\n",
            3,
        ),
    ] {
        let path = dir.path(name);
        std::fs::write(&path, text).unwrap();
        let mut problems = Vec::new();
        let read = TraceFile::new(&path)
            .for_each_span(|_, _| {}, |m| problems.push(m.clone()))
            .unwrap();
        assert_eq!((read.lines, read.malformed), (lines, 1), "{name}");
        assert_eq!(problems[0].line, lines, "{name}: {problems:?}");
        assert!(
            problems[0].message.starts_with("truncated JSON: "),
            "{name}: {problems:?}"
        );
    }
}

#[test]
fn an_unknown_or_ambiguous_trace_id_is_an_error() {
    let file = TraceFile::new(support::fixture("agent_runs.jsonl"));
    let err = load_trace(&file, TraceIdPrefix::parse("ffff").unwrap(), |_| {}).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTrace { id, .. } if id == "ffff"),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("no trace with id ffff in "),
        "{err}"
    );

    let err = load_trace(&file, TraceIdPrefix::parse("4BF92F35").unwrap(), |_| {}).unwrap_err();
    match err {
        Error::AmbiguousTrace {
            prefix,
            candidates,
            more,
            ..
        } => {
            assert_eq!(prefix, "4bf92f35");
            assert_eq!(
                candidates,
                [
                    "4bf92f3500000000000000000000000c",
                    "4bf92f3577b34da6a3ce929d0e0e4736"
                ]
            );
            assert!(!more);
        }
        other => panic!("expected Error::AmbiguousTrace, got {other:?}"),
    }

    for bad in ["", "xyz", "4bf9-2f", "4bf92f3577b34da6a3ce929d0e0e47360"] {
        assert!(
            matches!(TraceIdPrefix::parse(bad), Err(Error::InvalidTraceId { .. })),
            "{bad:?}"
        );
    }

    let run = support::agent_trace(&["show", "agent_runs.jsonl", "ffff"]);
    assert_eq!(run.status, Some(1));
    assert_eq!(
        run.stderr,
        "agent-trace: error: no trace with id ffff in agent_runs.jsonl\n"
    );
}

#[test]
fn bad_arguments_exit_with_status_two() {
    // `list` needs no path (it reads ./agent-trace/), `show` a trace id.
    let run = support::agent_trace(&["show"]);
    assert_eq!(run.status, Some(2));
    assert!(run.stderr.contains("<PATH|TRACE_ID>"), "{}", run.stderr);
    let run = support::agent_trace(&["list", "agent_runs.jsonl", "--sort", "size"]);
    assert_eq!(run.status, Some(2));
    assert!(
        run.stderr.contains("unknown sort key \"size\""),
        "{}",
        run.stderr
    );
}
