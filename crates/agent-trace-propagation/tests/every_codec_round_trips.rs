//! Every codec reads back exactly what it wrote, and every parser that accepts
//! a text writes it back in a form it accepts again.

use std::collections::HashMap;

use agent_trace_propagation::{
    B3, B3Encoding, B3Propagator, B3Sampling, Baggage, BaggageEntry, BaggagePropagator,
    CompositePropagator, Injector, PropagationContext, SpanContext, SpanId, TextMapPropagator,
    TraceContextPropagator, TraceFlags, TraceId, TraceState,
};
use proptest::prelude::*;

fn trace_id() -> impl Strategy<Value = TraceId> {
    prop_oneof![
        any::<u128>().prop_filter_map("non-zero", TraceId::from_u128),
        // 64-bit ids, as B3 peers send them.
        any::<u64>().prop_filter_map("non-zero", |v| TraceId::from_u128(u128::from(v))),
    ]
}

fn span_id() -> impl Strategy<Value = SpanId> {
    any::<u64>().prop_filter_map("non-zero", SpanId::from_u64)
}

fn trace_state_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_*/-]{0,20}",
        "[a-z0-9][a-z0-9_*/-]{0,12}@[a-z][a-z0-9_*/-]{0,13}",
        "[a-z]{1,3}[a-z0-9]{150,253}",
    ]
}

fn trace_state_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,20}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]",
        "[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{100,256}",
    ]
}

fn trace_state() -> impl Strategy<Value = TraceState> {
    prop::collection::vec((trace_state_key(), trace_state_value()), 0..=32).prop_map(|members| {
        let mut seen = std::collections::HashSet::new();
        let unique = members.into_iter().filter(|(k, _)| seen.insert(k.clone()));
        TraceState::from_key_value(unique).expect("generated members are valid")
    })
}

fn span_context() -> impl Strategy<Value = SpanContext> {
    (trace_id(), span_id(), any::<u8>(), trace_state()).prop_map(|(t, s, f, state)| {
        SpanContext::new(t, s, TraceFlags::new(f)).with_trace_state(state)
    })
}

fn baggage_entry() -> impl Strategy<Value = BaggageEntry> {
    let token = "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}";
    (
        token,
        any::<String>(),
        prop::collection::vec((token, prop::option::of(any::<String>())), 0..3),
    )
        .prop_map(|(key, value, properties)| {
            properties.into_iter().fold(
                BaggageEntry::new(&key, &value).expect("token"),
                |entry, (k, v)| entry.with_property(&k, v.as_deref()).expect("token"),
            )
        })
}

fn baggage() -> impl Strategy<Value = Baggage> {
    prop::collection::vec(baggage_entry(), 0..80).prop_map(|entries| {
        let mut baggage = Baggage::default();
        for entry in entries {
            // Past the limits, insert refuses; the rest is a valid baggage.
            let _ = baggage.insert_entry(entry);
        }
        baggage
    })
}

fn b3_sampling() -> impl Strategy<Value = B3Sampling> {
    prop_oneof![
        Just(B3Sampling::Deny),
        Just(B3Sampling::Accept),
        Just(B3Sampling::Debug),
    ]
}

fn b3() -> impl Strategy<Value = B3> {
    prop_oneof![
        b3_sampling().prop_map(B3::SamplingOnly),
        (
            trace_id(),
            span_id(),
            prop::option::of(b3_sampling()),
            prop::option::of(span_id())
        )
            .prop_map(
                |(trace_id, span_id, sampling, parent_span_id)| B3::Context {
                    trace_id,
                    span_id,
                    sampling,
                    parent_span_id,
                }
            ),
    ]
}

/// `cx` as a receiver sees it: remote, with only the flags the writer keeps.
fn as_received(cx: &SpanContext) -> SpanContext {
    let mut cx = cx.clone().into_remote();
    cx.trace_flags = TraceFlags::new(cx.trace_flags.to_u8() & 0x03);
    cx
}

