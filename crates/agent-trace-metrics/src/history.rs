//! Time-bucketed history: tiers of slots that roll up into each other.
//!
//! # Layout
//!
//! Tier `k` has slots of width `w_k`, aligned to the Unix epoch, and spans
//! `w_k * n_k` back from now. The default tiers are 5 s x 12 (one minute),
//! 1 min x 60 (one hour), 15 min x 96 (one day) and 3 h x 56 (seven days).
//! Each width divides the next, so a slot of tier `k` lies inside exactly
//! one slot of tier `k + 1`. A slot of tier `k` is merged into that
//! enclosing slot once the *enclosing* slot has wholly left tier `k`'s span
//! (so tier `k` briefly holds up to `w_{k+1} / w_k` slots more than `n_k`);
//! out of the last tier, a slot is dropped once it has left the span. Every
//! value lives in exactly one slot, so memory is the number of slots times
//! the size of a slot, whatever the traffic: at most 264 slots with the
//! default tiers (24 + 75 + 108 + 57). Only slots that received a value
//! exist.
//!
//! # How far a window's edge can be off
//!
//! A query for the trailing window `W` merges every slot that *ends* after
//! `now - W`. Slots are never split, so the slot that contains the edge
//! `now - W` is included whole: the answer covers `W` plus up to one slot
//! width further into the past, never less than `W`. That slot belongs to
//! the finest tier `k` whose span reaches `now - W`, and no coarser slot is
//! included: a slot of tier `k + 1` receives data only once it lies wholly
//! before `now - span_k <= now - W`. So with the default tiers a window up to 1 min is off by less than
//! 5 s, up to 1 h by less than 1 min, up to 24 h by less than 15 min, and up
//! to 7 d by less than 3 h. A window longer than the retention covers
//! everything retained.
//!
//! # Exemplars
//!
//! A slot whose values came with trace ids also has an exemplar list (see
//! the `exemplar` module), kept in per-tier lists of their own beside the
//! sketches rather than in every slot entry, so that a series without
//! exemplars pays nothing for them. The lists follow the sketches exactly:
//! the same tier and slot on insert, the same [`retained`] rule when
//! rolling up (where two lists merge into the exemplar set of their
//! union) or expiring, and the same slot when the memory budget sheds the
//! oldest one; their bytes count against that budget too.

use std::collections::VecDeque;
use std::time::Duration;

use crate::MetricsError;
use crate::exemplar::{Exemplar, ExemplarSet};
use crate::sketch::{CompactSketch, Sketch, Store};

/// One tier of retention: `slots` slots of `slot_width` each.
///
/// See [`LatencyMetricsBuilder::tiers`](crate::LatencyMetricsBuilder::tiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    slot_width: Duration,
    slots: u32,
}

impl Tier {
    /// A tier of `slots` slots of `slot_width` each.
    pub const fn new(slot_width: Duration, slots: u32) -> Self {
        Self { slot_width, slots }
    }

    /// The width of one slot.
    pub fn slot_width(&self) -> Duration {
        self.slot_width
    }

    /// How many slots the tier keeps.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// How far back the tier reaches: `slot_width * slots`.
    pub fn span(&self) -> Duration {
        self.slot_width * self.slots
    }

    /// The default tiers: 5 s x 12, 1 min x 60, 15 min x 96, 3 h x 56 (seven
    /// days; at most 264 slots while slots roll up).
    pub fn defaults() -> Vec<Tier> {
        vec![
            Tier::new(Duration::from_secs(5), 12),
            Tier::new(Duration::from_secs(60), 60),
            Tier::new(Duration::from_secs(15 * 60), 96),
            Tier::new(Duration::from_secs(3 * 3600), 56),
        ]
    }
}

/// Tier geometry in nanoseconds, checked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TierSpec {
    pub(crate) width: u64,
    pub(crate) span: u64,
}

