//! `Injector` and `Extractor`: how propagators write and read headers.
//!
//! A propagator never sees an HTTP library: it writes through [`Injector`] and
//! reads through [`Extractor`], two small object-safe traits that any header
//! map, message envelope or metadata list can implement. Both traits are
//! case-insensitive about names because HTTP, gRPC and most messaging systems
//! are, and W3C Trace Context requires a receiver to accept a header name in
//! any case.
//!
//! [`Extractor::get_all`] exists because some headers may legitimately arrive
//! several times: `tracestate` and `baggage` values are then combined, while a
//! repeated `traceparent` makes the context invalid. A carrier that cannot
//! hold repeated names (a `HashMap`) simply returns at most one value per
//! spelling of the name.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::PropagationError;

/// Writes header values into a carrier.
///
/// The propagators of this crate call [`set`](Injector::set) with lowercase
/// names and with values made only of visible ASCII characters, which every
/// text carrier can hold.
///
/// ```
/// use std::collections::HashMap;
/// use agent_trace_propagation::Injector;
///
/// let mut headers = HashMap::new();
/// headers.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
/// assert_eq!(headers.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Injector {
    /// Sets `key` to `value`, replacing any value the carrier already holds
    /// under that name in any letter case.
    fn set(&mut self, key: &str, value: String);
}

/// Reads header values from a carrier.
///
/// Implementations match names ignoring ASCII case: `get("traceparent")`
/// finds `TraceParent`. Values are returned as stored; the parsers ignore
/// surrounding spaces and tabs themselves.
///
/// ```
/// use std::collections::HashMap;
/// use agent_trace_propagation::Extractor;
///
/// let headers = HashMap::from([("TraceState".to_owned(), "rojo=1".to_owned())]);
/// assert_eq!(headers.get_all("tracestate"), vec!["rojo=1"]);
/// assert_eq!(Extractor::get(&headers, "TRACESTATE"), Some("rojo=1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Extractor {
    /// The first value stored under `key`, in any letter case.
    fn get(&self, key: &str) -> Option<&str>;

    /// Every value stored under `key`, in any letter case, in carrier order.
    ///
    /// The default returns at most the one value of [`get`](Extractor::get);
    /// carriers that can hold a name several times should override it.
    fn get_all(&self, key: &str) -> Vec<&str> {
        self.get(key).into_iter().collect()
    }

    /// Every name in the carrier, as stored.
    fn keys(&self) -> Vec<&str>;
}

/// Names compare like HTTP field names: ASCII case-insensitively.
///
/// An exact match wins over a case-insensitive one, so that a map holding both
/// `tracestate` and `TraceState` answers `get("tracestate")` the same way
/// every time.
impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = HashMap::get(self, key) {
            return Some(v);
        }
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Values of every spelling of `key`, ordered by spelling so that the
    /// result does not depend on the map's iteration order.
    fn get_all(&self, key: &str) -> Vec<&str> {
        let mut found: Vec<(&str, &str)> = self
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        found.sort_unstable();
        found.into_iter().map(|(_, v)| v).collect()
    }

    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

/// Removes other spellings of `key` first, so that the map never holds two
/// values that an [`Extractor`] would read as one repeated header.
impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        self.retain(|k, _| k == key || !k.eq_ignore_ascii_case(key));
        self.insert(key.to_owned(), value);
    }
}

/// An ordered list of `(name, value)` pairs, such as a message's headers: it
/// keeps repeated names and their order.
///
/// ```
/// use agent_trace_propagation::Extractor;
///
/// let headers = [("tracestate", "a=1"), ("TraceState", "b=2")];
/// assert_eq!(headers[..].get_all("tracestate"), vec!["a=1", "b=2"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<K: AsRef<str>, V: AsRef<str>> Extractor for [(K, V)] {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_ref())
    }

    fn get_all(&self, key: &str) -> Vec<&str> {
        self.iter()
            .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_ref())
            .collect()
    }

    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// Same as the slice: ordered, repeated names kept.
