//! `record_exception` writes the OpenTelemetry exception event and sets an
//! error status; statuses accept the reference's words.

mod support;

use std::fmt;

use agent_trace_core::{Status, TraceError, Value};
use support::collecting_tracer;

#[derive(Debug)]
struct ToolFailed {
    source: std::io::Error,
}

impl fmt::Display for ToolFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("web_search failed")
    }
}

impl std::error::Error for ToolFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[test]
fn exception_event_has_type_message_and_cause_chain() {
    let (tracer, spans) = collecting_tracer();
    let mut span = tracer.start_trace("tool_execution");
    let err = ToolFailed {
        source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
    };
    span.record_exception(&err);
    drop(span);
    let s = spans.named("tool_execution");
    assert_eq!(s.events.len(), 1);
    let e = &s.events[0];
    assert_eq!(e.name, "exception");
    let ty = e
        .attribute("exception.type")
        .and_then(Value::as_str)
        .unwrap();
    assert!(ty.ends_with("ToolFailed"), "{ty}");
    assert_eq!(
        e.attribute("exception.message").and_then(Value::as_str),
        Some("web_search failed: connect timed out")
    );
    assert_eq!(
        s.status,
        Status::error("web_search failed: connect timed out")
    );
}

#[test]
fn a_dyn_error_is_recorded_too() {
    let (tracer, spans) = collecting_tracer();
    let err: Box<dyn std::error::Error> = "boom".into();
    let mut span = tracer.start_trace("s");
    span.record_exception(err.as_ref());
    drop(span);
    let s = spans.named("s");
    assert_eq!(
        s.events[0]
            .attribute("exception.message")
            .and_then(Value::as_str),
        Some("boom")
    );
}

#[test]
fn an_earlier_error_description_is_kept() {
    let (tracer, spans) = collecting_tracer();
    let mut span = tracer.start_trace("s");
    span.set_status(Status::from_name("error", "rate limited").unwrap());
    span.record_exception(&fmt::Error);
    drop(span);
    assert_eq!(spans.named("s").status, Status::error("rate limited"));
}

#[test]
fn status_words_of_the_reference() {
    assert_eq!("success".parse::<Status>().unwrap(), Status::Ok);
    assert_eq!("OK".parse::<Status>().unwrap(), Status::Ok);
    assert_eq!("unset".parse::<Status>().unwrap(), Status::Unset);
    assert!("error".parse::<Status>().unwrap().is_error());
    assert!(matches!(
        "fine".parse::<Status>(),
        Err(TraceError::UnknownStatus(s)) if s == "fine"
    ));
}

#[test]
fn setting_unset_does_not_clear_a_status() {
    let (tracer, spans) = collecting_tracer();
    let mut span = tracer.start_trace("s");
    span.set_status(Status::Ok);
    span.set_status(Status::Unset);
    drop(span);
    assert_eq!(spans.named("s").status, Status::Ok);
}
