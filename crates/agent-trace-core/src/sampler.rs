//! Head sampling: the decision, taken when a span starts, whether to record
//! it and whether to export it.
//!
//! A span that is not recorded costs no allocation: it carries only its
//! context, so that its children and outgoing requests still propagate the
//! trace (with the *sampled* flag cleared).

use std::fmt;
use std::sync::Arc;

use agent_trace_propagation::{SpanContext, TraceId};

use crate::attr::KeyValue;
use crate::error::TraceError;
use crate::span_data::SpanKind;

/// What a sampler decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SamplingDecision {
    /// Neither recorded nor exported; only the context propagates.
    Drop,
    /// Recorded and seen by processors, but not marked sampled, so exporters
    /// skip it.
    RecordOnly,
    /// Recorded and marked sampled.
    RecordAndSample,
}

/// What a sampler is told about the span being started.
#[derive(Debug)]
#[non_exhaustive]
pub struct SamplingParams<'a> {
    /// The parent's context, if the span has a parent.
    pub parent: Option<&'a SpanContext>,
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's name.
    pub name: &'a str,
    /// The span's kind.
    pub kind: SpanKind,
    /// Attributes given when the span was started.
    pub attributes: &'a [KeyValue],
}

/// A sampling policy of the user's own.
pub trait ShouldSample: Send + Sync + fmt::Debug {
    /// Decides for one span.
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingDecision;
}

/// The built-in samplers, plus the user's own.
///
/// The default is `parent_based(AlwaysOn)`, as in OpenTelemetry: roots are
/// sampled, and children follow their parent.
///
/// ```
/// use agent_trace_core::Sampler;
///
/// // Keep one trace in ten, and keep whole traces together.
/// let sampler = Sampler::parent_based(Sampler::trace_id_ratio(0.1)?);
/// assert!(Sampler::trace_id_ratio(1.5).is_err());
/// # let _ = sampler;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Sampler {
    /// Record and sample everything.
    AlwaysOn,
    /// Record nothing.
    AlwaysOff,
    /// Sample a fixed fraction of traces, decided from the trace id alone so
    /// that every service sampling at the same ratio keeps the same traces.
    TraceIdRatio(TraceIdRatio),
    /// Follow the parent's decision; use other samplers for roots.
    ParentBased(Box<ParentBased>),
    /// A policy of the user's own.
    Custom(Arc<dyn ShouldSample>),
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::parent_based(Sampler::AlwaysOn)
    }
}

/// A checked sampling ratio, as used by [`Sampler::TraceIdRatio`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceIdRatio {
    ratio: f64,
    /// Traces whose id's low 63 bits fall under this bound are sampled.
    bound: u64,
}

impl TraceIdRatio {
    /// A ratio within `0.0..=1.0`.
    ///
    /// # Errors
    /// [`TraceError::InvalidRatio`] for NaN or a value outside the range.
    pub fn new(ratio: f64) -> Result<Self, TraceError> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(TraceError::InvalidRatio(ratio));
        }
        // The same arithmetic as the other OpenTelemetry SDKs, so that a trace
        // kept by one service at ratio r is kept by all at ratio r.
        let bound = (ratio * (1u64 << 63) as f64) as u64;
        Ok(Self { ratio, bound })
    }

    /// The ratio.
    pub fn ratio(self) -> f64 {
        self.ratio
    }

    #[inline]
    fn samples(self, trace_id: TraceId) -> bool {
        let low = trace_id.to_u128() as u64;
        (low >> 1) < self.bound
    }
}

/// Samplers by parent situation, for [`Sampler::ParentBased`].
#[derive(Clone, Debug)]
pub struct ParentBased {
    /// For spans without a parent.
    pub root: Sampler,
    /// For children of a sampled remote parent (default: always on).
    pub remote_parent_sampled: Sampler,
    /// For children of an unsampled remote parent (default: always off).
    pub remote_parent_not_sampled: Sampler,
    /// For children of a sampled local parent (default: always on).
    pub local_parent_sampled: Sampler,
    /// For children of an unsampled local parent (default: always off).
    pub local_parent_not_sampled: Sampler,
}

impl Sampler {
    /// Follow the parent's decision; `root` decides for spans without one.
    pub fn parent_based(root: Sampler) -> Self {
        Sampler::ParentBased(Box::new(ParentBased {
            root,
            remote_parent_sampled: Sampler::AlwaysOn,
            remote_parent_not_sampled: Sampler::AlwaysOff,
            local_parent_sampled: Sampler::AlwaysOn,
            local_parent_not_sampled: Sampler::AlwaysOff,
        }))
    }

    /// Sample this fraction of traces.
    ///
    /// # Errors
    /// [`TraceError::InvalidRatio`] for NaN or a value outside `0.0..=1.0`.
    pub fn trace_id_ratio(ratio: f64) -> Result<Self, TraceError> {
        TraceIdRatio::new(ratio).map(Sampler::TraceIdRatio)
    }

    /// A policy of the user's own.
    pub fn custom(sampler: impl ShouldSample + 'static) -> Self {
        Sampler::Custom(Arc::new(sampler))
    }

