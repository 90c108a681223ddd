//! `--fail-on`: the limits a comparison must stay within, for CI.
//!
//! # Grammar
//!
//! ```text
//! RULES  = RULE { "," RULE }
//! RULE   = [ SCOPE ":" ] METRIC ( ">" | "<" ) LIMIT
//! METRIC = count | p50 | p95 | p99 | mean | errors | tokens.in | tokens.out | cost
//! LIMIT  = [ "+" | "-" ] NUMBER UNIT
//! UNIT   = "%"                    relative to the baseline, any metric
//!        | "pp"                   percentage points, errors only
//!        | ns | us | µs | ms | s  absolute, p50, p95, p99 and mean only
//!        | nothing                absolute, count, tokens.in, tokens.out, cost
//! SCOPE  = a row name; "*" matches any run of characters; "overall" is
//!          the row of every trace, "(traces)"
//! ```
//!
//! `p95>+10%` is crossed by a p95 more than 10% above the baseline's,
//! `errors>+1pp` by an error rate more than one percentage point higher,
//! `count<-20%` by a count that fell by more than 20%. A rule without a
//! scope applies to every row (every operation, and the trace rows); with
//! one, to the rows it matches: `overall:cost>+5%` (cost per trace),
//! `chat*:p95>+200ms`. The scope is what comes before the rule's last
//! `:`, so operation names with colons can be named; a name with a comma
//! is matched with `*` in its place.
//!
//! A limit is crossed only by a *flagged* change, one larger than its
//! noise (see [`diff`](crate::diff)): a regression the samples cannot tell
//! from chance does not fail the build, and the output says why it was
//! not flagged. Counts are exact, so a count limit applies to the count as
//! measured.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::diff::{ALL_TRACES, Diff, Metric, Verdict, format_change};

/// A scope word for [`ALL_TRACES`], the row of every trace.
pub const OVERALL: &str = "overall";

/// The limits of `--fail-on`, parsed (see the module docs for the
/// grammar).
///
/// ```
/// use agent_trace_cli::FailOn;
///
/// let gate: FailOn = "p95>+10%,cost>+5%,errors>+1pp,tokens.out>+20%".parse()?;
/// assert_eq!(gate.len(), 4);
/// assert!("p95>+10".parse::<FailOn>().unwrap_err().contains("needs a unit"));
/// assert!("latency>+10%".parse::<FailOn>().unwrap_err().contains("unknown metric"));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FailOn {
    text: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    text: String,
    scope: Option<String>,
    metric: Metric,
    above: bool,
    limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Limit {
    /// A fraction of the baseline (0.1 for 10%).
    Relative(f64),
    /// In the metric's unit: seconds, a fraction for errors, tokens, cost.
    Absolute(f64),
}

impl FailOn {
    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule (never: parsing needs one).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Another set of rules added (`--fail-on` given twice).
    pub fn extend(&mut self, other: FailOn) {
        self.text.push(',');
        self.text.push_str(&other.text);
        self.rules.extend(other.rules);
    }

    /// The limits `diff` crosses.
    pub fn check(&self, diff: &Diff) -> GateOutcome {
        let mut failures = Vec::new();
        for rule in &self.rules {
            for row in &diff.rows {
                if !rule
                    .scope
                    .as_deref()
                    .is_none_or(|s| scope_matches(s, &row.name))
                {
                    continue;
                }
                let Some(m) = row.metric(rule.metric) else {
                    continue;
                };
                let counted = m.verdict == Verdict::Exact;
                if !(m.verdict.is_flagged() || counted) {
                    continue;
                }
                let Some(change) = m.change else {
                    continue;
                };
                let value = match rule.limit {
                    Limit::Absolute(_) => change,
                    Limit::Relative(_) => m.relative.unwrap_or(if change > 0.0 {
                        f64::INFINITY
                    } else if change < 0.0 {
                        f64::NEG_INFINITY
                    } else {
                        0.0
                    }),
                };
                let limit = match rule.limit {
                    Limit::Absolute(l) | Limit::Relative(l) => l,
                };
                let crossed = if rule.above {
                    value > limit
                } else {
                    value < limit
                };
                if crossed {
                    failures.push(GateFailure {
                        row: row.name.clone(),
                        metric: rule.metric,
                        rule: rule.text.clone(),
                        change: format_change(m),
                        reason: m.reason.clone(),
                    });
                }
            }
        }
        GateOutcome {
            rules: self.text.clone(),
            failures,
        }
    }
}

