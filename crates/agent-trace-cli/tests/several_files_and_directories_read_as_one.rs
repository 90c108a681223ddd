//! Every command reads several files, directories of them, and
//! `./agent-trace/` when given no path, as one: a trace whose spans are in
//! two files (a process restarted mid-trace) is one trace. A directory's
//! trace files are read oldest first; an empty directory, one without
//! trace files, a file that cannot be opened and a missing default
//! directory are errors that name the path.

mod support;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use agent_trace_cli::{
    Error, SpanSource, TraceFiles, TraceIdPrefix, load_trace, operation_stats, summarize,
};
use agent_trace_core::AgentStepTracer;
use agent_trace_export::{FileExporter, Resource, SpanExporter};
use support::{GenSpan, TempDir, agent_trace_in, json_line};

/// 2026-01-01T00:00:00Z, in nanoseconds; the files below are named after
/// runs that started at `RUN1` and `RUN2` seconds.
const T0: u64 = 1_767_225_600_000_000_000;
const MS: u64 = 1_000_000;
const RUN1: u64 = 1_767_225_600;
const RUN2: u64 = 1_767_225_660;

const RESEARCH: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
const SUPPORT: u128 = 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c;

fn span(trace: u128, span: u64, parent: Option<u64>, name: &str, ms: (u64, u64)) -> GenSpan<'_> {
    GenSpan {
        trace,
        span,
        parent,
        name,
        start_ns: T0 + ms.0 * MS,
        end_ns: T0 + ms.1 * MS,
        error: false,
    }
}

/// Two runs of an agent, as `init()` leaves them in `dir`: the research
/// trace's two calls were exported by the first process, its root span
/// (which ended after a restart) by the second, with the whole support
/// trace. The later run's file is written first, so that the directory
/// listing is not already in time order.
fn write_two_runs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut search = span(RESEARCH, 3, Some(1), "web_search", (450, 900));
    search.error = true;
    std::fs::write(
        dir.join(format!("traces-{RUN2}-102.jsonl")),
        json_line(
            "research-agent",
            &[span(RESEARCH, 1, None, "research_task", (0, 1_000))],
        ) + &json_line(
            "support-agent",
            &[
                span(SUPPORT, 10, None, "classify_ticket", (2_000, 2_250)),
                span(SUPPORT, 11, Some(10), "chat", (2_010, 2_200)),
            ],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("traces-{RUN1}-101.jsonl")),
        json_line(
            "research-agent",
            &[span(RESEARCH, 2, Some(1), "chat", (100, 400)), search],
        ),
    )
    .unwrap();
}

const LIST: &str = "\
TRACE                             START                     DURATION  SPANS  ERR  TOKENS  COST  SERVICE         ROOT
4bf92f3577b34da6a3ce929d0e0e4736  2026-01-01T00:00:00.000Z     1.00s      3    1       -     -  research-agent  research_task
0af7651916cd43dd8448eb211c80319c  2026-01-01T00:00:02.000Z     250ms      2    -       -     -  support-agent   classify_ticket
2 traces, 5 spans
";

const STATS: &str = "\
OPERATION        COUNT   MEAN    P50    P95    P99    MAX
chat                 2  245ms  190ms  300ms  300ms  300ms
classify_ticket      1  250ms  250ms  250ms  250ms  250ms
research_task        1  1.00s  1.00s  1.00s  1.00s  1.00s
web_search           1  450ms  450ms  450ms  450ms  450ms
4 operations, 5 spans; percentiles within 1% (the LatencyMetrics sketch), the rest exact
";

/// Runs `agent-trace ARGS` in `dir`, which must succeed with no warning.
fn ok(dir: &Path, args: &[&str]) -> String {
    let run = agent_trace_in(dir, args);
    assert_eq!(run.status, Some(0), "{args:?}: {}", run.stderr);
    assert_eq!(run.stderr, "", "{args:?}");
    run.stdout
}

/// `agent-trace ARGS` in `dir` fails with exactly this message.
fn fails(dir: &Path, args: &[&str], message: &str) {
    let run = agent_trace_in(dir, args);
    assert_eq!(run.status, Some(1), "{args:?}: {}", run.stdout);
    assert_eq!(run.stdout, "", "{args:?}");
    assert_eq!(
        run.stderr,
        format!("agent-trace: error: {message}\n"),
        "{args:?}"
    );
}

