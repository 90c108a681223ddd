//! The ledger: prices calls, sums their costs per agent, conversation and
//! tool under a key cap, counts unpriced calls, and keeps budgets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use agent_trace_metrics::{
    COST_TOTAL, CURRENCY_LABEL, Clock, MODEL_LABEL, PROVIDER_LABEL, SystemClock,
    UNPRICED_CALLS_TOTAL, Window,
};

use agent_trace_core::StringValue;

use super::budget::BudgetState;
use super::{
    Budget, BudgetEvent, BudgetScope, BudgetViolation, CallAttribution, Cost, Currency, ModelPrice,
    PriceTable, TokenUsage, Unpriced,
};
use crate::handles::{Cache, FastState, Local, RecorderId, SameAs, same_text, static_recorder};

/// The name under which calls beyond a dimension's key cap are summed (and
/// the provider and model of unpriced calls beyond the cap): `"other"`, as
/// the latency metrics' overflow series. An agent, conversation or tool
/// really named `other` shares that sum.
pub const OVERFLOW_KEY: &str = "other";

/// What a set of calls cost: the priced calls, their cost per currency,
/// and the calls that could not be priced.
///
/// ```
/// use agent_trace_genai::cost::{CallAttribution, CostLedger, Currency, TokenUsage};
///
/// let ledger = CostLedger::default();
/// let usage = TokenUsage { input: 1_000_000, output: 0, ..Default::default() };
/// ledger.price_call("openai", "gpt-4o", &usage, &CallAttribution::default())?;
/// let total = ledger.total();
/// assert_eq!(total.priced_calls(), 1);
/// assert_eq!(total.amount(Currency::USD), 2.50); // built-in gpt-4o input price
/// assert_eq!(total.amount(Currency::new("EUR")?), 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spend {
    priced_calls: u64,
    unpriced_calls: u64,
    /// One per currency, sorted by currency.
    costs: Vec<Cost>,
}

impl Spend {
    /// The calls priced.
    pub fn priced_calls(&self) -> u64 {
        self.priced_calls
    }

    /// The calls whose model has no price: their cost is unknown and is
    /// not in [`amount`](Self::amount).
    pub fn unpriced_calls(&self) -> u64 {
        self.unpriced_calls
    }

    /// The cost of the priced calls in `currency`; 0 if none was in it.
    pub fn amount(&self, currency: Currency) -> f64 {
        self.costs
            .iter()
            .find(|c| c.currency == currency)
            .map_or(0.0, |c| c.amount)
    }

    /// The cost per currency, sorted by currency code (one entry when the
    /// price table never changed currency).
    pub fn costs(&self) -> &[Cost] {
        &self.costs
    }

    fn add(&mut self, cost: Cost) {
        self.priced_calls += 1;
        match self
            .costs
            .binary_search_by(|c| c.currency.cmp(&cost.currency))
        {
            Ok(i) => self.costs[i].amount += cost.amount,
            Err(i) => {
                // Exactly one more: most sums only ever see one currency.
                self.costs.reserve_exact(1);
                self.costs.insert(i, cost);
            }
        }
    }
}

/// The unpriced calls of one provider and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpricedCalls {
    /// The provider, as given ([`OVERFLOW_KEY`] beyond the cap).
    pub provider: String,
    /// The model, as given ([`OVERFLOW_KEY`] beyond the cap).
    pub model: String,
    /// How many calls.
    pub calls: u64,
}

/// Calls summed under [`OVERFLOW_KEY`] because their name was beyond a
/// key cap, per dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overflowed {
    /// Calls whose agent was beyond [`CostLedgerBuilder::max_keys`].
    pub agents: u64,
    /// Calls whose conversation was beyond
    /// [`CostLedgerBuilder::max_conversations`].
    pub conversations: u64,
    /// Calls whose tool was beyond [`CostLedgerBuilder::max_keys`].
    pub tools: u64,
    /// Unpriced calls whose provider and model were beyond
    /// [`CostLedgerBuilder::max_keys`].
    pub unpriced_models: u64,
}

