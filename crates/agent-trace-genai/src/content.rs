//! Content capture: whether prompts, completions, tool arguments and
//! results, memory queries and records reach spans, and how they are
//! scrubbed and cut first.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::privacy::{
    self, ScrubberChain, Sensitive, SensitiveText, push_json_string, truncate_json,
};

/// The environment variable that turns content capture on for the helpers
/// that were given no [`ContentCapture`] of their own: `true` (any case),
/// or `span_only` / `span_and_event` as newer OpenTelemetry
/// instrumentations spell it. Anything else, or no value, leaves capture
/// off. Read once, the first time a helper needs the default.
pub const CAPTURE_MESSAGE_CONTENT_ENV: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// The longest content attribute, in bytes, unless
/// [`ContentCapture::max_value_length`] says otherwise: 16 KiB, under the
/// limits that commonly reject or truncate an attribute (an Elasticsearch
/// keyword term, as Jaeger stores tags, cannot exceed 32,766 bytes;
/// Datadog keeps 25,000 characters).
pub const DEFAULT_MAX_CONTENT_BYTES: usize = 16 * 1024;

/// Whether prompt, completion, tool, memory and retrieval content is
/// recorded, and how it is scrubbed and cut first.
///
/// Off by default ([`ContentCapture::off`], [`Default`]), as the GenAI
/// conventions ask: content "SHOULD NOT" be captured unless the user opts
/// in. There are two ways in:
///
/// - in code, [`ContentCapture::on`] with a [`ScrubberChain`] (the
///   built-in scrubbers, user closures, or [`ScrubberChain::empty`] to
///   record text as given), or [`ContentCapture::with_redaction`] with one
///   closure, given to a helper with `capture_content`;
/// - for every helper given none, the environment variable
///   [`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`](CAPTURE_MESSAGE_CONTENT_ENV)`=true`,
///   read once ([`ContentCapture::global`]), which turns capture on with the
///   built-in scrubbers.
///
/// Captured content is cut to [`max_value_length`](Self::max_value_length)
/// bytes ([`DEFAULT_MAX_CONTENT_BYTES`] by default) on a UTF-8 boundary, and
/// JSON content so that it stays valid JSON ([`privacy::truncate_json`]). When
/// the tracer's
/// [`SpanLimits::max_attribute_value_length`](agent_trace_core::SpanLimits) is
/// lower, content is cut to that instead, the same way, so that the span limits
/// never cut a JSON document in the middle.
///
/// Scrubbers run on the application's thread, and only for spans that
/// record. Cloning is cheap (shared).
///
/// ```
/// use agent_trace_genai::ContentCapture;
/// use agent_trace_genai::privacy::ScrubberChain;
///
/// let capture = ContentCapture::on(ScrubberChain::default()).max_value_length(4096);
/// assert!(capture.is_enabled());
/// assert!(!ContentCapture::default().is_enabled());
/// assert!(ContentCapture::from_env_value(Some("true")).is_enabled());
/// assert!(!ContentCapture::from_env_value(Some("false")).is_enabled());
/// ```
#[derive(Clone, Default)]
pub struct ContentCapture(Option<Arc<Capture>>);

struct Capture {
    scrubbers: ScrubberChain,
    max_bytes: usize,
}

impl fmt::Debug for ContentCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("ContentCapture(off)"),
            Some(c) => f
                .debug_struct("ContentCapture")
                .field("scrubbers", &c.scrubbers)
                .field("max_bytes", &c.max_bytes)
                .finish(),
        }
    }
}

impl ContentCapture {
    /// No content is recorded (the default).
    pub const fn off() -> Self {
        Self(None)
    }

    /// Content is recorded, after `scrubbers` rewrote it.
    pub fn on(scrubbers: ScrubberChain) -> Self {
        Self(Some(Arc::new(Capture {
            scrubbers,
            max_bytes: DEFAULT_MAX_CONTENT_BYTES,
        })))
    }

