//! Scrubbers: rewrite text to mask what must not leave the process.
//!
//! The built-in ones are hand-written scanners over the text's bytes rather
//! than regular expressions: each is one linear pass, allocates only when
//! it finds something, and the facade pulls in no regex engine for them.
//! Every pattern starts and ends on ASCII bytes, so cutting the text there
//! never splits a UTF-8 character.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What a masked e-mail address becomes.
pub const EMAIL_MARKER: &str = "[REDACTED_EMAIL]";
/// What a masked API key or secret value becomes.
pub const API_KEY_MARKER: &str = "[REDACTED_API_KEY]";
/// What the token of a masked `Bearer` credential becomes (the word
/// `Bearer` is kept).
pub const BEARER_MARKER: &str = "[REDACTED_TOKEN]";
/// What a masked card number becomes.
pub const CARD_MARKER: &str = "[REDACTED_CARD]";

/// A user scrubber's type.
type ScrubFn = dyn Fn(&str) -> String + Send + Sync;

/// One rewriting step of a [`ScrubberChain`]: a built-in scanner or a user
/// closure.
///
/// ```
/// use agent_trace_genai::privacy::Scrubber;
///
/// assert_eq!(Scrubber::emails().scrub("write to ana@example.com."), "write to [REDACTED_EMAIL].");
/// assert_eq!(Scrubber::card_numbers().scrub("card 4111 1111 1111 1111"), "card [REDACTED_CARD]");
/// let names = Scrubber::custom(|text| text.replace("Ana", "[name]"));
/// assert_eq!(names.scrub("Ana said hi"), "[name] said hi");
/// ```
#[derive(Clone)]
pub struct Scrubber(Kind);

#[derive(Clone)]
enum Kind {
    Emails,
    ApiKeys,
    BearerTokens,
    CardNumbers,
    Custom(Arc<ScrubFn>),
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            Kind::Emails => "emails",
            Kind::ApiKeys => "api_keys",
            Kind::BearerTokens => "bearer_tokens",
            Kind::CardNumbers => "card_numbers",
            Kind::Custom(_) => "custom",
        };
        write!(f, "Scrubber({name})")
    }
}

impl Scrubber {
    /// E-mail addresses (`local@domain.tld`, the local part of letters,
    /// digits and `._%+-`, a domain with a dot and an alphabetic top-level
    /// label) become `[REDACTED_EMAIL]`.
    pub const fn emails() -> Self {
        Self(Kind::Emails)
    }

    /// API keys and secrets become `[REDACTED_API_KEY]`: tokens that look
    /// like provider keys (`sk-...` with at least 16 more characters, as
    /// OpenAI and Anthropic keys; AWS access key ids `AKIA`/`ASIA` + 16;
    /// GitHub tokens `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`;
    /// Google API keys `AIza` + 35; Slack tokens `xoxb-`, `xoxp-`...), and
    /// the value of a `key=value` or `key: value` pair whose key is
    /// `api_key`, `api-key`, `apikey`, `x-api-key`, `access_token`,
    /// `auth_token`, `secret_key`, `client_secret` or `password` (any case,
    /// quoted or not, as in a query string, a header or JSON).
    pub const fn api_keys() -> Self {
        Self(Kind::ApiKeys)
    }

    /// `Bearer <token>` credentials (any case): the token becomes
    /// `[REDACTED_TOKEN]`.
    pub const fn bearer_tokens() -> Self {
        Self(Kind::BearerTokens)
    }

    /// Card numbers, 13 to 19 digits, optionally grouped by single spaces or
    /// dashes, that pass the Luhn check (so most other long numbers are left
    /// alone), become `[REDACTED_CARD]`.
    pub const fn card_numbers() -> Self {
        Self(Kind::CardNumbers)
    }

    /// A user closure: gets the text (already rewritten by the scrubbers
    /// before it in the chain) and returns what to keep.
    pub fn custom(scrub: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self(Kind::Custom(Arc::new(scrub)))
    }

    /// Rewrites `text`; borrowed when nothing was found.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.0 {
            Kind::Emails => emails(text),
            Kind::ApiKeys => api_keys(text),
            Kind::BearerTokens => bearer_tokens(text),
            Kind::CardNumbers => card_numbers(text),
            Kind::Custom(f) => {
                let out = f(text);
                if out == text {
                    Cow::Borrowed(text)
                } else {
                    Cow::Owned(out)
                }
            }
        }
    }
}

