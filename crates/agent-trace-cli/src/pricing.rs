//! The cost of a span that carries tokens but no cost attribute: priced
//! from a price table (agent-trace's built-in one, or one the user gives),
//! as the library prices LLM calls when they end.
//!
//! A span's own `agent_trace.cost` always wins: it was priced when the call
//! was made, with the table then in use. Only spans recorded without one
//! (by another library, or with pricing off) are priced here, from
//! `gen_ai.provider.name` (or the older `gen_ai.system`), the model
//! (`gen_ai.response.model`, else `gen_ai.request.model`) and the token
//! counts, cached and reasoning tokens included.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use agent_trace_genai::cost::{Currency, PriceTable, TokenUsage};

use crate::Error;

/// Which price table spans without a cost are priced with, if any.
///
/// ```
/// use agent_trace_cli::Pricing;
///
/// let builtin = Pricing::default();
/// let cost = builtin.price("openai", "gpt-4o", 1_000_000, 0, [0; 3]);
/// assert!(cost.is_some_and(|(amount, currency)| amount > 0.0 && currency.as_str() == "USD"));
/// assert_eq!(Pricing::none().price("openai", "gpt-4o", 1_000_000, 0, [0; 3]), None);
/// ```
#[derive(Clone)]
pub struct Pricing(Option<Arc<PriceTable>>);

impl Pricing {
    /// agent-trace's built-in price table (the default).
    pub fn builtin() -> Self {
        static BUILTIN: OnceLock<Arc<PriceTable>> = OnceLock::new();
        Self(Some(Arc::clone(
            BUILTIN.get_or_init(|| Arc::new(PriceTable::builtin())),
        )))
    }

    /// No pricing: only spans' own cost attributes count.
    pub fn none() -> Self {
        Self(None)
    }

    /// The price table in the file at `path` (JSON; TOML too, by its
    /// `.toml` extension), in the format `agent_trace::cost` reads.
    ///
    /// # Errors
    ///
    /// [`Error::Prices`] when the file cannot be read or is not a price
    /// table, with the failing field named.
    pub fn load(path: &Path) -> Result<Self, Error> {
        PriceTable::load(path)
            .map(|table| Self(Some(Arc::new(table))))
            .map_err(|source| Error::Prices {
                path: path.to_owned(),
                source,
            })
    }

    /// The cost of a call of `model` of `provider` with these tokens:
    /// `cached` is the cache-read input, cache-write input and reasoning
    /// output tokens (parts of `input` and `output`). `None` without a
    /// table or a price for the model.
    pub fn price(
        &self,
        provider: &str,
        model: &str,
        input: u64,
        output: u64,
        cached: [u64; 3],
    ) -> Option<(f64, Currency)> {
        let table = self.0.as_deref()?;
        let usage = TokenUsage {
            input,
            output,
            cache_read_input: cached[0],
            cache_creation_input: cached[1],
            reasoning_output: cached[2],
        };
        let cost = table.price(provider, model, &usage).ok()?;
        Some((cost.amount, cost.currency))
    }
}

impl Default for Pricing {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PartialEq for Pricing {
    /// The same table (or none on both sides).
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Pricing {}

impl fmt::Debug for Pricing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Pricing(none)"),
            Some(table) => write!(f, "Pricing({} models)", table.len()),
        }
    }
}
