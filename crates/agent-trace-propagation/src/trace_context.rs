//! W3C Trace Context: the `traceparent` and `tracestate` headers.
//!
//! Parsing follows the recommendation's processing model to the letter,
//! because peers rely on every participant rejecting the same inputs; the
//! rules are listed on [`TraceContextPropagator`]. The parser works on bytes
//! at fixed positions after checking the length, so no input can make it
//! slice inside a character or index out of bounds.

use std::collections::HashMap;

use crate::carrier::combine_bounded;
use crate::id::parse_hex_bytes;
use crate::{
    Extractor, Injector, PropagationContext, PropagationError, SpanContext, SpanId,
    TextMapPropagator, TraceFlags, TraceId, TraceState,
};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// Length of a version `00` `traceparent`, and the minimum for any version.
const TRACEPARENT_LEN: usize = 55;
/// Longest `traceparent` this crate reads.
const MAX_TRACEPARENT_LEN: usize = 512;
/// Longest combined `tracestate` this crate reads.
const MAX_TRACESTATE_INPUT_LEN: usize = 8192;
/// Longest `tracestate` this crate writes (the recommendation's minimum).
const MAX_TRACESTATE_OUTPUT_LEN: usize = 512;
/// Entries longer than this are dropped first when truncating.
const LARGE_TRACESTATE_ENTRY: usize = 128;
/// Flag bits defined for version `00` (Level 1 *sampled*, Level 2 *random*).
const KNOWN_FLAGS: u8 = TraceFlags::SAMPLED.to_u8() | TraceFlags::RANDOM.to_u8();

/// The W3C Trace Context propagator: `traceparent` and `tracestate`.
///
/// # Reading
///
/// - Version `00` is parsed strictly: exactly 55 characters, lowercase hex,
///   `-` separators, non-zero ids. A higher version is parsed by the
///   recommendation's forward-compatibility rules (at least 55 characters, a
///   `-` after the flags if longer, the four known fields read and the rest
///   ignored); version `ff` is rejected.
/// - Spaces and tabs around the value are ignored, as the W3C test suite
///   expects. More than one `traceparent` header makes the context invalid.
/// - `tracestate` is read only after a valid `traceparent`, from every
///   `tracestate` header combined with `,`. Keys follow the recommendation's
///   grammar, `key = ( lcalpha / DIGIT ) 0*255 ( keychar )` with `@` among
///   the key characters: up to 256 characters, `@` anywhere but first. A key
///   received more than once keeps its first (leftmost) member; the later
///   ones are discarded, as the recommendation allows. If the list is invalid
///   (grammar, more than 32 members, too long) it is dropped as a whole and
///   the `traceparent` is still used.
///
/// # Bounds
///
/// A `traceparent` longer than 512 bytes and a combined `tracestate` longer
/// than 8192 bytes are refused without being read. 512 leaves room for many
/// future `traceparent` fields. 8192 is what common HTTP servers accept for
/// one header line and sixteen times the 512 characters the recommendation
/// asks vendors to propagate; it bounds the one allocation that combining
/// several headers needs.
///
/// # Writing
///
/// Always version `00`. Flag bits that version reserves are cleared, keeping
/// *sampled* and Level 2's *random*. `tracestate` is omitted when empty and
/// truncated to 512 characters by the recommendation's rule: whole entries
/// only, entries longer than 128 characters first (rightmost first), then
/// entries from the right end, each only while the header is still too long.
///
/// The same codec is available without the trait as
/// [`SpanContext::from_headers`], [`SpanContext::to_headers`],
/// [`SpanContext::from_traceparent`] and [`SpanContext::to_traceparent`].
///
/// ```
/// use agent_trace_propagation::{TextMapPropagator, TraceContextPropagator};
///
/// let headers = [
///     ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
///     ("tracestate", "congo=t61rcWkgMzE"),
///     ("tracestate", "rojo=00f067aa0ba902b7"),
/// ];
/// let parent = TraceContextPropagator.extract(&headers)?.span_context.unwrap();
/// assert_eq!(parent.trace_state.to_string(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceContextPropagator;