    /// Content is recorded, each text after `redact` rewrote it (to mask
    /// e-mail addresses, keys, names...), and only that: the built-in
    /// scrubbers are not added. To record text unchanged, the hook has to
    /// say so (`|s| s.to_owned()`).
    pub fn with_redaction(redact: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self::on(ScrubberChain::empty().with_fn(redact))
    }

    /// The longest content attribute, in bytes (see the type's docs). No
    /// effect on a capture that is off.
    pub fn max_value_length(self, max_bytes: usize) -> Self {
        match self.0 {
            None => self,
            Some(c) => Self(Some(Arc::new(Capture {
                scrubbers: c.scrubbers.clone(),
                max_bytes,
            }))),
        }
    }

    /// What a value of [`CAPTURE_MESSAGE_CONTENT_ENV`] means: on, with the
    /// built-in scrubbers, for `true`, `span_only` and `span_and_event` (any
    /// case, spaces trimmed); off otherwise.
    pub fn from_env_value(value: Option<&str>) -> Self {
        let on = value.is_some_and(|v| {
            let v = v.trim();
            ["true", "span_only", "span_and_event"]
                .iter()
                .any(|yes| v.eq_ignore_ascii_case(yes))
        });
        if on {
            Self::on(ScrubberChain::default())
        } else {
            Self::off()
        }
    }

    /// Reads [`CAPTURE_MESSAGE_CONTENT_ENV`] now (see
    /// [`from_env_value`](Self::from_env_value)).
    pub fn from_env() -> Self {
        Self::from_env_value(std::env::var(CAPTURE_MESSAGE_CONTENT_ENV).ok().as_deref())
    }

    /// The capture of every helper given none: [`from_env`](Self::from_env),
    /// read the first time it is needed and kept for the life of the
    /// process.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<ContentCapture> = OnceLock::new();
        GLOBAL.get_or_init(Self::from_env).clone()
    }

    /// Whether content is recorded.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The longest content attribute in bytes, when capture is on.
    pub fn max_bytes(&self) -> Option<usize> {
        self.0.as_ref().map(|c| c.max_bytes)
    }

    pub(crate) fn scrubbers(&self) -> Option<&ScrubberChain> {
        self.0.as_ref().map(|c| &c.scrubbers)
    }

    /// The length content is cut to: this capture's limit, or the span's
    /// own attribute value limit when that is lower (so that the span
    /// limits never cut a JSON document in the middle).
    fn limit(c: &Capture, span_limit: Option<usize>) -> usize {
        span_limit.map_or(c.max_bytes, |l| l.min(c.max_bytes))
    }

    /// Plain text, scrubbed and cut to the lower of this capture's limit
    /// and `span_limit`; `None` when capture is off.
    pub(crate) fn text(&self, text: &str, span_limit: Option<usize>) -> Option<String> {
        let c = self.0.as_ref()?;
        Some(privacy::prepare_text(
            text,
            &c.scrubbers,
            Self::limit(c, span_limit),
        ))
    }

    /// Content that may be JSON (tool arguments and results), scrubbed and
    /// cut so that JSON stays JSON; `None` when capture is off.
    pub(crate) fn json_or_text(&self, content: &str, span_limit: Option<usize>) -> Option<String> {
        let c = self.0.as_ref()?;
        Some(privacy::prepare_content(
            content,
            &c.scrubbers,
            Self::limit(c, span_limit),
        ))
    }

    /// A JSON document built from scrubbed parts, cut to the limit.
    pub(crate) fn fit_json(&self, json: String, span_limit: Option<usize>) -> String {
        match &self.0 {
            Some(c) if json.len() > Self::limit(c, span_limit) => {
                truncate_json(&json, Self::limit(c, span_limit)).into_owned()
            }
            _ => json,
        }
    }
}

