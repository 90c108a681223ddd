//! A small JSON tokenizer, and what is built on it: validation, scrubbing of
//! string values, and truncation that keeps a valid document.
//!
//! Hand-written rather than `serde_json` so that the facade pulls in no
//! JSON dependency of its own, and because the two jobs here (rewrite the
//! strings of a document in place, cut a document to a byte budget) work on
//! tokens, not on a parsed tree: the output keeps the input's key order and,
//! when scrubbing, its formatting. Tests check every output against
//! `serde_json`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::ControlFlow;

use super::ScrubberChain;

/// Deepest nesting accepted, the recursion limit `serde_json` applies by
/// default: a deeper document is treated as text, not as JSON.
const MAX_DEPTH: usize = 128;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `{` or `[`.
    Open(u8),
    /// `}` or `]`.
    Close(u8),
    /// An object key (a string, quotes included).
    Key,
    /// A string value (quotes included).
    Str,
    /// A number.
    Num,
    /// `true`, `false` or `null`.
    Lit,
}

/// A token: its kind and its byte range in the document.
#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// What the tokenizer expects next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    /// Right after `[`: a value or `]`.
    ValueOrClose,
    /// Right after `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object.
    Key,
    Colon,
    CommaOrClose,
    Done,
}

/// Walks `json`, calling `visit` with each token in order, and checks the
/// grammar of RFC 8259 as it goes (plus what `serde_json` adds: no lone
/// surrogate escapes, at most [`MAX_DEPTH`] levels).
///
/// Returns `Some(true)` for a valid document walked to its end, `Some(false)`
/// when `visit` stopped early (validity of the rest unknown), `None` for
/// invalid JSON (the tokens before the error were visited).
fn walk(json: &str, mut visit: impl FnMut(Token) -> ControlFlow<()>) -> Option<bool> {
    let b = json.as_bytes();
    let mut stack: Vec<u8> = Vec::new();
    let mut expect = Expect::Value;
    let mut i = 0;
    macro_rules! emit {
        ($kind:expr, $start:expr, $end:expr) => {
            if visit(Token {
                kind: $kind,
                start: $start,
                end: $end,
            })
            .is_break()
            {
                return Some(false);
            }
        };
    }
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        if i == b.len() {
            return (expect == Expect::Done).then_some(true);
        }
        let c = b[i];
        match expect {
            Expect::Done => return None,
            Expect::Colon => {
                if c != b':' {
                    return None;
                }
                i += 1;
                expect = Expect::Value;
            }
            Expect::CommaOrClose => {
                let top = *stack.last()?;
                if c == b',' {
                    i += 1;
                    expect = if top == b'}' {
                        Expect::Key
                    } else {
                        Expect::Value
                    };
                } else if c == top {
                    stack.pop();
                    emit!(Kind::Close(c), i, i + 1);
                    i += 1;
                    expect = after_value(&stack);
                } else {
                    return None;
                }
            }
            Expect::KeyOrClose | Expect::Key => {
                if expect == Expect::KeyOrClose && c == b'}' {
                    stack.pop();
                    emit!(Kind::Close(c), i, i + 1);
                    i += 1;
                    expect = after_value(&stack);
                } else if c == b'"' {
                    let end = string_end(b, i)?;
                    emit!(Kind::Key, i, end);
                    i = end;
                    expect = Expect::Colon;
                } else {
                    return None;
                }
            }
            Expect::Value | Expect::ValueOrClose => {
                if expect == Expect::ValueOrClose && c == b']' {
                    stack.pop();
                    emit!(Kind::Close(c), i, i + 1);
                    i += 1;
                    expect = after_value(&stack);
                    continue;
                }
                match c {
                    b'{' | b'[' => {
                        if stack.len() == MAX_DEPTH {
                            return None;
                        }
                        stack.push(if c == b'{' { b'}' } else { b']' });
                        emit!(Kind::Open(c), i, i + 1);
                        i += 1;
                        expect = if c == b'{' {
                            Expect::KeyOrClose
                        } else {
                            Expect::ValueOrClose
                        };
                    }
                    b'"' => {
                        let end = string_end(b, i)?;
                        emit!(Kind::Str, i, end);
                        i = end;
                        expect = after_value(&stack);
                    }
                    b'-' | b'0'..=b'9' => {
                        let end = number_end(b, i)?;
                        emit!(Kind::Num, i, end);
                        i = end;
                        expect = after_value(&stack);
                    }
                    _ => {
                        let end = ["true", "false", "null"]
                            .iter()
                            .find(|lit| b[i..].starts_with(lit.as_bytes()))
                            .map(|lit| i + lit.len())?;
                        emit!(Kind::Lit, i, end);
                        i = end;
                        expect = after_value(&stack);
                    }
                }
            }
        }
    }
}