impl TextMapPropagator for TraceContextPropagator {
    fn inject(&self, cx: &PropagationContext, injector: &mut dyn Injector) {
        if let Some(span) = &cx.span_context {
            inject_span_context(span, injector);
        }
    }

    fn extract(&self, extractor: &dyn Extractor) -> Result<PropagationContext, PropagationError> {
        match extract_span_context(extractor)? {
            Some(span) => Ok(span.into()),
            None => Ok(PropagationContext::default()),
        }
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

fn inject_span_context(span: &SpanContext, injector: &mut dyn Injector) {
    injector.set(TRACEPARENT, span.to_traceparent());
    let state = truncated_header(&span.trace_state, MAX_TRACESTATE_OUTPUT_LEN);
    if !state.is_empty() {
        injector.set(TRACESTATE, state);
    }
}

/// `Ok(None)` when there is no `traceparent` header at all.
fn extract_span_context<E: Extractor + ?Sized>(
    extractor: &E,
) -> Result<Option<SpanContext>, PropagationError> {
    let values = extractor.get_all(TRACEPARENT);
    let value = match values.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(PropagationError::DuplicateHeader { name: TRACEPARENT }),
    };
    let span = SpanContext::from_traceparent(value)?;
    // A bad tracestate never invalidates the traceparent: it is dropped.
    let state = TraceState::from_headers(extractor).unwrap_or_default();
    Ok(Some(span.with_trace_state(state)))
}

impl SpanContext {
    /// Parses a `traceparent` value into a remote context with an empty
    /// trace state.
    ///
    /// Surrounding spaces and tabs are ignored. Flag bits are kept as
    /// received (see [`TraceFlags`]).
    ///
    /// # Errors
    /// [`PropagationError::TooLong`] past 512 bytes;
    /// [`PropagationError::InvalidLength`] for a version `00` value that is not
    /// 55 characters; [`PropagationError::TooShort`] for a higher version
    /// under 55; [`PropagationError::MissingSeparator`],
    /// [`PropagationError::InvalidHex`] (uppercase included),
    /// [`PropagationError::AllZero`] or [`PropagationError::ForbiddenVersion`].
    ///
    /// ```
    /// use agent_trace_propagation::SpanContext;
    ///
    /// let cx = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
    /// assert!(cx.is_sampled() && cx.is_remote);
    /// // A future version may append fields; they are ignored.
    /// assert!(SpanContext::from_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future").is_ok());
    /// assert!(SpanContext::from_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_traceparent(value: &str) -> Result<Self, PropagationError> {
        if value.len() > MAX_TRACEPARENT_LEN {
            return Err(PropagationError::TooLong {
                what: TRACEPARENT,
                max: MAX_TRACEPARENT_LEN,
                found: value.len(),
            });
        }
        let b = value.trim_matches([' ', '\t']).as_bytes();
        if b.len() < 3 {
            return Err(PropagationError::TooShort {
                what: TRACEPARENT,
                min: TRACEPARENT_LEN,
                found: b.len(),
            });
        }
        let [version] = parse_hex_bytes::<1>(&b[..2], "traceparent version")?;
        expect_dash(b, 2)?;
        if version == 0xff {
            return Err(PropagationError::ForbiddenVersion);
        }
        if version == 0 && b.len() != TRACEPARENT_LEN {
            return Err(PropagationError::InvalidLength {
                what: TRACEPARENT,
                expected: TRACEPARENT_LEN,
                found: b.len(),
            });
        }
        if b.len() < TRACEPARENT_LEN {
            return Err(PropagationError::TooShort {
                what: TRACEPARENT,
                min: TRACEPARENT_LEN,
                found: b.len(),
            });
        }
        expect_dash(b, 35)?;
        expect_dash(b, 52)?;
        if b.len() > TRACEPARENT_LEN {
            // Only reachable for a higher version: its extra fields follow a dash.
            expect_dash(b, TRACEPARENT_LEN)?;
        }
        let trace_id = TraceId::from_bytes(parse_hex_bytes(&b[3..35], "trace id")?)
            .ok_or(PropagationError::AllZero { what: "trace id" })?;
        let span_id = SpanId::from_bytes(parse_hex_bytes(&b[36..52], "parent id")?)
            .ok_or(PropagationError::AllZero { what: "parent id" })?;
        let [flags] = parse_hex_bytes::<1>(&b[53..55], "trace flags")?;
        Ok(Self::new(trace_id, span_id, TraceFlags::new(flags)).into_remote())
    }

