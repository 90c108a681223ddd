//! The statistics behind `diff`'s verdicts: which changes between two
//! samples are larger than their noise.
//!
//! # Why these tests
//!
//! Everything here runs on summaries of bounded size, never on the values:
//! a million spans a side cost what a thousand do.
//!
//! - Latency as a whole (`p50`): the Mann-Whitney U test, computed from the
//!   counts of logarithmic buckets of 2% width ([`Buckets`]: the latency
//!   sketch's own buckets at its 1% accuracy, through
//!   `agent_trace_metrics::BucketMapping`). Values in one bucket
//!   count as ties, and the tie-corrected normal approximation of U gives
//!   the p-value. It makes no assumption about the shape of latency
//!   distributions (skewed, heavy-tailed, several modes), which a t-test on
//!   durations would.
//! - A tail quantile (`p95`, `p99`): how many values of each side lie above
//!   the pooled sample's quantile (a generalisation of Mood's median test),
//!   compared with Fisher's exact test. Under "same distribution" the
//!   share above any threshold taken from the pooled sample is the same on
//!   both sides, so the test is exact whatever the distribution, and a
//!   shift confined to the tail is seen even when the median is unchanged.
//! - Error rates: Fisher's exact test on the 2x2 table of errors and
//!   successes, valid for any count (a rate of 0 against 3 in 100 included,
//!   where the normal approximation of the two-proportion test is not).
//! - Means (latency mean, tokens, cost): Welch's t-test, from running
//!   moments; the quantity that adds up to a bill is the mean, and the
//!   t-test is about the mean.
//!
//! A run tests many operations and metrics at once; at 5% each, forty
//! tests would flag something by chance in most runs. The p-values of one
//! run are adjusted with Holm's step-down method ([`holm`]), which keeps
//! the chance of flagging anything when nothing changed (the family-wise
//! error rate) at or below the level for any number of tests and any
//! dependence between them.

/// The latency sketch's buckets at its default 1% accuracy: one bucket
/// spans values within a factor of `1.01 / 0.99`, about 2%.
static MAPPING: std::sync::LazyLock<agent_trace_metrics::BucketMapping> =
    std::sync::LazyLock::new(|| {
        agent_trace_metrics::BucketMapping::new(0.01).expect("1% is a valid accuracy")
    });

/// Counts of durations in the latency sketch's logarithmic buckets (about
/// 2% wide), and zeros apart: what the rank tests need, in at most ~2,200
/// counters whatever the number of values (a `u64` of nanoseconds spans 44
/// natural logarithms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Buckets {
    zeros: u64,
    /// The index of `counts[0]`.
    first: i32,
    counts: Vec<u64>,
}

impl Buckets {
    /// Counts one value (nanoseconds, or any non-negative quantity).
    pub(crate) fn record(&mut self, value: u64) {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a bucket is 2% wide; nanoseconds beyond 2^53 lose less"
        )]
        let Some(i) = MAPPING.index(value as f64) else {
            // Zero (and nothing else: a u64 is finite and not negative).
            self.zeros += 1;
            return;
        };
        if self.counts.is_empty() {
            self.first = i;
            self.counts.push(0);
        } else if i < self.first {
            let grow = usize::try_from(self.first - i).unwrap_or(0);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = i;
        }
        let at = usize::try_from(i - self.first).unwrap_or(0);
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += 1;
    }

    /// How many values.
    pub(crate) fn total(&self) -> u64 {
        self.zeros + self.counts.iter().sum::<u64>()
    }

    /// The count of bucket `i` (`i32::MIN`: the zeros).
    fn count(&self, i: i32) -> u64 {
        if i == i32::MIN {
            return self.zeros;
        }
        usize::try_from(i - self.first)
            .ok()
            .and_then(|at| self.counts.get(at))
            .copied()
            .unwrap_or(0)
    }

    fn range(&self) -> Option<(i32, i32)> {
        let len = i32::try_from(self.counts.len()).ok()?;
        (len > 0).then(|| (self.first, self.first + len - 1))
    }

    /// The buckets of `a` and `b` in ascending order, zeros first, as
    /// `(count in a, count in b)`.
    fn merged<'s>(a: &'s Self, b: &'s Self) -> impl Iterator<Item = (u64, u64)> + 's {
        let (lo, hi) = match (a.range(), b.range()) {
            (Some((l1, h1)), Some((l2, h2))) => (l1.min(l2), h1.max(h2)),
            (Some(r), None) | (None, Some(r)) => r,
            (None, None) => (0, -1),
        };
        std::iter::once((a.zeros, b.zeros))
            .chain((lo..=hi).map(move |i| (a.count(i), b.count(i))))
            .filter(|&(x, y)| x + y > 0)
    }
}

