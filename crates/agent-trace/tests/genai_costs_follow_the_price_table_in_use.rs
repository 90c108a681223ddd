//! The `genai` helpers price each model call with the price table the
//! process's ledger holds at that moment: a replaced table prices the
//! next call, a dated model name finds its undated price, and a model the
//! table does not price is counted as unpriced at every call.

use agent_trace::cost::{self, Currency, ModelPrice, PriceTable};
use agent_trace::{FinishedSpan, Value, genai};

mod support;

use support::collecting_tracer;

fn cost_of(span: &FinishedSpan) -> Option<f64> {
    match span.attribute("agent_trace.cost") {
        Some(Value::F64(amount)) => Some(*amount),
        None => None,
        other => panic!("cost {other:?} on {}", span.name),
    }
}

fn table(input_per_million: f64) -> PriceTable {
    let price = ModelPrice::new(input_per_million, 2.0).expect("valid prices");
    PriceTable::new(Currency::USD).with_price("acme-costs", "acme-large", price)
}

/// One chat of a million input tokens and no output, answered by `model`
/// (the name the call is priced by).
fn chat(tracer: &agent_trace::AgentStepTracer, model: &'static str) {
    let mut chat = genai::chat(tracer, "acme-costs", "acme-large").start();
    chat.set_response_model(model);
    chat.record_usage(1_000_000, 0);
    chat.end();
}

#[test]
fn each_call_is_priced_with_the_table_in_use() {
    let (tracer, spans) = collecting_tracer();
    let ledger = cost::cost_ledger();
    let costs = |spans: &support::Collector| -> Vec<Option<f64>> {
        spans.spans().iter().map(cost_of).collect()
    };

    ledger.set_price_table(table(1.0));
    chat(&tracer, "acme-large");
    chat(&tracer, "acme-large-2025-01-31"); // the undated price
    assert_eq!(costs(&spans), vec![Some(1.0), Some(1.0)]);

    ledger.set_price_table(table(3.0));
    chat(&tracer, "acme-large");
    chat(&tracer, "acme-large-2025-01-31");
    assert_eq!(costs(&spans)[2..], [Some(3.0), Some(3.0)]);

    // Unpriced, twice: counted each time.
    let unpriced = |model: &str| -> u64 {
        ledger
            .unpriced()
            .iter()
            .filter(|u| u.provider == "acme-costs" && u.model == model)
            .map(|u| u.calls)
            .sum()
    };
    chat(&tracer, "acme-small");
    chat(&tracer, "acme-small");
    assert_eq!(costs(&spans)[4..], [None, None]);
    assert_eq!(unpriced("acme-small"), 2);

    // A table that prices it now.
    ledger.set_price_table(table(1.0).with_price(
        "acme-costs",
        "acme-small",
        ModelPrice::new(0.5, 1.0).expect("valid prices"),
    ));
    chat(&tracer, "acme-small");
    assert_eq!(costs(&spans)[6..], [Some(0.5)]);
    assert_eq!(unpriced("acme-small"), 2);

    // More models in turn than a thread remembers prices for: each call
    // still gets its model's price.
    let models: Vec<&'static str> = (1..=20)
        .map(|i| &*Box::leak(format!("acme-m{i}").into_boxed_str()))
        .collect();
    let mut many = PriceTable::new(Currency::USD);
    for (i, model) in models.iter().enumerate() {
        let price = ModelPrice::new((i + 1) as f64, 2.0).expect("valid prices");
        many = many.with_price("acme-costs", model, price);
    }
    ledger.set_price_table(many);
    for _ in 0..3 {
        let before = spans.len();
        for model in &models {
            chat(&tracer, model);
        }
        let expected: Vec<Option<f64>> = (1..=20).map(|i| Some(f64::from(i))).collect();
        assert_eq!(costs(&spans)[before..], expected);
    }
}