proptest! {
    #[test]
    fn traceparent_round_trips(cx in span_context()) {
        let header = cx.to_traceparent();
        prop_assert_eq!(header.len(), 55);
        let back = SpanContext::from_traceparent(&header).unwrap();
        prop_assert_eq!(back, as_received(&cx).with_trace_state(TraceState::NONE));
    }

    #[test]
    fn trace_state_round_trips(state in trace_state()) {
        prop_assert_eq!(state.to_string().parse::<TraceState>().unwrap(), state);
    }

    #[test]
    fn trace_context_headers_round_trip(cx in span_context()) {
        let headers = cx.to_headers();
        let back = SpanContext::from_headers(&headers).unwrap();
        let full = cx.trace_state.to_string();
        if full.len() <= 512 {
            prop_assert_eq!(back, as_received(&cx));
        } else {
            // Truncated: whole entries, in order, at most 512 characters.
            let written = &headers["tracestate"];
            prop_assert!(written.len() <= 512);
            let kept: Vec<_> = back.trace_state.iter().collect();
            let mut original = cx.trace_state.iter();
            for member in &kept {
                prop_assert!(original.any(|m| m == *member), "{:?} out of order", member);
            }
            // Entries over 128 characters go first, rightmost first: a small
            // entry is dropped only once no large one is left, and a large
            // entry is kept only if every large entry dropped is to its right.
            let large = |(k, v): (&str, &str)| k.len() + 1 + v.len() > 128;
            let all: Vec<_> = cx.trace_state.iter().collect();
            let dropped: Vec<usize> = (0..all.len()).filter(|i| !kept.contains(&all[*i])).collect();
            if dropped.iter().any(|&i| !large(all[i])) {
                prop_assert!(kept.iter().all(|&m| !large(m)));
            }
            if let Some(last_kept_large) = (0..all.len()).rev().find(|&i| large(all[i]) && kept.contains(&all[i])) {
                prop_assert!(dropped.iter().all(|&i| !large(all[i]) || i > last_kept_large));
            }
            prop_assert_eq!(back.with_trace_state(TraceState::NONE),
                as_received(&cx).with_trace_state(TraceState::NONE));
        }
    }

    #[test]
    fn baggage_round_trips(baggage in baggage()) {
        let header = baggage.to_string();
        prop_assert!(header.len() <= 8192);
        prop_assert!(baggage.len() <= 64);
        prop_assert_eq!(header.parse::<Baggage>().unwrap(), baggage.clone());

        let mut carrier: Vec<(String, String)> = Vec::new();
        let cx = PropagationContext::default().with_baggage(baggage.clone());
        BaggagePropagator.inject(&cx, &mut carrier);
        prop_assert_eq!(BaggagePropagator.extract(&carrier).unwrap(), cx);
    }

    #[test]
    fn b3_single_header_round_trips(b3 in b3()) {
        let back: B3 = b3.to_string().parse().unwrap();
        let expected = match b3 {
            // The single header cannot carry a parent without a decision.
            B3::Context { trace_id, span_id, sampling: None, .. } => B3::Context {
                trace_id, span_id, sampling: None, parent_span_id: None,
            },
            other => other,
        };
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn b3_multi_header_round_trips(b3 in b3()) {
        let mut carrier = HashMap::new();
        b3.inject_multi(&mut carrier);
        prop_assert_eq!(B3::from_multi(&carrier).unwrap(), Some(b3));
    }

    #[test]
    fn b3_propagator_round_trips_in_every_encoding(
        cx in span_context(),
        encoding in prop_oneof![
            Just(B3Encoding::SingleHeader),
            Just(B3Encoding::MultiHeader),
            Just(B3Encoding::SingleAndMultiHeader),
        ],
    ) {
        let propagator = B3Propagator::new(encoding);
        let mut carrier = HashMap::new();
        propagator.inject(&PropagationContext::from(cx.clone()), &mut carrier);
        let back = propagator.extract(&carrier).unwrap().span_context.unwrap();
        let expected = SpanContext::new(cx.trace_id, cx.span_id,
            TraceFlags::NONE.with_sampled(cx.is_sampled())).into_remote();
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn composite_round_trips(cx in span_context(), baggage in baggage()) {
        let propagator = CompositePropagator::default()
            .with(TraceContextPropagator)
            .with(BaggagePropagator)
            .with(B3Propagator::new(B3Encoding::SingleAndMultiHeader));
        let sent = PropagationContext::from(cx.clone()).with_baggage(baggage);
        let mut carrier: Vec<(String, String)> = Vec::new();
        propagator.inject(&sent, &mut carrier);
        let back = propagator.extract(&carrier).unwrap();
        prop_assert_eq!(back.baggage, sent.baggage);
        let span = back.span_context.unwrap();
        // W3C comes first, so its flags and trace state win over B3.
        prop_assert_eq!(span.trace_flags, as_received(&cx).trace_flags);
        prop_assert_eq!(span.trace_id, cx.trace_id);
    }

    #[test]
    fn hash_map_injector_keeps_one_spelling(name in "[a-zA-Z]{1,8}", a in ".*", b in ".*") {
        let mut map: HashMap<String, String> = HashMap::new();
        map.set(&name.to_uppercase(), a);
        map.set(&name.to_lowercase(), b.clone());
        prop_assert_eq!(map.len(), 1);
        prop_assert_eq!(map.get(&name.to_lowercase()), Some(&b));
    }
}
