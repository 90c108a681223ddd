//! `TraceState`: the vendor list of W3C Trace Context, kept valid by construction.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::PropagationError;
use crate::error::excerpt;

/// The most list members a `tracestate` may hold (W3C Trace Context).
pub const MAX_TRACE_STATE_MEMBERS: usize = 32;

/// One `key=value` list member, stored in boxes: members are never grown,
/// so the spare capacity of a `String` would be waste.
type Member = (Box<str>, Box<str>);

/// What building a list does with a key it already holds.
#[derive(Clone, Copy)]
enum Duplicates {
    /// An error: a caller building a list means every member it gives.
    Reject,
    /// Keep the first (leftmost) member and drop the later ones: a received
    /// header may repeat a key, which the recommendation lets a vendor
    /// discard, and the leftmost member is the most recently updated one.
    KeepFirst,
}

/// The W3C `tracestate` list: up to 32 `key=value` members, order kept.
///
/// Every member satisfies the W3C list-member grammar; the methods that add
/// members check it and return an error rather than store something a peer
/// would reject. Cloning is a reference-count increment, so a child span
/// inherits its parent's state for free.
///
/// ```
/// use agent_trace_propagation::TraceState;
///
/// let state: TraceState = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".parse()?;
/// let state = state.insert("congo", "ucfJifl5GOE")?; // updated keys move to the front
/// assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
/// assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<[Member]>>);

impl TraceState {
    /// The empty list.
    pub const NONE: Self = Self(None);

    /// Builds a list from members in order, checking each one.
    ///
    /// # Errors
    /// An invalid key or value, a duplicate key, or more than
    /// [`MAX_TRACE_STATE_MEMBERS`] members.
    pub fn from_key_value<I, K, V>(members: I) -> Result<Self, PropagationError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::build(members, Duplicates::Reject)
    }

    /// Checks every member and builds the list; a repeated key is an error
    /// or, for a received header, drops the later member.
    fn build<I, K, V>(members: I, duplicates: Duplicates) -> Result<Self, PropagationError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut list: Vec<Member> = Vec::new();
        for (k, v) in members {
            let (k, v) = (k.as_ref(), v.as_ref());
            check_key(k)?;
            check_value(k, v)?;
            if list.iter().any(|(existing, _)| &**existing == k) {
                match duplicates {
                    Duplicates::Reject => {
                        return Err(PropagationError::DuplicateTraceStateKey { key: excerpt(k) });
                    }
                    Duplicates::KeepFirst => continue,
                }
            }
            if list.len() == MAX_TRACE_STATE_MEMBERS {
                return Err(PropagationError::TooManyTraceStateMembers {
                    max: MAX_TRACE_STATE_MEMBERS,
                });
            }
            list.push((k.into(), v.into()));
        }
        Ok(Self::from_vec(list))
    }

    fn from_vec(list: Vec<Member>) -> Self {
        if list.is_empty() {
            Self(None)
        } else {
            Self(Some(list.into()))
        }
    }

    fn members(&self) -> &[Member] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members()
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// A new list with `key=value` at the front and any older `key` removed.
    ///
    /// When the list already holds 32 other members, the rightmost one is
    /// removed to make room, as W3C Trace Context asks of a vendor adding its
    /// own entry.
    ///
    /// # Errors
    /// An invalid key or value.
    pub fn insert(&self, key: &str, value: &str) -> Result<Self, PropagationError> {
        check_key(key)?;
        check_value(key, value)?;
        let mut list: Vec<Member> = Vec::with_capacity(self.len() + 1);
        list.push((key.into(), value.into()));
        list.extend(self.members().iter().filter(|(k, _)| &**k != key).cloned());
        list.truncate(MAX_TRACE_STATE_MEMBERS);
        Ok(Self::from_vec(list))
    }

    /// A new list without `key`.
    #[must_use]
    pub fn delete(&self, key: &str) -> Self {
        Self::from_vec(
            self.members()
                .iter()
                .filter(|(k, _)| &**k != key)
                .cloned()
                .collect(),
        )
    }

    /// The members in order, as `(key, value)`.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.members().iter().map(|(k, v)| (&**k, &**v))
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members().len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The `tracestate` header value (`k1=v1,k2=v2`); empty for an empty list.
    pub fn header(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({self})")
    }
}

impl FromStr for TraceState {
    type Err = PropagationError;

    /// Parses one `tracestate` header value: comma-separated members with
    /// optional blanks around them; empty members are skipped.
    ///
    /// A key that appears more than once keeps its first (leftmost) member
    /// and the later ones are dropped: W3C Trace Context lets a vendor
    /// "discard duplicate keys that were not generated by them", and its
    /// test suite expects `foo=1,foo=1` to keep `foo=1`. Every member must
    /// still satisfy the grammar, and at most 32 members may be received,
    /// repeated ones included.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut members = Vec::new();
        for raw in s.split(',') {
            let member = raw.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (k, v) = member.split_once('=').ok_or_else(|| {
                PropagationError::InvalidTraceStateMember {
                    member: excerpt(member),
                }
            })?;
            members.push((k, v));
            if members.len() > MAX_TRACE_STATE_MEMBERS {
                return Err(PropagationError::TooManyTraceStateMembers {
                    max: MAX_TRACE_STATE_MEMBERS,
                });
            }
        }
        Self::build(members, Duplicates::KeepFirst)
    }
}

/// `keychar = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@"`.
#[inline]
fn is_key_char(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@')
}

/// The most characters a key may have.
const MAX_KEY_LEN: usize = 256;