/// Who wrote a message, as the conventions' message schemas name roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// The schema's name: `system`, `user`, `assistant` or `tool`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message sent to the model: its role and its text, which is
/// [`Sensitive`] (its `Debug` never shows it). Recorded, when content
/// capture is on, as `{"role":..,"parts":[{"type":"text","content":..}]}`.
///
/// ```
/// use agent_trace_genai::Message;
///
/// let m = Message::user("my e-mail is ana@example.com");
/// assert_eq!(format!("{m:?}"), "Message { role: User, content: Sensitive(<redacted>) }");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: SensitiveText<'a>,
}

impl<'a> Message<'a> {
    /// A message with this role.
    pub fn new(role: Role, content: impl Into<SensitiveText<'a>>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<SensitiveText<'a>>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<SensitiveText<'a>>) -> Self {
        Self::new(Role::User, content)
    }

    /// A message the model wrote earlier in the conversation.
    pub fn assistant(content: impl Into<SensitiveText<'a>>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A tool's result, sent back to the model.
    pub fn tool(content: impl Into<SensitiveText<'a>>) -> Self {
        Self::new(Role::Tool, content)
    }
}

/// One response (choice) of the model: its [`Sensitive`] text and why
/// generation stopped. Recorded, when content capture is on, as an
/// `assistant` message with a text part and its `finish_reason`, which the
/// output schema requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputMessage<'a> {
    /// The text.
    pub content: SensitiveText<'a>,
    /// Why generation stopped; see
    /// [`semconv::finish_reason`](crate::semconv::finish_reason).
    pub finish_reason: &'a str,
}

impl<'a> OutputMessage<'a> {
    /// A response and its finish reason.
    pub fn new(content: impl Into<SensitiveText<'a>>, finish_reason: &'a str) -> Self {
        Self {
            content: content.into(),
            finish_reason,
        }
    }
}

/// One memory record stored or retrieved by a memory operation, in the
/// conventions' memory records schema: its [`Sensitive`] content, and
/// optionally its id and relevance score.
///
/// ```
/// use agent_trace_genai::MemoryRecord;
///
/// let record = MemoryRecord::new("User prefers dark mode").id("mem_123").score(0.95);
/// assert_eq!(format!("{:?}", record.content), "Sensitive(<redacted>)");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryRecord<'a> {
    /// The record's id, when known.
    pub id: Option<&'a str>,
    /// What the record holds.
    pub content: SensitiveText<'a>,
    /// Its relevance score, for a search result.
    pub score: Option<f64>,
}

impl<'a> MemoryRecord<'a> {
    /// A record with this content.
    pub fn new(content: impl Into<SensitiveText<'a>>) -> Self {
        Self {
            id: None,
            content: content.into(),
            score: None,
        }
    }

    /// Its id.
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Its relevance score.
    pub fn score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }
}

/// One document a retrieval returned: its id and relevance score, as the
/// conventions' retrieval documents schema has them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetrievedDocument<'a> {
    /// The document's id.
    pub id: &'a str,
    /// Its relevance score.
    pub score: Option<f64>,
}

impl<'a> RetrievedDocument<'a> {
    /// A document and its score.
    pub const fn new(id: &'a str, score: f64) -> Self {
        Self {
            id,
            score: Some(score),
        }
    }
}

/// The scrubbed text of a sensitive value.
fn scrubbed<'a>(scrubbers: &ScrubberChain, text: &'a Sensitive<Cow<'_, str>>) -> Cow<'a, str> {
    scrubbers.scrub(text.expose())
}

