//! `TraceId`, `SpanId` and `TraceFlags`: fixed-size identity with strict hex forms.

use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};
use std::str::FromStr;

use crate::PropagationError;

/// Parses exactly `N * 2` lowercase hex characters into `N` bytes.
///
/// Uppercase is rejected on purpose: W3C Trace Context requires lowercase, and
/// accepting both would make two spellings of one id.
pub(crate) fn parse_hex<const N: usize>(
    s: &str,
    what: &'static str,
) -> Result<[u8; N], PropagationError> {
    parse_hex_bytes(s.as_bytes(), what)
}

/// [`parse_hex`] over bytes, for header parsers that slice by byte position
/// (a `&str` slice there could split a multi-byte character and panic).
pub(crate) fn parse_hex_bytes<const N: usize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<[u8; N], PropagationError> {
    if bytes.len() != N * 2 {
        return Err(PropagationError::InvalidLength {
            what,
            expected: N * 2,
            found: bytes.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = hex_value(pair[0]).ok_or(PropagationError::InvalidHex {
            what,
            position: 2 * i,
        })?;
        let lo = hex_value(pair[1]).ok_or(PropagationError::InvalidHex {
            what,
            position: 2 * i + 1,
        })?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

#[inline]
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A 16-byte trace identifier that is never all zeros.
///
/// Formats as 32 lowercase hex characters (`{}` and `{:x}`) and parses only
/// that form.
///
/// ```
/// use agent_trace_propagation::TraceId;
///
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse()?;
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!("00000000000000000000000000000000".parse::<TraceId>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

impl TraceId {
    /// The id with this big-endian numeric value, or `None` for zero.
    #[inline]
    pub const fn from_u128(value: u128) -> Option<Self> {
        match NonZeroU128::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The id with these bytes (network order), or `None` when all are zero.
    #[inline]
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        Self::from_u128(u128::from_be_bytes(bytes))
    }

    /// Parses 32 lowercase hex characters.
    ///
    /// # Errors
    /// [`PropagationError::InvalidLength`], [`PropagationError::InvalidHex`]
    /// (uppercase included) or [`PropagationError::AllZero`].
    pub fn from_hex(s: &str) -> Result<Self, PropagationError> {
        let bytes = parse_hex::<16>(s, "trace id")?;
        Self::from_bytes(bytes).ok_or(PropagationError::AllZero { what: "trace id" })
    }

    /// The numeric value (big-endian reading of the bytes).
    #[inline]
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// The bytes in network order.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }
}

/// An 8-byte span identifier that is never all zeros.
///
/// Formats as 16 lowercase hex characters and parses only that form.
///
/// ```
/// use agent_trace_propagation::SpanId;
///
/// let id = SpanId::from_hex("00f067aa0ba902b7")?;
/// assert_eq!(id.to_u64(), 0x00f0_67aa_0ba9_02b7);
/// assert!(SpanId::from_hex("00F067AA0BA902B7").is_err()); // uppercase
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl SpanId {
    /// The id with this big-endian numeric value, or `None` for zero.
    #[inline]
    pub const fn from_u64(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The id with these bytes (network order), or `None` when all are zero.
    #[inline]
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::from_u64(u64::from_be_bytes(bytes))
    }

    /// Parses 16 lowercase hex characters.
    ///
    /// # Errors
    /// [`PropagationError::InvalidLength`], [`PropagationError::InvalidHex`]
    /// (uppercase included) or [`PropagationError::AllZero`].
    pub fn from_hex(s: &str) -> Result<Self, PropagationError> {
        let bytes = parse_hex::<8>(s, "span id")?;
        Self::from_bytes(bytes).ok_or(PropagationError::AllZero { what: "span id" })
    }

    /// The numeric value (big-endian reading of the bytes).
    #[inline]
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// The bytes in network order.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }
}

macro_rules! hex_id_fmt {
    ($ty:ident, $width:literal, $get:ident) => {
        impl fmt::LowerHex for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!("{:0", $width, "x}"), self.$get())
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(self, f)
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    concat!(stringify!($ty), "({:0", $width, "x})"),
                    self.$get()
                )
            }
        }
        impl FromStr for $ty {
            type Err = PropagationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }
    };
}
hex_id_fmt!(TraceId, 32, to_u128);
hex_id_fmt!(SpanId, 16, to_u64);

/// The W3C `trace-flags` byte.
///
/// Bit 0 is *sampled*; bit 1 is Level 2's *random* flag (the trace id's right
/// 7 bytes are random). Other bits are kept as received, so that the
/// application can see them, but the `traceparent` writer clears them: W3C
/// Trace Context reserves them and requires senders to set them to zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set: not sampled.
    pub const NONE: Self = Self(0);
    /// The *sampled* bit.
    pub const SAMPLED: Self = Self(0x01);
    /// Level 2's *random trace id* bit.
    pub const RANDOM: Self = Self(0x02);

    /// Flags from their wire byte.
    #[inline]
    pub const fn new(bits: u8) -> Self {
        Self(bits)
    }

    /// The wire byte.
    #[inline]
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// Whether the *sampled* bit is set.
    #[inline]
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the *random* bit is set.
    #[inline]
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with the *sampled* bit set or cleared.
    #[inline]
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED.0)
        } else {
            Self(self.0 & !Self::SAMPLED.0)
        }
    }

    /// Parses the two lowercase hex characters of the `trace-flags` field.
    ///
    /// # Errors
    /// [`PropagationError::InvalidLength`] or [`PropagationError::InvalidHex`].
    pub fn from_hex(s: &str) -> Result<Self, PropagationError> {
        let [b] = parse_hex::<1>(s, "trace flags")?;
        Ok(Self(b))
    }
}

impl fmt::LowerHex for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing_rejects_every_malformed_shape() {
        assert_eq!(
            TraceId::from_hex("abc"),
            Err(PropagationError::InvalidLength {
                what: "trace id",
                expected: 32,
                found: 3
            })
        );
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902bG"),
            Err(PropagationError::InvalidHex {
                what: "span id",
                position: 15
            })
        );
        assert_eq!(
            SpanId::from_hex("0000000000000000"),
            Err(PropagationError::AllZero { what: "span id" })
        );
        // Multi-byte UTF-8 of the right byte length is still rejected.
        assert!(SpanId::from_hex("ééééééééé").is_err());
    }

    #[test]
    fn flags_bits() {
        let f = TraceFlags::from_hex("03").unwrap();
        assert!(f.is_sampled() && f.is_random());
        assert_eq!(f.with_sampled(false).to_u8(), 0x02);
        assert_eq!(format!("{:x}", TraceFlags::SAMPLED), "01");
    }
}
