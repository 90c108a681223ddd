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
        let mut list: Vec<Member> = Vec::new();
        for (k, v) in members {
            let (k, v) = (k.as_ref(), v.as_ref());
            check_key(k)?;
            check_value(k, v)?;
            if list.iter().any(|(existing, _)| &**existing == k) {
                return Err(PropagationError::DuplicateTraceStateKey { key: excerpt(k) });
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
        Self::from_key_value(members)
    }
}

#[inline]
fn is_key_char(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

/// Checks the W3C key grammar: a simple key (`lcalpha` then up to 255 key
/// characters) or a multi-tenant key `tenant@system` (tenant: up to 241
/// characters starting with `lcalpha` or a digit; system: up to 14 starting
/// with `lcalpha`).
pub(crate) fn check_key(key: &str) -> Result<(), PropagationError> {
    let bad = || PropagationError::InvalidTraceStateKey { key: excerpt(key) };
    let b = key.as_bytes();
    match key.split_once('@') {
        None => {
            let ok = (1..=256).contains(&b.len())
                && b[0].is_ascii_lowercase()
                && b.iter().all(|&c| is_key_char(c));
            if ok { Ok(()) } else { Err(bad()) }
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            let ok = (1..=241).contains(&t.len())
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t.iter().all(|&c| is_key_char(c))
                && (1..=14).contains(&s.len())
                && s[0].is_ascii_lowercase()
                && s.iter().all(|&c| is_key_char(c));
            if ok { Ok(()) } else { Err(bad()) }
        }
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
        for ok in [
            "a",
            "rojo",
            "a1_-*/",
            "tenant@system",
            "0tenant@sys",
            &"a".repeat(256),
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "1abc",
            "a b",
            "a@",
            "@b",
            "a@1b",
            "a@bcdefghijklmnop",
            &"a".repeat(257),
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
        assert!(matches!(
            "a=1,a=2".parse::<TraceState>(),
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
