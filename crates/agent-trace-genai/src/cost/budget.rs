//! Budgets: limits on spend, over all time or a trailing window, with
//! crossing and recovery events.

use std::fmt;

use agent_trace_metrics::Window;

use super::{CallAttribution, Cost, CostError, Currency};

/// What a [`Budget`] limits: all spend, or that of one agent,
/// conversation or tool (as named in [`CallAttribution`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetScope {
    /// Every priced call.
    Total,
    /// The calls of one agent.
    Agent(String),
    /// The calls of one conversation.
    Conversation(String),
    /// The calls made for one tool.
    Tool(String),
}

impl BudgetScope {
    /// Whether a call attributed to `who` counts against this scope. The
    /// call's own names are compared, so a budget works for a name the
    /// ledger sums under `"other"` because of its key cap.
    pub(crate) fn matches(&self, who: &CallAttribution<'_>) -> bool {
        match self {
            BudgetScope::Total => true,
            BudgetScope::Agent(a) => who.agent == Some(a.as_str()),
            BudgetScope::Conversation(c) => who.conversation == Some(c.as_str()),
            BudgetScope::Tool(t) => who.tool == Some(t.as_str()),
        }
    }
}

/// Shows `total`, `agent "researcher"`, `conversation "c-1"`, `tool "search"`.
impl fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetScope::Total => f.write_str("total"),
            BudgetScope::Agent(a) => write!(f, "agent {a:?}"),
            BudgetScope::Conversation(c) => write!(f, "conversation {c:?}"),
            BudgetScope::Tool(t) => write!(f, "tool {t:?}"),
        }
    }
}

/// An upper limit on spend in one currency, over all time or over a
/// trailing window.
///
/// # When a budget is evaluated
///
/// A budget counts the spend of its scope from the moment it is set
/// ([`CostLedger::set_budget`]). It is evaluated by every priced call that
/// counts against it, right after the call's cost is added, and by
/// [`CostLedger::check_budgets`], which evaluates every budget at the
/// clock's current time: call it from a timer (or a metrics scrape) to hear
/// a windowed budget recover when no call comes. An evaluation compares
/// the spend with the limit; the budget callback hears
/// [`BudgetEvent::Crossed`] when the spend goes from at or below the limit
/// to above it, and [`BudgetEvent::Recovered`] on the way back, once per
/// change, never on every evaluation, exactly as the latency thresholds'
/// callback ([`LatencyMetricsBuilder::on_threshold`]). Costs in another
/// currency than the budget's are not counted against it.
///
/// An all-time budget, once crossed, stays crossed (spend only grows);
/// setting it again starts it afresh.
///
/// # Windows
///
/// A windowed budget keeps its spend in 60 time slots of a sixtieth of the
/// window each (a ring of fixed size, so memory does not grow with
/// traffic), and sums the current slot and the 60 before it: a cost stops
/// counting between one window and one window plus a sixtieth after it was
/// added, never earlier. Time comes from the ledger's
/// [`Clock`](agent_trace_metrics::Clock); tests inject a
/// [`ManualClock`](agent_trace_metrics::ManualClock).
///
/// # Why events of their own
///
/// [`ThresholdEvent`] and [`Violation`] of the metrics crate describe a
/// latency *statistic* (a [`Statistic`] in seconds) of an *operation*; a
/// budget limits a *sum of money* in a currency, of a scope. Forcing one
/// into the other would misname every field, so [`BudgetEvent`] mirrors
/// [`ThresholdEvent`] (same variants, same firing rules, callback called
/// with no lock held) with a [`BudgetViolation`] that says what it is.
///
/// [`CostLedger::set_budget`]: super::CostLedger::set_budget
/// [`CostLedger::check_budgets`]: super::CostLedger::check_budgets
/// [`LatencyMetricsBuilder::on_threshold`]: agent_trace_metrics::LatencyMetricsBuilder::on_threshold
/// [`ThresholdEvent`]: agent_trace_metrics::ThresholdEvent
/// [`Violation`]: agent_trace_metrics::Violation
/// [`Statistic`]: agent_trace_metrics::Statistic
///
/// ```
/// use agent_trace_genai::cost::{Budget, Currency};
/// use agent_trace_metrics::Window;
///
/// let hourly = Budget::new(5.0, Currency::USD)?.window("1h".parse::<Window>()?);
/// assert_eq!(hourly.limit(), 5.0);
/// assert!(Budget::new(f64::NAN, Currency::USD).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    limit: f64,
    currency: Currency,
    window: Option<Window>,
}

impl Budget {
    /// A budget of `limit` (in units of `currency`) over all time.
    ///
    /// # Errors
    ///
    /// [`CostError::InvalidLimit`] for a negative, NaN or infinite limit.
    pub fn new(limit: f64, currency: Currency) -> Result<Self, CostError> {
        if limit.is_finite() && limit >= 0.0 {
            Ok(Self {
                limit,
                currency,
                window: None,
            })
        } else {
            Err(CostError::InvalidLimit { limit })
        }
    }

    /// Limits the spend over this trailing window instead of all time.
    pub fn window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }

    /// The limit, in units of [`currency`](Self::currency).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The currency of the limit; costs in others do not count.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The window the spend is summed over; `None` for all time.
    pub fn window_value(&self) -> Option<Window> {
        self.window
    }
}

/// A budget found above its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetViolation {
    /// What the budget limits.
    pub scope: BudgetScope,
    /// The spend at the evaluation, in units of `currency`.
    pub spent: f64,
    /// The limit.
    pub limit: f64,
    /// The budget's currency.
    pub currency: Currency,
    /// The window the spend is summed over; `None` for all time.
    pub window: Option<Window>,
}

