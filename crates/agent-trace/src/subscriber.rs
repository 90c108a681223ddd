//! The `tracing` subscriber `init()` installs: the registry, a level filter
//! and [`AgentTraceLayer`](crate::AgentTraceLayer).
//!
//! # Which spans it records
//!
//! `tracing` spans are filtered by target and level before the layer sees
//! them, with `tracing-subscriber`'s [`Targets`] (the `env_logger` syntax
//! without regular expressions: `info`, `info,my_agent=debug`, `off`). The
//! directives come from, in order: [`InitBuilder::tracing_filter`], the
//! `AGENT_TRACE_LOG` variable, the `RUST_LOG` variable, else `info`, so
//! that the `debug` and `trace` spans of every dependency (an HTTP client's
//! per-request spans, a runtime's) are not recorded and exported unless
//! asked for. A bad filter given in code or in `AGENT_TRACE_LOG` is an
//! [`InitError::Filter`]; `RUST_LOG` belongs to every logger of the
//! process and may use syntax meant for another (`EnvFilter`'s span
//! filters), so a value this filter cannot read is said once on stderr and
//! the default is used.
//!
//! [`InitBuilder::tracing_filter`]: crate::InitBuilder::tracing_filter

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use agent_trace_core::AgentStepTracer;

use crate::init::{InitError, say};

/// The variable of agent-trace's own filter, read before `RUST_LOG`.
pub(crate) const AGENT_TRACE_LOG: &str = "AGENT_TRACE_LOG";

/// The filter used when nothing sets one.
pub(crate) const DEFAULT_FILTER: &str = "info";

/// Whether `init()` installs the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Install {
    /// When no global subscriber is set yet (the default); said once on
    /// stderr when one is.
    IfNone,
    /// Always: another global subscriber is an error.
    Always,
    /// Never.
    Never,
}

/// The filter the subscriber uses (see the module docs for where it comes
/// from), read before anything global changes: a bad one fails `init()`.
pub(crate) fn check_filter(in_code: Option<&str>) -> Result<Targets, InitError> {
    let parse = |origin: &str, value: &str| {
        value.parse::<Targets>().map_err(|e| InitError::Filter {
            origin: origin.to_owned(),
            value: value.to_owned(),
            reason: e.to_string(),
        })
    };
    if let Some(v) = in_code {
        return parse("InitBuilder::tracing_filter", v);
    }
    let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(v) = var(AGENT_TRACE_LOG) {
        return parse(AGENT_TRACE_LOG, v.trim());
    }
    if let Some(v) = var("RUST_LOG") {
        match v.trim().parse::<Targets>() {
            Ok(t) => return Ok(t),
            Err(e) => say(&format!(
                "RUST_LOG={v:?} is not a filter agent-trace can read ({e}); recording \
                 `tracing` spans at `{DEFAULT_FILTER}` and above (set {AGENT_TRACE_LOG} \
                 to choose, e.g. {AGENT_TRACE_LOG}=info,my_agent=debug)"
            )),
        }
    }
    parse("the default", DEFAULT_FILTER)
}

/// Installs the global subscriber as `install` asks: the registry, the
/// filter and a layer on `tracer` that records no latency when
/// `latencies` is false or the tracer records them already.
pub(crate) fn install(
    install: Install,
    filter: Targets,
    tracer: AgentStepTracer,
    latencies: bool,
) -> Result<(), InitError> {
    if install == Install::Never {
        return Ok(());
    }
    if install == Install::IfNone && tracing::dispatcher::has_been_set() {
        say(
            "a global `tracing` subscriber was installed before init(), so init() did not \
             install its own and `tracing` spans (#[instrument]) do not reach agent-trace: \
             to keep your subscriber, call init().install_tracing_subscriber(false) first, \
             then build your subscriber with \
             `.with(agent_trace::AgentTraceLayer::new(agent_trace::tracer().clone()))`",
        );
        return Ok(());
    }
    // Latencies are the latency processor's to record (every span,
    // `tracing`'s included) or nobody's: `AgentTraceLayer::new` leaves
    // them to a tracer that records them, and records none here when
    // `record_latencies(false)` asked for none.
    let mut layer = crate::AgentTraceLayer::new(tracer);
    if !latencies {
        layer = layer.without_latency_metrics();
    }
    let subscriber = tracing_subscriber::registry().with(filter).with(layer);
    tracing::subscriber::set_global_default(subscriber).map_err(|_| InitError::SubscriberAlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_in_code_names_where_it_came_from() {
        let err = check_filter(Some("info,my_agent=loud")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "invalid tracing filter \"info,my_agent=loud\" from InitBuilder::tracing_filter:"
            ),
            "{text}"
        );
        assert!(
            text.contains("e.g. `info` or `info,my_agent=debug`"),
            "{text}"
        );
    }

    #[test]
    fn filters_in_code_are_read_as_targets() {
        let t = check_filter(Some("warn,my_agent=debug")).unwrap();
        assert!(t.would_enable("my_agent::step", &tracing::Level::DEBUG));
        assert!(!t.would_enable("hyper::client", &tracing::Level::INFO));
        assert!(t.would_enable("hyper::client", &tracing::Level::WARN));
    }
}