/// Sums by name, at most `cap` names plus [`OVERFLOW_KEY`].
#[derive(Debug)]
struct Sums {
    /// With a fast hasher: this is on the path of every priced call.
    map: HashMap<String, Spend, FastState>,
    cap: usize,
    overflowed: u64,
}

impl Sums {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::default(),
            cap,
            overflowed: 0,
        }
    }

    /// The sum of `name`, created if there is room, else the overflow sum.
    fn spend(&mut self, name: &str) -> &mut Spend {
        // The usual case, a name seen before: two look-ups (returning the
        // `get_mut` borrow from inside an `if let` does not pass the borrow
        // checker yet), where the general path below takes three.
        if self.map.contains_key(name) {
            match self.map.get_mut(name) {
                Some(spend) => return spend,
                None => unreachable!("present above"),
            }
        }
        let name = {
            let used = self.map.len() - usize::from(self.map.contains_key(OVERFLOW_KEY));
            if name != OVERFLOW_KEY && used >= self.cap {
                self.overflowed += 1;
                OVERFLOW_KEY
            } else {
                name
            }
        };
        // Looked up twice rather than with `entry`, which would allocate
        // the name on every call.
        if !self.map.contains_key(name) {
            self.map.insert(name.to_owned(), Spend::default());
        }
        match self.map.get_mut(name) {
            Some(spend) => spend,
            None => unreachable!("inserted above"),
        }
    }

    fn sorted(&self) -> Vec<(String, Spend)> {
        let mut all: Vec<_> = self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[derive(Debug)]
struct State {
    total: Spend,
    agents: Sums,
    conversations: Sums,
    tools: Sums,
    /// By provider, then model.
    unpriced: HashMap<String, HashMap<String, u64>>,
    unpriced_keys: usize,
    unpriced_overflowed: u64,
    budgets: Vec<BudgetState>,
}

impl State {
    /// Counts an unpriced call; returns the provider and model it was
    /// counted under (the overflow key beyond the cap).
    fn count_unpriced<'a>(
        &mut self,
        provider: &'a str,
        model: &'a str,
        cap: usize,
    ) -> (&'a str, &'a str) {
        let known = self
            .unpriced
            .get(provider)
            .is_some_and(|m| m.contains_key(model));
        let overflow = (OVERFLOW_KEY, OVERFLOW_KEY);
        let (provider, model) =
            if known || (provider, model) == overflow || self.unpriced_keys < cap {
                (provider, model)
            } else {
                self.unpriced_overflowed += 1;
                overflow
            };
        let models = self.unpriced.entry(provider.to_owned()).or_default();
        match models.get_mut(model) {
            Some(n) => *n += 1,
            None => {
                models.insert(model.to_owned(), 1);
                if (provider, model) != overflow {
                    self.unpriced_keys += 1;
                }
            }
        }
        (provider, model)
    }
}

/// The labels of one [`COST_TOTAL`] series.
#[derive(Debug, Hash)]
struct CostLabels<'a> {
    currency: Currency,
    provider: &'a str,
    model: &'a str,
}

/// [`CostLabels`] kept by the handle cache.
#[derive(Debug)]
struct OwnedCostLabels {
    currency: Currency,
    provider: Box<str>,
    model: Box<str>,
}

impl PartialEq<OwnedCostLabels> for CostLabels<'_> {
    fn eq(&self, o: &OwnedCostLabels) -> bool {
        self.currency == o.currency && self.provider == &*o.provider && self.model == &*o.model
    }
}

/// Never by identity: the kept texts are copies (the model's name comes
/// from a price table that may be replaced and freed).
impl SameAs<OwnedCostLabels> for CostLabels<'_> {
    const BY_IDENTITY: bool = false;

    fn same_as(&self, _: &OwnedCostLabels) -> bool {
        false
    }
}

thread_local! {
    /// The [`COST_TOTAL`] handles this thread keeps, by label set (see the
    /// `handles` module: registering by name cost more than the rest
    /// of `price_call`).
    static COST_HANDLES: Local<OwnedCostLabels, Option<metrics::Gauge>> =
        RefCell::new(Cache::new());
}

