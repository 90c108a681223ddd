//! Our W3C Trace Context propagator as the API's
//! [`opentelemetry::propagation::TextMapPropagator`].

use agent_trace_propagation::{
    Extractor, Injector, PropagationContext, TextMapPropagator as _, TraceContextPropagator,
};
use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{self as otel};
use opentelemetry::trace::TraceContextExt;

use crate::convert;

/// agent-trace's W3C `traceparent`/`tracestate` codec
/// ([`TraceContextPropagator`]) for code written against the API, e.g.
/// `opentelemetry::global::set_text_map_propagator(W3cPropagator::default())`.
///
/// Extracting gives a context with a remote span context (a parent that
/// [`Tracer`](crate::Tracer) honours); injecting writes the context's span,
/// nothing when it has none.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::propagation::TextMapPropagator as _;
/// use opentelemetry::trace::TraceContextExt as _;
///
/// let propagator = agent_trace_otel::W3cPropagator::default();
/// let mut headers = HashMap::new();
/// headers.insert(
///     "traceparent".to_owned(),
///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
/// );
/// let cx = propagator.extract(&headers);
/// assert!(cx.span().span_context().is_remote());
/// let mut out = HashMap::new();
/// propagator.inject_context(&cx, &mut out);
/// assert_eq!(out["traceparent"], headers["traceparent"]);
/// ```
#[derive(Debug)]
pub struct W3cPropagator {
    fields: Vec<String>,
}

impl Default for W3cPropagator {
    fn default() -> Self {
        W3cPropagator {
            fields: TraceContextPropagator
                .fields()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The API's injector seen as ours.
struct InjectorOf<'a>(&'a mut dyn otel::Injector);

impl Injector for InjectorOf<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
}

/// The API's extractor seen as ours.
struct ExtractorOf<'a>(&'a dyn otel::Extractor);

impl Extractor for ExtractorOf<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn get_all(&self, key: &str) -> Vec<&str> {
        self.0.get_all(key).unwrap_or_default()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

impl otel::TextMapPropagator for W3cPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn otel::Injector) {
        let Some(span_context) = convert::from_otel_context(cx.span().span_context()) else {
            return;
        };
        TraceContextPropagator.inject(
            &PropagationContext::from(span_context),
            &mut InjectorOf(injector),
        );
    }

    /// `cx` with the extracted span context as its remote parent; `cx`
    /// unchanged when the headers hold no valid `traceparent`.
    fn extract_with_context(&self, cx: &Context, extractor: &dyn otel::Extractor) -> Context {
        match TraceContextPropagator.extract(&ExtractorOf(extractor)) {
            Ok(PropagationContext {
                span_context: Some(span_context),
                ..
            }) => {
                cx.with_remote_span_context(convert::to_otel_context(&span_context.into_remote()))
            }
            _ => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}
