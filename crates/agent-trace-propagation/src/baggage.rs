//! W3C Baggage: user key/values that travel with a request, in the `baggage`
//! header.
//!
//! [`Baggage`] is carried next to, not inside, a [`SpanContext`](crate::SpanContext):
//! it belongs to the request rather than to one span, a process may forward
//! it without tracing at all, and it is read and written by its own
//! propagator. The two meet in [`PropagationContext`].
//!
//! The type keeps the recommendation's propagation limits as an invariant (at
//! most 64 members, at most 8192 bytes once encoded), so a `Baggage` that
//! exists can always be sent whole and a receiver applying the same limits
//! accepts it. Keys are unique: the recommendation allows a producer to
//! deduplicate, and a map is what applications expect.

use std::fmt;
use std::str::FromStr;

use crate::carrier::combine_bounded;
use crate::error::excerpt;
use crate::{Extractor, Injector, PropagationContext, PropagationError, TextMapPropagator};

/// The most distinct keys a [`Baggage`] holds (the W3C Baggage limit).
pub const MAX_BAGGAGE_MEMBERS: usize = 64;

/// The longest `baggage` header, in bytes, that a [`Baggage`] encodes to and
/// that the parser reads (the W3C Baggage limit).
pub const MAX_BAGGAGE_LEN: usize = 8192;

const BAGGAGE: &str = "baggage";

/// A W3C Baggage list: distinct keys, each with a value and optional
/// properties, in insertion order.
///
/// Values are any Unicode text: they are percent-encoded on the wire and
/// decoded when read. Keys and property keys are RFC 7230 tokens and are
/// not encoded.
///
/// # Parsing
///
/// `FromStr` parses one header value; [`from_headers`](Self::from_headers)
/// combines every `baggage` header first. Spaces and tabs around keys, values,
/// properties and members are ignored, and so are empty members. A key that
/// appears again replaces the earlier value and properties, keeping the
/// earlier position. A value whose percent-encoded bytes are not UTF-8 gets
/// U+FFFD in their place, as the recommendation requires.
///
/// Anything else outside the grammar (a character that is not a
/// `baggage-octet`, a `%` not followed by two hex digits, a member without
/// `=`) rejects the whole header rather than guessing which members to keep,
/// and so does input over [`MAX_BAGGAGE_LEN`] bytes or with more than
/// [`MAX_BAGGAGE_MEMBERS`] distinct keys. The recommendation lets a receiver
/// drop members it cannot carry; dropping them all keeps the result
/// predictable and the error says why.
///
/// ```
/// use agent_trace_propagation::Baggage;
///
/// let mut baggage: Baggage = "userId=alice, serverNode = DF%2028;region=eu".parse()?;
/// assert_eq!(baggage.get("serverNode"), Some("DF 28"));
/// baggage.insert("user", "Amélie")?;
/// assert_eq!(
///     baggage.to_string(),
///     "userId=alice,serverNode=DF%2028;region=eu,user=Am%C3%A9lie"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    entries: Vec<BaggageEntry>,
}

/// One `baggage` list member: key, value and properties.
///
/// ```
/// use agent_trace_propagation::BaggageEntry;
///
/// let entry = BaggageEntry::new("tenant", "acme corp")?
///     .with_property("ttl", Some("60"))?
///     .with_property("sensitive", None)?;
/// assert_eq!(entry.to_string(), "tenant=acme%20corp;ttl=60;sensitive");
/// assert_eq!(entry.properties()[0].value(), Some("60"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaggageEntry {
    key: String,
    value: String,
    properties: Vec<BaggageProperty>,
    /// Length of this member's encoding, kept so that the list's limit check
    /// on insert does not re-encode every member.
    encoded_len: usize,
}

/// A property of a [`BaggageEntry`]: a key with an optional value, whose
/// meaning the recommendation leaves to applications.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaggageProperty {
    key: String,
    value: Option<String>,
}

