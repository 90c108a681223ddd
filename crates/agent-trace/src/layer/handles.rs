//! The series handle of each callsite's span name.

use std::sync::{Arc, OnceLock};

use agent_trace_metrics::LatencyMetrics;
use agent_trace_metrics::SeriesHandle;
use tracing::Metadata;

/// How many callsites [`CallsiteHandles`] keeps a series handle for: a power of two.
/// The spans of callsites beyond it are recorded by name, which is right
/// and about 10 ns slower.
pub(super) const HANDLE_SLOTS: usize = 256;

/// How many slots a callsite's handle may be looked for in, from the one
/// its address hashes to.
pub(super) const HANDLE_PROBES: usize = 8;

/// The series handle of each callsite's span name, so that a span that
/// keeps its callsite's name records its duration with no look-up by name
/// (the layer bench: about 110 instructions fewer per span than
/// [`LatencyMetrics::record_with_exemplar`]).
///
/// An open-addressed table keyed by the address of the callsite's
/// `&'static Metadata`: a slot is filled once and never changes, so a hit
/// is an atomic load and a comparison, with no lock. A slot is filled by
/// `OnceLock::set` with a handle made beforehand, so making it (which may
/// call a `metrics` recorder) never runs while a slot is being
/// initialised.
pub(super) struct CallsiteHandles {
    pub(super) slots: Box<[OnceLock<(usize, SeriesHandle)>]>,
}

impl CallsiteHandles {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            slots: (0..HANDLE_SLOTS).map(|_| OnceLock::new()).collect(),
        })
    }

    /// The handle of `callsite`'s series in `metrics`, made on first use;
    /// `None` when the table is full around it.
    #[inline]
    pub(super) fn get(
        &self,
        metrics: &LatencyMetrics,
        callsite: &'static Metadata<'static>,
    ) -> Option<&SeriesHandle> {
        let key = std::ptr::from_ref(callsite) as usize;
        // Fibonacci hashing: the top bits of the product spread addresses
        // that differ only in their low bits.
        let home = (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - HANDLE_SLOTS.ilog2());
        for probe in 0..HANDLE_PROBES {
            let slot = &self.slots[(home as usize + probe) % HANDLE_SLOTS];
            let (owner, handle) = match slot.get() {
                Some(entry) => entry,
                None => {
                    // A lost race leaves another callsite's (or the same
                    // callsite's) handle in the slot: both are fine.
                    let _ = slot.set((key, metrics.series(callsite.name(), &[])));
                    slot.get()?
                }
            };
            if *owner == key {
                return Some(handle);
            }
        }
        None
    }
}