pub(crate) fn check_tiers(tiers: &[Tier]) -> Result<Vec<TierSpec>, MetricsError> {
    if tiers.is_empty() {
        return Err(MetricsError::InvalidTiers {
            reason: "at least one tier is needed",
        });
    }
    let mut specs: Vec<TierSpec> = Vec::with_capacity(tiers.len());
    for t in tiers {
        let width = u64::try_from(t.slot_width.as_nanos()).unwrap_or(u64::MAX);
        if width == 0 || t.slots == 0 {
            return Err(MetricsError::InvalidTiers {
                reason: "slot widths and slot counts must be positive",
            });
        }
        let span = width
            .checked_mul(u64::from(t.slots))
            .ok_or(MetricsError::InvalidTiers {
                reason: "a tier spans more than 584 years",
            })?;
        if let Some(prev) = specs.last() {
            if width <= prev.width || width % prev.width != 0 {
                return Err(MetricsError::InvalidTiers {
                    reason: "each slot width must be a larger multiple of the previous one",
                });
            }
            if span <= prev.span {
                return Err(MetricsError::InvalidTiers {
                    reason: "each tier must span longer than the previous one",
                });
            }
        }
        specs.push(TierSpec { width, span });
    }
    Ok(specs)
}

/// The closed slots of one series.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Per tier, `(slot number, sketch)` sorted by slot number, where slot
    /// number `k` covers `[k * width, (k + 1) * width)`.
    tiers: Vec<VecDeque<(u64, CompactSketch)>>,
    /// The bucket counts of all slots, summed, once a query has asked for
    /// all of them; see [`Totals`].
    totals: Option<Totals>,
    /// Per tier, `(slot number, exemplars)` sorted by slot number, for the
    /// slots that have any; empty (no tiers at all) until the first.
    exemplars: Vec<VecDeque<(u64, Box<[Exemplar]>)>>,
}

/// The bucket counts and zero count of every closed slot, summed.
///
/// A query over all the history (`percentiles`, or any window longer than
/// what is retained) would otherwise decode every slot's buckets: about 260
/// slots of a few hundred buckets each for a week, hundreds of microseconds.
/// Bucket counts are integers, so the sum can be kept up to date exactly as
/// slots come and go: a closed live slot adds its buckets, a roll-up moves
/// them between tiers without changing the sum, and a slot that leaves the
/// retention is subtracted. Such a query then merges only the slots' moments
/// (a fixed-size header each, in the same order as before, so the floating
/// point results do not change) and copies this store.
///
/// Built on the first such query, so a series nobody asks about for its
/// whole history does not pay for it. It costs one dense range of `u64`
/// counts (about 2.3 KiB for 0.1 to 30 s at 1%, counted by `heap_bytes`).
#[derive(Debug, Default)]
struct Totals {
    zeros: u64,
    store: Store,
    /// The range reached `max_buckets`, so some counts may have been
    /// collapsed into the lowest bucket and cannot be subtracted exactly:
    /// the totals are rebuilt from the slots after the next expiry instead.
    full: bool,
}

impl Totals {
    fn add(&mut self, sketch: &Sketch, max_buckets: usize) {
        self.zeros += sketch.zeros;
        for (i, c) in sketch.store.iter() {
            self.store.add(i, c, max_buckets);
        }
        self.full |= self.store.is_full(max_buckets);
    }

    /// Takes an expired slot out; `false` if that cannot be done exactly.
    fn sub(&mut self, slot: &CompactSketch) -> bool {
        if self.full {
            return false;
        }
        let mut exact = true;
        let (_, zeros) = slot.decode(|i, c| exact &= self.store.sub(i, c));
        match self.zeros.checked_sub(zeros) {
            Some(z) if exact => {
                self.zeros = z;
                true
            }
            _ => false,
        }
    }
}

impl History {
    pub(crate) fn new(tiers: usize) -> Self {
        Self {
            tiers: (0..tiers).map(|_| VecDeque::new()).collect(),
            totals: None,
            exemplars: Vec::new(),
        }
    }

    /// Adds the exemplars of the finest-tier slot that starts at `start`,
    /// to the slot [`insert`](Self::insert) put its sketch in.
    pub(crate) fn insert_exemplars(
        &mut self,
        start: u64,
        set: &ExemplarSet,
        now: u64,
        specs: &[TierSpec],
    ) {
        if set.is_empty() {
            return;
        }
        for (k, spec) in specs.iter().enumerate() {
            let slot = start / spec.width;
            if retained(specs, k, slot, now) {
                if self.exemplars.len() < specs.len() {
                    self.exemplars.resize_with(specs.len(), VecDeque::new);
                }
                merge_exemplars_into(&mut self.exemplars[k], slot, set);
                return;
            }
        }
    }

