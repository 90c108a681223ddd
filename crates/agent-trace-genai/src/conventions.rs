//! Which version of the GenAI conventions' names the helpers write:
//! `OTEL_SEMCONV_STABILITY_OPT_IN`, and the older names some backends still
//! read.

use std::sync::OnceLock;

/// The environment variable OpenTelemetry instrumentations read to choose
/// between versions of semantic conventions: a comma-separated list of
/// category values. See [`StabilityOptIn`] for what agent-trace reads in it.
pub const STABILITY_OPT_IN_ENV: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

/// The value of [`STABILITY_OPT_IN_ENV`] that asks for the latest
/// experimental GenAI conventions only.
pub const GEN_AI_LATEST_EXPERIMENTAL: &str = "gen_ai_latest_experimental";

/// The value of [`STABILITY_OPT_IN_ENV`] that asks for the latest GenAI
/// names *and* the older ones. The conventions define no such value for
/// GenAI; this one is agent-trace's, spelt after the `http/dup` and
/// `database/dup` values of the HTTP and database migrations.
pub const GEN_AI_DUP: &str = "gen_ai/dup";

/// What `OTEL_SEMCONV_STABILITY_OPT_IN` says about GenAI, parsed.
///
/// The variable is a comma-separated list; entries are trimmed and compared
/// without regard to ASCII case; entries for other categories (`http`,
/// `database`, ...) and unknown ones are ignored.
///
/// ```
/// use agent_trace_genai::StabilityOptIn;
///
/// let opt_in = StabilityOptIn::parse("http, gen_ai_latest_experimental");
/// assert!(opt_in.latest_experimental);
/// assert!(!opt_in.duplicate);
/// assert!(StabilityOptIn::parse("gen_ai/dup").duplicate);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StabilityOptIn {
    /// `gen_ai_latest_experimental` was listed.
    pub latest_experimental: bool,
    /// `gen_ai/dup` was listed.
    pub duplicate: bool,
}

impl StabilityOptIn {
    /// Parses a value of `OTEL_SEMCONV_STABILITY_OPT_IN`.
    pub fn parse(value: &str) -> Self {
        let mut opt_in = Self::default();
        for entry in value.split(',').map(str::trim) {
            if entry.eq_ignore_ascii_case(GEN_AI_LATEST_EXPERIMENTAL) {
                opt_in.latest_experimental = true;
            } else if entry.eq_ignore_ascii_case(GEN_AI_DUP) {
                opt_in.duplicate = true;
            }
        }
        opt_in
    }

    /// Reads and parses [`STABILITY_OPT_IN_ENV`] now (an unset variable is
    /// an empty list).
    pub fn from_env() -> Self {
        Self::parse(&std::env::var(STABILITY_OPT_IN_ENV).unwrap_or_default())
    }
}

/// Which attribute names the helpers write.
///
/// agent-trace has always written the latest experimental GenAI names
/// (`gen_ai.provider.name`, `gen_ai.usage.input_tokens`, ...), so, as the
/// conventions' transition plan asks ("SHOULD NOT change the version ...
/// they emit by default"), that is the default, and
/// `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` changes
/// nothing: it asks for the latest names without the old ones, which is
/// what the default already is. Precisely:
///
/// | `OTEL_SEMCONV_STABILITY_OPT_IN` | names written |
/// |---|---|
/// | unset, empty, or without a GenAI value | latest |
/// | `gen_ai_latest_experimental` | latest |
/// | `gen_ai/dup` (with or without the above) | latest and legacy |
///
/// The legacy names, for backends that still read the conventions of
/// v1.36.0 and before, are `gen_ai.system` (the value of
/// `gen_ai.provider.name`), `gen_ai.usage.prompt_tokens` and
/// `gen_ai.usage.completion_tokens` (the input and output token counts),
/// written next to the latest ones, never instead of them. Code can choose
/// per helper with `conventions(..)`, which wins over the environment.
///
/// ```
/// use agent_trace_genai::{Conventions, StabilityOptIn};
///
/// assert!(!Conventions::default().emits_legacy());
/// assert!(!Conventions::from(StabilityOptIn::parse("gen_ai_latest_experimental")).emits_legacy());
/// assert!(Conventions::from(StabilityOptIn::parse("gen_ai/dup")).emits_legacy());
/// assert!(Conventions::LATEST_AND_LEGACY.emits_legacy());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conventions {
    legacy: bool,
}

impl Conventions {
    /// The latest experimental names only (the default).
    pub const LATEST: Self = Self { legacy: false };

    /// The latest names and, next to them, the legacy ones.
    pub const LATEST_AND_LEGACY: Self = Self { legacy: true };

    /// Whether the legacy names are written too.
    pub const fn emits_legacy(self) -> bool {
        self.legacy
    }

    /// The conventions of every helper given none: from
    /// [`StabilityOptIn::from_env`], read the first time it is needed and
    /// kept for the life of the process.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<Conventions> = OnceLock::new();
        *GLOBAL.get_or_init(|| StabilityOptIn::from_env().into())
    }
}

impl From<StabilityOptIn> for Conventions {
    fn from(opt_in: StabilityOptIn) -> Self {
        Self {
            legacy: opt_in.duplicate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_parsed_as_documented() {
        for (value, latest, duplicate) in [
            ("", false, false),
            ("http", false, false),
            ("gen_ai_latest_experimental", true, false),
            (" GEN_AI_LATEST_EXPERIMENTAL ,http/dup", true, false),
            ("database,gen_ai/dup", false, true),
            ("gen_ai_latest_experimental,gen_ai/dup", true, true),
            ("gen_ai_latest_experimentalx", false, false),
            ("gen_ai", false, false),
        ] {
            assert_eq!(
                StabilityOptIn::parse(value),
                StabilityOptIn {
                    latest_experimental: latest,
                    duplicate
                },
                "{value:?}"
            );
        }
    }
}
