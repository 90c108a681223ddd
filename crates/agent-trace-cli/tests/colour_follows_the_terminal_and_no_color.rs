//! Colours by default only on a terminal, and never when `NO_COLOR` is
//! set; plain text when piped (the snapshots check that). The terminal is
//! a real pseudo-terminal from util-linux's `script`.

mod support;

use std::process::Command;

/// Runs `agent-trace show agent_runs.jsonl 0af7` on a pseudo-terminal;
/// what it printed there.
fn on_a_terminal(no_color: Option<&str>) -> String {
    let command = format!(
        "'{}' show '{}' 0af7",
        env!("CARGO_BIN_EXE_agent-trace"),
        support::fixture("agent_runs.jsonl").display()
    );
    let mut script = Command::new("script");
    script.args(["--quiet", "--return", "--command", &command, "/dev/null"]);
    script.env_remove("NO_COLOR");
    if let Some(v) = no_color {
        script.env("NO_COLOR", v);
    }
    let out = script
        .output()
        .expect("`script` (util-linux, Debian's essential bsdutils) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn a_terminal_gets_colours_unless_no_color_is_set() {
    let coloured = on_a_terminal(None);
    assert!(coloured.contains("classify_ticket"), "{coloured}");
    // Bold header, green bar of the ok spans.
    assert!(coloured.contains("\x1b[1mtrace\x1b[0m"), "{coloured:?}");
    assert!(coloured.contains("\x1b[32m████"), "{coloured:?}");

    let plain = on_a_terminal(Some("1"));
    assert!(plain.contains("classify_ticket"), "{plain}");
    assert!(!plain.contains('\x1b'), "{plain:?}");

    // An empty NO_COLOR does not count (https://no-color.org).
    assert!(on_a_terminal(Some("")).contains('\x1b'));
}

#[test]
fn color_always_and_never_override_the_detection() {
    let run = support::agent_trace(&["show", "agent_runs.jsonl", "0af7", "--color", "always"]);
    assert!(
        run.stdout.contains("\x1b[1mtrace\x1b[0m"),
        "{:?}",
        run.stdout
    );
    let run = support::agent_trace(&["--color", "never", "show", "agent_runs.jsonl", "0af7"]);
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
}
