//! Attribute keys and typed values.
//!
//! Strings are `&'static str` (no allocation: the common case of a literal
//! key or value), short strings of up to 22 bytes kept inline (no
//! allocation: a model name, a tool name, an id), or a shared `Arc<str>`
//! (one allocation when made from a longer `String`, and then cloning is a
//! reference-count increment, so a finished span can be handed to several
//! processors cheaply).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A string: static, short and inline, or shared.
///
/// Equality, ordering and hashing look only at the text, not at how it is
/// stored.
#[derive(Clone)]
pub struct StringValue(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    /// Invariant: `buf[..len]` is valid UTF-8 (a copy of a `str`, or of a
    /// prefix of one cut on a character boundary).
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
}

/// Copies `src` (at most `INLINE` bytes) to the start of `dst` with two
/// fixed-size, possibly overlapping copies (the first and the last bytes of
/// the largest width that fits), which compile to a few loads and stores,
/// where a copy of a length known only at run time is a call to `memcpy`.
#[inline]
fn copy_short(dst: &mut [u8; INLINE], src: &[u8]) {
    let n = src.len();
    debug_assert!(n <= INLINE);
    if n >= 16 {
        dst[..16].copy_from_slice(&src[..16]);
        dst[n - 8..n].copy_from_slice(&src[n - 8..]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..n].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..n].copy_from_slice(&src[n - 4..]);
    } else if n > 0 {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/// The longest string kept inline: what fits beside the variant's tag and
/// length in the 24 bytes the other variants take anyway.
const INLINE: usize = 22;

impl StringValue {
    /// A static string; costs nothing.
    #[inline]
    pub const fn from_static(s: &'static str) -> Self {
        Self(Repr::Static(s))
    }

    /// A copy of `s`: inline, with no allocation, when it is at most 22
    /// bytes long, else shared.
    ///
    /// ```
    /// use agent_trace_core::StringValue;
    ///
    /// let model = String::from("gpt-4o-mini");
    /// assert_eq!(StringValue::copy_from(&model), "gpt-4o-mini");
    /// ```
    #[inline]
    pub fn copy_from(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut buf = [0; INLINE];
            copy_short(&mut buf, s.as_bytes());
            Self(Repr::Inline {
                len: s.len() as u8,
                buf,
            })
        } else {
            Self(Repr::Shared(Arc::from(s)))
        }
    }

    /// An empty string with room for a short text, to be written in place
    /// by [`set_copy_of`](Self::set_copy_of) with no change of
    /// representation.
    ///
    /// ```
    /// use agent_trace_core::StringValue;
    ///
    /// const EMPTY: StringValue = StringValue::empty_inline();
    /// let mut v = EMPTY;
    /// assert_eq!(v, "");
    /// v.set_copy_of("tool_call");
    /// assert_eq!(v, "tool_call");
    /// ```
    #[inline]
    pub const fn empty_inline() -> Self {
        Self(Repr::Inline {
            len: 0,
            buf: [0; INLINE],
        })
    }

    /// Makes this a copy of `s`, as [`copy_from`](Self::copy_from) would,
    /// writing a short text straight into this value's own inline buffer.
    ///
    /// Where `copy_from` builds the value in a temporary that the caller
    /// then moves into place, a text written byte range by byte range and
    /// read back at once with wider loads stalls the processor (a store
    /// cannot be forwarded to a load it only partly covers): the `tracing`
    /// layer writes a span's text fields into its list's entries with this,
    /// several ns a field.
    ///
    /// ```
    /// use agent_trace_core::StringValue;
    ///
    /// let mut v = StringValue::from_static("");
    /// v.set_copy_of("gpt-4o-mini");
    /// assert_eq!(v, "gpt-4o-mini");
    /// v.set_copy_of(&"x".repeat(100));
    /// assert_eq!(v.as_str().len(), 100);
    /// v.set_copy_of("é");
    /// assert_eq!(v, "é");
    /// ```
    #[inline]
    pub fn set_copy_of(&mut self, s: &str) {
        if s.len() > INLINE {
            self.0 = Repr::Shared(Arc::from(s));
            return;
        }
        if !matches!(self.0, Repr::Inline { .. }) {
            // A constant: stored in place, no temporary to copy.
            self.0 = Repr::Inline {
                len: 0,
                buf: [0; INLINE],
            };
        }
        if let Repr::Inline { len, buf } = &mut self.0 {
            // Empty while the bytes change, so `buf[..len]` is valid UTF-8
            // at every moment (the `Inline` invariant).
            *len = 0;
            copy_short(buf, s.as_bytes());
            // At most `INLINE` (22).
            #[allow(clippy::cast_possible_truncation)]
            let n = s.len() as u8;
            *len = n;
        }
    }

    /// One bit of a 64-bit filter, chosen by the text (its length and last
    /// byte): equal texts have equal bits, so a key whose bit is not among
    /// a span's keys' bits is none of them, and setting it skips the search
    /// for an earlier value.
    #[inline]
    pub(crate) fn filter_bit(&self) -> u64 {
        let b = self.as_str().as_bytes();
        let last = u32::from(b.last().copied().unwrap_or(0));
        // Lengths below 2^32 suffice: the bit only has to be a function of
        // the text.
        #[allow(clippy::cast_possible_truncation)]
        let len = b.len() as u32;
        1 << (len.wrapping_mul(5).wrapping_add(last) & 63)
    }

    /// The text, when it is a static string ([`from_static`](Self::from_static)):
    /// a name that lives as long as the process, which a cache may key by
    /// its address.
    ///
    /// ```
    /// use agent_trace_core::StringValue;
    ///
    /// assert_eq!(StringValue::from_static("plan").as_static(), Some("plan"));
    /// assert_eq!(StringValue::copy_from("plan").as_static(), None);
    /// ```
    #[inline]
    pub fn as_static(&self) -> Option<&'static str> {
        match self.0 {
            Repr::Static(s) => Some(s),
            _ => None,
        }
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
            Repr::Inline { len, buf } => {
                // SAFETY: the `Inline` invariant: `len <= INLINE`, the
                // buffer's length.
                let bytes = unsafe { buf.get_unchecked(..usize::from(*len)) };
                // SAFETY: the `Inline` invariant: `buf[..len]` is valid
                // UTF-8.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
        }
    }

    /// Cuts the text to at most `max_bytes` bytes, on a character boundary.
    /// Returns whether anything was cut.
    pub(crate) fn truncate(&mut self, max_bytes: usize) -> bool {
        let s = self.as_str();
        if s.len() <= max_bytes {
            return false;
        }
        let mut end = max_bytes;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        *self = match &self.0 {
            Repr::Static(s) => Self(Repr::Static(&s[..end])),
            Repr::Shared(s) => Self::copy_from(&s[..end]),
            // Cut on a character boundary of valid UTF-8: still valid.
            Repr::Inline { buf, .. } => Self(Repr::Inline {
                len: end as u8,
                buf: *buf,
            }),
        };
        true
    }
}