impl Baggage {
    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(BaggageEntry::value)
    }

    /// The entry stored under `key`, with its properties.
    pub fn entry(&self, key: &str) -> Option<&BaggageEntry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Sets `key` to `value` (without properties).
    ///
    /// # Errors
    /// As [`insert_entry`](Self::insert_entry), and
    /// [`PropagationError::InvalidBaggageKey`] for a key that is not a token.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), PropagationError> {
        self.insert_entry(BaggageEntry::new(key, value)?)
    }

    /// Adds `entry` at the end, or replaces the entry with the same key in
    /// place.
    ///
    /// # Errors
    /// [`PropagationError::TooManyBaggageMembers`] for a 65th key,
    /// [`PropagationError::TooLong`] when the encoded list would exceed
    /// [`MAX_BAGGAGE_LEN`]. The list is unchanged on error.
    ///
    /// ```
    /// use agent_trace_propagation::{Baggage, PropagationError};
    ///
    /// let mut baggage = Baggage::default();
    /// for i in 0..64 {
    ///     baggage.insert(&format!("k{i}"), "v")?;
    /// }
    /// assert_eq!(
    ///     baggage.insert("one-more", "v"),
    ///     Err(PropagationError::TooManyBaggageMembers { max: 64 })
    /// );
    /// baggage.insert("k0", "replaced")?; // an existing key is not a new member
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_entry(&mut self, entry: BaggageEntry) -> Result<(), PropagationError> {
        let current = self.encoded_len();
        let (position, found) = match self.entries.iter().position(|e| e.key == entry.key) {
            Some(i) => (
                Some(i),
                current - self.entries[i].encoded_len + entry.encoded_len,
            ),
            None if self.entries.len() == MAX_BAGGAGE_MEMBERS => {
                return Err(PropagationError::TooManyBaggageMembers {
                    max: MAX_BAGGAGE_MEMBERS,
                });
            }
            None => (
                None,
                current + usize::from(!self.entries.is_empty()) + entry.encoded_len,
            ),
        };
        if found > MAX_BAGGAGE_LEN {
            return Err(PropagationError::TooLong {
                what: BAGGAGE,
                max: MAX_BAGGAGE_LEN,
                found,
            });
        }
        match position {
            Some(i) => self.entries[i] = entry,
            None => self.entries.push(entry),
        }
        Ok(())
    }

    /// Removes and returns the entry stored under `key`.
    pub fn remove(&mut self, key: &str) -> Option<BaggageEntry> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(i))
    }

    /// The entries in order.
    pub fn iter(&self) -> std::slice::Iter<'_, BaggageEntry> {
        self.entries.iter()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `baggage` header value; empty for an empty list.
    pub fn header(&self) -> String {
        self.to_string()
    }

    /// Reads and combines every `baggage` header in `headers`; an empty list
    /// when there is none.
    ///
    /// # Errors
    /// [`PropagationError::TooLong`] when the combined headers exceed
    /// [`MAX_BAGGAGE_LEN`] bytes, or why they do not parse (see
    /// [`Baggage`]).
    ///
    /// ```
    /// use agent_trace_propagation::Baggage;
    ///
    /// let baggage = Baggage::from_headers(&[
    ///     ("baggage", "userId=alice"),
    ///     ("Baggage", "serverNode=DF%2028,isProduction=false"),
    /// ])?;
    /// assert_eq!(baggage.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_headers<E: Extractor + ?Sized>(headers: &E) -> Result<Self, PropagationError> {
        let values: Vec<&str> = headers
            .get_all(BAGGAGE)
            .into_iter()
            .filter(|v| !trim_ows(v).is_empty())
            .collect();
        combine_bounded(&values, BAGGAGE, MAX_BAGGAGE_LEN)?.parse()
    }

    fn encoded_len(&self) -> usize {
        self.entries.iter().map(|e| e.encoded_len).sum::<usize>()
            + self.entries.len().saturating_sub(1)
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a BaggageEntry;
    type IntoIter = std::slice::Iter<'a, BaggageEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for Baggage {
    /// The canonical header: no whitespace, values percent-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(entry, f)?;
        }
        Ok(())
    }
}