    /// The decision this sampler makes for every span in each parent
    /// situation, where it does not depend on the span: indexed by
    /// [`situation`], `None` where it depends on more than the parent. The
    /// tracer reads it before calling [`should_sample`](Self::should_sample),
    /// so the default sampler costs a table look-up per span.
    pub(crate) fn fixed_decisions(&self) -> [Option<SamplingDecision>; 5] {
        let fixed = |s: &Sampler| match s {
            Sampler::AlwaysOn => Some(SamplingDecision::RecordAndSample),
            Sampler::AlwaysOff => Some(SamplingDecision::Drop),
            _ => None,
        };
        match self {
            Sampler::ParentBased(p) => [
                fixed(&p.root),
                fixed(&p.remote_parent_sampled),
                fixed(&p.remote_parent_not_sampled),
                fixed(&p.local_parent_sampled),
                fixed(&p.local_parent_not_sampled),
            ],
            other => [fixed(other); 5],
        }
    }

    /// Decides for one span.
    #[inline]
    pub fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingDecision {
        match self {
            Sampler::AlwaysOn => SamplingDecision::RecordAndSample,
            Sampler::AlwaysOff => SamplingDecision::Drop,
            Sampler::TraceIdRatio(r) => {
                if r.samples(params.trace_id) {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::Drop
                }
            }
            Sampler::ParentBased(p) => {
                let delegate = match params.parent {
                    None => &p.root,
                    Some(parent) => match (parent.is_remote, parent.is_sampled()) {
                        (true, true) => &p.remote_parent_sampled,
                        (true, false) => &p.remote_parent_not_sampled,
                        (false, true) => &p.local_parent_sampled,
                        (false, false) => &p.local_parent_not_sampled,
                    },
                };
                delegate.should_sample(params)
            }
            Sampler::Custom(s) => s.should_sample(params),
        }
    }
}

/// The index into [`Sampler::fixed_decisions`] of a span's parent
/// situation: no parent, remote sampled, remote not sampled, local sampled,
/// local not sampled.
#[inline]
pub(crate) fn situation(parent: Option<&SpanContext>) -> usize {
    match parent {
        None => 0,
        Some(p) => 1 + 2 * usize::from(!p.is_remote) + usize::from(!p.is_sampled()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table agrees with `should_sample` in every parent situation, for
    /// every sampler whose decision it fixes, and fixes nothing that
    /// depends on the span.
    #[test]
    fn fixed_decisions_agree_with_should_sample() {
        use agent_trace_propagation::{SpanId, TraceFlags};
        let trace_id = TraceId::from_u128(0x1234).unwrap();
        let span_id = SpanId::from_u64(0x99).unwrap();
        let parents: Vec<Option<SpanContext>> =
            [(true, true), (true, false), (false, true), (false, false)]
                .into_iter()
                .map(|(remote, sampled)| {
                    let flags = TraceFlags::NONE.with_sampled(sampled);
                    let mut cx = SpanContext::new(trace_id, span_id, flags);
                    cx.is_remote = remote;
                    Some(cx)
                })
                .chain([None])
                .collect();
        let samplers = [
            Sampler::AlwaysOn,
            Sampler::AlwaysOff,
            Sampler::default(),
            Sampler::parent_based(Sampler::AlwaysOff),
            Sampler::trace_id_ratio(0.5).unwrap(),
            Sampler::parent_based(Sampler::trace_id_ratio(0.5).unwrap()),
        ];
        for sampler in &samplers {
            let table = sampler.fixed_decisions();
            for parent in &parents {
                let params = SamplingParams {
                    parent: parent.as_ref(),
                    trace_id,
                    name: "x",
                    kind: crate::SpanKind::Internal,
                    attributes: &[],
                };
                if let Some(fixed) = table[situation(parent.as_ref())] {
                    assert_eq!(
                        fixed,
                        sampler.should_sample(&params),
                        "{sampler:?} {parent:?}"
                    );
                }
            }
        }
        // What the table fixes, spelled out for the default sampler: roots
        // and sampled parents record, unsampled parents drop.
        use SamplingDecision::{Drop, RecordAndSample};
        assert_eq!(
            Sampler::default().fixed_decisions(),
            [
                Some(RecordAndSample),
                Some(RecordAndSample),
                Some(Drop),
                Some(RecordAndSample),
                Some(Drop)
            ]
        );
        // A ratio decides by trace id: nothing fixed at the root.
        assert_eq!(
            Sampler::trace_id_ratio(0.5).unwrap().fixed_decisions(),
            [None; 5]
        );
        assert_eq!(
            Sampler::parent_based(Sampler::trace_id_ratio(0.5).unwrap()).fixed_decisions()[0],
            None
        );
    }

    #[test]
    fn ratio_bounds() {
        assert!(TraceIdRatio::new(f64::NAN).is_err());
        assert!(TraceIdRatio::new(-0.1).is_err());
        let all = TraceIdRatio::new(1.0).unwrap();
        let none = TraceIdRatio::new(0.0).unwrap();
        let id = TraceId::from_u128(u128::MAX).unwrap();
        assert!(all.samples(id));
        assert!(!none.samples(id));
    }
}