impl PartialEq for StringValue {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        same_text(self.as_str().as_bytes(), other.as_str().as_bytes())
    }
}

/// String equality tuned for attribute keys, which a span compares against
/// each of its keys when one is set (one key per name): lengths first, then
/// the same address (the usual `&'static str` key), then the last eight
/// bytes, where dotted names such as `gen_ai.request.model` and
/// `gen_ai.response.model` differ, and only then every byte. Most unequal
/// keys are told apart without a call to `memcmp`.
#[inline(always)]
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if std::ptr::eq(a.as_ptr(), b.as_ptr()) {
        return true;
    }
    if n >= 8 {
        let tail = |s: &[u8]| u64::from_ne_bytes(s[n - 8..].try_into().expect("eight bytes"));
        if tail(a) != tail(b) {
            return false;
        }
        a == b
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

impl Eq for StringValue {}

impl std::hash::Hash for StringValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for StringValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StringValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl AsRef<str> for StringValue {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::ops::Deref for StringValue {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for StringValue {
    #[inline]
    fn from(s: &'static str) -> Self {
        Self(Repr::Static(s))
    }
}

impl From<String> for StringValue {
    /// Inline when at most 22 bytes long (the `String`'s buffer is freed),
    /// else shared.
    #[inline]
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Self::copy_from(&s)
        } else {
            Self(Repr::Shared(s.into()))
        }
    }
}

impl From<Arc<str>> for StringValue {
    fn from(s: Arc<str>) -> Self {
        Self(Repr::Shared(s))
    }
}

impl From<Cow<'static, str>> for StringValue {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(s) => s.into(),
            Cow::Owned(s) => s.into(),
        }
    }
}