    /// Adds the sketch of the finest-tier slot that starts at `start`, into
    /// the finest tier that still retains that time. Data older than the
    /// retention is dropped.
    pub(crate) fn insert(
        &mut self,
        start: u64,
        sketch: &Sketch,
        now: u64,
        specs: &[TierSpec],
        max_buckets: usize,
    ) {
        for (k, spec) in specs.iter().enumerate() {
            let slot = start / spec.width;
            if retained(specs, k, slot, now) {
                merge_into(&mut self.tiers[k], slot, sketch, max_buckets);
                if let Some(totals) = &mut self.totals {
                    totals.add(sketch, max_buckets);
                }
                return;
            }
        }
    }

    /// Rolls slots that aged out of a tier into the next one, and drops what
    /// aged out of the last.
    pub(crate) fn advance(&mut self, now: u64, specs: &[TierSpec], max_buckets: usize) {
        for k in 0..specs.len() {
            // Slots leave a tier together with the other slots of their
            // enclosing next-tier slot: merge each such group once, rather
            // than re-encoding the target once per slot.
            let mut group: Option<(u64, Sketch)> = None;
            while let Some(&(slot, _)) = self.tiers[k].front() {
                if retained(specs, k, slot, now) {
                    break;
                }
                let Some((slot, sketch)) = self.tiers[k].pop_front() else {
                    break;
                };
                let Some(next) = specs.get(k + 1) else {
                    // Expired: out of the totals too.
                    if self.totals.as_mut().is_some_and(|t| !t.sub(&sketch)) {
                        self.totals = None;
                    }
                    continue;
                };
                let target = slot * specs[k].width / next.width;
                match &mut group {
                    Some((t, acc)) if *t == target => acc.merge_compact(&sketch, max_buckets),
                    _ => {
                        if let Some((t, acc)) = group.take() {
                            merge_into(&mut self.tiers[k + 1], t, &acc, max_buckets);
                        }
                        let mut acc = Sketch::default();
                        acc.merge_compact(&sketch, max_buckets);
                        group = Some((target, acc));
                    }
                }
            }
            if let Some((t, acc)) = group {
                merge_into(&mut self.tiers[k + 1], t, &acc, max_buckets);
            }
            if self.tiers[k].capacity() > 2 * self.tiers[k].len() + 8 {
                self.tiers[k].shrink_to_fit();
            }
        }
        self.advance_exemplars(now, specs);
    }

    /// [`advance`](Self::advance) for the exemplar lists: the same slots
    /// move, and the lists of one target slot merge.
    fn advance_exemplars(&mut self, now: u64, specs: &[TierSpec]) {
        for k in 0..self.exemplars.len() {
            while let Some(&(slot, _)) = self.exemplars[k].front() {
                if retained(specs, k, slot, now) {
                    break;
                }
                let Some((slot, list)) = self.exemplars[k].pop_front() else {
                    break;
                };
                if let Some(next) = specs.get(k + 1) {
                    let target = slot * specs[k].width / next.width;
                    let mut set = ExemplarSet::default();
                    set.extend(&list);
                    merge_exemplars_into(&mut self.exemplars[k + 1], target, &set);
                }
            }
            if self.exemplars[k].capacity() > 2 * self.exemplars[k].len() + 8 {
                self.exemplars[k].shrink_to_fit();
            }
        }
    }

    /// Appends the exemplars of every slot that ends after `since` (all
    /// slots when `None`).
    pub(crate) fn collect_exemplars(
        &self,
        out: &mut Vec<Exemplar>,
        since: Option<u64>,
        specs: &[TierSpec],
    ) {
        for (tier, spec) in self.exemplars.iter().zip(specs) {
            for (slot, list) in tier {
                let end = (slot + 1).saturating_mul(spec.width);
                if since.is_none_or(|s| end > s) {
                    out.extend_from_slice(list);
                }
            }
        }
    }

