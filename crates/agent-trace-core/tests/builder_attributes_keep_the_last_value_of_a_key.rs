//! Attributes given at start: a repeated key keeps its first position and
//! its last value, whether they come one by one or as a whole list.

mod support;

use agent_trace_core::{
    AgentStepTracer, KeyValue, Sampler, SamplingDecision, SamplingParams, ShouldSample, Value,
};
use support::collecting_tracer;

#[test]
fn repeated_keys_keep_the_last_value_in_the_first_position() {
    let (tracer, collected) = collecting_tracer();
    tracer
        .span_builder("list")
        .attributes([
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
            KeyValue::new("a", 4),
        ])
        .start()
        .end();
    tracer
        .span_builder("mixed")
        .attribute("a", 1)
        .attributes([KeyValue::new("b", 2), KeyValue::new("a", 5)])
        .start()
        .end();
    for (name, a) in [("list", 4), ("mixed", 5)] {
        let span = collected.named(name);
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"], "{name}");
        assert_eq!(span.attribute("a"), Some(&Value::I64(a)), "{name}");
        assert_eq!(span.attribute("b"), Some(&Value::I64(2)), "{name}");
    }
}

/// The keys leaked to `&'static str` in the next test.
static STATIC_KEYS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

/// Setting a key again replaces its value wherever the key's text comes
/// from (a literal, a short or a long `String`) and however many keys the
/// span has: the span keeps a filter of its keys to skip the search for an
/// earlier value, and it must never skip a key it holds. 200 keys, so that
/// the 64-bit filter is saturated and keys of the same length and last byte
/// abound; each set twice more, through `set_attribute` and
/// `set_attributes`, with differently stored copies of its text.
#[test]
fn setting_a_key_again_replaces_it_whatever_the_text_is_stored_as() {
    let (tracer, collected) = collecting_tracer();
    let keys: Vec<String> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                format!("k{i}")
            } else {
                format!("a.longer.attribute.key.that.is.not.inline.{i}")
            }
        })
        .collect();
    let mut span = tracer.span_builder("many").start();
    for (i, key) in keys.iter().enumerate() {
        // Leaked to `&'static str`: the literal-like representation (kept
        // reachable from a static, so that LeakSanitizer, in `cargo xtask
        // sanitize`, does not report the test's own leak).
        let key: &'static str = Box::leak(key.clone().into_boxed_str());
        STATIC_KEYS.lock().unwrap().push(key);
        span.set_attribute(key, i64::try_from(i).unwrap());
    }
    for (i, key) in keys.iter().enumerate() {
        span.set_attribute(key.clone(), -1);
        span.set_attributes([KeyValue::new(key.clone(), i64::try_from(i).unwrap() * 10)]);
    }
    span.end();
    let span = collected.named("many");
    // The default limit is 128 keys: the other 72 are refused each of the
    // three times they are set, and each refusal counts.
    assert_eq!(span.dropped_attributes_count, 3 * 72);
    let got: Vec<(&str, &Value)> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str(), &kv.value))
        .collect();
    assert_eq!(got.len(), 128);
    for (i, (key, value)) in got.iter().enumerate() {
        assert_eq!(*key, keys[i]);
        assert_eq!(**value, Value::I64(i64::try_from(i).unwrap() * 10), "{key}");
    }
}

/// Samples everything and keeps the key-value pairs it was shown, per span.
#[derive(Debug, Default)]
struct Shown(std::sync::Mutex<Vec<Vec<(String, i64)>>>);

impl ShouldSample for Shown {
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingDecision {
        let pairs = params
            .attributes
            .iter()
            .map(|kv| {
                let Value::I64(v) = kv.value else {
                    panic!("an integer")
                };
                (kv.key.as_str().to_owned(), v)
            })
            .collect();
        self.0.lock().unwrap().push(pairs);
        SamplingDecision::RecordAndSample
    }
}

/// A list given whole to the builder with many repeated keys: the sampler
/// sees each key once, in its first position, with its
/// last value, as a plain model computes it (100 lists of 30 entries over
/// 12 keys, some keys sharing a filter bit).
#[test]
fn lists_with_many_repeats_fold_like_the_model() {
    let shown = std::sync::Arc::new(Shown::default());
    let tracer = AgentStepTracer::builder()
        .sampler(Sampler::Custom(shown.clone()))
        .without_store()
        .build();
    let keys: Vec<String> = (0..12).map(|k| format!("gen_ai.key.{k:02}")).collect();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..100 {
        let list: Vec<KeyValue> = (0..30_i64)
            .map(|v| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let k = &keys[usize::try_from(rng % 12).unwrap()];
                KeyValue::new(k.clone(), v)
            })
            .collect();
        let mut model: Vec<(String, i64)> = Vec::new();
        for (v, kv) in list.iter().enumerate() {
            let v = i64::try_from(v).unwrap();
            match model.iter_mut().find(|(k, _)| k == kv.key.as_str()) {
                Some(entry) => entry.1 = v,
                None => model.push((kv.key.as_str().to_owned(), v)),
            }
        }
        let span = tracer.span_builder("step").attributes(list).start();
        let seen = shown
            .0
            .lock()
            .unwrap()
            .pop()
            .expect("the sampler was asked");
        assert_eq!(seen, model, "round {round}: what the sampler saw");
        span.end();
    }
}
