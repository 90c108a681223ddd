//! The cost of LLM calls, computed in the library: a price table, a ledger
//! that sums costs per agent, conversation and tool, budgets with crossing
//! callbacks, and the cost metrics.
//!
//! # Quick start
//!
//! ```
//! use agent_trace_genai::cost::{CallAttribution, CostLedger, TokenUsage};
//!
//! let ledger = CostLedger::default(); // or the global `agent_trace_genai::cost::cost_ledger()`
//! let usage = TokenUsage { input: 1_200, cache_read_input: 1_000, output: 300, ..Default::default() };
//! let who = CallAttribution { agent: Some("researcher"), conversation: Some("conv-1"), tool: None };
//! let cost = ledger.price_call("openai", "gpt-4o-2024-08-06", &usage, &who)?;
//! // Built-in gpt-4o prices (USD per million tokens): input 2.50, cached input 1.25, output 10.00.
//! let expected = (200.0 * 2.50 + 1_000.0 * 1.25 + 300.0 * 10.00) / 1e6;
//! assert!((cost.amount - expected).abs() < 1e-12);
//! assert_eq!(cost.currency.as_str(), "USD");
//!
//! assert!(ledger.price_call("acme", "unknown-model", &usage, &who).is_err());
//! assert_eq!(ledger.unpriced_calls(), 1);
//! let agent = ledger.agent("researcher").expect("attributed");
//! assert_eq!((agent.priced_calls(), agent.unpriced_calls()), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a call is priced
//!
//! [`TokenUsage`] follows the OpenTelemetry GenAI semantic conventions:
//! `gen_ai.usage.input_tokens` "SHOULD include all types of input tokens,
//! including cached tokens", and `gen_ai.usage.cache_read.input_tokens` and
//! `gen_ai.usage.cache_creation.input_tokens` "SHOULD be included in
//! `gen_ai.usage.input_tokens`"; `gen_ai.usage.reasoning.output_tokens`
//! "SHOULD be included in `gen_ai.usage.output_tokens`". So each token is
//! priced once, by kind, per million tokens ([`ModelPrice::cost`]):
//!
//! ```text
//! (input - cache_read - cache_creation) * input        + cache_read * cached_input
//!                                                      + cache_creation * cache_write
//! (output - reasoning)                  * output       + reasoning * reasoning
//! ```
//!
//! where a kind without a price of its own takes the price of the total it
//! is part of (cached input and cache writes the input price, reasoning the
//! output price), which never prices a call below the provider's bill.
//!
//! A model the table does not price is **unpriced**: [`Unpriced`] is
//! returned, the call is counted per provider and model
//! ([`CostLedger::unpriced`], [`UNPRICED_CALLS_TOTAL`]) and per agent,
//! conversation and tool ([`Spend::unpriced_calls`]), and it adds nothing to
//! any sum: a missing price is never a silent zero.
//!
//! # Where costs go
//!
//! [`CostLedger::price_call`] (which the [GenAI helpers](crate)
//! call when an LLM span ends, and then set [`COST_ATTRIBUTE`] and
//! [`CURRENCY_ATTRIBUTE`] on the span):
//!
//! - adds the cost to the ledger's total and to the sums of the call's
//!   agent, conversation and tool ([`CostLedger::by_agent`],
//!   [`CostLedger::conversation`], ...), per currency;
//! - adds it to the [`COST_TOTAL`] counter (`agent_trace_cost_total`,
//!   labels `currency`, `provider` and `model`, the model as named in the
//!   price table so that the labels are bounded by the table) through the
//!   `metrics` facade;
//! - adds it to the matching [`Budget`]s and fires the budget callback on
//!   a crossing or a recovery.
//!
//! # Bounded memory
//!
//! Each sum is keyed by a name the application chooses, so each dimension
//! is capped ([`CostLedgerBuilder::max_keys`], 1,000 agents, tools and
//! unpriced models; [`CostLedgerBuilder::max_conversations`], 10,000):
//! calls with a name beyond the cap are summed under [`OVERFLOW_KEY`]
//! (`"other"`) and counted ([`CostLedger::overflowed`]), never dropped. A
//! finished conversation can be taken out of the ledger with
//! [`CostLedger::end_conversation`], which frees its place. An entry takes
//! about 100 bytes plus its name.
//!
//! # Budgets
//!
//! A [`Budget`] limits the spend, in one currency, of the total or of one
//! agent, conversation or tool, over all time or over a trailing
//! [`Window`](agent_trace_metrics::Window). The callback set with
//! [`CostLedgerBuilder::on_budget`] (or [`CostLedger::set_budget_callback`])
//! hears [`BudgetEvent::Crossed`] when the spend goes above the limit and
//! [`BudgetEvent::Recovered`] when it is back at or below it (a windowed budget
//! whose expensive calls have left the window), once per change, as the latency
//! thresholds of [`LatencyMetrics`](agent_trace_metrics::LatencyMetrics) do.
//! See the `budget` docs on [`Budget`] for when budgets are evaluated.
//!
//! # Prometheus
//!
//! The `metrics` facade has integer counters only, so [`COST_TOTAL`] is
//! recorded as a gauge that only ever goes up (`increment` by the cost);
//! the project's `PrometheusRecorder` (feature `prometheus`) renders it as
//! a Prometheus counter (`# TYPE agent_trace_cost_total counter`), since it
//! is one. [`UNPRICED_CALLS_TOTAL`] is an ordinary counter.
//!
//! # Performance
//!
//! Pricing a call is a look-up in two small hash maps (no allocation), then
//! one lock of the ledger for the sums (allocating only for a name seen for
//! the first time), and an increment of [`COST_TOTAL`] through a handle
//! the thread keeps per label set (registering the series by name each
//! time cost more than all the rest; see the `handles` module for
//! when a handle is not kept). The sums' maps use a fast hasher with a
//! random seed. Measured with callgrind on the agent workload bench: about
//! 2,300 instructions per priced call, under a microsecond; an LLM call
//! takes hundreds of milliseconds.

