//! Recording by name goes through a per-thread cache of operations; two
//! registries with the same operation names, one dropped and replaced, and
//! more operations than the cache holds must still each count exactly
//! their own values.

use agent_trace_metrics::LatencyMetrics;

fn count(m: &LatencyMetrics, op: &str) -> Option<u64> {
    m.stats(op, None).map(|s| s.count)
}

#[test]
fn two_registries_never_share_an_operation() {
    let a = LatencyMetrics::new();
    let b = LatencyMetrics::new();
    for i in 0..100 {
        a.record("llm_call", 0.1).unwrap();
        if i % 2 == 0 {
            b.record("llm_call", 0.2).unwrap();
        }
    }
    assert_eq!(count(&a, "llm_call"), Some(100));
    assert_eq!(count(&b, "llm_call"), Some(50));

    // A registry dropped and a new one made: the new one starts empty and
    // counts only its own values, whatever the thread remembered.
    drop(a);
    let c = LatencyMetrics::new();
    assert_eq!(count(&c, "llm_call"), None);
    c.record("llm_call", 0.3).unwrap();
    assert_eq!(count(&c, "llm_call"), Some(1));
    assert_eq!(count(&b, "llm_call"), Some(50));
}

#[test]
fn more_operations_than_the_cache_holds_are_all_counted() {
    let m = LatencyMetrics::new();
    let ops: Vec<String> = (0..50).map(|i| format!("op{i}")).collect();
    for round in 0..20 {
        for (i, op) in ops.iter().enumerate() {
            // Interleave so entries are evicted and found again.
            if (i + round) % 3 != 0 {
                m.record(op, 0.01 * (i + 1) as f64).unwrap();
            }
        }
    }
    let total: u64 = ops.iter().filter_map(|op| count(&m, op)).sum();
    let expected: u64 = (0..20)
        .map(|round| (0..50).filter(|i| (i + round) % 3 != 0).count() as u64)
        .sum();
    assert_eq!(total, expected);
}

#[test]
fn names_that_share_a_prefix_stay_apart() {
    let m = LatencyMetrics::new();
    for i in 0..8 {
        m.record("op1", 1.0).unwrap();
        if i % 2 == 0 {
            m.record("op10", 1.0).unwrap();
        }
        if i % 4 == 0 {
            m.record("op", 1.0).unwrap();
        }
    }
    assert_eq!(count(&m, "op1"), Some(8));
    assert_eq!(count(&m, "op10"), Some(4));
    assert_eq!(count(&m, "op"), Some(2));
}
