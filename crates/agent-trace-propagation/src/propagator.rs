//! `TextMapPropagator`: one trait for every header format, and a composite.
//!
//! A propagator owns one wire format (W3C `traceparent`, W3C `baggage`, B3)
//! and moves its part of a [`PropagationContext`] between a process and a
//! carrier. The context holds the two things that cross process boundaries
//! independently of each other, the remote [`SpanContext`] and the
//! [`Baggage`], so that one call extracts everything a request carried and a
//! [`CompositePropagator`] can combine formats that each fill one part.
//!
//! Extraction returns `Result` rather than silently returning nothing: a
//! receiver that only wants a parent calls `.unwrap_or_default()`, one that
//! wants to log or count malformed headers gets a typed reason. Both W3C and
//! B3 say a receiver must ignore what it cannot parse, and every propagator
//! here does; the error is information, not a failure of the request.

use std::fmt;
use std::sync::Arc;

use crate::{Baggage, Extractor, Injector, PropagationError, SpanContext};

/// What a request carries across a process boundary: the caller's span
/// context, if any, and its baggage.
///
/// ```
/// use agent_trace_propagation::{Baggage, PropagationContext, SpanContext, SpanId, TraceFlags, TraceId};
///
/// let span = SpanContext::new(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?,
///     SpanId::from_hex("00f067aa0ba902b7")?, TraceFlags::SAMPLED);
/// let mut baggage = Baggage::default();
/// baggage.insert("tenant", "acme")?;
/// let cx = PropagationContext::from(span).with_baggage(baggage);
/// assert!(!cx.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropagationContext {
    /// The caller's span, the parent of the span this process starts.
    pub span_context: Option<SpanContext>,
    /// User key/values that travel with the request.
    pub baggage: Baggage,
}

impl PropagationContext {
    /// This context with the given baggage.
    #[must_use]
    pub fn with_baggage(mut self, baggage: Baggage) -> Self {
        self.baggage = baggage;
        self
    }

    /// Whether there is neither a span context nor any baggage.
    pub fn is_empty(&self) -> bool {
        self.span_context.is_none() && self.baggage.is_empty()
    }
}

impl From<SpanContext> for PropagationContext {
    fn from(span_context: SpanContext) -> Self {
        Self {
            span_context: Some(span_context),
            baggage: Baggage::default(),
        }
    }
}

/// Moves one header format's part of a [`PropagationContext`] in and out of a
/// carrier.
///
/// The trait is object safe, so that propagators chosen at run time (from
/// configuration, say) can be held as `Arc<dyn TextMapPropagator>`.
///
/// # Contract
///
/// - [`inject`](Self::inject) writes only this format's headers, and writes
///   nothing when its part of the context is absent.
/// - [`extract`](Self::extract) fills only this format's part; the returned
///   span context, if any, has `is_remote` set. Absent headers give an empty
///   context, not an error. Malformed headers give an error, except where the
///   format says a malformed part is dropped while the rest is used (a bad
///   `tracestate` next to a good `traceparent`).
/// - Neither method panics, whatever the carrier holds.
///
/// ```
/// use std::collections::HashMap;
/// use agent_trace_propagation::{PropagationContext, TextMapPropagator, TraceContextPropagator};
///
/// let incoming = HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]);
/// let cx = TraceContextPropagator.extract(&incoming)?;
/// let parent = cx.span_context.expect("a valid traceparent");
/// assert!(parent.is_remote);
///
/// let mut outgoing = HashMap::new();
/// TraceContextPropagator.inject(&PropagationContext::from(parent), &mut outgoing);
/// assert_eq!(outgoing, incoming);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait TextMapPropagator: fmt::Debug + Send + Sync {
    /// Writes this format's part of `cx` into `injector`.
    fn inject(&self, cx: &PropagationContext, injector: &mut dyn Injector);

    /// Reads this format's part from `extractor`.
    ///
    /// # Errors
    /// A [`PropagationError`] saying why a header that is present could not
    /// be used. Callers that only want "a parent, if any" can use
    /// `.unwrap_or_default()`.
    fn extract(&self, extractor: &dyn Extractor) -> Result<PropagationContext, PropagationError>;

    /// The header names this propagator reads or writes, lowercase: what to
    /// clear from a reused carrier, or to list in CORS `Access-Control-Allow-Headers`.
    fn fields(&self) -> Vec<&'static str>;
}