/// Adds `cost` to the [`COST_TOTAL`] series of `provider` and `model` (the
/// model as the price table names it).
fn add_to_cost_total(cost: Cost, provider: &str, model: &str) {
    let register = || register_cost_total(cost.currency, provider, model);
    let labels = CostLabels {
        currency: cost.currency,
        provider,
        model,
    };
    let cached = COST_HANDLES.try_with(|cache| {
        cache.borrow_mut().with(
            &labels,
            |l| OwnedCostLabels {
                currency: l.currency,
                provider: l.provider.into(),
                model: l.model.into(),
            },
            |gauge| gauge.get_or_insert_with(register).increment(cost.amount),
        )
    });
    if cached.is_err() {
        // The thread is exiting: its cache is gone.
        register().increment(cost.amount);
    }
}

/// Prices a thread remembers (see [`CostLedger::price_call_of`]).
const PRICES_KEPT: usize = 8;

/// A price found in a table for a provider and model.
struct KnownPrice {
    /// The table it was found in, kept alive so that its address stays its
    /// own while it is here.
    table: Arc<PriceTable>,
    /// The texts asked for, kept alive for the same reason.
    provider: StringValue,
    model: StringValue,
    /// The model as the table names it (the [`COST_TOTAL`] label).
    name: Box<str>,
    price: ModelPrice,
    currency: Currency,
    /// The [`COST_TOTAL`] handle, and the recorder it belongs to.
    gauge: Option<(RecorderId, metrics::Gauge)>,
}

impl KnownPrice {
    /// Adds `cost` to this model's [`COST_TOTAL`] series, through the
    /// handle kept here while the recorder is the one it was registered
    /// with (see the `handles` module), else as
    /// [`add_to_cost_total`] does.
    fn add_to_cost_total(&mut self, cost: Cost, provider: &str) {
        match static_recorder() {
            Some(recorder) => {
                let gauge = match &mut self.gauge {
                    Some((r, gauge)) if *r == recorder => gauge,
                    slot => {
                        let gauge = register_cost_total(cost.currency, provider, &self.name);
                        &mut slot.insert((recorder, gauge)).1
                    }
                };
                gauge.increment(cost.amount);
            }
            None => add_to_cost_total(cost, provider, &self.name),
        }
    }
}

/// A full [`KnownPrices`] replaces an entry at one miss in this many; the
/// other misses take `price_call`, so that a thread that prices more models
/// in turn than it keeps does not make an entry (an allocation) per call.
const REPLACE_EVERY: u32 = 8;

/// The prices a thread found last, replaced in turn.
#[derive(Default)]
struct KnownPrices {
    entries: [Option<KnownPrice>; PRICES_KEPT],
    next: usize,
    /// Misses since the last replacement.
    misses: u32,
}

impl KnownPrices {
    /// The price of `model` of `provider` in `table`, remembered or looked
    /// up; `None` when the table has none, or when it is not remembered and
    /// no entry is to be replaced now (see [`REPLACE_EVERY`]).
    fn find_or_insert(
        &mut self,
        table: &Arc<PriceTable>,
        provider: &StringValue,
        model: &StringValue,
    ) -> Option<&mut KnownPrice> {
        // By address first (a static or shared text), else by content: a
        // model name copied into each call's span (a response model read
        // from the reply) is never at the same address twice, and matching
        // by address alone missed it at every call, so that every eighth
        // call replaced an entry and registered its cost series again
        // (callgrind, the agent workload bench: 5,400 instructions a task
        // of two chats).
        let same = |a: &StringValue, b: &StringValue| same_text(a, b) || a.as_str() == b.as_str();
        let at = self.entries.iter().position(|e| {
            e.as_ref().is_some_and(|e| {
                Arc::ptr_eq(&e.table, table) && same(&e.provider, provider) && same(&e.model, model)
            })
        });
        let at = match at {
            Some(at) => at,
            None => {
                let at = self.next;
                if self.entries[at].is_some() {
                    self.misses += 1;
                    if self.misses < REPLACE_EVERY {
                        return None;
                    }
                }
                let (name, price) = table.entry(provider, model)?;
                self.misses = 0;
                self.next = (at + 1) % PRICES_KEPT;
                self.entries[at] = Some(KnownPrice {
                    table: Arc::clone(table),
                    provider: provider.clone(),
                    model: model.clone(),
                    name: name.into(),
                    price: *price,
                    currency: table.currency(),
                    gauge: None,
                });
                at
            }
        };
        self.entries[at].as_mut()
    }
}

