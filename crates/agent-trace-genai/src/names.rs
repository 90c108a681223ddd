//! Texts the helpers put on every span they make (span names such as
//! `chat gpt-4o`, the currency of a cost), made once and then shared as
//! `&'static str`.
//!
//! # Why static
//!
//! Formatting `chat {model}` for each span cost two allocations (the `String`,
//! then the `Arc<str>` it becomes) and the formatting machinery, about 1,500
//! instructions per span in the agent workload bench
//! (`crates/agent-trace/benches/agent_workload.rs`, callgrind). Sharing one
//! `Arc<str>` instead would still cost two atomic reference-count updates per
//! span, on a counter that the application thread (which clones it) and the
//! export worker (which drops the finished span) keep taking from each other's
//! caches. A `&'static str` costs neither: copying or dropping it is free.
//!
//! So each distinct text is copied once into memory kept for the life of
//! the process, and every thread keeps its own map from what it asked for
//! to that copy (no lock on the span path). The memory kept is bounded:
//! [`MAX_STATIC_BYTES`] for the process. A model, tool or agent name seen
//! after that is made per span, as before. Span names are few (one per
//! operation and model, tool, agent or workflow), so the bound is not
//! reached in practice; when an application does make names from
//! unbounded data, the bound keeps the cost at a fixed 64 KiB.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use agent_trace_core::{Array, StringValue, Value};

use super::handles::{FastState, same_text};
use crate::cost::Currency;

/// Bytes of text kept for the life of the process, at most.
pub(crate) const MAX_STATIC_BYTES: usize = 64 * 1024;

/// Texts per thread map, at most (a thread's own index into the shared
/// texts).
const MAX_PER_THREAD: usize = 1024;

/// The process's kept texts, and their bytes.
static KEPT: Mutex<(Vec<&'static str>, usize)> = Mutex::new((Vec::new(), 0));

/// `text` kept for the life of the process: the copy another thread made
/// already, else a new one while the bound allows; `None` beyond it.
fn keep(text: &str) -> Option<&'static str> {
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    // Reached once per thread and text, so a scan is fine.
    if let Some(s) = kept.0.iter().find(|s| **s == text) {
        return Some(s);
    }
    if kept.1 + text.len() > MAX_STATIC_BYTES {
        return None;
    }
    kept.1 += text.len();
    let s: &'static str = Box::leak(text.into());
    kept.0.push(s);
    Some(s)
}

/// Span names by target, for one operation.
type ByTarget = HashMap<Box<str>, StringValue, FastState>;

/// What one thread asked for: span names by operation, then target; and
/// currencies.
#[derive(Default)]
struct Local {
    names: Vec<(&'static str, ByTarget)>,
    currencies: Vec<(Currency, StringValue)>,
    len: usize,
    /// The names made last, as (operation, target, name), checked by the
    /// addresses of the operation and target texts, or the bytes of short
    /// ones, before any hashing (see [`same_text`]; the target is kept, so
    /// that a shared one's address cannot be reused by another text while
    /// it is here). The whole look-up cost about 290 instructions per span
    /// in the agent workload bench (callgrind) with hashing, about 130 with
    /// the check.
    recent: [Option<(&'static str, StringValue, StringValue)>; RECENT],
    next_recent: usize,
}

/// Span names remembered by [`Local::recent`]: an agent's handful of
/// models and tools.
const RECENT: usize = 8;

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// `made` as a static string when it can be kept, else as it is.
fn kept_or_made(made: String) -> StringValue {
    match keep(&made) {
        Some(s) => StringValue::from_static(s),
        None => StringValue::from(made),
    }
}

/// The span name `{operation} {target}`.
pub(crate) fn span_name(operation: &'static str, target: &StringValue) -> StringValue {
    let make = || {
        let mut name = String::with_capacity(operation.len() + 1 + target.len());
        name.push_str(operation);
        name.push(' ');
        name.push_str(target);
        name
    };
    LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            let local = &mut *local;
            for (op, kept, name) in local.recent.iter().flatten() {
                if same_text(op, operation) && same_text(kept, target) {
                    return name.clone();
                }
            }
            let at = match local.names.iter().position(|(op, _)| *op == operation) {
                Some(at) => at,
                None => {
                    local.names.push((operation, HashMap::default()));
                    local.names.len() - 1
                }
            };
            let names = &mut local.names[at].1;
            let name = match names.get(target.as_str()) {
                Some(name) => name.clone(),
                None => {
                    let name = kept_or_made(make());
                    if local.len >= MAX_PER_THREAD {
                        return name;
                    }
                    local.len += 1;
                    names.insert(target.as_str().into(), name.clone());
                    name
                }
            };
            local.recent[local.next_recent] = Some((operation, target.clone(), name.clone()));
            local.next_recent = (local.next_recent + 1) % RECENT;
            name
        })
        .unwrap_or_else(|_| StringValue::from(make()))
}

/// `currency` as an attribute value (`"USD"`).
pub(crate) fn currency(currency: Currency) -> StringValue {
    LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            if let Some((_, v)) = local.currencies.iter().find(|(c, _)| *c == currency) {
                return v.clone();
            }
            let v = kept_or_made(currency.to_string());
            // Three capitals each: bounded, and one or two in practice.
            local.currencies.push((currency, v.clone()));
            v
        })
        .unwrap_or_else(|_| StringValue::from(currency.to_string()))
}

