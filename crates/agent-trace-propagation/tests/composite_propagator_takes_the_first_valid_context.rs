//! A `CompositePropagator` reads with each propagator in order, keeps the
//! first valid span context and the first non-empty baggage, reports an error
//! only when nothing could be read, and writes with the propagators
//! configured for writing.

use std::sync::Arc;

use agent_trace_propagation::{
    B3Encoding, B3Propagator, BaggagePropagator, CompositePropagator, PropagationError,
    TextMapPropagator, TraceContextPropagator,
};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const B3_SINGLE: &str = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0";

fn w3c_then_b3() -> CompositePropagator {
    CompositePropagator::default()
        .with(TraceContextPropagator)
        .with(BaggagePropagator)
        .with(B3Propagator::new(B3Encoding::SingleHeader))
}

#[test]
fn the_first_format_present_wins() {
    let headers = [("b3", B3_SINGLE), ("traceparent", TRACEPARENT)];
    let cx = w3c_then_b3().extract(&headers).unwrap();
    assert_eq!(
        cx.span_context.unwrap().trace_id.to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );

    let b3_first = CompositePropagator::default()
        .with(B3Propagator::default())
        .with(TraceContextPropagator);
    let cx = b3_first.extract(&headers).unwrap();
    assert_eq!(
        cx.span_context.unwrap().trace_id.to_string(),
        "80f198ee56343ba864fe8b2a57d3eff7"
    );
}

#[test]
fn an_invalid_format_gives_way_to_a_valid_one() {
    let headers = [
        ("traceparent", "00-not-a-traceparent"),
        ("b3", B3_SINGLE),
        ("baggage", "k=v"),
    ];
    let cx = w3c_then_b3().extract(&headers).unwrap();
    let span = cx.span_context.unwrap();
    assert_eq!(
        span.trace_id.to_string(),
        "80f198ee56343ba864fe8b2a57d3eff7"
    );
    assert!(!span.is_sampled());
    assert_eq!(cx.baggage.get("k"), Some("v"));
}

#[test]
fn a_bad_part_does_not_hide_a_good_one() {
    let headers = [("traceparent", TRACEPARENT), ("baggage", "no value")];
    let cx = w3c_then_b3().extract(&headers).unwrap();
    assert!(cx.span_context.is_some());
    assert!(cx.baggage.is_empty());
}

#[test]
fn the_first_error_is_returned_when_nothing_was_read() {
    let headers = [
        (
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("b3", "nonsense"),
    ];
    assert_eq!(
        w3c_then_b3().extract(&headers),
        Err(PropagationError::ForbiddenVersion)
    );
    // No headers at all is not an error.
    let none: [(&str, &str); 0] = [];
    assert!(w3c_then_b3().extract(&none).unwrap().is_empty());
}

#[test]
fn extract_only_propagators_are_not_written() {
    let propagator = CompositePropagator::default()
        .with(TraceContextPropagator)
        .with_extract_only(B3Propagator::new(B3Encoding::SingleAndMultiHeader));
    let cx = propagator.extract(&[("b3", B3_SINGLE)]).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    propagator.inject(&cx, &mut out);
    assert_eq!(
        out,
        vec![(
            "traceparent".to_owned(),
            "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-00".to_owned()
        )]
    );
    assert_eq!(
        propagator.fields(),
        vec![
            "traceparent",
            "tracestate",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-parentspanid",
            "x-b3-sampled",
            "x-b3-flags"
        ]
    );
}

#[test]
fn propagators_can_be_chosen_at_run_time() {
    let configured = ["tracecontext", "baggage", "b3"];
    let propagators = configured.iter().map(|name| -> Arc<dyn TextMapPropagator> {
        match *name {
            "tracecontext" => Arc::new(TraceContextPropagator),
            "baggage" => Arc::new(BaggagePropagator),
            _ => Arc::new(B3Propagator::default()),
        }
    });
    let propagator = CompositePropagator::new(propagators);
    let cx = propagator
        .extract(&[("traceparent", TRACEPARENT), ("baggage", "a=1")])
        .unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    propagator.inject(&cx, &mut out);
    let names: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "traceparent",
            "baggage",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-sampled"
        ]
    );
}