thread_local! {
    static PRICES: RefCell<KnownPrices> = RefCell::default();
}

/// Registers the [`COST_TOTAL`] series of `provider` and `model`.
fn register_cost_total(currency: Currency, provider: &str, model: &str) -> metrics::Gauge {
    metrics::gauge!(
        COST_TOTAL,
        CURRENCY_LABEL => currency.as_str().to_owned(),
        PROVIDER_LABEL => provider.to_owned(),
        MODEL_LABEL => model.to_owned()
    )
}

type Callback = Arc<dyn Fn(&BudgetEvent) + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Prices LLM calls with a [`PriceTable`] and sums their costs per agent,
/// conversation and tool; counts the calls it cannot price; keeps
/// [`Budget`]s. See the [module docs](super) for the whole picture, and
/// [`cost_ledger`](super::cost_ledger) for the process's ledger.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use agent_trace_genai::cost::{Budget, BudgetEvent, BudgetScope, CallAttribution, CostLedger, Currency, TokenUsage};
///
/// let events = Arc::new(Mutex::new(Vec::new()));
/// let seen = events.clone();
/// let ledger = CostLedger::builder()
///     .on_budget(move |e| seen.lock().unwrap().push(e.clone()))
///     .build();
/// ledger.set_budget(BudgetScope::Agent("planner".into()), Budget::new(0.01, Currency::USD)?);
///
/// let usage = TokenUsage { input: 10_000, output: 1_000, ..Default::default() };
/// let who = CallAttribution { agent: Some("planner"), ..Default::default() };
/// ledger.price_call("openai", "gpt-4o", &usage, &who)?; // 0.025 + 0.01 = 0.035 USD
/// assert!(matches!(events.lock().unwrap()[..], [BudgetEvent::Crossed(_)]));
/// assert_eq!(ledger.by_agent()[0].0, "planner");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CostLedger {
    table: RwLock<Arc<PriceTable>>,
    state: Mutex<State>,
    callback: RwLock<Option<Callback>>,
    clock: Arc<dyn Clock>,
    max_keys: usize,
    facade: bool,
}

impl fmt::Debug for CostLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.price_table();
        f.debug_struct("CostLedger")
            .field("currency", &table.currency())
            .field("models_priced", &table.len())
            .field("total", &lock(&self.state).total)
            .field("clock", &self.clock)
            .field("max_keys", &self.max_keys)
            .field("metrics_facade", &self.facade)
            .finish_non_exhaustive()
    }
}

impl Default for CostLedger {
    /// A ledger with [`PriceTable::builtin`]; see [`CostLedgerBuilder`].
    fn default() -> Self {
        CostLedgerBuilder::default().build()
    }
}

impl CostLedger {
    /// A builder, to set the price table, the key caps, the clock and the
    /// budget callback.
    pub fn builder() -> CostLedgerBuilder {
        CostLedgerBuilder::default()
    }