    /// The version `00` `traceparent` value of this context.
    ///
    /// Flag bits other than *sampled* and *random* are written as zero, as
    /// the recommendation requires of senders.
    ///
    /// ```
    /// use agent_trace_propagation::{SpanContext, SpanId, TraceFlags, TraceId};
    ///
    /// let cx = SpanContext::new(
    ///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?,
    ///     SpanId::from_hex("00f067aa0ba902b7")?,
    ///     TraceFlags::new(0xff),
    /// );
    /// assert_eq!(cx.to_traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            self.trace_flags.to_u8() & KNOWN_FLAGS
        )
    }

    /// Reads a remote context from W3C Trace Context headers.
    ///
    /// Header names are matched in any case; several `tracestate` headers are
    /// combined. An invalid `tracestate` is dropped (the result then has an
    /// empty trace state) as the recommendation requires;
    /// [`TraceState::from_headers`] says why it was.
    ///
    /// # Errors
    /// [`PropagationError::MissingHeader`] without a `traceparent`,
    /// [`PropagationError::DuplicateHeader`] with more than one, or why the
    /// one there is invalid (see [`from_traceparent`](Self::from_traceparent)).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use agent_trace_propagation::SpanContext;
    ///
    /// let headers = HashMap::from([
    ///     ("TraceParent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
    ///     ("tracestate".to_owned(), "tenant=acme".to_owned()),
    /// ]);
    /// let cx = SpanContext::from_headers(&headers)?;
    /// assert_eq!(cx.trace_state.get("tenant"), Some("acme"));
    /// assert_eq!(cx.to_headers(), HashMap::from([
    ///     ("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
    ///     ("tracestate".to_owned(), "tenant=acme".to_owned()),
    /// ]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_headers<E: Extractor + ?Sized>(headers: &E) -> Result<Self, PropagationError> {
        extract_span_context(headers)?.ok_or(PropagationError::MissingHeader { name: TRACEPARENT })
    }

    /// The W3C Trace Context headers of this context: `traceparent`, and
    /// `tracestate` unless the trace state is empty (truncated to 512
    /// characters as described on [`TraceContextPropagator`]).
    pub fn to_headers(&self) -> HashMap<String, String> {
        let mut headers = HashMap::with_capacity(2);
        inject_span_context(self, &mut headers);
        headers
    }
}

impl TraceState {
    /// Reads every `tracestate` header from `headers` and combines them into
    /// one list, as [`TraceContextPropagator`] does.
    ///
    /// Use it to learn why a propagator dropped a trace state. It does not
    /// look at `traceparent`; the propagator reads `tracestate` only after a
    /// valid one.
    ///
    /// # Errors
    /// [`PropagationError::TooLong`] when the combined value is over 8192
    /// bytes, or why the combined list is invalid (see [`TraceState`]'s
    /// `FromStr`).
    ///
    /// ```
    /// use agent_trace_propagation::{PropagationError, TraceState};
    ///
    /// let state = TraceState::from_headers(&[("tracestate", "a=1"), ("TRACESTATE", "b=2")])?;
    /// assert_eq!(state.to_string(), "a=1,b=2");
    /// // A repeated key keeps its first member.
    /// let state = TraceState::from_headers(&[("tracestate", "a=1"), ("tracestate", "a=2")])?;
    /// assert_eq!(state.to_string(), "a=1");
    /// assert!(matches!(
    ///     TraceState::from_headers(&[("tracestate", "a=1"), ("tracestate", "@a=2")]),
    ///     Err(PropagationError::InvalidTraceStateKey { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_headers<E: Extractor + ?Sized>(headers: &E) -> Result<Self, PropagationError> {
        let combined = combine_bounded(
            &headers.get_all(TRACESTATE),
            TRACESTATE,
            MAX_TRACESTATE_INPUT_LEN,
        )?;
        combined.parse()
    }
}