/// Count, mean and sum of squared deviations, updated one value at a time
/// (Welford): what Welch's test needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Moments {
    pub(crate) n: u64,
    pub(crate) mean: f64,
    m2: f64,
}

impl Moments {
    pub(crate) fn record(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// The sample variance (`n - 1` in the denominator).
    fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).max(0.0)
        }
    }
}

/// The two-sided p-value of a standard normal statistic `z`.
pub(crate) fn normal_two_sided(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// The complementary error function, to a relative error below 1.2e-7
/// everywhere (Chebyshev fit, Numerical Recipes' `erfcc`): ample for a
/// p-value.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, nine terms: about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // The reflection formula.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `ln n!`.
fn ln_factorial(n: u64) -> f64 {
    ln_gamma(n as f64 + 1.0)
}

/// The regularised incomplete beta function `I_x(a, b)` (Numerical
/// Recipes' `betai` with Lentz's continued fraction).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=1_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The two-sided p-value of Student's t with `df` degrees of freedom.
fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    if df > 1_000.0 {
        // Indistinguishable from the normal, and the continued fraction
        // converges slowly for large arguments.
        return normal_two_sided(t);
    }
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// Welch's t-test of the means of `a` and `b`: the two-sided p-value.
/// Both without spread: 1 if the means are equal, else 0 (a constant that
/// changed is a change).
pub(crate) fn welch(a: &Moments, b: &Moments) -> f64 {
    let (va, vb) = (a.variance() / a.n as f64, b.variance() / b.n as f64);
    let se2 = va + vb;
    let diff = b.mean - a.mean;
    if se2 <= 0.0 || !se2.is_finite() {
        return if diff == 0.0 { 1.0 } else { 0.0 };
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2
        / (va * va / (a.n.saturating_sub(1).max(1)) as f64
            + vb * vb / (b.n.saturating_sub(1).max(1)) as f64);
    student_t_two_sided(t, df)
}

/// The Mann-Whitney U test of "`b` tends to be larger (or smaller) than
/// `a`": the two-sided p-value, from the tie-corrected normal
/// approximation with a continuity correction (values in one bucket are
/// ties).
pub(crate) fn mann_whitney(a: &Buckets, b: &Buckets) -> f64 {
    let (n1, n2) = (a.total() as f64, b.total() as f64);
    let n = n1 + n2;
    if n1 == 0.0 || n2 == 0.0 {
        return 1.0;
    }
    // U of `b`: pairs where b's value is larger, ties counting half.
    let mut below_a = 0.0;
    let mut u = 0.0;
    let mut ties = 0.0;
    for (ca, cb) in Buckets::merged(a, b) {
        let (ca, cb) = (ca as f64, cb as f64);
        u += cb * (below_a + 0.5 * ca);
        below_a += ca;
        let t = ca + cb;
        ties += t * t * t - t;
    }
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        // Every value in one bucket: nothing to tell apart.
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    normal_two_sided(z)
}

/// The test of quantile `q` (0.95 for p95): how many values of each side
/// lie above the pooled sample's `q` quantile, by Fisher's exact test.
pub(crate) fn quantile_exceedance(a: &Buckets, b: &Buckets, q: f64) -> f64 {
    let (n1, n2) = (a.total(), b.total());
    let n = n1 + n2;
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "q in (0, 1) times a count"
    )]
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    let (mut seen, mut passed) = (0, false);
    let (mut above_a, mut above_b) = (0, 0);
    for (ca, cb) in Buckets::merged(a, b) {
        if passed {
            above_a += ca;
            above_b += cb;
        } else {
            seen += ca + cb;
            passed = seen >= rank;
        }
    }
    fisher_exact(above_a, n1 - above_a, above_b, n2 - above_b)
}