#[test]
fn a_directory_is_read_as_one_stream_and_a_split_trace_is_one_trace() {
    let tmp = TempDir::new("cli-directory");
    write_two_runs(&tmp.path("runs"));
    let first = format!("runs/traces-{RUN1}-101.jsonl");
    let second = format!("runs/traces-{RUN2}-102.jsonl");

    // A directory, with or without the slash, and its files named one by
    // one (in either order) give the same list.
    assert_eq!(ok(&tmp.0, &["list", "runs/"]), LIST);
    assert_eq!(ok(&tmp.0, &["list", "runs"]), LIST);
    assert_eq!(ok(&tmp.0, &["list", &second, &first]), LIST);
    // A file named twice, directly and through its directory, counts once.
    assert_eq!(ok(&tmp.0, &["list", "runs", &first]), LIST);
    // Each file alone holds a part of the research trace.
    assert!(ok(&tmp.0, &["list", &first]).ends_with("1 trace, 2 spans\n"));

    assert_eq!(ok(&tmp.0, &["stats", "runs/"]), STATS);

    // `show` draws the research trace from both files, by a prefix.
    let show = ok(&tmp.0, &["show", "runs/", "4bf9"]);
    let lines: Vec<&str> = show.lines().collect();
    assert_eq!(lines[0], "trace 4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(lines[1].contains("3 spans  ·  1 error"), "{show}");
    let rows: Vec<&str> = lines[4..]
        .iter()
        .map(|l| l.split("  ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        rows,
        ["research_task", "├─ chat", "└─ web_search"],
        "{show}"
    );
    // The same from the files named one by one, and one trace's id from
    // the other file.
    assert_eq!(ok(&tmp.0, &["show", &first, &second, "4bf9"]), show);
    assert!(ok(&tmp.0, &["show", "runs", "0af7"]).contains("2 spans"));

    // The report covers both files.
    let run = agent_trace_in(&tmp.0, &["report", "runs/", "-o", "report.html"]);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "agent-trace: wrote report.html (2 of 2 traces with waterfalls, 5 spans, 4 operations)\n"
    );
    let html = std::fs::read_to_string(tmp.path("report.html")).unwrap();
    assert!(
        html.contains("<title>agent-trace report: runs</title>"),
        "title"
    );
}

#[test]
fn no_path_means_the_agent_trace_directory() {
    let tmp = TempDir::new("cli-default-directory");
    write_two_runs(&tmp.path("agent-trace"));
    assert_eq!(ok(&tmp.0, &["list"]), LIST);
    assert_eq!(ok(&tmp.0, &["stats"]), STATS);
    assert_eq!(
        ok(&tmp.0, &["show", "4bf9"]),
        ok(&tmp.0, &["show", "agent-trace", "4bf9"])
    );
    let run = agent_trace_in(&tmp.0, &["report", "-o", "report.html"]);
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (
            Some(0),
            "agent-trace: wrote report.html (2 of 2 traces with waterfalls, 5 spans, 4 operations)\n"
        )
    );
    // An unknown id names the directory searched.
    fails(
        &tmp.0,
        &["show", "ffff"],
        "no trace with id ffff in ./agent-trace/",
    );

    // Without the directory, the message says what was looked for.
    let empty = TempDir::new("cli-no-default-directory");
    for args in [
        &["list"][..],
        &["stats"],
        &["show", "4bf9"],
        &["report", "-o", "report.html"],
    ] {
        fails(
            &empty.0,
            args,
            "no path given, and no ./agent-trace/ directory here (where agent_trace::init() \
             writes a file per run): name trace files, or directories of them",
        );
    }
    assert!(!empty.path("report.html").exists());
}