/// A change of a budget's state, passed to the budget callback.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BudgetEvent {
    /// The spend went above the limit.
    Crossed(BudgetViolation),
    /// The spend, above the limit at the previous evaluation, is back at or
    /// below it; `spent` is the new value.
    Recovered(BudgetViolation),
}

/// How many slots a window is cut into.
const SLOTS: u64 = 60;

/// Spend over a trailing window: `SLOTS + 1` slots of `width` nanoseconds,
/// each with the index of the time slot it holds.
#[derive(Debug, Clone)]
struct Ring {
    width: u64,
    /// `(slot index, amount)`; `u64::MAX` for a slot never used.
    slots: Vec<(u64, f64)>,
}

impl Ring {
    fn new(window: Window) -> Self {
        let nanos = u64::try_from(window.as_duration().as_nanos()).unwrap_or(u64::MAX);
        Self {
            width: nanos.div_ceil(SLOTS).max(1),
            slots: vec![(u64::MAX, 0.0); SLOTS as usize + 1],
        }
    }

    fn position(&self, index: u64) -> usize {
        // Below SLOTS + 1, so it fits.
        (index % (SLOTS + 1)) as usize
    }

    fn add(&mut self, now: u64, amount: f64) {
        let index = now / self.width;
        let position = self.position(index);
        let slot = &mut self.slots[position];
        // A slot of an older index is reused; one of a newer index (the
        // clock went back) keeps its index and takes the amount, which then
        // counts a little longer rather than not at all.
        if slot.0 == u64::MAX || slot.0 < index {
            *slot = (index, 0.0);
        }
        slot.1 += amount;
    }

    /// The sum of the current slot and the `SLOTS` before it; a slot
    /// ahead of `now` (the clock went back) counts too.
    fn spent(&self, now: u64) -> f64 {
        let current = now / self.width;
        self.slots
            .iter()
            .filter(|(index, _)| *index != u64::MAX && current.saturating_sub(*index) <= SLOTS)
            .map(|(_, amount)| amount)
            .sum()
    }
}

#[derive(Debug, Clone)]
enum Spent {
    AllTime(f64),
    Windowed(Ring),
}

/// A budget, its spend, and whether the last evaluation found it exceeded.
#[derive(Debug, Clone)]
pub(crate) struct BudgetState {
    pub(crate) scope: BudgetScope,
    pub(crate) budget: Budget,
    spent: Spent,
    exceeded: bool,
}

impl BudgetState {
    pub(crate) fn new(scope: BudgetScope, budget: Budget) -> Self {
        let spent = match budget.window {
            Some(w) => Spent::Windowed(Ring::new(w)),
            None => Spent::AllTime(0.0),
        };
        Self {
            scope,
            budget,
            spent,
            exceeded: false,
        }
    }

    /// Counts `cost` if it is in the budget's currency; `now` is read only
    /// by a windowed budget.
    pub(crate) fn add(&mut self, cost: Cost, now: impl FnOnce() -> u64) {
        if cost.currency != self.budget.currency {
            return;
        }
        match &mut self.spent {
            Spent::AllTime(total) => *total += cost.amount,
            Spent::Windowed(ring) => ring.add(now(), cost.amount),
        }
    }

    /// Compares the spend with the limit, pushing an event if the state
    /// changed; returns the violation if the limit is exceeded.
    pub(crate) fn evaluate(
        &mut self,
        now: impl FnOnce() -> u64,
        events: &mut Vec<BudgetEvent>,
    ) -> Option<BudgetViolation> {
        let spent = match &self.spent {
            Spent::AllTime(total) => *total,
            Spent::Windowed(ring) => ring.spent(now()),
        };
        let exceeded = spent > self.budget.limit;
        let violation = || BudgetViolation {
            scope: self.scope.clone(),
            spent,
            limit: self.budget.limit,
            currency: self.budget.currency,
            window: self.budget.window,
        };
        match (self.exceeded, exceeded) {
            (false, true) => events.push(BudgetEvent::Crossed(violation())),
            (true, false) => events.push(BudgetEvent::Recovered(violation())),
            _ => {}
        }
        self.exceeded = exceeded;
        exceeded.then(violation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_ring_forgets_a_slot_after_one_window_and_one_slot() {
        // 60 s window: 1 s slots.
        let mut ring = Ring::new(Window::try_from(std::time::Duration::from_secs(60)).unwrap());
        assert_eq!(ring.width, SECOND);
        let t0 = 1_000 * SECOND;
        ring.add(t0, 1.0);
        assert_eq!(ring.spent(t0), 1.0);
        ring.add(t0 + 30 * SECOND, 2.0);
        assert_eq!(ring.spent(t0 + 60 * SECOND), 3.0);
        assert_eq!(ring.spent(t0 + 60 * SECOND + SECOND - 1), 3.0);
        assert_eq!(ring.spent(t0 + 61 * SECOND), 2.0);
        assert_eq!(ring.spent(t0 + 91 * SECOND), 0.0);
        // The slot of t0 is reused 61 slots later, starting from zero.
        ring.add(t0 + 61 * SECOND, 4.0);
        assert_eq!(ring.spent(t0 + 61 * SECOND), 6.0);
    }

    #[test]
    fn a_clock_that_goes_back_loses_no_money() {
        let mut ring = Ring::new(Window::try_from(std::time::Duration::from_secs(60)).unwrap());
        let t0 = 1_000 * SECOND;
        ring.add(t0 + 61 * SECOND, 1.0);
        ring.add(t0, 2.0); // same ring position, older index
        assert_eq!(ring.spent(t0 + 61 * SECOND), 3.0);
    }
}
