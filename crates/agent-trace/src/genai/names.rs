//! Texts the helpers put on every span they make (span names such as
//! `chat gpt-4o`, the currency of a cost), made once and then shared as
//! `&'static str`.
//!
//! # Why static
//!
//! Formatting `chat {model}` for each span cost two allocations (the
//! `String`, then the `Arc<str>` it becomes) and the formatting machinery,
//! about 1,500 instructions per span in the agent workload bench
//! (`benches/agent_workload.rs`, callgrind). Sharing one `Arc<str>` instead
//! would still cost two atomic reference-count updates per span, on a
//! counter that the application thread (which clones it) and the export
//! worker (which drops the finished span) keep taking from each other's
//! caches. A `&'static str` costs neither: copying or dropping it is
//! free.
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
use std::sync::{Mutex, PoisonError};

use agent_trace_core::StringValue;

use super::handles::FastState;
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
}

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
            let at = match local.names.iter().position(|(op, _)| *op == operation) {
                Some(at) => at,
                None => {
                    local.names.push((operation, HashMap::default()));
                    local.names.len() - 1
                }
            };
            let names = &mut local.names[at].1;
            if let Some(name) = names.get(target.as_str()) {
                return name.clone();
            }
            let name = kept_or_made(make());
            if local.len < MAX_PER_THREAD {
                local.len += 1;
                names.insert(target.as_str().into(), name.clone());
            }
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
    fn kept_texts_are_bounded() {
        let big = "x".repeat(MAX_STATIC_BYTES + 1);
        assert_eq!(keep(&big), None);
        let name = span_name("execute_tool", &StringValue::from(big.clone()));
        assert_eq!(name.as_str(), format!("execute_tool {big}"));
    }
}