fn after_value(stack: &[u8]) -> Expect {
    if stack.is_empty() {
        Expect::Done
    } else {
        Expect::CommaOrClose
    }
}

/// The end (one past the closing quote) of the string starting at `start`
/// (its opening quote), or `None` if it is not a valid JSON string.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                i += escape_len(b, i)?;
            }
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
    None
}

/// The length of the escape sequence at `i` (its backslash): 2, 6, or 12
/// for a surrogate pair; `None` if invalid (including a lone surrogate).
fn escape_len(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => {
            let unit = hex4(b, i + 2)?;
            match unit {
                0xD800..=0xDBFF => {
                    if b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
                        let low = hex4(b, i + 8)?;
                        (0xDC00..=0xDFFF).contains(&low).then_some(12)
                    } else {
                        None
                    }
                }
                0xDC00..=0xDFFF => None,
                _ => Some(6),
            }
        }
        _ => None,
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

/// The end of the number starting at `start`, or `None` if invalid.
fn number_end(b: &[u8], start: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        let from = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > from).then_some(i)
    };
    let mut i = start;
    if b[i] == b'-' {
        i += 1;
    }
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(i)?,
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

/// Whether `text` is one valid JSON document (RFC 8259, as `serde_json`
/// reads it: no lone surrogate escapes, at most 128 levels of nesting).
///
/// ```
/// use agent_trace_genai::privacy::is_json;
///
/// assert!(is_json(r#"{"city": "Paris", "days": [1, 2]}"#));
/// assert!(!is_json("{city: Paris}"));
/// assert!(!is_json(r#"{"a": 1} trailing"#));
/// ```
pub fn is_json(text: &str) -> bool {
    walk(text, |_| ControlFlow::Continue(())) == Some(true)
}

/// The marker that stands for a JSON document when nothing of it fits:
/// `{"truncated":true,"original_bytes":N}`, or shorter forms for very small
/// budgets (`{"truncated":true}`, then `0`); empty only for a zero budget,
/// where no JSON document fits.
fn marker(original_bytes: usize, max_bytes: usize) -> String {
    let full = format!(r#"{{"truncated":true,"original_bytes":{original_bytes}}}"#);
    if full.len() <= max_bytes {
        return full;
    }
    let short = r#"{"truncated":true}"#;
    if short.len() <= max_bytes {
        short.to_owned()
    } else if max_bytes >= 1 {
        "0".to_owned()
    } else {
        String::new()
    }
}

/// Cuts a JSON document to at most `max_bytes` bytes and keeps it a valid
/// JSON document, so that a backend parsing the attribute does not reject
/// it.
///
/// A document that fits is returned unchanged. Otherwise it is written
/// compactly (insignificant whitespace dropped) and, if still too long, cut
/// at the last point where it can be closed: trailing array elements and
/// object members are dropped, and the string value that crosses the limit
/// is shortened (on a character boundary, never inside an escape); the open
/// arrays and objects are then closed. When not even that fits (a long
/// number at the top level, a tiny budget), or when `json` is not valid
/// JSON, the result is the marker `{"truncated":true,"original_bytes":N}`
/// (shorter forms when that does not fit; empty only when `max_bytes` is 0,
/// where no document fits).
///
/// ```
/// use agent_trace_genai::privacy::{is_json, truncate_json};
///
/// let json = r#"{"query": "weather in Paris", "results": [1, 2, 3, 4, 5, 6]}"#;
/// assert_eq!(truncate_json(json, 100), json); // fits: unchanged
/// assert_eq!(truncate_json(json, 45), r#"{"query":"weather in Paris","results":[1,2]}"#);
/// assert_eq!(truncate_json(json, 40), r#"{"query":"weather in Paris"}"#);
/// assert_eq!(truncate_json(json, 20), r#"{"query":"weather "}"#);
/// assert!(is_json(&truncate_json(json, 20)));
/// ```
pub fn truncate_json(json: &str, max_bytes: usize) -> Cow<'_, str> {
    if json.len() <= max_bytes {
        return Cow::Borrowed(json);
    }
    if !is_json(json) {
        return Cow::Owned(marker(json.len(), max_bytes));
    }
    let mut t = Truncator {
        json,
        max: max_bytes,
        out: String::with_capacity(max_bytes.min(json.len())),
        stack: Vec::new(),
        safe: None,
        cut: false,
    };
    let finished = walk(json, |tok| t.token(tok));
    debug_assert!(finished.is_some(), "validated above");
    match t.finish() {
        Some(out) => Cow::Owned(out),
        None => Cow::Owned(marker(json.len(), max_bytes)),
    }
}

/// An open container while truncating: its closing byte and whether it
/// holds an element yet (a comma is due before the next).
#[derive(Clone, Copy)]
struct Open {
    close: u8,
    filled: bool,
}

