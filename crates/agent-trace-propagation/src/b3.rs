//! Zipkin B3: the single `b3` header and the `X-B3-*` headers.
//!
//! B3 says more than a [`SpanContext`] can hold: a *debug* decision, a
//! *deferred* one (no decision at all), the parent span id, and a decision
//! without any ids (`b3: 0`). [`B3`] keeps all of it, so that code which
//! speaks B3 natively loses nothing; [`B3Propagator`] maps it onto the
//! shared [`PropagationContext`] for everything else, where *debug* becomes
//! *sampled*, *deferred* becomes not sampled, and an id-less decision carries
//! no context.

use std::fmt;
use std::str::FromStr;

use crate::error::excerpt;
use crate::id::parse_hex_bytes;
use crate::{
    Extractor, Injector, PropagationContext, PropagationError, SpanContext, SpanId,
    TextMapPropagator, TraceFlags, TraceId,
};

const B3_SINGLE: &str = "b3";
const X_B3_TRACE_ID: &str = "x-b3-traceid";
const X_B3_SPAN_ID: &str = "x-b3-spanid";
const X_B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
const X_B3_SAMPLED: &str = "x-b3-sampled";
const X_B3_FLAGS: &str = "x-b3-flags";

/// Longest valid `b3` value: 32 + 1 + 16 + 1 + 1 + 1 + 16 characters.
const MAX_B3_LEN: usize = 68;

/// A B3 sampling decision. *Defer*, the absence of a decision, is `None`
/// wherever an `Option<B3Sampling>` appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum B3Sampling {
    /// Do not record (`0`).
    Deny,
    /// Record (`1`).
    Accept,
    /// Record and mark as debug (`d`, or `X-B3-Flags: 1`); implies accept.
    Debug,
}

impl B3Sampling {
    /// Whether the trace is to be recorded (accept or debug).
    pub const fn is_sampled(self) -> bool {
        matches!(self, Self::Accept | Self::Debug)
    }

    fn single_char(self) -> &'static str {
        match self {
            Self::Deny => "0",
            Self::Accept => "1",
            Self::Debug => "d",
        }
    }

    fn parse_single(s: &str) -> Option<Self> {
        match s {
            "0" => Some(Self::Deny),
            "1" => Some(Self::Accept),
            "d" => Some(Self::Debug),
            _ => None,
        }
    }
}

/// Everything a set of B3 headers says.
///
/// `FromStr`/`Display` are the single-header form; [`from_multi`](Self::from_multi)
/// and [`inject_multi`](Self::inject_multi) the multi-header one. A 64-bit
/// (16-character) trace id is read as a 128-bit id with zeros on the left,
/// and every id is written in full, 32 characters for a trace id. The
/// single-header form cannot express a parent span id with a deferred
/// decision, so `Display` leaves such a parent out.
///
/// ```
/// use agent_trace_propagation::{B3, B3Sampling};
///
/// let b3: B3 = "a3ce929d0e0e4736-00f067aa0ba902b7-d".parse()?;
/// let B3::Context { trace_id, sampling, parent_span_id, .. } = b3 else { unreachable!() };
/// assert_eq!(trace_id.to_string(), "0000000000000000a3ce929d0e0e4736");
/// assert_eq!(sampling, Some(B3Sampling::Debug));
/// assert_eq!(parent_span_id, None);
///
/// assert_eq!("0".parse::<B3>()?, B3::SamplingOnly(B3Sampling::Deny));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum B3 {
    /// Trace identifiers, with a sampling decision unless deferred.
    Context {
        /// The trace.
        trace_id: TraceId,
        /// The span (the caller's span, shared with the server side in B3).
        span_id: SpanId,
        /// The decision, or `None` to defer it to the receiver.
        sampling: Option<B3Sampling>,
        /// The span's parent, when the caller sent one.
        parent_span_id: Option<SpanId>,
    },
    /// A decision without identifiers, such as `b3: 0`.
    SamplingOnly(B3Sampling),
}