    /// Merges every slot that ends after `since` (all slots when `None`).
    pub(crate) fn collect_into(
        &mut self,
        acc: &mut Sketch,
        since: Option<u64>,
        specs: &[TierSpec],
        max_buckets: usize,
    ) {
        let ends_after =
            |slot: u64, width: u64, since: u64| (slot + 1).saturating_mul(width) > since;
        // Each tier is sorted, so its front is its oldest slot.
        let all = since.is_none_or(|s| {
            self.tiers.iter().zip(specs).all(|(tier, spec)| {
                tier.front()
                    .is_none_or(|(slot, _)| ends_after(*slot, spec.width, s))
            })
        });
        if all {
            let tiers = &self.tiers;
            let totals = self.totals.get_or_insert_with(|| {
                let mut t = Totals::default();
                for (_, sketch) in tiers.iter().flatten() {
                    t.zeros += sketch.decode(|i, c| t.store.add(i, c, max_buckets)).1;
                }
                t.full = t.store.is_full(max_buckets);
                t
            });
            for (_, sketch) in tiers.iter().flatten() {
                acc.moments.merge(&sketch.moments().0);
            }
            acc.merge_buckets(totals.zeros, &totals.store, max_buckets);
            return;
        }
        for (tier, spec) in self.tiers.iter().zip(specs) {
            for (slot, sketch) in tier {
                let end = (slot + 1).saturating_mul(spec.width);
                if since.is_none_or(|s| end > s) {
                    acc.merge_compact(sketch, max_buckets);
                }
            }
        }
    }

    /// Drops the oldest slots (the front of the coarsest tier that has
    /// any) until the history takes at most `budget` bytes; returns how
    /// many values they held.
    pub(crate) fn shed_to(&mut self, budget: usize) -> u64 {
        let mut shed = 0;
        while self.heap_bytes() > budget {
            let Some((k, tier)) = self
                .tiers
                .iter_mut()
                .enumerate()
                .rev()
                .find(|(_, t)| !t.is_empty())
            else {
                break;
            };
            let Some((slot, sketch)) = tier.pop_front() else {
                break;
            };
            if tier.capacity() > 2 * tier.len() + 8 {
                tier.shrink_to_fit();
            }
            // The slot's exemplars go with it.
            if let Some(ex) = self.exemplars.get_mut(k) {
                while ex.front().is_some_and(|(s, _)| *s <= slot) {
                    ex.pop_front();
                }
            }
            shed += sketch.count();
            if self.totals.as_mut().is_some_and(|t| !t.sub(&sketch)) {
                self.totals = None;
            }
        }
        shed
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.tiers.iter().map(VecDeque::len).sum()
    }

    /// The closed slots, per tier (finest first): `(slot number, sketch)`
    /// sorted by slot number (read-only; `crate::slots`).
    pub(crate) fn tiers(&self) -> &[VecDeque<(u64, CompactSketch)>] {
        &self.tiers
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.tiers.capacity() * size_of::<VecDeque<(u64, CompactSketch)>>()
            + self
                .tiers
                .iter()
                .map(|t| {
                    t.capacity() * size_of::<(u64, CompactSketch)>()
                        + t.iter().map(|(_, s)| s.heap_bytes()).sum::<usize>()
                })
                .sum::<usize>()
            + self.totals.as_ref().map_or(0, |t| t.store.heap_bytes())
            + self.exemplar_bytes()
    }

    fn exemplar_bytes(&self) -> usize {
        self.exemplars.capacity() * size_of::<VecDeque<(u64, Box<[Exemplar]>)>>()
            + self
                .exemplars
                .iter()
                .map(|t| {
                    t.capacity() * size_of::<(u64, Box<[Exemplar]>)>()
                        + t.iter()
                            .map(|(_, l)| size_of_val::<[Exemplar]>(l))
                            .sum::<usize>()
                })
                .sum::<usize>()
    }
}

/// Whether tier `k` still holds its slot number `slot` at `now`.
///
/// The last tier holds a slot while it ends within the tier's span. Any
/// other tier holds it until the *enclosing slot of the next tier* ends
/// before the tier's span: so a next-tier slot only ever receives data once
/// it lies wholly outside this tier's span, and a window no longer than
/// this tier's span never includes a coarser slot (see the module docs).
fn retained(specs: &[TierSpec], k: usize, slot: u64, now: u64) -> bool {
    let cutoff = now.saturating_sub(specs[k].span);
    let end = match specs.get(k + 1) {
        Some(next) => (slot * specs[k].width / next.width + 1).saturating_mul(next.width),
        None => (slot + 1).saturating_mul(specs[k].width),
    };
    end > cutoff
}

