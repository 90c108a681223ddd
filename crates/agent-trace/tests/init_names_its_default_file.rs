//! With no exporter given or named by the environment, `init()` writes the
//! JSON-lines file, and its guard names that file (the one this process
//! writes, with the spans in it). One test: it sets globals.
#![cfg(feature = "file")]

use std::time::Duration;

#[test]
fn the_guard_names_the_file_the_default_exporter_writes() {
    let guard = agent_trace::init()
        .service_name("default-file-test")
        .exporters_from_env(false)
        .install()
        .expect("first init");
    let path = guard
        .default_file()
        .expect("the default exporter is a file")
        .to_owned();
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("traces-"), "{name}");
    assert!(
        name.ends_with(&format!("-{}.jsonl", std::process::id())),
        "{name}"
    );

    agent_trace::tracer().start_trace("agent_task").end();
    guard.flush(Duration::from_secs(5)).expect("flushed");
    let text = std::fs::read_to_string(&path).expect("the named file exists");
    assert!(text.contains("\"agent_task\""), "{text}");
    drop(guard);
    std::fs::remove_file(&path).ok();
}
