//! Costs are summed per agent, conversation and tool under bounded keys,
//! unpriced calls are counted and never priced as zero, budgets call back
//! once on crossing and once on recovery, and the cost reaches Prometheus
//! as a counter.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_trace::cost::{
    Budget, BudgetEvent, BudgetScope, BudgetViolation, COST_ATTRIBUTE, COST_TOTAL,
    CURRENCY_ATTRIBUTE, CallAttribution, CostLedger, Currency, ModelPrice, OVERFLOW_KEY,
    Overflowed, PriceTable, TokenUsage, UNPRICED_CALLS_TOTAL, Unpriced, UnpricedCalls, cost_ledger,
};
use agent_trace::metrics::{ManualClock, PrometheusRecorder, Window, describe_tracer_metrics};

/// One made-up model at 1 USD per million input tokens and 2 per million
/// output tokens, so that costs are exact binary fractions.
fn table() -> PriceTable {
    PriceTable::new(Currency::USD).with_price("acme", "acme-1", ModelPrice::new(1.0, 2.0).unwrap())
}

fn usage(input: u64, output: u64) -> TokenUsage {
    TokenUsage {
        input,
        output,
        ..TokenUsage::default()
    }
}

fn who<'a>(
    agent: Option<&'a str>,
    conversation: Option<&'a str>,
    tool: Option<&'a str>,
) -> CallAttribution<'a> {
    CallAttribution {
        agent,
        conversation,
        tool,
    }
}

fn ledger() -> CostLedger {
    CostLedger::builder()
        .price_table(table())
        .metrics_facade(false)
        .build()
}

#[test]
fn costs_are_summed_per_agent_conversation_and_tool() {
    let ledger = ledger();
    let usd = Currency::USD;
    // 1,000,000 input x 1 = 1.00
    let a = ledger
        .price_call(
            "acme",
            "acme-1",
            &usage(1_000_000, 0),
            &who(Some("planner"), Some("c1"), None),
        )
        .unwrap();
    assert_eq!(a.amount, 1.0);
    // 500,000 output x 2 = 1.00
    ledger
        .price_call(
            "acme",
            "acme-1",
            &usage(0, 500_000),
            &who(Some("planner"), Some("c2"), Some("search")),
        )
        .unwrap();
    // 250,000 x 1 + 250,000 x 2 = 0.75
    ledger
        .price_call(
            "acme",
            "acme-1",
            &usage(250_000, 250_000),
            &who(Some("writer"), Some("c1"), Some("search")),
        )
        .unwrap();
    // Unpriced: counted for the writer and c1, no amount.
    ledger
        .price_call(
            "acme",
            "acme-2",
            &usage(1_000_000, 0),
            &who(Some("writer"), Some("c1"), None),
        )
        .unwrap_err();
    // No attribution: only in the total.
    ledger
        .price_call("acme", "acme-1", &usage(0, 0), &CallAttribution::default())
        .unwrap();

    let total = ledger.total();
    assert_eq!(total.amount(usd), 2.75);
    assert_eq!((total.priced_calls(), total.unpriced_calls()), (4, 1));

    let sums = |v: Vec<(String, agent_trace::cost::Spend)>| -> Vec<(String, f64, u64, u64)> {
        v.into_iter()
            .map(|(k, s)| (k, s.amount(usd), s.priced_calls(), s.unpriced_calls()))
            .collect()
    };
    assert_eq!(
        sums(ledger.by_agent()),
        [("planner".into(), 2.0, 2, 0), ("writer".into(), 0.75, 1, 1)]
    );
    assert_eq!(
        sums(ledger.by_conversation()),
        [("c1".into(), 1.75, 2, 1), ("c2".into(), 1.0, 1, 0)]
    );
    assert_eq!(sums(ledger.by_tool()), [("search".into(), 1.75, 2, 0)]);
    assert_eq!(ledger.agent("writer").unwrap().amount(usd), 0.75);
    assert_eq!(ledger.conversation("c2").unwrap().amount(usd), 1.0);
    assert_eq!(ledger.tool("search").unwrap().priced_calls(), 2);
    assert_eq!(ledger.agent("nobody"), None);

    // A finished conversation leaves the ledger; the totals stay.
    let c1 = ledger.end_conversation("c1").unwrap();
    assert_eq!(c1.amount(usd), 1.75);
    assert_eq!(ledger.conversation("c1"), None);
    assert_eq!(ledger.total().amount(usd), 2.75);
}

