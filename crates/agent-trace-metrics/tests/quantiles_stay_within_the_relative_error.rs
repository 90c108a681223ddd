//! Every quantile the sketch reports is within the configured relative
//! accuracy of the exact nearest-rank quantile of the recorded values, on
//! distributions shaped like agent latencies.

mod support;

use agent_trace_metrics::Quantile;
use support::{Rng, manual, nearest_rank, rel};

const N: usize = 200_000;
const QS: &[f64] = &[
    0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0,
];

type Gen = fn(&mut Rng) -> f64;

/// name, generator: latencies in seconds.
const DISTRIBUTIONS: &[(&str, Gen)] = &[
    ("uniform 0.1..30 s", |r| r.range(0.1, 30.0)),
    // Log-normal with a heavy tail: median ~0.8 s, sigma 1.5.
    ("log-normal heavy tail", |r| (-0.2 + 1.5 * r.normal()).exp()),
    // 70% cache hits around 2 ms, 30% LLM calls around 3 s.
    ("bimodal cache hits and LLM calls", |r| {
        if r.uniform() < 0.7 {
            (0.002 * (1.0 + 0.2 * r.normal())).abs() + 1e-6
        } else {
            (3.0 * (1.0 + 0.3 * r.normal())).abs() + 1e-3
        }
    }),
    ("constant", |_| 0.25),
    ("1 microsecond to 10 minutes", |r| r.log_range(1e-6, 600.0)),
    ("with zeros", |r| {
        if r.uniform() < 0.05 {
            0.0
        } else {
            r.range(0.0, 2.0)
        }
    }),
];

fn check(accuracy: f64, name: &str, generate: Gen, seed: u64) -> f64 {
    let (builder, clock) = manual();
    let metrics = builder.relative_accuracy(accuracy).build().unwrap();
    let handle = metrics.series("op", &[]);
    let mut rng = Rng::new(seed);
    let mut values = Vec::with_capacity(N);
    for i in 0..N {
        let v = generate(&mut rng);
        values.push(v);
        handle.record(v).unwrap();
        // Spread the values over about 20 minutes of slots, so closed,
        // compacted and rolled-up slots are all part of the answer.
        if i % 200 == 0 {
            clock.advance(std::time::Duration::from_secs(1));
        }
    }
    values.sort_by(f64::total_cmp);
    let mut worst = 0.0f64;
    for &q in QS {
        let exact = nearest_rank(&values, q);
        let got = metrics.quantile("op", Quantile::new(q).unwrap()).unwrap();
        let err = rel(got, exact);
        assert!(
            err <= accuracy * (1.0 + 1e-9),
            "{name} at accuracy {accuracy}: q={q} exact={exact} got={got} error={err}"
        );
        worst = worst.max(err);
    }
    let p = metrics.percentiles("op").unwrap();
    assert_eq!(p.count, N as u64);
    for (q, got) in [(0.5, p.p50), (0.95, p.p95), (0.99, p.p99)] {
        assert!(rel(got, nearest_rank(&values, q)) <= accuracy * (1.0 + 1e-9));
    }
    worst
}

#[test]
fn quantiles_are_within_one_percent_by_default() {
    for (seed, (name, generate)) in DISTRIBUTIONS.iter().enumerate() {
        let worst = check(0.01, name, *generate, seed as u64 + 1);
        println!("accuracy 1%: {name}: worst relative error {worst:.5}");
    }
}

#[test]
fn quantiles_follow_the_configured_accuracy() {
    for accuracy in [0.002, 0.05] {
        for (seed, (name, generate)) in DISTRIBUTIONS.iter().enumerate() {
            let worst = check(accuracy, name, *generate, 100 + seed as u64);
            println!("accuracy {accuracy}: {name}: worst relative error {worst:.5}");
        }
    }
}