fn expect_dash(b: &[u8], position: usize) -> Result<(), PropagationError> {
    if b.get(position) == Some(&b'-') {
        Ok(())
    } else {
        Err(PropagationError::MissingSeparator {
            what: TRACEPARENT,
            position,
        })
    }
}

/// The `tracestate` header for `state`, at most `max` characters long.
///
/// Truncation keeps whole entries: entries longer than 128 characters are
/// dropped first, rightmost first, then entries from the right end, each
/// step only while the header is still too long.
fn truncated_header(state: &TraceState, max: usize) -> String {
    let entries: Vec<(&str, &str)> = state.iter().collect();
    let entry_len = |(k, v): (&str, &str)| k.len() + 1 + v.len();
    let mut keep = vec![true; entries.len()];
    let total = |keep: &[bool]| {
        let kept = keep.iter().filter(|&&k| k).count();
        let chars: usize = entries
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(e, _)| entry_len(*e))
            .sum();
        chars + kept.saturating_sub(1)
    };
    for i in (0..entries.len()).rev() {
        if total(&keep) <= max {
            break;
        }
        if entry_len(entries[i]) > LARGE_TRACESTATE_ENTRY {
            keep[i] = false;
        }
    }
    for i in (0..entries.len()).rev() {
        if total(&keep) <= max {
            break;
        }
        keep[i] = false;
    }
    let mut out = String::with_capacity(total(&keep));
    for ((k, v), _) in entries.iter().zip(&keep).filter(|(_, k)| **k) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(members: &[(String, String)]) -> TraceState {
        TraceState::from_key_value(members.iter().map(|(k, v)| (k, v))).unwrap()
    }

    #[test]
    fn short_state_is_written_unchanged() {
        let s: TraceState = "a=1,b=2".parse().unwrap();
        assert_eq!(truncated_header(&s, 512), "a=1,b=2");
        assert_eq!(truncated_header(&TraceState::NONE, 512), "");
    }

    #[test]
    fn large_entries_go_first_then_the_right_end() {
        // 4 entries of 130 characters ("kN=" + 127 'v') at positions 1 and 3,
        // small ones elsewhere.
        let big = |k: &str| (k.to_owned(), "v".repeat(130 - k.len() - 1));
        let small = |k: &str| (k.to_owned(), "x".into());
        let members = vec![
            small("a"),
            big("b1"),
            small("c"),
            big("d1"),
            big("e1"),
            big("f1"),
            small("g"),
        ];
        let s = state(&members);
        // Total: 3 small (3 chars) + 4 big (130) + 6 commas = 535.
        assert_eq!(s.to_string().len(), 535);
        // Dropping the rightmost large entry (f1) is enough: 535 - 131 = 404.
        let out = truncated_header(&s, 512);
        assert!(!out.contains("f1="));
        assert!(out.contains("e1=") && out.contains("b1=") && out.ends_with("g=x"));
        // With a tighter cap all large entries go, and the small ones stay.
        assert_eq!(truncated_header(&s, 20), "a=x,c=x,g=x");
        // Tighter still: small entries are then dropped from the right.
        assert_eq!(truncated_header(&s, 7), "a=x,c=x");
    }

    #[test]
    fn many_small_entries_are_dropped_from_the_right() {
        let members: Vec<(String, String)> = (0..32)
            .map(|i| (format!("k{i:02}"), "v".repeat(20)))
            .collect();
        let s = state(&members);
        let out = truncated_header(&s, 512);
        assert!(out.len() <= 512);
        assert!(out.starts_with("k00="));
        // Each entry is 24 characters plus a comma: 20 entries fit in 499.
        assert_eq!(out.split(',').count(), 20);
        assert!(out.ends_with(&format!("k19={}", "v".repeat(20))));
    }
}
