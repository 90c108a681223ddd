//! The one error type of this crate.

/// Why a trace identifier, flag byte or trace-state could not be parsed or built.
///
/// Every parser in this crate returns this type; none of them panics, whatever
/// the input.
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