/// Sets a file's modification time to `secs` after the Unix epoch.
fn set_modified(path: &Path, secs: u64) {
    std::fs::File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn a_directory_is_read_oldest_first() {
    let tmp = TempDir::new("cli-directory-order");
    let dir = tmp.path("runs");
    std::fs::create_dir_all(dir.join("nested.jsonl")).unwrap();
    // Named by `init()`: ordered by the time in the name, whatever their
    // modification times say; a rotated copy (`.1`) before the file.
    for (name, modified) in [
        (format!("traces-{RUN2}-7.jsonl"), RUN1 - 600),
        (format!("traces-{RUN1}-9.jsonl"), RUN2 + 600),
        (format!("traces-{RUN1}-9.jsonl.1"), RUN2 + 600),
        // Named otherwise: ordered by modification time.
        ("collector.json".to_owned(), RUN1 + 30),
        ("late.ndjson".to_owned(), RUN2 + 30),
        // Not trace files.
        ("notes.txt".to_owned(), RUN1),
        ("report.html".to_owned(), RUN1),
    ] {
        let path = dir.join(&name);
        // One malformed line each, so that the warnings show the order.
        std::fs::write(&path, "not json\n").unwrap();
        set_modified(&path, modified);
    }
    let order = [
        format!("traces-{RUN1}-9.jsonl.1"),
        format!("traces-{RUN1}-9.jsonl"),
        "collector.json".to_owned(),
        format!("traces-{RUN2}-7.jsonl"),
        "late.ndjson".to_owned(),
    ];

    let files = TraceFiles::from_paths(["runs"].map(|p| tmp.path(p))).unwrap();
    let names: Vec<String> = files
        .files()
        .iter()
        .map(|f| f.path().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, order);
    assert_eq!(files.paths(), [tmp.path("runs")]);

    let run = agent_trace_in(&tmp.0, &["list", "runs"]);
    assert_eq!(run.status, Some(1));
    assert_eq!(
        run.stdout,
        "TRACE  START  DURATION  SPANS  ERR  TOKENS  COST  SERVICE  ROOT\n0 traces, 0 spans\n"
    );
    let mut expected: String = order
        .iter()
        .map(|name| {
            format!(
                "agent-trace: warning: runs/{name}:1: invalid JSON: expected ident (column 2)\n"
            )
        })
        .collect();
    expected.push_str(&format!(
        "agent-trace: error: 5 malformed lines skipped in runs/{}, runs/{}, runs/{} and 2 more\n",
        order[0], order[1], order[2]
    ));
    assert_eq!(run.stderr, expected);
}

#[test]
fn an_empty_directory_or_one_without_trace_files_is_an_error_naming_it() {
    let tmp = TempDir::new("cli-directory-errors");
    std::fs::create_dir_all(tmp.path("empty")).unwrap();
    std::fs::create_dir_all(tmp.path("other/nested.jsonl")).unwrap();
    std::fs::write(tmp.path("other/notes.txt"), "notes").unwrap();
    std::fs::create_dir_all(tmp.path("single")).unwrap();
    std::fs::write(tmp.path("single/README"), "").unwrap();
    write_two_runs(&tmp.path("runs"));

    for command in [&["list"][..], &["stats"], &["report", "-o", "r.html"]] {
        let with = |path: &'static str| {
            let mut args = vec![command[0], path];
            args.extend(&command[1..]);
            args
        };
        fails(
            &tmp.0,
            &with("empty"),
            "no trace files in empty: the directory is empty",
        );
        fails(
            &tmp.0,
            &with("other/"),
            "no trace files in other/: none of its 2 entries is a *.jsonl, *.json or *.ndjson file",
        );
        fails(
            &tmp.0,
            &with("single"),
            "no trace files in single: none of its 1 entry is a *.jsonl, *.json or *.ndjson file",
        );
    }
    // Among other paths, too: nothing is read.
    fails(
        &tmp.0,
        &["show", "runs", "empty", "4bf9"],
        "no trace files in empty: the directory is empty",
    );
    assert!(!tmp.path("r.html").exists());

    let err = TraceFiles::from_paths([tmp.path("empty")]).unwrap_err();
    assert!(matches!(err, Error::EmptyDirectory { ref path } if *path == tmp.path("empty")));
    let err = TraceFiles::from_paths([tmp.path("other")]).unwrap_err();
    assert!(
        matches!(err, Error::NoTraceFiles { entries: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn a_file_that_cannot_be_opened_is_an_error_naming_it() {
    let tmp = TempDir::new("cli-unreadable");
    write_two_runs(&tmp.path("runs"));
    // Named among good ones.
    fails(
        &tmp.0,
        &["list", "runs", "missing.jsonl"],
        "cannot open missing.jsonl: No such file or directory (os error 2)",
    );
    // Found in a directory: a link to a file that is gone.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("gone.jsonl", tmp.path("runs/traces-1767225700-5.jsonl"))
            .unwrap();
        for args in [
            &["list", "runs"][..],
            &["stats", "runs/"],
            &["show", "runs", "4bf9"],
        ] {
            let dir = args[1];
            fails(
                &tmp.0,
                args,
                &format!(
                    "cannot open {dir}{}traces-1767225700-5.jsonl: No such file or directory (os error 2)",
                    if dir.ends_with('/') { "" } else { "/" }
                ),
            );
        }
    }
}

#[test]
fn unknown_and_ambiguous_ids_name_the_paths_searched() {
    let tmp = TempDir::new("cli-ids-in-files");
    write_two_runs(&tmp.path("runs"));
    let first = format!("runs/traces-{RUN1}-101.jsonl");
    let second = format!("runs/traces-{RUN2}-102.jsonl");
    fails(
        &tmp.0,
        &["show", &first, &second, "ffff"],
        &format!("no trace with id ffff in {first}, {second}"),
    );
    // Paths as named, the first three.
    fails(
        &tmp.0,
        &["show", "runs", "runs/", &first, &second, "ffff"],
        &format!("no trace with id ffff in runs, runs/, {first} and 1 more"),
    );
    // A prefix that a trace of the directory has, and one of another file.
    std::fs::write(
        tmp.path("more.jsonl"),
        json_line(
            "research-agent",
            &[span(
                0x4bf9_2f35_0000_0000_0000_0000_0000_000c,
                1,
                None,
                "research_task",
                (5_000, 7_500),
            )],
        ),
    )
    .unwrap();
    fails(
        &tmp.0,
        &["show", "runs", "more.jsonl", "4bf92f35"],
        "trace id prefix 4bf92f35 is ambiguous in runs, more.jsonl: it matches \
         4bf92f3500000000000000000000000c, 4bf92f3577b34da6a3ce929d0e0e4736",
    );
}

/// Spans of the real tracer, written by the real file exporter into two
/// files named as `init()` names them (a process that exported the calls,
/// restarted, and exported the root): read back as one trace.
#[test]
fn spans_the_real_exporter_wrote_to_two_files_are_one_trace() {
    let tmp = TempDir::new("cli-real-exporter-files");
    let dir = tmp.path("agent-trace");
    let tracer = AgentStepTracer::new();
    let task = tracer.trace_builder("research_task").start().entered();
    tracer.in_span("chat gpt-4o", |_| {});
    tracer.in_span("execute_tool web_search", |_| {});
    tracer.in_span("chat gpt-4o", |_| {});
    let id = task.trace_id();
    task.end();
    let spans = tracer
        .trace(id)
        .expect("the tracer keeps recent traces")
        .spans()
        .to_vec();
    assert_eq!(spans.len(), 4);
    let (calls, root): (Vec<_>, Vec<_>) =
        spans.into_iter().partition(|s| s.parent_span_id.is_some());
    for (name, part) in [
        ("traces-1767225600-101.jsonl", &calls),
        ("traces-1767225601-102.jsonl", &root),
    ] {
        let mut exporter = FileExporter::builder()
            .path(dir.join(name))
            .resource(Resource::new("restarted-agent"))
            .build()
            .unwrap();
        exporter.export(part).unwrap();
        exporter.force_flush().unwrap();
    }

    let files = TraceFiles::from_paths([&dir]).unwrap();
    assert_eq!(files.files().len(), 2);
    let (traces, read) = summarize(&files, |m| panic!("malformed: {m}")).unwrap();
    assert_eq!((read.spans, read.batches, read.malformed), (4, 2, 0));
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].trace_id, id);
    assert_eq!(
        (traces[0].spans, traces[0].root_name.as_str()),
        (4, "research_task")
    );
    assert!(traces[0].has_root);
    let prefix = TraceIdPrefix::parse(&id.to_string()).unwrap();
    let (trace, _) = load_trace(&files, prefix, |m| panic!("malformed: {m}")).unwrap();
    assert_eq!(trace.spans.len(), 4);
    let (ops, _) = operation_stats(&files, 100, |m| panic!("malformed: {m}")).unwrap();
    let counts: Vec<(&str, u64)> = ops
        .iter()
        .map(|o| (o.operation.as_str(), o.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("chat gpt-4o", 2),
            ("execute_tool web_search", 1),
            ("research_task", 1)
        ]
    );

    // The binary, with no path, in the directory above.
    let list = ok(&tmp.0, &["list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[1].starts_with(&id.to_string()), "{list}");
    assert!(
        lines[1].ends_with("  4    -       -     -  restarted-agent  research_task"),
        "{list}"
    );
    assert_eq!(lines[2], "1 trace, 4 spans");
    let show = ok(&tmp.0, &["show", &id.to_string()[..8]]);
    assert!(show.contains("·  4 spans"), "{show}");
}
