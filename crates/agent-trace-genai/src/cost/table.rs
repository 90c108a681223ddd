//! Price tables: prices per provider and model, read from JSON (or TOML,
//! feature `toml`).

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{Cost, CostError, Currency, TokenUsage, Unpriced};
use crate::handles::FastState;

/// The prices of one provider's models, by model.
type Models = HashMap<String, ModelPrice, FastState>;

/// The date on which the prices of [`PriceTable::builtin`] were the list
/// prices published by the providers.
pub const BUILTIN_PRICES_AS_OF: &str = "2025-07-01";

/// The built-in table, as text: the same format as a file given to
/// [`PriceTable::load`]. JSON, so that it needs no optional parser;
/// `builtin_prices.toml` is the same table with comments, kept equal by a
/// test (feature `toml`).
const BUILTIN_PRICES: &str = include_str!("builtin_prices.json");

/// The format of a price table's text.
///
/// Both formats exist in every build; parsing TOML needs the feature
/// `toml` (else [`CostError::TomlNotEnabled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableFormat {
    /// TOML (files ending in `.toml`); parsed with the feature `toml`
    /// only.
    Toml,
    /// JSON (files ending in `.json`).
    Json,
}

impl fmt::Display for TableFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableFormat::Toml => "TOML",
            TableFormat::Json => "JSON",
        })
    }
}

/// Checks that a price per million tokens can price anything: finite and
/// not negative.
fn check_price(price: f64) -> Result<f64, CostError> {
    if price.is_finite() && price >= 0.0 {
        Ok(price)
    } else {
        Err(CostError::InvalidPrice { price })
    }
}

/// The prices of one model, per million tokens, in the currency of the
/// [`PriceTable`] that holds them.
///
/// Only the input and output prices are required. A token kind without a
/// price of its own is priced as the kind it is part of: cached input
/// (read from, or written to, the provider's cache) as input, reasoning
/// output as output. That never prices a call below what the provider
/// bills for it, only above when a discount is not in the table.
///
/// ```
/// use agent_trace_genai::cost::{ModelPrice, TokenUsage};
///
/// // USD per million tokens: gpt-4o's list prices on 2025-07-01.
/// let price = ModelPrice::new(2.50, 10.00)?.with_cached_input(1.25)?;
/// let usage = TokenUsage { input: 1_000, cache_read_input: 400, output: 200, ..Default::default() };
/// // 600 uncached input tokens at 2.50, 400 cached at 1.25, 200 output at 10.00.
/// let expected = (600.0 * 2.50 + 400.0 * 1.25 + 200.0 * 10.00) / 1e6;
/// assert!((price.cost(&usage) - expected).abs() < 1e-15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    input: f64,
    output: f64,
    cached_input: Option<f64>,
    cache_write: Option<f64>,
    reasoning: Option<f64>,
}

impl ModelPrice {
    /// A model priced at `input` per million input tokens and `output` per
    /// million output tokens.
    ///
    /// # Errors
    ///
    /// [`CostError::InvalidPrice`] for a negative, NaN or infinite price.
    pub fn new(input: f64, output: f64) -> Result<Self, CostError> {
        Ok(Self {
            input: check_price(input)?,
            output: check_price(output)?,
            cached_input: None,
            cache_write: None,
            reasoning: None,
        })
    }