/// Several propagators as one: reads with each in turn, writes with each.
///
/// [`extract`](TextMapPropagator::extract) asks every reading propagator in
/// the order they were added and keeps, for each part of the context, the
/// first one that supplied it: the first valid span context wins, and so does
/// the first non-empty baggage. A propagator's error is returned only when
/// nothing at all was extracted (then the first error is returned), because
/// a format that failed is ignored when another one succeeded.
///
/// [`inject`](TextMapPropagator::inject) writes with every writing
/// propagator. [`with`](Self::with) adds a propagator that reads and writes;
/// [`with_extract_only`](Self::with_extract_only) one that only reads, for
/// accepting a legacy format without spreading it.
///
/// ```
/// use agent_trace_propagation::{
///     B3Propagator, BaggagePropagator, CompositePropagator, TextMapPropagator, TraceContextPropagator,
/// };
///
/// // Accept W3C and B3, answer in W3C only.
/// let propagator = CompositePropagator::default()
///     .with(TraceContextPropagator)
///     .with(BaggagePropagator)
///     .with_extract_only(B3Propagator::default());
///
/// let incoming = [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
/// let cx = propagator.extract(&incoming)?;
/// let mut outgoing: Vec<(String, String)> = Vec::new();
/// propagator.inject(&cx, &mut outgoing);
/// assert_eq!(outgoing, vec![(
///     "traceparent".to_owned(),
///     "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01".to_owned(),
/// )]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CompositePropagator {
    extractors: Vec<Arc<dyn TextMapPropagator>>,
    injectors: Vec<Arc<dyn TextMapPropagator>>,
}

impl CompositePropagator {
    /// A composite that reads and writes with each of `propagators`, in order.
    pub fn new<I>(propagators: I) -> Self
    where
        I: IntoIterator<Item = Arc<dyn TextMapPropagator>>,
    {
        let extractors: Vec<_> = propagators.into_iter().collect();
        Self {
            injectors: extractors.clone(),
            extractors,
        }
    }

    /// This composite, also reading and writing with `propagator` (after the
    /// ones already added).
    #[must_use]
    pub fn with(mut self, propagator: impl TextMapPropagator + 'static) -> Self {
        let p: Arc<dyn TextMapPropagator> = Arc::new(propagator);
        self.extractors.push(Arc::clone(&p));
        self.injectors.push(p);
        self
    }

    /// This composite, also reading (never writing) with `propagator`.
    #[must_use]
    pub fn with_extract_only(mut self, propagator: impl TextMapPropagator + 'static) -> Self {
        self.extractors.push(Arc::new(propagator));
        self
    }
}

impl TextMapPropagator for CompositePropagator {
    fn inject(&self, cx: &PropagationContext, injector: &mut dyn Injector) {
        for p in &self.injectors {
            p.inject(cx, injector);
        }
    }

    fn extract(&self, extractor: &dyn Extractor) -> Result<PropagationContext, PropagationError> {
        let mut out = PropagationContext::default();
        let mut first_error = None;
        for p in &self.extractors {
            match p.extract(extractor) {
                Ok(cx) => {
                    if out.span_context.is_none() {
                        out.span_context = cx.span_context;
                    }
                    if out.baggage.is_empty() {
                        out.baggage = cx.baggage;
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    fn fields(&self) -> Vec<&'static str> {
        let mut fields: Vec<&'static str> = Vec::new();
        for p in self.extractors.iter().chain(&self.injectors) {
            for f in p.fields() {
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
        }
        fields
    }
}