impl B3 {
    /// The shared view of this B3 context: a remote span context that is
    /// sampled for accept and debug, or `None` for [`B3::SamplingOnly`].
    pub fn to_span_context(&self) -> Option<SpanContext> {
        match *self {
            Self::Context {
                trace_id,
                span_id,
                sampling,
                ..
            } => {
                let flags =
                    TraceFlags::NONE.with_sampled(sampling.is_some_and(B3Sampling::is_sampled));
                Some(SpanContext::new(trace_id, span_id, flags).into_remote())
            }
            Self::SamplingOnly(_) => None,
        }
    }

    /// Reads the `X-B3-*` headers; `Ok(None)` when none of them is present.
    ///
    /// The first value of each header is used. `X-B3-Flags: 1` means debug
    /// and overrides `X-B3-Sampled`. `true` and `false` are accepted for
    /// `X-B3-Sampled` as the B3 specification allows a lenient reader to.
    ///
    /// # Errors
    /// [`PropagationError::MissingHeader`] when only one of `X-B3-TraceId` and
    /// `X-B3-SpanId` is present (or `X-B3-ParentSpanId` without them), an
    /// invalid id, or [`PropagationError::InvalidB3Sampling`].
    ///
    /// ```
    /// use agent_trace_propagation::{B3, B3Sampling};
    ///
    /// let headers = [
    ///     ("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"),
    ///     ("X-B3-SpanId", "e457b5a2e4d86bd1"),
    ///     ("X-B3-ParentSpanId", "05e3ac9a4f6e3b90"),
    ///     ("X-B3-Sampled", "1"),
    /// ];
    /// let b3 = B3::from_multi(&headers)?.unwrap();
    /// assert_eq!(b3.to_string(), "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_multi<E: Extractor + ?Sized>(
        headers: &E,
    ) -> Result<Option<Self>, PropagationError> {
        let get = |name| headers.get(name).map(trim_ows);
        let sampling = match (get(X_B3_FLAGS), get(X_B3_SAMPLED)) {
            (Some("1"), _) => Some(B3Sampling::Debug),
            (Some("0") | None, sampled) => match sampled {
                None => None,
                Some("1" | "true") => Some(B3Sampling::Accept),
                Some("0" | "false") => Some(B3Sampling::Deny),
                Some(other) => {
                    return Err(PropagationError::InvalidB3Sampling {
                        what: "X-B3-Sampled",
                        value: excerpt(other),
                    });
                }
            },
            (Some(other), _) => {
                return Err(PropagationError::InvalidB3Sampling {
                    what: "X-B3-Flags",
                    value: excerpt(other),
                });
            }
        };
        let parent = get(X_B3_PARENT_SPAN_ID);
        match (get(X_B3_TRACE_ID), get(X_B3_SPAN_ID)) {
            (Some(trace_id), Some(span_id)) => Ok(Some(Self::Context {
                trace_id: parse_trace_id(trace_id)?,
                span_id: parse_span_id(span_id, "b3 span id")?,
                sampling,
                parent_span_id: parent
                    .map(|p| parse_span_id(p, "b3 parent span id"))
                    .transpose()?,
            })),
            (Some(_), None) => Err(PropagationError::MissingHeader {
                name: "X-B3-SpanId",
            }),
            (None, Some(_)) => Err(PropagationError::MissingHeader {
                name: "X-B3-TraceId",
            }),
            (None, None) if parent.is_some() => Err(PropagationError::MissingHeader {
                name: "X-B3-TraceId",
            }),
            (None, None) => Ok(sampling.map(Self::SamplingOnly)),
        }
    }

    /// Writes the `X-B3-*` headers (lowercase names).
    ///
    /// Debug is written as `x-b3-flags: 1` alone, without `x-b3-sampled`, as
    /// the B3 specification asks; a deferred decision writes neither.
    pub fn inject_multi(&self, injector: &mut dyn Injector) {
        let sampling = match *self {
            Self::Context {
                trace_id,
                span_id,
                sampling,
                parent_span_id,
            } => {
                injector.set(X_B3_TRACE_ID, trace_id.to_string());
                injector.set(X_B3_SPAN_ID, span_id.to_string());
                if let Some(parent) = parent_span_id {
                    injector.set(X_B3_PARENT_SPAN_ID, parent.to_string());
                }
                sampling
            }
            Self::SamplingOnly(sampling) => Some(sampling),
        };
        match sampling {
            Some(B3Sampling::Debug) => injector.set(X_B3_FLAGS, "1".into()),
            Some(B3Sampling::Accept) => injector.set(X_B3_SAMPLED, "1".into()),
            Some(B3Sampling::Deny) => injector.set(X_B3_SAMPLED, "0".into()),
            None => {}
        }
    }
}

