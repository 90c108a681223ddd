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
    /// Whether deciding runs only this crate's code (no [`Sampler::Custom`]
    /// anywhere in it).
    pub(crate) fn is_builtin(&self) -> bool {
        match self {
            Self::AlwaysOn | Self::AlwaysOff | Self::TraceIdRatio(_) => true,
            Self::ParentBased(p) => {
                p.root.is_builtin()
                    && p.remote_parent_sampled.is_builtin()
                    && p.remote_parent_not_sampled.is_builtin()
                    && p.local_parent_sampled.is_builtin()
                    && p.local_parent_not_sampled.is_builtin()
            }
            Self::Custom(_) => false,
        }
    }

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

    /// The sampler that the OpenTelemetry environment variables
    /// `OTEL_TRACES_SAMPLER` (`sampler`) and `OTEL_TRACES_SAMPLER_ARG`
    /// (`arg`) ask for. The caller reads the environment; this only parses.
    ///
    /// | `sampler`                  | sampler                                   |
    /// |----------------------------|-------------------------------------------|
    /// | `always_on`                | [`Sampler::AlwaysOn`]                     |
    /// | `always_off`               | [`Sampler::AlwaysOff`]                    |
    /// | `traceidratio`             | [`Sampler::trace_id_ratio`]`(arg)`        |
    /// | `parentbased_always_on`    | [`Sampler::parent_based`]`(AlwaysOn)`     |
    /// | `parentbased_always_off`   | [`Sampler::parent_based`]`(AlwaysOff)`    |
    /// | `parentbased_traceidratio` | `parent_based(trace_id_ratio(arg))`       |
    ///
    /// As the OpenTelemetry specification asks, surrounding whitespace and
    /// ASCII case are ignored, and an empty (or blank) value counts as unset:
    /// an empty `sampler` gives the default, `parentbased_always_on`, and an
    /// empty or absent `arg` gives the ratio 1.0. Only the two ratio
    /// samplers read `arg`; the others ignore it.
    ///
    /// ```
    /// use agent_trace_core::{Sampler, TraceError};
    ///
    /// // OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.25
    /// let sampler = Sampler::from_otel_env("parentbased_traceidratio", Some("0.25"))?;
    /// assert!(matches!(sampler, Sampler::ParentBased(_)));
    /// assert!(matches!(
    ///     Sampler::from_otel_env(" Always_On ", None)?,
    ///     Sampler::AlwaysOn
    /// ));
    ///
    /// let e = Sampler::from_otel_env("traceidratio", Some("1.5")).unwrap_err();
    /// assert_eq!(
    ///     e.to_string(),
    ///     "OTEL_TRACES_SAMPLER_ARG \"1.5\" is out of range: \
    ///      traceidratio expects a sampling ratio within 0.0..=1.0"
    /// );
    /// assert!(matches!(
    ///     Sampler::from_otel_env("xray", None),
    ///     Err(TraceError::UnsupportedSampler(_))
    /// ));
    ///
    /// // Reading the environment, with the default when the variable is unset.
    /// fn sampler_from_env() -> Result<Sampler, TraceError> {
    ///     match std::env::var("OTEL_TRACES_SAMPLER") {
    ///         Ok(name) => {
    ///             let arg = std::env::var("OTEL_TRACES_SAMPLER_ARG").ok();
    ///             Sampler::from_otel_env(&name, arg.as_deref())
    ///         }
    ///         Err(_) => Ok(Sampler::default()),
    ///     }
    /// }
    /// # let _ = sampler_from_env;
    /// # Ok::<(), TraceError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`TraceError::UnsupportedSampler`] for `jaeger_remote`,
    ///   `parentbased_jaeger_remote` and `xray`, which the specification
    ///   names but this crate does not implement.
    /// - [`TraceError::UnknownSampler`] for any other unknown name.
    /// - [`TraceError::InvalidSamplerArg`] when a ratio sampler's `arg` is not
    ///   a number within `0.0..=1.0` (NaN included). The specification has
    ///   an SDK log such an argument and use 1.0 instead; a caller that wants
    ///   that can log the error and call again with `arg` set to `None`.
    pub fn from_otel_env(sampler: &str, arg: Option<&str>) -> Result<Self, TraceError> {
        match sampler.trim().to_ascii_lowercase().as_str() {
            "always_on" => Ok(Sampler::AlwaysOn),
            "always_off" => Ok(Sampler::AlwaysOff),
            "traceidratio" => otel_ratio("traceidratio", arg),
            "" | "parentbased_always_on" => Ok(Sampler::parent_based(Sampler::AlwaysOn)),
            "parentbased_always_off" => Ok(Sampler::parent_based(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => {
                otel_ratio("parentbased_traceidratio", arg).map(Sampler::parent_based)
            }
            "jaeger_remote" | "parentbased_jaeger_remote" | "xray" => {
                Err(TraceError::UnsupportedSampler(sampler.to_owned()))
            }
            _ => Err(TraceError::UnknownSampler(sampler.to_owned())),
        }
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

/// The ratio sampler for `OTEL_TRACES_SAMPLER_ARG`: 1.0 when `arg` is absent
/// or blank, else `arg` if it is a number within `0.0..=1.0`.
fn otel_ratio(sampler: &'static str, arg: Option<&str>) -> Result<Sampler, TraceError> {
    let Some(text) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
        return Sampler::trace_id_ratio(1.0);
    };
    let invalid = |reason| TraceError::InvalidSamplerArg {
        sampler,
        value: arg.unwrap_or_default().to_owned(),
        reason,
    };
    match text.parse::<f64>() {
        Ok(ratio) if ratio.is_nan() => Err(invalid("not a number")),
        Ok(ratio) => Sampler::trace_id_ratio(ratio).map_err(|_| invalid("out of range")),
        Err(_) => Err(invalid("not a number")),
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

    /// The decisions of `sampler` for sixteen trace ids spread over the
    /// ratio range, each as a root and under sampled and unsampled, remote
    /// and local parents.
    fn decisions(sampler: &Sampler) -> Vec<SamplingDecision> {
        use agent_trace_propagation::{SpanId, TraceFlags};
        let span_id = SpanId::from_u64(0x99).unwrap();
        let mut out = Vec::new();
        for k in 0..16u128 {
            // Low 64 bits k * 2^60 + 1: ratio 0.5 keeps k < 8.
            let trace_id = TraceId::from_u128((k << 60) | 1).unwrap();
            let parents = [(true, true), (true, false), (false, true), (false, false)]
                .into_iter()
                .map(|(remote, sampled)| {
                    let mut cx =
                        SpanContext::new(trace_id, span_id, TraceFlags::NONE.with_sampled(sampled));
                    cx.is_remote = remote;
                    Some(cx)
                });
            for parent in [None].into_iter().chain(parents) {
                out.push(sampler.should_sample(&SamplingParams {
                    parent: parent.as_ref(),
                    trace_id,
                    name: "x",
                    kind: crate::SpanKind::Internal,
                    attributes: &[],
                }));
            }
        }
        out
    }

    #[test]
    fn otel_env_values_give_the_samplers_they_name() {
        let on = || Sampler::AlwaysOn;
        let off = || Sampler::AlwaysOff;
        let ratio = |r| Sampler::trace_id_ratio(r).unwrap();
        let pb = Sampler::parent_based;
        let cases: Vec<(&str, Option<&str>, Sampler)> = vec![
            ("always_on", None, on()),
            ("always_off", None, off()),
            ("traceidratio", None, ratio(1.0)),
            ("traceidratio", Some("0.5"), ratio(0.5)),
            ("traceidratio", Some("0"), ratio(0.0)),
            ("traceidratio", Some("1"), ratio(1.0)),
            ("traceidratio", Some(" 0.5 "), ratio(0.5)),
            ("traceidratio", Some(""), ratio(1.0)),
            ("parentbased_always_on", None, pb(on())),
            ("parentbased_always_off", None, pb(off())),
            ("parentbased_traceidratio", None, pb(ratio(1.0))),
            ("parentbased_traceidratio", Some("0.5"), pb(ratio(0.5))),
            ("parentbased_traceidratio", Some("0.0"), pb(ratio(0.0))),
            // Whitespace and case are ignored; empty means unset (the default).
            ("  always_off\n", None, off()),
            ("ParentBased_Always_Off", None, pb(off())),
            ("TRACEIDRATIO", Some("0.5"), ratio(0.5)),
            ("", None, pb(on())),
            ("   ", None, pb(on())),
            // Samplers without an argument ignore it, however bad.
            ("always_on", Some("banana"), on()),
            ("parentbased_always_off", Some("2"), pb(off())),
        ];
        for (name, arg, expected) in cases {
            let got = Sampler::from_otel_env(name, arg)
                .unwrap_or_else(|e| panic!("{name:?} {arg:?}: {e}"));
            assert_eq!(decisions(&got), decisions(&expected), "{name:?} {arg:?}");
            assert_eq!(
                format!("{got:?}"),
                format!("{expected:?}"),
                "{name:?} {arg:?}"
            );
        }
        // The cases tell the samplers apart: a sampler that follows its
        // parent differs from one that does not, and ratios differ.
        use SamplingDecision::{Drop, RecordAndSample};
        let half = decisions(&ratio(0.5));
        assert_eq!(
            half.iter().filter(|d| **d == RecordAndSample).count(),
            8 * 5
        );
        assert_eq!(half.iter().filter(|d| **d == Drop).count(), 8 * 5);
        assert_ne!(decisions(&on()), decisions(&pb(on())));
        assert_ne!(decisions(&off()), decisions(&pb(off())));
        assert_ne!(decisions(&ratio(1.0)), decisions(&pb(ratio(1.0))));
        assert_ne!(decisions(&pb(ratio(0.5))), decisions(&pb(on())));
        // The root decisions under a parent-based ratio sampler: 0.5 keeps
        // the first eight trace ids.
        let roots: Vec<SamplingDecision> =
            decisions(&pb(ratio(0.5))).into_iter().step_by(5).collect();
        let mut expected = vec![RecordAndSample; 8];
        expected.extend([Drop; 8]);
        assert_eq!(roots, expected);
    }

    #[test]
    fn otel_env_bad_values_name_the_variable() {
        // Unknown sampler names, as given.
        for name in [
            "always",
            "traceid_ratio",
            "parentbased",
            "on",
            "always-on",
            "jaeger",
        ] {
            let e = Sampler::from_otel_env(name, None).unwrap_err();
            assert!(
                matches!(&e, TraceError::UnknownSampler(v) if v == name),
                "{e:?}"
            );
            assert_eq!(
                e.to_string(),
                format!(
                    "unknown OTEL_TRACES_SAMPLER value {name:?} (expected always_on, always_off, \
                     traceidratio, parentbased_always_on, parentbased_always_off or \
                     parentbased_traceidratio)"
                )
            );
        }
        // Known to OpenTelemetry, not implemented here: a distinct error.
        for name in [
            "jaeger_remote",
            "parentbased_jaeger_remote",
            "xray",
            " XRay ",
        ] {
            let e = Sampler::from_otel_env(name, Some("0.5")).unwrap_err();
            assert!(
                matches!(&e, TraceError::UnsupportedSampler(v) if v == name),
                "{e:?}"
            );
            let text = e.to_string();
            assert!(text.starts_with("OTEL_TRACES_SAMPLER value "), "{text}");
            assert!(text.contains("does not support"), "{text}");
        }
        assert_eq!(
            Sampler::from_otel_env("xray", None)
                .unwrap_err()
                .to_string(),
            "OTEL_TRACES_SAMPLER value \"xray\" names a sampler that agent-trace does not \
             support (supported: always_on, always_off, traceidratio, parentbased_always_on, \
             parentbased_always_off and parentbased_traceidratio)"
        );
        // Arguments that are not a ratio within 0..=1.
        let bad_args = [
            ("abc", "not a number"),
            ("0.5.1", "not a number"),
            ("50%", "not a number"),
            ("NaN", "not a number"),
            ("nan", "not a number"),
            ("1.5", "out of range"),
            ("-0.1", "out of range"),
            ("inf", "out of range"),
            ("-inf", "out of range"),
            ("1e3", "out of range"),
        ];
        for sampler in ["traceidratio", "parentbased_traceidratio"] {
            for (arg, reason) in bad_args {
                let e = Sampler::from_otel_env(sampler, Some(arg)).unwrap_err();
                match &e {
                    TraceError::InvalidSamplerArg {
                        sampler: s,
                        value,
                        reason: r,
                    } => assert_eq!((*s, value.as_str(), *r), (sampler, arg, reason)),
                    other => panic!("{sampler} {arg:?}: {other:?}"),
                }
                assert_eq!(
                    e.to_string(),
                    format!(
                        "OTEL_TRACES_SAMPLER_ARG {arg:?} is {reason}: {sampler} expects a \
                         sampling ratio within 0.0..=1.0"
                    )
                );
            }
        }
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