impl FromStr for Baggage {
    type Err = PropagationError;

    /// Parses one `baggage` header value (see [`Baggage`] for the rules).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_BAGGAGE_LEN {
            return Err(PropagationError::TooLong {
                what: BAGGAGE,
                max: MAX_BAGGAGE_LEN,
                found: s.len(),
            });
        }
        let mut baggage = Self::default();
        for raw in s.split(',') {
            let member = trim_ows(raw);
            if member.is_empty() {
                continue;
            }
            let (pair, properties) = match member.split_once(';') {
                Some((pair, properties)) => (pair, Some(properties)),
                None => (member, None),
            };
            let (key, value) =
                pair.split_once('=')
                    .ok_or_else(|| PropagationError::InvalidBaggageMember {
                        member: excerpt(member),
                    })?;
            let key = trim_ows(key);
            check_key(key)?;
            let mut entry = BaggageEntry::new(key, &decode(trim_ows(value), key)?)?;
            for property in properties.into_iter().flat_map(|p| p.split(';')) {
                let property = trim_ows(property);
                entry = match property.split_once('=') {
                    Some((k, v)) => {
                        let k = trim_ows(k);
                        check_key(k)?;
                        entry.with_property(k, Some(&decode(trim_ows(v), k)?))?
                    }
                    None => entry.with_property(property, None)?,
                };
            }
            baggage.insert_entry(entry)?;
        }
        Ok(baggage)
    }
}

impl BaggageEntry {
    /// An entry without properties.
    ///
    /// # Errors
    /// [`PropagationError::InvalidBaggageKey`] when `key` is not an RFC 7230
    /// token (letters, digits and ``!#$%&'*+-.^_`|~``).
    pub fn new(key: &str, value: &str) -> Result<Self, PropagationError> {
        check_key(key)?;
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
            properties: Vec::new(),
            encoded_len: key.len() + 1 + encoded_len(value),
        })
    }

    /// This entry with one more property, `key` or `key=value`.
    ///
    /// # Errors
    /// [`PropagationError::InvalidBaggageKey`] when `key` is not a token.
    pub fn with_property(
        mut self,
        key: &str,
        value: Option<&str>,
    ) -> Result<Self, PropagationError> {
        check_key(key)?;
        self.encoded_len += 1 + key.len() + value.map_or(0, |v| 1 + encoded_len(v));
        self.properties.push(BaggageProperty {
            key: key.to_owned(),
            value: value.map(str::to_owned),
        });
        Ok(self)
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The decoded value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties, in order.
    pub fn properties(&self) -> &[BaggageProperty] {
        &self.properties
    }
}

impl fmt::Display for BaggageEntry {
    /// The list-member encoding: `key=value;prop;prop=value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        f.write_str("=")?;
        write_encoded(f, &self.value)?;
        for p in &self.properties {
            f.write_str(";")?;
            f.write_str(&p.key)?;
            if let Some(v) = &p.value {
                f.write_str("=")?;
                write_encoded(f, v)?;
            }
        }
        Ok(())
    }
}

impl BaggageProperty {
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The decoded value, if the property has one.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// The W3C Baggage propagator: the `baggage` header.
///
/// Writes nothing for empty baggage; reads as [`Baggage::from_headers`].
///
/// ```
/// use agent_trace_propagation::{Baggage, BaggagePropagator, PropagationContext, TextMapPropagator};
///
/// let mut baggage = Baggage::default();
/// baggage.insert("userId", "alice")?;
/// let mut headers: Vec<(String, String)> = Vec::new();
/// BaggagePropagator.inject(&PropagationContext::default().with_baggage(baggage.clone()), &mut headers);
/// assert_eq!(BaggagePropagator.extract(&headers)?.baggage, baggage);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BaggagePropagator;

impl TextMapPropagator for BaggagePropagator {
    fn inject(&self, cx: &PropagationContext, injector: &mut dyn Injector) {
        if !cx.baggage.is_empty() {
            injector.set(BAGGAGE, cx.baggage.header());
        }
    }

