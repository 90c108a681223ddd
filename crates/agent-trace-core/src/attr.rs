//! Attribute keys and typed values.
//!
//! Strings are `&'static str` (no allocation: [`StringValue::from_static`],
//! for a constant key), short strings of up to 22 bytes kept inline (no
//! allocation: a literal key, a model name, a tool name, an id), or a shared
//! `Arc<str>` (one allocation when made from a longer string, and then
//! cloning is a reference-count increment, so a finished span can be handed
//! to several processors cheaply).
//!
//! A `&str` converts by copying, whether it is a literal or borrowed from a
//! `String` about to be dropped: Rust's types cannot tell the two apart, and
//! a conversion that kept only `&'static str` refused
//! `set_attribute("request.id", id.as_str())`. Short texts, most keys and
//! values, copy inline at the cost of a few stores; a constant longer than
//! 22 bytes (the GenAI conventions' `gen_ai.usage.input_tokens`) is given as
//! [`StringValue::from_static`], or a `const` [`Key`], so that it is not
//! copied into an allocation on every span.

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

/// The longest string kept inline: what fits beside the variant's tag and
/// length in the 24 bytes the other variants take anyway.
const INLINE: usize = 22;

/// `src` (at most `INLINE` bytes) as an inline buffer, zero past its end.
///
/// Built as three little-endian words, each from one or two loads (the
/// first and the last bytes of the widest width that fits, overlapping,
/// shifted together), then stored whole. For a literal
/// (`set_attribute("model", "gpt-4")`, whose length and bytes the compiler
/// knows) the words are constants and the buffer two or three immediate
/// stores; overlapping byte-range stores into a temporary were instead
/// stored, read back across their seams (a failed store-to-load
/// forwarding) and copied. [`StringValue::set_copy_of`] writes the same
/// words into a buffer in place. The `root_span_2_attrs` figure of `cargo xtask
/// perfgate` (three literals) notices when this stops holding.
#[inline(always)]
fn inline_bytes(src: &[u8]) -> [u8; INLINE] {
    let n = src.len();
    debug_assert!(n <= INLINE);
    let word = |at: usize| u64::from_le_bytes(src[at..at + 8].try_into().expect("eight bytes"));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            src[at..at + 4].try_into().expect("four bytes"),
        ))
    };
    // The bytes `src[from..n]` (fewer than eight): the last word,
    // `src[n - 8..n]`, shifted down past its `from + 8 - n` bytes that come
    // before `from`; zero when there are none (a shift by 64).
    let tail = |from: usize| {
        word(n - 8)
            .checked_shr(8 * (from + 8 - n) as u32)
            .unwrap_or(0)
    };
    let (a, b, c) = if n >= 16 {
        (word(0), word(8), tail(16))
    } else if n >= 8 {
        (word(0), tail(8), 0)
    } else if n >= 4 {
        (half(0) | half(n - 4) << (8 * (n - 4)), 0, 0)
    } else if n > 0 {
        let byte = |at: usize| u64::from(src[at]) << (8 * at);
        (byte(0) | byte(n / 2) | byte(n - 1), 0, 0)
    } else {
        (0, 0, 0)
    };
    let mut buf = [0; INLINE];
    buf[..8].copy_from_slice(&a.to_le_bytes());
    buf[8..16].copy_from_slice(&b.to_le_bytes());
    buf[16..].copy_from_slice(&c.to_le_bytes()[..INLINE - 16]);
    buf
}

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
            Self(Repr::Inline {
                len: s.len() as u8,
                buf: inline_bytes(s.as_bytes()),
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
    /// Where `copy_from` builds a value that the caller then moves into
    /// place (a list entry built in a temporary was read back with wider
    /// loads than it was written with, which stalls the processor), this
    /// writes into the value where it already is: the `tracing` layer
    /// writes a span's text fields into its list's entries with it.
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
            *buf = inline_bytes(s.as_bytes());
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

/// A copy: inline up to 22 bytes, else shared (see
/// [`copy_from`](StringValue::copy_from)); a literal too, since its type
/// does not say that it is one. A long constant is zero-copy as
/// [`StringValue::from_static`].
impl<'a> From<&'a str> for StringValue {
    #[inline]
    fn from(s: &'a str) -> Self {
        Self::copy_from(s)
    }
}

/// A copy, as for `&str`.
impl<'a> From<&'a String> for StringValue {
    #[inline]
    fn from(s: &'a String) -> Self {
        Self::copy_from(s)
    }
}

/// A clone: a static string stays static, a shared one is shared again.
impl<'a> From<&'a StringValue> for StringValue {
    #[inline]
    fn from(s: &'a StringValue) -> Self {
        s.clone()
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

/// A borrowed text is copied, an owned one taken as a `String` is.
impl<'a> From<Cow<'a, str>> for StringValue {
    fn from(s: Cow<'a, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Self::copy_from(s),
            Cow::Owned(s) => s.into(),
        }
    }
}

/// A copy, as for `&str`.
impl<'a, 'b> From<&'a Cow<'b, str>> for StringValue {
    fn from(s: &'a Cow<'b, str>) -> Self {
        Self::copy_from(s)
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
    String => |v| Value::String(v.into()),
    Arc<str> => |v| Value::String(v.into()),
    StringValue => |v| Value::String(v),
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

/// See the `usize` conversion: saturates at `i64::MAX`.
impl From<u128> for Value {
    #[inline]
    fn from(v: u128) -> Self {
        Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// Saturates at `i64::MIN` and `i64::MAX` (no platform's `isize` is wider
/// than 64 bits today, but the conversion does not assume it).
impl From<isize> for Value {
    #[inline]
    fn from(v: isize) -> Self {
        Value::I64(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
    }
}

/// Saturates at `i64::MIN` and `i64::MAX`.
impl From<i128> for Value {
    #[inline]
    fn from(v: i128) -> Self {
        Value::I64(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
    }
}

/// A copy, as [`StringValue`]'s conversion from `&str` makes.
impl<'a> From<&'a str> for Value {
    #[inline]
    fn from(v: &'a str) -> Self {
        Value::String(StringValue::copy_from(v))
    }
}

/// A copy of the text.
impl<'a> From<&'a String> for Value {
    #[inline]
    fn from(v: &'a String) -> Self {
        Value::String(StringValue::copy_from(v))
    }
}

/// A clone: a static string stays static, a shared one is shared again.
impl<'a> From<&'a StringValue> for Value {
    #[inline]
    fn from(v: &'a StringValue) -> Self {
        Value::String(v.clone())
    }
}

/// A borrowed text is copied, an owned one taken.
impl<'a> From<Cow<'a, str>> for Value {
    #[inline]
    fn from(v: Cow<'a, str>) -> Self {
        Value::String(v.into())
    }
}

/// A copy of the text.
impl<'a, 'b> From<&'a Cow<'b, str>> for Value {
    #[inline]
    fn from(v: &'a Cow<'b, str>) -> Self {
        Value::String(StringValue::copy_from(v))
    }
}

/// The element types of an array attribute value: `bool`, every integer
/// type, `f32` and `f64`, and strings (`&str`, `String`, [`StringValue`],
/// `Arc<str>`, `Cow<str>`).
///
/// A `Vec`, an array or a slice of one of them converts into a
/// [`Value::Array`]: integers become `i64`s (saturating, as a single value
/// does), floats `f64`s, strings [`StringValue`]s.
///
/// ```
/// use agent_trace_core::{Array, Value};
///
/// assert_eq!(Value::from([1_u8, 2]), Value::Array(Array::I64(vec![1, 2].into())));
/// assert_eq!(Value::from(&[0.5_f32][..]).to_string(), "[0.5]");
/// let stops = vec![String::from("stop"), String::from("length")];
/// assert_eq!(Value::from(&stops).to_string(), "[stop, length]");
/// ```
///
/// Sealed: an array attribute holds one of the four OpenTelemetry element
/// types, so there is nothing else to convert from.
pub trait ArrayElement: Sized + sealed::Sealed {
    /// The array of `items`, taken by value.
    #[doc(hidden)]
    fn array_from_iter(items: impl Iterator<Item = Self>) -> Array;

    /// The array of copies of `items`.
    #[doc(hidden)]
    fn array_from_slice(items: &[Self]) -> Array;
}

mod sealed {
    /// Keeps [`ArrayElement`](super::ArrayElement) to this module's
    /// implementations.
    pub trait Sealed {}
}

macro_rules! array_elements {
    ($($variant:ident: $($ty:ty),+ => |$v:ident| $e:expr;)*) => {$($(
        impl sealed::Sealed for $ty {}

        impl ArrayElement for $ty {
            #[inline]
            fn array_from_iter(items: impl Iterator<Item = Self>) -> Array {
                Array::$variant(items.map(|$v: $ty| $e).collect())
            }

            #[inline]
            fn array_from_slice(items: &[Self]) -> Array {
                Array::$variant(items.iter().map(|&$v: &$ty| $e).collect())
            }
        }
    )+)*};
}

array_elements! {
    Bool: bool => |v| v;
    I64: i64 => |v| v;
    I64: i8, i16, i32, u8, u16, u32 => |v| i64::from(v);
    // Saturating, as `Value::from` does for one of them.
    I64: u64, u128, usize => |v| i64::try_from(v).unwrap_or(i64::MAX);
    I64: i128, isize => |v| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
    F64: f64 => |v| v;
    F64: f32 => |v| f64::from(v);
}

macro_rules! string_elements {
    ($($ty:ty => |$v:ident| $by_ref:expr),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}

        impl ArrayElement for $ty {
            #[inline]
            fn array_from_iter(items: impl Iterator<Item = Self>) -> Array {
                Array::String(items.map(StringValue::from).collect())
            }

            #[inline]
            fn array_from_slice(items: &[Self]) -> Array {
                Array::String(items.iter().map(|$v| $by_ref).collect())
            }
        }
    )*};
}

string_elements! {
    String => |v| StringValue::copy_from(v),
    StringValue => |v| v.clone(),
    Arc<str> => |v| StringValue::from(Arc::clone(v)),
}

impl sealed::Sealed for &str {}

impl ArrayElement for &str {
    #[inline]
    fn array_from_iter(items: impl Iterator<Item = Self>) -> Array {
        Array::String(items.map(StringValue::copy_from).collect())
    }

    #[inline]
    fn array_from_slice(items: &[Self]) -> Array {
        Array::String(items.iter().map(|v| StringValue::copy_from(v)).collect())
    }
}

impl sealed::Sealed for Cow<'_, str> {}

impl<'a> ArrayElement for Cow<'a, str> {
    #[inline]
    fn array_from_iter(items: impl Iterator<Item = Self>) -> Array {
        Array::String(items.map(StringValue::from).collect())
    }

    #[inline]
    fn array_from_slice(items: &[Self]) -> Array {
        Array::String(items.iter().map(StringValue::from).collect())
    }
}

/// An array attribute (see [`ArrayElement`]).
impl<T: ArrayElement> From<Vec<T>> for Value {
    #[inline]
    fn from(v: Vec<T>) -> Self {
        Value::Array(T::array_from_iter(v.into_iter()))
    }
}

/// An array attribute (see [`ArrayElement`]).
impl<T: ArrayElement, const N: usize> From<[T; N]> for Value {
    #[inline]
    fn from(v: [T; N]) -> Self {
        Value::Array(T::array_from_iter(v.into_iter()))
    }
}

/// An array attribute of copies (see [`ArrayElement`]).
impl<'a, T: ArrayElement> From<&'a [T]> for Value {
    #[inline]
    fn from(v: &'a [T]) -> Self {
        Value::Array(T::array_from_slice(v))
    }
}

/// An array attribute of copies (see [`ArrayElement`]).
impl<'a, T: ArrayElement, const N: usize> From<&'a [T; N]> for Value {
    #[inline]
    fn from(v: &'a [T; N]) -> Self {
        Value::Array(T::array_from_slice(v))
    }
}

/// An array attribute of copies (see [`ArrayElement`]).
impl<'a, T: ArrayElement> From<&'a Vec<T>> for Value {
    #[inline]
    fn from(v: &'a Vec<T>) -> Self {
        Value::Array(T::array_from_slice(v))
    }
}

/// A string value holding `value`'s `Display` text: the one way to record
/// a type that has no conversion of its own into [`Value`] (a path, an
/// enum, an id, a URL), formatted once, when it is set.
///
/// A text of up to 22 bytes is formatted straight into the value's inline
/// buffer, with no allocation.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, display_value};
///
/// let tracer = AgentStepTracer::new();
/// let mut span = tracer.start_span("load_prompt");
/// let path = std::path::Path::new("prompts/system.txt");
/// span.set_attribute("file.path", display_value(&path.display()));
/// let addr = std::net::Ipv4Addr::LOCALHOST;
/// span.set_attribute("server.address", display_value(&addr));
/// assert_eq!(display_value(&addr).to_string(), "127.0.0.1");
/// ```
///
/// Named `display_value`, not `display`, so that it does not clash with
/// `tracing::field::display` where both crates are imported with `*`.
pub fn display_value<T: fmt::Display + ?Sized>(value: &T) -> Value {
    Value::String(StringValue::from_display(value))
}

impl StringValue {
    /// `value`'s `Display` text: inline when it fits, else shared.
    pub(crate) fn from_display<T: fmt::Display + ?Sized>(value: &T) -> Self {
        /// Fills an inline buffer while the text fits, then a `String`.
        struct Text {
            len: usize,
            buf: [u8; INLINE],
            spilled: Option<String>,
        }
        impl fmt::Write for Text {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                if let Some(long) = &mut self.spilled {
                    long.push_str(s);
                } else if let Some(dst) = self.buf.get_mut(self.len..self.len + s.len()) {
                    dst.copy_from_slice(s.as_bytes());
                    self.len += s.len();
                } else {
                    let mut long = String::with_capacity(self.len + s.len());
                    // Whole `str`s so far: the bytes are valid UTF-8.
                    long.push_str(
                        std::str::from_utf8(&self.buf[..self.len]).map_err(|_| fmt::Error)?,
                    );
                    long.push_str(s);
                    self.spilled = Some(long);
                }
                Ok(())
            }
        }
        let mut text = Text {
            len: 0,
            buf: [0; INLINE],
            spilled: None,
        };
        // A `Display` that fails is a bug of that type (`to_string` panics
        // on it); what it wrote so far is kept.
        let _ = fmt::Write::write_fmt(&mut text, format_args!("{value}"));
        match text.spilled {
            Some(long) => Self(Repr::Shared(long.into())),
            // Only whole `str`s were copied in: `buf[..len]` is valid
            // UTF-8 (the `Inline` invariant), and `len <= INLINE`.
            #[allow(clippy::cast_possible_truncation)]
            None => Self(Repr::Inline {
                len: text.len as u8,
                buf: text.buf,
            }),
        }
    }
}

/// What [`Span::set_attribute`](crate::Span::set_attribute) takes as a
/// value: anything that converts into a [`Value`], or an `Option` of it,
/// where `None` sets nothing (an optional field the caller may not have).
///
/// A type of your own gets it by converting into [`Value`]
/// (`impl From<MyType> for Value`), or by implementing this trait when it
/// may have no value to set.
///
/// ```
/// use agent_trace_core::{IntoAttributeValue, Value};
///
/// assert_eq!(150.into_attribute_value(), Some(Value::I64(150)));
/// assert_eq!(Some("gpt-4").into_attribute_value(), Some(Value::from("gpt-4")));
/// assert_eq!(None::<f64>.into_attribute_value(), None);
/// ```
///
/// A type with no conversion is refused at compile time, rather than
/// recorded in a form nobody chose:
///
/// ```compile_fail
/// # let tracer = agent_trace_core::AgentStepTracer::new();
/// # let mut span = tracer.start_span("tool_call");
/// // A `Duration` has no unit once it is a number: say which, with
/// // `took.as_millis()` or `took.as_secs_f64()`.
/// let took = std::time::Duration::from_millis(180);
/// span.set_attribute("tool.duration", took);
/// ```
///
/// ```compile_fail
/// # let tracer = agent_trace_core::AgentStepTracer::new();
/// # let mut span = tracer.start_span("tool_call");
/// // `Debug` text is not a value: `display_value` takes a `Display`
/// // type, and a type without one must choose what to record.
/// #[derive(Debug)]
/// struct Plan { steps: u32 }
/// span.set_attribute("plan", Plan { steps: 3 });
/// ```
pub trait IntoAttributeValue {
    /// The value to set, or `None` to set nothing.
    fn into_attribute_value(self) -> Option<Value>;
}

impl<T: Into<Value>> IntoAttributeValue for T {
    #[inline]
    fn into_attribute_value(self) -> Option<Value> {
        Some(self.into())
    }
}

/// `None` sets nothing.
impl<T: Into<Value>> IntoAttributeValue for Option<T> {
    #[inline]
    fn into_attribute_value(self) -> Option<Value> {
        self.map(Into::into)
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

/// A list of attributes, as [`Span::add_event`](crate::Span::add_event),
/// [`Span::set_attributes`](crate::Span::set_attributes),
/// [`Span::add_link`](crate::Span::add_link) and the span builder's
/// [`attributes`](crate::SpanBuilder::attributes) and
/// [`link`](crate::SpanBuilder::link) take it: an array, `Vec`, slice,
/// `SmallVec`, `Option`, `HashMap` or `BTreeMap` of [`KeyValue`]s or of
/// `(key, value)` pairs, or one of the standard library's iterators over
/// them (`map`, `chain`, `filter`, `zip`, `vec::IntoIter`, `drain`...);
/// `[]` for none. Values of different types go through
/// [`attributes!`](crate::attributes).
///
/// ```
/// use std::collections::HashMap;
/// use agent_trace_core::{AgentStepTracer, KeyValue, attributes};
///
/// let tracer = AgentStepTracer::new();
/// let mut span = tracer.start_span("agent_decision");
/// span.add_event("thinking_started", [("context_size", 4096)]);
/// span.add_event("tokens", [("input", 500), ("output", 150)]);
/// span.add_event("chosen", [KeyValue::new("tool", "web_search"), KeyValue::new("rank", 1)]);
/// span.add_event("decided", attributes!["decision" => "search", "confidence" => 0.93]);
/// span.add_event("analysis_complete", []);
/// span.add_event("labels", HashMap::from([("team", "search")]));
/// span.set_attributes((1..=3).map(|i| KeyValue::new(format!("step.{i}"), i)));
/// ```
///
/// Why not any `IntoIterator`: the item type of `[]` would then be unknown
/// (Rust has no default to pick), so `add_event("analysis_complete", [])`,
/// the natural first attempt, would not compile; arrays are accepted length
/// by length instead, up to 32, with `[]` an empty list of [`KeyValue`]s.
/// Another iterator type gets in by implementing this trait, or collected
/// into a `Vec` first.
///
/// An array holds one type, so pairs whose values differ are refused;
/// [`attributes!`](crate::attributes) takes them:
///
/// ```compile_fail
/// # let tracer = agent_trace_core::AgentStepTracer::new();
/// # let mut span = tracer.start_span("agent_decision");
/// // A string and a float in one array: no one element type fits both,
/// // and converting one into the other would record a value nobody wrote.
/// span.add_event("thinking_completed", [("decision", "search"), ("confidence", 0.93)]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of attributes",
    label = "expected a list of `KeyValue`s or `(key, value)` pairs",
    note = "a list of attributes is an array (of up to 32), `Vec`, slice, map or `Option` of \
            `KeyValue`s or `(key, value)` pairs, or a standard iterator adaptor over them; \
            `[]` for none; for values of different types use `attributes![\"key\" => value, ...]`; \
            collect any other iterator into a `Vec` first"
)]
pub trait IntoAttributes {
    /// The attributes, in order.
    fn into_attributes(self) -> impl Iterator<Item = KeyValue>;
}

/// No attributes: `[]`.
impl IntoAttributes for [KeyValue; 0] {
    #[inline]
    fn into_attributes(self) -> impl Iterator<Item = KeyValue> {
        std::iter::empty()
    }
}

/// Arrays length by length (see the trait's docs for why not for every
/// length).
macro_rules! attribute_arrays {
    ($($n:literal)*) => {$(
        impl<T: Into<KeyValue>> IntoAttributes for [T; $n] {
            #[inline]
            fn into_attributes(self) -> impl Iterator<Item = KeyValue> {
                self.into_iter().map(Into::into)
            }
        }
    )*};
}

attribute_arrays!(
    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
);

/// Owned collections and the standard iterator adaptors, whose items are
/// taken as they come.
macro_rules! attribute_iterables {
    ($([$($generics:tt)*] $ty:ty,)*) => {$(
        impl<$($generics)*> IntoAttributes for $ty
        where
            $ty: IntoIterator,
            <$ty as IntoIterator>::Item: Into<KeyValue>,
        {
            #[inline]
            fn into_attributes(self) -> impl Iterator<Item = KeyValue> {
                self.into_iter().map(Into::into)
            }
        }
    )*};
}

attribute_iterables! {
    [T] Vec<T>,
    [T] Box<[T]>,
    [T] Option<T>,
    [A: smallvec::Array] smallvec::SmallVec<A>,
    [K, V, S] std::collections::HashMap<K, V, S>,
    [K, V] std::collections::BTreeMap<K, V>,
    [T] std::vec::IntoIter<T>,
    ['a, T] std::vec::Drain<'a, T>,
    [T, const N: usize] std::array::IntoIter<T, N>,
    [T] std::option::IntoIter<T>,
    [A: smallvec::Array] smallvec::IntoIter<A>,
    ['a, A: smallvec::Array] smallvec::Drain<'a, A>,
    [K, V] std::collections::hash_map::IntoIter<K, V>,
    [K, V] std::collections::btree_map::IntoIter<K, V>,
    [I, F] std::iter::Map<I, F>,
    [A, B] std::iter::Chain<A, B>,
    [I, P] std::iter::Filter<I, P>,
    [I, F] std::iter::FilterMap<I, F>,
    [I, U: IntoIterator, F] std::iter::FlatMap<I, U, F>,
    [I: Iterator<Item: IntoIterator>] std::iter::Flatten<I>,
    [I] std::iter::Cloned<I>,
    [I] std::iter::Copied<I>,
    [I] std::iter::Take<I>,
    [I] std::iter::Skip<I>,
    [I] std::iter::StepBy<I>,
    [I, P] std::iter::TakeWhile<I, P>,
    [I, P] std::iter::SkipWhile<I, P>,
    [I, F] std::iter::Inspect<I, F>,
    [I] std::iter::Rev<I>,
    [I: Iterator] std::iter::Peekable<I>,
    [I] std::iter::Fuse<I>,
    [A, B] std::iter::Zip<A, B>,
    [T] std::iter::Once<T>,
    [T] std::iter::Empty<T>,
    [F] std::iter::FromFn<F>,
}

/// Copies of the items of a borrowed list.
impl<T: Clone + Into<KeyValue>> IntoAttributes for &[T] {
    #[inline]
    fn into_attributes(self) -> impl Iterator<Item = KeyValue> {
        self.iter().cloned().map(Into::into)
    }
}

/// Copies of the items of a borrowed list.
impl<T: Clone + Into<KeyValue>> IntoAttributes for &Vec<T> {
    #[inline]
    fn into_attributes(self) -> impl Iterator<Item = KeyValue> {
        self.iter().cloned().map(Into::into)
    }
}

/// Copies of the items of a borrowed array.
impl<T: Clone + Into<KeyValue>, const N: usize> IntoAttributes for &[T; N] {
    #[inline]
    fn into_attributes(self) -> impl Iterator<Item = KeyValue> {
        self.iter().cloned().map(Into::into)
    }
}

/// A list of attributes whose values may differ in type, as a
/// `Vec<KeyValue>`: `attributes!["decision" => kind, "confidence" => 0.93]`.
///
/// Keys are anything that converts into a [`Key`](crate::Key) (a string
/// literal is taken as a static string, never copied); values anything
/// [`Span::set_attribute`](crate::Span::set_attribute) takes, and an
/// `Option` that is `None` leaves its key out, as `set_attribute` sets
/// nothing for it.
///
/// ```
/// use agent_trace_core::{AgentStepTracer, attributes};
///
/// let tracer = AgentStepTracer::new();
/// let mut span = tracer.start_span("agent_decision");
/// let kind = String::from("tool_call");
/// let reviewer: Option<&str> = None;
/// span.add_event(
///     "thinking_completed",
///     attributes!["decision" => kind.as_str(), "confidence" => 0.93, "reviewer" => reviewer],
/// );
/// let list = attributes!["decision" => kind, "retries" => 2_u8, "final" => true];
/// assert_eq!(list.len(), 3);
/// assert!(attributes![].is_empty());
/// ```
///
/// Each entry is a step of the macro's recursion: a list of more than
/// about a hundred entries needs a higher `#![recursion_limit]`.
#[macro_export]
macro_rules! attributes {
    ($($entries:tt)*) => {
        $crate::__attributes!(@[] $($entries)*)
    };
}

/// The entries of [`attributes!`], one at a time: a string literal key is
/// made static (`Key::from_static`), any other key converted.
#[doc(hidden)]
#[macro_export]
macro_rules! __attributes {
    (@[$($done:expr,)*]) => {
        $crate::collect_attributes([$($done),*])
    };
    (@[$($done:expr,)*] $key:literal => $value:expr $(, $($rest:tt)*)?) => {
        $crate::__attributes!(
            @[$($done,)* $crate::optional_attribute($crate::Key::from_static($key), $value),]
            $($($rest)*)?
        )
    };
    (@[$($done:expr,)*] $key:expr => $value:expr $(, $($rest:tt)*)?) => {
        $crate::__attributes!(
            @[$($done,)* $crate::optional_attribute($key, $value),]
            $($($rest)*)?
        )
    };
}

/// One entry of [`attributes!`]: `None` when the value is a `None`.
#[doc(hidden)]
#[inline]
pub fn optional_attribute(key: impl Into<Key>, value: impl IntoAttributeValue) -> Option<KeyValue> {
    value.into_attribute_value().map(|value| KeyValue {
        key: key.into(),
        value,
    })
}

/// The list [`attributes!`] makes: its entries but the `None`s.
#[doc(hidden)]
pub fn collect_attributes<const N: usize>(entries: [Option<KeyValue>; N]) -> Vec<KeyValue> {
    let mut list = Vec::with_capacity(N);
    list.extend(entries.into_iter().flatten());
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_short_length_is_assembled_whole_and_zero_beyond() {
        let text = "abcdefghijklmnopqrstuvwxyz";
        for n in 0..=INLINE {
            let buf = inline_bytes(&text.as_bytes()[..n]);
            assert_eq!(&buf[..n], &text.as_bytes()[..n], "length {n}");
            assert!(buf[n..].iter().all(|&b| b == 0), "length {n}: zero beyond");
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