    /// Sets the price of input tokens read from the provider's cache
    /// (`cache_read_input`); the input price otherwise.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_cached_input(mut self, price: f64) -> Result<Self, CostError> {
        self.cached_input = Some(check_price(price)?);
        Ok(self)
    }

    /// Sets the price of input tokens written to the provider's cache
    /// (`cache_creation_input`); the input price otherwise.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_cache_write(mut self, price: f64) -> Result<Self, CostError> {
        self.cache_write = Some(check_price(price)?);
        Ok(self)
    }

    /// Sets the price of reasoning output tokens (`reasoning_output`); the
    /// output price otherwise.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_reasoning(mut self, price: f64) -> Result<Self, CostError> {
        self.reasoning = Some(check_price(price)?);
        Ok(self)
    }

    /// The price per million input tokens (uncached).
    pub fn input(&self) -> f64 {
        self.input
    }

    /// The price per million output tokens (other than reasoning).
    pub fn output(&self) -> f64 {
        self.output
    }

    /// The price per million input tokens read from the cache: its own if
    /// set, else the input price.
    pub fn cached_input(&self) -> f64 {
        self.cached_input.unwrap_or(self.input)
    }

    /// The price per million input tokens written to the cache: its own if
    /// set, else the input price.
    pub fn cache_write(&self) -> f64 {
        self.cache_write.unwrap_or(self.input)
    }

    /// The price per million reasoning tokens: its own if set, else the
    /// output price.
    pub fn reasoning(&self) -> f64 {
        self.reasoning.unwrap_or(self.output)
    }

    /// The cost of `usage` at these prices, in the table's currency.
    ///
    /// `usage` follows the OpenTelemetry GenAI conventions: `input`
    /// includes both cache counts and `output` includes the reasoning
    /// tokens (see [`TokenUsage`]). So:
    ///
    /// ```text
    /// cost = ( (input - cache_read_input - cache_creation_input) * input price
    ///        + cache_read_input                                  * cached-input price
    ///        + cache_creation_input                              * cache-write price
    ///        + (output - reasoning_output)                       * output price
    ///        + reasoning_output                                  * reasoning price ) / 1e6
    /// ```
    ///
    /// Every token is priced once. A part larger than the total it belongs
    /// to (cache counts above `input`, reasoning above `output`: usage
    /// reported with the parts *outside* the totals) is priced as given,
    /// and the rest of that total as zero, not negative.
    pub fn cost(&self, usage: &TokenUsage) -> f64 {
        let uncached = usage
            .input
            .saturating_sub(usage.cache_read_input)
            .saturating_sub(usage.cache_creation_input);
        let plain_output = usage.output.saturating_sub(usage.reasoning_output);
        // Token counts below 2^53 convert exactly; beyond that no bill is
        // precise to the token anyway.
        let per_million = uncached as f64 * self.input
            + usage.cache_read_input as f64 * self.cached_input()
            + usage.cache_creation_input as f64 * self.cache_write()
            + plain_output as f64 * self.output
            + usage.reasoning_output as f64 * self.reasoning();
        per_million / 1e6
    }
}

/// Prices per provider and model, in one currency.
///
/// Providers are named as in `gen_ai.provider.name` (`openai`,
/// `anthropic`, `gcp.gemini`, `aws.bedrock`, `azure.ai.openai`, ...: see
/// [`semconv::provider_name`](crate::semconv::provider_name)); models as
/// the provider names them. A look-up ([`get`](Self::get)) tries the model
/// as given, then without a date suffix: `gpt-4o-2024-08-06`,
/// `claude-sonnet-4-20250514` and `claude-3-5-sonnet-v2@20241022` find
/// `gpt-4o`, `claude-sonnet-4` and `claude-3-5-sonnet-v2`. Names are
/// compared exactly (case matters).
///
/// # File format
///
/// JSON, or the same structure in TOML (feature `toml`, off by default);
/// prices per million tokens:
///
/// ```json
/// {
///   "currency": "USD",
///   "as_of": "2025-07-01",
///   "source": "provider pricing pages",
///   "models": {
///     "openai": {
///       "gpt-4o": { "input": 2.50, "output": 10.00, "cached_input": 1.25 }
///     },
///     "anthropic": {
///       "claude-sonnet-4": { "input": 3.00, "output": 15.00, "cached_input": 0.30, "cache_write": 3.75 }
///     }
///   }
/// }
/// ```
///
/// `currency` (an ISO 4217 code) is required, `as_of` (when the prices
/// were read) and `source` are optional. Under `models`, providers, then
/// models: `input` and `output` are required; `cached_input` (cache reads)
/// and `cache_write` default to the input price, `reasoning` to the output
/// price. In TOML:
///
/// ```toml
/// currency = "USD"                 # required: ISO 4217 code
/// as_of = "2025-07-01"             # optional: when the prices were read
/// source = "provider pricing pages" # optional
///
/// [models.openai."gpt-4o"]         # provider, then model
/// input = 2.50                     # required
/// output = 10.00                   # required
/// cached_input = 1.25              # optional; input price if absent
///
/// [models.anthropic."claude-sonnet-4"]
/// input = 3.00
/// output = 15.00
/// cached_input = 0.30              # cache reads
/// cache_write = 3.75               # optional; input price if absent
/// # reasoning = ...                # optional; output price if absent
/// ```
///
/// Unknown keys, prices that are negative, NaN or infinite, a currency
/// that is not three capital letters and (in JSON) a provider or model
/// listed twice are errors that name the line, column and field
/// ([`CostError::Parse`]).
///
/// # Example
///
/// ```
/// use agent_trace_genai::cost::{Currency, ModelPrice, PriceTable, TokenUsage};
///
/// let table = PriceTable::from_json(r#"{
///     "currency": "EUR",
///     "models": { "acme": { "acme-large": { "input": 1.0, "output": 2.0 } } }
/// }"#)?;
/// assert_eq!(table.currency(), Currency::new("EUR")?);
/// let usage = TokenUsage { input: 2_000_000, output: 1_000_000, ..Default::default() };
/// let cost = table.price("acme", "acme-large-2025-01-31", &usage)?;
/// assert_eq!(cost.amount, 4.0);
/// assert!(table.price("acme", "acme-small", &usage).is_err());
///
/// // Built in code instead:
/// let table = PriceTable::new(Currency::USD)
///     .with_price("acme", "acme-large", ModelPrice::new(1.0, 2.0)?);
/// assert_eq!(table.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    currency: Currency,
    as_of: Option<String>,
    source: Option<String>,
    /// By provider, then by model: looked up with `&str`s, no allocation,
    /// and with a fast hasher: a priced call looks up two or three keys,
    /// which cost about 260 instructions each with SipHash (callgrind, the
    /// agent workload bench).
    models: HashMap<String, Models, FastState>,
}