impl fmt::Display for StringValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StringValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for StringValue {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StringValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An attribute key, such as `"model.name"` or `"gen_ai.usage.input_tokens"`.
pub type Key = StringValue;

/// A homogeneous array attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    /// Booleans.
    Bool(Arc<[bool]>),
    /// Signed integers.
    I64(Arc<[i64]>),
    /// Floating-point numbers.
    F64(Arc<[f64]>),
    /// Strings.
    String(Arc<[StringValue]>),
}

/// A typed attribute value: string, integer, float, boolean or an array of one
/// of those.
///
/// ```
/// use agent_trace_core::Value;
///
/// assert_eq!(Value::from(150), Value::I64(150));
/// assert_eq!(Value::from("gpt-4").to_string(), "gpt-4");
/// assert_eq!(Value::from(vec!["stop", "length"]).to_string(), "[stop, length]");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A string.
    String(StringValue),
    /// An array of one type.
    Array(Array),
}

impl Value {
    /// The string, when this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Applies the attribute value length limit to strings and string arrays.
    /// Returns whether anything was cut.
    pub(crate) fn truncate(&mut self, max_bytes: usize) -> bool {
        match self {
            Value::String(s) => s.truncate(max_bytes),
            Value::Array(Array::String(items)) => {
                if items.iter().all(|s| s.len() <= max_bytes) {
                    return false;
                }
                let mut owned: Vec<StringValue> = items.to_vec();
                for s in &mut owned {
                    s.truncate(max_bytes);
                }
                *items = owned.into();
                true
            }
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                item.fmt(f)?;
            }
            f.write_str("]")
        }
        match self {
            Value::Bool(v) => v.fmt(f),
            Value::I64(v) => v.fmt(f),
            Value::F64(v) => v.fmt(f),
            Value::String(v) => v.fmt(f),
            Value::Array(Array::Bool(v)) => list(f, v),
            Value::Array(Array::I64(v)) => list(f, v),
            Value::Array(Array::F64(v)) => list(f, v),
            Value::Array(Array::String(v)) => list(f, v),
        }
    }
}

macro_rules! value_from {
    ($($ty:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$ty> for Value {
            #[inline]
            fn from($v: $ty) -> Self { $e }
        })*
    };
}

value_from! {
    bool => |v| Value::Bool(v),
    i64 => |v| Value::I64(v),
    i32 => |v| Value::I64(v.into()),
    u32 => |v| Value::I64(v.into()),
    i16 => |v| Value::I64(v.into()),
    u16 => |v| Value::I64(v.into()),
    i8 => |v| Value::I64(v.into()),
    u8 => |v| Value::I64(v.into()),
    f64 => |v| Value::F64(v),
    f32 => |v| Value::F64(v.into()),
    &'static str => |v| Value::String(v.into()),
    String => |v| Value::String(v.into()),
    Arc<str> => |v| Value::String(v.into()),
    Cow<'static, str> => |v| Value::String(v.into()),
    StringValue => |v| Value::String(v),
    Vec<bool> => |v| Value::Array(Array::Bool(v.into())),
    Vec<i64> => |v| Value::Array(Array::I64(v.into())),
    Vec<f64> => |v| Value::Array(Array::F64(v.into())),
    Vec<&'static str> => |v| Value::Array(Array::String(v.into_iter().map(StringValue::from).collect())),
    Vec<String> => |v| Value::Array(Array::String(v.into_iter().map(StringValue::from).collect())),
    Vec<StringValue> => |v| Value::Array(Array::String(v.into())),
}

