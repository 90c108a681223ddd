//! How numbers, times and colours read in the terminal and the report.

use std::borrow::Cow;

/// How many names [`name_list`] writes before it only counts the rest.
const NAMES_LISTED: usize = 3;

/// `a`, `a, b`, `a, b, c`, `a, b, c and 2 more`: paths in a message or a
/// title, which a shell glob can make long.
pub(crate) fn name_list(names: impl ExactSizeIterator<Item = String>) -> String {
    let total = names.len();
    let mut out = names.take(NAMES_LISTED).collect::<Vec<_>>().join(", ");
    if total > NAMES_LISTED {
        out.push_str(&format!(" and {} more", total - NAMES_LISTED));
    }
    out
}

/// `850µs`, `12.3ms`, `500ms`, `1.20s`, `2m05s`: about three significant
/// figures, the same rules as the core's tree rendering.
///
/// ```
/// use agent_trace_cli::format_duration;
///
/// assert_eq!(format_duration(999), "999ns");
/// assert_eq!(format_duration(1_500_000), "1.50ms");
/// assert_eq!(format_duration(1_200_000_000), "1.20s");
/// assert_eq!(format_duration(125_000_000_000), "2m05s");
/// ```
pub fn format_duration(nanos: u64) -> String {
    let n = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 999_500 {
        format!("{:.0}µs", n / 1e3)
    } else if nanos < 9_995_000 {
        format!("{:.2}ms", n / 1e6)
    } else if nanos < 99_950_000 {
        format!("{:.1}ms", n / 1e6)
    } else if nanos < 999_500_000 {
        format!("{:.0}ms", n / 1e6)
    } else if nanos < 59_995_000_000 {
        format!("{:.2}s", n / 1e9)
    } else {
        let secs = nanos / 1_000_000_000;
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// A duration given in seconds (as the latency statistics are), formatted
/// as [`format_duration`].
pub fn format_seconds(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "finite and non-negative; saturates at u64::MAX nanoseconds (584 years)"
    )]
    let nanos = (seconds * 1e9).round() as u64;
    format_duration(nanos)
}

/// A Unix time in nanoseconds as UTC ISO 8601 with milliseconds:
/// `2026-01-01T00:00:00.250Z`.
///
/// ```
/// use agent_trace_cli::format_timestamp;
///
/// assert_eq!(format_timestamp(1_767_225_600_250_000_000), "2026-01-01T00:00:00.250Z");
/// assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
/// ```
pub fn format_timestamp(unix_nanos: u64) -> String {
    // The core's RFC 3339 rendering (nine fraction digits), cut to three.
    let mut text = agent_trace_core::Timestamp::from_unix_nanos(unix_nanos).to_string();
    text.truncate("2026-01-01T00:00:00.250".len());
    text.push('Z');
    text
}

/// A cost with four decimals and its currency, if known: `0.0123 USD`.
pub fn format_cost(cost: f64, currency: Option<&str>) -> String {
    match currency {
        Some(c) if !c.is_empty() => format!("{cost:.4} {c}"),
        _ => format!("{cost:.4}"),
    }
}

/// ANSI colours, or none: what the terminal output is painted with.
///
/// Off when standard output is not a terminal or `NO_COLOR` is set to
/// anything non-empty (<https://no-color.org>), unless asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    /// Colours on (`true`) or off.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// Plain text, for pipes, files and snapshot tests.
    pub fn plain() -> Self {
        Self { enabled: false }
    }

    /// Whether colours are on.
    pub fn enabled(self) -> bool {
        self.enabled
    }

    /// `text` in the SGR style `code` (`"31"` red, `"1"` bold, `"2"` dim).
    pub fn paint<'t>(self, code: &str, text: &'t str) -> Cow<'t, str> {
        if self.enabled && !text.is_empty() {
            Cow::Owned(format!("\x1b[{code}m{text}\x1b[0m"))
        } else {
            Cow::Borrowed(text)
        }
    }
}

/// SGR codes used by the terminal output.
pub(crate) mod sgr {
    pub(crate) const BOLD: &str = "1";
    pub(crate) const DIM: &str = "2";
    pub(crate) const RED: &str = "31";
    pub(crate) const GREEN: &str = "32";
    pub(crate) const YELLOW: &str = "33";
    pub(crate) const CYAN: &str = "36";
    pub(crate) const BOLD_RED: &str = "1;31";
}

/// Pads `text` to `width` characters (not bytes: `µ` and box drawing are
/// one column each), on the right or on the left.
pub(crate) fn pad(text: &str, width: usize, left_align: bool) -> String {
    let len = text.chars().count();
    let fill = " ".repeat(width.saturating_sub(len));
    if left_align {
        format!("{text}{fill}")
    } else {
        format!("{fill}{text}")
    }
}

/// `text` cut to `max` characters, with `…` marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.chars().count() <= max {
        Cow::Borrowed(text)
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        Cow::Owned(cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_into_the_next_unit() {
        assert_eq!(format_duration(999_999), "1.00ms");
        assert_eq!(format_duration(850_000), "850µs");
        assert_eq!(format_duration(12_345_000), "12.3ms");
        assert_eq!(format_duration(99_999_999), "100ms");
        assert_eq!(format_duration(999_999_999), "1.00s");
        assert_eq!(format_duration(500_000_000), "500ms");
        assert_eq!(format_seconds(0.0305), "30.5ms");
        assert_eq!(format_seconds(f64::NAN), "-");
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(
            format_timestamp(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_timestamp(4_107_542_399_999_000_000),
            "2100-02-28T23:59:59.999Z"
        );
    }

    #[test]
    fn padding_counts_characters() {
        assert_eq!(pad("µs", 4, false), "  µs");
        assert_eq!(pad("├─ a", 6, true), "├─ a  ");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