impl PriceTable {
    /// An empty table in `currency`: every model unpriced.
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            as_of: None,
            source: None,
            models: HashMap::default(),
        }
    }

    /// A small table of well-known models' list prices, in US dollars per
    /// million tokens, as published by the providers on
    /// [`BUILTIN_PRICES_AS_OF`] (2025-07-01): OpenAI (GPT-4o, GPT-4.1, o1,
    /// o3, o3-mini, o4-mini, embeddings), Anthropic (Claude 3 Haiku to
    /// Claude Opus 4), Google Gemini (`gcp.gemini`: 2.0 Flash, 2.5 Flash,
    /// 2.5 Pro at its prompts-up-to-200k tier) and DeepSeek.
    ///
    /// **Prices change and these may be stale.** They are standard-tier
    /// list prices: no batch, priority or regional rates, no long-context
    /// tiers, no cache storage fees, no negotiated discounts. Override them
    /// with a table of your own: [`PriceTable::load`] a file in the format
    /// above (the built-in one is `src/cost/builtin_prices.json` of this
    /// crate, a starting point to copy; `builtin_prices.toml` beside it is
    /// the same table in TOML, with the reasons for its rates), or add
    /// entries with
    /// [`with_price`](Self::with_price), then
    /// [`CostLedger::set_price_table`](super::CostLedger::set_price_table).
    ///
    /// ```
    /// use agent_trace_genai::cost::{BUILTIN_PRICES_AS_OF, PriceTable};
    ///
    /// let table = PriceTable::builtin();
    /// assert_eq!(table.as_of(), Some(BUILTIN_PRICES_AS_OF));
    /// assert!(table.get("openai", "gpt-4o-2024-08-06").is_some());
    /// ```
    pub fn builtin() -> PriceTable {
        static BUILTIN: OnceLock<PriceTable> = OnceLock::new();
        BUILTIN
            .get_or_init(|| match PriceTable::from_json(BUILTIN_PRICES) {
                Ok(table) => table,
                // The embedded text is a constant, parsed by a test.
                Err(e) => unreachable!("the built-in price table does not parse: {e}"),
            })
            .clone()
    }

    /// Reads a table from a file: JSON if its name ends in `.json`, TOML if
    /// in `.toml` (either case; TOML needs the feature `toml`).
    ///
    /// # Errors
    ///
    /// [`CostError::UnknownFormat`] for another extension,
    /// [`CostError::TomlNotEnabled`] for a `.toml` file without the feature
    /// `toml` (before reading it), [`CostError::Read`] when the file cannot
    /// be read, and
    /// [`CostError::Parse`] (with line, column and field) when its text is
    /// not a valid table.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CostError> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match extension.as_deref() {
            Some("toml") => TableFormat::Toml,
            Some("json") => TableFormat::Json,
            _ => {
                return Err(CostError::UnknownFormat {
                    path: path.to_owned(),
                });
            }
        };
        if format == TableFormat::Toml && !cfg!(feature = "toml") {
            return Err(CostError::TomlNotEnabled {
                path: Some(path.to_owned()),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| CostError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, format)
    }

    /// Parses a table from TOML text (feature `toml`).
    ///
    /// ```
    /// use agent_trace_genai::cost::PriceTable;
    ///
    /// let table = PriceTable::from_toml(r#"
    ///     currency = "EUR"
    ///     [models.acme."acme-large"]
    ///     input = 1.0
    ///     output = 2.0
    /// "#)?;
    /// assert_eq!(table.get("acme", "acme-large").map(|p| p.output()), Some(2.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CostError::Parse`], as [`load`](Self::load).
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Self, CostError> {
        Self::parse(text, TableFormat::Toml)
    }

    /// Parses a table from JSON text.
    ///
    /// # Errors
    ///
    /// [`CostError::Parse`], as [`load`](Self::load).
    pub fn from_json(text: &str) -> Result<Self, CostError> {
        Self::parse(text, TableFormat::Json)
    }

    /// Parses a table from text in `format`.
    ///
    /// # Errors
    ///
    /// [`CostError::Parse`], as [`load`](Self::load), and
    /// [`CostError::TomlNotEnabled`] for [`TableFormat::Toml`] without the
    /// feature `toml`.
    pub fn parse(text: &str, format: TableFormat) -> Result<Self, CostError> {
        let file: TableFile = match format {
            #[cfg(feature = "toml")]
            TableFormat::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, e, "."))?;
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let field = e.path().to_string();
                    toml_error(text, e.into_inner(), &field)
                })?
            }
            #[cfg(not(feature = "toml"))]
            TableFormat::Toml => return Err(CostError::TomlNotEnabled { path: None }),
            TableFormat::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                let file = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let field = e.path().to_string();
                    json_error(e.into_inner(), field)
                })?;
                de.end().map_err(|e| json_error(e, ".".to_owned()))?;
                file
            }
        };
        let models = file
            .models
            .0
            .into_iter()
            .map(|(provider, models)| {
                let models = models.0.into_iter().map(|(m, p)| (m, p.into_price()));
                (provider, models.collect())
            })
            .collect();
        Ok(Self {
            currency: file.currency,
            as_of: file.as_of,
            source: file.source,
            models,
        })
    }

    /// Adds (or replaces) the price of `model` of `provider`.
    pub fn with_price(mut self, provider: &str, model: &str, price: ModelPrice) -> Self {
        self.insert(provider, model, price);
        self
    }

    /// Adds (or replaces) the price of `model` of `provider`, returning the
    /// price it replaces.
    pub fn insert(&mut self, provider: &str, model: &str, price: ModelPrice) -> Option<ModelPrice> {
        self.models
            .entry(provider.to_owned())
            .or_default()
            .insert(model.to_owned(), price)
    }

    /// Sets when the prices were read (free text, such as `"2025-07-01"`).
    pub fn with_as_of(mut self, as_of: impl Into<String>) -> Self {
        self.as_of = Some(as_of.into());
        self
    }

    /// The currency of every price in the table.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// When the prices were read, if the table says.
    pub fn as_of(&self) -> Option<&str> {
        self.as_of.as_deref()
    }

    /// Where the prices come from, if the table says.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// How many models the table prices.
    pub fn len(&self) -> usize {
        self.models.values().map(Models::len).sum()
    }

    /// Whether the table prices no model at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `(provider, model, price)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &ModelPrice)> + '_ {
        self.models.iter().flat_map(|(provider, models)| {
            models
                .iter()
                .map(move |(model, price)| (provider.as_str(), model.as_str(), price))
        })
    }

    /// The price of `model` of `provider`: the entry named exactly so, else
    /// the one named without a date suffix (`-2024-08-06`, `-20241022`,
    /// `@20241022`).
    pub fn get(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        self.entry(provider, model).map(|(_, price)| price)
    }

    /// As [`get`](Self::get), with the name of the entry found.
    pub(crate) fn entry(&self, provider: &str, model: &str) -> Option<(&str, &ModelPrice)> {
        let models = self.models.get(provider)?;
        models
            .get_key_value(model)
            .or_else(|| models.get_key_value(strip_date_suffix(model)?))
            .map(|(name, price)| (name.as_str(), price))
    }

    /// The cost of `usage` with `model` of `provider`.
    ///
    /// # Errors
    ///
    /// [`Unpriced`] when the table has no price for the model.
    pub fn price(&self, provider: &str, model: &str, usage: &TokenUsage) -> Result<Cost, Unpriced> {
        match self.get(provider, model) {
            Some(price) => Ok(Cost {
                amount: price.cost(usage),
                currency: self.currency,
            }),
            None => Err(Unpriced {
                provider: provider.to_owned(),
                model: model.to_owned(),
            }),
        }
    }
}

