//! Content cut to a length limit is cut on a UTF-8 boundary, and a JSON
//! document stays a valid JSON document (as `serde_json` reads it) within
//! the limit, whatever the document and the limit; scrubbing JSON keeps it
//! valid too. Checked over many generated inputs, and end to end through
//! the span helpers with the span limits set to the same length.

use agent_trace::genai::{self, ContentCapture, Message};
use agent_trace::privacy::{
    ScrubberChain, is_json, prepare_content, scrub_json, truncate_json, truncate_utf8,
};
use agent_trace::{SpanLimits, Value};
use proptest::prelude::*;
use serde_json::Value as Json;

mod support;

/// Text with multi-byte characters, quotes, backslashes and control
/// characters, which JSON has to escape.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a"),
            Just("é"),
            Just("日本"),
            Just("😀"),
            Just("\""),
            Just("\\"),
            Just("\n"),
            Just("\u{1}"),
            Just(" "),
            // Delimited, as in text: an address or a number run into the
            // next word is another token.
            Just(" ana@example.com "),
            Just(" 4111111111111111 "),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        (-1e12f64..1e12).prop_map(Json::from),
        text().prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|members| Json::Object(members.into_iter().collect())),
        ]
    })
}

/// A document as an application might pass it: compact or pretty.
fn document() -> impl Strategy<Value = String> {
    (json(), any::<bool>()).prop_map(|(value, pretty)| {
        if pretty {
            serde_json::to_string_pretty(&value).expect("serializable")
        } else {
            serde_json::to_string(&value).expect("serializable")
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn utf8_truncation_keeps_the_longest_whole_prefix(s in text(), extra in 0usize..4) {
        let max = s.len().saturating_sub(extra) / 2 + extra;
        let cut = truncate_utf8(&s, max);
        prop_assert!(cut.len() <= max);
        prop_assert!(s.starts_with(cut));
        // The longest: the next character would not fit.
        if cut.len() < s.len() {
            let next = s[cut.len()..].chars().next().expect("more text");
            prop_assert!(cut.len() + next.len_utf8() > max);
        }
    }

    #[test]
    fn truncated_json_is_valid_json_within_the_limit(doc in document(), max in 0usize..400) {
        prop_assert!(is_json(&doc), "the generator makes JSON: {doc}");
        let cut = truncate_json(&doc, max);
        if doc.len() <= max {
            prop_assert_eq!(cut.as_ref(), doc.as_str());
        } else if max == 0 {
            prop_assert_eq!(cut.as_ref(), "");
        } else {
            prop_assert!(cut.len() <= max, "{} > {max}: {cut}", cut.len());
            prop_assert!(
                serde_json::from_str::<Json>(&cut).is_ok(),
                "not JSON for max {max}: {cut}\nfrom {doc}"
            );
        }
    }

    #[test]
    fn a_document_that_fits_once_compacted_is_kept_whole(value in json()) {
        let compact = serde_json::to_string(&value).expect("serializable");
        let pretty = serde_json::to_string_pretty(&value).expect("serializable");
        // Insignificant whitespace dropped, nothing else: the text is the
        // compact form.
        let cut = truncate_json(&pretty, compact.len());
        prop_assert_eq!(cut.as_ref(), compact.as_str());
    }

    #[test]
    fn scrubbed_json_is_valid_json_with_nothing_left_to_scrub(doc in document()) {
        let chain = ScrubberChain::default();
        let scrubbed = scrub_json(&doc, &chain).expect("JSON stays JSON");
        let parsed: Json = serde_json::from_str(&scrubbed).expect("valid JSON");
        let mut strings = Vec::new();
        collect_strings(&parsed, &mut strings);
        for text in strings {
            prop_assert!(!text.contains("ana@example.com"), "{}", text);
            prop_assert!(!text.contains("4111111111111111"), "{}", text);
        }
    }

    #[test]
    fn prepared_content_is_json_when_given_json_and_fits(doc in document(), max in 1usize..300) {
        let out = prepare_content(&doc, &ScrubberChain::default(), max);
        prop_assert!(out.len() <= max);
        prop_assert!(serde_json::from_str::<Json>(&out).is_ok(), "{out}");
    }

    #[test]
    fn prepared_text_is_cut_on_a_character_boundary(s in text(), max in 0usize..40) {
        let input = format!("not json {s}");
        let out = prepare_content(&input, &ScrubberChain::empty(), max);
        prop_assert!(out.len() <= max);
        prop_assert!(input.starts_with(&out));
    }
}

fn collect_strings(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::String(s) => out.push(s.clone()),
        Json::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Json::Object(members) => {
            for (k, v) in members {
                out.push(k.clone());
                collect_strings(v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn invalid_json_is_replaced_by_a_marker() {
    let cut = truncate_json(r#"{"a": [1, 2"#, 30);
    assert_eq!(cut, r#"{"a": [1, 2"#, "fits: unchanged, whatever it is");
    let unclosed = format!(r#"{{"a": "{}""#, "x".repeat(100));
    let cut = truncate_json(&unclosed, 40);
    assert_eq!(cut, r#"{"truncated":true,"original_bytes":108}"#);
}

/// End to end: content that is too long for the tracer's span limits (lower
/// than the capture's own limit, which is left at its default) reaches the
/// span as valid JSON of at most that length, so that the span limits never
/// cut it again.
#[test]
fn oversized_content_reaches_spans_as_valid_json_within_the_span_limits() {
    const LIMIT: usize = 200;
    let collector = std::sync::Arc::new(support::Collector::default());
    let tracer = agent_trace::AgentStepTracer::builder()
        .without_store()
        .span_limits(SpanLimits {
            max_attribute_value_length: Some(LIMIT),
            ..SpanLimits::default()
        })
        .processor(collector.clone())
        .build();
    let capture = ContentCapture::on(ScrubberChain::default());
    assert!(capture.max_bytes().unwrap() > LIMIT);
    let long = "é😀 ".repeat(200);
    let mut call = genai::chat(&tracer, "openai", "gpt-4o")
        .capture_content(capture.clone())
        .start();
    call.record_input_messages(&[Message::user(long.as_str()), Message::user("second")]);
    call.end();
    let arguments = serde_json::json!({
        "query": long,
        "filters": (0..50).collect::<Vec<_>>(),
    })
    .to_string();
    let mut tool = genai::execute_tool(&tracer, "search")
        .capture_content(capture)
        .start();
    tool.record_arguments(arguments.as_str());
    tool.record_result(long.as_str());
    tool.end();

    let spans = collector.spans();
    let attribute = |name: &str, key: &str| -> String {
        let span = spans.iter().find(|s| s.name == name).expect("span");
        match span.attribute(key) {
            Some(Value::String(s)) => s.to_string(),
            other => panic!("{key} is {other:?}"),
        }
    };
    for (name, key) in [
        ("chat gpt-4o", "gen_ai.input.messages"),
        ("execute_tool search", "gen_ai.tool.call.arguments"),
    ] {
        let value = attribute(name, key);
        assert!(value.len() <= LIMIT, "{key}: {} bytes", value.len());
        let parsed: Json = serde_json::from_str(&value)
            .unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {value}"));
        assert!(!parsed.is_null());
    }
    // The messages keep their schema: the first message, shortened.
    let messages: Json =
        serde_json::from_str(&attribute("chat gpt-4o", "gen_ai.input.messages")).expect("JSON");
    assert_eq!(messages[0]["role"], "user");
    let result = attribute("execute_tool search", "gen_ai.tool.call.result");
    assert!(result.len() <= LIMIT && long.starts_with(&result));
}