#[test]
fn unpriced_calls_are_counted_per_model_and_never_priced_as_zero() {
    let ledger = ledger();
    for model in ["acme-2", "acme-2", "acme-3"] {
        let err = ledger
            .price_call(
                "acme",
                model,
                &usage(1_000, 1_000),
                &who(Some("a"), None, None),
            )
            .unwrap_err();
        assert_eq!(
            err,
            Unpriced {
                provider: "acme".into(),
                model: model.into()
            }
        );
    }
    // The right model under another provider is not priced either.
    ledger
        .price_call(
            "openai",
            "acme-1",
            &usage(1, 1),
            &CallAttribution::default(),
        )
        .unwrap_err();

    assert_eq!(ledger.unpriced_calls(), 4);
    let calls = |provider: &str, model: &str, calls| UnpricedCalls {
        provider: provider.into(),
        model: model.into(),
        calls,
    };
    assert_eq!(
        ledger.unpriced(),
        [
            calls("acme", "acme-2", 2),
            calls("acme", "acme-3", 1),
            calls("openai", "acme-1", 1)
        ]
    );
    let total = ledger.total();
    assert_eq!(total.priced_calls(), 0);
    assert!(
        total.costs().is_empty(),
        "no amount at all, not a zero: {total:?}"
    );
    let agent = ledger.agent("a").unwrap();
    assert_eq!((agent.priced_calls(), agent.unpriced_calls()), (0, 3));
}

#[test]
fn names_beyond_the_caps_share_the_overflow_key_and_are_counted() {
    let ledger = CostLedger::builder()
        .price_table(table())
        .metrics_facade(false)
        .max_keys(2)
        .max_conversations(1)
        .build();
    let one = usage(1_000_000, 0); // 1.00
    for agent in ["a", "b", "c", "a", "d"] {
        ledger
            .price_call(
                "acme",
                "acme-1",
                &one,
                &who(Some(agent), Some(agent), Some(agent)),
            )
            .unwrap();
    }
    let names = |v: Vec<(String, agent_trace::cost::Spend)>| -> Vec<(String, f64)> {
        v.into_iter()
            .map(|(k, s)| (k, s.amount(Currency::USD)))
            .collect()
    };
    assert_eq!(
        names(ledger.by_agent()),
        [
            ("a".into(), 2.0),
            ("b".into(), 1.0),
            (OVERFLOW_KEY.into(), 2.0)
        ]
    );
    assert_eq!(
        names(ledger.by_conversation()),
        [("a".into(), 2.0), (OVERFLOW_KEY.into(), 3.0)]
    );
    // Unpriced models have the same cap.
    for model in ["x", "y", "z", "x", "w"] {
        ledger
            .price_call("acme", model, &one, &CallAttribution::default())
            .unwrap_err();
    }
    let unpriced: Vec<(String, String, u64)> = ledger
        .unpriced()
        .into_iter()
        .map(|u| (u.provider, u.model, u.calls))
        .collect();
    assert_eq!(
        unpriced,
        [
            ("acme".into(), "x".into(), 2),
            ("acme".into(), "y".into(), 1),
            (OVERFLOW_KEY.into(), OVERFLOW_KEY.into(), 2),
        ]
    );
    assert_eq!(
        ledger.overflowed(),
        Overflowed {
            agents: 2,
            conversations: 3,
            tools: 2,
            unpriced_models: 2
        }
    );
    // Nothing is lost: the total is every call.
    assert_eq!(ledger.total().amount(Currency::USD), 5.0);

    // Ending a conversation frees its place.
    ledger.end_conversation("a").unwrap();
    ledger
        .price_call("acme", "acme-1", &one, &who(None, Some("e"), None))
        .unwrap();
    assert_eq!(ledger.conversation("e").unwrap().amount(Currency::USD), 1.0);
}

/// A ledger whose budget events are kept, with a clock that moves only
/// when told to.
fn budgeted() -> (
    Arc<CostLedger>,
    Arc<ManualClock>,
    Arc<Mutex<Vec<BudgetEvent>>>,
) {
    // Slot-aligned: a minute is the slot of a one-hour window.
    let clock = Arc::new(ManualClock::new(1_000 * 60 * 1_000_000_000));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let ledger = CostLedger::builder()
        .price_table(table())
        .metrics_facade(false)
        .clock(clock.clone())
        .on_budget(move |e| seen.lock().unwrap().push(e.clone()))
        .build();
    (Arc::new(ledger), clock, events)
}