/// Whether `name` matches `scope` (`*` any run of characters, `overall`
/// the row of every trace).
fn scope_matches(scope: &str, name: &str) -> bool {
    if scope == OVERALL {
        return name == ALL_TRACES;
    }
    let parts: Vec<&str> = scope.split('*').collect();
    if parts.len() == 1 {
        return scope == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

impl FromStr for FailOn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let rules = text
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(parse_rule)
            .collect::<Result<Vec<_>, _>>()?;
        if rules.is_empty() {
            return Err("no rule: expected e.g. 'p95>+10%,errors>+1pp'".to_owned());
        }
        Ok(Self {
            text: text.trim().to_owned(),
            rules,
        })
    }
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let fail = |why: String| format!("rule {text:?}: {why}");
    let (scope, body) = match text.rsplit_once(':') {
        Some((scope, body)) if !scope.trim().is_empty() => (Some(scope.trim().to_owned()), body),
        Some((_, _)) => return Err(fail("empty scope before ':'".to_owned())),
        None => (None, text),
    };
    let at = body
        .find(['>', '<'])
        .ok_or_else(|| fail("expected METRIC>LIMIT or METRIC<LIMIT, e.g. p95>+10%".to_owned()))?;
    let above = body[at..].starts_with('>');
    let name = body[..at].trim();
    let metric = Metric::from_name(name).ok_or_else(|| {
        fail(format!(
            "unknown metric {name:?} (expected count, p50, p95, p99, mean, errors, tokens.in, \
             tokens.out or cost)"
        ))
    })?;
    let limit = body[at + 1..].trim();
    let (negative, unsigned) = match limit.as_bytes().first() {
        Some(b'+') => (false, &limit[1..]),
        Some(b'-') => (true, &limit[1..]),
        _ => (false, limit),
    };
    let digits = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, unit) = unsigned.split_at(digits);
    let value: f64 = number
        .parse()
        .map_err(|_| fail(format!("{limit:?} is not a number with a unit, e.g. +10%")))?;
    let value = if negative { -value } else { value };
    let unit = unit.trim();
    let limit = match unit {
        "%" => Limit::Relative(value / 100.0),
        "pp" if metric == Metric::Errors => Limit::Absolute(value / 100.0),
        "pp" => return Err(fail("pp (percentage points) is for errors only".to_owned())),
        _ if metric == Metric::Errors => {
            return Err(fail(
                "errors needs a unit: pp (percentage points) or % (relative)".to_owned(),
            ));
        }
        "ns" | "us" | "µs" | "ms" | "s" if metric.is_latency() => {
            let scale = match unit {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                _ => 1.0,
            };
            Limit::Absolute(value * scale)
        }
        _ if metric.is_latency() => {
            return Err(fail(format!(
                "{} needs a unit: % (relative), or ns, us, ms, s",
                metric.name()
            )));
        }
        "" => Limit::Absolute(value),
        other => {
            return Err(fail(format!(
                "unknown unit {other:?} for {} (expected % or a plain number)",
                metric.name()
            )));
        }
    };
    Ok(Rule {
        text: text.to_owned(),
        scope,
        metric,
        above,
        limit,
    })
}

/// What the gate found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateOutcome {
    /// The rules, as given.
    pub rules: String,
    /// The limits crossed; none: the gate passed.
    pub failures: Vec<GateFailure>,
}

impl GateOutcome {
    /// Whether no limit was crossed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A limit crossed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateFailure {
    /// The row.
    pub row: String,
    /// The metric.
    pub metric: Metric,
    /// The rule crossed, as given.
    pub rule: String,
    /// The change, as shown: `+60.0ms (+50.0%)`.
    pub change: String,
    /// The verdict: `worse, p=0.0012`.
    pub reason: String,
}

/// `chat gpt-4o p95 +60.0ms (+50.0%) crosses p95>+10% (worse, p=0.0012)`.
impl fmt::Display for GateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} crosses {} ({})",
            self.row,
            self.metric.name(),
            self.change,
            self.rule,
            self.reason
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses() {
        let gate: FailOn = "p95>+10%,cost>+5%,errors>+1pp,tokens.out>+20%"
            .parse()
            .unwrap();
        let limits: Vec<(Metric, bool, Limit)> = gate
            .rules
            .iter()
            .map(|r| (r.metric, r.above, r.limit))
            .collect();
        assert_eq!(
            limits,
            [
                (Metric::P95, true, Limit::Relative(0.1)),
                (Metric::Cost, true, Limit::Relative(0.05)),
                (Metric::Errors, true, Limit::Absolute(0.01)),
                (Metric::TokensOut, true, Limit::Relative(0.2)),
            ]
        );
    }

    #[test]
    fn scopes_units_and_directions() {
        let gate: FailOn = "overall:cost>0.02, http:GET /x:p99>+250ms, count<-20%"
            .parse()
            .unwrap();
        assert_eq!(gate.rules[0].scope.as_deref(), Some("overall"));
        assert_eq!(gate.rules[0].limit, Limit::Absolute(0.02));
        assert_eq!(gate.rules[1].scope.as_deref(), Some("http:GET /x"));
        assert_eq!(gate.rules[1].limit, Limit::Absolute(0.25));
        assert_eq!(
            (gate.rules[2].above, gate.rules[2].limit),
            (false, Limit::Relative(-0.2))
        );
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for (text, says) in [
            ("p95", "expected METRIC>LIMIT"),
            ("p95>+10", "needs a unit"),
            ("errors>+1", "errors needs a unit"),
            ("cost>+1pp", "errors only"),
            ("tokens.in>+5ms", "unknown unit"),
            ("p95>fast", "not a number"),
            ("wall>+1%", "unknown metric"),
            (":p95>+1%", "empty scope"),
            ("", "no rule"),
        ] {
            let e = text.parse::<FailOn>().unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn scopes_match_with_stars() {
        assert!(scope_matches("chat*", "chat gpt-4o"));
        assert!(scope_matches("*gpt*", "chat gpt-4o"));
        assert!(scope_matches("chat gpt-4o", "chat gpt-4o"));
        assert!(!scope_matches("chat", "chat gpt-4o"));
        assert!(!scope_matches("a*a", "a"));
        assert!(scope_matches(OVERALL, ALL_TRACES));
        assert!(!scope_matches(OVERALL, "overall"));
    }
}
