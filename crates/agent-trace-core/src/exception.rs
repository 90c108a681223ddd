//! What [`Span::record_exception`](crate::Span::record_exception) records:
//! any error, by reference, whether its type is known or erased.
//!
//! Every `Error` type is one implementation, over all of them; `dyn Error`
//! forms are others, which coherence allows beside it because they are
//! unsized. `Box<dyn Error>` and `anyhow::Error` do not implement `Error`,
//! but Rust's coherence rules assume that they might one day, so an
//! implementation for them beside the one for every `Error` type is
//! refused as overlapping. The trait's `FORM` parameter keeps the two
//! groups apart (they are then implementations of different traits), and
//! type inference picks the one that applies: callers never write it.

use std::error::Error;

/// An error that [`Span::record_exception`](crate::Span::record_exception)
/// can record: its text, its sources and its type name.
///
/// - `FORM = 0`: every [`Error`] type (`exception.type` is its name, such
///   as `std::io::error::Error`; `Arc<dyn Error + Send + Sync>` is one
///   too), and `dyn Error` with or without `Send` and `Sync`.
/// - `FORM = 1`: what holds an erased error without implementing [`Error`]
///   itself: `Box<dyn Error>`, `Box<dyn Error + Send>`,
///   `Box<dyn Error + Send + Sync>` (what `?` makes in a function returning
///   one), and with the feature `anyhow`, `anyhow::Error`.
///
/// For an erased error Rust cannot name the concrete type at run time, so
/// `exception.type` is the static one, `dyn core::error::Error` (or
/// `anyhow::Error`); the OpenTelemetry conventions prefer the dynamic type
/// "in languages that support it", and the static type is what is known
/// here. Record the concrete error (`err.downcast_ref::<T>()`) where the
/// type matters.
///
/// ```
/// use std::error::Error;
/// use agent_trace_core::{AgentStepTracer, Value};
///
/// let tracer = AgentStepTracer::new();
/// let mut span = tracer.start_trace("tool_execution");
/// let io = std::io::Error::other("connection reset");
/// span.record_exception(&io);
/// let boxed: Box<dyn Error> = "timed out".into();
/// span.record_exception(&boxed);
/// let trace_id = span.trace_id();
/// span.end();
/// let trace = tracer.trace(trace_id).expect("kept");
/// let types: Vec<_> = trace.spans()[0]
///     .events
///     .iter()
///     .map(|e| e.attribute("exception.type").and_then(Value::as_str).unwrap().to_owned())
///     .collect();
/// assert_eq!(types, ["std::io::error::Error", "dyn core::error::Error"]);
/// ```
///
/// A value that is not an error is refused:
///
/// ```compile_fail
/// # let tracer = agent_trace_core::AgentStepTracer::new();
/// # let mut span = tracer.start_span("tool_execution");
/// // A message is not an error: set it as a status description instead,
/// // `span.set_status(("error", "search failed"))`.
/// span.record_exception(&"search failed");
/// ```
pub trait Exception<const FORM: u8> {
    /// The type name recorded as `exception.type`.
    fn exception_type(&self) -> &'static str;

    /// The error, for its text and its sources.
    fn as_error(&self) -> &(dyn Error + '_);
}

/// The static type of an erased error.
const ERASED: &str = "dyn core::error::Error";

impl<E: Error> Exception<0> for E {
    #[inline]
    fn exception_type(&self) -> &'static str {
        std::any::type_name::<E>()
    }

    #[inline]
    fn as_error(&self) -> &(dyn Error + '_) {
        self
    }
}

/// The holders of an erased error, which dereference to it.
macro_rules! erased {
    ($form:literal: $($ty:ty),* $(,)?) => {$(
        impl<'a> Exception<$form> for $ty {
            #[inline]
            fn exception_type(&self) -> &'static str {
                ERASED
            }

            #[inline]
            fn as_error(&self) -> &(dyn Error + '_) {
                &**self
            }
        }
    )*};
}

// The unsized forms, which the implementation for every (sized) `Error`
// type does not cover.

/// The unsized `dyn Error` forms: their concrete type is not known.
macro_rules! unsized_erased {
    ($($ty:ty),* $(,)?) => {$(
        impl<'a> Exception<0> for $ty {
            #[inline]
            fn exception_type(&self) -> &'static str {
                ERASED
            }

            #[inline]
            fn as_error(&self) -> &(dyn Error + '_) {
                self
            }
        }
    )*};
}

unsized_erased!(
    dyn Error + 'a,
    dyn Error + Send + 'a,
    dyn Error + Send + Sync + 'a,
);

erased! {
    1: Box<dyn Error + 'a>,
    Box<dyn Error + Send + 'a>,
    Box<dyn Error + Send + Sync + 'a>,
}

/// `anyhow::Error` holds an erased error and does not implement `Error`
/// itself (so that it can convert from every error).
#[cfg(feature = "anyhow")]
impl Exception<1> for anyhow::Error {
    #[inline]
    fn exception_type(&self) -> &'static str {
        "anyhow::Error"
    }

    #[inline]
    fn as_error(&self) -> &(dyn Error + '_) {
        &**self
    }
}