mod budget;
mod ledger;
mod table;

use std::fmt;
use std::path::PathBuf;

pub use agent_trace_metrics::{COST_TOTAL, UNPRICED_CALLS_TOTAL};
pub use budget::{Budget, BudgetEvent, BudgetScope, BudgetViolation};
pub use ledger::{CostLedger, CostLedgerBuilder, OVERFLOW_KEY, Overflowed, Spend, UnpricedCalls};
pub use table::{BUILTIN_PRICES_AS_OF, ModelPrice, PriceTable, TableFormat};

/// The span attribute that carries the cost of an LLM call, an `f64` in
/// units of [`CURRENCY_ATTRIBUTE`] (dollars, not cents).
pub const COST_ATTRIBUTE: &str = "agent_trace.cost";
/// The span attribute that carries the currency of [`COST_ATTRIBUTE`], an
/// ISO 4217 code such as `"USD"`.
pub const CURRENCY_ATTRIBUTE: &str = "agent_trace.cost.currency";

/// The ledger of the process, which the [GenAI helpers](crate)
/// price LLM calls into; it starts with [`PriceTable::builtin`] and no
/// budgets.
///
/// ```
/// use agent_trace_genai::cost::{CallAttribution, TokenUsage, cost_ledger};
///
/// let usage = TokenUsage { input: 100, output: 20, ..Default::default() };
/// let cost = cost_ledger().price_call("anthropic", "claude-sonnet-4-20250514", &usage, &CallAttribution::default())?;
/// assert!(cost.amount > 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cost_ledger() -> &'static CostLedger {
    static LEDGER: std::sync::OnceLock<CostLedger> = std::sync::OnceLock::new();
    LEDGER.get_or_init(CostLedger::default)
}

/// The tokens one LLM call used, as the OpenTelemetry GenAI conventions
/// count them.
///
/// The cache counts are *part of* `input` and the reasoning count is *part
/// of* `output`. Providers report differently, so map them:
///
/// - OpenAI: `input` = `prompt_tokens` (or `input_tokens`),
///   `cache_read_input` = `prompt_tokens_details.cached_tokens`, `output` =
///   `completion_tokens`, `reasoning_output` =
///   `completion_tokens_details.reasoning_tokens`.
/// - Anthropic, whose `input_tokens` *excludes* the cache: `input` =
///   `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`.
/// - Gemini, whose `candidatesTokenCount` *excludes* the thoughts: `output`
///   = `candidatesTokenCount + thoughtsTokenCount`, `reasoning_output` =
///   `thoughtsTokenCount`, `cache_read_input` = `cachedContentTokenCount`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TokenUsage {
    /// All input tokens, the cached ones included
    /// (`gen_ai.usage.input_tokens`).
    pub input: u64,
    /// All output tokens, the reasoning ones included
    /// (`gen_ai.usage.output_tokens`).
    pub output: u64,
    /// Input tokens read from the provider's cache, part of `input`
    /// (`gen_ai.usage.cache_read.input_tokens`).
    pub cache_read_input: u64,
    /// Input tokens written to the provider's cache, part of `input`
    /// (`gen_ai.usage.cache_creation.input_tokens`).
    pub cache_creation_input: u64,
    /// Output tokens spent on reasoning, part of `output`
    /// (`gen_ai.usage.reasoning.output_tokens`).
    pub reasoning_output: u64,
}

