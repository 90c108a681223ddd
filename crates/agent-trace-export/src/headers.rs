//! Headers given by the user (an `Authorization: Bearer` token, an API
//! key): kept out of every `Debug` output, log and error.

use std::fmt;

use crate::ExportError;

/// Header names and values given by the user (an `Authorization: Bearer`
/// token, an API key). `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k, "<redacted>")))
            .finish()
    }
}

impl Headers {
    /// Adds a header (a later one of the same name is sent too).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The headers of `OTEL_EXPORTER_OTLP_HEADERS`: `key1=value1,key2=value2`,
    /// values percent-decoded as the OpenTelemetry specification says.
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] naming the malformed entry by position (not
    /// by content, which may be a secret).
    pub fn parse_otel_list(list: &str) -> Result<Self, ExportError> {
        Ok(Self(parse_key_value_list(list, "header")?))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As an HTTP header map, values marked sensitive.
    #[cfg(feature = "http-transport")]
    pub(crate) fn to_header_map(&self) -> Result<hyper::header::HeaderMap, ExportError> {
        use hyper::header::{HeaderMap, HeaderName, HeaderValue};
        let mut map = HeaderMap::new();
        for (k, v) in &self.0 {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| ExportError::Config(format!("invalid header name {k:?}")))?;
            let mut value = HeaderValue::from_str(v).map_err(|_| {
                ExportError::Config(format!(
                    "header {k:?} has a value that is not valid in HTTP"
                ))
            })?;
            value.set_sensitive(true);
            map.append(name, value);
        }
        Ok(map)
    }

    /// The pairs, for gRPC metadata and redaction.
    #[allow(dead_code, reason = "used by the transports, when compiled in")]
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// `s` with its `%XX` escapes decoded; `None` when an escape is malformed
/// or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An OpenTelemetry `key1=value1,key2=value2` list (the form of
/// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`), values
/// percent-decoded; empty entries skipped.
///
/// # Errors
///
/// [`ExportError::Config`] naming the malformed `what` entry by position
/// (not by content, which may be a secret).
pub(crate) fn parse_key_value_list(
    list: &str,
    what: &str,
) -> Result<Vec<(String, String)>, ExportError> {
    let mut pairs = Vec::new();
    for (i, entry) in list.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = entry.split_once('=') else {
            return Err(ExportError::Config(format!(
                "{what} entry {} has no '='",
                i + 1
            )));
        };
        if k.trim().is_empty() {
            return Err(ExportError::Config(format!(
                "{what} entry {} has an empty key",
                i + 1
            )));
        }
        let v = percent_decode(v.trim()).ok_or_else(|| {
            ExportError::Config(format!(
                "{what} entry {} is not valid percent-encoding",
                i + 1
            ))
        })?;
        pairs.push((k.trim().to_owned(), v));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_never_show_in_debug() {
        let mut h = Headers::default();
        h.insert("Authorization", "Bearer s3cret");
        let shown = format!("{h:?}");
        assert!(
            shown.contains("Authorization") && !shown.contains("s3cret"),
            "{shown}"
        );
        #[cfg(feature = "http-transport")]
        {
            let map = h.to_header_map().unwrap();
            assert!(!format!("{map:?}").contains("s3cret"));
        }
    }

    #[test]
    fn the_otel_header_list_is_parsed_and_decoded() {
        let h = Headers::parse_otel_list("api-key=abc%20def, x-team = agents ,").unwrap();
        assert_eq!(
            h.pairs(),
            [
                ("api-key".to_owned(), "abc def".to_owned()),
                ("x-team".to_owned(), "agents".to_owned())
            ]
        );
        let e = Headers::parse_otel_list("good=1,secretwithoutequals").unwrap_err();
        assert!(e.to_string().contains("entry 2"), "{e}");
        assert!(!e.to_string().contains("secretwithoutequals"));
    }
}
