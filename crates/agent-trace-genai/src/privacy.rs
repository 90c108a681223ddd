//! Privacy by type: prompts, completions, tool arguments and results, memory
//! queries and records are [`Sensitive`] values that never print, reach a
//! span only when the user opted in, and then only through a chain of
//! [`Scrubber`]s and a truncation that keeps JSON valid.
//!
//! # Why a type
//!
//! An agent's content ends up in places nobody meant: a `{:?}` in a log
//! line, an error message, a panic, a span attribute set "just while
//! debugging". The OpenTelemetry GenAI conventions say such content is
//! "likely to contain sensitive information including user/PII data" and
//! SHOULD NOT be captured by default. Wrapping it in [`Sensitive`] makes
//! the safe path the easy one: its `Debug` and `Display` print a marker,
//! it has no `Serialize`, and the only ways to the text are the explicit
//! [`Sensitive::expose`] and [`Sensitive::into_inner`], which a review can
//! find. The [GenAI helpers](crate) take content as
//! [`SensitiveText`] (a plain `&str` or `String` converts into it), and
//! record it only through a [`ContentCapture`](crate::ContentCapture)
//! that is on.
//!
//! # Scrubbing
//!
//! Captured text goes through a [`ScrubberChain`] first. The built-in
//! scrubbers mask e-mail addresses, API keys and secrets, bearer tokens and
//! card numbers (Luhn-checked); user closures run in the same chain. JSON
//! content (tool arguments and results, memory records) is scrubbed string
//! by string ([`scrub_json`]), so that it stays valid JSON whatever a
//! scrubber writes.
//!
//! # Truncation
//!
//! A span attribute that is too long is cut by the span limits
//! ([`SpanLimits::max_attribute_value_length`](agent_trace_core::SpanLimits))
//! on a character boundary, which turns a JSON document into invalid JSON that
//! some backends reject, with the whole batch. Content is therefore cut here
//! first, to the capture's limit: text on a UTF-8 boundary ([`truncate_utf8`],
//! the same cut the core makes), JSON by [`truncate_json`], which drops
//! trailing elements and shortens the string that crosses the limit but always
//! returns a valid document (or a `{"truncated":true,...}` marker).
//!
//! ```
//! use agent_trace_genai::privacy::{Sensitive, ScrubberChain};
//!
//! let prompt = Sensitive::new("my card is 4111 1111 1111 1111".to_owned());
//! assert_eq!(format!("{prompt:?}"), "Sensitive(<redacted>)");
//! assert_eq!(format!("{prompt}"), "[REDACTED]");
//! let scrubbed = ScrubberChain::default().scrub(prompt.expose());
//! assert_eq!(scrubbed, "my card is [REDACTED_CARD]");
//! ```

use std::borrow::Cow;
use std::fmt;

mod json;
mod scrub;

pub(crate) use json::push_string as push_json_string;
pub use json::{is_json, scrub_json, truncate_json};
pub use scrub::{
    API_KEY_MARKER, BEARER_MARKER, CARD_MARKER, EMAIL_MARKER, Scrubber, ScrubberChain,
};

/// A value that must not be printed or logged: `Debug` shows
/// `Sensitive(<redacted>)` and `Display` shows `[REDACTED]`, whatever `T`
/// holds (not even its length).
///
/// It has no `Serialize` and no `Deref`: reading the value takes an explicit
/// [`expose`](Self::expose) or [`into_inner`](Self::into_inner). Equality and
/// hashing look at the value (they reveal nothing when printed).
///
/// ```
/// use agent_trace_genai::privacy::Sensitive;
///
/// #[derive(Debug)]
/// struct Request {
///     user: &'static str,
///     prompt: Sensitive<String>,
/// }
/// let request = Request { user: "u-42", prompt: Sensitive::new("my e-mail is ana@example.com".into()) };
/// assert_eq!(format!("{request:?}"), r#"Request { user: "u-42", prompt: Sensitive(<redacted>) }"#);
/// assert_eq!(request.prompt.expose(), "my e-mail is ana@example.com");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Sensitive<T>(T);

/// Sensitive text, borrowed or owned: what the [GenAI helpers](crate)
/// take as content. `&str`, `String` and `Sensitive<&str>` /
/// `Sensitive<String>` convert into it.
pub type SensitiveText<'a> = Sensitive<Cow<'a, str>>;