    /// Prices one LLM call with `model` of `provider` (as in
    /// `gen_ai.provider.name`; the response model if known, else the
    /// request model) and adds its cost to the sums of `attribution`, the
    /// [`COST_TOTAL`] counter and the matching budgets, firing the budget
    /// callback on a crossing or a recovery.
    ///
    /// # Errors
    ///
    /// [`Unpriced`] when the price table has no price for the model. The
    /// call is then counted as unpriced (per provider and model, and in the
    /// sums of `attribution`, and on [`UNPRICED_CALLS_TOTAL`]), and adds
    /// nothing to any cost.
    ///
    /// # Performance
    ///
    /// See the [module docs](super#performance): two small map look-ups,
    /// one lock, one metric increment through a kept handle; it allocates
    /// only for a name (or a label set) it has not seen before.
    pub fn price_call(
        &self,
        provider: &str,
        model: &str,
        usage: &TokenUsage,
        attribution: &CallAttribution<'_>,
    ) -> Result<Cost, Unpriced> {
        let table = self.price_table();
        let priced = table.entry(provider, model).map(|(name, price)| {
            let cost = Cost {
                amount: price.cost(usage),
                currency: table.currency(),
            };
            (name, cost)
        });
        let mut events = Vec::new();
        let result = {
            let mut state = lock(&self.state);
            let state = &mut *state;
            match priced {
                Some((name, cost)) => {
                    self.add_priced(state, cost, attribution, &mut events);
                    Ok((name, cost))
                }
                None => {
                    state.total.unpriced_calls += 1;
                    if let Some(a) = attribution.agent {
                        state.agents.spend(a).unpriced_calls += 1;
                    }
                    if let Some(c) = attribution.conversation {
                        state.conversations.spend(c).unpriced_calls += 1;
                    }
                    if let Some(t) = attribution.tool {
                        state.tools.spend(t).unpriced_calls += 1;
                    }
                    Err(state.count_unpriced(provider, model, self.max_keys))
                }
            }
        };
        match result {
            Ok((name, cost)) => {
                if self.facade {
                    add_to_cost_total(cost, provider, name);
                }
                self.fire(&events);
                Ok(cost)
            }
            Err((counted_provider, counted_model)) => {
                if self.facade {
                    metrics::counter!(
                        UNPRICED_CALLS_TOTAL,
                        PROVIDER_LABEL => counted_provider.to_owned(),
                        MODEL_LABEL => counted_model.to_owned()
                    )
                    .increment(1);
                }
                Err(Unpriced {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                })
            }
        }
    }

    /// Adds a priced call to the sums and budgets; budget events go to
    /// `events`.
    fn add_priced(
        &self,
        state: &mut State,
        cost: Cost,
        attribution: &CallAttribution<'_>,
        events: &mut Vec<BudgetEvent>,
    ) {
        state.total.add(cost);
        if let Some(a) = attribution.agent {
            state.agents.spend(a).add(cost);
        }
        if let Some(c) = attribution.conversation {
            state.conversations.spend(c).add(cost);
        }
        if let Some(t) = attribution.tool {
            state.tools.spend(t).add(cost);
        }
        let mut now = None;
        let mut now = || *now.get_or_insert_with(|| self.clock.now_nanos());
        for budget in &mut state.budgets {
            if budget.scope.matches(attribution) {
                budget.add(cost, &mut now);
                let _ = budget.evaluate(&mut now, events);
            }
        }
    }

    /// [`price_call`](Self::price_call) for the GenAI helpers, whose
    /// provider and model are [`StringValue`]s: the price found for them
    /// is remembered per thread (with the table it came from and the
    /// [`COST_TOTAL`] handle), and found again without hashing (by the
    /// addresses of the texts, else their bytes), so that a call with the
    /// same provider and model skips the table's look-ups (two or three hashed
    /// keys) and the handle cache's (a hashed label set): a priced call
    /// went from about 2,300 instructions to 1,150 in the agent workload
    /// bench (callgrind). Unpriced calls, a thread that is exiting,
    /// re-entrant calls (from a budget callback) and, once the thread keeps
    /// as many prices as it may, most calls of other models take
    /// `price_call`.
    pub(crate) fn price_call_of(
        &self,
        provider: &StringValue,
        model: &StringValue,
        usage: &TokenUsage,
        attribution: &CallAttribution<'_>,
    ) -> Result<Cost, Unpriced> {
        let fast = PRICES.try_with(|prices| {
            let mut prices = prices.try_borrow_mut().ok()?;
            let entry = {
                let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
                prices.find_or_insert(&table, provider, model)?
            };
            let cost = Cost {
                amount: entry.price.cost(usage),
                currency: entry.currency,
            };
            let mut events = Vec::new();
            self.add_priced(&mut lock(&self.state), cost, attribution, &mut events);
            if self.facade {
                entry.add_to_cost_total(cost, provider);
            }
            Some((cost, events))
        });
        match fast {
            Ok(Some((cost, events))) => {
                self.fire(&events);
                Ok(cost)
            }
            _ => self.price_call(provider, model, usage, attribution),
        }
    }