impl From<&SpanContext> for B3 {
    /// Accept or deny from the *sampled* flag, no parent span id.
    fn from(cx: &SpanContext) -> Self {
        Self::Context {
            trace_id: cx.trace_id,
            span_id: cx.span_id,
            sampling: Some(if cx.is_sampled() {
                B3Sampling::Accept
            } else {
                B3Sampling::Deny
            }),
            parent_span_id: None,
        }
    }
}

impl fmt::Display for B3 {
    /// The single-header value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Context {
                trace_id,
                span_id,
                sampling,
                parent_span_id,
            } => {
                write!(f, "{trace_id}-{span_id}")?;
                // A parent needs a sampling field before it; B3 has no way to
                // write a parent with a deferred decision, so it is left out.
                if let Some(sampling) = sampling {
                    write!(f, "-{}", sampling.single_char())?;
                    if let Some(parent) = parent_span_id {
                        write!(f, "-{parent}")?;
                    }
                }
                Ok(())
            }
            Self::SamplingOnly(sampling) => f.write_str(sampling.single_char()),
        }
    }
}

impl FromStr for B3 {
    type Err = PropagationError;

    /// Parses a single `b3` header value: `{trace}-{span}[-{sampling}[-{parent}]]`
    /// or a lone sampling state (`0`, `1` or `d`). Surrounding spaces and
    /// tabs are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = trim_ows(s);
        if s.len() > MAX_B3_LEN {
            return Err(PropagationError::TooLong {
                what: B3_SINGLE,
                max: MAX_B3_LEN,
                found: s.len(),
            });
        }
        if let Some(sampling) = B3Sampling::parse_single(s) {
            return Ok(Self::SamplingOnly(sampling));
        }
        let mut fields = s.split('-');
        let (Some(trace_id), Some(span_id)) = (fields.next(), fields.next()) else {
            return Err(PropagationError::InvalidB3 { header: excerpt(s) });
        };
        let sampling = fields.next();
        let parent = fields.next();
        if fields.next().is_some() {
            return Err(PropagationError::InvalidB3 { header: excerpt(s) });
        }
        let trace_id = parse_trace_id(trace_id)?;
        let span_id = parse_span_id(span_id, "b3 span id")?;
        let sampling = sampling
            .map(|v| {
                B3Sampling::parse_single(v).ok_or_else(|| PropagationError::InvalidB3Sampling {
                    what: "sampling state",
                    value: excerpt(v),
                })
            })
            .transpose()?;
        let parent_span_id = parent
            .map(|p| parse_span_id(p, "b3 parent span id"))
            .transpose()?;
        Ok(Self::Context {
            trace_id,
            span_id,
            sampling,
            parent_span_id,
        })
    }
}

/// Which B3 form [`B3Propagator`] writes. Reading always accepts both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum B3Encoding {
    /// The `X-B3-*` headers: the form every Zipkin-era tracer reads, and
    /// OpenTelemetry's default.
    #[default]
    MultiHeader,
    /// The one `b3` header.
    SingleHeader,
    /// Both, for a fleet in transition.
    SingleAndMultiHeader,
}