/// The scrubbers content goes through, in order, before it is recorded.
///
/// [`Default`] is the four built-ins (e-mail addresses, API keys, bearer
/// tokens, card numbers); [`ScrubberChain::empty`] has none. Cloning is
/// cheap (user closures are shared).
///
/// ```
/// use agent_trace_genai::privacy::{Scrubber, ScrubberChain};
///
/// let chain = ScrubberChain::default().with(Scrubber::custom(|t| t.replace("Project X", "[project]")));
/// assert_eq!(
///     chain.scrub("mail ana@example.com about Project X, key sk-proj-abcdefghijklmnop1234"),
///     "mail [REDACTED_EMAIL] about [project], key [REDACTED_API_KEY]"
/// );
/// assert_eq!(ScrubberChain::empty().scrub("ana@example.com"), "ana@example.com");
/// ```
#[derive(Clone, Debug)]
pub struct ScrubberChain(Vec<Scrubber>);

impl Default for ScrubberChain {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ScrubberChain {
    /// No scrubber: text is recorded as given.
    pub const fn empty() -> Self {
        Self(Vec::new())
    }

    /// The built-in scrubbers: e-mail addresses, API keys, bearer tokens,
    /// card numbers (the same as [`Default`]).
    pub fn builtin() -> Self {
        Self(vec![
            Scrubber::bearer_tokens(),
            Scrubber::api_keys(),
            Scrubber::emails(),
            Scrubber::card_numbers(),
        ])
    }

    /// Appends a scrubber; it sees the text the earlier ones rewrote.
    pub fn with(mut self, scrubber: Scrubber) -> Self {
        self.0.push(scrubber);
        self
    }

    /// Appends a user closure ([`Scrubber::custom`]).
    pub fn with_fn(self, scrub: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.with(Scrubber::custom(scrub))
    }

    /// The scrubbers, in order.
    pub fn scrubbers(&self) -> &[Scrubber] {
        &self.0
    }

    /// Runs `text` through every scrubber in order; borrowed when none
    /// changed it.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut current = Cow::Borrowed(text);
        for scrubber in &self.0 {
            let next = match scrubber.scrub(&current) {
                Cow::Owned(changed) => Some(changed),
                Cow::Borrowed(_) => None,
            };
            if let Some(changed) = next {
                current = Cow::Owned(changed);
            }
        }
        current
    }
}

/// Builds the rewritten text only once something is replaced.
struct Rewriter<'a> {
    text: &'a str,
    out: Option<String>,
    copied: usize,
}

impl<'a> Rewriter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            out: None,
            copied: 0,
        }
    }

    /// Replaces `start..end` (ASCII positions) with `with`.
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.text.len()));
        out.push_str(&self.text[self.copied..start]);
        out.push_str(with);
        self.copied = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            Some(mut out) => {
                out.push_str(&self.text[self.copied..]);
                Cow::Owned(out)
            }
            None => Cow::Borrowed(self.text),
        }
    }
}