    /// The price table in use.
    pub fn price_table(&self) -> Arc<PriceTable> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the price table; calls priced from now on use it. Sums
    /// already made are kept (per currency, if the currency changes).
    ///
    /// ```
    /// use agent_trace_genai::cost::{CostLedger, Currency, ModelPrice, PriceTable};
    ///
    /// let ledger = CostLedger::default();
    /// // The built-in prices plus a model of our own.
    /// let table = PriceTable::builtin().with_price("acme", "acme-1", ModelPrice::new(0.5, 1.5)?);
    /// ledger.set_price_table(table);
    /// assert!(ledger.price_table().get("acme", "acme-1").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_price_table(&self, table: PriceTable) {
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    /// The sum of every call.
    pub fn total(&self) -> Spend {
        lock(&self.state).total.clone()
    }

    /// The sum of the calls of `agent` (`None` if it made none, or if it
    /// is summed under [`OVERFLOW_KEY`]).
    pub fn agent(&self, agent: &str) -> Option<Spend> {
        lock(&self.state).agents.map.get(agent).cloned()
    }

    /// The sum of the calls of `conversation`, as [`agent`](Self::agent).
    pub fn conversation(&self, conversation: &str) -> Option<Spend> {
        lock(&self.state)
            .conversations
            .map
            .get(conversation)
            .cloned()
    }

    /// The sum of the calls made for `tool`, as [`agent`](Self::agent).
    pub fn tool(&self, tool: &str) -> Option<Spend> {
        lock(&self.state).tools.map.get(tool).cloned()
    }

    /// Every agent's sum, by name (with [`OVERFLOW_KEY`] if the cap was
    /// reached).
    pub fn by_agent(&self) -> Vec<(String, Spend)> {
        lock(&self.state).agents.sorted()
    }

    /// Every conversation's sum, by id, as [`by_agent`](Self::by_agent).
    pub fn by_conversation(&self) -> Vec<(String, Spend)> {
        lock(&self.state).conversations.sorted()
    }

    /// Every tool's sum, by name, as [`by_agent`](Self::by_agent).
    pub fn by_tool(&self) -> Vec<(String, Spend)> {
        lock(&self.state).tools.sorted()
    }

    /// Takes a finished conversation's sum out of the ledger, freeing its
    /// place under the cap; `None` if it has none. Later calls of the same
    /// conversation start a new sum. (Budgets are not affected.)
    pub fn end_conversation(&self, conversation: &str) -> Option<Spend> {
        lock(&self.state).conversations.map.remove(conversation)
    }

    /// The unpriced calls per provider and model, sorted.
    pub fn unpriced(&self) -> Vec<UnpricedCalls> {
        let state = lock(&self.state);
        let mut all: Vec<UnpricedCalls> = state
            .unpriced
            .iter()
            .flat_map(|(provider, models)| {
                models.iter().map(move |(model, &calls)| UnpricedCalls {
                    provider: provider.clone(),
                    model: model.clone(),
                    calls,
                })
            })
            .collect();
        all.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        all
    }

    /// How many calls could not be priced, in all.
    pub fn unpriced_calls(&self) -> u64 {
        lock(&self.state).total.unpriced_calls
    }

    /// How many calls were summed under [`OVERFLOW_KEY`], per dimension.
    pub fn overflowed(&self) -> Overflowed {
        let state = lock(&self.state);
        Overflowed {
            agents: state.agents.overflowed,
            conversations: state.conversations.overflowed,
            tools: state.tools.overflowed,
            unpriced_models: state.unpriced_overflowed,
        }
    }