/// Checks the W3C Trace Context key grammar:
///
/// ```text
/// key = ( lcalpha / DIGIT ) 0*255 ( keychar )
/// keychar    = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@"
/// lcalpha    = %x61-7A ; a-z
/// ```
///
/// That is, "a `key` MUST begin with a lowercase letter or a digit and
/// contain up to 256 characters including lowercase letters (`a`-`z`),
/// digits (`0`-`9`), underscores (`_`), dashes (`-`), asterisks (`*`),
/// forward slashes (`/`), and at signs (`@`)". An `@` may appear anywhere
/// but first, any number of times; it splits nothing, so the 256-character
/// limit is on the whole key.
pub(crate) fn check_key(key: &str) -> Result<(), PropagationError> {
    let b = key.as_bytes();
    let ok = (1..=MAX_KEY_LEN).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| is_key_char(c));
    if ok {
        Ok(())
    } else {
        Err(PropagationError::InvalidTraceStateKey { key: excerpt(key) })
    }
}

/// Checks the W3C value grammar: 1 to 256 printable ASCII characters other
/// than `,` and `=`, spaces allowed except at the end.
pub(crate) fn check_value(key: &str, value: &str) -> Result<(), PropagationError> {
    let nblk = |c: u8| matches!(c, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e);
    let b = value.as_bytes();
    let ok = (1..=256).contains(&b.len())
        && b.iter().all(|&c| c == b' ' || nblk(c))
        && nblk(b[b.len() - 1]);
    if ok {
        Ok(())
    } else {
        Err(PropagationError::InvalidTraceStateValue { key: excerpt(key) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_grammar() {
        // key = ( lcalpha / DIGIT ) 0*255 ( keychar ), with
        // keychar = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@".
        for ok in [
            "a",
            "7",
            "rojo",
            "a1_-*/",
            "1abc",
            "0-_*/@",
            // `@` anywhere but first, any number of times (test suite:
            // test_tracestate_key_illegal_vendor_format).
            "foo@",
            "foo@@bar",
            "foo@bar@baz",
            "tenant@system",
            "0tenant@sys",
            "a@1b",
            // No separate limits on either side of an `@`: 1 + 1 + 15 = 17
            // characters (test_tracestate_key_length_limit).
            "t@vvvvvvvvvvvvvvv",
            // 256 characters, the most a key may have.
            &"z".repeat(256),
            // 241 + 1 + 14 = 256 and 242 + 1 + 1 = 244.
            &format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            &format!("{}@v", "t".repeat(242)),
            // 255 + 1 = 256.
            &format!("{}@", "a".repeat(255)),
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "fOo",
            "a b",
            "foo.bar",
            "é",
            // The first character must be a lowercase letter or a digit.
            "@",
            "@b",
            "@foo",
            "_a",
            "-a",
            "*a",
            "/a",
            // 257 characters, with or without an `@`.
            &"z".repeat(257),
            &format!("{}@{}", "t".repeat(242), "v".repeat(14)),
            &format!("{}@", "a".repeat(256)),
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn value_grammar() {
        for ok in ["x", " x", "a b", &"v".repeat(256)] {
            assert!(check_value("k", ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "x ", "a,b", "a=b", "é", &"v".repeat(257)] {
            assert!(check_value("k", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parse_limits_and_duplicates() {
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            many.join(",").parse::<TraceState>(),
            Err(PropagationError::TooManyTraceStateMembers { max: 32 })
        );
        assert_eq!(
            many[..32].join(",").parse::<TraceState>().unwrap().len(),
            32
        );
        // A received key that repeats keeps its leftmost member (test suite:
        // test_tracestate_duplicated_keys).
        assert_eq!(
            "foo=1,foo=1".parse::<TraceState>().unwrap().to_string(),
            "foo=1"
        );
        assert_eq!(
            "foo=1,foo=2".parse::<TraceState>().unwrap().to_string(),
            "foo=1"
        );
        assert_eq!(
            "a=1,b=2,a=3,c=4,b=5"
                .parse::<TraceState>()
                .unwrap()
                .to_string(),
            "a=1,b=2,c=4"
        );
        // The dropped member must still be well formed...
        assert!(matches!(
            "a=1,a=".parse::<TraceState>(),
            Err(PropagationError::InvalidTraceStateValue { .. })
        ));
        // ...and counts towards the 32 members a list may have.
        let repeated = format!("{},k0=w", many[..32].join(","));
        assert_eq!(
            repeated.parse::<TraceState>(),
            Err(PropagationError::TooManyTraceStateMembers { max: 32 })
        );
        // A list built by the caller may not repeat a key.
        assert!(matches!(
            TraceState::from_key_value([("a", "1"), ("a", "2")]),
            Err(PropagationError::DuplicateTraceStateKey { .. })
        ));
        assert_eq!(
            " a=1 ,, b=2\t".parse::<TraceState>().unwrap().to_string(),
            "a=1,b=2"
        );
    }

    #[test]
    fn insert_moves_to_front_and_keeps_at_most_32() {
        let full: Vec<(String, String)> = (0..32).map(|i| (format!("k{i}"), "v".into())).collect();
        let state = TraceState::from_key_value(full).unwrap();
        let state = state.insert("new", "x").unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.iter().next(), Some(("new", "x")));
        assert_eq!(state.get("k31"), None, "the rightmost member makes room");
        let state = state.insert("k5", "y").unwrap();
        assert_eq!(state.iter().next(), Some(("k5", "y")));
        assert_eq!(state.len(), 32);
        assert_eq!(state.delete("k5").get("k5"), None);
        assert!(TraceState::NONE.delete("x").is_empty());
    }
}