fn take(events: &Mutex<Vec<BudgetEvent>>) -> Vec<BudgetEvent> {
    std::mem::take(&mut *events.lock().unwrap())
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_windowed_budget_calls_back_once_on_crossing_and_once_when_the_window_rolls() {
    let (ledger, clock, events) = budgeted();
    let hour: Window = "1h".parse().unwrap();
    let scope = BudgetScope::Agent("planner".into());
    ledger.set_budget(
        scope.clone(),
        Budget::new(0.75, Currency::USD).unwrap().window(hour),
    );
    let planner = who(Some("planner"), None, None);
    let call = |input: u64| {
        ledger
            .price_call("acme", "acme-1", &usage(input, 0), &planner)
            .unwrap()
    };
    let violation = |spent: f64| BudgetViolation {
        scope: scope.clone(),
        spent,
        limit: 0.75,
        currency: Currency::USD,
        window: Some(hour),
    };

    // t0: 0.50 spent, under the limit.
    call(500_000);
    // t0 + 10 min: 1.00 > 0.75, crossed.
    clock.advance(10 * MINUTE);
    call(500_000);
    assert_eq!(take(&events), [BudgetEvent::Crossed(violation(1.0))]);
    // t0 + 20 min: 1.25, still above: no new event.
    clock.advance(10 * MINUTE);
    call(250_000);
    // Another agent's calls do not count.
    ledger
        .price_call(
            "acme",
            "acme-1",
            &usage(5_000_000, 0),
            &who(Some("writer"), None, None),
        )
        .unwrap();
    assert_eq!(take(&events), []);
    assert_eq!(ledger.check_budgets(), [violation(1.25)]);
    assert_eq!(take(&events), []);

    // t0 + 60 min: the t0 call is still in the window (a window holds up to
    // one slot, a minute, more than an hour).
    clock.advance(40 * MINUTE);
    assert_eq!(ledger.check_budgets(), [violation(1.25)]);
    // t0 + 61 min: it has left: 0.75, at the limit, recovered.
    clock.advance(MINUTE);
    assert_eq!(ledger.check_budgets(), []);
    assert_eq!(take(&events), [BudgetEvent::Recovered(violation(0.75))]);
    // Checking again changes nothing.
    assert_eq!(ledger.check_budgets(), []);
    assert_eq!(take(&events), []);

    // t0 + 71 min: only the 0.25 of t0 + 20 min is left; a call of 0.75
    // makes 1.00: crossed again.
    clock.advance(10 * MINUTE);
    call(750_000);
    assert_eq!(take(&events), [BudgetEvent::Crossed(violation(1.0))]);
}

#[test]
fn an_all_time_budget_crosses_once_and_stays_crossed() {
    let (ledger, clock, events) = budgeted();
    ledger.set_budget(BudgetScope::Total, Budget::new(1.0, Currency::USD).unwrap());
    let tool = who(None, None, Some("search"));
    for input in [500_000, 500_000] {
        ledger
            .price_call("acme", "acme-1", &usage(input, 0), &tool)
            .unwrap();
    }
    // 1.00 is not above 1.00.
    assert_eq!(take(&events), []);
    ledger
        .price_call("acme", "acme-1", &usage(250_000, 0), &tool)
        .unwrap();
    let crossed = BudgetViolation {
        scope: BudgetScope::Total,
        spent: 1.25,
        limit: 1.0,
        currency: Currency::USD,
        window: None,
    };
    assert_eq!(take(&events), [BudgetEvent::Crossed(crossed.clone())]);
    clock.advance(Duration::from_secs(30 * 86_400));
    assert_eq!(ledger.check_budgets(), [crossed]);
    assert_eq!(take(&events), []);

    // Setting it again starts afresh; removing it silences it.
    ledger.set_budget(BudgetScope::Total, Budget::new(1.0, Currency::USD).unwrap());
    assert_eq!(ledger.check_budgets(), []);
    assert_eq!(ledger.budgets().len(), 1);
    assert!(ledger.remove_budget(&BudgetScope::Total, None).is_some());
    assert!(ledger.budgets().is_empty());
}

#[test]
fn budgets_count_only_their_currency_and_their_scope() {
    let (ledger, _clock, events) = budgeted();
    let eur = Currency::new("EUR").unwrap();
    ledger.set_budget(
        BudgetScope::Tool("search".into()),
        Budget::new(0.0, eur).unwrap(),
    );
    ledger.set_budget(
        BudgetScope::Conversation("c9".into()),
        Budget::new(0.5, Currency::USD).unwrap(),
    );
    let call = |who: &CallAttribution<'_>| {
        ledger
            .price_call("acme", "acme-1", &usage(1_000_000, 0), who)
            .unwrap()
    };
    // USD costs do not count against an EUR budget.
    call(&who(None, None, Some("search")));
    assert_eq!(take(&events), []);
    // The same model priced in EUR does.
    ledger.set_price_table(PriceTable::new(eur).with_price(
        "acme",
        "acme-1",
        ModelPrice::new(0.5, 1.0).unwrap(),
    ));
    call(&who(None, Some("c9"), Some("search")));
    let events = take(&events);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(
        &events[0],
        BudgetEvent::Crossed(v) if v.scope == BudgetScope::Tool("search".into()) && v.spent == 0.5
    ));
    // Sums keep both currencies.
    let search = ledger.tool("search").unwrap();
    assert_eq!(
        (search.amount(Currency::USD), search.amount(eur)),
        (1.0, 0.5)
    );
    // c9 has spent 0.5 EUR against a USD budget: nothing.
    assert_eq!(ledger.check_budgets().len(), 1);
}

