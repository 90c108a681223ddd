//! Attributes given at start: a repeated key keeps its first position and
//! its last value, whether they come one by one or as a whole list.

mod support;

use agent_trace_core::{KeyValue, Value};
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
