//! The one error type of this crate.

/// Why a trace identifier, flag byte, trace state, baggage or propagation
/// header could not be parsed or built.
///
/// Every parser in this crate returns this type; none of them panics, whatever
/// the input. Messages name the field and, where it helps, the position or
/// an excerpt of the offending text, cut so that a hostile header cannot make
/// an error message large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropagationError {
    /// The text had the wrong number of characters.
    #[error("{what} must be {expected} characters long, found {found}")]
    InvalidLength {
        /// What was being parsed (`"trace id"`, `"span id"`, `"trace flags"`).
        what: &'static str,
        /// The length the format requires.
        expected: usize,
        /// The length that was found.
        found: usize,
    },
    /// A character that is not lowercase hexadecimal (`0-9`, `a-f`).
    #[error("{what} has a character that is not lowercase hex at position {position}")]
    InvalidHex {
        /// What was being parsed.
        what: &'static str,
        /// Zero-based byte position of the first offending character.
        position: usize,
    },
    /// An identifier made only of zero bytes, which W3C Trace Context forbids.
    #[error("{what} is all zeros, which is not a valid identifier")]
    AllZero {
        /// What was being parsed.
        what: &'static str,
    },
    /// A `tracestate` key outside the W3C list-member key grammar.
    #[error("invalid tracestate key {key:?}")]
    InvalidTraceStateKey {
        /// The rejected key (cut to 64 characters).
        key: String,
    },
    /// A `tracestate` value outside the W3C list-member value grammar.
    #[error("invalid tracestate value for key {key:?}")]
    InvalidTraceStateValue {
        /// The key whose value was rejected (cut to 64 characters).
        key: String,
    },
    /// A `tracestate` list member without the `key=value` shape.
    #[error("tracestate list member without '=': {member:?}")]
    InvalidTraceStateMember {
        /// The rejected member (cut to 64 characters).
        member: String,
    },
    /// The same key appeared twice in one `tracestate`.
    #[error("duplicate tracestate key {key:?}")]
    DuplicateTraceStateKey {
        /// The repeated key.
        key: String,
    },
    /// More list members than the 32 that W3C Trace Context allows.
    #[error("tracestate has more than {max} list members")]
    TooManyTraceStateMembers {
        /// The limit (32).
        max: usize,
    },
    /// Input longer than a parser accepts; nothing past the limit was read.
    #[error("{what} is {found} bytes long, more than the {max} accepted")]
    TooLong {
        /// What was being parsed (`"traceparent"`, `"tracestate"`, `"baggage"`, `"b3"`).
        what: &'static str,
        /// The most bytes accepted.
        max: usize,
        /// The length that was found.
        found: usize,
    },
    /// Input shorter than the shortest valid form.
    #[error("{what} must be at least {min} characters long, found {found}")]
    TooShort {
        /// What was being parsed.
        what: &'static str,
        /// The fewest characters the format allows.
        min: usize,
        /// The length that was found.
        found: usize,
    },
    /// A field separator (`-`) missing where the format requires one.
    #[error("{what} needs '-' at position {position}")]
    MissingSeparator {
        /// What was being parsed.
        what: &'static str,
        /// Zero-based byte position where the `-` should be.
        position: usize,
    },
    /// A `traceparent` with version `ff`, which W3C Trace Context forbids.
    #[error("traceparent version ff is forbidden")]
    ForbiddenVersion,
    /// A header that must appear at most once appeared several times.
    #[error("more than one {name} header")]
    DuplicateHeader {
        /// The header name.
        name: &'static str,
    },
    /// A header that the operation requires is absent.
    #[error("no {name} header")]
    MissingHeader {
        /// The header name.
        name: &'static str,
    },
    /// A `baggage` key that is not an RFC 7230 token.
    #[error("invalid baggage key {key:?}")]
    InvalidBaggageKey {
        /// The rejected key (cut to 64 characters).
        key: String,
    },
    /// A `baggage` value with a character outside `baggage-octet` or a `%`
    /// not followed by two hex digits.
    #[error("invalid baggage value for key {key:?}")]
    InvalidBaggageValue {
        /// The key whose value (or property value) was rejected (cut to 64 characters).
        key: String,
    },
    /// A `baggage` list member without the `key=value` shape.
    #[error("baggage list member without '=': {member:?}")]
    InvalidBaggageMember {
        /// The rejected member (cut to 64 characters).
        member: String,
    },
    /// More distinct `baggage` keys than the 64 this crate carries.
    #[error("baggage has more than {max} list members")]
    TooManyBaggageMembers {
        /// The limit (64).
        max: usize,
    },
    /// A `b3` header that is neither `{trace}-{span}[-{sampling}[-{parent}]]`
    /// nor a lone sampling state.
    #[error("b3 header is not trace-span[-sampling[-parent]]: {header:?}")]
    InvalidB3 {
        /// The rejected header value (cut to 64 characters).
        header: String,
    },
    /// A B3 trace id that is neither 16 nor 32 characters long.
    #[error("b3 trace id must be 16 or 32 characters long, found {found}")]
    InvalidB3TraceIdLength {
        /// The length that was found.
        found: usize,
    },
    /// A B3 sampling state or debug flag other than the ones B3 defines.
    #[error("invalid b3 {what} {value:?}")]
    InvalidB3Sampling {
        /// Which field (`"sampling state"`, `"X-B3-Sampled"`, `"X-B3-Flags"`).
        what: &'static str,
        /// The rejected value (cut to 64 characters).
        value: String,
    },
}

/// Cuts untrusted text for inclusion in an error, on a character boundary.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