/// Whom an LLM call's cost is summed for; each name is optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallAttribution<'a> {
    /// The agent that made the call (`gen_ai.agent.name` or
    /// `gen_ai.agent.id`).
    pub agent: Option<&'a str>,
    /// The conversation the call belongs to (`gen_ai.conversation.id`).
    pub conversation: Option<&'a str>,
    /// The tool on whose behalf the call was made (`gen_ai.tool.name`), for
    /// a tool that calls a model itself.
    pub tool: Option<&'a str>,
}

/// An ISO 4217 currency code: three ASCII capital letters, checked once.
///
/// ```
/// use agent_trace_genai::cost::Currency;
///
/// assert_eq!(Currency::new("EUR")?.as_str(), "EUR");
/// assert_eq!(Currency::USD.to_string(), "USD");
/// assert!(Currency::new("usd").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// United States dollars, the currency of [`PriceTable::builtin`].
    pub const USD: Currency = Currency(*b"USD");

    /// The currency of `code`.
    ///
    /// # Errors
    ///
    /// [`CostError::InvalidCurrency`] unless `code` is three ASCII capital
    /// letters.
    pub fn new(code: &str) -> Result<Self, CostError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(CostError::InvalidCurrency {
                code: code.to_owned(),
            }),
        }
    }

    /// The code, such as `"USD"`.
    pub fn as_str(&self) -> &str {
        // Three ASCII capitals by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// The amount, in units of `currency` (dollars, not cents); finite and
    /// not negative when it comes from a price table.
    pub amount: f64,
    /// The currency.
    pub currency: Currency,
}

/// Shows `0.0125 USD`.
impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// A call whose model the price table does not price. It is counted as
/// unpriced, never priced as zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no price for model {model:?} of provider {provider:?}")]
pub struct Unpriced {
    /// The provider, as given.
    pub provider: String,
    /// The model, as given.
    pub model: String,
}

/// What can go wrong with price tables and budgets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CostError {
    /// A price (per million tokens) that is negative, NaN or infinite.
    #[error("a price must be a finite number, 0 or more; found {price}")]
    InvalidPrice {
        /// The price refused.
        price: f64,
    },
    /// A budget limit that is negative, NaN or infinite.
    #[error("a budget limit must be a finite number, 0 or more; found {limit}")]
    InvalidLimit {
        /// The limit refused.
        limit: f64,
    },
    /// A currency code that is not three ASCII capital letters.
    #[error("invalid currency code {code:?}: expected three capital letters such as \"USD\"")]
    InvalidCurrency {
        /// The code refused.
        code: String,
    },
    /// A price table file whose name ends neither in `.toml` nor in
    /// `.json`.
    #[error("price table {path:?} must be a .toml or a .json file")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A TOML price table (a `.toml` file given to [`PriceTable::load`], or
    /// [`TableFormat::Toml`] text given to [`PriceTable::parse`]) in a build
    /// without TOML: reading TOML needs the feature `toml` of `agent-trace`
    /// (or of `agent-trace-genai`, for a direct dependency), off by default.
    /// Never returned with the feature on. JSON needs no feature.
    #[error("{}", toml_not_enabled(.path))]
    TomlNotEnabled {
        /// The file, for [`PriceTable::load`]; `None` for text.
        path: Option<PathBuf>,
    },
    /// A price table file that cannot be read.
    #[error("cannot read price table {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A price table whose text is not valid: a syntax error, a missing or
    /// unknown field, a bad price or currency, a model listed twice. The
    /// parser's message is kept, with its position and the field as typed
    /// fields rather than as text.
    #[error(
        "invalid {format} price table at line {line}, column {column}, field `{field}`: {message}"
    )]
    Parse {
        /// TOML or JSON.
        format: TableFormat,
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, from 1.
        column: usize,
        /// The path of the field, such as `models.openai.gpt-4o.input`;
        /// `.` for the document itself.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The message of [`CostError::TomlNotEnabled`]: it names the facade's
/// feature, the one an application turns on.
fn toml_not_enabled(path: &Option<PathBuf>) -> String {
    let table = match path {
        Some(path) => format!("price table {path:?} is"),
        None => "the price table is".to_owned(),
    };
    format!(
        "{table} TOML, which needs the feature `toml` of `agent-trace` (off by default): \
         turn it on, or give the table as JSON"
    )
}