impl<T> Sensitive<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for the code that has to use it (to send the prompt, to
    /// scrub it). Every read of sensitive content goes through here or
    /// [`into_inner`](Self::into_inner), so a review can find them all.
    pub const fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// Transforms the value, keeping it wrapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sensitive<U> {
        Sensitive(f(self.0))
    }

    /// A wrapped reference to the value.
    pub const fn by_ref(&self) -> Sensitive<&T> {
        Sensitive(&self.0)
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T> From<T> for Sensitive<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<'a> From<&'a str> for SensitiveText<'a> {
    fn from(text: &'a str) -> Self {
        Sensitive(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a String> for SensitiveText<'a> {
    fn from(text: &'a String) -> Self {
        Sensitive(Cow::Borrowed(text.as_str()))
    }
}

impl From<String> for SensitiveText<'_> {
    fn from(text: String) -> Self {
        Sensitive(Cow::Owned(text))
    }
}

impl<'a> From<Sensitive<&'a str>> for SensitiveText<'a> {
    fn from(text: Sensitive<&'a str>) -> Self {
        Sensitive(Cow::Borrowed(text.0))
    }
}

impl From<Sensitive<String>> for SensitiveText<'_> {
    fn from(text: Sensitive<String>) -> Self {
        Sensitive(Cow::Owned(text.0))
    }
}

impl<'a> From<&'a Sensitive<String>> for SensitiveText<'a> {
    fn from(text: &'a Sensitive<String>) -> Self {
        Sensitive(Cow::Borrowed(text.0.as_str()))
    }
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a
/// character boundary: the cut the span limits make
/// ([`SpanLimits::max_attribute_value_length`](agent_trace_core::SpanLimits)),
/// so that content cut here is not cut again differently.
///
/// ```
/// use agent_trace_genai::privacy::truncate_utf8;
///
/// assert_eq!(truncate_utf8("héllo", 2), "h"); // 'é' is two bytes
/// assert_eq!(truncate_utf8("héllo", 3), "hé");
/// assert_eq!(truncate_utf8("héllo", 99), "héllo");
/// ```
pub fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Scrubs and cuts content that is JSON when it parses as JSON, text
/// otherwise: JSON is scrubbed string by string and cut by
/// [`truncate_json`]; text is scrubbed whole and cut by [`truncate_utf8`].
/// What the [GenAI helpers](crate) do with tool arguments and
/// results.
///
/// ```
/// use agent_trace_genai::privacy::{ScrubberChain, prepare_content};
///
/// let chain = ScrubberChain::default();
/// assert_eq!(prepare_content(r#"{"to":"ana@example.com"}"#, &chain, 1024), r#"{"to":"[REDACTED_EMAIL]"}"#);
/// assert_eq!(prepare_content("mail ana@example.com", &chain, 8), "mail [RE");
/// ```
pub fn prepare_content(content: &str, scrubbers: &ScrubberChain, max_bytes: usize) -> String {
    match scrub_json(content, scrubbers) {
        Some(json) => truncate_json(&json, max_bytes).into_owned(),
        None => prepare_text(content, scrubbers, max_bytes),
    }
}

/// Scrubs text and cuts it on a UTF-8 boundary: what the
/// [GenAI helpers](crate) do with plain-text content (a memory
/// query, a retrieval query).
///
/// ```
/// use agent_trace_genai::privacy::{ScrubberChain, prepare_text};
///
/// assert_eq!(prepare_text("Bearer abcdefgh12345678", &ScrubberChain::default(), 100), "Bearer [REDACTED_TOKEN]");
/// ```
pub fn prepare_text(text: &str, scrubbers: &ScrubberChain, max_bytes: usize) -> String {
    let scrubbed = scrubbers.scrub(text);
    truncate_utf8(&scrubbed, max_bytes).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_never_prints_its_value() {
        let secret = Sensitive::new("sk-live-abcdef");
        for shown in [
            format!("{secret:?}"),
            format!("{secret:#?}"),
            format!("{secret}"),
            format!("{:?}", Some(secret.by_ref())),
        ] {
            assert!(!shown.contains("sk-live"), "{shown}");
        }
    }

    #[test]
    fn text_converts_into_sensitive_text() {
        let owned = String::from("b");
        let texts: [SensitiveText<'_>; 5] = [
            "a".into(),
            (&owned).into(),
            String::from("c").into(),
            Sensitive::new("d").into(),
            Sensitive::new(String::from("e")).into(),
        ];
        let got: Vec<&str> = texts.iter().map(|t| t.expose().as_ref()).collect();
        assert_eq!(got, ["a", "b", "c", "d", "e"]);
    }
}