/// Fisher's exact test of the 2x2 table `[[a, b], [c, d]]` (rows: the two
/// sides; columns: in the category or not): the two-sided p-value, the
/// probability under fixed margins of every table no more likely than
/// this one.
pub(crate) fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (r1, r2, c1) = (a + b, c + d, a + c);
    let n = r1 + r2;
    if r1 == 0 || r2 == 0 || c1 == 0 || c1 == n {
        return 1.0;
    }
    let lo = c1.saturating_sub(r2);
    let hi = r1.min(c1);
    // ln P(X = x) for the hypergeometric count of row one in column one.
    let ln_p = |x: u64| {
        ln_factorial(r1) - ln_factorial(x) - ln_factorial(r1 - x) + ln_factorial(r2)
            - ln_factorial(c1 - x)
            - ln_factorial(r2 - (c1 - x))
            - (ln_factorial(n) - ln_factorial(c1) - ln_factorial(n - c1))
    };
    let observed = ln_p(a);
    // Tables as likely as the observed one, up to rounding, count.
    let cutoff = observed + 1e-7 * observed.abs().max(1.0);
    let mut p = 0.0;
    // From `lo` upward by the ratio P(x + 1) / P(x): one logarithm a term.
    let mut lx = ln_p(lo);
    let mut x = lo;
    loop {
        if lx <= cutoff {
            p += lx.exp();
        }
        if x == hi {
            break;
        }
        let (xf, r1f, r2f, c1f) = (x as f64, r1 as f64, r2 as f64, c1 as f64);
        lx += ((r1f - xf) * (c1f - xf) / ((xf + 1.0) * (r2f - c1f + xf + 1.0))).ln();
        x += 1;
    }
    p.clamp(0.0, 1.0)
}

/// Holm's step-down adjustment of `p`: each adjusted value is compared with
/// the level directly, and the chance that any true "no change" is
/// flagged stays at or below the level (see the module docs).
pub(crate) fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn the_normal_tail_matches_tables() {
        // Two-sided p of z = 1.96 and 2.576 (any statistics table).
        assert!(close(normal_two_sided(1.959_964), 0.05, 1e-6));
        assert!(close(normal_two_sided(2.575_829), 0.01, 1e-6));
        assert!(close(normal_two_sided(0.0), 1.0, 1e-7));
    }

    #[test]
    fn student_t_matches_tables() {
        // t(10) = 2.228 is the two-sided 5% point; t(3) = 3.182 too.
        assert!(close(student_t_two_sided(2.228_139, 10.0), 0.05, 1e-5));
        assert!(close(student_t_two_sided(3.182_446, 3.0), 0.05, 1e-5));
        assert!(close(student_t_two_sided(0.0, 7.0), 1.0, 1e-12));
    }

    #[test]
    fn fisher_matches_the_tea_tasting_table() {
        // Fisher's lady tasting tea: [[3, 1], [1, 3]], two-sided p = 34/70.
        assert!(close(fisher_exact(3, 1, 1, 3), 34.0 / 70.0, 1e-12));
        // [[1, 9], [11, 3]]: R's fisher.test gives 0.002759.
        assert!(close(fisher_exact(1, 9, 11, 3), 0.002_759, 1e-6));
        assert!(close(fisher_exact(0, 100, 0, 100), 1.0, 0.0));
    }

    #[test]
    fn mann_whitney_of_separated_samples_is_small_and_of_equal_ones_one() {
        let mut a = Buckets::default();
        let mut b = Buckets::default();
        for v in 1..=20u64 {
            a.record(v * 1_000_000);
            b.record(v * 100_000_000);
        }
        // No overlap and no ties (consecutive values differ by 5% or
        // more, buckets are 2% wide), 20 a side: U = 400, z = (400 - 200 - 0.5) / sqrt(20*20*41/12).
        let z = 199.5 / (400.0 * 41.0 / 12.0f64).sqrt();
        assert!(close(mann_whitney(&a, &b), normal_two_sided(z), 1e-12));
        assert!(close(mann_whitney(&a, &a), 1.0, 1e-12));
    }

    #[test]
    fn holm_multiplies_and_keeps_the_order() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.5]);
        assert_eq!(adjusted, [0.04, 0.09, 0.09, 0.5]);
    }

    #[test]
    fn buckets_grow_either_way() {
        let mut b = Buckets::default();
        for v in [1_000, 10, 0, 1_000_000, 10] {
            b.record(v);
        }
        assert_eq!(b.total(), 5);
        assert_eq!(b.zeros, 1);
    }
}