/// `model` without a trailing date: `-YYYY-MM-DD`, `-YYYYMMDD` or
/// `@YYYYMMDD`, with a plausible year, month and day; `None` without one.
fn strip_date_suffix(model: &str) -> Option<&str> {
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    }
    fn date(year: &[u8], month: &[u8], day: &[u8]) -> bool {
        matches!(
            (number(year), number(month), number(day)),
            (Some(2000..=2099), Some(1..=12), Some(1..=31))
        )
    }
    let b = model.as_bytes();
    let n = b.len();
    // Bytes, not chars: a suffix is ASCII, and `get` refuses a cut inside
    // a multi-byte character.
    if n > 11 {
        let t = &b[n - 11..];
        if t[0] == b'-' && t[5] == b'-' && t[8] == b'-' && date(&t[1..5], &t[6..8], &t[9..11]) {
            return model.get(..n - 11);
        }
    }
    if n > 9 {
        let t = &b[n - 9..];
        if (t[0] == b'-' || t[0] == b'@') && date(&t[1..5], &t[5..7], &t[7..9]) {
            return model.get(..n - 9);
        }
    }
    None
}

/// Line and column (both from 1) of byte `offset` in `text`.
#[cfg(feature = "toml")]
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A TOML parser's error as a [`CostError::Parse`], positioned in `text`.
#[cfg(feature = "toml")]
fn toml_error(text: &str, e: toml::de::Error, field: &str) -> CostError {
    let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
    CostError::Parse {
        format: TableFormat::Toml,
        line,
        column,
        field: field.to_owned(),
        message: e.message().to_owned(),
    }
}