fn is_local_part(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// A domain as e-mail addresses have them: labels of letters, digits and
/// inner dashes, at least two, the last alphabetic and two letters or more.
fn is_email_domain(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&c| c == b'.') {
        if label.is_empty() || label[0] == b'-' || label[label.len() - 1] == b'-' {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

fn emails(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut r = Rewriter::new(text);
    let mut i = 0;
    while let Some(offset) = b[i..].iter().position(|&c| c == b'@') {
        let at = i + offset;
        let mut start = at;
        while start > r.copied && is_local_part(b[start - 1]) {
            start -= 1;
        }
        while start < at && b[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < b.len() && is_domain(b[end]) {
            end += 1;
        }
        // A sentence's full stop or a dash after the address is not part of it.
        while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start < at && is_email_domain(&b[at + 1..end]) {
            r.replace(start, end, EMAIL_MARKER);
            i = end;
        } else {
            i = at + 1;
        }
    }
    r.finish()
}

/// Characters of a key-like token.
fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-')
}

/// The length of a provider key starting at `i` (a token boundary), if one
/// does.
fn provider_key_len(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    let run = |from: usize, ok: fn(u8) -> bool| {
        rest.get(from..)
            .map_or(0, |r| r.iter().take_while(|&&c| ok(c)).count())
    };
    let token_end = run(0, is_token);
    if rest.starts_with(b"sk-") {
        return (token_end >= 3 + 16).then_some(token_end);
    }
    if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
        let n = run(4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
        return (n == 16 && token_end == 20).then_some(20);
    }
    for prefix in [&b"ghp_"[..], b"gho_", b"ghu_", b"ghs_", b"ghr_"] {
        if rest.starts_with(prefix) {
            let n = run(4, |c| c.is_ascii_alphanumeric());
            return (n >= 20).then_some(4 + n);
        }
    }
    if rest.starts_with(b"github_pat_") {
        let n = run(11, |c| c.is_ascii_alphanumeric() || c == b'_');
        return (n >= 20).then_some(11 + n);
    }
    if rest.starts_with(b"AIza") {
        return (token_end >= 4 + 35).then_some(token_end);
    }
    if rest.starts_with(b"xox")
        && matches!(rest.get(3), Some(b'a' | b'b' | b'p' | b'r' | b's'))
        && rest.get(4) == Some(&b'-')
    {
        return (token_end >= 5 + 10).then_some(token_end);
    }
    None
}

/// Keys whose value is a secret in `key=value` and `key: value` pairs.
const SECRET_KEYS: &[&str] = &[
    "x-api-key",
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "auth_token",
    "secret_key",
    "client_secret",
    "password",
];

/// Where the secret value of a `key=value` pair starting at `i` (a token
/// boundary) lies, if one does.
fn secret_value(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let key = SECRET_KEYS
        .iter()
        .find(|k| b.len() >= i + k.len() && b[i..i + k.len()].eq_ignore_ascii_case(k.as_bytes()))?;
    let mut j = i + key.len();
    // The key must end here (`api_key_id` is another key).
    if b.get(j).is_some_and(|&c| is_token(c)) {
        return None;
    }
    if matches!(b.get(j), Some(b'"' | b'\'')) {
        j += 1;
    }
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    if !matches!(b.get(j), Some(b'=' | b':')) {
        return None;
    }
    j += 1;
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    if matches!(b.get(j), Some(b'"' | b'\'')) {
        j += 1;
    }
    let start = j;
    while j < b.len()
        && !b[j].is_ascii_whitespace()
        && !matches!(
            b[j],
            b'"' | b'\'' | b'&' | b',' | b';' | b'}' | b']' | b')' | b'<' | b'>'
        )
    {
        j += 1;
    }
    (j > start).then_some((start, j))
}

fn api_keys(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut r = Rewriter::new(text);
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !is_token(b[i - 1]);
        if boundary && b[i].is_ascii_alphabetic() {
            if let Some(len) = provider_key_len(b, i) {
                r.replace(i, i + len, API_KEY_MARKER);
                i += len;
                continue;
            }
            if let Some((start, end)) = secret_value(b, i) {
                r.replace(start, end, API_KEY_MARKER);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    r.finish()
}

fn bearer_tokens(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut r = Rewriter::new(text);
    let mut i = 0;
    while i + 6 < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary && b[i..i + 6].eq_ignore_ascii_case(b"bearer") {
            let mut start = i + 6;
            let spaces = b[start..]
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            start += spaces;
            let len = b[start..]
                .iter()
                .take_while(|&&c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
                })
                .count();
            if spaces > 0 && len >= 8 {
                r.replace(start, start + len, BEARER_MARKER);
                i = start + len;
                continue;
            }
        }
        i += 1;
    }
    r.finish()
}

/// The Luhn check over ASCII digits.
fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (n, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if n % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn card_numbers(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut r = Rewriter::new(text);
    let mut i = 0;
    let mut digits: Vec<u8> = Vec::new();
    // (end of the group in the text, digits so far) for each group.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if !(boundary && b[i].is_ascii_digit()) {
            i += 1;
            continue;
        }
        digits.clear();
        groups.clear();
        let start = i;
        let mut j = i;
        loop {
            while j < b.len() && b[j].is_ascii_digit() {
                digits.push(b[j]);
                j += 1;
            }
            groups.push((j, digits.len()));
            // One separator, then more digits, continues the number.
            if j + 1 < b.len() && matches!(b[j], b' ' | b'-') && b[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        let run_end = j;
        let followed_by_word = b.get(run_end).is_some_and(|c| c.is_ascii_alphanumeric());
        // The longest run of whole groups that is a card number.
        let found = groups.iter().rev().find(|&&(end, n)| {
            (13..=19).contains(&n) && (end < run_end || !followed_by_word) && luhn(&digits[..n])
        });
        match found {
            Some(&(end, _)) => {
                r.replace(start, end, CARD_MARKER);
                i = end;
            }
            None => i = run_end.max(i + 1),
        }
    }
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scrubber: Scrubber, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            assert_eq!(
                scrubber.scrub(input),
                *expected,
                "{scrubber:?} on {input:?}"
            );
        }
    }

    #[test]
    fn emails_are_masked_and_only_emails() {
        check(
            Scrubber::emails(),
            &[
                ("ana@example.com", "[REDACTED_EMAIL]"),
                ("to: ana.m+ai@mail.example.co.uk.", "to: [REDACTED_EMAIL]."),
                ("a@b.c and x@y.io", "a@b.c and [REDACTED_EMAIL]"),
                ("@handle and foo@ and @@", "@handle and foo@ and @@"),
                ("user@localhost", "user@localhost"),
                ("é ana@exämple.com", "é ana@exämple.com"),
                ("(ana@example.com)", "([REDACTED_EMAIL])"),
                (
                    "ana@example.com,bob@example.org",
                    "[REDACTED_EMAIL],[REDACTED_EMAIL]",
                ),
            ],
        );
    }

    #[test]
    fn api_keys_are_masked() {
        check(
            Scrubber::api_keys(),
            &[
                (
                    "key sk-proj-abcdefghijklmnop1234 ok",
                    "key [REDACTED_API_KEY] ok",
                ),
                ("sk-ant-api03-abcdefghijklmnopqrstuv", "[REDACTED_API_KEY]"),
                ("sk-short", "sk-short"),
                (
                    "risk-assessment-of-the-whole-thing",
                    "risk-assessment-of-the-whole-thing",
                ),
                ("AKIAIOSFODNN7EXAMPLE", "[REDACTED_API_KEY]"),
                ("AKIAIOSFODNN7EXAMPLEX", "AKIAIOSFODNN7EXAMPLEX"),
                (
                    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                    "[REDACTED_API_KEY]",
                ),
                (
                    "?q=1&api_key=abc123&x=2",
                    "?q=1&api_key=[REDACTED_API_KEY]&x=2",
                ),
                (
                    r#"{"API_KEY": "abc123"}"#,
                    r#"{"API_KEY": "[REDACTED_API_KEY]"}"#,
                ),
                ("X-Api-Key: zzz", "X-Api-Key: [REDACTED_API_KEY]"),
                ("password=hunter2;", "password=[REDACTED_API_KEY];"),
                ("api_key_id=7", "api_key_id=7"),
                ("my_api_key=7", "my_api_key=7"),
            ],
        );
    }

    #[test]
    fn bearer_tokens_are_masked() {
        check(
            Scrubber::bearer_tokens(),
            &[
                (
                    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc",
                    "Authorization: Bearer [REDACTED_TOKEN]",
                ),
                ("bearer   abcdefgh1234", "bearer   [REDACTED_TOKEN]"),
                ("the bearer of bad news", "the bearer of bad news"),
                ("Bearer", "Bearer"),
            ],
        );
    }

    #[test]
    fn card_numbers_that_pass_luhn_are_masked() {
        check(
            Scrubber::card_numbers(),
            &[
                ("4111111111111111", "[REDACTED_CARD]"),
                ("pay 4111 1111 1111 1111 now", "pay [REDACTED_CARD] now"),
                ("5500-0000-0000-0004.", "[REDACTED_CARD]."),
                ("4111111111111112", "4111111111111112"),
                ("4111 1111 1111 1111 2024", "[REDACTED_CARD] 2024"),
                ("id 12345", "id 12345"),
                ("x4111111111111111", "x4111111111111111"),
                ("378282246310005", "[REDACTED_CARD]"),
            ],
        );
    }

    #[test]
    fn luhn_matches_known_numbers() {
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
    }
}
