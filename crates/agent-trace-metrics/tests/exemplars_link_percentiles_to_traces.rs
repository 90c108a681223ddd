//! Values recorded with a trace id keep a bounded set of exemplars per time
//! slot (the newest per bucket range, and the largest), which follow their
//! slots through roll-ups and expiry; each percentile comes with an
//! exemplar at or above it whose trace really recorded that value.

mod support;

use std::collections::HashMap;

use agent_trace_metrics::{Exemplar, Window};
use support::{Rng, manual_metrics, secs};

/// The relative accuracy of the default registry.
const A: f64 = 0.01;

#[test]
fn each_percentile_links_to_a_trace_that_recorded_a_value_at_or_above_it() {
    let (metrics, clock) = manual_metrics();
    let mut rng = Rng::new(11);
    let mut recorded: HashMap<u128, f64> = HashMap::new();
    // 980 fast values and 20 slow ones, shuffled over 100 s (20 slots).
    let mut values: Vec<f64> = (0..980).map(|_| rng.log_range(0.1, 1.0)).collect();
    values.extend((0..20).map(|_| rng.range(8.0, 9.0)));
    for i in (1..values.len()).rev() {
        values.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    for (i, v) in values.iter().enumerate() {
        let id = 0x4bf9_0000_0000 + i as u128;
        metrics.record_with_exemplar("llm_call", *v, id).unwrap();
        recorded.insert(id, *v);
        if i % 10 == 9 {
            clock.advance(secs(1));
        }
    }
    let p = metrics.percentiles_with_exemplars("llm_call").unwrap();
    assert_eq!(p.percentiles, metrics.percentiles("llm_call").unwrap());
    for (name, q, e) in [
        ("p50", p.percentiles.p50, p.p50),
        ("p95", p.percentiles.p95, p.p95),
        ("p99", p.percentiles.p99, p.p99),
    ] {
        let e = e.unwrap_or_else(|| panic!("no exemplar for {name}"));
        assert_eq!(recorded.get(&e.trace_id()), Some(&e.value()), "{name}: {e}");
        assert!(e.value() >= q * (1.0 - A), "{name} = {q}, exemplar {e}");
    }
    // p99 is among the slow values, and so is its exemplar; p50's is fast.
    assert!(p.p99.unwrap().value() >= 8.0);
    assert!(p.p50.unwrap().value() < 1.0);
    let text = p.to_string();
    assert!(
        text.contains(&format!(
            "p99 = {:.3} s (e.g. trace {}",
            p.percentiles.p99,
            p.p99.unwrap().trace_id_hex()
        )),
        "{text}"
    );
}

#[test]
fn the_slow_tail_keeps_its_exemplar_among_a_flood_of_fast_values() {
    let (metrics, _clock) = manual_metrics();
    let mut rng = Rng::new(3);
    for i in 0..100_000u128 {
        metrics
            .record_with_exemplar("tool_call", rng.range(0.01, 0.2), i + 1)
            .unwrap();
    }
    metrics
        .record_with_exemplar("tool_call", 42.0, 0xdead_beef)
        .unwrap();
    for i in 0..100_000u128 {
        metrics
            .record_with_exemplar("tool_call", rng.range(0.01, 0.2), 200_000 + i)
            .unwrap();
    }
    let all = metrics.exemplars("tool_call", None);
    assert!(all.len() <= 14, "{} exemplars", all.len());
    let slowest = all.last().unwrap();
    assert_eq!((slowest.value(), slowest.trace_id()), (42.0, 0xdead_beef));
    // Sorted by value, one per bucket range: 0.01 to 0.2 s spans three.
    assert!(all.windows(2).all(|w| w[0].value() <= w[1].value()));
    assert_eq!(all.len(), 4, "{all:?}");
    // The newest of each range is kept: the last fast values' ids.
    assert!(all[..3].iter().all(|e| e.trace_id() >= 200_000), "{all:?}");
}

#[test]
fn exemplars_roll_up_with_their_slots_answer_windows_and_expire() {
    let (metrics, clock) = manual_metrics();
    metrics
        .record_with_exemplar("agent_task", 1.5, 0xa)
        .unwrap();
    clock.advance(secs(600));
    metrics
        .record_with_exemplar("agent_task", 1.6, 0xb)
        .unwrap();
    let ids = |w: Option<Window>| -> Vec<u128> {
        metrics
            .exemplars("agent_task", w)
            .iter()
            .map(Exemplar::trace_id)
            .collect()
    };
    // The same bucket range, (1, 2]: the newer wins; the larger (also b)
    // is the same entry.
    assert_eq!(ids(None), [0xb]);
    assert_eq!(ids(Some("1m".parse().unwrap())), [0xb]);
    assert_eq!(ids(Some("15m".parse().unwrap())), [0xb]);
    clock.advance(secs(3 * 3600));
    metrics
        .record_with_exemplar("agent_task", 0.3, 0xc)
        .unwrap();
    // Both older slots rolled up into coarser tiers, with their exemplars.
    assert_eq!(ids(None), [0xc, 0xb]);
    assert_eq!(ids(Some("1m".parse().unwrap())), [0xc]);
    // Percentiles draw on every slot's exemplars, not the merged set: the
    // median (1.5 s) links to a, the nearest at or above it.
    let p = metrics.percentiles_with_exemplars("agent_task").unwrap();
    assert_eq!(p.percentiles.count, 3);
    assert_eq!(p.p50.unwrap().trace_id(), 0xa, "{p}");
    assert_eq!(p.p99.unwrap().trace_id(), 0xb, "{p}");
    // Out of the retention, with their slots.
    clock.advance(secs(8 * 86_400));
    assert!(metrics.exemplars("agent_task", None).is_empty());
    assert!(metrics.percentiles_with_exemplars("agent_task").is_none());
}

#[test]
fn plain_records_keep_no_exemplars_and_a_zero_trace_id_names_no_trace() {
    let (metrics, _clock) = manual_metrics();
    metrics.record("memory_lookup", 0.02).unwrap();
    metrics
        .record_with_exemplar("memory_lookup", 0.03, 0)
        .unwrap();
    assert!(metrics.exemplars("memory_lookup", None).is_empty());
    let p = metrics.percentiles_with_exemplars("memory_lookup").unwrap();
    assert_eq!(p.percentiles.count, 2);
    assert_eq!((p.p50, p.p95, p.p99), (None, None, None));
    assert!(metrics.exemplars("unknown", None).is_empty());
    // A rejected value leaves no exemplar either, and is counted.
    assert!(
        metrics
            .record_with_exemplar("memory_lookup", f64::NAN, 7)
            .is_err()
    );
    assert_eq!(metrics.rejected("memory_lookup"), 1);
    assert!(metrics.exemplars("memory_lookup", None).is_empty());
}

#[test]
fn exemplars_of_every_series_of_an_operation_are_found() {
    let (metrics, _clock) = manual_metrics();
    metrics
        .record_labelled_with_exemplar("tool_call", &[("tool", "web_search")], 0.3, 1)
        .unwrap();
    let handle = metrics.series("tool_call", &[("tool", "code_exec")]);
    handle.record_with_exemplar(7.5, 2).unwrap();
    assert!(handle.record_with_exemplar(-1.0, 3).is_err());
    let found: Vec<(f64, u128)> = metrics
        .exemplars("tool_call", None)
        .iter()
        .map(|e| (e.value(), e.trace_id()))
        .collect();
    assert_eq!(found, [(0.3, 1), (7.5, 2)]);
    assert_eq!(metrics.rejected("tool_call"), 1);
}