fn json_error(e: serde_json::Error, field: String) -> CostError {
    // serde_json appends " at line L column C" to the message; the numbers
    // are kept in their own fields instead.
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
    CostError::Parse {
        format: TableFormat::Json,
        line: e.line(),
        column: e.column(),
        field,
        message,
    }
}

/// The document: see the format in [`PriceTable`]'s docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    currency: Currency,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    models: UniqueMap<UniqueMap<PriceFile>>,
}

/// One model's entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    input: Price,
    output: Price,
    #[serde(default)]
    cached_input: Option<Price>,
    #[serde(default)]
    cache_write: Option<Price>,
    #[serde(default)]
    reasoning: Option<Price>,
}

impl PriceFile {
    fn into_price(self) -> ModelPrice {
        ModelPrice {
            input: self.input.0,
            output: self.output.0,
            cached_input: self.cached_input.map(|p| p.0),
            cache_write: self.cache_write.map(|p| p.0),
            reasoning: self.reasoning.map(|p| p.0),
        }
    }
}

/// A price as read: refused while deserializing, so the error carries the
/// position and the field.
struct Price(f64);

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let price = f64::deserialize(d)?;
        check_price(price).map(Price).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CurrencyVisitor;
        impl Visitor<'_> for CurrencyVisitor {
            type Value = Currency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 4217 currency code such as \"USD\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Currency, E> {
                Currency::new(v).map_err(E::custom)
            }
        }
        d.deserialize_str(CurrencyVisitor)
    }
}

