//! `cargo xtask powerset`: the facade built under combinations of its
//! features, with clippy and `-D warnings`, so that no combination a user
//! can pick fails to compile or warns.
//!
//! - `cargo xtask powerset` checks every combination (all 2^12 = 4,096 of
//!   the twelve features, with no default features): the whole guarantee,
//!   for a person with a few hours to spare (about 4-8 s per combination on
//!   two cores once the dependencies are built).
//! - `cargo xtask powerset --depth 2` checks every combination of at most
//!   two features, plus all of them together, which is what CI runs.
//!
//! Why two is enough for CI: a combination fails to compile when code
//! enabled under one predicate uses an item enabled under another, and the
//! failing combination is the smallest one that turns the user on and the
//! item off. `tidy` keeps every `cfg` predicate of the facade and the
//! export crate to at most two features ([`MAX_FEATURES_PER_CFG`]), and
//! every feature-to-feature implication is declared in the manifests (where
//! cargo applies it in every combination), so a failing combination of
//! three or more features contains a failing one of at most two. The full
//! run remains the check of that argument.

use crate::{FACADE_FEATURES, cargo};

/// The most features one `cfg` predicate of the facade or the export crate
/// may name; `tidy` enforces it and the CI depth relies on it.
pub(crate) const MAX_FEATURES_PER_CFG: usize = 2;

/// Every combination of `features` with at most `depth` members (all of
/// them with `None`), smallest first; each combination keeps the order of
/// `features`.
pub(crate) fn combinations<'a>(features: &[&'a str], depth: Option<usize>) -> Vec<Vec<&'a str>> {
    let n = features.len();
    assert!(n < 32, "a powerset of {n} features is not something to run");
    let mut all: Vec<Vec<&str>> = (0u32..1 << n)
        .map(|mask| {
            features
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, f)| *f)
                .collect()
        })
        .filter(|c: &Vec<&str>| depth.is_none_or(|d| c.len() <= d))
        .collect();
    all.sort_by_key(Vec::len);
    if depth.is_some_and(|d| d < n) {
        all.push(features.to_vec());
    }
    all
}

/// Runs clippy on the facade for each combination (see the module docs).
pub(crate) fn run(depth: Option<usize>) -> Result<(), String> {
    let features: Vec<&str> = FACADE_FEATURES
        .iter()
        .copied()
        .filter(|f| !f.is_empty())
        .collect();
    let combos = combinations(&features, depth);
    let total = combos.len();
    let started = std::time::Instant::now();
    for (i, combo) in combos.iter().enumerate() {
        let list = combo.join(",");
        eprintln!(
            "powerset: {}/{total} [{}]",
            i + 1,
            if list.is_empty() { "none" } else { &list }
        );
        cargo(&[
            "clippy",
            "-p",
            "agent-trace",
            "--no-default-features",
            "--features",
            &list,
            "--",
            "-D",
            "warnings",
        ])?;
    }
    eprintln!(
        "powerset: {total} combinations clean in {:.0?}",
        started.elapsed()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_powerset_has_every_subset_once() {
        let c = combinations(&["a", "b", "c"], None);
        assert_eq!(c.len(), 8);
        let mut seen: Vec<String> = c.iter().map(|s| s.join(",")).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 8);
        assert_eq!(c[0], Vec::<&str>::new());
        assert_eq!(c[7], vec!["a", "b", "c"]);
    }

    #[test]
    fn depth_two_is_pairs_singles_none_and_all() {
        let c = combinations(&["a", "b", "c", "d"], Some(2));
        // 1 empty + 4 singles + 6 pairs + all four together.
        assert_eq!(c.len(), 1 + 4 + 6 + 1);
        assert!(c.contains(&vec!["b", "d"]));
        assert_eq!(c.last().unwrap(), &vec!["a", "b", "c", "d"]);
        assert!(!c.contains(&vec!["a", "b", "c"]));
    }

    #[test]
    fn depth_at_least_the_count_is_the_full_powerset() {
        assert_eq!(combinations(&["a", "b"], Some(2)).len(), 4);
    }
}