/// The Zipkin B3 propagator.
///
/// Reading prefers the single `b3` header, as the B3 specification asks, and
/// falls back to the `X-B3-*` headers when `b3` is absent, invalid or carries
/// only a decision. Writing uses the configured [`B3Encoding`] and derives the
/// decision from the *sampled* flag (accept or deny; B3 debug and defer have
/// no `SpanContext` equivalent and are only kept by [`B3`]).
///
/// ```
/// use agent_trace_propagation::{
///     B3Encoding, B3Propagator, PropagationContext, SpanContext, TextMapPropagator,
/// };
///
/// let incoming = [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")];
/// let parent: SpanContext = B3Propagator::default().extract(&incoming)?.span_context.unwrap();
/// assert!(parent.is_sampled());
///
/// let mut outgoing: Vec<(String, String)> = Vec::new();
/// B3Propagator::new(B3Encoding::SingleHeader).inject(&PropagationContext::from(parent), &mut outgoing);
/// assert_eq!(outgoing[0].1, "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// A propagator writing `encoding`.
    pub const fn new(encoding: B3Encoding) -> Self {
        Self { encoding }
    }

    /// The form this propagator writes.
    pub const fn encoding(&self) -> B3Encoding {
        self.encoding
    }

    /// Reads B3 without losing what [`SpanContext`] cannot hold (debug,
    /// defer, parent span id, an id-less decision). `Ok(None)` when there is
    /// no B3 header.
    ///
    /// # Errors
    /// Why the headers present are invalid; when both forms are present and
    /// both invalid, the single header's error.
    ///
    /// ```
    /// use agent_trace_propagation::{B3, B3Propagator, B3Sampling};
    ///
    /// let b3 = B3Propagator::default().extract_b3(&[("b3", "0")])?;
    /// assert_eq!(b3, Some(B3::SamplingOnly(B3Sampling::Deny)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn extract_b3<E: Extractor + ?Sized>(
        &self,
        extractor: &E,
    ) -> Result<Option<B3>, PropagationError> {
        let single = extractor.get(B3_SINGLE).map(str::parse::<B3>);
        if let Some(Ok(b3 @ B3::Context { .. })) = single {
            return Ok(Some(b3));
        }
        let multi = B3::from_multi(extractor);
        match (single, multi) {
            (_, Ok(Some(b3 @ B3::Context { .. }))) => Ok(Some(b3)),
            (Some(Ok(only)), _) => Ok(Some(only)),
            (Some(Err(_)), Ok(Some(only))) => Ok(Some(only)),
            (Some(Err(e)), _) => Err(e),
            (None, multi) => multi,
        }
    }
}

impl TextMapPropagator for B3Propagator {
    fn inject(&self, cx: &PropagationContext, injector: &mut dyn Injector) {
        let Some(span) = &cx.span_context else {
            return;
        };
        let b3 = B3::from(span);
        if matches!(
            self.encoding,
            B3Encoding::SingleHeader | B3Encoding::SingleAndMultiHeader
        ) {
            injector.set(B3_SINGLE, b3.to_string());
        }
        if matches!(
            self.encoding,
            B3Encoding::MultiHeader | B3Encoding::SingleAndMultiHeader
        ) {
            b3.inject_multi(injector);
        }
    }

    fn extract(&self, extractor: &dyn Extractor) -> Result<PropagationContext, PropagationError> {
        Ok(PropagationContext {
            span_context: self
                .extract_b3(extractor)?
                .and_then(|b3| b3.to_span_context()),
            ..PropagationContext::default()
        })
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![
            B3_SINGLE,
            X_B3_TRACE_ID,
            X_B3_SPAN_ID,
            X_B3_PARENT_SPAN_ID,
            X_B3_SAMPLED,
            X_B3_FLAGS,
        ]
    }
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// 32 or 16 lowercase hex characters; a 64-bit id is widened with zeros on
/// the left.
fn parse_trace_id(s: &str) -> Result<TraceId, PropagationError> {
    const WHAT: &str = "b3 trace id";
    let b = s.as_bytes();
    let bytes: [u8; 16] = match b.len() {
        32 => parse_hex_bytes(b, WHAT)?,
        16 => {
            let low: [u8; 8] = parse_hex_bytes(b, WHAT)?;
            let mut wide = [0u8; 16];
            wide[8..].copy_from_slice(&low);
            wide
        }
        found => return Err(PropagationError::InvalidB3TraceIdLength { found }),
    };
    TraceId::from_bytes(bytes).ok_or(PropagationError::AllZero { what: WHAT })
}

fn parse_span_id(s: &str, what: &'static str) -> Result<SpanId, PropagationError> {
    SpanId::from_bytes(parse_hex_bytes(s.as_bytes(), what)?)
        .ok_or(PropagationError::AllZero { what })
}