    /// Sets (or replaces) the budget of `scope` over `budget`'s window: a
    /// scope can have one all-time budget and one per window length. The
    /// budget counts spend from now on; see [`Budget`] for when it is
    /// evaluated.
    pub fn set_budget(&self, scope: BudgetScope, budget: Budget) {
        let mut state = lock(&self.state);
        let window = budget.window_value();
        state
            .budgets
            .retain(|b| !(b.scope == scope && b.budget.window_value() == window));
        state.budgets.push(BudgetState::new(scope, budget));
    }

    /// Removes the budget of `scope` over `window` (`None`: the all-time
    /// one), returning it.
    pub fn remove_budget(&self, scope: &BudgetScope, window: Option<Window>) -> Option<Budget> {
        let mut state = lock(&self.state);
        let i = state
            .budgets
            .iter()
            .position(|b| &b.scope == scope && b.budget.window_value() == window)?;
        Some(state.budgets.remove(i).budget)
    }

    /// Every budget, in the order they were set.
    pub fn budgets(&self) -> Vec<(BudgetScope, Budget)> {
        lock(&self.state)
            .budgets
            .iter()
            .map(|b| (b.scope.clone(), b.budget))
            .collect()
    }

    /// Evaluates every budget now, returning those above their limit, and
    /// fires the callback for each whose state changed since its last
    /// evaluation (see [`Budget`]): this is how a windowed budget is heard
    /// to recover when no call comes.
    pub fn check_budgets(&self) -> Vec<BudgetViolation> {
        let mut events = Vec::new();
        let violations = {
            let mut state = lock(&self.state);
            let mut now = None;
            let mut now = || *now.get_or_insert_with(|| self.clock.now_nanos());
            state
                .budgets
                .iter_mut()
                .filter_map(|b| b.evaluate(&mut now, &mut events))
                .collect()
        };
        self.fire(&events);
        violations
    }

    /// Sets (replaces) the function called on each [`BudgetEvent`], for
    /// a ledger built without [`CostLedgerBuilder::on_budget`], such as the
    /// global one. It is called on the thread that priced the call or
    /// checked the budgets, with no lock of the ledger held.
    pub fn set_budget_callback(&self, f: impl Fn(&BudgetEvent) + Send + Sync + 'static) {
        *self
            .callback
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(f));
    }

    fn fire(&self, events: &[BudgetEvent]) {
        if events.is_empty() {
            return;
        }
        // Cloned out, so the callback may use this ledger (and even replace
        // the callback).
        let callback = self
            .callback
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(cb) = callback {
            for e in events {
                cb(e);
            }
        }
    }
}

/// Builds a [`CostLedger`].
///
/// ```
/// use std::sync::Arc;
/// use agent_trace_genai::cost::{CostLedger, Currency, PriceTable};
/// use agent_trace_metrics::ManualClock;
///
/// let ledger = CostLedger::builder()
///     .price_table(PriceTable::new(Currency::USD))
///     .max_keys(100)
///     .max_conversations(1_000)
///     .clock(Arc::new(ManualClock::new(0)))
///     .metrics_facade(false)
///     .build();
/// assert!(ledger.price_table().is_empty());
/// ```
pub struct CostLedgerBuilder {
    table: Option<PriceTable>,
    clock: Arc<dyn Clock>,
    max_keys: usize,
    max_conversations: usize,
    facade: bool,
    callback: Option<Callback>,
}

impl fmt::Debug for CostLedgerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CostLedgerBuilder")
            .field("table", &self.table.as_ref().map(PriceTable::currency))
            .field("clock", &self.clock)
            .field("max_keys", &self.max_keys)
            .field("max_conversations", &self.max_conversations)
            .field("metrics_facade", &self.facade)
            .field("on_budget", &self.callback.is_some())
            .finish()
    }
}

impl Default for CostLedgerBuilder {
    fn default() -> Self {
        Self {
            table: None,
            clock: Arc::new(SystemClock),
            max_keys: 1_000,
            max_conversations: 10_000,
            facade: true,
            callback: None,
        }
    }
}

