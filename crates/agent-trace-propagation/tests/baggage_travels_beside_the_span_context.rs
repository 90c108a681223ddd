//! W3C Baggage travels in its own header, next to the span context, and a
//! `Baggage` always stays within the limits a receiver must accept.

use agent_trace_propagation::{
    Baggage, BaggageEntry, BaggagePropagator, CompositePropagator, MAX_BAGGAGE_LEN,
    MAX_BAGGAGE_MEMBERS, PropagationContext, PropagationError, SpanContext, TextMapPropagator,
    TraceContextPropagator,
};

#[test]
fn span_context_and_baggage_cross_together() {
    let propagator = CompositePropagator::default()
        .with(TraceContextPropagator)
        .with(BaggagePropagator);
    let span =
        SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    let mut baggage = Baggage::default();
    baggage.insert("userId", "Amélie").unwrap();
    baggage
        .insert_entry(
            BaggageEntry::new("serverNode", "DF 28")
                .unwrap()
                .with_property("ttl", Some("60"))
                .unwrap(),
        )
        .unwrap();
    let sent = PropagationContext::from(span).with_baggage(baggage);

    let mut headers: Vec<(String, String)> = Vec::new();
    propagator.inject(&sent, &mut headers);
    assert_eq!(
        headers[1],
        (
            "baggage".to_owned(),
            "userId=Am%C3%A9lie,serverNode=DF%2028;ttl=60".to_owned()
        )
    );
    assert_eq!(propagator.extract(&headers).unwrap(), sent);
}

#[test]
fn baggage_needs_no_span_context() {
    let cx = BaggagePropagator
        .extract(&[("baggage", "isProduction=false")])
        .unwrap();
    assert!(cx.span_context.is_none());
    assert_eq!(cx.baggage.get("isProduction"), Some("false"));
    let mut out: Vec<(String, String)> = Vec::new();
    TraceContextPropagator.inject(&cx, &mut out);
    assert!(out.is_empty());
}

#[test]
fn empty_baggage_writes_nothing() {
    let mut out: Vec<(String, String)> = Vec::new();
    BaggagePropagator.inject(&PropagationContext::default(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn the_member_limit_is_kept() {
    let mut baggage = Baggage::default();
    for i in 0..MAX_BAGGAGE_MEMBERS {
        baggage.insert(&format!("k{i}"), "v").unwrap();
    }
    let before = baggage.clone();
    assert_eq!(
        baggage.insert("k64", "v"),
        Err(PropagationError::TooManyBaggageMembers { max: 64 })
    );
    assert_eq!(baggage, before, "unchanged on error");
    // Replacing a value and removing a key are always possible.
    baggage.insert("k0", "w").unwrap();
    assert_eq!(baggage.get("k0"), Some("w"));
    assert!(baggage.remove("k1").is_some());
    baggage.insert("k64", "v").unwrap();
}

#[test]
fn the_size_limit_is_on_the_encoded_header() {
    let mut baggage = Baggage::default();
    // "k=" and 8190 octets: exactly 8192 bytes.
    baggage.insert("k", &"v".repeat(8190)).unwrap();
    assert_eq!(baggage.header().len(), MAX_BAGGAGE_LEN);
    let mut more = baggage.clone();
    assert!(matches!(
        more.insert("j", ""),
        Err(PropagationError::TooLong {
            what: "baggage",
            max: 8192,
            found: 8195
        })
    ));
    // A space encodes to three bytes: 2731 of them do not fit.
    let mut spaces = Baggage::default();
    assert!(matches!(
        spaces.insert("k", &" ".repeat(2731)),
        Err(PropagationError::TooLong { found: 8195, .. })
    ));
    spaces.insert("k", &" ".repeat(2730)).unwrap();
}

#[test]
fn bad_input_is_refused_whole_with_a_reason() {
    for (header, message) in [
        ("a=1,b", "baggage list member without '=': \"b\""),
        ("a b=1", "invalid baggage key \"a b\""),
        ("a=50%", "invalid baggage value for key \"a\""),
    ] {
        let e = header.parse::<Baggage>().unwrap_err();
        assert_eq!(e.to_string(), message);
    }
}