/// Adds `incoming` to the exemplar list of `slot` in `tier` (creating it).
fn merge_exemplars_into(
    tier: &mut VecDeque<(u64, Box<[Exemplar]>)>,
    slot: u64,
    incoming: &ExemplarSet,
) {
    match tier.binary_search_by_key(&slot, |(s, _)| *s) {
        Ok(pos) => {
            let mut merged = incoming.clone();
            merged.extend(&tier[pos].1);
            tier[pos].1 = merged.to_list();
        }
        Err(pos) => {
            if tier.len() == tier.capacity() {
                tier.reserve_exact(tier.len() / 4 + 4);
            }
            tier.insert(pos, (slot, incoming.to_list()));
        }
    }
}

fn merge_into(
    tier: &mut VecDeque<(u64, CompactSketch)>,
    slot: u64,
    incoming: &Sketch,
    max_buckets: usize,
) {
    match tier.binary_search_by_key(&slot, |(s, _)| *s) {
        Ok(pos) => {
            let mut merged = Sketch::default();
            merged.merge_compact(&tier[pos].1, max_buckets);
            merged.merge(incoming, max_buckets);
            tier[pos].1 = merged.to_compact();
        }
        Err(pos) => {
            let compact = incoming.to_compact();
            if compact.count() > 0 {
                // Grow by a quarter rather than doubling: a tier's slot
                // count is bounded and known, and doubling would leave up
                // to half of the deque's memory unused.
                if tier.len() == tier.capacity() {
                    tier.reserve_exact(tier.len() / 4 + 4);
                }
                tier.insert(pos, (slot, compact));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::Mapping;

    const S: u64 = 1_000_000_000;

    fn sketch_of(v: f64) -> Sketch {
        let mut s = Sketch::default();
        s.add(v, &Mapping::new(0.01), 2048);
        s
    }

    #[test]
    fn slots_roll_up_and_expire() {
        let specs = check_tiers(&Tier::defaults()).unwrap();
        let mut h = History::new(specs.len());
        let t0 = 1_000_000 * S;
        h.insert(t0, &sketch_of(1.0), t0, &specs, 2048);
        h.insert(t0 + 5 * S, &sketch_of(2.0), t0 + 5 * S, &specs, 2048);
        assert_eq!(h.tiers[0].len(), 2);
        h.advance(t0 + 200 * S, &specs, 2048);
        assert_eq!(h.tiers[0].len(), 0);
        assert_eq!(h.tiers[1].len(), 1);
        assert_eq!(h.tiers[1][0].1.count(), 2);
        h.advance(t0 + 8 * 86_400 * S, &specs, 2048);
        assert_eq!(h.slot_count(), 0);
    }

    /// The all-history path (the running totals) answers exactly what
    /// decoding every slot answers, while slots close, roll up and expire.
    #[test]
    fn totals_match_every_slot_decoded() {
        let specs = check_tiers(&Tier::defaults()).unwrap();
        let m = Mapping::new(0.01);
        let mut h = History::new(specs.len());
        let t0 = 1_000_000 * S;
        let mut x = 1u64;
        // Ten days of one 5 s slot a minute, values from 0 to ~100 s.
        for step in 0..10 * 1440u64 {
            let now = t0 + step * 60 * S;
            let mut s = Sketch::default();
            for _ in 0..3 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let v = if x >> 60 == 0 {
                    0.0
                } else {
                    (x >> 11) as f64 * 1e-14
                };
                s.add(v, &m, 2048);
            }
            h.insert(now - 5 * S, &s, now, &specs, 2048);
            h.advance(now, &specs, 2048);
            if step % 97 == 0 {
                let mut fast = Sketch::default();
                h.collect_into(&mut fast, None, &specs, 2048);
                let mut slow = Sketch::default();
                for (_, c) in h.tiers.iter().flatten() {
                    slow.merge_compact(c, 2048);
                }
                assert_eq!(fast.moments, slow.moments, "step {step}");
                assert_eq!(fast.zeros, slow.zeros, "step {step}");
                assert_eq!(
                    fast.store.iter().collect::<Vec<_>>(),
                    slow.store.iter().collect::<Vec<_>>(),
                    "step {step}"
                );
            }
        }
        assert!(h.totals.is_some());
    }

    #[test]
    fn bad_tiers_are_refused() {
        let five = Duration::from_secs(5);
        for tiers in [
            vec![],
            vec![Tier::new(five, 0)],
            vec![Tier::new(five, 12), Tier::new(Duration::from_secs(7), 100)],
            vec![Tier::new(five, 12), Tier::new(Duration::from_secs(10), 2)],
        ] {
            assert!(check_tiers(&tiers).is_err(), "{tiers:?}");
        }
    }
}