/// A map that refuses a key given twice (JSON allows it, and serde's maps
/// would keep the last value silently; TOML refuses it while parsing).
struct UniqueMap<V>(HashMap<String, V>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = HashMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("{key:?} is listed twice")));
                    }
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_is_the_json_text() {
        let table = PriceTable::builtin();
        assert_eq!(table, PriceTable::from_json(BUILTIN_PRICES).unwrap());
        assert_eq!(table.len(), 22);
        let o3 = table.get("openai", "o3").unwrap();
        assert_eq!(
            (o3.input(), o3.cached_input(), o3.output()),
            (2.0, 0.5, 8.0)
        );
    }

    /// `builtin_prices.toml` is the commented twin of the JSON table that
    /// is compiled in: the same currency, dates, source and prices.
    #[cfg(feature = "toml")]
    #[test]
    fn the_builtin_json_and_toml_tables_are_the_same() {
        let toml = PriceTable::from_toml(include_str!("builtin_prices.toml")).unwrap();
        let json = PriceTable::from_json(BUILTIN_PRICES).unwrap();
        // Entry by entry first, so that a difference names its model; each
        // price bit for bit.
        for (provider, model, price) in toml.iter() {
            let other = json
                .get(provider, model)
                .unwrap_or_else(|| panic!("{provider}/{model} is not in the JSON table"));
            for (kind, a, b) in [
                ("input", price.input(), other.input()),
                ("output", price.output(), other.output()),
                ("cached_input", price.cached_input(), other.cached_input()),
                ("cache_write", price.cache_write(), other.cache_write()),
                ("reasoning", price.reasoning(), other.reasoning()),
            ] {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{provider}/{model} {kind}: {a} != {b}"
                );
            }
        }
        assert_eq!(json.len(), toml.len());
        assert_eq!(json.len(), 22);
        assert_eq!(
            (json.currency(), json.as_of(), json.source()),
            (toml.currency(), toml.as_of(), toml.source())
        );
        assert_eq!(json.as_of(), Some(BUILTIN_PRICES_AS_OF));
        // And what a price left out defaults to (`None` in both).
        assert_eq!(json, toml);
    }

    #[cfg(not(feature = "toml"))]
    #[test]
    fn toml_without_the_feature_is_refused_naming_the_facade_feature() {
        let text = "currency = \"USD\"\n";
        match PriceTable::parse(text, TableFormat::Toml) {
            Err(e @ CostError::TomlNotEnabled { path: None }) => assert_eq!(
                e.to_string(),
                "the price table is TOML, which needs the feature `toml` of `agent-trace` \
                 (off by default): turn it on, or give the table as JSON"
            ),
            other => panic!("{other:?}"),
        }
        // Refused before it is read: a missing file says the same.
        let path = Path::new("no-such-dir/prices.TOML");
        let err = PriceTable::load(path).unwrap_err();
        assert!(
            matches!(&err, CostError::TomlNotEnabled { path: Some(p) } if p == path),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "price table \"no-such-dir/prices.TOML\" is TOML, which needs the feature \
             `toml` of `agent-trace` (off by default): turn it on, or give the table as JSON"
        );
    }

    #[test]
    fn date_suffixes_are_stripped_only_when_they_are_dates() {
        assert_eq!(strip_date_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(
            strip_date_suffix("claude-sonnet-4-20250514"),
            Some("claude-sonnet-4")
        );
        assert_eq!(
            strip_date_suffix("claude-3-5-sonnet-v2@20241022"),
            Some("claude-3-5-sonnet-v2")
        );
        assert_eq!(strip_date_suffix("gpt-4o"), None);
        assert_eq!(strip_date_suffix("gpt-4-0613"), None);
        assert_eq!(strip_date_suffix("model-2024-13-01"), None);
        assert_eq!(strip_date_suffix("model-20241340"), None);
        assert_eq!(strip_date_suffix("-20241022"), None);
        assert_eq!(strip_date_suffix("größe-2024-08-06"), Some("größe"));
        assert_eq!(strip_date_suffix("ü2024-08-06"), None);
    }

    #[cfg(feature = "toml")]
    #[test]
    fn line_and_column_count_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 6));
        assert_eq!(line_column(text, 99), (3, 1));
    }
}