/// Lengths and counts are `usize`; an attribute holds `i64`, so values past
/// `i64::MAX` saturate rather than wrap into negatives.
impl From<usize> for Value {
    #[inline]
    fn from(v: usize) -> Self {
        Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// See the `usize` conversion: saturates at `i64::MAX`.
impl From<u64> for Value {
    #[inline]
    fn from(v: u64) -> Self {
        Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The attribute name.
    pub key: Key,
    /// The attribute value.
    pub value: Value,
}

impl KeyValue {
    /// A key-value pair from anything convertible.
    ///
    /// ```
    /// use agent_trace_core::KeyValue;
    ///
    /// let kv = KeyValue::new("tokens", 150);
    /// assert_eq!(kv.key, "tokens");
    /// ```
    #[inline]
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl<K: Into<Key>, V: Into<Value>> From<(K, V)> for KeyValue {
    #[inline]
    fn from((k, v): (K, V)) -> Self {
        Self::new(k, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_short_length_is_copied_whole() {
        let text = "abcdefghijklmnopqrstuvwxyz";
        for n in 0..=INLINE {
            let mut buf = [0xff; INLINE];
            copy_short(&mut buf, &text.as_bytes()[..n]);
            assert_eq!(&buf[..n], &text.as_bytes()[..n], "length {n}");
            assert!(
                buf[n..].iter().all(|&b| b == 0xff),
                "length {n}: nothing past the end"
            );
            assert_eq!(StringValue::copy_from(&text[..n]).as_str(), &text[..n]);
        }
    }

    #[test]
    fn set_copy_of_reads_back_each_text_from_any_earlier_one() {
        let long = "x".repeat(40);
        let texts = [
            "",
            "a",
            "gpt-4o-mini",
            "ümlaut and ß",
            "exactly twenty-two b.",
            long.as_str(),
            "tool_call",
        ];
        for before in texts {
            for after in texts {
                for start in [
                    StringValue::from_static("static"),
                    StringValue::copy_from(before),
                    StringValue::empty_inline(),
                ] {
                    let mut v = start;
                    v.set_copy_of(after);
                    assert_eq!(v.as_str(), after, "{before:?} -> {after:?}");
                    assert_eq!(v, StringValue::copy_from(after));
                    assert_eq!(
                        matches!(v.0, Repr::Inline { .. }),
                        after.len() <= INLINE,
                        "{after:?} inline when short"
                    );
                }
            }
        }
    }

    #[test]
    fn short_strings_are_inline_and_read_back_whole() {
        assert_eq!(std::mem::size_of::<StringValue>(), 24);
        assert_eq!(std::mem::size_of::<KeyValue>(), 56);
        for text in [
            "",
            "a",
            "gpt-4o",
            "exactly-22-bytes-long!",
            "23-bytes-long-is-shared",
            "héllo wörld ✓",
        ] {
            let copied = StringValue::copy_from(text);
            let owned = StringValue::from(text.to_owned());
            assert_eq!(copied.as_str(), text);
            assert_eq!(owned.as_str(), text);
            assert_eq!(copied, owned);
            assert_eq!(
                matches!(copied.0, Repr::Inline { .. }),
                text.len() <= INLINE,
                "{text:?}"
            );
        }
    }

    #[test]
    fn truncating_an_inline_string_keeps_it_valid_utf8() {
        let mut v = StringValue::copy_from("héllo wörld ✓");
        assert!(v.truncate(2));
        assert_eq!(v.as_str(), "h");
        let mut v = StringValue::copy_from("ab✓");
        assert!(v.truncate(4));
        assert_eq!(v.as_str(), "ab");
        assert!(!v.truncate(10));
    }

    #[test]
    fn key_equality_is_byte_equality_whatever_the_shortcut() {
        let texts = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "model",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "xen_ai.request.model",
            "gen_ai.request.modem",
            "12345678",
            "02345678",
            "123456789",
        ];
        for a in texts {
            for b in texts {
                // Shared copies: different addresses, so no shortcut by address.
                let (x, y) = (
                    StringValue::from(a.to_owned()),
                    StringValue::from(b.to_owned()),
                );
                assert_eq!(x == y, a == b, "{a:?} vs {b:?}");
                assert_eq!(StringValue::from_static(a) == y, a == b, "{a:?} vs {b:?}");
            }
        }
        // The same address with a different length is not the same text.
        let long = "gen_ai.request.model";
        assert_ne!(
            StringValue::from_static(long),
            StringValue::from_static(&long[..6])
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut v = Value::from("héllo".to_string());
        assert!(v.truncate(2));
        assert_eq!(v.as_str(), Some("h"));
        let mut v = Value::from(vec!["abcdef", "ab"]);
        assert!(v.truncate(3));
        assert_eq!(v.to_string(), "[abc, ab]");
        let mut v = Value::from(12);
        assert!(!v.truncate(0));
    }

    #[test]
    fn large_unsigned_saturates() {
        assert_eq!(Value::from(u64::MAX), Value::I64(i64::MAX));
    }
}