impl CostLedgerBuilder {
    /// The price table; [`PriceTable::builtin`] by default.
    pub fn price_table(mut self, table: PriceTable) -> Self {
        self.table = Some(table);
        self
    }

    /// How many agents, tools, and unpriced provider-and-model pairs are
    /// summed by name (1,000 by default, each); further names share
    /// [`OVERFLOW_KEY`].
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// How many conversations are summed by id (10,000 by default); see
    /// also [`CostLedger::end_conversation`].
    pub fn max_conversations(mut self, n: usize) -> Self {
        self.max_conversations = n;
        self
    }

    /// The clock of windowed budgets ([`SystemClock`] by default, read
    /// only when a windowed budget is evaluated).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether costs and unpriced calls also go to the `metrics` facade
    /// ([`COST_TOTAL`], [`UNPRICED_CALLS_TOTAL`]); on by default.
    pub fn metrics_facade(mut self, on: bool) -> Self {
        self.facade = on;
        self
    }

    /// Called on each [`BudgetEvent`], on the thread that priced the call
    /// or checked the budgets, with no lock of the ledger held.
    pub fn on_budget(mut self, f: impl Fn(&BudgetEvent) + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }

    /// The ledger.
    pub fn build(self) -> CostLedger {
        let table = self.table.unwrap_or_else(PriceTable::builtin);
        CostLedger {
            table: RwLock::new(Arc::new(table)),
            state: Mutex::new(State {
                total: Spend::default(),
                agents: Sums::new(self.max_keys),
                conversations: Sums::new(self.max_conversations),
                tools: Sums::new(self.max_keys),
                unpriced: HashMap::new(),
                unpriced_keys: 0,
                unpriced_overflowed: 0,
                budgets: Vec::new(),
            }),
            callback: RwLock::new(self.callback),
            clock: self.clock,
            max_keys: self.max_keys,
            facade: self.facade,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_keep_at_most_cap_names_plus_the_overflow() {
        let mut sums = Sums::new(2);
        let cost = Cost {
            amount: 1.0,
            currency: Currency::USD,
        };
        for name in ["a", "b", "c", "a", "d", OVERFLOW_KEY] {
            sums.spend(name).add(cost);
        }
        assert_eq!(sums.map.len(), 3);
        assert_eq!(sums.overflowed, 2); // "c" and "d"
        assert_eq!(sums.map["a"].priced_calls(), 2);
        assert_eq!(sums.map[OVERFLOW_KEY].priced_calls(), 3);
    }

    #[test]
    fn spend_keeps_currencies_apart_and_sorted() {
        let mut spend = Spend::default();
        let usd = Currency::USD;
        let eur = Currency::new("EUR").unwrap();
        spend.add(Cost {
            amount: 1.0,
            currency: usd,
        });
        spend.add(Cost {
            amount: 2.0,
            currency: eur,
        });
        spend.add(Cost {
            amount: 0.5,
            currency: usd,
        });
        assert_eq!(spend.amount(usd), 1.5);
        assert_eq!(spend.amount(eur), 2.0);
        assert_eq!(spend.costs()[0].currency, eur);
        assert_eq!(spend.priced_calls(), 3);
    }

    /// A model name copied into each call (a response model read from the
    /// reply: a new text at a new address every time) finds the price the
    /// thread remembered, instead of making a new entry every few calls.
    #[test]
    fn remembered_prices_are_found_by_content_too() {
        let table = Arc::new(PriceTable::builtin());
        let mut prices = KnownPrices::default();
        let provider = StringValue::from_static("openai");
        for _ in 0..100 {
            let model = StringValue::copy_from(&String::from("gpt-4o"));
            let entry = prices
                .find_or_insert(&table, &provider, &model)
                .expect("the built-in table prices gpt-4o");
            assert_eq!(&*entry.name, "gpt-4o");
        }
        let kept = prices.entries.iter().filter(|e| e.is_some()).count();
        assert_eq!((kept, prices.next, prices.misses), (1, 1, 0));
    }
}