/// The state of [`truncate_json`]'s second pass.
struct Truncator<'a> {
    json: &'a str,
    max: usize,
    out: String,
    stack: Vec<Open>,
    /// The last point where `out` followed by the closers of the first
    /// `.1` open containers is a complete document within the budget.
    safe: Option<(usize, usize)>,
    /// Set once the budget was hit: stop and close.
    cut: bool,
}

impl Truncator<'_> {
    /// Bytes the open containers need to close.
    fn closers(&self) -> usize {
        self.stack.len()
    }

    /// The comma due before a new element of the innermost container (none
    /// right after a key).
    fn comma(&self, after_key: bool) -> usize {
        match self.stack.last() {
            Some(open) if open.filled && !after_key => 1,
            _ => 0,
        }
    }

    fn fits(&self, extra: usize) -> bool {
        self.out.len() + extra + self.closers() <= self.max
    }

    fn mark_safe(&mut self) {
        self.safe = Some((self.out.len(), self.stack.len()));
    }

    /// Writes the comma due and marks the innermost container filled.
    fn begin_element(&mut self, after_key: bool) {
        if self.comma(after_key) == 1 {
            self.out.push(',');
        }
        if let Some(open) = self.stack.last_mut() {
            open.filled = true;
        }
    }

    /// Whether the token before this one was a key (the value of a member is
    /// written without a comma).
    fn after_key(&self) -> bool {
        self.out.ends_with(':')
    }

    fn token(&mut self, tok: Token) -> ControlFlow<()> {
        let raw = &self.json[tok.start..tok.end];
        let after_key = self.after_key();
        match tok.kind {
            Kind::Open(c) => {
                // The opener and its closer.
                if !self.fits(self.comma(after_key) + 2) {
                    return self.stop();
                }
                self.begin_element(after_key);
                self.out.push(c as char);
                self.stack.push(Open {
                    close: if c == b'{' { b'}' } else { b']' },
                    filled: false,
                });
                self.mark_safe();
            }
            Kind::Close(c) => {
                self.out.push(c as char);
                self.stack.pop();
                self.mark_safe();
            }
            Kind::Key => {
                // Not a safe point: a key needs its value. Whether it fits is
                // decided with the value.
                self.begin_element(false);
                self.out.push_str(raw);
                self.out.push(':');
            }
            Kind::Num | Kind::Lit => {
                if !self.fits(self.comma(after_key) + raw.len()) {
                    return self.stop();
                }
                self.begin_element(after_key);
                self.out.push_str(raw);
                self.mark_safe();
            }
            Kind::Str => {
                let comma = self.comma(after_key);
                if self.fits(comma + raw.len()) {
                    self.begin_element(after_key);
                    self.out.push_str(raw);
                    self.mark_safe();
                } else if self.fits(comma + 2) {
                    // Shorten the string to what is left.
                    let room = self.max - self.out.len() - self.closers() - comma - 2;
                    let content = &raw[1..raw.len() - 1];
                    let keep = string_cut(content, room);
                    self.begin_element(after_key);
                    self.out.push('"');
                    self.out.push_str(&content[..keep]);
                    self.out.push('"');
                    self.mark_safe();
                    return self.stop();
                } else {
                    return self.stop();
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn stop(&mut self) -> ControlFlow<()> {
        self.cut = true;
        ControlFlow::Break(())
    }

    /// The truncated document: back to the last safe point, closers
    /// appended. `None` when no safe point was reached.
    fn finish(mut self) -> Option<String> {
        if !self.cut {
            // Compact output fitted whole.
            return Some(self.out);
        }
        let (len, depth) = self.safe?;
        self.out.truncate(len);
        self.stack.truncate(depth);
        while let Some(open) = self.stack.pop() {
            self.out.push(open.close as char);
        }
        debug_assert!(self.out.len() <= self.max);
        Some(self.out)
    }
}

/// The longest prefix of a JSON string's raw content (between the quotes)
/// of at most `room` bytes that ends neither inside a character nor inside
/// an escape sequence (a surrogate pair is one unit).
fn string_cut(content: &str, room: usize) -> usize {
    let b = content.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let step = if b[i] == b'\\' {
            escape_len(b, i).unwrap_or(b.len() - i)
        } else {
            utf8_len(b[i])
        };
        if i + step > room {
            break;
        }
        i += step;
    }
    i
}

/// The length of the UTF-8 sequence that starts with byte `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Runs every string of a JSON document (keys and values) through the
/// scrubbers, and integers that could be card numbers (13 to 19 digits)
/// too; an integer the chain changes becomes a JSON string. Everything
/// else, formatting included, is kept byte for byte.
///
/// Returns `None` when `json` is not valid JSON (scrub it as text then), and
/// the document unchanged (borrowed) when no scrubber changed anything.
///
/// ```
/// use agent_trace_genai::privacy::{ScrubberChain, scrub_json};
///
/// let args = r#"{"to": "ana@example.com", "card": 4111111111111111}"#;
/// let scrubbed = scrub_json(args, &ScrubberChain::default()).expect("valid JSON");
/// assert_eq!(scrubbed, r#"{"to": "[REDACTED_EMAIL]", "card": "[REDACTED_CARD]"}"#);
/// assert!(scrub_json("not json", &ScrubberChain::default()).is_none());
/// ```
pub fn scrub_json<'a>(json: &'a str, scrubbers: &ScrubberChain) -> Option<Cow<'a, str>> {
    if !is_json(json) {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    walk(json, |tok| {
        let raw = &json[tok.start..tok.end];
        let replacement = match tok.kind {
            Kind::Key | Kind::Str => {
                let text = decode_string(raw);
                match scrubbers.scrub(&text) {
                    Cow::Owned(scrubbed) => Some(encode_string(&scrubbed)),
                    Cow::Borrowed(_) => None,
                }
            }
            Kind::Num
                if (13..=19).contains(&raw.len()) && raw.bytes().all(|c| c.is_ascii_digit()) =>
            {
                match scrubbers.scrub(raw) {
                    Cow::Owned(scrubbed) => Some(encode_string(&scrubbed)),
                    Cow::Borrowed(_) => None,
                }
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            let out = out.get_or_insert_with(|| String::with_capacity(json.len()));
            out.push_str(&json[copied..tok.start]);
            out.push_str(&replacement);
            copied = tok.end;
        }
        ControlFlow::Continue(())
    });
    Some(match out {
        Some(mut out) => {
            out.push_str(&json[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(json),
    })
}

/// The text of a valid JSON string token (quotes included).
fn decode_string(raw: &str) -> Cow<'_, str> {
    let content = &raw[1..raw.len() - 1];
    if !content.contains('\\') {
        return Cow::Borrowed(content);
    }
    let b = content.as_bytes();
    let mut out = String::with_capacity(content.len());
    let mut i = 0;
    let mut plain = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&content[plain..i]);
        let len = escape_len(b, i).unwrap_or(2);
        let c = match b.get(i + 1) {
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = hex4(b, i + 2).unwrap_or(0xFFFD);
                let code = if len == 12 {
                    let low = hex4(b, i + 8).unwrap_or(0xDC00);
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    unit
                };
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            Some(&other) => other as char,
            None => '\u{FFFD}',
        };
        out.push(c);
        i += len;
        plain = i;
    }
    out.push_str(&content[plain..]);
    Cow::Owned(out)
}

/// `s` as a JSON string literal, quotes included.
pub(crate) fn encode_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    out
}

/// Appends `s` as a JSON string literal (the escapes RFC 8259 requires).
pub(crate) fn push_string(json: &mut String, s: &str) {
    json.push('"');
    for c in s.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                // Writing to a `String` cannot fail.
                let _ = write!(json, "\\u{:04x}", u32::from(c));
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_rfc_8259_requires() {
        assert_eq!(
            encode_string("a\"b\\c\nd\te\u{1}f é"),
            r#""a\"b\\c\nd\te\u0001f é""#
        );
    }

    #[test]
    fn the_grammar_is_checked() {
        for ok in [
            "0",
            "-0.5e+10",
            r#""\ud83d\ude00""#,
            "[]",
            "{}",
            r#"{"a":[true,false,null,{"b":"c"}]}"#,
            " [ 1 , 2 ] ",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "01",
            "1.",
            "-",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1 2]",
            r#""\ud83d""#,
            r#""\ude00""#,
            "\"a\u{1}\"",
            "tru",
            "[1]]",
            "{\"a\":1}}",
            "\"abc",
        ] {
            assert!(!is_json(bad), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(!is_json(&deep));
        let ok_deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(is_json(&ok_deep));
    }

    #[test]
    fn decoding_reverses_encoding() {
        for s in ["plain", "quote \" and \\ and \n", "é 😀 \u{1f}", ""] {
            assert_eq!(decode_string(&encode_string(s)), s);
        }
        assert_eq!(decode_string(r#""\ud83d\ude00 \u00e9 \/""#), "😀 é /");
    }

    #[test]
    fn string_cuts_keep_escapes_and_characters_whole() {
        assert_eq!(string_cut(r"ab\ncd", 3), 2);
        assert_eq!(string_cut(r"ab\ncd", 4), 4);
        assert_eq!(string_cut(r"\ud83d\ude00x", 11), 0);
        assert_eq!(string_cut(r"\ud83d\ude00x", 12), 12);
        assert_eq!(string_cut("éé", 3), 2);
    }
}