/// Finish-reason lists a thread keeps (see [`finish_reasons`]).
const RECENT_REASONS: usize = 4;

/// Most reasons [`finish_reasons`] looks for among the kept lists (one per
/// choice; one in practice).
const MAX_KEPT_REASONS: usize = 4;

/// The finish-reason lists a thread made last, replaced in turn.
type KeptReasons = ([Option<Arc<[StringValue]>>; RECENT_REASONS], usize);

thread_local! {
    static REASONS: RefCell<KeptReasons> = RefCell::default();
}

/// `reasons` as an attribute value: the list made for the same reasons
/// last time when there is one (found by the addresses of its texts,
/// which the kept list holds alive, or the bytes of short ones, as in
/// [`same_text`]), else a new one.
/// A chat span's finish reasons are usually one static text, and making
/// the list cost an allocation per span (two, with the `Vec` collected
/// first).
pub(crate) fn finish_reasons(reasons: impl IntoIterator<Item = StringValue>) -> Value {
    let mut given: [Option<StringValue>; MAX_KEPT_REASONS] = Default::default();
    let mut reasons = reasons.into_iter();
    let mut n = 0;
    for reason in reasons.by_ref() {
        if n == MAX_KEPT_REASONS {
            let mut all: Vec<StringValue> = given.into_iter().flatten().collect();
            all.push(reason);
            all.extend(reasons);
            return Value::from(all);
        }
        given[n] = Some(reason);
        n += 1;
    }
    let given = &given[..n];
    let kept = REASONS.try_with(|kept| {
        let mut kept = kept.try_borrow_mut().ok()?;
        let found = kept.0.iter().flatten().find(|list| {
            list.len() == n
                && list
                    .iter()
                    .zip(given.iter().flatten())
                    .all(|(k, g)| same_text(k, g))
        });
        if let Some(list) = found {
            return Some(Arc::clone(list));
        }
        let list: Arc<[StringValue]> = given.iter().flatten().cloned().collect();
        let at = kept.1;
        kept.1 = (at + 1) % RECENT_REASONS;
        kept.0[at] = Some(Arc::clone(&list));
        Some(list)
    });
    let list = match kept {
        Ok(Some(list)) => list,
        _ => given.iter().flatten().cloned().collect(),
    };
    Value::Array(Array::String(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_static(v: &StringValue) -> bool {
        // A static string's clone points at the same bytes, as a shared
        // one's does; tell them apart by what `keep` returns for the text.
        keep(v.as_str()).is_some_and(|s| std::ptr::eq(s.as_ptr(), v.as_str().as_ptr()))
    }

    #[test]
    fn a_name_is_made_once_and_shared_by_every_thread() {
        let here = span_name("chat", &StringValue::from("names-test-model".to_owned()));
        assert_eq!(here.as_str(), "chat names-test-model");
        assert!(is_static(&here));
        let again = span_name("chat", &StringValue::from_static("names-test-model"));
        assert!(std::ptr::eq(here.as_str(), again.as_str()));
        let there = std::thread::spawn(|| {
            span_name("chat", &StringValue::from_static("names-test-model"))
                .as_str()
                .as_ptr() as usize
        })
        .join()
        .expect("no panic");
        assert_eq!(there, here.as_str().as_ptr() as usize);
        let other = span_name("embeddings", &StringValue::from_static("names-test-model"));
        assert_eq!(other.as_str(), "embeddings names-test-model");
    }

    #[test]
    fn currencies_read_as_their_code() {
        assert_eq!(currency(Currency::USD).as_str(), "USD");
        let eur = Currency::new("EUR").expect("valid");
        assert_eq!(currency(eur).as_str(), "EUR");
        assert!(std::ptr::eq(currency(eur).as_str(), currency(eur).as_str()));
    }

    #[test]
    fn names_are_right_whatever_their_target_is_made_of_and_however_many() {
        // Static, inline and shared targets, more than the names kept for
        // the identity check, in turn.
        let long = |i: usize| format!("a-model-name-longer-than-inline-{i}");
        for round in 0..3 {
            for i in 0..(2 * RECENT) {
                let target = match i % 3 {
                    0 => {
                        StringValue::from_static(["m-a", "m-b", "m-c", "m-d", "m-e", "m-f"][i % 6])
                    }
                    1 => StringValue::copy_from(&format!("m{i}")),
                    _ => StringValue::from(long(i)),
                };
                let expected = format!("chat {}", target.as_str());
                assert_eq!(
                    span_name("chat", &target).as_str(),
                    expected,
                    "round {round}"
                );
                drop(target); // a shared target's memory may be reused next
            }
        }
        // The same text under another operation is another name.
        let target = StringValue::from_static("m-a");
        assert_eq!(span_name("chat", &target).as_str(), "chat m-a");
        assert_eq!(span_name("embeddings", &target).as_str(), "embeddings m-a");
    }

    #[test]
    fn finish_reasons_are_listed_in_order_and_shared_when_repeated() {
        let list = |reasons: &[&'static str]| {
            finish_reasons(reasons.iter().map(|r| StringValue::from_static(r)))
        };
        let texts = |v: &Value| -> Vec<String> {
            match v {
                Value::Array(Array::String(l)) => l.iter().map(|s| s.as_str().to_owned()).collect(),
                other => panic!("not a string list: {other:?}"),
            }
        };
        let stop = list(&["stop"]);
        assert_eq!(texts(&stop), vec!["stop"]);
        let again = list(&["stop"]);
        match (&stop, &again) {
            (Value::Array(Array::String(a)), Value::Array(Array::String(b))) => {
                assert!(Arc::ptr_eq(a, b), "one list for the same static reasons");
            }
            _ => unreachable!("checked above"),
        }
        assert_eq!(texts(&list(&["stop", "length"])), vec!["stop", "length"]);
        assert_eq!(texts(&list(&["length", "stop"])), vec!["length", "stop"]);
        assert_eq!(texts(&list(&[])), Vec::<String>::new());
        let five = ["a", "b", "c", "d", "e"];
        assert_eq!(texts(&list(&five)), five.to_vec());
        // Texts made at run time, at addresses of their own.
        for i in 0..(2 * RECENT_REASONS) {
            let made = finish_reasons([StringValue::from(format!("reason-{i}"))]);
            assert_eq!(texts(&made), vec![format!("reason-{i}")]);
        }
    }

    #[test]
    fn kept_texts_are_bounded() {
        let big = "x".repeat(MAX_STATIC_BYTES + 1);
        assert_eq!(keep(&big), None);
        let name = span_name("execute_tool", &StringValue::from(big.clone()));
        assert_eq!(name.as_str(), format!("execute_tool {big}"));
    }
}