/// Appends one message of the conventions' input or output schema: a role,
/// one text part, and the finish reason (output messages only).
pub(crate) fn push_message(json: &mut String, role: Role, text: &str, finish_reason: Option<&str>) {
    json.push_str(r#"{"role":"#);
    push_json_string(json, role.as_str());
    json.push_str(r#","parts":[{"type":"text","content":"#);
    push_json_string(json, text);
    json.push_str("}]");
    if let Some(reason) = finish_reason {
        json.push_str(r#","finish_reason":"#);
        push_json_string(json, reason);
    }
    json.push('}');
}

/// Appends a finite score as a JSON number (non-finite scores are left
/// out: JSON has no NaN).
fn push_score(json: &mut String, score: Option<f64>) {
    if let Some(score) = score.filter(|s| s.is_finite()) {
        json.push_str(r#","score":"#);
        json.push_str(&score.to_string());
    }
}

pub(crate) fn input_messages_json(scrubbers: &ScrubberChain, messages: &[Message<'_>]) -> String {
    let mut json = String::from("[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_message(&mut json, m.role, &scrubbed(scrubbers, &m.content), None);
    }
    json.push(']');
    json
}

pub(crate) fn output_messages_json(
    scrubbers: &ScrubberChain,
    messages: &[OutputMessage<'_>],
) -> String {
    let mut json = String::from("[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_message(
            &mut json,
            Role::Assistant,
            &scrubbed(scrubbers, &m.content),
            Some(m.finish_reason),
        );
    }
    json.push(']');
    json
}

/// `[{"type":"text","content":..}]`, the system instructions schema.
pub(crate) fn system_instructions_json(
    scrubbers: &ScrubberChain,
    instructions: &SensitiveText<'_>,
) -> String {
    let mut json = String::from(r#"[{"type":"text","content":"#);
    push_json_string(&mut json, &scrubbed(scrubbers, instructions));
    json.push_str("}]");
    json
}

pub(crate) fn memory_records_json(
    scrubbers: &ScrubberChain,
    records: &[MemoryRecord<'_>],
) -> String {
    let mut json = String::from("[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(r#"{"content":"#);
        push_json_string(&mut json, &scrubbed(scrubbers, &r.content));
        if let Some(id) = r.id {
            json.push_str(r#","id":"#);
            push_json_string(&mut json, id);
        }
        push_score(&mut json, r.score);
        json.push('}');
    }
    json.push(']');
    json
}

pub(crate) fn documents_json(documents: &[RetrievedDocument<'_>]) -> String {
    let mut json = String::from("[");
    for (i, d) in documents.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(r#"{"id":"#);
        push_json_string(&mut json, d.id);
        push_score(&mut json, d.score);
        json.push('}');
    }
    json.push(']');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_the_schemas() {
        let mut json = String::new();
        push_message(&mut json, Role::User, "hi", None);
        assert_eq!(
            json,
            r#"{"role":"user","parts":[{"type":"text","content":"hi"}]}"#
        );
        json.clear();
        push_message(&mut json, Role::Assistant, "yo", Some("stop"));
        assert_eq!(
            json,
            r#"{"role":"assistant","parts":[{"type":"text","content":"yo"}],"finish_reason":"stop"}"#
        );
    }

    #[test]
    fn records_and_documents_follow_the_schemas() {
        let chain = ScrubberChain::empty();
        assert_eq!(
            memory_records_json(
                &chain,
                &[
                    MemoryRecord::new("dark mode").id("m1").score(0.5),
                    MemoryRecord::new("x").score(f64::NAN),
                ]
            ),
            r#"[{"content":"dark mode","id":"m1","score":0.5},{"content":"x"}]"#
        );
        assert_eq!(
            documents_json(&[RetrievedDocument::new("d1", 0.25)]),
            r#"[{"id":"d1","score":0.25}]"#
        );
        assert_eq!(
            system_instructions_json(&chain, &"be brief".into()),
            r#"[{"type":"text","content":"be brief"}]"#
        );
    }

    #[test]
    fn the_environment_value_is_read_as_documented() {
        for on in ["true", "TRUE", " True ", "span_only", "SPAN_AND_EVENT"] {
            assert!(
                ContentCapture::from_env_value(Some(on)).is_enabled(),
                "{on}"
            );
        }
        for off in ["", "false", "1", "yes", "no_content", "event_only"] {
            assert!(
                !ContentCapture::from_env_value(Some(off)).is_enabled(),
                "{off}"
            );
        }
        assert!(!ContentCapture::from_env_value(None).is_enabled());
    }
}