    fn extract(&self, extractor: &dyn Extractor) -> Result<PropagationContext, PropagationError> {
        Ok(PropagationContext::default().with_baggage(Baggage::from_headers(extractor)?))
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![BAGGAGE]
    }
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// RFC 7230 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn check_key(key: &str) -> Result<(), PropagationError> {
    if !key.is_empty() && key.bytes().all(is_tchar) {
        Ok(())
    } else {
        Err(PropagationError::InvalidBaggageKey { key: excerpt(key) })
    }
}

/// `baggage-octet`: visible ASCII except `"`, `,`, `;` and `\`.
fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Whether `c` goes on the wire as itself; `%` is an octet but must be encoded.
fn is_unencoded(c: u8) -> bool {
    is_baggage_octet(c) && c != b'%'
}

fn encoded_len(value: &str) -> usize {
    value
        .bytes()
        .map(|c| if is_unencoded(c) { 1 } else { 3 })
        .sum()
}

fn write_encoded(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if !is_unencoded(c) {
            // A non-empty run of plain octets is ASCII, so it starts and ends
            // on char boundaries; an empty one may sit inside a multi-byte
            // character and must not be sliced.
            if start < i {
                f.write_str(&value[start..i])?;
            }
            let escaped = [b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]];
            f.write_str(std::str::from_utf8(&escaped).map_err(|_| fmt::Error)?)?;
            start = i + 1;
        }
    }
    f.write_str(&value[start..])
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a raw value; `key` names it in errors.
fn decode(raw: &str, key: &str) -> Result<String, PropagationError> {
    let bad = || PropagationError::InvalidBaggageValue { key: excerpt(key) };
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !is_baggage_octet(c) {
            return Err(bad());
        }
        if c == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_digit).ok_or_else(bad)?;
            let lo = b.get(i + 2).copied().and_then(hex_digit).ok_or_else(bad)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_codec() {
        assert_eq!(decode("DF%2028", "k").unwrap(), "DF 28");
        assert_eq!(decode("Am%c3%A9lie", "k").unwrap(), "Amélie");
        assert_eq!(decode("%FF", "k").unwrap(), "\u{FFFD}");
        assert_eq!(decode("a=b", "k").unwrap(), "a=b");
        for bad in ["%", "%4", "%zz", "a b", "a\"b", "a\\b", "é"] {
            assert!(decode(bad, "k").is_err(), "{bad:?}");
        }
        let entry = BaggageEntry::new("k", "100% \"ok\";,\\é").unwrap();
        assert_eq!(entry.to_string(), "k=100%25%20%22ok%22%3B%2C%5C%C3%A9");
        assert_eq!(entry.encoded_len, entry.to_string().len());
    }

    #[test]
    fn token_keys() {
        for ok in ["a", "A-Z_09", "!#$%&'*+-.^_`|~"] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a=b", "a;b", "a,b", "(a)", "é", "a/b"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoded_length_is_tracked() {
        let mut b = Baggage::default();
        b.insert("a", "x y").unwrap();
        b.insert_entry(
            BaggageEntry::new("b", "1")
                .unwrap()
                .with_property("p", Some("é"))
                .unwrap()
                .with_property("q", None)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(b.encoded_len(), b.to_string().len());
        b.insert("a", "").unwrap();
        assert_eq!(b.encoded_len(), b.to_string().len());
        b.remove("a");
        assert_eq!(b.encoded_len(), b.to_string().len());
    }
}