#[test]
fn the_budget_callback_may_use_the_ledger() {
    let ledger = Arc::new(ledger());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let weak = Arc::downgrade(&ledger);
    let out = seen.clone();
    // Would deadlock if the ledger's lock were held while calling back.
    ledger.set_budget_callback(move |_| {
        let ledger = weak.upgrade().unwrap();
        out.lock()
            .unwrap()
            .push(ledger.total().amount(Currency::USD));
    });
    ledger.set_budget(
        BudgetScope::Agent("a".into()),
        Budget::new(0.0, Currency::USD).unwrap(),
    );
    ledger
        .price_call(
            "acme",
            "acme-1",
            &usage(1_000_000, 0),
            &who(Some("a"), None, None),
        )
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [1.0]);
}

#[test]
fn the_global_ledger_starts_with_the_built_in_table() {
    assert_eq!(
        cost_ledger().price_table().as_of(),
        Some(agent_trace::cost::BUILTIN_PRICES_AS_OF)
    );
    assert_eq!(COST_ATTRIBUTE, "agent_trace.cost");
    assert_eq!(CURRENCY_ATTRIBUTE, "agent_trace.cost.currency");
}

/// `name{labels} value` lines of an exposition, by name then label text.
fn samples(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        out.entry(name.to_owned())
            .or_default()
            .insert(labels.to_owned(), value.parse().unwrap());
    }
    out
}

#[test]
fn the_cost_is_a_prometheus_counter_with_a_currency_label() {
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    let ledger = CostLedger::builder().price_table(table()).build();
    metrics::with_local_recorder(&recorder, || {
        describe_tracer_metrics();
        let none = CallAttribution::default();
        // A dated name is counted under the table's name: 1.00 + 0.75.
        ledger
            .price_call("acme", "acme-1", &usage(1_000_000, 0), &none)
            .unwrap();
        ledger
            .price_call("acme", "acme-1-2025-01-31", &usage(250_000, 250_000), &none)
            .unwrap();
        ledger
            .price_call("acme", "acme-9", &usage(1, 1), &none)
            .unwrap_err();
        ledger
            .price_call("acme", "acme-9", &usage(1, 1), &none)
            .unwrap_err();
    });
    let text = handle.render();

    assert!(
        text.contains(&format!("# TYPE {COST_TOTAL} counter\n")),
        "{text}"
    );
    assert!(text.contains(&format!("# HELP {COST_TOTAL} ")), "{text}");
    assert!(
        text.contains(&format!("# TYPE {UNPRICED_CALLS_TOTAL} counter\n")),
        "{text}"
    );
    let samples = samples(&text);
    assert_eq!(
        samples[COST_TOTAL],
        BTreeMap::from([(
            r#"currency="USD",provider="acme",model="acme-1""#.to_owned(),
            1.75
        )])
    );
    assert_eq!(
        samples[UNPRICED_CALLS_TOTAL],
        BTreeMap::from([(r#"provider="acme",model="acme-9""#.to_owned(), 2.0)])
    );

    // Prometheus's own linter, where it is installed.
    support::promtool_accepts(&text);
}
