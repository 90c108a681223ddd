//! The terminal output of `list`, `show` and `stats` (plain text, as when
//! piped), and the errors, compared with the snapshots in
//! `tests/snapshots/`.
//!
//! Each snapshot is a case: its first line is the command
//! (`$ agent-trace list agent_runs.jsonl`), run in `tests/fixtures`, and the
//! rest is what it must print: exit status, standard output, standard
//! error. The inputs are the hand-written fixtures (`agent_runs.jsonl`:
//! three traces with fixed timestamps; `other_sdk.json`: a pretty-printed
//! document in another SDK's spelling; `malformed.jsonl`; `diff_base.jsonl`
//! and `diff_head.jsonl`: 40 traces each of a research agent, the current
//! one's `chat gpt-4o` 50 ms slower with 60 more output tokens and 0.003
//! USD more per call, its tool failing in 10 of 40 traces instead of 2,
//! and a line cut short at line 21).
//!
//! To add a case, write a file with only the command line and run
//! `UPDATE_SNAPSHOTS=1 cargo test -p agent-trace-cli --test
//! terminal_output_matches_snapshots`, which rewrites every snapshot from
//! the current output; then read the diff before committing it.

mod support;

use std::path::Path;

fn snapshot_text(command: &str, run: &support::Run) -> String {
    format!(
        "{command}\nexit status {}\n--- stdout\n{}--- stderr\n{}",
        run.status.map_or("none".to_owned(), |c| c.to_string()),
        run.stdout,
        run.stderr
    )
}

/// Runs the case in `file`; the problem, if its output differs.
fn check(file: &Path, update: bool) -> Option<String> {
    let text = std::fs::read_to_string(file).expect("snapshot readable");
    let command = text.lines().next().unwrap_or_default().to_owned();
    let Some(args) = command.strip_prefix("$ agent-trace ") else {
        return Some(format!(
            "{}: the first line must be `$ agent-trace ARGS`",
            file.display()
        ));
    };
    let args: Vec<&str> = args.split_whitespace().collect();
    let run = support::agent_trace(&args);
    let actual = snapshot_text(&command, &run);
    if actual == text {
        return None;
    }
    if update {
        std::fs::write(file, &actual).expect("snapshot writable");
        eprintln!("updated {}", file.display());
        return None;
    }
    let mut report = format!("{} differs:\n", file.display());
    let (want, got): (Vec<&str>, Vec<&str>) = (text.lines().collect(), actual.lines().collect());
    for i in 0..want.len().max(got.len()) {
        let (w, g) = (want.get(i), got.get(i));
        if w != g {
            report.push_str(&format!(
                "  line {}:\n    expected: {}\n    actual:   {}\n",
                i + 1,
                w.unwrap_or(&"<none>"),
                g.unwrap_or(&"<none>")
            ));
        }
    }
    Some(report)
}

#[test]
fn terminal_output_matches_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/snapshots exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "snapshots missing from {}",
        dir.display()
    );
    let problems: Vec<String> = files.iter().filter_map(|f| check(f, update)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} snapshots differ (UPDATE_SNAPSHOTS=1 rewrites them):\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
}