macro_rules! extractor_as_slice {
    ($($ty:ty, [$($generics:tt)*];)*) => {$(
        impl<$($generics)*> Extractor for $ty {
            fn get(&self, key: &str) -> Option<&str> {
                Extractor::get(&self[..], key)
            }

            fn get_all(&self, key: &str) -> Vec<&str> {
                self[..].get_all(key)
            }

            fn keys(&self) -> Vec<&str> {
                self[..].keys()
            }
        }
    )*};
}

extractor_as_slice! {
    [(K, V); N], [K: AsRef<str>, V: AsRef<str>, const N: usize];
    Vec<(K, V)>, [K: AsRef<str>, V: AsRef<str>];
}

/// Replaces every pair whose name matches `key` in any case by one pair at the
/// position of the first, or appends one when there is none.
impl Injector for Vec<(String, String)> {
    fn set(&mut self, key: &str, value: String) {
        let mut slot = None;
        let mut i = 0;
        self.retain(|(k, _)| {
            let matches = k.eq_ignore_ascii_case(key);
            let keep = !matches || slot.is_none();
            if matches && slot.is_none() {
                slot = Some(i);
            }
            if keep {
                i += 1;
            }
            keep
        });
        match slot {
            Some(at) => self[at] = (key.to_owned(), value),
            None => self.push((key.to_owned(), value)),
        }
    }
}

/// Joins header values with `,` (RFC 7230 field combination), refusing to
/// allocate more than `max` bytes.
pub(crate) fn combine_bounded(
    values: &[&str],
    what: &'static str,
    max: usize,
) -> Result<String, PropagationError> {
    let found = values
        .iter()
        .map(|v| v.len())
        .sum::<usize>()
        .saturating_add(values.len().saturating_sub(1));
    if found > max {
        return Err(PropagationError::TooLong { what, max, found });
    }
    Ok(values.join(","))
}

#[cfg(feature = "http")]
mod http_impls {
    use super::{Extractor, Injector};
    use http::header::{HeaderMap, HeaderName, HeaderValue};

    /// Header names are case-insensitive by construction. Values that are not
    /// UTF-8 are skipped; other non-ASCII values are passed to the parsers,
    /// which reject them with a precise error.
    impl Extractor for HeaderMap {
        fn get(&self, key: &str) -> Option<&str> {
            self.get_all(key)
                .iter()
                .find_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        }

        /// Every header line with this name, in the order received.
        fn get_all(&self, key: &str) -> Vec<&str> {
            HeaderMap::get_all(self, key)
                .iter()
                .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
                .collect()
        }

        fn keys(&self) -> Vec<&str> {
            HeaderMap::keys(self).map(HeaderName::as_str).collect()
        }
    }

    /// Replaces every value of the header. A name or value that HTTP cannot
    /// carry is dropped; the propagators of this crate never produce one.
    impl Injector for HeaderMap {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::try_from(value),
            ) {
                self.insert(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_map_injector_replaces_other_spellings() {
        let mut map = HashMap::from([
            ("TraceParent".to_owned(), "old".to_owned()),
            ("other".to_owned(), "x".to_owned()),
        ]);
        map.set("traceparent", "new".into());
        assert_eq!(map.get_all("traceparent"), vec!["new"]);
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn vec_injector_replaces_in_place_and_drops_repeats() {
        let mut v: Vec<(String, String)> = vec![
            ("a".into(), "1".into()),
            ("B3".into(), "old".into()),
            ("c".into(), "3".into()),
            ("b3".into(), "older".into()),
        ];
        v.set("b3", "new".into());
        assert_eq!(
            v,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b3".to_owned(), "new".to_owned()),
                ("c".to_owned(), "3".to_owned()),
            ]
        );
        v.set("d", "4".into());
        assert_eq!(v.last(), Some(&("d".to_owned(), "4".to_owned())));
    }

    #[test]
    fn hash_map_get_all_is_deterministic() {
        let map = HashMap::from([
            ("tracestate".to_owned(), "c=3".to_owned()),
            ("TraceState".to_owned(), "b=2".to_owned()),
            ("TRACESTATE".to_owned(), "a=1".to_owned()),
        ]);
        assert_eq!(map.get_all("tracestate"), vec!["a=1", "b=2", "c=3"]);
        assert_eq!(Extractor::get(&map, "tracestate"), Some("c=3"));
    }
}
